//! MCP over MQTT's rules (topics, sessions, roles) through `mcp::mqtt::Binding`, without a
//! broker: the kernel's QEMU test (`tests/24_fleet.rs`) runs the same code against Mosquitto.

use mcp::mqtt::{Binding, Out, MAX_CLIENTS};
use mcp::server::Role;
use mcp::{json, Annotations, Registry, ServerInfo, Tool, ToolOutput, Value};
use std::sync::Arc;

fn registry() -> Arc<Registry> {
    let mut registry = Registry::new(ServerInfo {
        name: "kingly".into(),
        title: "Kingly OS".into(),
        version: "0.1.0".into(),
        instructions: "test".into(),
    });
    registry
        .add_tool(
            Tool::new("echo", |_, args| Ok(ToolOutput::new(json!({"said": args.get("text").cloned()}))))
                .annotations(Annotations::READ_ONLY)
                .input_schema(json!({"type": "object", "properties": {"text": {"type": "string"}}})),
        )
        .unwrap();
    registry
        .add_tool(Tool::new("switch", |_, _| Ok(ToolOutput::new(json!({})))).annotations(Annotations::MUTATING))
        .unwrap();
    Arc::new(registry)
}

fn binding(role: Role) -> Binding {
    Binding::new(registry(), "board-1", "kingly/shed", "the shed", role).unwrap()
}

fn initialize(id: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
    .unwrap()
}

fn request(id: u64, method: &str, params: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).unwrap()
}

/// The JSON payloads published on `topic`.
fn published(out: &[Out], on: &str) -> Vec<Value> {
    out.iter()
        .filter_map(|o| match o {
            Out::Publish { topic, payload, .. } if topic == on => Some(serde_json::from_str(payload).unwrap()),
            _ => None,
        })
        .collect()
}

