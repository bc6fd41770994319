//! A DHCPv4 server for a point-to-point link: the USB gadget's network function, where the
//! host on the other end of the cable needs an address and nothing else.
//!
//! Specs to read first: RFC 2131 (the protocol: DISCOVER → OFFER, REQUEST → ACK/NAK,
//! RELEASE, DECLINE, INFORM), RFC 2132 (options), RFC 951 (the BOOTP layout).
//!
//! Two layers, as for every parser of outside bytes here: [`Request::parse`] checks a
//! client's message (fixed header, magic cookie, every option's length against the datagram)
//! and keeps only what the server uses; [`Server::handle`] decides and emits the answer.
//! Nothing a client sends can panic it, and the lease table is bounded ([`MAX_LEASES`]).
//!
//! What it hands out: an address from a small pool, the subnet mask and the lease time —
//! deliberately no router and no DNS server, so that plugging the board in never takes
//! over the host's default route or its name resolution (the board is reached by its
//! address or by mDNS, `kingly.local`). Answers are broadcast (RFC 2131 4.1 allows it, and
//! a client without an address hears them whatever its broadcast flag says). Relays
//! (`giaddr`) are not served: on a cable there are none.

use alloc::vec::Vec;
use core::fmt;

/// The UDP port the server listens on.
pub const SERVER_PORT: u16 = 67;
/// The UDP port clients listen on (answers go there).
pub const CLIENT_PORT: u16 = 68;
/// Leases the server keeps at most (one host per cable; a few for hosts that change MAC).
pub const MAX_LEASES: usize = 8;

/// Length of the fixed BOOTP part, up to the magic cookie.
const FIXED: usize = 236;
/// The magic cookie that starts the options (RFC 2131 3).
const COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Smallest message a BOOTP relay or client must accept (RFC 951): answers are padded to it.
const MIN_MESSAGE: usize = 300;

/// Option codes (RFC 2132).
mod option {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const HOST_NAME: u8 = 12;
    pub const REQUESTED_ADDRESS: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

/// DHCP message types (option 53).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// A client looks for servers.
    Discover,
    /// A server offers an address.
    Offer,
    /// A client asks for (or renews) an address.
    Request,
    /// A client found the address in use.
    Decline,
    /// The server confirms.
    Ack,
    /// The server refuses.
    Nak,
    /// The client gives its address back.
    Release,
    /// The client has an address and wants only parameters.
    Inform,
}

impl MessageType {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }
}

/// Why a datagram is not a DHCP request this server answers. None of these is worth a
/// retry: the datagram is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhcpError {
    /// Shorter than the fixed header and cookie.
    Truncated,
    /// `op` is not BOOTREQUEST (a server's answer, or garbage).
    NotARequest,
    /// Not Ethernet (`htype` 1, `hlen` 6).
    NotEthernet,
    /// The magic cookie is missing: plain BOOTP, or garbage.
    NoCookie,
    /// An option runs past the end of the datagram.
    OptionOverrun,
    /// No message type option, or an unknown one.
    NoMessageType,
    /// A message type only servers send.
    ServerMessage,
}

impl fmt::Display for DhcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DhcpError::Truncated => "shorter than a DHCP header",
            DhcpError::NotARequest => "not a BOOTREQUEST",
            DhcpError::NotEthernet => "hardware type is not Ethernet",
            DhcpError::NoCookie => "no DHCP magic cookie",
            DhcpError::OptionOverrun => "an option runs past the end of the datagram",
            DhcpError::NoMessageType => "no valid DHCP message type",
            DhcpError::ServerMessage => "a server's message type in a client's datagram",
        })
    }
}

/// What the server uses of a client's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The message type.
    pub kind: MessageType,
    /// Transaction id, echoed in the answer.
    pub xid: u32,
    /// BOOTP flags (bit 15: broadcast), echoed.
    pub flags: u16,
    /// The client's current address (RENEWING, INFORM).
    pub ciaddr: [u8; 4],
    /// The relay agent's address (not 0: relayed, which this server does not serve).
    pub giaddr: [u8; 4],
    /// The client's MAC address.
    pub mac: [u8; 6],
    /// Option 50.
    pub requested: Option<[u8; 4]>,
    /// Option 54: which server the client chose (REQUEST after an OFFER).
    pub server_id: Option<[u8; 4]>,
    /// Option 12, if it is printable ASCII (shown in `net_status`).
    pub host_name: Option<HostName>,
}

