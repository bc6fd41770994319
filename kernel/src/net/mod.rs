//! The network: one path per network device — virtio-net (QEMU virt), a USB adapter (Pi 3),
//! the USB gadget's link (Zero 2 W, Pi 4: the computer at the other end of the cable), the
//! Pi 4's Ethernet — each its own `smoltcp` interface ([`path::Stack`]) addressed by DHCP,
//! the static settings, or as the DHCP server of a cable link, answering ICMP echo and mDNS
//! (`kingly.local`), and serving MCP over Streamable HTTP ([`http`]) on the settings' port.
//! The MCP sessions are shared: a client may reach the board on any path. With a broker
//! in the settings, [`mqtt`] serves the same tools over MCP over MQTT.
//!
//! One executor task ([`task`]) polls the paths when a NIC interrupts or a timer (`smoltcp`'s
//! `poll_delay`) expires. Work that takes long (a tool call from HTTP, a ping) never holds
//! the paths' lock while it waits: each access locks briefly.

pub mod http;
pub mod mqtt;
pub mod nic;
pub mod path;

use crate::{arch::cpu, sync::IrqMutex};
use alloc::{format, string::String, vec::Vec};
use core::sync::atomic::{AtomicBool, Ordering};
use formats::settings::NetMode;
pub use path::{Kind, PathStatus};
use path::{Plan, Stack};
use smoltcp::{
    socket::icmp,
    time::Instant,
    wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, Ipv4Address},
};
use spin::Once;

/// Every path, in the order they came up (the first is the one `net_status` reports at
/// its top level).
static PATHS: IrqMutex<Vec<Stack>> = IrqMutex::new(Vec::new());
static NIC_EVENT: AtomicBool = AtomicBool::new(false);
/// Every device interrupts when frames arrive (else the task polls often).
static ALL_IRQ: AtomicBool = AtomicBool::new(false);
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

