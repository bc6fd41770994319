//! The network: one interface (`smoltcp` over an [`EthernetDevice`]), configured by DHCP
//! with the settings' static address as the fallback, answering ICMP echo, and serving MCP
//! over Streamable HTTP ([`http`]) on the settings' port.
//!
//! One executor task ([`task`]) polls the interface when the NIC interrupts or a timer
//! (`smoltcp`'s `poll_delay`) expires. Work that takes long (a tool call from HTTP, a
//! ping) never holds the stack's lock while it waits: each access locks briefly.
//!
//! Devices: virtio-net on QEMU virt (`nic::VirtioNic`); USB CDC-ECM on the Pi 3 comes with
//! the USB driver.

pub mod http;
pub mod nic;

use crate::{arch::cpu, sync::IrqMutex};
use alloc::{boxed::Box, format, string::String, vec, vec::Vec};
use core::sync::atomic::{AtomicBool, Ordering};
use drivers::net::EthernetDevice;
use formats::settings::NetMode;
use smoltcp::{
    iface::{Config, Interface, SocketHandle, SocketSet},
    socket::{dhcpv4, icmp},
    time::Instant,
    wire::{EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, Ipv4Address, Ipv4Cidr},
};
use spin::Once;

/// How long DHCP may take before the static settings (if any) are used.
const DHCP_FALLBACK_US: u64 = 10_000_000;

/// The interface and its sockets.
pub struct Stack {
    iface: Interface,
    sockets: SocketSet<'static>,
    nic: nic::Nic,
    dhcp: SocketHandle,
    icmp: SocketHandle,
    http: http::Server,
    /// How the address was obtained: "dhcp", "static", or "none" yet.
    source: &'static str,
    gateway: Option<Ipv4Address>,
    dns: Vec<Ipv4Address>,
    started_us: u64,
    static_address: Option<([u8; 4], u8)>,
    static_gateway: Option<[u8; 4]>,
    mode: NetMode,
}

static STACK: IrqMutex<Option<Stack>> = IrqMutex::new(None);
static NIC_EVENT: AtomicBool = AtomicBool::new(false);
/// The device interrupts when frames arrive (else the task polls it often).
static HAS_IRQ: AtomicBool = AtomicBool::new(false);
static WAITER: crate::sync::WakerSlot = crate::sync::WakerSlot::new();
static TOKEN: Once<String> = Once::new();
static READ_TOKEN: Once<String> = Once::new();
static DEVICE_ERROR: Once<nic::NoDevice> = Once::new();

fn now() -> Instant {
    Instant::from_micros(cpu::micros() as i64)
}

/// Random words for tokens and session ids: the hardware RNG, else counter jitter.
pub fn entropy() -> u64 {
    if let Ok(word) = crate::entropy::u64() {
        return word;
    }
    // No strong source (Pi 4 and QEMU raspi4b for now): mix counter readings taken around
    // variable work. Weak, so nothing secret comes from it: without a strong source the
    // network starts only with a configured token (see `init`).
    let mut z = cpu::counter().wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for _ in 0..16 {
        let t = cpu::counter();
        z ^= t.rotate_left((t & 63) as u32);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z ^= z >> 27;
    }
    z
}

/// The bearer token MCP-over-HTTP clients must present (control role).
pub fn token() -> Option<&'static str> {
    TOKEN.get().map(String::as_str)
}

/// The bearer token of the read role.
pub fn read_token() -> Option<&'static str> {
    READ_TOKEN.get().map(String::as_str)
}

