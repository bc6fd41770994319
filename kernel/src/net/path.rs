//! One network path: a NIC, its `smoltcp` interface and sockets, how the path gets its
//! address, and the services on it — the HTTP slots ([`super::http`]), ICMP echo, the mDNS
//! responder, and on a cable link the DHCP server that gives the computer at the other end
//! its address.
//!
//! The packet logic of DHCP and mDNS is host-tested in `formats` (`dhcp`, `mdns`); this file
//! moves their datagrams through UDP sockets.

use super::http;
use crate::arch::cpu;
use alloc::{format, string::String, vec, vec::Vec};
use formats::{dhcp, mdns, settings::NetMode};
use smoltcp::{
    iface::{Config, Interface, SocketHandle, SocketSet},
    socket::{dhcpv4, icmp, udp},
    time::Instant,
    wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr},
};

/// How long DHCP may take before the static settings (if any) are used.
const DHCP_FALLBACK_US: u64 = 10_000_000;
/// Announcements sent when an address is set (RFC 6762 8.3: at least two, a second apart).
const ANNOUNCEMENTS: u8 = 3;
const ANNOUNCE_INTERVAL_US: u64 = 1_000_000;

/// What kind of link a path is (`net_status` names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// virtio-net (QEMU virt).
    Virtio,
    /// A USB network adapter behind the host controller (CDC-ECM, the Pi 3 B's LAN9514).
    UsbNic,
    /// The USB device port as a network adapter for the computer it is plugged into.
    Gadget,
    /// The Pi 4's Gigabit Ethernet (GENET).
    Genet,
}

impl Kind {
    /// Its name in `net_status`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Virtio => "virtio",
            Kind::UsbNic => "usb-nic",
            Kind::Gadget => "usb-gadget",
            Kind::Genet => "genet",
        }
    }
}

/// How a path gets its address.
enum Addressing {
    /// Ask the link's DHCP server; the static settings are the fallback (or the rule).
    Client {
        dhcp: SocketHandle,
        mode: NetMode,
        fallback: Option<([u8; 4], u8)>,
        gateway: Option<[u8; 4]>,
        started_us: u64,
    },
    /// The board is the DHCP server of a link to one computer (a cable).
    Server { socket: SocketHandle, server: dhcp::Server },
}

/// The mDNS responder of a path.
struct Mdns {
    socket: SocketHandle,
    host: String,
    responder: Option<mdns::Responder>,
    announcements_left: u8,
    next_announcement_us: u64,
}

/// One path's interface and sockets.
pub struct Stack {
    /// What kind of link.
    pub kind: Kind,
    pub(super) iface: Interface,
    pub(super) sockets: SocketSet<'static>,
    pub(super) nic: super::nic::Nic,
    pub(super) icmp: SocketHandle,
    pub(super) http: http::Server,
    addressing: Addressing,
    mdns: Option<Mdns>,
    /// How the address was obtained: "dhcp", "static", "server" (the board serves the link),
    /// or "none" yet.
    pub source: &'static str,
    gateway: Option<Ipv4Address>,
    dns: Vec<Ipv4Address>,
    /// Set when the address changed, until the HTTP endpoint's allowed hosts follow.
    pub(super) address_changed: bool,
}

/// How a new path is to be addressed (from the settings and the kind of link).
pub struct Plan {
    /// DHCP client with the static settings as fallback, static only, or DHCP server.
    pub mode: NetMode,
    /// The static address (required for `Static` and `Server`).
    pub address: Option<([u8; 4], u8)>,
    /// The static gateway.
    pub gateway: Option<[u8; 4]>,
    /// The mDNS host name, if mDNS is on.
    pub mdns_host: Option<String>,
}

fn ipv4(a: [u8; 4]) -> Ipv4Address {
    Ipv4Address::new(a[0], a[1], a[2], a[3])
}

fn now() -> Instant {
    Instant::from_micros(cpu::micros() as i64)
}

