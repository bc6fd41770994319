//! MCP over MQTT 5: with `mqtt.broker` set, the board connects to that broker and serves
//! the same tools, with the same checks, as on the console and over HTTP, to every MCP
//! client on the broker (a fleet gateway, an SDK). The wire format is `formats::mqtt`; the
//! protocol's rules (topics, presence, one session per client) are `mcp::mqtt::Binding`.
//! This module is the connection: one TCP socket on the path that reaches the broker,
//! CONNECT with a last will (so a board that dies goes offline), keep-alive, and reconnects
//! with exponential backoff when the broker goes away. The console and HTTP never wait on
//! it: it is its own executor task, woken by the network task after each poll.

use super::{entropy, path_to, with_path, with_path_unpolled};
use crate::{arch::cpu, sync::WakerSlot};
use alloc::{format, string::String, sync::Arc, vec, vec::Vec};
use core::sync::atomic::{AtomicBool, Ordering};
use formats::mqtt::{self as wire, Connect, Framer, Packet, Properties, Publish, QoS, SubscribeOptions, Will};
use mcp::mqtt::{Binding, Out};
use smoltcp::{iface::SocketHandle, socket::tcp, wire::Ipv4Address};
use spin::Mutex;

/// Seconds of silence the board promises the broker at most (it pings at half of it).
const KEEP_ALIVE_S: u16 = 30;
/// Largest packet accepted (told to the broker in CONNECT).
const MAX_PACKET: u32 = 256 * 1024;
/// Socket buffers.
const RX_BUFFER: usize = 32 * 1024;
const TX_BUFFER: usize = 64 * 1024;
/// TCP connect and CONNACK each must come within this.
const CONNECT_TIMEOUT_US: u64 = 10_000_000;
/// Sending one packet may take at most this long (a broker that stops reading).
const SEND_TIMEOUT_US: u64 = 10_000_000;
/// Reconnect delays double from the first to the last.
const BACKOFF_FIRST_MS: u64 = 500;
const BACKOFF_LAST_MS: u64 = 30_000;

static WOKEN: AtomicBool = AtomicBool::new(false);
static WAITER: WakerSlot = WakerSlot::new();
static STATUS: Mutex<Option<Status>> = Mutex::new(None);

/// What `net_status` reports about MQTT.
#[derive(Clone, Debug)]
pub struct Status {
    /// `a.b.c.d:port`.
    pub broker: String,
    /// The board's MQTT client id (the server id in topics).
    pub server_id: String,
    /// Its server name.
    pub server_name: String,
    /// Connected now (CONNACK accepted).
    pub connected: bool,
    /// Connections made (CONNACK accepted) since boot.
    pub connects: u64,
    /// Messages received and handled.
    pub messages: u64,
    /// MCP clients with a session.
    pub clients: usize,
    /// Why the last connection ended or failed.
    pub last_error: Option<String>,
}

/// MQTT's state, if it is configured.
pub fn status() -> Option<Status> {
    STATUS.lock().clone()
}

fn update(f: impl FnOnce(&mut Status)) {
    if let Some(status) = STATUS.lock().as_mut() {
        f(status);
    }
}

/// The network task polled the paths: bytes may have arrived.
pub(super) fn wake() {
    WOKEN.store(true, Ordering::Release);
    WAITER.wake();
}

