//! MCP over HTTP on TCP: a fixed set of connection slots, each a `smoltcp` TCP socket
//! listening on the port, feeding [`mcp::http`] (which applies the protocol's rules).
//!
//! Limits: [`CONNECTIONS`] at once, of which the ones that never had a request served are
//! closed, oldest first, to keep [`SPARE_LISTENERS`] slots listening (so idle strangers
//! cannot lock anyone out); a request must arrive whole within [`REQUEST_TIMEOUT_US`] of its first byte (a
//! slow client gets 408 and is closed); an idle keep-alive connection is closed after
//! [`IDLE_TIMEOUT_US`]; head and body sizes as `mcp::http::HttpLimits`.
//!
//! A request runs without the stack's lock. While it runs, its cancellation hook keeps the
//! other connections served ([`pump`] with this connection skipped) and the other executor
//! tasks too, and sees a client's `notifications/cancelled`.

use super::{
    path_count,
    profile::{self, Stage},
    with_path, with_path_unpolled, Stack,
};
use crate::arch::cpu;
use alloc::{format, string::String, sync::Arc, vec, vec::Vec};
use core::sync::atomic::{AtomicUsize, Ordering};
use mcp::http::{Action, Endpoint, Parse, Request};
use smoltcp::{iface::SocketHandle, socket::tcp};
use spin::Mutex;

/// Connections served at once on each path.
pub const CONNECTIONS: usize = 24;
/// The endpoint's path.
pub const PATH: &str = mcp::http::PATH;

/// One connection: its path and its slot there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    /// Index of the path.
    pub path: usize,
    /// Slot on that path.
    pub slot: usize,
}
/// A request must be complete this long after its first byte.
pub const REQUEST_TIMEOUT_US: u64 = 10_000_000;
/// An idle connection is closed after this long.
pub const IDLE_TIMEOUT_US: u64 = 60_000_000;
/// A connection that has not yet had a request served (no valid token so far) is closed
/// after this long idle: idle strangers cannot hold the slots.
pub const UNTRUSTED_IDLE_US: u64 = 5_000_000;
/// Slots kept listening for new clients (see [`evict_a_stranger`]).
const SPARE_LISTENERS: usize = 6;
/// A connection is a stranger to evict only after this long without a byte: a client's
/// request follows its handshake within a round trip, so a fresh connection is left alone.
/// A loaded host or network can stretch that round trip: at 250 ms the one-minute soak lost
/// a client's first request once, when the machine was also running the whole test suite.
/// A longer grace costs nothing when slots run out, because then the oldest stranger goes at
/// once.
const STRANGER_GRACE_US: u64 = 1_000_000;
/// Sending one response may take at most this long (a client that stops reading).
const SEND_TIMEOUT_US: u64 = 10_000_000;
/// Socket buffers.
const RX_BUFFER: usize = 16 * 1024;
const TX_BUFFER: usize = 64 * 1024;
/// Nested serving depth (a tool's hook serving another connection whose tool's hook...).
const MAX_DEPTH: usize = 2;

struct Slot {
    handle: SocketHandle,
    buffer: Vec<u8>,
    first_byte_us: Option<u64>,
    last_activity_us: u64,
    busy: bool,
    /// A request on this connection was served (it presented the token).
    trusted: bool,
}

/// Figures for `net_status`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Figures {
    /// Connections accepted.
    pub connections: u64,
    /// Requests answered.
    pub requests: u64,
    /// Requests refused by the transport rules or limits (4xx/5xx).
    pub rejected: u64,
    /// Connections open now.
    pub open: usize,
    /// Idle connections without a served request closed to keep slots listening.
    pub evicted: u64,
}

/// The HTTP side of the stack (lives in [`Stack`]).
pub struct Server {
    slots: Vec<Slot>,
    port: u16,
    figures: Figures,
}

/// The protocol endpoint (sessions); outside the stack's lock so tools can run unlocked.
static ENDPOINT: Mutex<Option<Endpoint>> = Mutex::new(None);
static DEPTH: AtomicUsize = AtomicUsize::new(0);