/// Brings up the network if the board has a device: interface, DHCP, ICMP, HTTP listeners,
/// and the executor task. Without a device, the network tools say why.
pub fn init(registry: alloc::sync::Arc<mcp::server::Registry>) {
    let (device, irq): (Box<dyn EthernetDevice + Send>, _) = match nic::find() {
        Ok(found) => found,
        Err(why) => {
            DEVICE_ERROR.call_once(|| why);
            return;
        }
    };
    let settings = crate::storage::settings();
    // Tokens must not be guessable: a generated one comes from the strong source or not at
    // all (a stalled generator must not fall back to timer jitter here).
    let generated = || -> Option<String> {
        let (a, b) = (crate::entropy::u64().ok()?, crate::entropy::u64().ok()?);
        Some(format!("{a:016x}{b:016x}"))
    };
    let Some(token) = settings.net_token.clone().or_else(generated) else {
        log::error!(
            "no hardware RNG on this board: MCP over HTTP stays off until net.token (and net.read_token) \
             are set in kingly.txt"
        );
        DEVICE_ERROR.call_once(|| nic::NoDevice::NoStrongEntropy);
        return;
    };
    let token = TOKEN.call_once(|| token).as_str();
    let read_token = match settings.net_read_token.clone().or_else(generated) {
        Some(read_token) => Some(READ_TOKEN.call_once(|| read_token).as_str()),
        None => {
            log::warn!("no read token: set net.read_token in kingly.txt (no hardware RNG to generate one)");
            None
        }
    };
    let mut nic = nic::Nic::new(device);
    let mac = nic.device.mac_address();
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    config.random_seed = entropy();
    let iface = Interface::new(config, &mut nic, now());
    let mut sockets = SocketSet::new(Vec::new());
    let dhcp = sockets.add(dhcpv4::Socket::new());
    let icmp_rx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]);
    let icmp_tx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]);
    let icmp = sockets.add(icmp::Socket::new(icmp_rx, icmp_tx));
    let http = http::Server::new(&mut sockets, settings.net_port, registry, token, read_token);
    let mut stack = Stack {
        iface,
        sockets,
        nic,
        dhcp,
        icmp,
        http,
        source: "none",
        gateway: None,
        dns: Vec::new(),
        started_us: cpu::micros(),
        static_address: settings.net_address,
        static_gateway: settings.net_gateway,
        mode: settings.net_mode,
    };
    if stack.mode == NetMode::Static {
        stack.apply_static();
    }
    // The token goes to the UART only (someone at the console or the loader that chose it),
    // never into the log ring, which `log_read` and `kernel://log` serve to any client.
    crate::println!("MCP over HTTP: bearer token {token} (shown on this console only)");
    if let Some(read_token) = read_token {
        crate::println!("MCP over HTTP: read-only bearer token {read_token} (read-only tools, resources, prompts)");
    }
    log::info!(
        "network: {} {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, MCP over HTTP on port {}",
        stack.nic.device.name(),
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5],
        settings.net_port
    );
    *STACK.lock() = Some(stack);
    if let Some(line) = irq {
        crate::irq::register(line, on_interrupt);
        HAS_IRQ.store(true, Ordering::Relaxed);
    }
    crate::executor::spawn("network", task());
}

/// The NIC's interrupt: acknowledge it and wake the network task.
fn on_interrupt() {
    if let Some(stack) = STACK.lock().as_mut() {
        stack.nic.device.ack_interrupt();
    }
    NIC_EVENT.store(true, Ordering::Release);
    WAITER.wake();
}

impl Stack {
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
        let address = format!("{}", cidr.address());
        self.http.set_addresses(core::slice::from_ref(&address));
        log::info!(
            "network: {source} address {cidr}, gateway {}; MCP at http://{address}:{}/mcp",
            gateway.map_or("none".into(), |g| format!("{g}")),
            self.http.port()
        );
    }

    fn apply_static(&mut self) {
        if let Some((a, prefix)) = self.static_address {
            let cidr = Ipv4Cidr::new(Ipv4Address::new(a[0], a[1], a[2], a[3]), prefix);
            let gateway = self.static_gateway.map(|g| Ipv4Address::new(g[0], g[1], g[2], g[3]));
            self.set_address(cidr, gateway, "static");
        }
    }

    /// Checksums as the device wants them (all computed in software).
    fn nic_checksums(&self) -> smoltcp::phy::ChecksumCapabilities {
        use smoltcp::phy::Device;
        self.nic.capabilities().checksum
    }

    /// Polls the interface and the DHCP client once.
    fn poll(&mut self) {
        let timestamp = now();
        self.nic.flush();
        self.iface.poll(timestamp, &mut self.nic, &mut self.sockets);
        if self.mode == NetMode::Dhcp {
            let event = self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).poll().map(|e| match e {
                dhcpv4::Event::Configured(config) => {
                    Some((config.address, config.router, config.dns_servers.iter().copied().collect::<Vec<_>>()))
                }
                dhcpv4::Event::Deconfigured => None,
            });
            match event {
                Some(Some((address, router, dns))) => {
                    self.dns = dns;
                    self.set_address(address, router, "dhcp");
                }
                Some(None) if self.source == "dhcp" => {
                    self.iface.update_ip_addrs(|addrs| addrs.clear());
                    self.source = "none";
                    log::warn!("network: DHCP lease lost");
                }
                Some(None) => {}
                None => {}
            }
            if self.source == "none"
                && self.static_address.is_some()
                && cpu::micros() - self.started_us > DHCP_FALLBACK_US
            {
                log::warn!("network: no DHCP answer; using the static settings");
                self.mode = NetMode::Static;
                self.apply_static();
            }
        }
    }
}

