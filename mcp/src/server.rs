//! The MCP server: a shared registry, per-session state, method dispatch, and the outgoing
//! notification queue.
//!
//! A [`Registry`] (tools, resources, prompts, server info) is built once and shared behind an
//! `Arc`; a [`Server`] is one client session over it (negotiated protocol version, log level,
//! queued notifications, limits). The serial console owns one `Server`; the HTTP transport
//! makes one per request or client with [`Server::new_session`], all over the same registry.
//! A session marked remote ([`Server::set_remote`]) does not see tools declared
//! [`Tool::local_only`](crate::Tool::local_only) (secrets such as the network access token).

use crate::{
    confirm::{self, Confirmation, Mailbox},
    frame::{self, Limits},
    jsonrpc::{self, ErrorCode, Id, Incoming, RawId, RpcError},
    resource::{Prompt, Resource},
    tool::{valid_name, CallError, Ctx, Tool, ToolOutput},
    LATEST_PROTOCOL_VERSION, PROTOCOL_VERSIONS,
};
use alloc::{
    format,
    string::{String, ToString},
    sync::Arc,
    vec::Vec,
};
use core::{
    fmt::Write,
    sync::atomic::{AtomicU32, Ordering},
};
use serde_json::{json, Map, Value};

/// How the server introduces itself in `initialize`.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    /// Programmatic name.
    pub name: String,
    /// Display name.
    pub title: String,
    /// Version.
    pub version: String,
    /// Guidance for the client's model.
    pub instructions: String,
}

/// Log severities of `logging/setLevel` and `notifications/message` (RFC 5424 order).
pub const LOG_LEVELS: [&str; 8] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

fn level_index(level: &str) -> Option<usize> {
    LOG_LEVELS.iter().position(|l| *l == level)
}

/// State of one client session (from `initialize` to the next `initialize`).
#[derive(Clone, Debug)]
struct Session {
    protocol_version: String,
    client: String,
    initialized: bool,
    /// The client declared form elicitation: destructive calls ask its user.
    can_be_asked: bool,
    /// The registry's [`Registry::generation`] this session's client last heard of: when it
    /// moves, the session sends `notifications/tools/list_changed`.
    tools_seen: u32,
}

/// The tools, resources and prompts of a server: built once, then shared by every session.
pub struct Registry {
    info: ServerInfo,
    tools: Vec<Tool>,
    resources: Vec<Resource>,
    prompts: Vec<Prompt>,
    /// Microseconds since boot, for deadlines (a question's answer); set by the kernel.
    clock: Option<fn() -> u64>,
    /// What `initialize` answers after the protocol version (capabilities, server info,
    /// instructions), serialized on first use.
    introduction: spin::Once<String>,
    /// Tools added and removed while the server runs (installed WebAssembly tools), after
    /// the built-in ones: the only part of a shared registry that changes.
    installed: spin::RwLock<Vec<Arc<Tool>>>,
    /// Counts changes to `installed`; sessions compare it with what their client last saw.
    generation: AtomicU32,
}

/// A tool found by name: built in (borrowed from the registry) or installed at run time
/// (shared, so that removing it while a call runs does not pull it from under the call).
pub enum Found<'a> {
    /// One of the tools registered before the registry was shared.
    BuiltIn(&'a Tool),
    /// A tool installed while the server runs.
    Installed(Arc<Tool>),
}

impl core::ops::Deref for Found<'_> {
    type Target = Tool;
    fn deref(&self) -> &Tool {
        match self {
            Found::BuiltIn(tool) => tool,
            Found::Installed(tool) => tool,
        }
    }
}

/// What a session's credentials allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Read-only tools, resources and prompts (a network client with the read token).
    Read,
    /// Everything the transport offers (the console; a network client with the control
    /// token).
    Control,
}

impl Role {
    /// The scope name (OAuth-style, in `WWW-Authenticate` and error messages).
    pub fn scope(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Control => "control",
        }
    }
}

/// One MCP session over a shared [`Registry`].
pub struct Server {
    registry: Arc<Registry>,
    limits: Limits,
    page_size: usize,
    remote: bool,
    role: Role,
    session: Option<Session>,
    min_log_level: usize,
    outgoing: Vec<String>,
    cancelled: Vec<Id>,
    /// Answers to this session's questions, shared with its forks (which receive them
    /// while this handle waits inside a call).
    mailbox: Arc<spin::Mutex<Mailbox>>,
    /// Whether the last message's `tools/call` failed (see [`Server::last_call_failed`]).
    last_call_failed: Option<bool>,
}

