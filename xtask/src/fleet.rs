//! `cargo xtask fleet --broker mqtt://HOST:PORT`: one MCP endpoint (stdio, for Claude
//! Desktop or any SDK; with `--http PORT` also Streamable HTTP with a bearer token) in front
//! of every board on an MQTT 5 broker.
//!
//! The gateway is an MCP-over-MQTT *client* of each board (EMQX's specification, the same
//! topics as `mcp::mqtt` serves): it watches `$mcp-server/presence/+/#`, initializes every
//! board that comes online on its control topic, lists its tools, and serves them to its
//! own MCP client as `<board>__<tool>` (`<board>` is the last level of the board's server
//! name, e.g. `shed` for `greenhouse/shed`). A call goes to that board's RPC topic and its
//! answer comes back as it is. Boards that join or leave (presence, or the broker clearing a
//! dead board's presence by its will) change the list with `notifications/tools/list_changed`.
//! Its own tools: `fleet_list` (board, kind, uptime, online) and `fleet_call` (one tool on
//! every online board, e.g. `memory_stats`).
//!
//! The MQTT side uses the kernel's own codec (`formats::mqtt`) over a blocking TCP stream;
//! it reconnects with backoff when the broker goes away.

use anyhow::{bail, Context, Result};
use formats::mqtt::{self as wire, Connect, Framer, Packet, Properties, Publish, SubscribeOptions, Will};
use mcp::mqtt::topic;
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap},
    io::{BufRead, Read, Write},
    net::TcpStream,
    sync::{
        atomic::{AtomicU16, AtomicU64, Ordering},
        mpsc, Arc, Condvar, Mutex,
    },
    time::{Duration, Instant},
};

/// One MCP endpoint in front of every board on an MQTT broker.
#[derive(clap::Args)]
pub struct Args {
    /// The broker: `mqtt://HOST:PORT`, `HOST:PORT` or `HOST` (port 1883).
    #[arg(long)]
    broker: String,
    /// The broker's user name.
    #[arg(long)]
    username: Option<String>,
    /// The broker's password.
    #[arg(long)]
    password: Option<String>,
    /// Only boards whose server name matches this MQTT filter (e.g. `greenhouse/#`).
    #[arg(long, default_value = "#")]
    filter: String,
    /// Also serve MCP over Streamable HTTP on 127.0.0.1:PORT/mcp.
    #[arg(long, value_name = "PORT")]
    http: Option<u16>,
    /// The bearer token HTTP clients must present (default: a fresh random one, printed).
    #[arg(long)]
    token: Option<String>,
}

/// How long a board has to answer a request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Keep-alive told to the broker (seconds).
const KEEP_ALIVE: u16 = 30;
/// Largest packet accepted from the broker.
const MAX_PACKET: u32 = 1 << 20;
/// Protocol versions the gateway speaks to its own client.
const VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Separates a board's name from its tool's in the gateway's tool names.
const SEPARATOR: &str = "__";

/// A board seen on the broker.
#[derive(Clone, Debug)]
struct Board {
    server_id: String,
    name: String,
    /// Its name in the gateway's tool names.
    short: String,
    online: bool,
    /// Initialized, with its tools listed.
    ready: bool,
    tools: Vec<Value>,
    /// From its presence message.
    description: String,
    kind: String,
}

#[derive(Default)]
struct State {
    boards: BTreeMap<String, Board>,
    /// Answers awaited: (server id, request id) → where to deliver.
    pending: HashMap<(String, u64), mpsc::Sender<Value>>,
    /// Bumped whenever the set of tools changes.
    generation: u64,
}

impl State {
    /// Boards online with their tools listed.
    fn ready(&self) -> usize {
        self.boards.values().filter(|b| b.online && b.ready).count()
    }
}

/// The connection to the broker and what the gateway knows.
pub struct Gateway {
    client_id: String,
    state: Mutex<State>,
    changed: Condvar,
    writer: Mutex<Option<TcpStream>>,
    next_packet: AtomicU16,
    next_request: AtomicU64,
    filter: String,
}