/// Starts the MQTT task if the settings name a broker.
pub(super) fn start(registry: Arc<mcp::server::Registry>) {
    let settings = crate::storage::settings();
    let Some((address, port)) = settings.mqtt_broker else { return };
    let host = &settings.net_hostname;
    // A fresh id per boot: unique even when boards share a MAC (QEMU's default) or a name.
    let server_id = format!("kingly-{host}-{:08x}", entropy() as u32);
    let server_name = settings.mqtt_name.clone().unwrap_or_else(|| format!("kingly/{host}"));
    let role = if settings.mqtt_control { mcp::server::Role::Control } else { mcp::server::Role::Read };
    let description = format!("Kingly OS on {} ({})", crate::board::CURRENT.name, host);
    let mut binding = match Binding::new(registry, &server_id, &server_name, &description, role) {
        Ok(binding) => binding,
        Err(why) => {
            log::error!("MQTT off: {why}");
            return;
        }
    };
    binding.set_meta("board", serde_json::json!(crate::board::CURRENT.name));
    binding.set_meta("hostname", serde_json::json!(host));
    let [a, b, c, d] = address;
    let broker = format!("{a}.{b}.{c}.{d}:{port}");
    crate::println!("MCP over MQTT: broker {broker}, server {server_name} (id {server_id}), {} role", role.scope());
    *STATUS.lock() = Some(Status {
        broker,
        server_id,
        server_name,
        connected: false,
        connects: 0,
        messages: 0,
        clients: 0,
        last_error: None,
    });
    let credentials = (settings.mqtt_username.clone(), settings.mqtt_password.clone());
    crate::executor::spawn("mqtt", task(binding, Ipv4Address::from(address), port, credentials));
}

async fn task(mut binding: Binding, broker: Ipv4Address, port: u16, credentials: (Option<String>, Option<String>)) {
    let mut backoff_ms = BACKOFF_FIRST_MS;
    loop {
        let outcome = session(&mut binding, broker, port, &credentials).await;
        let was_connected = status().is_some_and(|s| s.connected);
        update(|s| s.connected = false);
        match outcome {
            Ok(()) => {}
            Err(why) => {
                if was_connected {
                    log::warn!("MQTT: connection to the broker lost: {why}; reconnecting");
                } else {
                    log::debug!("MQTT: {why}; retrying in {backoff_ms} ms");
                }
                update(|s| s.last_error = Some(why));
            }
        }
        if was_connected {
            backoff_ms = BACKOFF_FIRST_MS;
        }
        // Jitter (up to a quarter) so boards that lost the same broker do not return in step.
        let jitter = entropy() % (backoff_ms / 4 + 1);
        sleep_ms(backoff_ms + jitter).await;
        backoff_ms = (backoff_ms * 2).min(BACKOFF_LAST_MS);
    }
}

fn sleep_ms(ms: u64) -> crate::executor::Sleep {
    crate::executor::sleep_until(cpu::counter() + ms * cpu::counter_frequency() / 1000)
}

/// Waits until the network task polled (bytes may have arrived) or `ms` passed.
fn wait(ms: u64) -> impl core::future::Future<Output = ()> {
    super::wait_event(&WOKEN, &WAITER, cpu::counter() + ms * cpu::counter_frequency() / 1000)
}

/// The TCP connection to the broker: removed from its path when dropped.
struct Link {
    path: usize,
    handle: SocketHandle,
    framer: Framer,
    next_id: u16,
    last_sent_us: u64,
    last_received_us: u64,
}

impl Drop for Link {
    fn drop(&mut self) {
        let handle = self.handle;
        with_path(self.path, |s| s.sockets.get_mut::<tcp::Socket>(handle).abort());
        // The next poll sends the reset; then the socket goes.
        with_path(self.path, |s| {
            s.sockets.remove(handle);
        });
    }
}

impl Link {
    fn packet_id(&mut self) -> u16 {
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        self.next_id
    }

    /// Queues `bytes` on the socket, waiting (other tasks run) while its buffer is full.
    fn send(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        let started = cpu::micros();
        let handle = self.handle;
        while !bytes.is_empty() {
            let sent = with_path_unpolled(self.path, |s| {
                let socket = s.sockets.get_mut::<tcp::Socket>(handle);
                if !socket.may_send() {
                    return None;
                }
                Some(socket.send_slice(bytes).unwrap_or(0))
            });
            match sent.flatten() {
                None => return Err("the broker closed the connection".into()),
                Some(n) => bytes = &bytes[n..],
            }
            if !bytes.is_empty() {
                if cpu::micros() - started > SEND_TIMEOUT_US {
                    return Err("the broker stopped reading".into());
                }
                // Push out what is queued, let the rest of the system run, then retry.
                with_path(self.path, |_| {});
                crate::executor::run_others();
                cpu::spin_for_micros(200);
            }
        }
        self.last_sent_us = cpu::micros();
        super::device_event();
        Ok(())
    }

