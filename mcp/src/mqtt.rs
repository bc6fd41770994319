//! MCP over MQTT: the board as an MCP server on an MQTT 5 broker, after EMQX's published
//! specification ("MCP over MQTT", EMQX documentation, emqx-ai/mcp-over-mqtt). Transport
//! rules only: the kernel's MQTT client (`kernel/src/net/mqtt.rs`, over `formats::mqtt`)
//! carries the packets; this module decides what to subscribe to and publish, and runs
//! each client's messages through its own [`Server`] session over the shared registry.
//!
//! Topics (`{sid}` = this server's MQTT client id, `{name}` = its server name, `{cid}` = a
//! client's MQTT client id):
//! - `$mcp-server/{sid}/{name}` — control: a client's `initialize` arrives here;
//! - `$mcp-server/presence/{sid}/{name}` — presence, retained: `notifications/server/online`
//!   while connected, an empty payload (the will, or before a clean disconnect) when gone;
//! - `$mcp-server/capability/{sid}/{name}` — `notifications/tools/list_changed`;
//! - `$mcp-rpc/{cid}/{sid}/{name}` — every later request, answer and notification of that
//!   client's session (subscribed with No Local before the initialize answer is sent);
//! - `$mcp-client/presence/{cid}` — `notifications/disconnected` (its will) ends the session.
//!
//! Every PUBLISH carries the user properties `MCP-COMPONENT-TYPE: mcp-server` and
//! `MCP-MQTT-CLIENT-ID: {sid}`; the client's id comes from the same property on its
//! `initialize` and must be a valid topic level. A message for another server id or name is
//! never handled (the topics name both). Sessions are bounded ([`MAX_CLIENTS`]; the oldest
//! is told `notifications/disconnected` and dropped), and every session has the role the
//! settings give MQTT clients: the broker's credentials and ACLs decide who may publish.

use crate::jsonrpc;
use crate::server::{Registry, Role, Server};
use alloc::{string::String, sync::Arc, vec, vec::Vec};
use serde_json::{json, Value};

/// Client sessions held at once.
pub const MAX_CLIENTS: usize = 16;
/// Longest client id or server id accepted.
pub const MAX_ID: usize = 128;
/// The user property naming the sender's role in the protocol.
pub const COMPONENT_TYPE: &str = "MCP-COMPONENT-TYPE";
/// The user property naming the sender's MQTT client id.
pub const CLIENT_ID: &str = "MCP-MQTT-CLIENT-ID";
/// The user property with the component's metadata (CONNECT).
pub const META: &str = "MCP-META";
/// The user property a broker may set in CONNACK to name the server.
pub const SERVER_NAME: &str = "MCP-SERVER-NAME";
/// The notification that ends a session.
pub const DISCONNECTED: &str = "notifications/disconnected";

/// What the transport must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// Subscribe to these filters (No Local).
    Subscribe(Vec<String>),
    /// Unsubscribe from these filters.
    Unsubscribe(Vec<String>),
    /// Publish this JSON text, retained or not.
    Publish {
        /// Topic.
        topic: String,
        /// JSON-RPC text (empty clears a retained message).
        payload: String,
        /// Retained.
        retain: bool,
    },
}

/// A tool call that was handled, for the kernel's audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handled {
    /// The client's id.
    pub client: String,
    /// The message as received.
    pub message: String,
    /// `Server::last_call_failed` for it.
    pub failed: Option<bool>,
}

/// Why a server id or name cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// An id is empty, too long, or holds `/`, `+`, `#`.
    BadId,
    /// A server name is empty, starts or ends with `/`, has an empty level or `+`, `#`.
    BadName,
}

impl core::fmt::Display for NameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NameError::BadId => write!(f, "an MQTT client id must be 1-{MAX_ID} characters without '/', '+', '#'"),
            NameError::BadName => {
                write!(f, "a server name is '/'-separated levels, none empty, without '+', '#' (e.g. kingly/shed)")
            }
        }
    }
}

/// The specification's topic names, for a server (this module's [`Binding`]) and for a
/// client of it (the fleet gateway) alike.
pub mod topic {
    use alloc::{format, string::String};

    /// Servers' presence topics start with this (then `{sid}/{name}`).
    pub const PRESENCE_PREFIX: &str = "$mcp-server/presence/";
    /// Servers' capability topics start with this (then `{sid}/{name}`).
    pub const CAPABILITY_PREFIX: &str = "$mcp-server/capability/";
    /// Clients' presence topics start with this (then `{cid}`).
    pub const CLIENT_PRESENCE_PREFIX: &str = "$mcp-client/presence/";
    /// RPC topics start with this (then `{cid}/{sid}/{name}`).
    pub const RPC_PREFIX: &str = "$mcp-rpc/";

