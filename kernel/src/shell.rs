//! The serial console: one UART carries the human shell and MCP.
//!
//! A line whose first byte is `{` is a JSON-RPC message: it is not echoed, and the answer is
//! exactly one JSON line (preceded by any notifications it produced). Once a client has
//! spoken JSON-RPC the console stops printing prompts and log lines (the client gets logs
//! as `notifications/message`) until a human line arrives.
//!
//! The shell is an MCP client inside the kernel: every command other than the builtins
//! (`help`, `tools`, `resources`, `read`) is a tool call through the same registry, typed
//! as `tool key=value ...` or `tool {json}`. Line editing: backspace, left/right, Home/End,
//! Ctrl-A/E/K/U/C, history with up/down, tab completion of tool and argument names.
//! Destructive tools ask for confirmation. `ask <plain language>` lets the intent model
//! propose the call ([`intent`]); read-only proposals run at once, others after a yes.

use crate::{console, decisions::Outcome, intent, print, println, system};
use alloc::{
    collections::VecDeque,
    format,
    string::{String, ToString},
    vec::Vec,
};
use logic::line_editor::{Event, LineEditor, Terminal};
use mcp::{shell as client, CallError, Server, Value};

/// Longest accepted line: an MCP message on serial may be 64 KiB; anything longer is
/// answered with a size error by the server.
pub const MAX_LINE: usize = 64 * 1024 + 1024;
// The console's receive ring holds a whole line even when the shell does not run meanwhile.
const _: () = assert!(crate::console::RX_CAPACITY > MAX_LINE);

const PROMPT: &str = "kingly> ";
const BUILTINS: [&str; 5] = ["help", "tools", "resources", "read", "ask"];
const HISTORY: usize = 100;

/// One line of input.
enum Line {
    /// A human command.
    Human(String),
    /// A JSON-RPC message (raw bytes; the server validates them).
    Json(Vec<u8>),
    /// Ctrl-C.
    Cancelled,
}

/// The editor's output: the console UART.
struct Console;

impl Terminal for Console {
    fn write(&mut self, bytes: &[u8]) {
        console::write_bytes(bytes);
    }
}

/// The line editor (host-tested in `logic::line_editor`) fed from the console.
struct Editor {
    lines: LineEditor,
    /// Input read ahead while a tool ran (watching for cancellation), consumed first.
    pending: VecDeque<u8>,
}

impl Editor {
    fn new() -> Self {
        Editor { lines: LineEditor::new(PROMPT, MAX_LINE, HISTORY), pending: VecDeque::new() }
    }

    /// Reads one line. `echo` is off while an MCP client owns the port.
    async fn read_line(&mut self, server: &Server, echo: bool) -> Line {
        let mut complete = |typed: &str| client::complete(server.tools(), &BUILTINS, typed);
        loop {
            let byte = match self.pending.pop_front() {
                Some(byte) => byte,
                None => console::next_byte().await,
            };
            match self.lines.feed(byte, echo, &mut Console, &mut complete) {
                Event::Pending => {}
                Event::Line(text) => return Line::Human(text),
                Event::Json(bytes) => return Line::Json(bytes),
                Event::Cancelled => return Line::Cancelled,
            }
        }
    }
}

fn help(server: &Server, topic: &str) {
    if !topic.is_empty() {
        match server.tool(topic) {
            Some(tool) => print!("{}", client::tool_help(&tool)),
            None => println!("no tool named '{topic}' (type 'tools')"),
        }
        return;
    }
    println!("Builtins: help [tool], tools, resources, read <uri>, ask <plain language>. Ctrl-C cancels a line, Tab completes.");
    println!("Call a tool as `name key=value ...` or `name {{json}}`. Tools:");
    for tool in server.tools() {
        println!("  {:<16} {}", tool.name(), tool.title_text());
    }
}

fn list_tools(server: &Server) {
    let rows: Vec<Value> = server
        .tools()
        .iter()
        .map(|tool| {
            let hints = tool.hints();
            let kind = if hints.read_only {
                "read-only"
            } else if hints.destructive {
                "destructive"
            } else {
                "changes state"
            };
            mcp::json!({"tool": tool.name(), "kind": kind, "title": tool.title_text()})
        })
        .collect();
    print!("{}", client::render(&Value::Array(rows)));
}

fn list_resources(server: &Server) {
    for resource in server.resources() {
        let entry = resource.to_json();
        let title = entry.get("title").and_then(Value::as_str).unwrap_or("");
        println!("  {:<24} {title}", resource.uri());
    }
}

fn read_resource(server: &Server, uri: &str) {
    match server.read_resource(uri) {
        Ok(result) => {
            let contents = result.get("contents").and_then(Value::as_array).cloned().unwrap_or_default();
            for item in contents {
                print!("{}", item.get("text").and_then(Value::as_str).unwrap_or(""));
            }
        }
        Err(error) => println!("{}", error.message),
    }
}