/// Brings up the network on every device the board has: a path each (interface, addressing,
/// ICMP, mDNS, HTTP listeners) and the executor task. Without a device, the network tools
/// say why.
pub fn init(registry: alloc::sync::Arc<mcp::server::Registry>) {
    let found = match nic::find_all() {
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
    http::init_endpoint(alloc::sync::Arc::clone(&registry), token, read_token);
    let mdns_host = settings.net_mdns.then(|| settings.net_hostname.clone());
    let mut all_irq = true;
    let mut paths = Vec::new();
    let mut lines = Vec::new();
    for device in found {
        let plan = match device.kind {
            // The computer at the other end of the cable is given its address by the board.
            Kind::Gadget => Plan {
                mode: NetMode::Server,
                address: Some(settings.usb_address),
                gateway: None,
                mdns_host: mdns_host.clone(),
            },
            _ => Plan {
                mode: settings.net_mode,
                address: settings.net_address,
                gateway: settings.net_gateway,
                mdns_host: mdns_host.clone(),
            },
        };
        let mac = device.device.mac_address();
        log::info!(
            "network: {} ({}) {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, MCP over HTTP on port {}",
            device.kind.name(),
            device.device.name(),
            mac[0],
            mac[1],
            mac[2],
            mac[3],
            mac[4],
            mac[5],
            settings.net_port
        );
        match device.irq {
            Some(line) => lines.push(line),
            None => all_irq = false,
        }
        paths.push(Stack::new(device.kind, device.device, plan, settings.net_port));
    }
    // The token goes to the UART only (someone at the console or the loader that chose it),
    // never into the log ring, which `log_read` and `kernel://log` serve to any client.
    crate::println!("MCP over HTTP: bearer token {token} (shown on this console only)");
    if let Some(read_token) = read_token {
        crate::println!("MCP over HTTP: read-only bearer token {read_token} (read-only tools, resources, prompts)");
    }
    *PATHS.lock() = paths;
    // Only now may the lines fire: the handler acknowledges the devices in PATHS, and a
    // frame that arrived while the stacks were built (the computer at the other end sends
    // from the moment the link is up) leaves a level-triggered line asserted; enabled
    // earlier, it interrupted core 0 again after every return and boot went no further.
    for line in lines {
        crate::irq::register(line, on_interrupt);
    }
    refresh_hosts();
    ALL_IRQ.store(all_irq, Ordering::Relaxed);
    crate::executor::spawn("network", task());
    mqtt::start(registry);
}

/// A polled device has frames (the USB gadget's task): wake the network task.
pub fn device_event() {
    NIC_EVENT.store(true, Ordering::Release);
    WAITER.wake();
}

/// A NIC's interrupt: acknowledge it and wake the network task.
fn on_interrupt() {
    for stack in PATHS.lock().iter_mut() {
        stack.nic.device.ack_interrupt();
    }
    NIC_EVENT.store(true, Ordering::Release);
    WAITER.wake();
}

/// After an address changed: the HTTP endpoint accepts every path's address and the mDNS
/// name as `Host`/`Origin` (DNS-rebinding protection allows nothing else).
fn refresh_hosts() {
    let mut hosts = Vec::new();
    let mut changed = false;
    for stack in PATHS.lock().iter_mut() {
        changed |= core::mem::take(&mut stack.address_changed);
        if let Some(([a, b, c, d], _)) = stack.address() {
            hosts.push(format!("{a}.{b}.{c}.{d}"));
        }
    }
    if !changed {
        return;
    }
    let settings = crate::storage::settings();
    if settings.net_mdns {
        hosts.push(format!("{}.local", settings.net_hostname));
    }
    http::set_addresses(&hosts);
}

/// How many paths there are.
pub fn path_count() -> usize {
    PATHS.lock().len()
}

/// Runs `f` on path `path` (locked briefly), after polling it: frames that arrived are
/// taken in and what sockets queued goes out.
pub fn with_path<R>(path: usize, f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    let mut guard = PATHS.lock();
    let stack = guard.get_mut(path)?;
    let started = cpu::micros();
    stack.poll();
    profile::add(profile::Stage::Poll, started);
    Some(f(stack))
}

/// Runs `f` on path `path` without polling it (bookkeeping, queueing bytes that the next
/// poll sends): in QEMU a poll of the interface and its 26 sockets is the largest cost per
/// request, so the HTTP path polls once to take requests in and once to push answers out.
pub fn with_path_unpolled<R>(path: usize, f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    PATHS.lock().get_mut(path).map(f)
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
pub fn pump(busy: Option<http::Connection>) {
    http::pump(busy);
}

/// Waits until the NIC interrupts or `deadline` (counter ticks) passes; always yields to
/// the other tasks at least once, so a busy network cannot starve the console.
fn wait(deadline: u64) -> impl core::future::Future<Output = ()> {
    wait_event(&NIC_EVENT, &WAITER, deadline)
}

/// Waits until `event` is set (and takes it) — whoever sets it wakes `waiter` — or
/// `deadline` (counter ticks) passes; yields to the other tasks at least once.
pub(crate) fn wait_event(
    event: &'static AtomicBool,
    waiter: &'static crate::sync::WakerSlot,
    deadline: u64,
) -> impl core::future::Future<Output = ()> {
    let mut first = true;
    core::future::poll_fn(move |cx| {
        if !first && (event.swap(false, Ordering::AcqRel) || cpu::counter() >= deadline) {
            return core::task::Poll::Ready(());
        }
        if first {
            first = false;
            waiter.register(cx.waker());
            if event.load(Ordering::Acquire) {
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

/// The network task: serve, then sleep until a NIC or the earliest timer needs us.
async fn task() {
    loop {
        pump(None);
        mqtt::wake();
        refresh_hosts();
        let mut delay_us = 50_000u64;
        for stack in PATHS.lock().iter_mut() {
            let stack_delay = stack.iface.poll_delay(now(), &stack.sockets).map_or(50_000, |d| d.total_micros());
            delay_us = delay_us.min(stack_delay).min(stack.service_delay_us().unwrap_or(u64::MAX));
        }
        // Without a device interrupt, frames are only seen when polled: poll at every tick.
        let longest = if ALL_IRQ.load(Ordering::Relaxed) { 50_000 } else { 5_000 };
        let delay_us = delay_us.clamp(1_000, longest);
        wait(cpu::counter() + delay_us * cpu::counter_frequency() / 1_000_000).await;
    }
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

/// Every path's state, or why there is no network.
pub fn status() -> Result<Vec<PathStatus>, NetworkError> {
    let paths: Vec<PathStatus> = (0..path_count()).filter_map(|path| with_path(path, Stack::status)).collect();
    if paths.is_empty() {
        return Err(DEVICE_ERROR.get().map_or(NetworkError::NotUp, |why| NetworkError::NoDevice(*why)));
    }
    Ok(paths)
}

/// The path to send to `host` on: the one whose network holds it, else the first with a
/// gateway, else the first with an address.
fn path_to(host: Ipv4Address) -> Option<usize> {
    let paths = PATHS.lock();
    let holds = |stack: &Stack| {
        stack.address().is_some_and(|(address, prefix)| {
            smoltcp::wire::Ipv4Cidr::new(Ipv4Address::from(address), prefix).contains_addr(&host)
        })
    };
    paths
        .iter()
        .position(holds)
        .or_else(|| paths.iter().position(|s| s.source == "dhcp" || s.source == "static"))
        .or_else(|| paths.iter().position(|s| s.address().is_some()))
}

/// One ICMP echo exchange: the round trip in microseconds, or `None` on timeout.
pub fn ping(host: [u8; 4], timeout_us: u64, sequence: u16) -> Result<Option<u64>, NetworkError> {
    let target = Ipv4Address::new(host[0], host[1], host[2], host[3]);
    let ident = 0x4b4e;
    let payload = b"kingly-os ping";
    if path_count() == 0 {
        return Err(status().err().unwrap_or(NetworkError::NotUp));
    }
    let path = path_to(target).ok_or(NetworkError::NoAddress)?;
    with_path(path, |s| -> Result<(), NetworkError> {
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
    .ok_or(NetworkError::NotUp)??;
    let started = cpu::micros();
    while cpu::micros() - started < timeout_us {
        let reply = with_path(path, |s| {
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
