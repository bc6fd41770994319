//! Confirming destructive tools with the person behind the client (protocol revision
//! 2025-06-18 and later: elicitation, form mode).
//!
//! A `tools/call` of a tool annotated destructive runs only when
//! - the client declared the `elicitation` capability, the transport can carry a request to
//!   it in the middle of the call (a console line; an SSE stream on HTTP), and its user
//!   accepts the server's `elicitation/create` with `confirm: true`; or
//! - the call's arguments carry `"confirm": true` (every destructive tool declares that
//!   argument in its input schema), for clients that cannot be asked.
//!
//! A decline, a cancel, no answer within [`TIMEOUT_US`] or the client cancelling the call
//! ends it with an `isError` result; nothing runs. The kernel's console shell asks its own
//! y/N and calls tools directly, not through `tools/call`.
//!
//! The wait runs inside the call, like a long tool: the transport's cancellation hook keeps
//! serving I/O, and the answer (a JSON-RPC response whose id has [`ID_PREFIX`]) reaches the
//! waiting call through the session's [`Mailbox`], which every fork of the session shares.

use alloc::{
    format,
    string::{String, ToString},
    vec::Vec,
};
use serde_json::{json, Map, Value};

/// The argument that confirms a destructive call without asking.
pub const ARGUMENT: &str = "confirm";
/// Prefix of the ids of the server's elicitation requests.
pub const ID_PREFIX: &str = "kingly-confirm-";
/// How long the user has to answer (when the transport gave the server a clock).
pub const TIMEOUT_US: u64 = 120_000_000;
/// Answers kept for requests nobody waits for any more (late or duplicate replies).
const KEPT: usize = 8;

/// Replies to the server's requests, shared by the forks of one session.
#[derive(Debug, Default)]
pub struct Mailbox {
    next: u64,
    /// Questions sent and not yet answered: only their answers are filed.
    waiting: Vec<String>,
    replies: Vec<(Value, Result<Value, Value>)>,
}

impl Mailbox {
    /// A fresh request id.
    pub fn next_id(&mut self) -> String {
        self.next += 1;
        let id = format!("{ID_PREFIX}{}", self.next);
        if self.waiting.len() >= KEPT {
            let _ = self.waiting.remove(0);
        }
        self.waiting.push(id.clone());
        id
    }

    /// Files a client's response. Only answers to questions that were sent and are still
    /// open are kept (an answer cannot arrive before its question).
    pub fn deliver(&mut self, id: Value, outcome: Result<Value, Value>) {
        if id.as_str().is_some_and(|id| self.waiting.iter().any(|w| w == id)) {
            if self.replies.len() >= KEPT {
                let _ = self.replies.remove(0);
            }
            self.replies.push((id, outcome));
        }
    }

    /// Takes the response to request `id`, if it arrived.
    pub fn take(&mut self, id: &str) -> Option<Result<Value, Value>> {
        let at = self.replies.iter().position(|(reply, _)| reply.as_str() == Some(id))?;
        self.waiting.retain(|w| w != id);
        Some(self.replies.remove(at).1)
    }
}

/// What the user said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Go ahead.
    Accepted,
    /// Do not run; the text says why (declined, cancelled, no answer).
    Declined(String),
    /// The client cannot be asked (no elicitation capability, or no way to reach it now).
    Unavailable,
}

/// Whether an `initialize`'s client capabilities allow form elicitation: an `elicitation`
/// object that is empty (2025-06-18) or names `form` (2025-11-25; `url` alone is not enough).
pub fn client_can_be_asked(params: &Map<String, Value>) -> bool {
    match params.get("capabilities").and_then(|c| c.get("elicitation")) {
        Some(Value::Object(modes)) => modes.is_empty() || modes.contains_key("form"),
        _ => false,
    }
}

/// Adds the [`ARGUMENT`] property to the input schema of a destructive tool the server
/// confirms (a tool that asks itself, [`crate::Tool::confirms_itself`], declares its own).
pub fn declare(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else { return };
    let properties = object.entry("properties").or_insert_with(|| Value::Object(Map::new()));
    if let Some(properties) = properties.as_object_mut() {
        properties.entry(ARGUMENT).or_insert_with(|| {
            json!({"type": "boolean", "default": false, "description": "run this destructive tool without asking the user (for clients without MCP elicitation)"})
        });
    }
}

/// Whether a call's arguments confirm it.
pub fn confirmed(arguments: &Value) -> bool {
    arguments.get(ARGUMENT) == Some(&Value::Bool(true))
}

/// The `elicitation/create` request asking `question`, as one JSON-RPC line.
pub fn request(id: &str, question: &str) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": question,
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "confirm": {"type": "boolean", "title": "Run it", "description": "yes: run it now; no: do nothing", "default": false}
                },
                "required": ["confirm"]
            }
        }
    })
    .to_string()
}