/// Runs `f` on the stack (locked briefly), after polling it: frames that arrived are taken
/// in and what sockets queued goes out.
pub fn with_stack<R>(f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    let mut guard = STACK.lock();
    let stack = guard.as_mut()?;
    let started = cpu::micros();
    stack.poll();
    profile::add(profile::Stage::Poll, started);
    Some(f(stack))
}

/// Runs `f` on the stack without polling it (bookkeeping, queueing bytes that the next poll
/// sends): in QEMU a poll of the interface and its 26 sockets is the largest cost per
/// request, so the HTTP path polls once to take requests in and once to push answers out.
pub fn with_stack_unpolled<R>(f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    STACK.lock().as_mut().map(f)
}

/// Where the network's time goes, for `net_status` and `bench net`: microseconds spent in
/// each stage since boot (the guest's own clock), and how many polls.
pub mod profile {
    use core::sync::atomic::{AtomicU64, Ordering};

    /// A stage of serving a request.
    #[derive(Clone, Copy)]
    pub enum Stage {
        /// Polling the interface (smoltcp: frames in and out, every socket).
        Poll = 0,
        /// Reading request bytes from the sockets and parsing HTTP.
        Collect = 1,
        /// The endpoint's rules, sessions, the audit trail and the HTTP answer, around the
        /// MCP server.
        Run = 2,
        /// Queueing answers on the sockets.
        Send = 3,
        /// The MCP server: parsing, dispatch, the tool, the JSON answer.
        Mcp = 4,
    }

    static MICROS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
    static POLLS: AtomicU64 = AtomicU64::new(0);

    /// Adds the time since `started_us` to `stage`.
    pub fn add(stage: Stage, started_us: u64) {
        let spent = crate::arch::cpu::micros().saturating_sub(started_us);
        MICROS[stage as usize].fetch_add(spent, Ordering::Relaxed);
        if let Stage::Poll = stage {
            POLLS.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Polls so far and microseconds per stage (poll, collect, run, send, mcp).
    pub fn read() -> (u64, [u64; 5]) {
        (POLLS.load(Ordering::Relaxed), core::array::from_fn(|i| MICROS[i].load(Ordering::Relaxed)))
    }
}

/// Serves what arrived: polls the interface, runs complete HTTP requests (skipping the
/// connection `busy`, whose request is running). Called by the task and, between a long
/// tool's steps, from that tool's cancellation hook.
pub fn pump(busy: Option<usize>) {
    http::pump(busy);
}

/// Waits until the NIC interrupts or `deadline` (counter ticks) passes; always yields to
/// the other tasks at least once, so a busy network cannot starve the console.
fn wait(deadline: u64) -> impl core::future::Future<Output = ()> {
    let mut first = true;
    core::future::poll_fn(move |cx| {
        if !first && (NIC_EVENT.swap(false, Ordering::AcqRel) || cpu::counter() >= deadline) {
            return core::task::Poll::Ready(());
        }
        if first {
            first = false;
            WAITER.register(cx.waker());
            if NIC_EVENT.load(Ordering::Acquire) {
                cx.waker().wake_by_ref();
            } else {
                let mut sleep = crate::executor::sleep_until(deadline);
                let _ = core::pin::Pin::new(&mut sleep).poll(cx);
            }
        }
        core::task::Poll::Pending
    })
}

use core::future::Future;

/// The network task: serve, then sleep until the NIC or smoltcp's next timer needs us.
async fn task() {
    loop {
        pump(None);
        let delay_us =
            with_stack_unpolled(|s| s.iface.poll_delay(now(), &s.sockets).map_or(50_000, |d| d.total_micros()))
                .unwrap_or(50_000);
        // Without a device interrupt, frames are only seen when polled: poll at every tick.
        let longest = if HAS_IRQ.load(Ordering::Relaxed) { 50_000 } else { 5_000 };
        let delay_us = delay_us.clamp(1_000, longest);
        wait(cpu::counter() + delay_us * cpu::counter_frequency() / 1_000_000).await;
    }
}

/// What `net_status` reports.
pub struct Status {
    /// Device name, MAC, link.
    pub device: &'static str,
    /// MAC address.
    pub mac: [u8; 6],
    /// Link up.
    pub link: bool,
    /// Address with prefix, if configured.
    pub address: Option<String>,
    /// Gateway.
    pub gateway: Option<String>,
    /// DNS servers from DHCP.
    pub dns: Vec<String>,
    /// "dhcp", "static" or "none".
    pub source: &'static str,
    /// Device counters.
    pub counters: drivers::net::Counters,
    /// HTTP figures.
    pub http: http::Figures,
}

/// Why the network cannot do what was asked.
#[derive(Clone, Debug)]
pub enum NetworkError {
    /// No device.
    NoDevice(nic::NoDevice),
    /// The stack is not running.
    NotUp,
    /// DHCP has not given an address yet.
    NoAddress,
    /// The ICMP socket refused.
    Icmp(&'static str),
}

impl core::fmt::Display for NetworkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NetworkError::NoDevice(why) => write!(f, "{why}"),
            NetworkError::NotUp => write!(f, "the network is not up"),
            NetworkError::NoAddress => write!(f, "the interface has no address yet (DHCP pending)"),
            NetworkError::Icmp(what) => write!(f, "ICMP: {what}"),
        }
    }
}