/// Initializes client `client` and checks the subscriptions come before the answer.
fn connect(b: &mut Binding, client: &str) {
    let (out, _) = b.handle("$mcp-server/board-1/kingly/shed", &initialize(1), Some(client), None);
    let rpc = format!("$mcp-rpc/{client}/board-1/kingly/shed");
    assert_eq!(
        out[0],
        Out::Subscribe(vec![
            rpc.clone(),
            format!("$mcp-client/presence/{client}"),
            format!("$mcp-client/capability/{client}")
        ])
    );
    let answers = published(&out, &rpc);
    assert_eq!(answers.len(), 1, "{out:?}");
    assert_eq!(answers[0]["result"]["serverInfo"]["name"], "kingly");
    let (out, _) = b.handle(&rpc, br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, Some(client), None);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn topics_follow_the_specification() {
    let mut b = binding(Role::Read);
    b.set_meta("board", json!("virt"));
    assert_eq!(b.control_topic(), "$mcp-server/board-1/kingly/shed");
    assert_eq!(b.presence_topic(), "$mcp-server/presence/board-1/kingly/shed");
    assert_eq!(b.capability_topic(), "$mcp-server/capability/board-1/kingly/shed");
    assert_eq!(b.rpc_topic("c"), "$mcp-rpc/c/board-1/kingly/shed");
    let online: Value = serde_json::from_str(&b.online()).unwrap();
    assert_eq!(online["method"], "notifications/server/online");
    assert_eq!(online["params"]["server_name"], "kingly/shed");
    assert_eq!(
        (online["params"]["meta"]["board"].as_str(), online["params"]["meta"]["role"].as_str()),
        (Some("virt"), Some("read"))
    );
    assert!(online.get("id").is_none(), "presence is a notification");
    // Ids and names that would be wildcards or extra levels are refused.
    for (id, name) in
        [("a/b", "kingly/x"), ("a+", "kingly/x"), ("", "kingly/x"), ("a", "kingly/#"), ("a", "/x"), ("a", "x//y")]
    {
        assert!(Binding::new(registry(), id, name, "", Role::Read).is_err(), "{id} {name}");
    }
}

#[test]
fn a_client_initializes_on_the_control_topic_and_calls_on_its_rpc_topic() {
    let mut b = binding(Role::Read);
    connect(&mut b, "client-a");
    let rpc = "$mcp-rpc/client-a/board-1/kingly/shed";
    let (out, handled) =
        b.handle(rpc, &request(2, "tools/call", json!({"name": "echo", "arguments": {"text": "hi"}})), None, None);
    let answer = &published(&out, rpc)[0];
    assert_eq!(answer["id"], 2);
    assert!(answer["result"].to_string().contains(r#"\"said\":\"hi\""#), "{answer}");
    assert_eq!(handled.map(|h| (h.client, h.failed)), Some(("client-a".into(), Some(false))));
    // The settings' role holds for every MQTT session: read cannot switch.
    let (out, _) = b.handle(rpc, &request(3, "tools/call", json!({"name": "switch", "arguments": {}})), None, None);
    let answer = &published(&out, rpc)[0];
    assert!(answer.to_string().contains("control role"), "{answer}");
    let mut b = binding(Role::Control);
    connect(&mut b, "client-a");
    let (out, _) = b.handle(rpc, &request(3, "tools/call", json!({"name": "switch", "arguments": {}})), None, None);
    assert_eq!(published(&out, rpc)[0]["result"]["isError"], false);
}

#[test]
fn messages_for_another_server_or_without_a_sender_are_not_handled() {
    let mut b = binding(Role::Control);
    connect(&mut b, "c");
    let call = request(2, "tools/call", json!({"name": "echo", "arguments": {}}));
    for topic in [
        "$mcp-rpc/c/board-2/kingly/shed",
        "$mcp-rpc/c/board-1/kingly/barn",
        "$mcp-rpc/other/board-1/kingly/shed",
        "$mcp-server/board-2/kingly/shed",
        "kingly/shed",
    ] {
        assert_eq!(b.handle(topic, &call, Some("c"), None).0, vec![], "{topic}");
    }
    // An initialize without a valid sender id has nowhere to be answered.
    for sender in [None, Some(""), Some("a/b"), Some("#")] {
        assert!(b.handle(&b.control_topic(), &initialize(1), sender, None).0.is_empty(), "{sender:?}");
    }
    // Only initialize opens a session.
    assert!(b.handle(&b.control_topic(), &call, Some("d"), None).0.is_empty());
    assert_eq!(b.clients(), vec!["c"]);
}

#[test]
fn a_client_that_goes_away_loses_its_session() {
    let mut b = binding(Role::Read);
    connect(&mut b, "c");
    let gone = br#"{"jsonrpc":"2.0","method":"notifications/disconnected"}"#;
    let (out, _) = b.handle("$mcp-client/presence/c", gone, None, None);
    assert!(matches!(&out[..], [Out::Unsubscribe(topics)] if topics.len() == 3), "{out:?}");
    assert!(b.clients().is_empty());
    let call = request(2, "tools/list", json!({}));
    assert!(b.handle("$mcp-rpc/c/board-1/kingly/shed", &call, None, None).0.is_empty());
    // Reconnecting subscribes only to the control topic and the held sessions.
    connect(&mut b, "d");
    assert_eq!(b.subscriptions().len(), 4);
    // The same notification on the RPC topic de-initializes too.
    b.handle("$mcp-rpc/d/board-1/kingly/shed", gone, None, None);
    assert_eq!(b.subscriptions(), vec![b.control_topic()]);
}

#[test]
fn sessions_are_bounded_and_the_oldest_is_told() {
    let mut b = binding(Role::Read);
    for i in 0..MAX_CLIENTS {
        connect(&mut b, &format!("c{i}"));
    }
    let (out, _) = b.handle(&b.control_topic(), &initialize(1), Some("late"), None);
    let farewell = published(&out, "$mcp-rpc/c0/board-1/kingly/shed");
    assert_eq!(farewell[0]["method"], "notifications/disconnected");
    assert_eq!(b.clients().len(), MAX_CLIENTS);
    assert!(!b.clients().contains(&"c0") && b.clients().contains(&"late"));
}

#[test]
fn an_installed_tool_is_announced_on_the_capability_topic() {
    let registry = registry();
    let mut b = Binding::new(Arc::clone(&registry), "board-1", "kingly/shed", "", Role::Read).unwrap();
    connect(&mut b, "c");
    assert!(b.pending().is_empty());
    registry.install(Tool::new("added", |_, _| Ok(ToolOutput::new(json!({})))), false).unwrap();
    let out = b.pending();
    assert_eq!(
        published(&out, "$mcp-server/capability/board-1/kingly/shed")[0]["method"],
        "notifications/tools/list_changed"
    );
    assert!(b.pending().is_empty(), "announced once");
    // The session's next answer does not repeat it on the RPC topic.
    let (out, _) = b.handle("$mcp-rpc/c/board-1/kingly/shed", &request(5, "ping", json!({})), None, None);
    assert_eq!(out.len(), 1, "{out:?}");
}

#[test]
fn mutated_messages_never_panic() {
    let mut rng = testkit::Rng::new(0x6d63_706d);
    let mut b = binding(Role::Control);
    let topics = [
        "$mcp-server/board-1/kingly/shed",
        "$mcp-rpc/c/board-1/kingly/shed",
        "$mcp-client/presence/c",
        "$mcp-client/capability/c",
    ];
    let seeds = [initialize(1), request(2, "tools/call", json!({"name": "echo", "arguments": {"text": "x"}}))];
    for round in 0..3_000 {
        let mut payload = seeds[round % 2].clone();
        rng.mutate(&mut payload, 0);
        let topic = *rng.pick(&topics).unwrap();
        let sender = if rng.chance(1, 2) { Some("c") } else { None };
        let _ = b.handle(topic, &payload, sender, None);
    }
}