/// Creates the protocol endpoint (shared by every path) over `registry`.
pub fn init_endpoint(registry: Arc<mcp::server::Registry>, token: &str, read_token: Option<&str>) {
    let mut endpoint = Endpoint::new(registry, token, super::entropy);
    if let Some(read_token) = read_token {
        endpoint.set_read_token(read_token);
    }
    *ENDPOINT.lock() = Some(endpoint);
}

/// The machine's addresses and names, allowed as Host/Origin.
pub fn set_addresses(addresses: &[String]) {
    if let Some(endpoint) = ENDPOINT.lock().as_mut() {
        endpoint.set_addresses(addresses);
    }
}

impl Server {
    /// Creates a path's listening sockets.
    pub fn new(sockets: &mut smoltcp::iface::SocketSet<'static>, port: u16) -> Server {
        let mut slots = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let socket = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; RX_BUFFER]),
                tcp::SocketBuffer::new(vec![0; TX_BUFFER]),
            );
            let handle = sockets.add(socket);
            slots.push(Slot {
                handle,
                buffer: Vec::new(),
                first_byte_us: None,
                last_activity_us: 0,
                busy: false,
                trusted: false,
            });
        }
        Server { slots, port, figures: Figures::default() }
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Current figures.
    pub fn figures(&self) -> Figures {
        let mut figures = self.figures;
        figures.open = self.slots.iter().filter(|s| s.last_activity_us != 0).count();
        figures
    }
}

/// Moves received bytes into the slots, enforces the limits and returns the complete
/// requests (one per idle connection) to run. Called with the stack locked and polled.
fn collect(stack: &mut Stack, skip: Option<usize>) -> Vec<(usize, Request)> {
    let limits = ENDPOINT.lock().as_ref().map(Endpoint::limits).unwrap_or_default();
    let capacity = limits.max_head + limits.max_body + 1;
    let port = stack.http.port;
    let now = cpu::micros();
    let mut ready = Vec::new();
    for index in 0..stack.http.slots.len() {
        let slot = &mut stack.http.slots[index];
        let socket = stack.sockets.get_mut::<tcp::Socket>(slot.handle);
        if !socket.is_open() {
            if slot.last_activity_us != 0 {
                slot.buffer = Vec::new(); // give a big request's buffer back to the heap
                slot.first_byte_us = None;
                slot.last_activity_us = 0;
                slot.busy = false;
                slot.trusted = false;
            }
            let _ = socket.listen(port);
            continue;
        }
        if socket.is_active() && slot.last_activity_us == 0 {
            slot.last_activity_us = now;
            stack.http.figures.connections += 1;
        }
        if slot.busy || Some(index) == skip {
            continue;
        }
        while socket.can_recv() && slot.buffer.len() < capacity {
            let room = capacity - slot.buffer.len();
            let Ok(taken) = socket.recv(|data| {
                let n = data.len().min(room);
                (n, data[..n].to_vec())
            }) else {
                break;
            };
            if taken.is_empty() {
                break;
            }
            if slot.first_byte_us.is_none() {
                slot.first_byte_us = Some(now);
            }
            slot.buffer.extend_from_slice(&taken);
            slot.last_activity_us = now;
        }
        if !slot.buffer.is_empty() {
            match mcp::http::parse(&slot.buffer, &limits) {
                Parse::Complete(request, used) => {
                    slot.buffer.drain(..used);
                    slot.first_byte_us = if slot.buffer.is_empty() { None } else { Some(now) };
                    slot.busy = true;
                    ready.push((index, request));
                }
                Parse::Reject(response) => {
                    stack.http.figures.rejected += 1;
                    let _ = socket.send_slice(&response.to_bytes());
                    socket.close();
                    slot.buffer.clear();
                }
                Parse::Incomplete if slot.first_byte_us.is_some_and(|t| now - t > REQUEST_TIMEOUT_US) => {
                    stack.http.figures.rejected += 1;
                    let _ =
                        socket.send_slice(&mcp::http::Response::error(408, "request not complete in time").to_bytes());
                    socket.close();
                    slot.buffer.clear();
                }
                Parse::Incomplete => {}
            }
        } else if socket.state() == tcp::State::CloseWait {
            // The client finished sending and everything was answered.
            socket.close();
        } else if slot.last_activity_us != 0
            && now - slot.last_activity_us > if slot.trusted { IDLE_TIMEOUT_US } else { UNTRUSTED_IDLE_US }
        {
            socket.abort();
        }
    }
    evict_a_stranger(stack);
    ready
}