    /// Where clients send `initialize` to server `server_id` named `name`.
    pub fn control(server_id: &str, name: &str) -> String {
        format!("$mcp-server/{server_id}/{name}")
    }

    /// The server's retained presence (also its will's topic).
    pub fn presence(server_id: &str, name: &str) -> String {
        format!("{PRESENCE_PREFIX}{server_id}/{name}")
    }

    /// Where the server announces tool-list changes.
    pub fn capability(server_id: &str, name: &str) -> String {
        format!("{CAPABILITY_PREFIX}{server_id}/{name}")
    }

    /// The session of client `client` with the server.
    pub fn rpc(client: &str, server_id: &str, name: &str) -> String {
        format!("{RPC_PREFIX}{client}/{server_id}/{name}")
    }

    /// The client's presence (its will says `notifications/disconnected` there).
    pub fn client_presence(client: &str) -> String {
        format!("{CLIENT_PRESENCE_PREFIX}{client}")
    }

    /// Where the client announces its capability changes.
    pub fn client_capability(client: &str) -> String {
        format!("$mcp-client/capability/{client}")
    }
}

/// Whether `id` can be one topic level (a client or server id).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID && !id.contains(['/', '+', '#', '\0']) && !id.starts_with('$')
}

/// Whether `name` is a valid server name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 2 * MAX_ID && name.split('/').all(valid_id)
}

/// The server's side of MCP over MQTT.
pub struct Binding {
    server_id: String,
    server_name: String,
    description: String,
    registry: Arc<Registry>,
    role: Role,
    /// Sessions by client id, oldest first.
    sessions: Vec<(String, Server)>,
    /// The registry's generation last announced on the capability topic.
    tools_seen: u32,
    /// Facts for the presence message's `meta` (board kind, host name).
    meta: serde_json::Map<String, Value>,
}

impl Binding {
    /// A binding for server `server_id` named `server_name`; sessions get `role`.
    pub fn new(
        registry: Arc<Registry>,
        server_id: &str,
        server_name: &str,
        description: &str,
        role: Role,
    ) -> Result<Binding, NameError> {
        if !valid_id(server_id) {
            return Err(NameError::BadId);
        }
        if !valid_name(server_name) {
            return Err(NameError::BadName);
        }
        let tools_seen = registry.generation();
        Ok(Binding {
            server_id: server_id.into(),
            server_name: server_name.into(),
            description: description.into(),
            registry,
            role,
            sessions: Vec::new(),
            tools_seen,
            meta: serde_json::Map::new(),
        })
    }

    /// Adds `key: value` to the presence message's `meta` (e.g. the board kind, which a
    /// fleet gateway lists without calling a tool).
    pub fn set_meta(&mut self, key: &str, value: Value) {
        self.meta.insert(key.into(), value);
    }

    /// The server's MQTT client id.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// The role every session has.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The server name.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// Takes the name a broker assigned in CONNACK (`MCP-SERVER-NAME`, which the server
    /// must then use), if it is valid.
    pub fn rename(&mut self, name: &str) -> Result<(), NameError> {
        if !valid_name(name) {
            return Err(NameError::BadName);
        }
        self.server_name = name.into();
        Ok(())
    }

    /// Where clients send `initialize`.
    pub fn control_topic(&self) -> String {
        topic::control(&self.server_id, &self.server_name)
    }

    /// Where presence is retained (also the will's topic).
    pub fn presence_topic(&self) -> String {
        topic::presence(&self.server_id, &self.server_name)
    }

    /// Where tool-list changes are announced.
    pub fn capability_topic(&self) -> String {
        topic::capability(&self.server_id, &self.server_name)
    }

    /// The RPC topic of client `client`.
    pub fn rpc_topic(&self, client: &str) -> String {
        topic::rpc(client, &self.server_id, &self.server_name)
    }

    fn client_topics(&self, client: &str) -> Vec<String> {
        vec![self.rpc_topic(client), topic::client_presence(client), topic::client_capability(client)]
    }

    /// The retained presence message.
    pub fn online(&self) -> String {
        let mut meta = self.meta.clone();
        meta.insert("role".into(), json!(self.role.scope()));
        jsonrpc::notification(
            "notifications/server/online",
            json!({"server_name": self.server_name, "description": self.description, "meta": meta}),
        )
    }

    /// What to subscribe to after (re)connecting: the control topic, and the topics of the
    /// sessions still held (a broker restart loses subscriptions, not the sessions).
    pub fn subscriptions(&self) -> Vec<String> {
        let mut out = vec![self.control_topic()];
        for (client, _) in &self.sessions {
            out.extend(self.client_topics(client));
        }
        out
    }

    /// Clients with a session now.
    pub fn clients(&self) -> Vec<&str> {
        self.sessions.iter().map(|(c, _)| c.as_str()).collect()
    }

