//! Tools: declared once, listed, validated and called.

use crate::{
    confirm::{self, Confirmation, Mailbox},
    jsonrpc::{notification, RpcError},
};
use alloc::{
    borrow::Cow,
    boxed::Box,
    string::{String, ToString},
    sync::Arc,
    vec::Vec,
};
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

/// A JSON Schema declared as text and parsed once, when first needed (a `tools/list`, a
/// call's validation, [`Tool::prepare`]): registering the kernel's tools then costs string
/// copies, not ~270 KB of parsed values and the parser's first run, before MCP answers at
/// boot. Debug builds (every test kernel, the host tests) parse at registration, so a broken
/// schema is a registration error there.
pub(crate) struct Schema {
    declared: Declared,
    parsed: spin::Once<Parsed>,
}

/// How a schema was declared.
enum Declared {
    Text(Cow<'static, str>),
    Value(Value),
}

/// A schema after parsing: the value, and the parser's message when the text was not JSON
/// (the value is then a schema nothing satisfies, whose description says why).
struct Parsed {
    value: Value,
    error: Option<String>,
}

impl Schema {
    fn text(text: Cow<'static, str>) -> Self {
        Schema { declared: Declared::Text(text), parsed: spin::Once::new() }
    }

    fn value(value: Value) -> Self {
        Schema { declared: Declared::Value(value), parsed: spin::Once::new() }
    }

    /// The schema, parsed on the first call; `amend` runs once on it (the confirm argument).
    fn parse(&self, amend: impl FnOnce(&mut Value)) -> &Parsed {
        self.parsed.call_once(|| {
            let (mut value, error) = match &self.declared {
                Declared::Text(text) => match serde_json::from_str(text) {
                    Ok(value) => (value, None),
                    Err(error) => {
                        let why = alloc::format!("{error}");
                        let description = alloc::format!("the declared schema is not JSON: {why}");
                        (serde_json::json!({"type": "null", "description": description}), Some(why))
                    }
                },
                Declared::Value(value) => (value.clone(), None),
            };
            amend(&mut value);
            Parsed { value, error }
        })
    }
}

/// An argument the schema declares `"type": "integer"`, decoded as the schema checks it:
/// any JSON number without a fraction (`3`, `3.0`, `3e0`) that fits an `i64`. Typed tools
/// use it so that their decoding accepts what their schema accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Integer(pub i64);

impl<'de> serde::Deserialize<'de> for Integer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        if let Some(value) = number.as_i64() {
            return Ok(Integer(value));
        }
        match number.as_f64() {
            Some(value) if value % 1.0 == 0.0 && (-9.2e18..9.2e18).contains(&value) => Ok(Integer(value as i64)),
            _ => Err(serde::de::Error::custom("not an integer that fits 64 bits")),
        }
    }
}

/// Decodes typed arguments from the JSON text of an object. Use it in
/// [`TypedTool::decode`] rather than `serde_json::from_str` alone: serde also builds a
/// struct from an array (`[17, true]`), which an object schema refuses.
pub fn decode_object<T: serde::de::DeserializeOwned>(arguments: &str) -> Option<T> {
    if !arguments.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(arguments).ok()
}