/// Longest host name kept from a client (longer ones are cut).
pub const MAX_HOST_NAME: usize = 32;

/// A client's host name (option 12): its printable ASCII, at most [`MAX_HOST_NAME`] bytes,
/// kept without allocating for a value a client controls.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HostName {
    bytes: [u8; MAX_HOST_NAME],
    len: u8,
}

impl HostName {
    /// The printable part of `raw`, cut to [`MAX_HOST_NAME`] bytes; `None` if nothing is
    /// printable.
    pub fn new(raw: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; MAX_HOST_NAME];
        let mut len = 0;
        for &byte in raw.iter().filter(|b| b.is_ascii_graphic()).take(MAX_HOST_NAME) {
            bytes[len] = byte;
            len += 1;
        }
        (len > 0).then_some(HostName { bytes, len: len as u8 })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Only ASCII graphic bytes are stored, so this never fails.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

fn ipv4(bytes: &[u8]) -> [u8; 4] {
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

impl Request {
    /// Checks a datagram sent to port 67 and reads what the server needs.
    pub fn parse(datagram: &[u8]) -> Result<Request, DhcpError> {
        if datagram.len() < FIXED + COOKIE.len() {
            return Err(DhcpError::Truncated);
        }
        if datagram[0] != 1 {
            return Err(DhcpError::NotARequest);
        }
        if datagram[1] != 1 || datagram[2] != 6 {
            return Err(DhcpError::NotEthernet);
        }
        if datagram[FIXED..FIXED + 4] != COOKIE {
            return Err(DhcpError::NoCookie);
        }
        let mut request = Request {
            kind: MessageType::Discover,
            xid: u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]),
            flags: u16::from_be_bytes([datagram[10], datagram[11]]),
            ciaddr: ipv4(&datagram[12..16]),
            giaddr: ipv4(&datagram[24..28]),
            mac: [datagram[28], datagram[29], datagram[30], datagram[31], datagram[32], datagram[33]],
            requested: None,
            server_id: None,
            host_name: None,
        };
        let mut kind = None;
        let mut rest = &datagram[FIXED + 4..];
        while let Some((&code, tail)) = rest.split_first() {
            match code {
                option::PAD => {
                    rest = tail;
                    continue;
                }
                option::END => break,
                _ => {}
            }
            let (&len, tail) = tail.split_first().ok_or(DhcpError::OptionOverrun)?;
            let len = len as usize;
            if tail.len() < len {
                return Err(DhcpError::OptionOverrun);
            }
            let (value, tail) = tail.split_at(len);
            match (code, len) {
                (option::MESSAGE_TYPE, 1) => kind = Some(value[0]),
                (option::REQUESTED_ADDRESS, 4) => request.requested = Some(ipv4(value)),
                (option::SERVER_ID, 4) => request.server_id = Some(ipv4(value)),
                (option::HOST_NAME, _) => request.host_name = HostName::new(value),
                // Malformed lengths of known options and every other option: ignored.
                _ => {}
            }
            rest = tail;
        }
        request.kind = kind.and_then(MessageType::from_code).ok_or(DhcpError::NoMessageType)?;
        if matches!(request.kind, MessageType::Offer | MessageType::Ack | MessageType::Nak) {
            return Err(DhcpError::ServerMessage);
        }
        Ok(request)
    }
}

/// The server's network and pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The board's own address on the link (also the server identifier).
    pub server: [u8; 4],
    /// Prefix length of the link's network.
    pub prefix: u8,
    /// First address handed out.
    pub pool_start: [u8; 4],
    /// How many consecutive addresses the pool holds (1 to [`MAX_LEASES`]).
    pub pool_size: u8,
    /// Lease time in seconds.
    pub lease_seconds: u32,
}