/// Runs a human command line. Returns a JSON line that arrived instead of a confirmation.
async fn execute(server: &mut Server, editor: &mut Editor, line: &str) -> Option<Vec<u8>> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    match name {
        "help" | "?" => help(server, rest),
        "tools" => list_tools(server),
        "resources" => list_resources(server),
        "read" => read_resource(server, rest),
        "ask" => return ask(server, editor, rest).await,
        _ => {
            let Some(tool) = server.tool(name) else {
                println!("unknown command '{name}' (type 'help')");
                return None;
            };
            let arguments = match client::parse_arguments(&tool, rest) {
                Ok(arguments) => arguments,
                Err(error) => {
                    println!("{error}");
                    return None;
                }
            };
            if tool.hints().destructive {
                if let Some(json) = confirm(server, editor, &format!("{name} is destructive. Proceed? [y/N] ")).await {
                    return json;
                }
            }
            let _ = run_tool(server, editor, name, &arguments);
        }
    }
    None
}

/// Asks a yes/no question. `None` = go ahead; `Some(x)` = stop and return `x` from
/// [`execute`] (a JSON line that arrived instead of an answer is handed back to be served).
async fn confirm(server: &Server, editor: &mut Editor, question: &str) -> Option<Option<Vec<u8>>> {
    print!("{question}");
    match editor.read_line(server, true).await {
        Line::Human(answer) if matches!(answer.trim(), "y" | "Y" | "yes") => None,
        Line::Json(bytes) => {
            println!("cancelled");
            Some(Some(bytes))
        }
        _ => {
            println!("cancelled");
            Some(None)
        }
    }
}

/// Calls a tool and prints its result; returns the error it printed, if any. Ctrl-C stops a
/// long-running tool (e.g. llm_generate) between steps; other input typed meanwhile is kept.
fn run_tool(server: &mut Server, editor: &mut Editor, name: &str, arguments: &Value) -> Option<String> {
    let mut outgoing = Vec::new();
    let mut watch = Watch::new(Value::Null, server, &mut editor.pending);
    let mut watch = || watch.poll();
    let mut ctx = mcp::Ctx::detached(&mut outgoing).with_cancel_check(&mut watch);
    match server.call_tool_with(&mut ctx, name, arguments) {
        Ok(output) => {
            match output.text {
                Some(text) => print!("{}{}", text, if text.ends_with('\n') { "" } else { "\n" }),
                None => print!("{}", client::render(&output.structured)),
            }
            None
        }
        Err(CallError::Failed(why)) => {
            println!("error: {why}");
            Some(why)
        }
        Err(error) => {
            println!("{error} (try 'help {name}')");
            Some(format!("{error}"))
        }
    }
}

/// `ask <plain language>`: the intent model proposes a tool call, the kernel verifies it
/// ([`intent::decide`]), read-only tools run at once, others after confirmation.
async fn ask(server: &mut Server, editor: &mut Editor, request: &str) -> Option<Vec<u8>> {
    // Ctrl-C stops a chat model thinking about it; JSON-RPC lines are served meanwhile.
    let decided = {
        let mut watch = Watch::new(Value::Null, server, &mut editor.pending);
        intent::decide(request, &mut || watch.poll())
    };
    let decision = match decided {
        Ok(decision) => decision,
        Err(why) => {
            println!("{why}");
            return None;
        }
    };
    let cached = if decision.cached { ", cached" } else { "" };
    let (Some(tool), intent::Status::Ready, Some(hints)) = (&decision.tool, &decision.status, decision.hints) else {
        println!("{} (confidence {:.2}{cached})", decision.message, decision.confidence);
        return None;
    };
    let arguments = mcp::json!(decision.arguments).to_string();
    let kind = if hints.read_only {
        "read-only"
    } else if hints.destructive {
        "destructive"
    } else {
        "changes the machine"
    };
    println!("-> {tool} {arguments}  (confidence {:.2}, {kind}{cached})", decision.confidence);
    if !hints.read_only {
        if let Some(json) = confirm(server, editor, "Run it? [y/N] ").await {
            intent::settle(&decision, Outcome::Declined, None);
            return json;
        }
    }
    let tool = tool.clone();
    match run_tool(server, editor, &tool, &decision.arguments) {
        None => intent::settle(&decision, Outcome::Ran, None),
        Some(why) => intent::settle(&decision, Outcome::Failed, Some(&why)),
    }
    None
}

fn level_of(line: &str) -> &'static str {
    let tag = line.split(']').nth(1).unwrap_or("").trim_start();
    match tag.get(..4) {
        Some("ERRO") => "error",
        Some("WARN") => "warning",
        Some("DEBU") | Some("TRAC") => "debug",
        _ => "info",
    }
}

/// The MCP side of the console.
struct McpPort {
    /// A client has spoken JSON-RPC since the last human line.
    active: bool,
    /// Log position already forwarded to the client.
    log_position: usize,
    /// The answer being sent: kept between requests, so a ping is answered without
    /// allocating.
    answer: String,
}

/// A JSON-RPC line parsed in place (nothing allocated unless a member has escapes).
fn peek(line: &[u8]) -> Option<mcp::jsonrpc::Incoming<'_>> {
    mcp::jsonrpc::parse(core::str::from_utf8(line).ok()?.trim()).ok()
}

