//! Tools: declared once, listed, validated and called.

use crate::{
    confirm::{self, Confirmation, Mailbox},
    jsonrpc::{notification, RpcError},
};
use alloc::{boxed::Box, string::String, sync::Arc, vec::Vec};
use serde_json::{json, Map, Value};

/// Behaviour hints a client uses to decide whether to ask the user first. Every tool states
/// all four explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Annotations {
    /// Does not change anything.
    pub read_only: bool,
    /// May destroy or disrupt (reboot, power off, overwrite).
    pub destructive: bool,
    /// Calling twice with the same arguments has no further effect.
    pub idempotent: bool,
    /// Talks to the world outside this machine.
    pub open_world: bool,
}

impl Annotations {
    /// Reads state, changes nothing.
    pub const READ_ONLY: Annotations =
        Annotations { read_only: true, destructive: false, idempotent: true, open_world: false };
    /// Changes state in a way that cannot be undone (power, reset, overwrite).
    pub const DESTRUCTIVE: Annotations =
        Annotations { read_only: false, destructive: true, idempotent: false, open_world: false };
    /// Changes state without destroying anything.
    pub const MUTATING: Annotations =
        Annotations { read_only: false, destructive: false, idempotent: false, open_world: false };

    fn to_json(self, title: &str) -> Value {
        json!({
            "title": title,
            "readOnlyHint": self.read_only,
            "destructiveHint": self.destructive,
            "idempotentHint": self.idempotent,
            "openWorldHint": self.open_world,
        })
    }
}

/// What a tool returns on success: structured content matching its output schema and,
/// optionally, a text rendering for people (default: the JSON text).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutput {
    /// Matches the tool's output schema.
    pub structured: Value,
    /// Human-readable text; `None` means "serialize `structured`".
    pub text: Option<String>,
}

impl ToolOutput {
    /// Structured output only.
    pub fn new(structured: Value) -> Self {
        ToolOutput { structured, text: None }
    }

    /// Structured output with a text rendering.
    pub fn with_text(structured: Value, text: impl Into<String>) -> Self {
        ToolOutput { structured, text: Some(text.into()) }
    }
}

/// A tool that ran and failed: reported as a result with `isError: true` whose text is the
/// error's message. Every error type with a `Display` converts into it (so a tool's `?` on
/// its module's error enum is the one place errors become MCP errors), text included.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolError {
    message: String,
}

impl<T: core::fmt::Display> From<T> for ToolError {
    fn from(error: T) -> Self {
        ToolError { message: alloc::format!("{error}") }
    }
}

impl ToolError {
    /// What the client reads.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a typed call did not produce a result.
#[derive(Clone, Debug, PartialEq)]
pub enum CallError {
    /// No tool of that name (or it is hidden from this caller).
    UnknownTool(String),
    /// The arguments do not satisfy the input schema.
    InvalidArguments(String),
    /// The tool ran and reported an error.
    Failed(String),
    /// The session's role does not allow this tool (why, naming the scope needed).
    Forbidden(String),
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownTool(name) => write!(f, "unknown tool '{name}'"),
            Self::InvalidArguments(why) => write!(f, "invalid arguments: {why}"),
            Self::Failed(why) => write!(f, "{why}"),
            Self::Forbidden(why) => write!(f, "forbidden: {why}"),
        }
    }
}

impl From<CallError> for RpcError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::UnknownTool(name) => RpcError::invalid_params(alloc::format!("Unknown tool: {name}")),
            other => RpcError::invalid_params(alloc::format!("{other}")),
        }
    }
}

/// What a running handler can reach: progress reporting and cancellation.
pub struct Ctx<'a> {
    pub(crate) progress_token: Option<Value>,
    pub(crate) outgoing: &'a mut Vec<String>,
    pub(crate) cancel_check: Option<&'a mut dyn FnMut() -> bool>,
    pub(crate) cancelled: bool,
    /// Where notifications go at once (a streaming transport); otherwise they queue.
    pub(crate) sink: Option<&'a mut dyn FnMut(&str)>,
    /// The call came from a remote (network) session.
    pub(crate) remote: bool,
    /// The session's mailbox when its client can be asked questions (elicitation).
    pub(crate) asker: Option<Arc<spin::Mutex<Mailbox>>>,
    /// Microseconds, for the answer's deadline (`None`: the transport gave no clock).
    pub(crate) clock: Option<fn() -> u64>,
}