/// Why a registration was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The name does not match `^[a-zA-Z0-9_-]{1,64}$`.
    InvalidName(String),
    /// A tool, resource or prompt of that name or URI exists.
    Duplicate(String),
    /// A schema given as text is not valid JSON.
    InvalidSchema(String, String),
    /// The registry is already shared by several sessions and can no longer change.
    Frozen(String),
    /// No installed tool has that name (built-in tools cannot be removed).
    NotInstalled(String),
}

impl core::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidName(name) => write!(f, "invalid tool name '{name}'"),
            Self::Duplicate(name) => write!(f, "'{name}' is already registered"),
            Self::InvalidSchema(name, why) => write!(f, "tool '{name}': {why}"),
            Self::Frozen(name) => write!(f, "cannot add '{name}': the registry is shared by running sessions"),
            Self::NotInstalled(name) => write!(f, "no installed tool is named '{name}'"),
        }
    }
}

fn encode_cursor(offset: usize) -> String {
    format!("page:{offset}")
}

fn decode_cursor(params: &Map<String, Value>) -> Result<usize, RpcError> {
    match params.get("cursor") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(cursor)) => cursor
            .strip_prefix("page:")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| RpcError::invalid_params(format!("invalid cursor '{cursor}'"))),
        Some(_) => Err(RpcError::invalid_params("'cursor' must be a string")),
    }
}

impl Registry {
    /// An empty registry.
    pub fn new(info: ServerInfo) -> Self {
        Registry {
            info,
            tools: Vec::new(),
            resources: Vec::new(),
            prompts: Vec::new(),
            clock: None,
            introduction: spin::Once::new(),
            installed: spin::RwLock::new(Vec::new()),
            generation: AtomicU32::new(0),
        }
    }