/// For an optional member of typed arguments: `#[serde(default, deserialize_with =
/// "mcp::tool::present")]` makes `null` an error, as a schema that says `"type": "integer"`
/// does (plain `Option` would take `null` for absent).
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// A typed tool's entry from JSON: the arguments' text in, `None` when they do not decode
/// into the tool's type (the server then lets the schema say why).
pub type TypedFn = fn(&mut Ctx<'_>, &str) -> Option<Result<ToolOutput, ToolError>>;

/// A tool whose arguments are a Rust type. Its declaration is [`Declaration::typed`]; the
/// server decodes JSON arguments with [`TypedTool::decode`] instead of walking the schema,
/// so `decode` must accept exactly what the declared input schema accepts (check it with a
/// property test against [`crate::schema::validate`], as the kernel's typed tools do).
pub trait TypedTool: 'static {
    /// The arguments.
    type Args;
    /// The declaration (name, schemas, annotations), made with [`Declaration::typed`].
    const DECLARATION: Declaration;
    /// Decodes the JSON text of the arguments object; `None` if the schema would refuse it.
    fn decode(arguments: &str) -> Option<Self::Args>;
    /// Runs the tool.
    fn run(ctx: &mut Ctx<'_>, arguments: Self::Args) -> Result<ToolOutput, ToolError>;
}

fn text_entry<T: TypedTool>(ctx: &mut Ctx<'_>, arguments: &str) -> Option<Result<ToolOutput, ToolError>> {
    T::decode(arguments).map(|arguments| T::run(ctx, arguments))
}

/// A typed tool called with values (the console, the intent pipeline): after the schema
/// accepted them.
fn values_entry<T: TypedTool>(ctx: &mut Ctx<'_>, arguments: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let text = serde_json::to_string(arguments).unwrap_or_default();
    match T::decode(&text) {
        Some(arguments) => T::run(ctx, arguments),
        None => Err(ToolError::from("the arguments do not fit the tool's argument type")),
    }
}

/// A tool's handler as a plain function (what a [`Declaration`] holds).
pub type HandlerFn = fn(&mut Ctx<'_>, &Map<String, Value>) -> Result<ToolOutput, ToolError>;

/// A tool declared as constant data: `const { Declaration::new(..).title(..) ... }` builds
/// it at compile time and [`crate::Server::add_declared`] registers it by reference. The
/// kernel declares its tools this way because registering them then runs one short loop
/// instead of a builder chain per tool: in QEMU, where every instruction's first run is
/// translated, that was most of the time from kernel entry to MCP ready (18 ms of 20).
#[derive(Clone, Copy)]
pub struct Declaration {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    input: Option<&'static str>,
    output: Option<&'static str>,
    annotations: Annotations,
    handler: HandlerFn,
    typed: Option<TypedFn>,
    local_only: bool,
    confirms_itself: bool,
}

impl Declaration {
    /// A read-only tool without arguments or output schema; refine with the methods below
    /// (the same names as [`Tool`]'s builder).
    pub const fn new(name: &'static str, handler: HandlerFn) -> Self {
        Declaration {
            name,
            title: "",
            description: "",
            input: None,
            output: None,
            annotations: Annotations::READ_ONLY,
            handler,
            typed: None,
            local_only: false,
            confirms_itself: false,
        }
    }

    /// A tool whose arguments are a Rust type ([`TypedTool`]): JSON arguments are decoded
    /// straight into it, with no schema walk, and kernel code calls it with
    /// [`crate::Server::call_typed`], with no JSON at all. Declare its input schema too
    /// (it is what clients see, and it explains arguments the type refuses).
    pub const fn typed<T: TypedTool>(name: &'static str) -> Self {
        let mut declaration = Self::new(name, values_entry::<T>);
        declaration.typed = Some(text_entry::<T>);
        declaration
    }

    /// Behaviour hints, for [`crate::Server::call_typed`].
    pub const fn hints(&self) -> Annotations {
        self.annotations
    }

    /// Whether only the local console may use it.
    pub const fn is_local_only(&self) -> bool {
        self.local_only
    }

    /// One-line title.
    pub const fn title(mut self, title: &'static str) -> Self {
        self.title = title;
        self
    }

    /// What it does, precisely.
    pub const fn description(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    /// JSON Schema of the arguments, as text (parsed on first use).
    pub const fn input_schema_text(mut self, text: &'static str) -> Self {
        self.input = Some(text);
        self
    }

    /// JSON Schema of `structuredContent`, as text (parsed on first use).
    pub const fn output_schema_text(mut self, text: &'static str) -> Self {
        self.output = Some(text);
        self
    }

    /// Behaviour hints.
    pub const fn annotations(mut self, annotations: Annotations) -> Self {
        self.annotations = annotations;
        self
    }

    /// Only the local console may use it ([`Tool::local_only`]).
    pub const fn local_only(mut self) -> Self {
        self.local_only = true;
        self
    }

    /// Asks its caller itself ([`Tool::confirms_itself`]).
    pub const fn confirms_itself(mut self) -> Self {
        self.confirms_itself = true;
        self
    }

    /// The tool's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl From<&'static Declaration> for Tool {
    fn from(d: &'static Declaration) -> Tool {
        let handler = d.handler;
        Tool {
            name: Cow::Borrowed(d.name),
            title: Cow::Borrowed(d.title),
            description: Cow::Borrowed(d.description),
            input_schema: match d.input {
                Some(text) => Schema::text(Cow::Borrowed(text)),
                None => Schema::value(no_arguments()),
            },
            output_schema: d.output.map(|text| Schema::text(Cow::Borrowed(text))),
            annotations: d.annotations,
            handler: Box::new(handler),
            typed: d.typed,
            listing: spin::Once::new(),
            local_only: d.local_only,
            confirms_itself: d.confirms_itself,
            examples: Vec::new(),
        }
    }
}

/// A tool declaration.
pub struct Tool {
    pub(crate) name: Cow<'static, str>,
    pub(crate) title: Cow<'static, str>,
    pub(crate) description: Cow<'static, str>,
    pub(crate) input_schema: Schema,
    pub(crate) output_schema: Option<Schema>,
    pub(crate) annotations: Annotations,
    pub(crate) handler: Handler,
    /// A typed tool's entry from JSON text (see [`Declaration::typed`]).
    pub(crate) typed: Option<TypedFn>,
    /// The `tools/list` entry, serialized once.
    listing: spin::Once<String>,
    /// Hidden from remote (network) sessions: reachable only from the local console.
    pub(crate) local_only: bool,
    /// Asks its caller itself (through [`Ctx::confirm`]) instead of the server.
    pub(crate) confirms_itself: bool,
    /// Plain-language phrasings that mean "call this tool" (an installed tool's manifest
    /// carries them; the kernel's intent pipeline reads them). Not part of `tools/list`.
    pub(crate) examples: Vec<String>,
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
            name: Cow::Owned(name.into()),
            title: Cow::Borrowed(""),
            description: Cow::Borrowed(""),
            input_schema: Schema::value(no_arguments()),
            output_schema: None,
            annotations: Annotations::READ_ONLY,
            handler: Box::new(handler),
            typed: None,
            listing: spin::Once::new(),
            local_only: false,
            confirms_itself: false,
            examples: Vec::new(),
        }
    }

    /// Plain-language phrasings that mean "call this tool" (kept for the kernel's intent
    /// pipeline; clients do not see them).
    pub fn examples(mut self, examples: Vec<String>) -> Self {
        self.examples = examples;
        self
    }

    /// The example phrasings.
    pub fn example_phrasings(&self) -> &[String] {
        &self.examples
    }

    /// JSON Schema of the arguments, as JSON text, parsed once when first needed (see [`Schema`]):
    /// declaring schemas as text keeps registration cheap, which matters for boot time.
    pub fn input_schema_text(mut self, text: &str) -> Self {
        self.input_schema = Schema::text(Cow::Owned(text.into()));
        self
    }

    /// JSON Schema of `structuredContent`, as JSON text, parsed on first use.
    pub fn output_schema_text(mut self, text: &str) -> Self {
        self.output_schema = Some(Schema::text(Cow::Owned(text.into())));
        self
    }

    /// A destructive tool that asks its caller itself ([`Ctx::confirm`]) and declares its
    /// own `confirm` argument, instead of the server confirming every call (see
    /// [`crate::confirm`]).
    pub fn confirms_itself(mut self) -> Self {
        self.confirms_itself = true;
        self
    }

    /// Whether the server confirms this tool's `tools/call`s.
    pub(crate) fn server_confirms(&self) -> bool {
        self.annotations.destructive && !self.confirms_itself
    }

    /// Why a schema declared as text does not parse, if one does not (parsing it, once).
    pub(crate) fn schema_error(&self) -> Option<String> {
        let input = self.input().error.as_ref().map(|e| alloc::format!("input schema: {e}"));
        let output = self.output().and_then(|o| o.error.as_ref()).map(|e| alloc::format!("output schema: {e}"));
        input.or(output)
    }

    /// The parsed input schema, with the `confirm` argument when the server confirms the tool.
    fn input(&self) -> &Parsed {
        let confirms = self.server_confirms();
        self.input_schema.parse(|schema| {
            if confirms {
                crate::confirm::declare(schema);
            }
        })
    }

    /// The parsed output schema, if the tool declares one.
    fn output(&self) -> Option<&Parsed> {
        self.output_schema.as_ref().map(|s| s.parse(|_| {}))
    }

    /// One-line title.
    pub fn title(mut self, title: &str) -> Self {
        self.title = Cow::Owned(title.into());
        self
    }

    /// What it does, precisely.
    pub fn description(mut self, description: &str) -> Self {
        self.description = Cow::Owned(description.into());
        self
    }

    /// JSON Schema of the arguments (type object).
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.input_schema = Schema::value(schema);
        self
    }

    /// JSON Schema of `structuredContent`.
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(Schema::value(schema));
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

    /// The input schema (with the `confirm` argument when the server confirms the tool).
    pub fn schema(&self) -> &Value {
        &self.input().value
    }

    /// Parses the schemas now (they are otherwise parsed on first use). The kernel calls it
    /// for every tool from a background task right after boot, so that no request pays for
    /// it — in particular none served deep inside another request's wait, where the
    /// parser's recursion would add to an already deep stack.
    pub fn prepare(&self) {
        let _ = self.input();
        let _ = self.output();
    }

    /// The output schema, if the tool declares one.
    pub fn output_schema_value(&self) -> Option<&Value> {
        self.output().map(|o| &o.value)
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
        entry.insert("inputSchema".into(), self.schema().clone());
        if let Some(schema) = self.output_schema_value() {
            entry.insert("outputSchema".into(), schema.clone());
        }
        entry.insert("annotations".into(), self.annotations.to_json(&self.title));
        Value::Object(entry)
    }

    /// The `tools/list` entry as JSON text, serialized on first use and kept: every later
    /// `tools/list` copies it.
    pub fn listing(&self) -> &str {
        self.listing.call_once(|| self.to_json().to_string())
    }

    /// Whether the tool has typed arguments ([`Declaration::typed`]).
    pub fn is_typed(&self) -> bool {
        self.typed.is_some()
    }

    /// Validates `arguments` and runs the handler.
    pub fn call(&self, ctx: &mut Ctx<'_>, arguments: &Value) -> Result<ToolOutput, CallError> {
        match self.validate(arguments)? {
            Some(normalized) => self.run(ctx, &normalized),
            None => self.run(ctx, arguments),
        }
    }

    /// Checks `arguments` against the input schema; `Some` is a copy with the integers the
    /// schema accepted as `2.0` written as integers (see [`crate::schema::validate_normalized`]).
    pub(crate) fn validate(&self, arguments: &Value) -> Result<Option<Value>, CallError> {
        crate::schema::validate_normalized(self.schema(), arguments).map_err(CallError::InvalidArguments)
    }

    /// Runs the handler on arguments [`Tool::validate`] accepted.
    pub(crate) fn run(&self, ctx: &mut Ctx<'_>, arguments: &Value) -> Result<ToolOutput, CallError> {
        let empty = Map::new();
        let arguments = arguments.as_object().unwrap_or(&empty);
        (self.handler)(ctx, arguments).map_err(|error| CallError::Failed(error.message))
    }
}
