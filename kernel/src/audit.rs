//! The audit trail: every `tools/call` that arrives over the network (peer, role, tool, a
//! digest of the arguments, result, duration) and every power action, newest last. Kept in a
//! ring (the resource `kernel://audit`, control role only) and appended as JSON lines to
//! [`FILE`] on the card, which is rewritten from the ring when it would pass [`MAX_FILE`]
//! (so the file rotates instead of growing).

use crate::sync::IrqMutex;
use alloc::{
    collections::VecDeque,
    format,
    string::{String, ToString},
    vec::Vec,
};
use core::fmt::Write;
use mcp::{
    json,
    jsonrpc::{self, Incoming},
    Value,
};

/// The audit file on the card's boot partition (an 8.3 name).
pub const FILE: &str = "/AUDIT.LOG";

/// Bytes the file may grow to before it is rewritten from the ring.
pub const MAX_FILE: usize = 32 * 1024;

/// Entries kept in memory.
pub const RING: usize = 128;

struct Trail {
    entries: VecDeque<String>,
    next: u64,
}

static TRAIL: IrqMutex<Trail> = IrqMutex::new(Trail { entries: VecDeque::new(), next: 1 });

/// FNV-1a over the bytes: the arguments' digest (what was asked, without storing file
/// contents or other payloads in the trail).
fn digest(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Records one entry: `members` is the text of a JSON object's members (`"a":1,"b":"x"`),
/// to which the sequence number is added. Written as text, not built as a value: the trail
/// is written on every network tool call.
fn record(mut members: String) {
    let line = {
        let mut trail = TRAIL.lock();
        members.insert(0, '{');
        let _ = write!(members, r#","seq":{}}}"#, trail.next);
        trail.next += 1;
        if trail.entries.len() >= RING {
            trail.entries.pop_front();
        }
        trail.entries.push_back(members.clone());
        members
    };
    crate::storage::append_bounded(FILE, &line, MAX_FILE, || {
        let mut all = String::new();
        for line in &TRAIL.lock().entries {
            all.push_str(line);
            all.push('\n');
        }
        all
    });
}

/// What became of a network request, as far as the trail is concerned.
pub enum Answer {
    /// The server handled it; for a `tools/call`, whether the call failed (a tool error or
    /// a JSON-RPC error), as the server reports it (`mcp::Server::last_call_failed`).
    Handled(Option<bool>),
    /// The transport refused it: the role does not allow the tool.
    Forbidden,
}

/// Records a network request if it is a `tools/call`: its result is "ok", "error" (the tool
/// failed or the call was invalid) or "forbidden" (the role did not allow it). Anything else
/// (ping, lists, reads) costs one parse of the request and nothing more; `peer` is asked
/// only for a call that is recorded.
pub fn tool_call(
    peer: impl FnOnce() -> String,
    role: mcp::server::Role,
    message: &[u8],
    answer: Answer,
    duration_us: u64,
) {
    // Read in place: a ping or a list costs a scan of the envelope, nothing more.
    let Some(Incoming::Request { method, params, .. }) =
        core::str::from_utf8(message).ok().and_then(|t| jsonrpc::parse(t.trim()).ok())
    else {
        return;
    };
    if method != "tools/call" {
        return;
    }
    let result = match answer {
        Answer::Forbidden => "forbidden",
        Answer::Handled(Some(true)) => "error",
        Answer::Handled(_) => "ok",
    };
    let call = jsonrpc::CallParams::parse(params).ok();
    let tool = call.as_ref().map_or("", |c| &c.name);
    // The digest of the arguments as the client sent them.
    let arguments = call.as_ref().map_or("", |c| c.arguments);
    let mut members = format!(r#""at_us":{},"peer":"#, crate::arch::cpu::micros());
    jsonrpc::write_string(&mut members, &peer());
    let _ = write!(members, r#","role":"{}","tool":"#, role.scope());
    jsonrpc::write_string(&mut members, &crate::decisions::cut(tool));
    let _ = write!(
        members,
        r#","arguments_digest":"{}","result":"{result}","duration_us":{duration_us}"#,
        digest(arguments.as_bytes())
    );
    record(members);
}

/// Records a power action (from the console or the network).
pub fn power(action: &str) {
    let mut members = format!(r#""at_us":{},"power":"#, crate::arch::cpu::micros());
    jsonrpc::write_string(&mut members, action);
    record(members);
}

/// The resource `kernel://audit`: the entries, oldest first.
pub fn resource() -> String {
    let trail = TRAIL.lock();
    let entries: Vec<Value> = trail.entries.iter().filter_map(|l| mcp::parse_json(l.as_bytes()).ok()).collect();
    json!({"file": FILE, "kept": RING, "entries": entries}).to_string()
}