impl Config {
    /// The gadget link's default: the board at 10.42.0.1/24, the host gets 10.42.0.2
    /// (or the next ones), leases of one hour.
    pub const USB_LINK: Config =
        Config { server: [10, 42, 0, 1], prefix: 24, pool_start: [10, 42, 0, 2], pool_size: 4, lease_seconds: 3600 };

    /// The board's address and prefix as text (`10.42.0.1/24`).
    pub fn server_cidr(&self) -> ([u8; 4], u8) {
        (self.server, self.prefix)
    }

    /// A link where the board is `server/prefix`: the host is given the four addresses
    /// after it (the settings check that they exist).
    pub fn for_link(server: [u8; 4], prefix: u8) -> Config {
        let pool_start = u32::from_be_bytes(server).wrapping_add(1).to_be_bytes();
        Config { server, prefix, pool_start, pool_size: 4, lease_seconds: 3600 }
    }

    fn mask(&self) -> [u8; 4] {
        let prefix = self.prefix.min(32) as u32;
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        mask.to_be_bytes()
    }

    fn pool_address(&self, index: usize) -> [u8; 4] {
        u32::from_be_bytes(self.pool_start).wrapping_add(index as u32).to_be_bytes()
    }

    fn pool_index(&self, address: [u8; 4]) -> Option<usize> {
        let offset = u32::from_be_bytes(address).wrapping_sub(u32::from_be_bytes(self.pool_start)) as usize;
        (offset < self.pool_size.clamp(1, MAX_LEASES as u8) as usize).then_some(offset)
    }
}

/// One lease: who has which address until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The client's MAC address.
    pub mac: [u8; 6],
    /// Its address.
    pub address: [u8; 4],
    /// When it ends, in the caller's seconds.
    pub expires: u64,
    /// Whether the client has confirmed it (ACKed; an OFFER alone is a reservation).
    pub bound: bool,
    /// The host name the client gave, if any.
    pub host_name: Option<HostName>,
}

/// An answer to send: the datagram, to the broadcast address on [`CLIENT_PORT`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// OFFER, ACK or NAK.
    pub kind: MessageType,
    /// The address given (`yiaddr`; zero for a NAK or an INFORM's ACK).
    pub address: [u8; 4],
    /// The DHCP message.
    pub datagram: Vec<u8>,
}

/// The server: its configuration and the lease table.
#[derive(Clone, Debug)]
pub struct Server {
    config: Config,
    leases: Vec<Lease>,
    /// Addresses a client declined (in use by someone else), until when.
    declined: Vec<([u8; 4], u64)>,
}

/// How long an OFFER reserves its address for the client that was offered it.
const OFFER_HOLD_SECONDS: u64 = 60;
/// How long a declined address stays out of the pool.
const DECLINE_HOLD_SECONDS: u64 = 600;

