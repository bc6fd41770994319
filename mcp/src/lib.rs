//! Model Context Protocol server core for Kingly OS: `#![no_std]` + `alloc`, no hardware
//! knowledge, tested on the host.
//!
//! # Layers
//! Untrusted bytes pass two layers. [`frame`] checks a raw message (size, UTF-8, nesting
//! depth, single object rather than a batch) without recursion and without panicking; only
//! then does `serde_json` parse it, and [`jsonrpc`] turns the value into a typed request or
//! notification. [`server::Server`] dispatches it against the registry.
//!
//! # Declaring capabilities
//! A tool is declared once ([`tool::Tool`]: name, title, description, input and output
//! schemas, annotations, handler); `tools/list` is derived from it and arguments are
//! checked against the input schema ([`schema`]) before the handler runs. Resources,
//! resource templates and prompts work the same way. [`shell`] holds the pure parts of the
//! kernel's console client (argument parsing, help text, completion).
//!
//! # Transports
//! The core is transport-agnostic: [`server::Server::handle_message`] takes one message and
//! returns at most one response line; notifications the server sends (progress, log
//! messages) queue up and the transport drains them with
//! [`server::Server::drain_outgoing`]. Kernel code calls tools without JSON framing through
//! [`server::Server::call_tool`]. [`http`] holds the rules of Streamable HTTP and [`mqtt`]
//! those of MCP over MQTT (topics, presence, one session per client).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod confirm;
pub mod frame;
pub mod http;
pub mod jsonrpc;
pub mod mqtt;
pub mod resource;
pub mod scan;
pub mod schema;
pub mod server;
pub mod shell;
pub mod tool;

pub use confirm::Confirmation;
pub use resource::{Prompt, Resource};
pub use serde_json::{json, Map, Value};
pub use server::{Found, Registry, Server, ServerInfo};
pub use tool::{Annotations, CallError, Ctx, Declaration, Integer, Tool, ToolError, ToolOutput, TypedTool};

/// Parses JSON text (a convenience for transports that peek at messages).
pub fn parse_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Protocol revisions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The newest protocol revision.
pub const LATEST_PROTOCOL_VERSION: &str = PROTOCOL_VERSIONS[0];
