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

fn record(mut entry: Value) {
    let line = {
        let mut trail = TRAIL.lock();
        entry["seq"] = json!(trail.next);
        trail.next += 1;
        if trail.entries.len() >= RING {
            trail.entries.pop_front();
        }
        let line = entry.to_string();
        trail.entries.push_back(line.clone());
        line
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
pub enum Answer<'a> {
    /// The server answered with this message (or with nothing: a notification).
    Sent(Option<&'a str>),
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
    answer: Answer<'_>,
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
        Answer::Sent(answer) => result_of(answer),
    };
    let call = jsonrpc::CallParams::parse(params).ok();
    let tool = call.as_ref().map_or("", |c| &c.name);
    // The digest of the arguments as the client sent them.
    let arguments = call.as_ref().map_or("", |c| c.arguments);
    record(json!({
        "at_us": crate::arch::cpu::micros(), "peer": peer(), "role": role.scope(),
        "tool": crate::decisions::cut(tool), "arguments_digest": digest(arguments.as_bytes()),
        "result": result, "duration_us": duration_us,
    }));
}

/// What an answer says about a call: "ok", or "error" for a JSON-RPC error or a tool error.
fn result_of(answer: Option<&str>) -> &'static str {
    let Some(answer) = answer else { return "ok" };
    // The server's own answers are in the scanner's shape unless a text has escapes.
    let fast = mcp::scan::members(answer, ["error", "result"], usize::MAX)
        .map(|[error, result]| (error.is_some(), result.and_then(|r| mcp::scan::members(r, ["isError"], usize::MAX))));
    match fast {
        Some((true, _)) => "error",
        Some((false, Some([Some("true")]))) => "error",
        Some((false, Some(_))) => "ok",
        _ => match mcp::parse_json(answer.as_bytes()).ok() {
            Some(value) if value.get("error").is_some() => "error",
            Some(value) if value.pointer("/result/isError") == Some(&Value::Bool(true)) => "error",
            _ => "ok",
        },
    }
}

/// Records a power action (from the console or the network).
pub fn power(action: &str) {
    record(json!({"at_us": crate::arch::cpu::micros(), "power": action}));
}

/// The resource `kernel://audit`: the entries, oldest first.
pub fn resource() -> String {
    let trail = TRAIL.lock();
    let entries: Vec<Value> = trail.entries.iter().filter_map(|l| mcp::parse_json(l.as_bytes()).ok()).collect();
    json!({"file": FILE, "kept": RING, "entries": entries}).to_string()
}