/// Keeps [`SPARE_LISTENERS`] slots listening: when fewer are, the connections idle longest
/// (at least [`STRANGER_GRACE_US`], unless no slot listens at all) that have not yet had a
/// request served and hold no partial one are aborted. Idle
/// strangers can then never lock an authorised client out, however many they open; a
/// connection that presented the token is never evicted this way.
fn evict_a_stranger(stack: &mut Stack) {
    let listening = stack
        .http
        .slots
        .iter()
        .filter(|slot| stack.sockets.get::<tcp::Socket>(slot.handle).state() == tcp::State::Listen)
        .count();
    if listening >= SPARE_LISTENERS {
        return;
    }
    let now = cpu::micros();
    let mut strangers: Vec<&mut Slot> = stack
        .http
        .slots
        .iter_mut()
        .filter(|slot| !slot.trusted && !slot.busy && slot.buffer.is_empty() && slot.last_activity_us != 0)
        .collect();
    strangers.sort_by_key(|slot| slot.last_activity_us);
    // Past their grace first; with no slot listening at all, the oldest regardless.
    let mut wanted = SPARE_LISTENERS - listening;
    for slot in strangers {
        if wanted == 0 {
            break;
        }
        let seasoned = now.saturating_sub(slot.last_activity_us) > STRANGER_GRACE_US;
        if seasoned || listening == 0 {
            stack.sockets.get_mut::<tcp::Socket>(slot.handle).abort();
            stack.http.figures.evicted += 1;
            wanted -= 1;
        }
    }
}

/// Sends `bytes` on connection `index`, polling the interface until they are queued.
/// Returns false when the connection went away or stopped reading.
fn send(connection: Connection, mut bytes: &[u8]) -> bool {
    let (path, index) = (connection.path, connection.slot);
    let started = cpu::micros();
    let mut first = true;
    while !bytes.is_empty() {
        // The first attempt only queues; a full buffer needs a poll to make room.
        let queue = |s: &mut Stack| {
            let handle = s.http.slots[index].handle;
            let socket = s.sockets.get_mut::<tcp::Socket>(handle);
            if !socket.may_send() {
                return None;
            }
            let n = socket.send_slice(bytes).unwrap_or(0);
            s.http.slots[index].last_activity_us = cpu::micros();
            Some(n)
        };
        let sent = if first { with_path_unpolled(path, queue) } else { with_path(path, queue) };
        first = false;
        match sent.flatten() {
            None => return false,
            Some(n) => bytes = &bytes[n..],
        }
        if !bytes.is_empty() {
            if cpu::micros() - started > SEND_TIMEOUT_US {
                with_path(path, |s| s.sockets.get_mut::<tcp::Socket>(s.http.slots[index].handle).abort());
                return false;
            }
            // A client that does not read: serve the other connections meanwhile.
            if DEPTH.load(Ordering::Relaxed) < MAX_DEPTH {
                pump(Some(connection));
            }
            crate::executor::run_others();
            cpu::spin_for_micros(100);
        }
    }
    profile::add(Stage::Send, started);
    // Push it out now rather than at the next poll.
    with_path(path, |_| {});
    true
}

/// The remote address of connection `index`, as text.
fn peer(connection: Connection) -> String {
    let index = connection.slot;
    with_path_unpolled(connection.path, |s| {
        s.sockets.get_mut::<tcp::Socket>(s.http.slots[index].handle).remote_endpoint()
    })
    .flatten()
    .map_or_else(|| String::from("?"), |e| format!("{e}"))
}

fn close(connection: Connection) {
    let index = connection.slot;
    with_path_unpolled(connection.path, |s| s.sockets.get_mut::<tcp::Socket>(s.http.slots[index].handle).close());
}

fn finish(connection: Connection, rejected: bool) {
    let index = connection.slot;
    with_path_unpolled(connection.path, |s| {
        s.http.slots[index].busy = false;
        s.http.slots[index].trusted |= !rejected;
        s.http.figures.requests += 1;
        if rejected {
            s.http.figures.rejected += 1;
        }
    });
}