    /// Handles one message received on `topic` from the sender named by its
    /// `MCP-MQTT-CLIENT-ID` property (`sender`). `cancel` is the running tool's hook
    /// (see `Server::handle_message_with`).
    pub fn handle(
        &mut self,
        topic: &str,
        payload: &[u8],
        sender: Option<&str>,
        cancel: Option<&mut dyn FnMut() -> bool>,
    ) -> (Vec<Out>, Option<Handled>) {
        let mut out = Vec::new();
        if topic == self.control_topic() {
            let Some(client) = sender.filter(|c| valid_id(c)) else {
                return (out, None); // nobody to answer: the answer's topic names the client
            };
            if method_of(payload).as_deref() != Some("initialize") {
                return (out, None);
            }
            if let Some(at) = self.sessions.iter().position(|(c, _)| c == client) {
                self.sessions.remove(at);
            } else {
                out.push(Out::Subscribe(self.client_topics(client)));
            }
            if self.sessions.len() >= MAX_CLIENTS {
                let (oldest, _) = self.sessions.remove(0);
                out.extend(self.farewell(&oldest));
            }
            let mut server = Server::over(Arc::clone(&self.registry));
            server.set_remote(true);
            server.set_role(self.role);
            let answer = server.handle_message_with(payload, cancel);
            self.answer(&mut out, client, &mut server, answer);
            self.sessions.push((client.into(), server));
            return (out, None);
        }
        if let Some(client) = topic.strip_prefix(self::topic::CLIENT_PRESENCE_PREFIX) {
            if method_of(payload).as_deref() == Some(DISCONNECTED) {
                out.extend(self.drop_session(client));
            }
            return (out, None);
        }
        let Some(client) = self.sessions.iter().map(|(c, _)| c.clone()).find(|c| self.rpc_topic(c) == topic) else {
            return (out, None); // a capability change of a client, or a topic not ours
        };
        let mentions = payload.windows(DISCONNECTED.len()).any(|w| w == DISCONNECTED.as_bytes());
        if mentions && method_of(payload).as_deref() == Some(DISCONNECTED) {
            out.extend(self.drop_session(&client));
            return (out, None);
        }
        let Some(at) = self.sessions.iter().position(|(c, _)| *c == client) else { return (out, None) };
        let (_, mut server) = self.sessions.remove(at);
        let answer = server.handle_message_with(payload, cancel);
        let handled = server.last_call_failed().map(|failed| Handled {
            client: client.clone(),
            message: String::from_utf8_lossy(payload).into(),
            failed: Some(failed),
        });
        self.answer(&mut out, &client, &mut server, answer);
        self.sessions.insert(at, (client, server));
        (out, handled)
    }

    fn answer(&self, out: &mut Vec<Out>, client: &str, server: &mut Server, answer: Option<String>) {
        let topic = self.rpc_topic(client);
        // Progress and log notifications first, then the answer they led to.
        for note in server.drain_outgoing() {
            if note.contains("notifications/tools/list_changed") {
                continue; // announced once for everyone on the capability topic
            }
            out.push(Out::Publish { topic: topic.clone(), payload: note, retain: false });
        }
        if let Some(answer) = answer {
            out.push(Out::Publish { topic, payload: answer, retain: false });
        }
    }

    fn farewell(&self, client: &str) -> Vec<Out> {
        vec![
            Out::Publish {
                topic: self.rpc_topic(client),
                payload: jsonrpc::notification(DISCONNECTED, json!({})),
                retain: false,
            },
            Out::Unsubscribe(self.client_topics(client)),
        ]
    }

    fn drop_session(&mut self, client: &str) -> Vec<Out> {
        match self.sessions.iter().position(|(c, _)| c == client) {
            Some(at) => {
                self.sessions.remove(at);
                vec![Out::Unsubscribe(self.client_topics(client))]
            }
            None => Vec::new(),
        }
    }

    /// Between messages: `notifications/tools/list_changed` on the capability topic once
    /// the tool list changed (a tool installed by any transport).
    pub fn pending(&mut self) -> Vec<Out> {
        let now = self.registry.generation();
        if now == self.tools_seen {
            return Vec::new();
        }
        self.tools_seen = now;
        for (_, server) in &mut self.sessions {
            server.note_tool_changes();
            server.drain_outgoing();
        }
        vec![Out::Publish {
            topic: self.capability_topic(),
            payload: jsonrpc::notification("notifications/tools/list_changed", json!({})),
            retain: false,
        }]
    }
}

/// The `method` of a JSON-RPC message, if it is one (anything else has none).
/// Checked by the same framing rules as every message (size, UTF-8, depth) first.
fn method_of(payload: &[u8]) -> Option<String> {
    let text = crate::frame::check(payload, &crate::frame::Limits::default()).ok()?;
    let value: Value = serde_json::from_str(text).ok()?;
    value.get("method")?.as_str().map(String::from)
}