    fn publish(&mut self, topic: &str, payload: &[u8], retain: bool, server_id: &str) -> Result<(), String> {
        let mut message = Publish::new(topic, payload);
        message.retain = retain;
        // Retained presence goes at QoS 1 (the broker acknowledges storing it). Answers and
        // notifications go at QoS 0: TCP already delivers them in order on this connection,
        // nothing is resent after a reconnect (a session does not survive one anyway), and
        // a burst of them cannot overrun the broker's receive maximum.
        if retain {
            message.qos = QoS::AtLeastOnce;
            message.packet_id = Some(self.packet_id());
        }
        message.properties.user = vec![
            (mcp::mqtt::COMPONENT_TYPE.into(), "mcp-server".into()),
            (mcp::mqtt::CLIENT_ID.into(), server_id.into()),
        ];
        let bytes = wire::publish(&message).map_err(|e| format!("cannot encode a message for {topic}: {e}"))?;
        self.send(&bytes)
    }

    fn subscribe(&mut self, filters: &[String]) -> Result<(), String> {
        let options = SubscribeOptions { qos: 1, no_local: true, retain_handling: 0 };
        // Brokers take many filters at once; a few per packet keeps each one small.
        for chunk in filters.chunks(8) {
            let list: Vec<(&str, SubscribeOptions)> = chunk.iter().map(|f| (f.as_str(), options)).collect();
            let id = self.packet_id();
            let bytes = wire::subscribe(id, &list).map_err(|e| format!("cannot subscribe: {e}"))?;
            self.send(&bytes)?;
        }
        Ok(())
    }

    fn unsubscribe(&mut self, filters: &[String]) -> Result<(), String> {
        let list: Vec<&str> = filters.iter().map(String::as_str).collect();
        let id = self.packet_id();
        let bytes = wire::unsubscribe(id, &list).map_err(|e| format!("cannot unsubscribe: {e}"))?;
        self.send(&bytes)
    }

    /// Before a power action: clears the retained presence (a clean DISCONNECT suppresses
    /// the will that would), disconnects, and waits up to half a second for the bytes to leave.
    fn goodbye(&mut self, presence_topic: &str, server_id: &str) {
        let _ = self.publish(presence_topic, b"", true, server_id);
        let _ = self.send(&wire::disconnect(0));
        let started = cpu::micros();
        let handle = self.handle;
        while cpu::micros() - started < 500_000 {
            let pending = with_path(self.path, |s| s.sockets.get_mut::<tcp::Socket>(handle).send_queue());
            if pending.unwrap_or(0) == 0 {
                break;
            }
            cpu::spin_for_micros(1_000);
        }
    }

    /// Takes in the bytes the socket holds; the next whole packet if there is one.
    fn receive(&mut self) -> Result<Option<Packet>, String> {
        if let Some(packet) = self.next()? {
            return Ok(Some(packet));
        }
        let handle = self.handle;
        let framer = &mut self.framer;
        let open = with_path_unpolled(self.path, |s| {
            let socket = s.sockets.get_mut::<tcp::Socket>(handle);
            let mut took = false;
            while socket.can_recv() {
                let n = socket.recv(|buffer| {
                    framer.push(buffer);
                    (buffer.len(), buffer.len())
                });
                took |= n.is_ok_and(|n| n > 0);
                if !n.is_ok_and(|n| n > 0) {
                    break;
                }
            }
            (socket.may_recv() || took, took)
        });
        match open {
            None => Err("the network path is gone".into()),
            Some((false, _)) => Err("the broker closed the connection".into()),
            Some((true, took)) => {
                if took {
                    self.last_received_us = cpu::micros();
                }
                self.next()
            }
        }
    }

    fn next(&mut self) -> Result<Option<Packet>, String> {
        match self.framer.next_packet() {
            Ok(None) => Ok(None),
            Ok(Some(bytes)) => {
                Packet::parse(&bytes).map(Some).map_err(|e| format!("a malformed packet from the broker: {e}"))
            }
            Err(e) => Err(format!("the broker's stream is broken: {e}")),
        }
    }
}