impl Server {
    /// A server for `config` with no leases.
    pub fn new(config: Config) -> Self {
        Server { config, leases: Vec::new(), declined: Vec::new() }
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The leases that have not expired at `now` (seconds), bound ones first.
    pub fn leases(&self, now: u64) -> impl Iterator<Item = &Lease> {
        let live = move |lease: &&Lease| lease.expires > now;
        self.leases.iter().filter(live).filter(|l| l.bound).chain(self.leases.iter().filter(live).filter(|l| !l.bound))
    }

    /// Answers one datagram received on port 67 at `now` (seconds, any monotonic clock), or
    /// `None` when nothing is to be sent (not a valid request, a relayed one, a REQUEST for
    /// another server, RELEASE, DECLINE, or an exhausted pool).
    pub fn handle(&mut self, datagram: &[u8], now: u64) -> Option<Reply> {
        let request = Request::parse(datagram).ok()?;
        if request.giaddr != [0; 4] {
            return None;
        }
        self.expire(now);
        match request.kind {
            MessageType::Discover => {
                let address = self.choose(&request, now)?;
                self.hold(&request, address, now + OFFER_HOLD_SECONDS, false);
                Some(self.reply(&request, MessageType::Offer, address))
            }
            MessageType::Request => {
                if let Some(server) = request.server_id {
                    if server != self.config.server {
                        // The client chose another server: forget our offer.
                        self.leases.retain(|l| l.mac != request.mac || l.bound);
                        return None;
                    }
                }
                // SELECTING/INIT-REBOOT name the address in option 50; RENEWING/REBINDING in ciaddr.
                let wanted = request.requested.or((request.ciaddr != [0; 4]).then_some(request.ciaddr));
                let acceptable = wanted.filter(|&address| {
                    self.config.pool_index(address).is_some() && self.free_for(address, &request.mac, now)
                });
                match acceptable {
                    Some(address) => {
                        self.hold(&request, address, now + self.config.lease_seconds as u64, true);
                        Some(self.reply(&request, MessageType::Ack, address))
                    }
                    None => Some(self.reply(&request, MessageType::Nak, [0; 4])),
                }
            }
            MessageType::Release => {
                self.leases.retain(|l| l.mac != request.mac || l.address != request.ciaddr);
                None
            }
            MessageType::Decline => {
                if let Some(address) = request.requested {
                    self.leases.retain(|l| l.address != address);
                    if self.declined.len() >= MAX_LEASES {
                        self.declined.remove(0);
                    }
                    self.declined.push((address, now + DECLINE_HOLD_SECONDS));
                }
                None
            }
            MessageType::Inform => Some(self.reply(&request, MessageType::Ack, [0; 4])),
            MessageType::Offer | MessageType::Ack | MessageType::Nak => None,
        }
    }

    fn expire(&mut self, now: u64) {
        self.leases.retain(|l| l.expires > now);
        self.declined.retain(|&(_, until)| until > now);
    }

    /// Whether `address` may go to `mac`: not declined, not someone else's live lease.
    fn free_for(&self, address: [u8; 4], mac: &[u8; 6], now: u64) -> bool {
        !self.declined.iter().any(|&(a, _)| a == address)
            && !self.leases.iter().any(|l| l.address == address && &l.mac != mac && l.expires > now)
    }

    /// The address to offer: the client's current lease, else the one it asks for if free,
    /// else the first free one.
    fn choose(&self, request: &Request, now: u64) -> Option<[u8; 4]> {
        if let Some(lease) = self.leases.iter().find(|l| l.mac == request.mac) {
            return Some(lease.address);
        }
        if let Some(address) = request.requested {
            if self.config.pool_index(address).is_some() && self.free_for(address, &request.mac, now) {
                return Some(address);
            }
        }
        let size = self.config.pool_size.clamp(1, MAX_LEASES as u8) as usize;
        (0..size).map(|i| self.config.pool_address(i)).find(|&a| self.free_for(a, &request.mac, now))
    }

    fn hold(&mut self, request: &Request, address: [u8; 4], expires: u64, bound: bool) {
        self.leases.retain(|l| l.mac != request.mac && l.address != address);
        if self.leases.len() >= MAX_LEASES {
            // Full: the lease that ends first goes (the pool is smaller than the table,
            // so only stale entries are ever dropped).
            if let Some(index) = self.leases.iter().enumerate().min_by_key(|(_, l)| l.expires).map(|(i, _)| i) {
                self.leases.remove(index);
            }
        }
        self.leases.push(Lease { mac: request.mac, address, expires, bound, host_name: request.host_name });
    }

    fn reply(&self, request: &Request, kind: MessageType, address: [u8; 4]) -> Reply {
        let mut out = Vec::with_capacity(MIN_MESSAGE);
        out.extend_from_slice(&[2, 1, 6, 0]); // BOOTREPLY, Ethernet, hlen 6, hops 0
        out.extend_from_slice(&request.xid.to_be_bytes());
        out.extend_from_slice(&[0, 0]); // secs
        out.extend_from_slice(&request.flags.to_be_bytes());
        let ciaddr = if kind == MessageType::Ack && address == [0; 4] { request.ciaddr } else { [0; 4] };
        out.extend_from_slice(&ciaddr);
        out.extend_from_slice(&address); // yiaddr
        out.extend_from_slice(&[0; 4]); // siaddr: no boot server
        out.extend_from_slice(&[0; 4]); // giaddr
        out.extend_from_slice(&request.mac);
        out.resize(FIXED, 0); // rest of chaddr, sname, file
        out.extend_from_slice(&COOKIE);
        out.extend_from_slice(&[option::MESSAGE_TYPE, 1, kind.code()]);
        out.extend_from_slice(&[option::SERVER_ID, 4]);
        out.extend_from_slice(&self.config.server);
        if kind != MessageType::Nak {
            if address != [0; 4] {
                let lease = self.config.lease_seconds;
                for (code, seconds) in [
                    (option::LEASE_TIME, lease),
                    (option::RENEWAL_TIME, lease / 2),
                    (option::REBINDING_TIME, lease / 8 * 7),
                ] {
                    out.extend_from_slice(&[code, 4]);
                    out.extend_from_slice(&seconds.to_be_bytes());
                }
            }
            out.extend_from_slice(&[option::SUBNET_MASK, 4]);
            out.extend_from_slice(&self.config.mask());
        }
        out.push(option::END);
        if out.len() < MIN_MESSAGE {
            out.resize(MIN_MESSAGE, option::PAD);
        }
        Reply { kind, address, datagram: out }
    }
}

/// A client's message, built the way a DHCP client does (for tests and the fuzzers' seeds).
pub fn client_message(kind: MessageType, xid: u32, mac: [u8; 6], options: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MIN_MESSAGE);
    out.extend_from_slice(&[1, 1, 6, 0]);
    out.extend_from_slice(&xid.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x80, 0]); // secs, broadcast flag
    out.resize(28, 0);
    out.extend_from_slice(&mac);
    out.resize(FIXED, 0);
    out.extend_from_slice(&COOKIE);
    out.extend_from_slice(&[option::MESSAGE_TYPE, 1, kind.code()]);
    for (code, value) in options {
        out.push(*code);
        out.push(value.len() as u8);
        out.extend_from_slice(value);
    }
    out.push(option::END);
    out
}

