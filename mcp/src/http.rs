//! MCP Streamable HTTP (protocol revision 2025-11-25), independent of any network stack:
//! the kernel feeds it the bytes of a TCP connection and writes back what it returns.
//!
//! Read first: the MCP specification's "Transports" page (Streamable HTTP, security
//! warning on Origin validation), RFC 9110 (HTTP semantics), RFC 6750 (bearer tokens).
//!
//! Layers, as for JSON-RPC: [`parse`] checks the raw request (head size, header count,
//! `Content-Length`, body size) with `httparse` and never panics; [`Endpoint::route`] then
//! applies the transport's rules in order — path `/mcp` (404), method (405 for GET, which
//! this server does not offer, and anything else), bearer token (401), `Host` and `Origin`
//! against the allowed hosts (403: DNS rebinding), `MCP-Protocol-Version` (400),
//! `Content-Type` (415), then the session (`Mcp-Session-Id`, created by `initialize`; 404
//! for an unknown one). What is left is a JSON-RPC message for the session's [`Server`]:
//! notifications and responses get 202 with no body; requests get the JSON response, or a
//! `text/event-stream` with the progress notifications first when the request carries a
//! progress token and the client accepts event streams. A `tools/call` of a destructive
//! tool is answered as an event stream too when the client accepts one, so the server can
//! ask the client's user to confirm on it (`elicitation/create`, see [`crate::confirm`]);
//! the client's answer arrives as a new POST, served by the busy session's second handle.
//!
//! A request without a session id that is not `initialize` (e.g. a newer client's
//! `server/discover`) is answered by a fresh session that is not kept, so such clients get
//! the JSON-RPC error they need to fall back.

use crate::{
    jsonrpc::{CallParams, Incoming},
    server::{Registry, Role},
    Server,
};
use alloc::{
    format,
    string::{String, ToString},
    sync::Arc,
    vec::Vec,
};

/// Limits on one request.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Request line and headers, in bytes.
    pub max_head: usize,
    /// Headers.
    pub max_headers: usize,
    /// Body (one JSON-RPC message; the serial limit is 64 KiB).
    pub max_body: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { max_head: 8 * 1024, max_headers: 32, max_body: 64 * 1024 + 1024 }
    }
}

/// Most sessions kept at once (the least recently used is dropped beyond this).
pub const MAX_SESSIONS: usize = 16;
/// The endpoint's path: every other path is 404.
pub const PATH: &str = "/mcp";