fn udp_socket(datagrams: usize, bytes: usize) -> udp::Socket<'static> {
    udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; datagrams], vec![0; bytes]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; datagrams], vec![0; bytes]),
    )
}

impl Stack {
    /// Brings up a path over `nic`: its interface, addressing, ICMP, HTTP slots on `port`
    /// and mDNS.
    pub fn new(
        kind: Kind,
        device: alloc::boxed::Box<dyn drivers::net::EthernetDevice + Send>,
        plan: Plan,
        port: u16,
    ) -> Stack {
        let mut nic = super::nic::Nic::new(device);
        let mac = nic.device.mac_address();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        config.random_seed = super::entropy();
        let mut iface = Interface::new(config, &mut nic, now());
        let mut sockets = SocketSet::new(Vec::new());
        let icmp_rx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]);
        let icmp_tx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]);
        let icmp = sockets.add(icmp::Socket::new(icmp_rx, icmp_tx));
        let http = http::Server::new(&mut sockets, port);
        let addressing = match (plan.mode, plan.address) {
            (NetMode::Server, Some((address, prefix))) => {
                let mut socket = udp_socket(4, 2048);
                if socket.bind(dhcp::SERVER_PORT).is_err() {
                    log::error!("network: the DHCP server's socket did not bind");
                }
                let socket = sockets.add(socket);
                Addressing::Server { socket, server: dhcp::Server::new(dhcp::Config::for_link(address, prefix)) }
            }
            (mode, fallback) => Addressing::Client {
                dhcp: sockets.add(dhcpv4::Socket::new()),
                mode: if mode == NetMode::Server { NetMode::Dhcp } else { mode },
                fallback,
                gateway: plan.gateway,
                started_us: cpu::micros(),
            },
        };
        let mdns = plan.mdns_host.map(|host| {
            let mut socket = udp_socket(8, 4096);
            // RFC 6762 11: mDNS packets go out with IP TTL 255.
            socket.set_hop_limit(Some(255));
            if socket.bind(mdns::PORT).is_err() {
                log::error!("network: the mDNS socket did not bind");
            }
            if iface.join_multicast_group(IpAddress::Ipv4(ipv4(mdns::GROUP))).is_err() {
                log::warn!("network: could not join the mDNS group on {}", kind.name());
            }
            Mdns { socket: sockets.add(socket), host, responder: None, announcements_left: 0, next_announcement_us: 0 }
        });
        let mut stack = Stack {
            kind,
            iface,
            sockets,
            nic,
            icmp,
            http,
            addressing,
            mdns,
            source: "none",
            gateway: None,
            dns: Vec::new(),
            address_changed: false,
        };
        match (&stack.addressing, plan.address) {
            (Addressing::Server { .. }, Some((address, prefix))) => {
                stack.set_address(Ipv4Cidr::new(ipv4(address), prefix), None, "server")
            }
            (Addressing::Client { mode: NetMode::Static, .. }, Some((address, prefix))) => {
                stack.set_address(Ipv4Cidr::new(ipv4(address), prefix), plan.gateway.map(ipv4), "static")
            }
            _ => {}
        }
        stack
    }

    fn set_address(&mut self, cidr: Ipv4Cidr, gateway: Option<Ipv4Address>, source: &'static str) {
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            let _ = addrs.push(IpCidr::Ipv4(cidr));
        });
        self.iface.routes_mut().remove_default_ipv4_route();
        if let Some(gateway) = gateway {
            let _ = self.iface.routes_mut().add_default_ipv4_route(gateway);
        }
        self.gateway = gateway;
        self.source = source;
        self.address_changed = true;
        let address = cidr.address().octets();
        if let Some(mdns) = self.mdns.as_mut() {
            let txt = vec![
                format!("path={}", http::PATH),
                String::from("transport=streamable-http"),
                String::from("auth=bearer"),
                format!("board={}", crate::board::CURRENT.name),
            ];
            match mdns::Responder::new(&mdns.host, address, self.http.port(), txt) {
                Ok(responder) => {
                    mdns.responder = Some(responder);
                    mdns.announcements_left = ANNOUNCEMENTS;
                    mdns.next_announcement_us = cpu::micros();
                }
                Err(why) => log::warn!("mDNS: host name '{}': {why}", mdns.host),
            }
        }
        log::info!(
            "network ({}): {source} address {cidr}, gateway {}; MCP at http://{}:{}{}{}",
            self.kind.name(),
            gateway.map_or("none".into(), |g| format!("{g}")),
            cidr.address(),
            self.http.port(),
            http::PATH,
            self.mdns.as_ref().map_or(String::new(), |m| format!(" (http://{}.local{})", m.host, http::PATH)),
        );
    }

    /// Checksums as the device wants them (all computed in software).
    pub(super) fn nic_checksums(&self) -> smoltcp::phy::ChecksumCapabilities {
        use smoltcp::phy::Device;
        self.nic.capabilities().checksum
    }

    /// The path's IPv4 address and prefix, if it has one.
    pub fn address(&self) -> Option<([u8; 4], u8)> {
        let address = self.iface.ipv4_addr()?;
        let prefix = self
            .iface
            .ip_addrs()
            .iter()
            .find_map(|c| (c.address() == IpAddress::Ipv4(address)).then_some(c.prefix_len()))
            .unwrap_or(32);
        Some((address.octets(), prefix))
    }

    /// Polls the interface once and runs the path's datagram services.
    pub(super) fn poll(&mut self) {
        let timestamp = now();
        self.nic.flush();
        self.iface.poll(timestamp, &mut self.nic, &mut self.sockets);
        self.poll_addressing();
        self.poll_mdns();
    }

    fn poll_addressing(&mut self) {
        if let Addressing::Server { socket, server } = &mut self.addressing {
            let socket = self.sockets.get_mut::<udp::Socket>(*socket);
            let seconds = cpu::micros() / 1_000_000;
            while let Ok((datagram, _)) = socket.recv() {
                let Some(reply) = server.handle(datagram, seconds) else { continue };
                let to = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::BROADCAST), dhcp::CLIENT_PORT);
                if socket.send_slice(&reply.datagram, to).is_err() {
                    log::warn!("DHCP server: the answer did not fit the send buffer");
                } else if reply.kind == dhcp::MessageType::Ack && reply.address != [0; 4] {
                    let [a, b, c, d] = reply.address;
                    log::info!("DHCP server: {a}.{b}.{c}.{d} leased to the computer on {}", self.kind.name());
                }
            }
            return;
        }
        let Addressing::Client { dhcp, mode, fallback, gateway, started_us } = &mut self.addressing else { return };
        if *mode != NetMode::Dhcp {
            return;
        }
        let event = self.sockets.get_mut::<dhcpv4::Socket>(*dhcp).poll().map(|e| match e {
            dhcpv4::Event::Configured(config) => {
                Some((config.address, config.router, config.dns_servers.iter().copied().collect::<Vec<_>>()))
            }
            dhcpv4::Event::Deconfigured => None,
        });
        let fallback_due =
            self.source == "none" && fallback.is_some() && cpu::micros() - *started_us > DHCP_FALLBACK_US;
        let static_plan = fallback.map(|(a, p)| (Ipv4Cidr::new(ipv4(a), p), gateway.map(ipv4)));
        if fallback_due {
            *mode = NetMode::Static;
        }
        match event {
            Some(Some((address, router, dns))) => {
                self.dns = dns;
                self.set_address(address, router, "dhcp");
            }
            Some(None) if self.source == "dhcp" => {
                self.iface.update_ip_addrs(|addrs| addrs.clear());
                self.source = "none";
                self.address_changed = true;
                log::warn!("network ({}): DHCP lease lost", self.kind.name());
            }
            _ => {}
        }
        if let (true, Some((cidr, gateway))) = (fallback_due, static_plan) {
            log::warn!("network ({}): no DHCP answer; using the static settings", self.kind.name());
            self.set_address(cidr, gateway, "static");
        }
    }

    fn poll_mdns(&mut self) {
        let Some(mdns) = self.mdns.as_mut() else { return };
        let Some(responder) = mdns.responder.as_ref() else { return };
        let socket = self.sockets.get_mut::<udp::Socket>(mdns.socket);
        let group = IpEndpoint::new(IpAddress::Ipv4(ipv4(mdns::GROUP)), mdns::PORT);
        while let Ok((datagram, meta)) = socket.recv() {
            let Some(answer) = responder.answer(datagram, meta.endpoint.port) else { continue };
            let to = if answer.unicast { meta.endpoint } else { group };
            let _ = socket.send_slice(&answer.message, to);
        }
        let now = cpu::micros();
        if mdns.announcements_left > 0 && now >= mdns.next_announcement_us {
            mdns.announcements_left -= 1;
            mdns.next_announcement_us = now + ANNOUNCE_INTERVAL_US;
            let _ = socket.send_slice(&responder.announcement(), group);
        }
    }

    /// The earliest time the path's own timers need a poll (announcements), in
    /// microseconds from now.
    pub(super) fn service_delay_us(&self) -> Option<u64> {
        let mdns = self.mdns.as_ref()?;
        (mdns.announcements_left > 0).then(|| mdns.next_announcement_us.saturating_sub(cpu::micros()))
    }

    /// What `net_status` reports of this path.
    pub(super) fn status(&mut self) -> PathStatus {
        let leases = match &self.addressing {
            Addressing::Server { server, .. } => server
                .leases(cpu::micros() / 1_000_000)
                .map(|l| Lease {
                    address: l.address,
                    mac: l.mac,
                    bound: l.bound,
                    host_name: l.host_name.map(|n| String::from(n.as_str())),
                })
                .collect(),
            Addressing::Client { .. } => Vec::new(),
        };
        PathStatus {
            kind: self.kind,
            device: self.nic.device.name(),
            mac: self.nic.device.mac_address(),
            link: self.nic.device.link_up(),
            address: self.address(),
            gateway: self.gateway.map(|g| g.octets()),
            dns: self.dns.iter().map(|d| d.octets()).collect(),
            source: self.source,
            counters: self.nic.device.counters(),
            http: self.http.figures(),
            leases,
            mdns: self.mdns.as_ref().and_then(|m| m.responder.as_ref()).map(|r| String::from(r.host())),
        }
    }
}

/// A lease the path's DHCP server gave.
#[derive(Clone, Debug)]
pub struct Lease {
    /// The address given.
    pub address: [u8; 4],
    /// To which MAC.
    pub mac: [u8; 6],
    /// Confirmed (ACKed), or only offered.
    pub bound: bool,
    /// The host name the computer gave.
    pub host_name: Option<String>,
}

/// What `net_status` reports of one path.
pub struct PathStatus {
    /// Kind of link.
    pub kind: Kind,
    /// Device driver's name.
    pub device: &'static str,
    /// MAC address.
    pub mac: [u8; 6],
    /// Link up.
    pub link: bool,
    /// Address and prefix, if configured.
    pub address: Option<([u8; 4], u8)>,
    /// Gateway.
    pub gateway: Option<[u8; 4]>,
    /// DNS servers from DHCP.
    pub dns: Vec<[u8; 4]>,
    /// "dhcp", "static", "server" or "none".
    pub source: &'static str,
    /// Device counters.
    pub counters: drivers::net::Counters,
    /// HTTP figures.
    pub http: http::Figures,
    /// Addresses this path's DHCP server gave out (cable links).
    pub leases: Vec<Lease>,
    /// The mDNS name answered on this path.
    pub mdns: Option<String>,
}