/// Watches the console while a tool runs (polled between the tool's steps, e.g. tokens).
struct Watch<'a> {
    /// Id of the running request (`Null` for a shell command: only Ctrl-C cancels it).
    id: Value,
    /// Bytes of the line being received.
    line: Vec<u8>,
    /// Human input kept for after the tool.
    pending: &'a mut VecDeque<u8>,
    /// Serves JSON-RPC requests that arrive meanwhile (same session, same registry).
    side: Server,
}

impl<'a> Watch<'a> {
    fn new(id: Value, server: &Server, pending: &'a mut VecDeque<u8>) -> Self {
        Watch { id, line: Vec::new(), pending, side: server.fork() }
    }

    /// Reads what arrived; returns whether the running tool is cancelled. Also lets the
    /// other I/O tasks (the network) run between the tool's steps.
    fn poll(&mut self) -> bool {
        crate::executor::run_others();
        let mut cancelled = false;
        while let Some(byte) = console::read_byte() {
            let json = matches!(self.line.first(), Some(b'{' | b'['));
            if byte == 0x03 && !json {
                cancelled = true;
                continue;
            }
            if byte != b'\r' && byte != b'\n' {
                if self.line.len() < MAX_LINE {
                    self.line.push(byte);
                }
                continue;
            }
            let line = core::mem::take(&mut self.line);
            if matches!(line.first(), Some(b'{' | b'[')) {
                if !self.id.is_null() && cancels(&line, &self.id) {
                    cancelled = true;
                } else if let Some(reply) = self.side.handle_message(&line) {
                    for notification in self.side.drain_outgoing() {
                        println!("{notification}");
                    }
                    println!("{reply}");
                }
            } else {
                self.pending.extend(line);
                self.pending.push_back(byte);
            }
        }
        cancelled
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        // A partial line stays for the editor.
        self.pending.extend(self.line.drain(..));
    }
}

/// Whether `line` is a `notifications/cancelled` for request `id`.
fn cancels(line: &[u8], id: &Value) -> bool {
    let Some(mcp::jsonrpc::Incoming::Notification { method, params }) = peek(line) else { return false };
    method == "notifications/cancelled"
        && mcp::jsonrpc::params_map(params).is_ok_and(|params| params.get("requestId") == Some(id))
}

impl McpPort {
    fn handle(&mut self, server: &mut Server, editor: &mut Editor, bytes: &[u8]) {
        if !self.active {
            self.active = true;
            crate::log::set_console_echo(false);
            self.log_position = crate::log::position();
        }
        // While a tool runs, watch the input: a cancellation of this request (or Ctrl-C)
        // stops it; other JSON-RPC messages are served at once by a fork of this session;
        // human input is kept for after the answer.
        let id = match peek(bytes) {
            Some(mcp::jsonrpc::Incoming::Request { id, .. }) => id.to_value(),
            _ => Value::Null,
        };
        let mut watch = Watch::new(id, server, &mut editor.pending);
        let mut watch = || watch.poll();
        // Progress goes out while the tool runs.
        let mut sink = |line: &str| println!("{line}");
        let answered = server.handle_message_into(bytes, Some(&mut watch), Some(&mut sink), &mut self.answer);
        self.forward_logs(server);
        for notification in server.drain_outgoing() {
            println!("{notification}");
        }
        if answered {
            println!("{}", self.answer);
        }
    }

    fn forward_logs(&mut self, server: &mut Server) {
        let (text, position) = crate::log::read_since(self.log_position);
        self.log_position = position;
        for line in text.lines() {
            server.log(level_of(line), "kernel", line);
        }
    }

    fn human(&mut self) {
        if self.active {
            self.active = false;
            crate::log::set_console_echo(true);
        }
    }
}

/// Whether `line` asks for something the boot task brings up after the prompt (the card,
/// the models, the network): every tool call and human command; not a ping, the
/// handshake, a list or a notification, which are answered at once.
fn needs_services(line: &Line) -> bool {
    match line {
        Line::Json(bytes) => {
            let Some(message) = peek(bytes) else { return false };
            let method = message.method().unwrap_or("");
            !(method.is_empty()
                || method == "ping"
                || method == "initialize"
                || method.starts_with("notifications/")
                || method.ends_with("/list"))
        }
        Line::Human(_) => true,
        Line::Cancelled => false,
    }
}

/// Serves the console forever (the console task of the executor).
pub async fn run(mut server: Server) {
    let mut editor = Editor::new();
    let mut port = McpPort { active: false, log_position: 0, answer: String::with_capacity(256) };
    loop {
        if !port.active {
            print!("{PROMPT}");
        }
        let mut line = editor.read_line(&server, !port.active).await;
        if !system::services_up() && needs_services(&line) {
            system::services().await;
        }
        loop {
            match line {
                Line::Json(bytes) => port.handle(&mut server, &mut editor, &bytes),
                Line::Human(text) => {
                    port.human();
                    if let Some(bytes) = execute(&mut server, &mut editor, &text).await {
                        line = Line::Json(bytes);
                        continue;
                    }
                }
                Line::Cancelled => port.human(),
            }
            break;
        }
        system::run_pending();
    }
}