fn parse_broker(text: &str) -> Result<String> {
    let rest = text.strip_prefix("mqtt://").unwrap_or(text).trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        bail!("--broker: '{text}' is not mqtt://HOST:PORT");
    }
    Ok(if rest.contains(':') { rest.to_string() } else { format!("{rest}:{}", wire::PORT) })
}

impl Args {
    pub fn run(self) -> Result<()> {
        let gateway = Gateway::start(&self.broker, (self.username.clone(), self.password.clone()), &self.filter)?;
        if let Some(port) = self.http {
            let token = match self.token {
                Some(token) if token.len() >= 16 => token,
                Some(_) => bail!("--token must be at least 16 characters"),
                None => crate::qemu::random_token()?,
            };
            eprintln!("fleet: HTTP token {token}");
            serve_http(Arc::clone(&gateway), port, token)?;
        }
        serve_stdio(&gateway)
    }
}

impl Gateway {
    /// A gateway to `broker` (`mqtt://HOST:PORT`) for the boards whose server names match
    /// `filter`, connecting (and reconnecting) in the background.
    pub fn start(broker: &str, credentials: (Option<String>, Option<String>), filter: &str) -> Result<Arc<Gateway>> {
        let broker = parse_broker(broker)?;
        let mut id = [0u8; 6];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut id)?;
        let client_id = format!("kingly-fleet-{}", id.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let gateway = Arc::new(Gateway {
            client_id,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            writer: Mutex::new(None),
            next_packet: AtomicU16::new(1),
            next_request: AtomicU64::new(1),
            filter: filter.to_string(),
        });
        let background = Arc::clone(&gateway);
        std::thread::spawn(move || background.keep_connected(&broker, &credentials));
        Ok(gateway)
    }

    /// Boards online with their tools listed.
    pub fn ready(&self) -> usize {
        self.state.lock().unwrap().ready()
    }

    /// Waits until `count` boards are ready or `timeout` passes; whether they are.
    pub fn wait_ready(&self, count: usize, timeout: Duration) -> bool {
        let state = self.state.lock().unwrap();
        let (state, _) = self.changed.wait_timeout_while(state, timeout, |s| s.ready() < count).unwrap();
        state.ready() >= count
    }

    /// The tool list's generation once it differs from `seen`, or after `timeout` whatever
    /// it is (the caller compares).
    fn generation_after(&self, seen: u64, timeout: Duration) -> u64 {
        let state = self.state.lock().unwrap();
        self.changed.wait_timeout_while(state, timeout, |s| s.generation == seen).unwrap().0.generation
    }

    /// Calls `tool` on the board named `short` (as in its tool names): the board's result or
    /// its JSON-RPC error.
    pub fn call_on(&self, short: &str, tool: &str, arguments: Value) -> std::result::Result<Value, Value> {
        self.call(&format!("{short}{SEPARATOR}{tool}"), arguments)
    }