/// The question for a destructive `tool` called with `arguments`.
pub fn question(tool: &str, title: &str, arguments: &Value) -> String {
    let mut shown = arguments.as_object().cloned().unwrap_or_default();
    shown.remove(ARGUMENT);
    format!(
        "{title}: run {tool} {}? It is marked destructive (it may reboot, power off, overwrite or drive hardware).",
        Value::Object(shown)
    )
}

/// Reads the client's answer: only `accept` with `confirm: true` runs the tool.
pub fn interpret(outcome: Result<Value, Value>) -> Confirmation {
    let result = match outcome {
        Ok(result) => result,
        // A client that declared the capability and then refused the request.
        Err(_) => return Confirmation::Unavailable,
    };
    match result.get("action").and_then(Value::as_str) {
        Some("accept") if result.pointer("/content/confirm") == Some(&Value::Bool(true)) => Confirmation::Accepted,
        Some("accept") => Confirmation::Declined("the user answered no".into()),
        Some("decline") => Confirmation::Declined("the user declined".into()),
        Some("cancel") => Confirmation::Declined("the user dismissed the question".into()),
        _ => Confirmation::Declined("the client's answer was not accept, decline or cancel".into()),
    }
}

/// The error text of a destructive call that could not be confirmed.
pub fn needs_confirmation(tool: &str) -> String {
    format!(
        "{tool} is destructive and was not run: this client cannot be asked (it did not declare MCP elicitation, or the \
         request did not accept an event stream), so call it again with \"confirm\": true to run it"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_that_allow_form_questions() {
        let with = |caps: Value| client_can_be_asked(json!({"capabilities": caps}).as_object().unwrap());
        assert!(with(json!({"elicitation": {}})));
        assert!(with(json!({"elicitation": {"form": {}}})));
        assert!(with(json!({"elicitation": {"form": {}, "url": {}}})));
        assert!(!with(json!({"elicitation": {"url": {}}})));
        assert!(!with(json!({"sampling": {}})));
        assert!(!with(json!({"elicitation": true})));
        assert!(!client_can_be_asked(&Map::new()));
    }

    #[test]
    fn only_accept_with_confirm_true_runs() {
        let ok = |v: Value| interpret(Ok(v));
        assert_eq!(ok(json!({"action": "accept", "content": {"confirm": true}})), Confirmation::Accepted);
        assert!(matches!(ok(json!({"action": "accept", "content": {"confirm": false}})), Confirmation::Declined(_)));
        assert!(matches!(ok(json!({"action": "accept"})), Confirmation::Declined(_)));
        assert!(matches!(ok(json!({"action": "accept", "content": {"confirm": "true"}})), Confirmation::Declined(_)));
        assert!(matches!(ok(json!({"action": "decline"})), Confirmation::Declined(_)));
        assert!(matches!(ok(json!({"action": "cancel"})), Confirmation::Declined(_)));
        assert!(matches!(ok(json!({"action": "yes"})), Confirmation::Declined(_)));
        assert!(matches!(ok(json!("accept")), Confirmation::Declined(_)));
        assert_eq!(interpret(Err(json!({"code": -32601}))), Confirmation::Unavailable);
    }

    #[test]
    fn the_mailbox_keeps_only_its_own_ids_and_a_few_of_them() {
        let mut mailbox = Mailbox::default();
        // An answer before its question is dropped.
        mailbox.deliver(json!(format!("{ID_PREFIX}1")), Ok(json!({"action": "accept"})));
        let id = mailbox.next_id();
        assert_eq!(id, format!("{ID_PREFIX}1"));
        assert_eq!(mailbox.take(&id), None);
        mailbox.deliver(json!(7), Ok(json!({})));
        mailbox.deliver(json!("someone-else-1"), Ok(json!({})));
        mailbox.deliver(json!(format!("{ID_PREFIX}2")), Ok(json!({})));
        assert!(mailbox.replies.is_empty());
        let others: Vec<String> = (0..20).map(|_| mailbox.next_id()).collect();
        for other in &others {
            mailbox.deliver(json!(other), Ok(json!({})));
        }
        assert!(mailbox.replies.len() <= KEPT && mailbox.waiting.len() <= KEPT);
        let id = mailbox.next_id();
        mailbox.deliver(json!(id.clone()), Ok(json!({"action": "decline"})));
        assert_eq!(mailbox.take(&id), Some(Ok(json!({"action": "decline"}))));
        assert_eq!(mailbox.take(&id), None);
    }

    #[test]
    fn declaring_adds_the_argument_once() {
        let mut schema = json!({"type": "object", "properties": {}, "additionalProperties": false});
        declare(&mut schema);
        assert_eq!(schema["properties"]["confirm"]["type"], "boolean");
        let mut own = json!({"type": "object", "properties": {"confirm": {"type": "boolean", "description": "mine"}}});
        declare(&mut own);
        assert_eq!(own["properties"]["confirm"]["description"], "mine");
        let mut bare = json!({"type": "object"});
        declare(&mut bare);
        assert_eq!(bare["properties"]["confirm"]["default"], false);
    }
}