    /// The built-in tools, in registration order (including local-only ones); installed
    /// tools are [`Registry::installed`].
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// A tool by name, built in or installed (including local-only ones).
    pub fn tool(&self, name: &str) -> Option<Found<'_>> {
        if let Some(tool) = self.tools.iter().find(|t| t.name == name) {
            return Some(Found::BuiltIn(tool));
        }
        self.installed.read().iter().find(|t| t.name == name).map(|t| Found::Installed(Arc::clone(t)))
    }

    /// The tools installed at run time, in installation order.
    pub fn installed(&self) -> Vec<Arc<Tool>> {
        self.installed.read().clone()
    }

    /// Changes whenever a tool is installed or removed.
    pub fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }

    /// Adds a tool to a shared registry (a tool installed at run time): its name must not
    /// be a built-in tool's; `replace` allows replacing an installed tool of the same name.
    /// Its schemas are parsed now, and a broken one is refused. Every session's client
    /// then hears `notifications/tools/list_changed`.
    pub fn install(&self, tool: Tool, replace: bool) -> Result<(), RegisterError> {
        self.check_name(&tool.name)?;
        if let Some(why) = tool.schema_error() {
            return Err(RegisterError::InvalidSchema(tool.name.to_string(), why));
        }
        let mut installed = self.installed.write();
        match installed.iter().position(|t| t.name == tool.name) {
            Some(_) if !replace => return Err(RegisterError::Duplicate(tool.name.to_string())),
            Some(at) => installed[at] = Arc::new(tool),
            None => installed.push(Arc::new(tool)),
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// A new tool's name must be valid and not a built-in tool's.
    fn check_name(&self, name: &str) -> Result<(), RegisterError> {
        if !valid_name(name) {
            return Err(RegisterError::InvalidName(name.into()));
        }
        if self.tools.iter().any(|t| t.name == name) {
            return Err(RegisterError::Duplicate(name.into()));
        }
        Ok(())
    }

    /// Removes an installed tool (a call already running finishes).
    pub fn uninstall(&self, name: &str) -> Result<(), RegisterError> {
        let mut installed = self.installed.write();
        let at =
            installed.iter().position(|t| t.name == name).ok_or_else(|| RegisterError::NotInstalled(name.into()))?;
        installed.remove(at);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Adds a tool.
    pub fn add_tool(&mut self, tool: Tool) -> Result<(), RegisterError> {
        self.check_name(&tool.name)?;
        // Release kernels parse schemas when first needed (after boot); debug builds — every
        // test kernel and the host tests — parse them here, once, and refuse a broken one.
        if cfg!(debug_assertions) {
            if let Some(why) = tool.schema_error() {
                return Err(RegisterError::InvalidSchema(tool.name.to_string(), why));
            }
        }
        self.tools.push(tool);
        Ok(())
    }

    /// Adds a resource or resource template.
    pub fn add_resource(&mut self, resource: Resource) -> Result<(), RegisterError> {
        if self.resources.iter().any(|r| r.uri == resource.uri) {
            return Err(RegisterError::Duplicate(resource.uri));
        }
        self.resources.push(resource);
        Ok(())
    }

    /// Adds a prompt.
    pub fn add_prompt(&mut self, prompt: Prompt) -> Result<(), RegisterError> {
        if self.prompts.iter().any(|p| p.name == prompt.name) {
            return Err(RegisterError::Duplicate(prompt.name));
        }
        self.prompts.push(prompt);
        Ok(())
    }

    /// How the server introduces itself.
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }
}

impl Server {
    /// A session over a new, empty registry (add tools before sharing it).
    pub fn new(info: ServerInfo) -> Self {
        Self::over(Arc::new(Registry::new(info)))
    }

    /// A fresh session over an existing registry.
    pub fn over(registry: Arc<Registry>) -> Self {
        Server {
            registry,
            limits: Limits::default(),
            page_size: 50,
            remote: false,
            role: Role::Control,
            session: None,
            min_log_level: 1,
            outgoing: Vec::new(),
            cancelled: Vec::new(),
            mailbox: Arc::new(spin::Mutex::new(Mailbox::default())),
            last_call_failed: None,
        }
    }

    /// For the last message handled: `Some(failed)` if it was a `tools/call` (failed: the
    /// tool reported an error, or the call was answered with a JSON-RPC error), `None`
    /// otherwise. Transports record it (the kernel's audit trail) without parsing the answer.
    pub fn last_call_failed(&self) -> Option<bool> {
        self.last_call_failed
    }

    /// A fresh session over the same registry (same tools; no negotiated state, default
    /// limits, local).
    pub fn new_session(&self) -> Server {
        Self::over(Arc::clone(&self.registry))
    }

    /// A second handle on this session (same registry, negotiated version, client, limits,
    /// log level; its own notification queue): serves requests that arrive on the same
    /// connection while this one is busy with a long tool call.
    pub fn fork(&self) -> Server {
        let mut fork = self.new_session();
        fork.limits = self.limits;
        fork.page_size = self.page_size;
        fork.remote = self.remote;
        fork.role = self.role;
        fork.session = self.session.clone();
        fork.min_log_level = self.min_log_level;
        fork.mailbox = Arc::clone(&self.mailbox);
        fork
    }

    /// The shared registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Marks this session as coming from a network client: tools declared
    /// [`Tool::local_only`](crate::Tool::local_only) are neither listed nor callable.
    pub fn set_remote(&mut self, remote: bool) {
        self.remote = remote;
    }

    /// Whether this session is a network client's.
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// Sets what this session may do (the transport knows the credentials).
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
    }

    /// What this session may do.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Why this session may not call tool `name`, if it may not: a tool that is not
    /// read-only needs the control role.
    pub fn forbidden(&self, name: &str) -> Option<String> {
        self.forbids(&*self.tool(name)?)
    }

    fn forbids(&self, tool: &Tool) -> Option<String> {
        (self.role == Role::Read && !tool.hints().read_only).then(|| {
            format!(
                "{} changes the machine and needs the control role (scope \"control\"); this session's token has \
                 the read role",
                tool.name
            )
        })
    }

    /// Gives the server a clock (microseconds) for deadlines, such as how long a user has to
    /// answer a confirmation (only while the registry is not shared).
    pub fn set_clock(&mut self, clock: fn() -> u64) -> Result<(), RegisterError> {
        self.registry_mut("clock")?.clock = Some(clock);
        Ok(())
    }

    /// Changes the message limits (the transport knows its size limit).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The message limits of this session.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes how many entries a list page holds.
    pub fn set_page_size(&mut self, size: usize) {
        self.page_size = size.max(1);
    }

    fn registry_mut(&mut self, name: &str) -> Result<&mut Registry, RegisterError> {
        Arc::get_mut(&mut self.registry).ok_or_else(|| RegisterError::Frozen(name.into()))
    }

    /// Adds a tool (only while no other session shares the registry).
    pub fn add_tool(&mut self, tool: Tool) -> Result<(), RegisterError> {
        let name = tool.name.clone();
        self.registry_mut(&name)?.add_tool(tool)
    }

    /// Adds tools declared as constant data (see [`crate::tool::Declaration`]).
    pub fn add_declared(&mut self, declaration: &'static crate::tool::Declaration) -> Result<(), RegisterError> {
        self.add_tool(Tool::from(declaration))
    }

    /// Adds a resource or resource template (only while the registry is not shared).
    pub fn add_resource(&mut self, resource: Resource) -> Result<(), RegisterError> {
        let uri = resource.uri.clone();
        self.registry_mut(&uri)?.add_resource(resource)
    }

    /// Adds a prompt (only while the registry is not shared).
    pub fn add_prompt(&mut self, prompt: Prompt) -> Result<(), RegisterError> {
        let name = prompt.name.clone();
        self.registry_mut(&name)?.add_prompt(prompt)
    }

    /// All tools, in registration order (including local-only ones: for the console).
    pub fn tools(&self) -> &[Tool] {
        &self.registry.tools
    }

    /// A tool this session may see, by name (built in or installed).
    pub fn tool(&self, name: &str) -> Option<Found<'_>> {
        self.registry.tool(name).filter(|t| self.visible(t))
    }

    fn visible(&self, tool: &Tool) -> bool {
        !(self.remote && tool.local_only)
    }

    /// All resources and templates.
    pub fn resources(&self) -> &[Resource] {
        &self.registry.resources
    }

    /// Whether a client has completed `initialize` on this server.
    pub fn session_active(&self) -> bool {
        self.session.is_some()
    }

    /// The negotiated protocol revision, if a session is active.
    pub fn protocol_version(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.protocol_version.as_str())
    }

    /// The typed in-kernel call path: validates `arguments` against the schema and runs the
    /// handler, without JSON-RPC framing.
    pub fn call_tool(&self, name: &str, arguments: &Value) -> Result<ToolOutput, CallError> {
        let mut outgoing = Vec::new();
        let mut ctx = Ctx::detached(&mut outgoing);
        self.call_tool_with(&mut ctx, name, arguments)
    }

    /// [`Server::call_tool`] with a caller-supplied context.
    pub fn call_tool_with(&self, ctx: &mut Ctx<'_>, name: &str, arguments: &Value) -> Result<ToolOutput, CallError> {
        let tool = self.tool(name).ok_or_else(|| CallError::UnknownTool(name.into()))?;
        if let Some(why) = self.forbids(&tool) {
            return Err(CallError::Forbidden(why));
        }
        tool.call(ctx, arguments)
    }

    /// The typed call path for kernel code: runs a [`TypedTool`](crate::tool::TypedTool)
    /// with its arguments as values of its own type — no JSON, no schema walk, no lookup by
    /// name; only this session's role and reach are checked (as for any call). Kernel code
    /// is trusted, so a destructive tool is not confirmed here.
    #[inline]
    pub fn call_typed<T: crate::tool::TypedTool>(
        &self,
        ctx: &mut Ctx<'_>,
        arguments: T::Args,
    ) -> Result<ToolOutput, CallError> {
        let declaration = &T::DECLARATION;
        if (self.remote && declaration.is_local_only()) || (self.role == Role::Read && !declaration.hints().read_only) {
            return Err(self.refuse_typed(declaration));
        }
        match T::run(ctx, arguments) {
            Ok(output) => Ok(output),
            Err(error) => Err(CallError::Failed(error.message().into())),
        }
    }

    /// Why [`Server::call_typed`] refused (kept out of the call's path).
    #[cold]
    #[inline(never)]
    fn refuse_typed(&self, declaration: &crate::tool::Declaration) -> CallError {
        if self.remote && declaration.is_local_only() {
            return CallError::UnknownTool(declaration.name().into());
        }
        CallError::Forbidden(format!(
            "{} changes the machine and needs the control role (scope \"control\")",
            declaration.name()
        ))
    }

    /// Reads a resource by URI (fixed resources first, then templates).
    pub fn read_resource(&self, uri: &str) -> Result<Value, RpcError> {
        let resources = &self.registry.resources;
        let found = resources
            .iter()
            .filter(|r| !r.template)
            .chain(resources.iter().filter(|r| r.template))
            .find_map(|r| r.matches(uri).map(|vars| (r, vars)));
        let Some((resource, variables)) = found else {
            let mut error = RpcError::new(ErrorCode::ResourceNotFound, format!("Resource not found: {uri}"));
            error.data = Some(json!({"uri": uri}));
            return Err(error);
        };
        if resource.control_only && self.role == Role::Read {
            return Err(RpcError::new(
                ErrorCode::InvalidParams,
                format!("{uri} needs the control role (scope \"control\"); this session's token has the read role"),
            ));
        }
        resource.read(uri, &variables).map_err(|why| RpcError::new(ErrorCode::InternalError, why))
    }

    /// Queues a `notifications/message` log entry if a session is active and `level` is at
    /// or above the client's chosen level.
    pub fn log(&mut self, level: &str, logger: &str, message: &str) {
        let Some(index) = level_index(level) else { return };
        if self.session.is_none() || index < self.min_log_level {
            return;
        }
        self.outgoing.push(jsonrpc::notification(
            "notifications/message",
            json!({"level": level, "logger": logger, "data": message}),
        ));
    }

    /// Takes the queued outgoing notifications (progress, log messages), oldest first.
    pub fn drain_outgoing(&mut self) -> Vec<String> {
        core::mem::take(&mut self.outgoing)
    }

    /// Marks a request as cancelled (the transport saw `notifications/cancelled` while the
    /// request was running).
    pub fn cancel(&mut self, id: Id) {
        if !self.cancelled.contains(&id) {
            self.cancelled.push(id);
        }
    }

    /// Handles one raw message; returns the response line (without newline), or `None` for
    /// notifications and client responses.
    pub fn handle_message(&mut self, bytes: &[u8]) -> Option<String> {
        self.handle_message_with(bytes, None)
    }

    /// [`Server::handle_message`] with a hook a running tool polls for cancellation.
    pub fn handle_message_with(
        &mut self,
        bytes: &[u8],
        cancel_check: Option<&mut dyn FnMut() -> bool>,
    ) -> Option<String> {
        self.handle_message_streaming(bytes, cancel_check, None)
    }

    /// [`Server::handle_message_with`] for a streaming transport: notifications a running
    /// tool produces (progress) go to `sink` at once instead of queueing until the answer.
    pub fn handle_message_streaming(
        &mut self,
        bytes: &[u8],
        cancel_check: Option<&mut dyn FnMut() -> bool>,
        sink: Option<&mut dyn FnMut(&str)>,
    ) -> Option<String> {
        let mut out = String::new();
        self.handle_message_into(bytes, cancel_check, sink, &mut out).then_some(out)
    }

    /// The work of [`Server::handle_message_streaming`], answering into `out` (cleared
    /// first) and returning whether there is an answer. A transport that keeps one buffer
    /// for its answers gets a ping, a malformed message or a small tool call answered
    /// without the server allocating: the message is parsed in place (method and id borrowed
    /// from it, `params` left as text until a method reads it) and the answer is written
    /// straight into the buffer.
    pub fn handle_message_into(
        &mut self,
        bytes: &[u8],
        cancel_check: Option<&mut dyn FnMut() -> bool>,
        sink: Option<&mut dyn FnMut(&str)>,
        out: &mut String,
    ) -> bool {
        out.clear();
        self.last_call_failed = None;
        let text = match frame::check(bytes, &self.limits) {
            Ok(text) => text,
            Err(error) => {
                jsonrpc::write_error(out, None, &error);
                return true;
            }
        };
        let answered = if text.trim_start().starts_with('[') {
            self.batch(text, out)
        } else {
            self.one(text, cancel_check, sink, out)
        };
        self.note_tool_changes();
        answered
    }

    /// Queues `notifications/tools/list_changed` when tools were installed or removed since
    /// this session's client last heard (any session may have installed them). The kernel's
    /// transports send queued notifications after each answer; [`Server::pending_changes`]
    /// lets an idle transport ask between messages.
    pub fn note_tool_changes(&mut self) {
        let now = self.registry.generation();
        let Some(session) = self.session.as_mut().filter(|s| s.initialized) else { return };
        if session.tools_seen != now {
            session.tools_seen = now;
            self.outgoing.push(jsonrpc::notification("notifications/tools/list_changed", json!({})));
        }
    }

    /// Whether this session's client has not yet heard of the latest tool change.
    pub fn pending_changes(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.initialized && s.tools_seen != self.registry.generation())
    }

    /// A JSON-RPC batch (an array of messages). Revisions 2025-03-26 and earlier allow
    /// batches: each member is handled in order and the answers go back as one array (none
    /// at all when every member was a notification or a response). 2025-06-18 removed them,
    /// so a session on a later revision, or before `initialize` (which may not be batched),
    /// gets one Invalid Request error.
    fn batch(&mut self, text: &str, out: &mut String) -> bool {
        let batches = self.protocol_version().is_some_and(|v| v <= "2025-03-26");
        if !batches {
            let error = RpcError::new(
                ErrorCode::InvalidRequest,
                match self.protocol_version() {
                    Some(version) => {
                        format!("JSON-RPC batches are not part of MCP {version}: send one message per line")
                    }
                    None => "JSON-RPC batches are not supported before initialize (send one message per line)".into(),
                },
            );
            jsonrpc::write_error(out, None, &error);
            return true;
        }
        if let Err(error) = frame::check_depth(text, &self.limits) {
            jsonrpc::write_error(out, None, &error);
            return true;
        }
        let members: Vec<&serde_json::value::RawValue> = match serde_json::from_str(text) {
            Ok(members) => members,
            Err(error) => {
                jsonrpc::write_error(
                    out,
                    None,
                    &RpcError::new(ErrorCode::ParseError, format!("invalid JSON: {error}")),
                );
                return true;
            }
        };
        if members.is_empty() {
            jsonrpc::write_error(out, None, &RpcError::new(ErrorCode::InvalidRequest, "an empty batch"));
            return true;
        }
        let mut answer = String::new();
        for member in members {
            let member = member.get();
            if !member.starts_with('{') {
                let error = RpcError::new(ErrorCode::InvalidRequest, "a batch member must be a JSON object");
                jsonrpc::write_error(&mut answer, None, &error);
            } else if member.contains(r#""initialize""#)
                && jsonrpc::parse(member).is_ok_and(|m| m.method() == Some("initialize"))
            {
                let id = match jsonrpc::parse(member) {
                    Ok(Incoming::Request { id, .. }) => Some(id),
                    _ => None,
                };
                let error = RpcError::new(ErrorCode::InvalidRequest, "initialize must not be part of a batch");
                jsonrpc::write_error(&mut answer, id, &error);
            } else if !self.one(member, None, None, &mut answer) {
                continue;
            }
            answer.push(',');
        }
        if answer.is_empty() {
            return false;
        }
        answer.pop();
        out.push('[');
        out.push_str(&answer);
        out.push(']');
        true
    }

    /// One message (an object's text); answers into `out` and returns whether it did.
    fn one(
        &mut self,
        text: &str,
        cancel_check: Option<&mut dyn FnMut() -> bool>,
        sink: Option<&mut dyn FnMut(&str)>,
        out: &mut String,
    ) -> bool {
        match jsonrpc::parse_within(text, self.limits.max_depth) {
            Err((id, error)) => {
                jsonrpc::write_error(out, id, &error);
                true
            }
            Ok(Incoming::Response { id, outcome }) => {
                let value = |text: &str| serde_json::from_str(text).unwrap_or(Value::Null);
                let outcome = match outcome {
                    Ok(result) => Ok(value(result)),
                    Err(error) => Err(error.map_or(Value::Null, value)),
                };
                self.mailbox.lock().deliver(id.to_value(), outcome);
                false
            }
            Ok(Incoming::Notification { method, .. }) => {
                self.notification(&method);
                false
            }
            Ok(Incoming::Request { id, method, params }) => {
                let start = out.len();
                self.last_call_failed = None;
                if let Err(error) = self.request(id, &method, params, cancel_check, sink, out) {
                    out.truncate(start);
                    jsonrpc::write_error(out, Some(id), &error);
                    if method == "tools/call" {
                        self.last_call_failed = Some(true);
                    }
                }
                if !self.cancelled.is_empty() {
                    let id = id.to_value();
                    self.cancelled.retain(|c| c != &id);
                }
                true
            }
        }
    }

    fn notification(&mut self, method: &str) {
        match method {
            "notifications/initialized" => {
                if let Some(session) = self.session.as_mut() {
                    session.initialized = true;
                }
            }
            // Only a request that is still running can be cancelled; the single-threaded
            // server has finished every earlier one, so a late cancel is ignored (the
            // transports watch for cancellations of the running request themselves).
            "notifications/cancelled" => {}
            _ => {} // Unknown notifications are ignored, as JSON-RPC requires.
        }
    }

    /// Answers a request into `out` (success), or returns the error to answer.
    fn request(
        &mut self,
        id: RawId<'_>,
        method: &str,
        params: Option<&str>,
        cancel_check: Option<&mut dyn FnMut() -> bool>,
        sink: Option<&mut dyn FnMut(&str)>,
        out: &mut String,
    ) -> Result<(), RpcError> {
        match method {
            "ping" => jsonrpc::write_response(out, id, "{}"),
            "tools/call" => self.tools_call(id, params, cancel_check, sink, out)?,
            "tools/list" => {
                let params = jsonrpc::params_map(params)?;
                let offset = decode_cursor(&params)?;
                let installed = self.registry.installed();
                let visible: Vec<&Tool> = self
                    .registry
                    .tools
                    .iter()
                    .chain(installed.iter().map(|t| &**t))
                    .filter(|t| self.visible(t))
                    .collect();
                if offset > visible.len() {
                    return Err(RpcError::invalid_params("cursor is past the end of the list"));
                }
                let end = (offset + self.page_size).min(visible.len());
                jsonrpc::write_response(out, id, "");
                out.pop(); // the response's closing brace, written again below
                out.push_str(r#"{"tools":["#);
                for (n, tool) in visible[offset..end].iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(tool.listing());
                }
                out.push(']');
                if end < visible.len() {
                    out.push_str(r#","nextCursor":"#);
                    jsonrpc::write_string(out, &encode_cursor(end));
                }
                out.push_str("}}");
            }
            "initialize" => self.initialize(id, &jsonrpc::params_map(params)?, out)?,
            _ => {
                let params = jsonrpc::params_map(params)?;
                let result = self.request_value(method, &params)?;
                jsonrpc::write_value_response(out, id, &result);
            }
        }
        Ok(())
    }

    /// The methods answered with a value built per request (rare ones: a session's
    /// handshake, resources, prompts, settings).
    fn request_value(&mut self, method: &str, params: &Map<String, Value>) -> Result<Value, RpcError> {
        match method {
            "resources/list" => {
                let entries = self.registry.resources.iter().filter(|r| !r.template).map(Resource::to_json).collect();
                self.list(params, "resources", entries)
            }
            "resources/templates/list" => {
                let entries = self.registry.resources.iter().filter(|r| r.template).map(Resource::to_json).collect();
                self.list(params, "resourceTemplates", entries)
            }
            "resources/read" => {
                let uri = params
                    .get("uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| RpcError::invalid_params("'uri' must be a string"))?;
                self.read_resource(uri)
            }
            "prompts/list" => self.list(params, "prompts", self.registry.prompts.iter().map(Prompt::to_json).collect()),
            "prompts/get" => {
                let name = params
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| RpcError::invalid_params("'name' must be a string"))?;
                let prompt = self
                    .registry
                    .prompts
                    .iter()
                    .find(|p| p.name == name)
                    .ok_or_else(|| RpcError::invalid_params(format!("Unknown prompt: {name}")))?;
                let empty = Map::new();
                let arguments = match params.get("arguments") {
                    None | Some(Value::Null) => &empty,
                    Some(Value::Object(arguments)) => arguments,
                    Some(_) => return Err(RpcError::invalid_params("'arguments' must be an object")),
                };
                prompt.get(arguments).map_err(RpcError::invalid_params)
            }
            "completion/complete" => {
                if !params.get("ref").is_some_and(Value::is_object)
                    || !params.get("argument").is_some_and(Value::is_object)
                {
                    return Err(RpcError::invalid_params("'ref' and 'argument' must be objects"));
                }
                // No argument of ours has an enumerable set of values yet.
                Ok(json!({"completion": {"values": [], "total": 0, "hasMore": false}}))
            }
            "logging/setLevel" => {
                let level = params.get("level").and_then(Value::as_str).unwrap_or("");
                let index = level_index(level).ok_or_else(|| {
                    RpcError::invalid_params(format!("'level' must be one of {}", LOG_LEVELS.join(", ")))
                })?;
                self.min_log_level = index;
                Ok(json!({}))
            }
            _ => Err(RpcError::new(ErrorCode::MethodNotFound, format!("Method not found: {method}"))),
        }
    }

    fn initialize(&mut self, id: RawId<'_>, params: &Map<String, Value>, out: &mut String) -> Result<(), RpcError> {
        let requested = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::invalid_params("'protocolVersion' must be a string"))?;
        let version = PROTOCOL_VERSIONS.iter().find(|v| **v == requested).copied().unwrap_or(LATEST_PROTOCOL_VERSION);
        let client = params
            .get("clientInfo")
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("unknown client")
            .chars()
            .take(128)
            .collect();
        // A repeated initialize starts a fresh session (a new client on a long-lived line).
        let can_be_asked = confirm::client_can_be_asked(params);
        let tools_seen = self.registry.generation();
        self.session = Some(Session {
            protocol_version: version.to_string(),
            client,
            initialized: false,
            can_be_asked,
            tools_seen,
        });
        self.min_log_level = 1;
        self.outgoing.clear();
        self.cancelled.clear();
        let info = &self.registry.info;
        let introduction = self.registry.introduction.call_once(|| {
            let mut text = json!({
                "capabilities": {
                    "tools": {"listChanged": true},
                    "resources": {"subscribe": false, "listChanged": false},
                    "prompts": {"listChanged": false},
                    "logging": {},
                    "completions": {},
                },
                "serverInfo": {"name": info.name, "title": info.title, "version": info.version},
                "instructions": info.instructions,
            })
            .to_string();
            text.remove(0); // the opening brace: the version goes first
            text
        });
        jsonrpc::write_response(out, id, "");
        out.pop(); // the response's closing brace, written again below
        out.push_str(r#"{"protocolVersion":"#);
        jsonrpc::write_string(out, version);
        out.push(',');
        out.push_str(introduction);
        out.push('}');
        Ok(())
    }

    /// The client that opened the current session.
    pub fn client_name(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.client.as_str())
    }

    fn list(&self, params: &Map<String, Value>, key: &str, entries: Vec<Value>) -> Result<Value, RpcError> {
        let offset = decode_cursor(params)?;
        if offset > entries.len() {
            return Err(RpcError::invalid_params("cursor is past the end of the list"));
        }
        let end = (offset + self.page_size).min(entries.len());
        let page: Vec<Value> = entries[offset..end].to_vec();
        let mut result = Map::new();
        result.insert(key.into(), Value::Array(page));
        if end < entries.len() {
            result.insert("nextCursor".into(), Value::from(encode_cursor(end)));
        }
        Ok(Value::Object(result))
    }

    fn tools_call(
        &mut self,
        id: RawId<'_>,
        params: Option<&str>,
        cancel_check: Option<&mut dyn FnMut() -> bool>,
        sink: Option<&mut dyn FnMut(&str)>,
        out: &mut String,
    ) -> Result<(), RpcError> {
        let call = jsonrpc::CallParams::parse(params)?;
        let name: &str = &call.name;
        let progress_token = call.progress_token();
        let already_cancelled = !self.cancelled.is_empty() && self.cancelled.contains(&id.to_value());
        let mut outgoing = core::mem::take(&mut self.outgoing);
        let registry = Arc::clone(&self.registry);
        let tool = registry.tool(name).filter(|t| self.visible(t));
        let mut cancel_check = cancel_check;
        let mut sink = sink;
        let outcome = {
            let cancel_check = cancel_check.as_mut().map(|check| &mut **check as &mut dyn FnMut() -> bool);
            let sink = sink.as_mut().map(|sink| &mut **sink as &mut dyn FnMut(&str));
            let can_be_asked = self.session.as_ref().is_some_and(|s| s.can_be_asked);
            let mut ctx = Ctx {
                progress_token,
                outgoing: &mut outgoing,
                cancel_check,
                cancelled: already_cancelled,
                sink,
                remote: self.remote,
                asker: can_be_asked.then(|| Arc::clone(&self.mailbox)),
                clock: self.registry.clock,
            };
            match tool.as_ref().map(|tool| (tool, self.forbids(tool))) {
                Some((_, Some(why))) => Err(CallError::Forbidden(why)),
                Some((tool, None)) => Self::run_tool(tool, &mut ctx, name, call.arguments),
                None => Err(CallError::UnknownTool(name.into())),
            }
        };
        self.outgoing = outgoing;
        let has_output_schema = tool.as_ref().is_some_and(|t| t.output_schema.is_some());
        let (text, structured, is_error) = match &outcome {
            Ok(output) => (output.text.as_deref().filter(|_| !has_output_schema), Some(&output.structured), false),
            Err(CallError::Failed(why)) => (Some(why.as_str()), None, true),
            Err(CallError::Forbidden(_)) => (None, None, true),
            Err(other) => return Err(other.clone().into()),
        };
        jsonrpc::write_response(out, id, "");
        out.pop(); // the response's closing brace, written again below
        out.push('{');
        match (text, structured, &outcome) {
            (None, Some(structured), _) if has_output_schema => {
                // Serialized once: the text content is the same JSON, escaped from it.
                out.push_str(r#""structuredContent":"#);
                let start = out.len();
                let _ = write!(out, "{structured}");
                let end = out.len();
                out.push_str(r#","content":[{"type":"text","text":""#);
                jsonrpc::escape_within(out, start..end);
                out.push('"');
            }
            (text, structured, outcome) => {
                out.push_str(r#""content":[{"type":"text","text":"#);
                match (text, structured, outcome) {
                    (Some(text), _, _) => jsonrpc::write_string(out, text),
                    (None, Some(structured), _) => jsonrpc::write_json_string(out, structured),
                    (None, None, Err(forbidden)) => jsonrpc::write_string(out, &forbidden.to_string()),
                    (None, None, Ok(_)) => out.push_str(r#""""#),
                }
            }
        }
        out.push_str("}]");
        out.push_str(if is_error { r#","isError":true}}"# } else { r#","isError":false}}"# });
        self.last_call_failed = Some(is_error);
        Ok(())
    }

    /// Checks a call's arguments and runs the tool. A typed tool decodes the JSON text
    /// straight into its argument type and skips the schema walk; the schema is consulted
    /// only to explain arguments the type refused (so the messages are the schema's).
    fn run_tool(tool: &Tool, ctx: &mut Ctx<'_>, name: &str, arguments: &str) -> Result<ToolOutput, CallError> {
        if let (Some(typed), false) = (tool.typed, tool.server_confirms()) {
            if let Some(outcome) = typed(ctx, arguments) {
                return outcome.map_err(|error| CallError::Failed(error.message().into()));
            }
        }
        let mut arguments: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
        if let Some(normalized) = tool.validate(&arguments)? {
            arguments = normalized;
        }
        if tool.typed.is_some() && !tool.server_confirms() {
            // The schema accepts what the type refused: a mismatch between the two, which
            // the typed tools' tests look for.
            return Err(CallError::InvalidArguments(format!(
                "{name}: the arguments do not fit the tool's argument type"
            )));
        }
        if tool.server_confirms() && !confirm::confirmed(&arguments) {
            match ctx.confirm(&confirm::question(name, &tool.title, &arguments)) {
                Confirmation::Accepted => {}
                Confirmation::Declined(why) => return Err(CallError::Failed(format!("{name} was not run: {why}"))),
                Confirmation::Unavailable => return Err(CallError::Failed(confirm::needs_confirmation(name))),
            }
        }
        tool.run(ctx, &arguments)
    }
}