    /// Connects, serves the broker's packets until the connection ends, reconnects.
    fn keep_connected(self: &Arc<Self>, broker: &str, credentials: &(Option<String>, Option<String>)) {
        let mut backoff = Duration::from_millis(500);
        loop {
            match self.connect(broker, credentials) {
                Ok(stream) => {
                    backoff = Duration::from_millis(500);
                    eprintln!("fleet: connected to {broker} as {}", self.client_id);
                    let why = self.read_packets(stream);
                    eprintln!("fleet: connection to {broker} lost ({why}); reconnecting");
                }
                Err(why) => eprintln!("fleet: {broker}: {why:#}; retrying in {} ms", backoff.as_millis()),
            }
            *self.writer.lock().unwrap() = None;
            // Every board is unknown until its presence arrives again.
            {
                let mut state = self.state.lock().unwrap();
                state.boards.clear();
                state.pending.clear();
                state.generation += 1;
            }
            self.changed.notify_all();
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    fn connect(&self, broker: &str, (username, password): &(Option<String>, Option<String>)) -> Result<TcpStream> {
        let mut stream = TcpStream::connect(broker).with_context(|| format!("connecting to {broker}"))?;
        stream.set_nodelay(true)?;
        let connect = Connect {
            client_id: self.client_id.clone(),
            keep_alive: KEEP_ALIVE,
            clean_start: true,
            username: username.clone(),
            password: password.as_ref().map(|p| p.as_bytes().to_vec()),
            will: Some(Will {
                topic: topic::client_presence(&self.client_id),
                payload: br#"{"jsonrpc":"2.0","method":"notifications/disconnected"}"#.to_vec(),
                retain: false,
                properties: Properties::default(),
            }),
            properties: Properties {
                session_expiry: Some(0),
                maximum_packet_size: Some(MAX_PACKET),
                user: vec![
                    (mcp::mqtt::COMPONENT_TYPE.into(), "mcp-client".into()),
                    (mcp::mqtt::META.into(), r#"{"implementation":"kingly-fleet"}"#.into()),
                ],
                ..Properties::default()
            },
        };
        stream.write_all(&wire::connect(&connect).map_err(|e| anyhow::anyhow!("{e}"))?)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut framer = Framer::new(MAX_PACKET);
        let packet = loop {
            if let Some(bytes) = framer.next_packet().map_err(|e| anyhow::anyhow!("{e}"))? {
                break Packet::parse(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            let mut buffer = [0u8; 4096];
            let n = stream.read(&mut buffer).context("waiting for CONNACK")?;
            if n == 0 {
                bail!("the broker closed the connection before CONNACK");
            }
            framer.push(&buffer[..n]);
        };
        match packet {
            Packet::ConnAck { reason: 0, .. } => {}
            Packet::ConnAck { reason, .. } => bail!("the broker refused: {}", wire::connack_reason(reason)),
            other => bail!("the broker answered CONNECT with {other:?}"),
        }
        stream.set_read_timeout(Some(Duration::from_secs(u64::from(KEEP_ALIVE))))?;
        *self.writer.lock().unwrap() = Some(stream.try_clone()?);
        self.subscribe(&format!("{}+/{}", topic::PRESENCE_PREFIX, self.filter))?;
        Ok(stream)
    }

    fn send(&self, bytes: &[u8]) -> Result<()> {
        let mut writer = self.writer.lock().unwrap();
        let Some(stream) = writer.as_mut() else { bail!("not connected to the broker") };
        stream.write_all(bytes).context("writing to the broker")
    }

    fn subscribe(&self, filter: &str) -> Result<()> {
        let id = self.packet_id();
        let options = SubscribeOptions { qos: 1, no_local: true, retain_handling: 0 };
        self.send(&wire::subscribe(id, &[(filter, options)]).map_err(|e| anyhow::anyhow!("{e}"))?)
    }

    fn packet_id(&self) -> u16 {
        let id = self.next_packet.fetch_add(1, Ordering::Relaxed);
        if id == 0 {
            self.next_packet.fetch_add(1, Ordering::Relaxed)
        } else {
            id
        }
    }

    fn publish(&self, topic: &str, payload: &[u8]) -> Result<()> {
        let mut message = Publish::new(topic, payload);
        message.properties.user = vec![
            (mcp::mqtt::COMPONENT_TYPE.into(), "mcp-client".into()),
            (mcp::mqtt::CLIENT_ID.into(), self.client_id.clone()),
        ];
        self.send(&wire::publish(&message).map_err(|e| anyhow::anyhow!("{e}"))?)
    }

    /// Reads packets until the connection ends; returns why it ended.
    fn read_packets(self: &Arc<Self>, mut stream: TcpStream) -> String {
        let mut framer = Framer::new(MAX_PACKET);
        let mut last_ping = Instant::now();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            loop {
                match framer.next_packet() {
                    Ok(Some(bytes)) => match Packet::parse(&bytes) {
                        Ok(packet) => {
                            if let Err(why) = self.on_packet(packet) {
                                return format!("{why:#}");
                            }
                        }
                        Err(e) => return format!("a malformed packet: {e}"),
                    },
                    Ok(None) => break,
                    Err(e) => return format!("a broken stream: {e}"),
                }
            }
            if last_ping.elapsed() > Duration::from_secs(u64::from(KEEP_ALIVE / 2)) {
                if self.send(&wire::pingreq()).is_err() {
                    return "cannot write".into();
                }
                last_ping = Instant::now();
            }
            stream.set_read_timeout(Some(Duration::from_secs(u64::from(KEEP_ALIVE / 2)))).ok();
            match stream.read(&mut buffer) {
                Ok(0) => return "the broker closed the connection".into(),
                Ok(n) => framer.push(&buffer[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => return format!("{e}"),
            }
        }
    }

    fn on_packet(self: &Arc<Self>, packet: Packet) -> Result<()> {
        let Packet::Publish(message) = packet else {
            if let Packet::Disconnect { reason, .. } = packet {
                bail!("the broker disconnected us (reason {reason:#04x})");
            }
            return Ok(());
        };
        if let Some(id) = message.packet_id {
            self.send(&wire::puback(id))?;
        }
        if let Some(rest) = message.topic.strip_prefix(topic::PRESENCE_PREFIX) {
            let Some((server_id, name)) = rest.split_once('/') else { return Ok(()) };
            self.on_presence(server_id, name, &message.payload);
        } else if let Some(rest) = message.topic.strip_prefix(topic::CAPABILITY_PREFIX) {
            if let Some((server_id, _)) = rest.split_once('/') {
                let notification: Value = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
                if notification["method"] == "notifications/tools/list_changed" {
                    let gateway = Arc::clone(self);
                    let server_id = server_id.to_string();
                    std::thread::spawn(move || gateway.refresh_tools(&server_id));
                }
            }
        } else if let Some(rest) = message.topic.strip_prefix(&format!("{}{}/", topic::RPC_PREFIX, self.client_id)) {
            let Some((server_id, _)) = rest.split_once('/') else { return Ok(()) };
            let Ok(answer) = serde_json::from_slice::<Value>(&message.payload) else { return Ok(()) };
            if answer["method"] == mcp::mqtt::DISCONNECTED {
                self.set_offline(server_id);
                return Ok(());
            }
            if let Some(id) = answer.get("id").and_then(Value::as_u64) {
                if let Some(waiter) = self.state.lock().unwrap().pending.remove(&(server_id.to_string(), id)) {
                    let _ = waiter.send(answer);
                }
            }
        }
        Ok(())
    }

    fn on_presence(self: &Arc<Self>, server_id: &str, name: &str, payload: &[u8]) {
        if payload.is_empty() {
            self.set_offline(server_id);
            return;
        }
        let Ok(online) = serde_json::from_slice::<Value>(payload) else { return };
        if online["method"] != "notifications/server/online" {
            return;
        }
        let description = online["params"]["description"].as_str().unwrap_or_default().to_string();
        let kind = online["params"]["meta"]["board"].as_str().unwrap_or_default().to_string();
        {
            let mut state = self.state.lock().unwrap();
            if state.boards.get(server_id).is_some_and(|b| b.online) {
                return;
            }
            // A board that came back under a new id replaces its offline entry.
            state.boards.retain(|_, b| b.online || b.name != name);
            let last = name.rsplit('/').next().unwrap_or(name);
            let base: String =
                last.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
            let taken = |s: &str| state.boards.values().any(|b| b.short == s && b.online && b.server_id != server_id);
            let mut short = base.clone();
            let mut n = 2;
            while taken(&short) {
                short = format!("{base}-{n}");
                n += 1;
            }
            state.boards.insert(
                server_id.to_string(),
                Board {
                    server_id: server_id.to_string(),
                    name: name.to_string(),
                    short,
                    online: true,
                    ready: false,
                    tools: Vec::new(),
                    description,
                    kind,
                },
            );
        }
        let gateway = Arc::clone(self);
        let server_id = server_id.to_string();
        std::thread::spawn(move || {
            if let Err(why) = gateway.initialize(&server_id) {
                eprintln!("fleet: {server_id}: {why:#}");
            }
        });
    }

    fn set_offline(&self, server_id: &str) {
        let mut state = self.state.lock().unwrap();
        if let Some(board) = state.boards.get_mut(server_id) {
            if board.online {
                board.online = false;
                board.ready = false;
                board.tools.clear();
                state.generation += 1;
                eprintln!("fleet: {server_id} went offline");
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    /// The board's name, if the gateway knows it.
    fn name_of(&self, server_id: &str) -> Option<String> {
        self.state.lock().unwrap().boards.get(server_id).map(|b| b.name.clone())
    }

    /// Sends `method` to the board on `topic` and waits for its answer.
    fn request(&self, server_id: &str, topic: &str, method: &str, params: Value) -> Result<Value> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (send, receive) = mpsc::channel();
        self.state.lock().unwrap().pending.insert((server_id.to_string(), id), send);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.publish(topic, message.to_string().as_bytes())?;
        let answer = receive.recv_timeout(REQUEST_TIMEOUT);
        self.state.lock().unwrap().pending.remove(&(server_id.to_string(), id));
        answer.map_err(|_| anyhow::anyhow!("{server_id} did not answer {method} within {REQUEST_TIMEOUT:?}"))
    }

    fn initialize(&self, server_id: &str) -> Result<()> {
        let name = self.name_of(server_id).context("the board is gone")?;
        let (control, rpc) = (topic::control(server_id, &name), topic::rpc(&self.client_id, server_id, &name));
        self.subscribe(&rpc)?;
        self.subscribe(&topic::capability(server_id, &name))?;
        let params = json!({"protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": {"name": "kingly-fleet", "version": env!("CARGO_PKG_VERSION")}});
        let answer = self.request(server_id, &control, "initialize", params)?;
        if answer.get("result").is_none() {
            bail!("initialize failed: {answer}");
        }
        self.publish(&rpc, br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)?;
        self.refresh_tools(server_id);
        Ok(())
    }

    fn refresh_tools(&self, server_id: &str) {
        let Some(name) = self.name_of(server_id) else { return };
        let rpc = topic::rpc(&self.client_id, server_id, &name);
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            let Ok(page) = self.request(server_id, &rpc, "tools/list", params) else { return };
            let Some(list) = page["result"]["tools"].as_array() else { return };
            tools.extend(list.iter().cloned());
            match page["result"]["nextCursor"].as_str() {
                Some(next) if tools.len() < 10_000 => cursor = Some(next.to_string()),
                _ => break,
            }
        }
        let mut state = self.state.lock().unwrap();
        if let Some(board) = state.boards.get_mut(server_id).filter(|b| b.online) {
            board.tools = tools;
            board.ready = true;
            eprintln!("fleet: {} ({}) online with {} tools", board.name, board.short, board.tools.len());
            state.generation += 1;
        }
        drop(state);
        self.changed.notify_all();
    }

    /// The gateway's tool list: its own and every ready board's, namespaced.
    fn tools(&self) -> Vec<Value> {
        let mut out = vec![
            json!({"name": "fleet_list", "title": "Boards on the broker",
                   "description": "Every board the gateway has seen on the MQTT broker: its name, tool prefix, board kind, uptime and whether it is online.",
                   "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
                   "annotations": {"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": true}}),
            json!({"name": "fleet_call", "title": "One tool on every board",
                   "description": "Calls a read-only tool (e.g. memory_stats, system_info) on every online board that has it and returns each board's result.",
                   "inputSchema": {"type": "object", "properties": {
                       "tool": {"type": "string", "description": "the tool's name on the boards"},
                       "arguments": {"type": "object"}}, "required": ["tool"], "additionalProperties": false},
                   "annotations": {"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": true}}),
        ];
        let state = self.state.lock().unwrap();
        for board in state.boards.values().filter(|b| b.online && b.ready) {
            for tool in &board.tools {
                let mut tool = tool.clone();
                let Some(name) = tool["name"].as_str().map(String::from) else { continue };
                tool["name"] = json!(format!("{}{SEPARATOR}{name}", board.short));
                let description = tool["description"].as_str().unwrap_or_default().to_string();
                tool["description"] = json!(format!("[board {}] {description}", board.name));
                if let Some(title) = tool["title"].as_str().map(String::from) {
                    tool["title"] = json!(format!("{title} ({})", board.short));
                }
                out.push(tool);
            }
        }
        out
    }

    fn board_by_short(&self, short: &str) -> Option<Board> {
        self.state.lock().unwrap().boards.values().find(|b| b.short == short && b.online).cloned()
    }

    /// A `tools/call` of the gateway's client: the JSON-RPC `result` or `error`.
    fn call(&self, name: &str, arguments: Value) -> std::result::Result<Value, Value> {
        let text_result = |value: Value, is_error: bool| {
            json!({"content": [{"type": "text", "text": serde_json::to_string_pretty(&value).unwrap_or_default()}],
                   "structuredContent": value, "isError": is_error})
        };
        match name {
            "fleet_list" => {
                let boards: Vec<Board> = self.state.lock().unwrap().boards.values().cloned().collect();
                let mut list = Vec::new();
                for board in boards {
                    let uptime = if board.online && board.ready {
                        self.forward(&board, "system_info", json!({}))
                            .ok()
                            .and_then(|r| r["structuredContent"]["uptime_us"].as_u64())
                            .map(|us| us as f64 / 1e6)
                    } else {
                        None
                    };
                    list.push(json!({"board": board.short, "name": board.name, "server_id": board.server_id,
                                     "kind": board.kind, "description": board.description,
                                     "online": board.online, "uptime_s": uptime,
                                     "tools": board.tools.len()}));
                }
                Ok(text_result(json!({"boards": list}), false))
            }
            "fleet_call" => {
                let Some(tool) = arguments["tool"].as_str() else {
                    return Err(json!({"code": -32602, "message": "fleet_call needs 'tool'"}));
                };
                let args = arguments.get("arguments").cloned().unwrap_or(json!({}));
                let boards: Vec<Board> =
                    self.state.lock().unwrap().boards.values().filter(|b| b.online && b.ready).cloned().collect();
                let has = |b: &Board| b.tools.iter().any(|t| t["name"] == tool);
                let read_only =
                    |b: &Board| b.tools.iter().any(|t| t["name"] == tool && t["annotations"]["readOnlyHint"] == true);
                if !boards.iter().any(has) {
                    return Ok(text_result(json!({"error": format!("no online board has a tool '{tool}'")}), true));
                }
                if boards.iter().any(|b| has(b) && !read_only(b)) {
                    return Ok(text_result(
                        json!({"error": format!("{tool} changes the machine: call it on one board by name")}),
                        true,
                    ));
                }
                // Side by side: the slowest board bounds the call, not their sum.
                let results: BTreeMap<String, Value> = std::thread::scope(|scope| {
                    let running: Vec<_> = boards
                        .into_iter()
                        .filter(has)
                        .map(|board| {
                            let args = args.clone();
                            (board.short.clone(), scope.spawn(move || self.forward(&board, tool, args)))
                        })
                        .collect();
                    running
                        .into_iter()
                        .map(|(short, handle)| {
                            let value = match handle.join() {
                                Ok(Ok(result)) => result,
                                Ok(Err(error)) => json!({"error": error}),
                                Err(_) => json!({"error": "the call panicked"}),
                            };
                            (short, value)
                        })
                        .collect()
                });
                Ok(text_result(json!({"tool": tool, "boards": results}), false))
            }
            _ => {
                let Some((short, tool)) = name.split_once(SEPARATOR) else {
                    return Err(json!({"code": -32602, "message": format!("unknown tool '{name}'")}));
                };
                let Some(board) = self.board_by_short(short) else {
                    return Err(
                        json!({"code": -32602, "message": format!("no board '{short}' is online (fleet_list shows the boards)")}),
                    );
                };
                self.forward(&board, tool, arguments)
            }
        }
    }

    /// `tools/call` of `tool` on `board`: its result, or its JSON-RPC error.
    fn forward(&self, board: &Board, tool: &str, arguments: Value) -> std::result::Result<Value, Value> {
        let rpc = topic::rpc(&self.client_id, &board.server_id, &board.name);
        match self.request(&board.server_id, &rpc, "tools/call", json!({"name": tool, "arguments": arguments})) {
            Ok(answer) => match (answer.get("result"), answer.get("error")) {
                (Some(result), _) => Ok(result.clone()),
                (None, Some(error)) => Err(error.clone()),
                _ => Err(json!({"code": -32603, "message": "the board's answer has neither result nor error"})),
            },
            Err(why) => Err(json!({"code": -32603, "message": format!("{why:#}")})),
        }
    }
}

/// The notification that the gateway's tools changed.
fn list_changed() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
}

/// Answers one MCP message from the gateway's client (`None` for a notification).
/// `initialized` records `notifications/initialized` (list changes are sent only after it).
fn handle(gateway: &Gateway, message: &Value, initialized: &std::sync::atomic::AtomicBool) -> Option<Value> {
    let method = message["method"].as_str().unwrap_or_default();
    let Some(id) = message.get("id").cloned() else {
        if method == "notifications/initialized" {
            initialized.store(true, Ordering::Relaxed);
        }
        return None;
    };
    if !message.is_object() || message["jsonrpc"] != "2.0" || message["method"].as_str().is_none() {
        return Some(
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": "not a JSON-RPC 2.0 request"}}),
        );
    }
    let params = message.get("params").cloned().unwrap_or(json!({}));
    let result = match method {
        "initialize" => {
            let asked = params["protocolVersion"].as_str().unwrap_or_default();
            let version = VERSIONS.iter().find(|v| **v == asked).copied().unwrap_or(VERSIONS[1]);
            Ok(json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": true}},
                "serverInfo": {"name": "kingly-fleet", "title": "Kingly OS fleet", "version": env!("CARGO_PKG_VERSION")},
                "instructions": "Every Kingly OS board on the MQTT broker. Tools are named <board>__<tool>; fleet_list shows the boards, fleet_call runs a read-only tool on all of them."
            }))
        }
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": gateway.tools()})),
        "resources/list" => Ok(json!({"resources": []})),
        "prompts/list" => Ok(json!({"prompts": []})),
        "tools/call" => match params["name"].as_str() {
            Some(name) => gateway.call(name, params.get("arguments").cloned().unwrap_or(json!({}))),
            None => Err(json!({"code": -32602, "message": "tools/call needs a tool name"})),
        },
        other => Err(json!({"code": -32601, "message": format!("method not found: {other}")})),
    };
    Some(match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
    })
}

/// Serves MCP on stdin/stdout (one JSON-RPC message per line).
fn serve_stdio(gateway: &Arc<Gateway>) -> Result<()> {
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let write = {
        let out = Arc::clone(&out);
        move |message: &Value| {
            let mut out = out.lock().unwrap();
            let _ = writeln!(out, "{message}");
            let _ = out.flush();
        }
    };
    // Tool-list changes, once the client is initialized.
    let initialized = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let gateway = Arc::clone(gateway);
        let initialized = Arc::clone(&initialized);
        let write = write.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            loop {
                let now = gateway.generation_after(seen, Duration::from_secs(1));
                if now != seen && initialized.load(Ordering::Relaxed) {
                    seen = now;
                    write(&list_changed());
                }
            }
        });
    }
    eprintln!("fleet: serving MCP on stdin/stdout; close stdin to stop");
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(message) => message,
            Err(e) => {
                write(
                    &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("parse error: {e}")}}),
                );
                continue;
            }
        };
        // Calls run side by side: a slow board does not hold up the others.
        let gateway = Arc::clone(gateway);
        let write = write.clone();
        let initialized = Arc::clone(&initialized);
        let is_call = message["method"] == "tools/call";
        let run = move || {
            if let Some(answer) = handle(&gateway, &message, &initialized) {
                write(&answer);
            }
        };
        if is_call {
            std::thread::spawn(run);
        } else {
            run();
        }
    }
    Ok(())
}