/// One connection: connect, serve until it ends. `Ok` only for a clean end.
async fn session(
    binding: &mut Binding,
    broker: Ipv4Address,
    port: u16,
    (username, password): &(Option<String>, Option<String>),
) -> Result<(), String> {
    // A path that reaches the broker, with an address.
    let path = loop {
        if let Some(path) = path_to(broker).filter(|&p| with_path_unpolled(p, |s| s.address().is_some()) == Some(true))
        {
            break path;
        }
        sleep_ms(500).await;
    };
    let local_port = 49_152 + (entropy() % 16_000) as u16;
    let handle = with_path(path, |s| {
        let socket =
            tcp::Socket::new(tcp::SocketBuffer::new(vec![0; RX_BUFFER]), tcp::SocketBuffer::new(vec![0; TX_BUFFER]));
        let handle = s.sockets.add(socket);
        // A PUBACK followed by an answer is two small writes: with Nagle the answer would wait
        // for the broker's (delayed) ACK of the first, 40 ms per request.
        s.sockets.get_mut::<tcp::Socket>(handle).set_nagle_enabled(false);
        let connected =
            s.sockets.get_mut::<tcp::Socket>(handle).connect(s.iface.context(), (broker, port), local_port).is_ok();
        (handle, connected)
    })
    .ok_or("the network path is gone")?;
    let mut link = Link {
        path,
        handle: handle.0,
        framer: Framer::new(MAX_PACKET),
        next_id: 0,
        last_sent_us: cpu::micros(),
        last_received_us: cpu::micros(),
    };
    if !handle.1 {
        return Err("the TCP socket refused to connect".into());
    }
    super::device_event();
    let started = cpu::micros();
    loop {
        let state = with_path_unpolled(path, |s| s.sockets.get_mut::<tcp::Socket>(link.handle).state());
        match state {
            Some(tcp::State::Established) => break,
            Some(tcp::State::SynSent | tcp::State::SynReceived) if cpu::micros() - started < CONNECT_TIMEOUT_US => {}
            Some(tcp::State::SynSent | tcp::State::SynReceived) => return Err("no answer from the broker".into()),
            _ => return Err("the broker refused the connection".into()),
        }
        wait(50).await;
    }
    let server_id = String::from(binding.server_id());
    let connect = Connect {
        client_id: server_id.clone(),
        keep_alive: KEEP_ALIVE_S,
        clean_start: true,
        username: username.clone(),
        password: password.as_ref().map(|p| p.as_bytes().to_vec()),
        will: Some(Will {
            topic: binding.presence_topic(),
            payload: Vec::new(),
            retain: true,
            properties: Properties::default(),
        }),
        properties: Properties {
            session_expiry: Some(0),
            maximum_packet_size: Some(MAX_PACKET),
            user: vec![
                (mcp::mqtt::COMPONENT_TYPE.into(), "mcp-server".into()),
                (
                    mcp::mqtt::META.into(),
                    format!(r#"{{"implementation":"kingly-os","version":"{}"}}"#, env!("CARGO_PKG_VERSION")),
                ),
            ],
            ..Properties::default()
        },
    };
    link.send(&wire::connect(&connect).map_err(|e| format!("cannot encode CONNECT: {e}"))?)?;
    let started = cpu::micros();
    let mut keep_alive_s = KEEP_ALIVE_S;
    loop {
        match link.receive()? {
            Some(Packet::ConnAck { reason: 0, properties, .. }) => {
                if let Some(seconds) = properties.server_keep_alive {
                    keep_alive_s = seconds;
                }
                let assigned =
                    properties.user.iter().find(|(k, _)| k == mcp::mqtt::SERVER_NAME).map(|(_, v)| v.clone());
                if let Some(name) = assigned.filter(|n| n != binding.server_name()) {
                    // The will names the presence topic: reconnect under the assigned name.
                    binding.rename(&name).map_err(|e| format!("the broker assigned the server name '{name}': {e}"))?;
                    update(|s| s.server_name = name.clone());
                    return Err(format!("the broker assigned the server name {name}; reconnecting under it"));
                }
                break;
            }
            Some(Packet::ConnAck { reason, properties, .. }) => {
                let detail = properties.reason_string.map(|r| format!(" ({r})")).unwrap_or_default();
                let why = format!("the broker refused: {}{detail}", wire::connack_reason(reason));
                log::error!("MQTT: {why}");
                return Err(why);
            }
            Some(other) => return Err(format!("the broker answered CONNECT with {other:?}")),
            None if cpu::micros() - started > CONNECT_TIMEOUT_US => return Err("no CONNACK from the broker".into()),
            None => wait(50).await,
        }
    }
    update(|s| {
        s.connected = true;
        s.connects += 1;
        s.last_error = None;
    });
    log::info!("MQTT: connected to the broker as {server_id}");
    link.subscribe(&binding.subscriptions())?;
    link.publish(&binding.presence_topic(), binding.online().as_bytes(), true, &server_id)?;
    let keep_alive_us = u64::from(keep_alive_s) * 1_000_000;
    loop {
        while let Some(packet) = link.receive()? {
            serve(binding, &mut link, packet, &server_id)?;
        }
        for out in binding.pending() {
            carry_out(&mut link, out, &server_id)?;
        }
        let now = cpu::micros();
        if keep_alive_us > 0 {
            if now - link.last_received_us > keep_alive_us * 3 / 2 {
                return Err("the broker has been silent past the keep-alive".into());
            }
            if now - link.last_sent_us > keep_alive_us / 2 {
                link.send(&wire::pingreq())?;
            }
        }
        wait(1_000).await;
    }
}

/// Handles one packet from the broker.
fn serve(binding: &mut Binding, link: &mut Link, packet: Packet, server_id: &str) -> Result<(), String> {
    match packet {
        Packet::Publish(message) => {
            if let Some(id) = message.packet_id {
                link.send(&wire::puback(id))?;
            }
            update(|s| s.messages += 1);
            let sender = message.user_property(mcp::mqtt::CLIENT_ID).map(String::from);
            let started = cpu::micros();
            let mut cancel = || {
                crate::executor::run_others();
                false
            };
            let (outs, handled) =
                binding.handle(&message.topic, &message.payload, sender.as_deref(), Some(&mut cancel));
            if let Some(call) = handled {
                let answer = crate::audit::Answer::Handled(call.failed);
                let peer = || format!("mqtt:{}", call.client);
                crate::audit::tool_call(peer, binding.role(), call.message.as_bytes(), answer, cpu::micros() - started);
            }
            for out in outs {
                carry_out(link, out, server_id)?;
            }
            update(|s| s.clients = binding.clients().len());
            if crate::system::has_pending() {
                // A power action asked over MQTT: once its answer has left, say goodbye
                // (presence cleared, a normal DISCONNECT, so no will is needed) and carry it out.
                link.goodbye(&binding.presence_topic(), server_id);
                crate::system::run_pending();
            }
            Ok(())
        }
        Packet::SubAck { reasons, .. } => {
            if reasons.iter().any(|r| *r >= 0x80) {
                log::warn!("MQTT: the broker refused a subscription ({reasons:02x?}): check its ACL for $mcp-* topics");
            }
            Ok(())
        }
        Packet::PubAck { reason, .. } if reason >= 0x80 => {
            log::warn!("MQTT: the broker refused a message (reason {reason:#04x})");
            Ok(())
        }
        Packet::PubAck { .. } | Packet::UnsubAck { .. } | Packet::PingResp => Ok(()),
        Packet::Disconnect { reason, properties } => {
            let detail = properties.reason_string.map(|r| format!(": {r}")).unwrap_or_default();
            Err(format!("the broker disconnected the board (reason {reason:#04x}{detail})"))
        }
        Packet::ConnAck { .. } => Err("a second CONNACK".into()),
    }
}

fn carry_out(link: &mut Link, out: Out, server_id: &str) -> Result<(), String> {
    match out {
        Out::Subscribe(filters) => link.subscribe(&filters),
        Out::Unsubscribe(filters) => link.unsubscribe(&filters),
        Out::Publish { topic, payload, retain } => link.publish(&topic, payload.as_bytes(), retain, server_id),
    }
}