/// Runs one request of connection `index`.
fn serve(index: Connection, request: Request) {
    let started = cpu::micros();
    let action = match ENDPOINT.lock().as_mut() {
        Some(endpoint) => endpoint.route(&request),
        None => return,
    };
    match action {
        Action::Respond(response) => {
            // A read token refused a tool that changes the machine (RFC 6750's challenge).
            let insufficient_scope = response
                .headers
                .iter()
                .any(|(name, value)| *name == "WWW-Authenticate" && value.contains("insufficient_scope"));
            if insufficient_scope {
                let forbidden = crate::audit::Answer::Forbidden;
                crate::audit::tool_call(|| peer(index), mcp::server::Role::Read, &request.body, forbidden, 0);
            }
            profile::add(Stage::Run, started);
            send(index, &response.to_bytes());
            if response.close || request.wants_close() {
                close(index);
            }
            finish(index, response.status >= 400);
        }
        Action::Call { session, message, stream, id, created, role } => {
            let Some((mut server, owned)) = ENDPOINT.lock().as_mut().map(|e| e.begin(session.as_deref(), id.as_ref()))
            else {
                return;
            };
            // The role comes with each request's token, not with the session.
            server.set_role(role);
            let new_session = if created { session.as_deref() } else { None };
            let mut alive = true;
            if stream {
                alive = send(index, &mcp::http::event_stream_head(new_session));
            }
            let mut cancel = || {
                if DEPTH.load(Ordering::Relaxed) < MAX_DEPTH {
                    pump(Some(index));
                }
                crate::executor::run_others();
                ENDPOINT.lock().as_ref().is_some_and(|e| e.is_cancelled(session.as_deref()))
            };
            let mut sink = |line: &str| {
                if alive {
                    alive = send(index, &mcp::http::event(line));
                }
            };
            let handling = cpu::micros();
            let answer = server.handle_message_streaming(
                &message,
                Some(&mut cancel),
                if stream { Some(&mut sink) } else { None },
            );
            let handled_us = cpu::micros().saturating_sub(handling);
            profile::add(Stage::Mcp, handling);
            let handled = crate::audit::Answer::Handled(server.last_call_failed());
            if let Some(endpoint) = ENDPOINT.lock().as_mut() {
                endpoint.finish(session.as_deref(), server, owned);
            }
            crate::audit::tool_call(|| peer(index), role, &message, handled, cpu::micros().saturating_sub(started));
            // The rest of the request's run (the server's own time is counted apart).
            profile::add(Stage::Run, started + handled_us);
            if stream {
                if let Some(answer) = answer {
                    send(index, &mcp::http::event(&answer));
                }
                close(index);
            } else {
                send(index, &Endpoint::response(answer, new_session).to_bytes());
                if request.wants_close() {
                    close(index);
                }
            }
            finish(index, false);
            if crate::system::has_pending() {
                // A power action asked over HTTP: once its answer has left, carry it out
                // (not when someone next types on the console).
                drain(index);
                crate::system::run_pending();
            }
        }
    }
}

/// Waits (up to half a second) until connection `index` has no unsent or unacknowledged
/// bytes, so an answer is delivered before the machine goes down.
fn drain(connection: Connection) {
    let (path, index) = (connection.path, connection.slot);
    let started = cpu::micros();
    while cpu::micros() - started < 500_000 {
        let pending = with_path(path, |s| s.sockets.get_mut::<tcp::Socket>(s.http.slots[index].handle).send_queue());
        if pending.unwrap_or(0) == 0 {
            break;
        }
        cpu::spin_for_micros(1_000);
    }
}

/// Serves the complete requests of every connection on every path except `skip`.
pub fn pump(skip: Option<Connection>) {
    DEPTH.fetch_add(1, Ordering::Relaxed);
    for path in 0..path_count() {
        let skip_slot = skip.filter(|c| c.path == path).map(|c| c.slot);
        let ready = with_path(path, |s| {
            let started = cpu::micros();
            let ready = collect(s, skip_slot);
            profile::add(Stage::Collect, started);
            ready
        })
        .unwrap_or_default();
        for (slot, request) in ready {
            serve(Connection { path, slot }, request);
        }
    }
    DEPTH.fetch_sub(1, Ordering::Relaxed);
}