impl<'a> Ctx<'a> {
    /// A context for a call outside any session (kernel code, tests).
    pub fn detached(outgoing: &'a mut Vec<String>) -> Self {
        Ctx {
            progress_token: None,
            outgoing,
            cancel_check: None,
            cancelled: false,
            sink: None,
            remote: false,
            asker: None,
            clock: None,
        }
    }

    /// Whether the call came from a remote (network) session, not the local console: tools
    /// that guard secrets (the settings file) refuse such callers.
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// Installs the hook a long-running handler's [`Ctx::is_cancelled`] polls (the transport
    /// looks for a `notifications/cancelled` for this request).
    pub fn with_cancel_check(mut self, check: &'a mut dyn FnMut() -> bool) -> Self {
        self.cancel_check = Some(check);
        self
    }

    /// Reports progress if the caller asked for it (`_meta.progressToken`).
    pub fn progress(&mut self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = &self.progress_token else { return };
        let mut params = Map::new();
        params.insert("progressToken".into(), token.clone());
        params.insert("progress".into(), Value::from(progress));
        if let Some(total) = total {
            params.insert("total".into(), Value::from(total));
        }
        if let Some(message) = message {
            params.insert("message".into(), Value::from(message));
        }
        let line = notification("notifications/progress", Value::Object(params));
        match self.sink.as_mut() {
            Some(sink) => sink(&line),
            None => self.outgoing.push(line),
        }
    }

    /// Asks the client's user `question` (MCP elicitation, yes/no) and waits for the answer,
    /// serving the transport meanwhile. [`Confirmation::Unavailable`] when this client cannot
    /// be asked: it did not declare the capability, or the transport cannot reach it in the
    /// middle of this call. See [`crate::confirm`].
    pub fn confirm(&mut self, question: &str) -> Confirmation {
        let Some(mailbox) = self.asker.clone() else { return Confirmation::Unavailable };
        if self.sink.is_none() || self.cancel_check.is_none() {
            return Confirmation::Unavailable;
        }
        let id = mailbox.lock().next_id();
        if let Some(sink) = self.sink.as_mut() {
            sink(&confirm::request(&id, question));
        }
        let started = self.clock.map(|clock| clock());
        let mut polls: u64 = 0;
        loop {
            if self.is_cancelled() {
                return Confirmation::Declined("the client cancelled the request".into());
            }
            if let Some(outcome) = mailbox.lock().take(&id) {
                return confirm::interpret(outcome);
            }
            polls += 1;
            let expired = match (self.clock, started) {
                (Some(clock), Some(started)) => clock().saturating_sub(started) > confirm::TIMEOUT_US,
                _ => polls > 10_000_000,
            };
            if expired {
                return Confirmation::Declined("no answer from the user in time".into());
            }
        }
    }

    /// Whether the client cancelled this request. Long-running handlers call it between
    /// steps and return early when it is true.
    pub fn is_cancelled(&mut self) -> bool {
        if !self.cancelled {
            if let Some(check) = self.cancel_check.as_mut() {
                self.cancelled = check();
            }
        }
        self.cancelled
    }
}

/// A tool handler: gets validated arguments.
pub type Handler = Box<dyn Fn(&mut Ctx<'_>, &Map<String, Value>) -> Result<ToolOutput, ToolError> + Send + Sync>;

/// A tool declaration.
pub struct Tool {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) input_schema: Value,
    pub(crate) output_schema: Option<Value>,
    pub(crate) annotations: Annotations,
    pub(crate) handler: Handler,
    /// A schema given as text that did not parse (reported by `Server::add_tool`).
    pub(crate) schema_error: Option<String>,
    /// Hidden from remote (network) sessions: reachable only from the local console.
    pub(crate) local_only: bool,
    /// A destructive tool whose `tools/call`s the server confirms (see [`crate::confirm`]).
    pub(crate) server_confirms: bool,
}