/// A parsed request.
#[derive(Clone, Debug)]
pub struct Request {
    /// Method (`POST`, ...).
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether the client asked to close the connection after this request.
    pub fn wants_close(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A response to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Close the connection after sending.
    pub close: bool,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

impl Response {
    /// A JSON body.
    pub fn json(status: u16, body: String) -> Response {
        Response {
            status,
            headers: alloc::vec![("Content-Type", "application/json".into())],
            body: body.into_bytes(),
            close: false,
        }
    }

    /// An error with a JSON-RPC error object as the body (clients show its message).
    pub fn error(status: u16, message: &str) -> Response {
        let code = if status == 404 { -32001 } else { -32600 };
        let body = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
        let mut response = Response::json(status, body.to_string());
        // After a malformed or oversized request the stream position is unknown.
        response.close = matches!(status, 400 | 408 | 411 | 413 | 431 | 501);
        response
    }

    /// No body.
    pub fn empty(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new(), close: false }
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head =
            format!("HTTP/1.1 {} {}\r\nContent-Length: {}\r\n", self.status, reason(self.status), self.body.len());
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str(if self.close { "Connection: close\r\n\r\n" } else { "Connection: keep-alive\r\n\r\n" });
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The head of a streamed (server-sent events) response; the connection closes after the
/// last event, which ends the body.
pub fn event_stream_head(session: Option<&str>) -> Vec<u8> {
    let mut head = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n",
    );
    if let Some(id) = session {
        head.push_str(&format!("Mcp-Session-Id: {id}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// One server-sent event carrying a JSON-RPC message.
pub fn event(message: &str) -> Vec<u8> {
    format!("event: message\ndata: {message}\n\n").into_bytes()
}

/// What [`parse`] found in a connection's buffer.
#[derive(Debug)]
pub enum Parse {
    /// More bytes are needed.
    Incomplete,
    /// A whole request, and how many bytes of the buffer it used.
    Complete(Request, usize),
    /// Not acceptable: send this and close.
    Reject(Response),
}

/// Parses the request at the start of `buffer`.
pub fn parse(buffer: &[u8], limits: &HttpLimits) -> Parse {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let headers = &mut headers[..limits.max_headers.min(64)];
    let mut request = httparse::Request::new(headers);
    let head_len = match request.parse(buffer) {
        Ok(httparse::Status::Complete(len)) if len > limits.max_head => {
            return Parse::Reject(Response::error(431, "request head too large"))
        }
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buffer.len() > limits.max_head => {
            return Parse::Reject(Response::error(431, "request head too large"))
        }
        Ok(httparse::Status::Partial) => return Parse::Incomplete,
        Err(httparse::Error::TooManyHeaders) => return Parse::Reject(Response::error(431, "too many headers")),
        Err(error) => return Parse::Reject(Response::error(400, &format!("malformed HTTP request: {error}"))),
    };
    let method = request.method.unwrap_or("").to_string();
    let path = request.path.unwrap_or("").split('?').next().unwrap_or("").to_string();
    let mut owned = Vec::with_capacity(request.headers.len());
    for header in request.headers.iter() {
        let Ok(value) = core::str::from_utf8(header.value) else {
            return Parse::Reject(Response::error(400, "header value is not UTF-8"));
        };
        owned.push((header.name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let find = |name: &str| owned.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    // Headers that decide where a request ends or whom it is for must be unambiguous: with
    // two of them a proxy and this server could disagree (request smuggling).
    for name in ["content-length", "host", "authorization", "mcp-session-id", "transfer-encoding"] {
        if owned.iter().filter(|(n, _)| n == name).count() > 1 {
            return Parse::Reject(Response::error(400, &format!("more than one {name} header")));
        }
    }
    if find("host").is_none() && request.version == Some(1) {
        return Parse::Reject(Response::error(400, "HTTP/1.1 requests need a Host header"));
    }
    if find("transfer-encoding").is_some() {
        return Parse::Reject(Response::error(501, "chunked request bodies are not supported; send Content-Length"));
    }
    let length = match find("content-length") {
        Some(text) => match text.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return Parse::Reject(Response::error(400, "invalid Content-Length")),
        },
        None if method == "POST" => return Parse::Reject(Response::error(411, "POST needs a Content-Length")),
        None => 0,
    };
    if length > limits.max_body {
        return Parse::Reject(Response::error(413, &format!("body larger than {} bytes", limits.max_body)));
    }
    let Some(total) = head_len.checked_add(length) else {
        return Parse::Reject(Response::error(413, "body too large"));
    };
    if buffer.len() < total {
        return Parse::Incomplete;
    }
    let body = buffer[head_len..total].to_vec();
    Parse::Complete(Request { method, path, headers: owned, body }, total)
}

/// What the transport should do with a routed request.
#[derive(Debug)]
pub enum Action {
    /// Send this response.
    Respond(Response),
    /// Run `message` in the session `session` (`None`: a one-off session); `stream` when the
    /// answer should be an event stream; `created` names a session created by this request
    /// (its id goes in the response's `Mcp-Session-Id`).
    Call {
        /// Session id, if any.
        session: Option<String>,
        /// The JSON-RPC message.
        message: Vec<u8>,
        /// Answer as `text/event-stream`.
        stream: bool,
        /// The JSON-RPC id of the request (`None` for notifications and responses).
        id: Option<serde_json::Value>,
        /// The session was created by this request.
        created: bool,
        /// What the presented token allows (set it on the session's server).
        role: Role,
    },
}

struct Session {
    id: String,
    server: Option<Server>,
    /// A handle on the same session for requests that arrive while `server` is busy.
    side: Server,
    /// The request running in `server`, and whether a client cancelled it.
    running: Option<(serde_json::Value, bool)>,
    last_used: u64,
}

/// The MCP endpoint: authentication, host rules and sessions over one tool registry.
pub struct Endpoint {
    registry: Arc<Registry>,
    token: String,
    read_token: Option<String>,
    allowed_hosts: Vec<String>,
    sessions: Vec<Session>,
    entropy: fn() -> u64,
    clock: u64,
    limits: HttpLimits,
}

/// Compares without an early exit, so the time taken does not reveal a token's prefix.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut difference = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        difference |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    difference == 0
}

/// The host part of a `Host` header or an origin (`http://name:port` → `name`).
fn host_of(value: &str) -> &str {
    let value = value.split("://").nth(1).unwrap_or(value);
    let value = value.split('/').next().unwrap_or(value);
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    value
        .rsplit_once(':')
        .map_or(value, |(host, port)| if port.bytes().all(|b| b.is_ascii_digit()) { host } else { value })
}

impl Endpoint {
    /// An endpoint over `registry`, accepting bearer `token`. Requests must name one of the
    /// local hosts (`localhost`, `127.0.0.1`, `::1`) or an address set with
    /// [`Endpoint::set_addresses`]. `entropy` seeds session ids.
    pub fn new(registry: Arc<Registry>, token: &str, entropy: fn() -> u64) -> Endpoint {
        Endpoint {
            registry,
            token: token.into(),
            read_token: None,
            allowed_hosts: ["localhost", "127.0.0.1", "::1"].iter().map(|h| h.to_string()).collect(),
            sessions: Vec::new(),
            entropy,
            clock: 0,
            limits: HttpLimits::default(),
        }
    }

    /// A second bearer token that gives the read role: read-only tools, resources and
    /// prompts; a tool that changes the machine is answered with 403 `insufficient_scope`.
    pub fn set_read_token(&mut self, token: &str) {
        self.read_token = Some(token.into());
    }

    /// The limits requests are parsed with.
    pub fn limits(&self) -> HttpLimits {
        self.limits
    }

    /// The machine's own addresses (e.g. from DHCP), allowed as `Host`/`Origin` besides the
    /// local names.
    pub fn set_addresses(&mut self, addresses: &[String]) {
        self.allowed_hosts.truncate(3);
        self.allowed_hosts.extend(addresses.iter().cloned());
    }

    /// Sessions kept now.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn new_session_id(&self) -> String {
        format!("{:016x}{:016x}", (self.entropy)(), (self.entropy)())
    }

    fn allowed(&self, value: &str) -> bool {
        let host = host_of(value);
        self.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Applies the transport's rules to a request (see the module docs for the order).
    pub fn route(&mut self, request: &Request) -> Action {
        self.clock += 1;
        if request.path != PATH {
            return Action::Respond(Response::error(404, "not found: the MCP endpoint is /mcp"));
        }
        match request.method.as_str() {
            "POST" | "DELETE" => {}
            "GET" => {
                let mut response =
                    Response::error(405, "this server offers no server-initiated event stream; POST JSON-RPC messages");
                response.headers.push(("Allow", "POST, DELETE".into()));
                return Action::Respond(response);
            }
            _ => {
                let mut response = Response::error(405, "use POST");
                response.headers.push(("Allow", "POST, DELETE".into()));
                return Action::Respond(response);
            }
        }
        let presented = request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let presented = presented.map(|t| t.trim().as_bytes());
        // Both comparisons always run, so the time taken does not tell which token matched.
        let control = presented.is_some_and(|t| same_secret(t, self.token.as_bytes()));
        let read = presented.is_some_and(|t| self.read_token.as_ref().is_some_and(|r| same_secret(t, r.as_bytes())));
        let role = match (control, read) {
            (true, _) => Role::Control,
            (false, true) => Role::Read,
            (false, false) => {
                let mut response = Response::error(401, "missing or wrong bearer token (Authorization: Bearer <token>; the token is shown on the serial console)");
                response.headers.push(("WWW-Authenticate", "Bearer realm=\"kingly-os\"".into()));
                return Action::Respond(response);
            }
        };
        if let Some(host) = request.header("host") {
            if !self.allowed(host) {
                return Action::Respond(Response::error(403, "Host not allowed"));
            }
        }
        if let Some(origin) = request.header("origin") {
            if !self.allowed(origin) {
                return Action::Respond(Response::error(403, "Origin not allowed"));
            }
        }
        if let Some(version) = request.header("mcp-protocol-version") {
            if !crate::PROTOCOL_VERSIONS.contains(&version) {
                return Action::Respond(Response::error(400, &format!("unsupported MCP-Protocol-Version {version}")));
            }
        }
        let session = request.header("mcp-session-id").map(str::to_string);
        if request.method == "DELETE" {
            let Some(id) = session else { return Action::Respond(Response::error(400, "DELETE needs Mcp-Session-Id")) };
            let before = self.sessions.len();
            self.sessions.retain(|s| s.id != id || s.server.is_none());
            return Action::Respond(if self.sessions.len() < before {
                Response::empty(204)
            } else {
                Response::error(404, "unknown session")
            });
        }
        if !request.header("content-type").is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json")) {
            return Action::Respond(Response::error(415, "Content-Type must be application/json"));
        }
        // Peek at the message: its id, method and progress token decide the answer's form
        // (parsed in place; the server parses it again, as cheaply, when it runs it).
        let text = core::str::from_utf8(&request.body).unwrap_or("");
        let peeked = crate::jsonrpc::parse(text.trim()).ok();
        let method = peeked.as_ref().and_then(|m| m.method()).unwrap_or("");
        let (id, params) = match &peeked {
            Some(Incoming::Request { id, params, .. }) => (Some(id.to_value()), *params),
            Some(Incoming::Notification { params, .. }) => (None, *params),
            _ => (None, None),
        };
        let call = if method == "tools/call" { CallParams::parse(params).ok() } else { None };
        // A destructive tool may ask the client's user to confirm (elicitation) in the
        // middle of the call: the question can only travel on the answer's event stream.
        let may_ask =
            call.as_ref().and_then(|c| self.registry.tool(&c.name)).is_some_and(|tool| tool.hints().destructive);
        let wants_stream = request.header("accept").is_some_and(|a| a.contains("text/event-stream"))
            && (may_ask || call.as_ref().is_some_and(|c| c.progress_token().is_some()));
        // A read token calling a tool that changes the machine: 403 with the scope it lacks
        // (RFC 6750 §3.1, as MCP's authorization rules use it), and the JSON-RPC error.
        if role == Role::Read && method == "tools/call" {
            let name = call.as_ref().map_or("", |c| &c.name);
            let mut probe = Server::over(Arc::clone(&self.registry));
            probe.set_remote(true);
            probe.set_role(role);
            if let Some(why) = probe.forbidden(name) {
                let body = serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32003, "message": why}});
                let mut response = Response::json(403, body.to_string());
                response.headers.push((
                    "WWW-Authenticate",
                    "Bearer realm=\"kingly-os\", error=\"insufficient_scope\", scope=\"control\"".into(),
                ));
                return Action::Respond(response);
            }
        }
        let (session, created) = match session {
            Some(id) if self.sessions.iter().any(|s| s.id == id) => (Some(id), false),
            Some(_) => return Action::Respond(Response::error(404, "unknown or expired session: initialize again")),
            None if method == "initialize" => {
                let id = self.new_session_id();
                if self.sessions.len() >= MAX_SESSIONS {
                    // Drop the least recently used idle session.
                    if let Some(oldest) = self
                        .sessions
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.server.is_some())
                        .min_by_key(|(_, s)| s.last_used)
                        .map(|(i, _)| i)
                    {
                        self.sessions.remove(oldest);
                    } else {
                        return Action::Respond(Response::error(503, "too many busy sessions"));
                    }
                }
                let mut server = Server::over(Arc::clone(&self.registry));
                server.set_remote(true);
                let side = server.fork();
                self.sessions.push(Session {
                    id: id.clone(),
                    server: Some(server),
                    side,
                    running: None,
                    last_used: self.clock,
                });
                (Some(id), true)
            }
            None => (None, false),
        };
        if let Some(s) = session.as_ref().and_then(|id| self.sessions.iter_mut().find(|s| &s.id == id)) {
            s.last_used = self.clock;
            // A cancellation of the request running in this session marks it.
            if method == "notifications/cancelled" {
                let target = crate::jsonrpc::params_map(params).ok().and_then(|p| p.get("requestId").cloned());
                if let (Some((running, cancelled)), Some(target)) = (s.running.as_mut(), target) {
                    if *running == target {
                        *cancelled = true;
                        return Action::Respond(Response::empty(202));
                    }
                }
            }
        }
        Action::Call { session, message: request.body.clone(), stream: wants_stream && id.is_some(), id, created, role }
    }

    /// Takes the session's server out for a call (a busy session lends a second handle on
    /// the same session, so other requests still get answers); `None` for a one-off
    /// session. Give it back with [`Endpoint::finish`].
    pub fn begin(&mut self, session: Option<&str>, id: Option<&serde_json::Value>) -> (Server, bool) {
        let Some(s) = session.and_then(|sid| self.sessions.iter_mut().find(|s| s.id == sid)) else {
            let mut server = Server::over(Arc::clone(&self.registry));
            server.set_remote(true);
            return (server, false);
        };
        match s.server.take() {
            Some(server) => {
                s.side = server.fork();
                s.running = id.map(|id| (id.clone(), false));
                (server, true)
            }
            None => (s.side.fork(), false),
        }
    }

    /// Returns a session's server after a call that [`Endpoint::begin`] took it out for.
    pub fn finish(&mut self, session: Option<&str>, server: Server, owned: bool) {
        if !owned {
            return;
        }
        if let Some(s) = session.and_then(|sid| self.sessions.iter_mut().find(|s| s.id == sid)) {
            s.server = Some(server);
            s.running = None;
        }
    }

    /// Whether a client cancelled the request running in `session`.
    pub fn is_cancelled(&self, session: Option<&str>) -> bool {
        session
            .and_then(|sid| self.sessions.iter().find(|s| s.id == sid))
            .and_then(|s| s.running.as_ref())
            .is_some_and(|(_, cancelled)| *cancelled)
    }

    /// The response to a finished call: the JSON-RPC answer (200), or 202 for a message
    /// that has none; `Mcp-Session-Id` when the call created the session.
    pub fn response(answer: Option<String>, created: Option<&str>) -> Response {
        let mut response = match answer {
            Some(json) => Response::json(200, json),
            None => Response::empty(202),
        };
        if let Some(id) = created {
            response.headers.push(("Mcp-Session-Id", id.into()));
        }
        response
    }
}

#[cfg(test)]
mod tests;