/// A server answer's options, by code, in the order they came.
pub type Options = Vec<(u8, Vec<u8>)>;

/// Reads the options of a server's answer (for tests and the kernel's own checks): the
/// message type, yiaddr and the option values by code.
pub fn read_reply(datagram: &[u8]) -> Option<(MessageType, [u8; 4], Options)> {
    if datagram.len() < FIXED + 4 || datagram[0] != 2 || datagram[FIXED..FIXED + 4] != COOKIE {
        return None;
    }
    let mut options = Vec::new();
    let mut rest = &datagram[FIXED + 4..];
    let mut kind = None;
    while let Some((&code, tail)) = rest.split_first() {
        if code == option::PAD {
            rest = tail;
            continue;
        }
        if code == option::END {
            break;
        }
        let (&len, tail) = tail.split_first()?;
        let value = tail.get(..len as usize)?;
        if code == option::MESSAGE_TYPE && len == 1 {
            kind = MessageType::from_code(value[0]);
        }
        options.push((code, value.to_vec()));
        rest = &tail[len as usize..];
    }
    Some((kind?, ipv4(&datagram[16..20]), options))
}

/// Option code of the client identifier, for callers that build requests.
pub const OPTION_CLIENT_ID: u8 = option::CLIENT_ID;
/// Option code of the requested address.
pub const OPTION_REQUESTED_ADDRESS: u8 = option::REQUESTED_ADDRESS;
/// Option code of the server identifier.
pub const OPTION_SERVER_ID: u8 = option::SERVER_ID;
/// Option code of the host name.
pub const OPTION_HOST_NAME: u8 = option::HOST_NAME;
/// Option code of the subnet mask.
pub const OPTION_SUBNET_MASK: u8 = option::SUBNET_MASK;
/// Option code of the lease time.
pub const OPTION_LEASE_TIME: u8 = option::LEASE_TIME;

#[cfg(test)]
mod tests;