/// Serves MCP over Streamable HTTP on 127.0.0.1:`port` at `/mcp` for clients presenting
/// `token`: JSON answers to POSTs, list changes on the client's GET event stream. One
/// thread per connection, requests checked by `mcp::http::parse`.
fn serve_http(gateway: Arc<Gateway>, port: u16, token: String) -> Result<()> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("binding 127.0.0.1:{port}"))?;
    eprintln!("fleet: MCP over HTTP on http://127.0.0.1:{port}{} (Authorization: Bearer <token>)", mcp::http::PATH);
    let token = Arc::new(token);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let gateway = Arc::clone(&gateway);
            let token = Arc::clone(&token);
            std::thread::spawn(move || http_connection(&gateway, stream, &token));
        }
    });
    Ok(())
}

fn http_connection(gateway: &Gateway, mut stream: TcpStream, token: &str) {
    use mcp::http::{parse, HttpLimits, Parse, Response};
    let limits = HttpLimits::default();
    let initialized = std::sync::atomic::AtomicBool::new(false);
    let mut buffer = Vec::new();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let (request, used) = loop {
            match parse(&buffer, &limits) {
                Parse::Complete(request, used) => break (request, used),
                Parse::Reject(response) => {
                    let _ = stream.write_all(&response.to_bytes());
                    return;
                }
                Parse::Incomplete => match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                },
            }
        };
        buffer.drain(..used);
        let presented = request.header("authorization").and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
        // Same length and every byte compared: the time taken says nothing about the token.
        let authorized = presented.len() == token.len()
            && presented.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        let local_origin = request.header("origin").is_none_or(|o| {
            o.starts_with("http://127.0.0.1") || o.starts_with("http://localhost") || o.starts_with("http://[::1]")
        });
        let response = if request.path != mcp::http::PATH {
            Response::error(404, "not found: the endpoint is /mcp")
        } else if !local_origin {
            Response::error(403, "this Origin may not use the endpoint")
        } else if !authorized {
            let mut response = Response::error(401, "a bearer token is required");
            response.headers.push(("WWW-Authenticate", "Bearer".into()));
            response
        } else if request.method == "DELETE" {
            Response::empty(200)
        } else if request.method == "GET" && request.header("accept").is_some_and(|a| a.contains("text/event-stream")) {
            // The client's stream for what the server sends unasked: list changes.
            event_stream(gateway, stream);
            return;
        } else if request.method != "POST" {
            let mut response = Response::error(405, "POST JSON-RPC messages to /mcp, or GET its event stream");
            response.headers.push(("Allow", "GET, POST, DELETE".into()));
            response
        } else {
            match serde_json::from_slice::<Value>(&request.body) {
                Err(e) => Response::json(
                    400,
                    json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("parse error: {e}")}})
                        .to_string(),
                ),
                Ok(message) => match handle(gateway, &message, &initialized) {
                    Some(answer) => {
                        let mut response = Response::json(200, answer.to_string());
                        if message["method"] == "initialize" {
                            // Sessions hold no state here; the id lets clients open their stream.
                            let id = gateway.next_request.fetch_add(1, Ordering::Relaxed);
                            response.headers.push(("Mcp-Session-Id", format!("{}-{id}", gateway.client_id)));
                        }
                        response
                    }
                    None => Response::empty(202),
                },
            }
        };
        if stream.write_all(&response.to_bytes()).is_err() || response.close || request.wants_close() {
            return;
        }
    }
}

/// Sends `notifications/tools/list_changed` on `stream` (server-sent events) whenever the
/// boards' tools change, until the client goes away.
fn event_stream(gateway: &Gateway, mut stream: TcpStream) {
    let head = String::from_utf8_lossy(&mcp::http::event_stream_head(None))
        .replace("Connection: close", "Connection: keep-alive");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut seen = gateway.state.lock().unwrap().generation;
    let mut quiet_since = Instant::now();
    loop {
        let now = gateway.generation_after(seen, Duration::from_secs(1));
        let written = if now != seen {
            seen = now;
            quiet_since = Instant::now();
            stream.write_all(&mcp::http::event(&list_changed().to_string()))
        } else if quiet_since.elapsed() > Duration::from_secs(15) {
            // A comment line: finds a client that has gone.
            quiet_since = Instant::now();
            stream.write_all(b": keep-alive\n\n")
        } else {
            Ok(())
        };
        if written.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(parse_broker("mqtt://127.0.0.1:1884").unwrap(), "127.0.0.1:1884");
        assert_eq!(parse_broker("broker.lan").unwrap(), "broker.lan:1883");
        assert!(parse_broker("mqtt://a/b").is_err() && parse_broker("").is_err());
    }
}