/// The schema of a tool without arguments.
fn no_arguments() -> Value {
    let mut schema = Map::new();
    schema.insert("type".into(), Value::from("object"));
    schema.insert("properties".into(), Value::Object(Map::new()));
    schema.insert("additionalProperties".into(), Value::Bool(false));
    Value::Object(schema)
}

/// Whether `name` is a valid tool name: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Tool {
    /// Declares a tool with no arguments, read-only annotations and no output schema;
    /// refine with the builder methods.
    pub fn new(
        name: &str,
        handler: impl Fn(&mut Ctx<'_>, &Map<String, Value>) -> Result<ToolOutput, ToolError> + Send + Sync + 'static,
    ) -> Self {
        Tool {
            name: name.into(),
            title: String::new(),
            description: String::new(),
            input_schema: no_arguments(),
            output_schema: None,
            annotations: Annotations::READ_ONLY,
            handler: Box::new(handler),
            schema_error: None,
            local_only: false,
            server_confirms: false,
        }
    }

    /// JSON Schema of the arguments, as JSON text. Declaring schemas as text keeps
    /// registration cheap (one parser instead of code generated per schema) — it matters
    /// for boot time.
    pub fn input_schema_text(mut self, text: &str) -> Self {
        match serde_json::from_str(text) {
            Ok(schema) => self.input_schema = schema,
            Err(error) => self.schema_error = Some(alloc::format!("input schema: {error}")),
        }
        self
    }

    /// JSON Schema of `structuredContent`, as JSON text.
    pub fn output_schema_text(mut self, text: &str) -> Self {
        match serde_json::from_str(text) {
            Ok(schema) => self.output_schema = Some(schema),
            Err(error) => self.schema_error = Some(alloc::format!("output schema: {error}")),
        }
        self
    }

    /// One-line title.
    pub fn title(mut self, title: &str) -> Self {
        self.title = title.into();
        self
    }

    /// What it does, precisely.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }

    /// JSON Schema of the arguments (type object).
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.input_schema = schema;
        self
    }

    /// JSON Schema of `structuredContent`.
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }

    /// Behaviour hints.
    pub fn annotations(mut self, annotations: Annotations) -> Self {
        self.annotations = annotations;
        self
    }

    /// Hides the tool from remote sessions ([`Server::set_remote`](crate::Server::set_remote)):
    /// only the local console (serial port) can list or call it.
    pub fn local_only(mut self) -> Self {
        self.local_only = true;
        self
    }

    /// Whether only the local console may use the tool.
    pub fn is_local_only(&self) -> bool {
        self.local_only
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The title.
    pub fn title_text(&self) -> &str {
        &self.title
    }

    /// The description.
    pub fn description_text(&self) -> &str {
        &self.description
    }

    /// The input schema.
    pub fn schema(&self) -> &Value {
        &self.input_schema
    }

    /// The behaviour hints.
    pub fn hints(&self) -> Annotations {
        self.annotations
    }

    /// The `tools/list` entry.
    pub fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("name".into(), Value::from(self.name.clone()));
        entry.insert("title".into(), Value::from(self.title.clone()));
        entry.insert("description".into(), Value::from(self.description.clone()));
        entry.insert("inputSchema".into(), self.input_schema.clone());
        if let Some(schema) = &self.output_schema {
            entry.insert("outputSchema".into(), schema.clone());
        }
        entry.insert("annotations".into(), self.annotations.to_json(&self.title));
        Value::Object(entry)
    }

    /// Validates `arguments` and runs the handler.
    pub fn call(&self, ctx: &mut Ctx<'_>, arguments: &Value) -> Result<ToolOutput, CallError> {
        self.validate(arguments)?;
        self.run(ctx, arguments)
    }

    /// Checks `arguments` against the input schema.
    pub(crate) fn validate(&self, arguments: &Value) -> Result<(), CallError> {
        crate::schema::validate(&self.input_schema, arguments).map_err(CallError::InvalidArguments)
    }

    /// Runs the handler on arguments [`Tool::validate`] accepted.
    pub(crate) fn run(&self, ctx: &mut Ctx<'_>, arguments: &Value) -> Result<ToolOutput, CallError> {
        let empty = Map::new();
        let arguments = arguments.as_object().unwrap_or(&empty);
        (self.handler)(ctx, arguments).map_err(|error| CallError::Failed(error.message))
    }
}