/// The interface's state, or why there is no network.
pub fn status() -> Result<Status, NetworkError> {
    with_stack(|s| Status {
        device: s.nic.device.name(),
        mac: s.nic.device.mac_address(),
        link: s.nic.device.link_up(),
        address: s.iface.ipv4_addr().map(|a| {
            let prefix = s
                .iface
                .ip_addrs()
                .iter()
                .find_map(|c| (c.address() == IpAddress::Ipv4(a)).then_some(c.prefix_len()))
                .unwrap_or(32);
            format!("{a}/{prefix}")
        }),
        gateway: s.gateway.map(|g| format!("{g}")),
        dns: s.dns.iter().map(|d| format!("{d}")).collect(),
        source: s.source,
        counters: s.nic.device.counters(),
        http: s.http.figures(),
    })
    .ok_or_else(|| DEVICE_ERROR.get().map_or(NetworkError::NotUp, |why| NetworkError::NoDevice(*why)))
}

/// One ICMP echo exchange: the round trip in microseconds, or `None` on timeout.
pub fn ping(host: [u8; 4], timeout_us: u64, sequence: u16) -> Result<Option<u64>, NetworkError> {
    let target = Ipv4Address::new(host[0], host[1], host[2], host[3]);
    let ident = 0x4b4e;
    let payload = b"kingly-os ping";
    with_stack(|s| -> Result<(), NetworkError> {
        if s.iface.ipv4_addr().is_none() {
            return Err(NetworkError::NoAddress);
        }
        let caps = s.nic_checksums();
        let socket = s.sockets.get_mut::<icmp::Socket>(s.icmp);
        if !socket.is_open() {
            socket.bind(icmp::Endpoint::Ident(ident)).map_err(|_| NetworkError::Icmp("the socket cannot bind"))?;
        }
        let repr = Icmpv4Repr::EchoRequest { ident, seq_no: sequence, data: payload };
        let buffer = socket
            .send(repr.buffer_len(), IpAddress::Ipv4(target))
            .map_err(|_| NetworkError::Icmp("the send buffer is full"))?;
        let mut packet = Icmpv4Packet::new_unchecked(buffer);
        repr.emit(&mut packet, &caps);
        Ok(())
    })
    .ok_or_else(|| status().err().unwrap_or(NetworkError::NotUp))??;
    let started = cpu::micros();
    while cpu::micros() - started < timeout_us {
        let reply = with_stack(|s| {
            let socket = s.sockets.get_mut::<icmp::Socket>(s.icmp);
            while socket.can_recv() {
                let Ok((data, from)) = socket.recv() else { break };
                let Ok(packet) = Icmpv4Packet::new_checked(data) else { continue };
                if let Ok(Icmpv4Repr::EchoReply { ident: i, seq_no, .. }) =
                    Icmpv4Repr::parse(&packet, &smoltcp::phy::ChecksumCapabilities::ignored())
                {
                    if i == ident && seq_no == sequence && from == IpAddress::Ipv4(target) {
                        return true;
                    }
                }
            }
            false
        })
        .unwrap_or(false);
        if reply {
            return Ok(Some(cpu::micros() - started));
        }
        // Keep the other I/O going while waiting (console, other connections).
        crate::executor::run_others();
        cpu::spin_for_micros(200);
    }
    Ok(None)
}

/// Parses a dotted IPv4 address.
pub fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    formats::settings::parse_ipv4(text)
}
