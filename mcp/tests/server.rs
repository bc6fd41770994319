//! The server end to end through `handle_message`: every method, every error, limits.

use mcp::{json, Annotations, Prompt, Resource, Server, ServerInfo, Tool, ToolOutput, Value};

fn server() -> Server {
    let mut server = Server::new(ServerInfo {
        name: "kingly".into(),
        title: "Kingly OS".into(),
        version: "0.1.0".into(),
        instructions: "test".into(),
    });
    server
        .add_tool(
            Tool::new("add", |_, args| {
                let a = args["a"].as_i64().unwrap_or(0);
                let b = args.get("b").and_then(Value::as_i64).unwrap_or(0);
                Ok(ToolOutput::new(json!({"sum": a + b})))
            })
            .title("Add")
            .description("Adds two integers.")
            .input_schema(json!({
                "type": "object",
                "properties": {"a": {"type": "integer", "maximum": 4096}, "b": {"type": "integer"}},
                "required": ["a"],
                "additionalProperties": false
            }))
            .output_schema(json!({"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]})),
        )
        .unwrap();
    server
        .add_tool(
            Tool::new("fail", |_, _| Err("the device is busy".into())).title("Fail").annotations(Annotations::MUTATING),
        )
        .unwrap();
    server
        .add_tool(Tool::new("slow", |ctx, _| {
            for step in 0..10 {
                if ctx.is_cancelled() {
                    return Err(format!("cancelled after {step} steps").into());
                }
                ctx.progress(step as f64, Some(10.0), Some("working"));
            }
            Ok(ToolOutput::with_text(json!({"steps": 10}), "done"))
        }))
        .unwrap();
    server
        .add_resource(
            Resource::new("kernel://log", "log", |_, _| Ok("line one\nline two\n".into())).title("Kernel log"),
        )
        .unwrap();
    server
        .add_resource(Resource::template("kernel://log/{lines}", "log-tail", |_, vars| {
            let n: usize = vars["lines"].as_str().unwrap_or("").parse().map_err(|_| "lines must be a number")?;
            Ok("x\n".repeat(n))
        }))
        .unwrap();
    server
        .add_prompt(
            Prompt::new("diagnose", |args| {
                Ok(vec![(
                    "user".into(),
                    format!("Diagnose {}", args.get("topic").and_then(Value::as_str).unwrap_or("")),
                )])
            })
            .argument("topic", "what to look at", true),
        )
        .unwrap();
    server
}

fn call(server: &mut Server, message: Value) -> Value {
    let line = server.handle_message(message.to_string().as_bytes()).expect("a response");
    assert!(!line.contains('\n'), "response must be one line: {line}");
    serde_json::from_str(&line).expect("response is JSON")
}

fn init(server: &mut Server, version: &str) -> Value {
    call(
        server,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    )
}

fn error_code(response: &Value) -> i64 {
    response["error"]["code"].as_i64().unwrap_or_else(|| panic!("not an error: {response}"))
}

#[test]
fn version_negotiation() {
    let mut s = server();
    for version in ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] {
        assert_eq!(init(&mut s, version)["result"]["protocolVersion"], version);
    }
    assert_eq!(init(&mut s, "1999-01-01")["result"]["protocolVersion"], "2025-11-25");
    let r = init(&mut s, "2025-11-25");
    assert_eq!(r["result"]["serverInfo"]["name"], "kingly");
    assert!(r["result"]["capabilities"]["tools"].is_object());
    let bad = call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}));
    assert_eq!(error_code(&bad), -32602);
}

#[test]
fn notifications_get_no_response() {
    let mut s = server();
    init(&mut s, "2025-11-25");
    assert_eq!(s.handle_message(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#), None);
    assert_eq!(
        s.handle_message(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}"#),
        None
    );
    assert_eq!(s.handle_message(br#"{"jsonrpc":"2.0","method":"no/such/notification"}"#), None);
    assert_eq!(s.handle_message(br#"{"jsonrpc":"2.0","id":9,"result":{}}"#), None);
}

#[test]
fn ping_and_unknown_methods() {
    let mut s = server();
    let pong = call(&mut s, json!({"jsonrpc": "2.0", "id": "p", "method": "ping"}));
    assert_eq!(pong, json!({"jsonrpc": "2.0", "id": "p", "result": {}}));
    for method in ["server/discover", "tools/delete", ""] {
        let r = call(&mut s, json!({"jsonrpc": "2.0", "id": 0, "method": method}));
        assert_eq!(error_code(&r), -32601, "{method}");
        assert_eq!(r["id"], 0, "id 0 is a real id");
    }
}

#[test]
fn tools_list_and_call() {
    let mut s = server();
    init(&mut s, "2025-11-25");
    let list = call(&mut s, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let tools = list["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 3);
    assert_eq!(tools[0]["name"], "add");
    assert_eq!(tools[0]["annotations"]["readOnlyHint"], true);
    assert_eq!(tools[1]["annotations"]["destructiveHint"], false);
    assert!(tools[0]["outputSchema"].is_object());

    let r = call(
        &mut s,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}),
    );
    assert_eq!(r["result"]["structuredContent"], json!({"sum": 5}));
    assert_eq!(r["result"]["content"][0]["text"], "{\"sum\":5}");
    assert_eq!(r["result"]["isError"], false);

    // JSON Schema counts 2.0 as an integer: the handler, reading as_i64(), must see 2.
    let r = call(
        &mut s,
        json!({"jsonrpc": "2.0", "id": 30, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2.0, "b": 3e0}}}),
    );
    assert_eq!(r["result"]["structuredContent"], json!({"sum": 5}), "{r}");
    assert_eq!(s.call_tool("add", &json!({"a": -2.0})).unwrap().structured, json!({"sum": -2}));

    let r = call(
        &mut s,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 5000}}}),
    );
    assert_eq!(error_code(&r), -32602);
    assert!(r["error"]["message"].as_str().unwrap().contains("'a' must be ≤ 4096"), "{r}");
    let r = call(
        &mut s,
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "add", "arguments": {"b": 1}}}),
    );
    assert!(r["error"]["message"].as_str().unwrap().contains("'a' is required"), "{r}");
    let r = call(&mut s, json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "nope"}}));
    assert_eq!(error_code(&r), -32602);
    assert!(r["error"]["message"].as_str().unwrap().contains("Unknown tool: nope"));
    let r = call(&mut s, json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "fail"}}));
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(r["result"]["content"][0]["text"], "the device is busy");
    let r = call(&mut s, json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {}}));
    assert_eq!(error_code(&r), -32602);
}

#[test]
fn typed_call_path_validates_too() {
    let s = server();
    assert_eq!(s.call_tool("add", &json!({"a": 1, "b": 2})).unwrap().structured, json!({"sum": 3}));
    assert!(matches!(s.call_tool("add", &json!({"a": "x"})), Err(mcp::CallError::InvalidArguments(_))));
    assert!(matches!(s.call_tool("zzz", &json!({})), Err(mcp::CallError::UnknownTool(_))));
    assert_eq!(s.call_tool("fail", &json!({})), Err(mcp::CallError::Failed("the device is busy".into())));
}

#[test]
fn progress_and_cancellation() {
    let mut s = server();
    init(&mut s, "2025-11-25");
    let msg = json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "slow", "_meta": {"progressToken": "tok"}}});
    let r = call(&mut s, msg.clone());
    assert_eq!(r["result"]["isError"], false);
    let notes = s.drain_outgoing();
    assert_eq!(notes.len(), 10);
    let first: Value = serde_json::from_str(&notes[0]).unwrap();
    assert_eq!(first["method"], "notifications/progress");
    assert_eq!(first["params"]["progressToken"], "tok");
    assert_eq!(first["params"]["total"], 10.0);
    // Without a token, no progress.
    call(&mut s, json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "slow"}}));
    assert!(s.drain_outgoing().is_empty());
    // The transport's hook reports a cancel after three polls.
    let mut polls = 0;
    let mut hook = || {
        polls += 1;
        polls > 3
    };
    let line = s.handle_message_with(msg.to_string().as_bytes(), Some(&mut hook)).unwrap();
    let r: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(r["result"]["content"][0]["text"], "cancelled after 3 steps");
    // A streaming transport gets progress while the tool runs, not after.
    s.drain_outgoing();
    let mut streamed = Vec::new();
    let mut sink = |line: &str| streamed.push(line.to_string());
    let line = s.handle_message_streaming(msg.to_string().as_bytes(), None, Some(&mut sink)).unwrap();
    assert_eq!(streamed.len(), 10);
    assert!(s.drain_outgoing().is_empty());
    assert!(line.contains("\"isError\":false") && line.contains("done"), "{line}");
}

#[test]
fn resources_templates_and_prompts() {
    let mut s = server();
    init(&mut s, "2025-11-25");
    let list = call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "resources/list"}));
    assert_eq!(list["result"]["resources"][0]["uri"], "kernel://log");
    let templates = call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "resources/templates/list"}));
    assert_eq!(templates["result"]["resourceTemplates"][0]["uriTemplate"], "kernel://log/{lines}");
    let r =
        call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "kernel://log"}}));
    assert_eq!(r["result"]["contents"][0]["text"], "line one\nline two\n");
    let r = call(
        &mut s,
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "kernel://log/3"}}),
    );
    assert_eq!(r["result"]["contents"][0]["text"], "x\nx\nx\n");
    let r = call(
        &mut s,
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "kernel://nothing"}}),
    );
    assert_eq!(error_code(&r), -32002);
    let r = call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {}}));
    assert_eq!(error_code(&r), -32602);
    let r = call(
        &mut s,
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "kernel://log/abc"}}),
    );
    assert_eq!(error_code(&r), -32603);

    let r = call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/list"}));
    assert_eq!(r["result"]["prompts"][0]["arguments"][0]["required"], true);
    let r = call(
        &mut s,
        json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"name": "diagnose", "arguments": {"topic": "boot"}}}),
    );
    assert_eq!(r["result"]["messages"][0]["content"]["text"], "Diagnose boot");
    let r = call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"name": "diagnose"}}));
    assert_eq!(error_code(&r), -32602);
    let r = call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"name": "other"}}));
    assert_eq!(error_code(&r), -32602);
    let r = call(
        &mut s,
        json!({"jsonrpc": "2.0", "id": 1, "method": "completion/complete",
        "params": {"ref": {"type": "ref/prompt", "name": "diagnose"}, "argument": {"name": "topic", "value": "b"}}}),
    );
    assert_eq!(r["result"]["completion"]["values"], json!([]));
}

#[test]
fn pagination() {
    let mut s = server();
    s.set_page_size(2);
    let first = call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert_eq!(first["result"]["tools"].as_array().unwrap().len(), 2);
    let cursor = first["result"]["nextCursor"].as_str().unwrap().to_string();
    let second = call(&mut s, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"cursor": cursor}}));
    assert_eq!(second["result"]["tools"].as_array().unwrap().len(), 1);
    assert!(second["result"].get("nextCursor").is_none());
    for bad in [json!("garbage"), json!("page:99"), json!(7)] {
        let r = call(&mut s, json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"cursor": bad}}));
        assert_eq!(error_code(&r), -32602, "{bad}");
    }
}

#[test]
fn logging_levels() {
    let mut s = server();
    s.log("error", "kernel", "before any session");
    assert!(s.drain_outgoing().is_empty(), "no session, no log notifications");
    init(&mut s, "2025-11-25");
    s.log("debug", "kernel", "hidden at the default level");
    s.log("info", "kernel", "shown");
    assert_eq!(s.drain_outgoing().len(), 1);
    let r =
        call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "error"}}));
    assert_eq!(r["result"], json!({}));
    s.log("warning", "kernel", "hidden");
    s.log("critical", "kernel", "shown");
    let notes = s.drain_outgoing();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("\"level\":\"critical\""));
    let r = call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "loud"}}));
    assert_eq!(error_code(&r), -32602);
    // A fresh initialize resets the level.
    init(&mut s, "2025-11-25");
    s.log("info", "kernel", "shown again");
    assert_eq!(s.drain_outgoing().len(), 1);
}

#[test]
fn malformed_input_gets_errors_and_the_server_keeps_serving() {
    let mut s = server();
    let cases: Vec<(Vec<u8>, i64)> = vec![
        (b"not json".to_vec(), -32700),
        (b"{\"jsonrpc\":".to_vec(), -32700),
        (b"{\"a\":\"\xff\xfe\"}".to_vec(), -32700),
        (b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]".to_vec(), -32600),
        (format!("{}{}", "[".repeat(65), "]".repeat(65)).into_bytes(), -32600),
        (format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(), -32600),
        (
            format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"pad\":\"{}\"}}", "x".repeat(70_000))
                .into_bytes(),
            -32600,
        ),
        (b"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}".to_vec(), -32600),
        (b"{\"id\":1,\"method\":\"ping\"}".to_vec(), -32600),
        (b"42".to_vec(), -32700),
        (b"".to_vec(), -32700),
    ];
    for (bytes, code) in cases {
        let line = s.handle_message(&bytes).expect("an error response");
        let r: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(error_code(&r), code, "{}", String::from_utf8_lossy(&bytes[..bytes.len().min(60)]));
        let pong = call(&mut s, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
        assert_eq!(pong["result"], json!({}));
    }
}

/// Deterministic fuzzing: mutated valid messages never panic, and every answer is one line
/// of valid JSON-RPC.
#[test]
fn fuzz_mutated_messages() {
    let seeds: Vec<Vec<u8>> = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "f", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}),
        json!({"jsonrpc": "2.0", "id": "x", "method": "resources/read", "params": {"uri": "kernel://log/2"}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"cursor": "page:1"}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "prompts/get", "params": {"name": "diagnose", "arguments": {"topic": "x"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}}),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect();
    let mut s = server();
    let mut rng = testkit::Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut next = || rng.next_u64();
    let runs = 40_000;
    for _ in 0..runs {
        let mut message = seeds[(next() % seeds.len() as u64) as usize].clone();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % (message.len() + 1);
            match next() % 6 {
                0 => message.truncate(at),
                1 if at < message.len() => message[at] = next() as u8,
                2 => message.insert(at, b"{[\"]}:,\\"[(next() % 8) as usize]),
                3 if at < message.len() => {
                    message.remove(at);
                }
                4 => {
                    let chunk: Vec<u8> = message[at..].to_vec();
                    message.extend_from_slice(&chunk);
                }
                _ => message.insert(at, b'0' + (next() % 10) as u8),
            }
        }
        if let Some(line) = s.handle_message(&message) {
            assert!(!line.contains('\n'));
            let r: Value = serde_json::from_str(&line).expect("valid JSON out");
            assert_eq!(r["jsonrpc"], "2.0");
            assert!(r.get("result").is_some() ^ r.get("error").is_some());
        }
        s.drain_outgoing();
    }
}

#[test]
fn registration_rules() {
    let mut s = server();
    assert!(s.add_tool(Tool::new("bad.name", |_, _| Ok(ToolOutput::new(json!({}))))).is_err());
    assert!(s.add_tool(Tool::new(&"x".repeat(65), |_, _| Ok(ToolOutput::new(json!({}))))).is_err());
    assert!(s.add_tool(Tool::new("add", |_, _| Ok(ToolOutput::new(json!({}))))).is_err());
    let broken = Tool::new("broken", |_, _| Ok(ToolOutput::new(json!({})))).input_schema_text("{\"type\":");
    assert!(matches!(s.add_tool(broken), Err(mcp::server::RegisterError::InvalidSchema(..))));
    let text = Tool::new("text", |_, _| Ok(ToolOutput::new(json!({}))))
        .input_schema_text(r#"{"type":"object","properties":{"n":{"type":"integer"}}}"#);
    s.add_tool(text).unwrap();
    assert!(matches!(s.call_tool("text", &json!({"n": "x"})), Err(mcp::CallError::InvalidArguments(_))));
}

#[test]
fn sessions_share_the_registry_and_keep_their_own_state() {
    let mut serial = server();
    serial
        .add_tool(Tool::new("secret", |_, _| Ok(ToolOutput::new(json!({"token": "t0p"})))).title("Secret").local_only())
        .unwrap();
    let mut remote = serial.new_session();
    remote.set_remote(true);
    assert!(std::sync::Arc::ptr_eq(serial.registry(), remote.registry()));

    // Each session negotiates on its own.
    init(&mut serial, "2024-11-05");
    init(&mut remote, "2025-11-25");
    assert_eq!(serial.protocol_version(), Some("2024-11-05"));
    assert_eq!(remote.protocol_version(), Some("2025-11-25"));

    // The same tools run in both; local-only ones are invisible remotely.
    let sum = call(
        &mut remote,
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}),
    );
    assert_eq!(sum["result"]["structuredContent"]["sum"], 5);
    let listed = call(&mut remote, json!({"jsonrpc":"2.0","id":3,"method":"tools/list"}));
    let names: Vec<&str> =
        listed["result"]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"add") && !names.contains(&"secret"), "{names:?}");
    let hidden = call(&mut remote, json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"secret"}}));
    assert_eq!(error_code(&hidden), -32602);
    assert!(hidden["error"]["message"].as_str().unwrap().contains("Unknown tool"), "{hidden}");
    let local = call(&mut serial, json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"secret"}}));
    assert!(local["result"]["content"][0]["text"].as_str().unwrap().contains("t0p"), "{local}");

    // Once shared, the registry is frozen.
    let late = serial.add_tool(Tool::new("late", |_, _| Ok(ToolOutput::new(json!({})))));
    assert!(matches!(late, Err(mcp::server::RegisterError::Frozen(_))), "{late:?}");
    drop(remote);
    serial.add_tool(Tool::new("late", |_, _| Ok(ToolOutput::new(json!({}))))).unwrap();
}

#[test]
fn a_fork_serves_the_same_session_while_the_original_is_busy() {
    let mut serial = server();
    // Before initialize, a fork is uninitialized too.
    let early = serial.fork();
    assert_eq!(early.protocol_version(), None);
    drop(early);
    init(&mut serial, "2024-11-05");
    let mut fork = serial.fork();
    assert_eq!(fork.protocol_version(), Some("2024-11-05"));
    assert!(std::sync::Arc::ptr_eq(serial.registry(), fork.registry()));
    let sum = call(
        &mut fork,
        json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":5}}}),
    );
    assert_eq!(sum["result"]["structuredContent"]["sum"], 7, "{sum}");
    // The fork's own notifications stay in its queue.
    fork.log("error", "t", "only in the fork");
    assert!(serial.drain_outgoing().is_empty());
    assert_eq!(fork.drain_outgoing().len(), 1);
}

/// A destructive tool runs only when confirmed: by the client's user through elicitation
/// when the client declared it and the transport can carry the question, otherwise by
/// `"confirm": true` in the arguments.
#[test]
fn destructive_calls_are_confirmed_by_elicitation_or_the_confirm_argument() {
    use std::{cell::RefCell, rc::Rc, sync::atomic::AtomicUsize, sync::atomic::Ordering, sync::Arc};
    let runs = Arc::new(AtomicUsize::new(0));
    let mut s = server();
    let counter = Arc::clone(&runs);
    s.add_tool(
        Tool::new("wipe", move |_, args| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(ToolOutput::new(json!({"wiped": args["disk"]})))
        })
        .title("Wipe a disk")
        .input_schema(json!({"type": "object", "properties": {"disk": {"type": "string"}}, "required": ["disk"], "additionalProperties": false}))
        .annotations(Annotations::DESTRUCTIVE),
    )
    .unwrap();
    let wipe = |id: i64, args: Value| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "wipe", "arguments": args}});
    let text = |r: &Value| r["result"]["content"][0]["text"].as_str().unwrap_or("").to_string();

    // The schema tells clients and models about the argument.
    init(&mut s, "2025-11-25");
    let list = call(&mut s, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let entry = list["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "wipe").unwrap().clone();
    assert_eq!(entry["inputSchema"]["properties"]["confirm"]["type"], "boolean", "{entry}");

    // A client without elicitation: refused until confirmed; invalid arguments stay invalid.
    let r = call(&mut s, wipe(3, json!({"disk": "sda"})));
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(text(&r).contains("\"confirm\": true"), "{r}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(error_code(&call(&mut s, wipe(4, json!({"confirm": true})))), -32602);
    assert_eq!(call(&mut s, wipe(5, json!({"disk": "sda", "confirm": false})))["result"]["isError"], true);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let r = call(&mut s, wipe(6, json!({"disk": "sda", "confirm": true})));
    assert_eq!(r["result"]["isError"], false, "{r}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // A client with elicitation: the question goes out through the sink; the answer comes
    // back as a response that a fork of the session receives while the call waits.
    call(
        &mut s,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "2025-11-25", "capabilities": {"elicitation": {"form": {}}}, "clientInfo": {"name": "t", "version": "1"}}}),
    );
    let ask = |s: &mut Server, id: i64, answer: Option<Value>| -> (Value, Vec<Value>) {
        let sent: Rc<RefCell<Vec<Value>>> = Rc::default();
        let mut fork = s.fork();
        let seen = Rc::clone(&sent);
        let mut sink = |line: &str| seen.borrow_mut().push(serde_json::from_str(line).unwrap());
        let mut answered = false;
        let mut polls = 0;
        let mut hook = || {
            polls += 1;
            let question = sent.borrow().iter().find(|m| m["method"] == "elicitation/create").cloned();
            if let (Some(question), Some(answer), false) = (question, answer.as_ref(), answered) {
                answered = true;
                let reply = json!({"jsonrpc": "2.0", "id": question["id"], "result": answer});
                assert_eq!(fork.handle_message(reply.to_string().as_bytes()), None);
            }
            polls > 1000 // the client cancels a call nobody answers
        };
        let message = wipe(id, json!({"disk": "sdb"})).to_string();
        let line = s.handle_message_streaming(message.as_bytes(), Some(&mut hook), Some(&mut sink)).unwrap();
        let sent = sent.borrow().clone();
        (serde_json::from_str(&line).unwrap(), sent)
    };
    let (r, sent) = ask(&mut s, 7, Some(json!({"action": "accept", "content": {"confirm": true}})));
    assert_eq!(r["result"]["isError"], false, "{r}");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let question = &sent[0];
    assert_eq!(question["method"], "elicitation/create");
    assert!(question["id"].as_str().unwrap().starts_with(mcp::confirm::ID_PREFIX));
    assert!(question["params"]["message"].as_str().unwrap().contains("wipe"), "{question}");
    assert_eq!(question["params"]["requestedSchema"]["properties"]["confirm"]["type"], "boolean");
    for (answer, why) in [
        (json!({"action": "decline"}), "declined"),
        (json!({"action": "cancel"}), "dismissed"),
        (json!({"action": "accept", "content": {"confirm": false}}), "answered no"),
    ] {
        let (r, _) = ask(&mut s, 8, Some(answer));
        assert_eq!(r["result"]["isError"], true, "{r}");
        assert!(text(&r).contains(why), "{r}");
    }
    let (r, sent) = ask(&mut s, 9, None);
    assert!(text(&r).contains("cancelled"), "{r}");
    let last: u64 = sent[0]["id"].as_str().unwrap().trim_start_matches(mcp::confirm::ID_PREFIX).parse().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "nothing ran without a yes");
    // The same client on a transport that cannot carry the question (no stream): refused.
    let r = call(&mut s, wipe(10, json!({"disk": "sdc"})));
    assert!(text(&r).contains("\"confirm\": true"), "{r}");
    // An answer sent ahead for the next question's id (predictable) is not kept for it.
    let forged = format!("{}{}", mcp::confirm::ID_PREFIX, last + 1);
    let early = json!({"jsonrpc": "2.0", "id": forged, "result": {"action": "accept", "content": {"confirm": true}}});
    assert_eq!(s.handle_message(early.to_string().as_bytes()), None);
    let (r, _) = ask(&mut s, 11, None);
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

fn listed(server: &mut Server) -> Vec<String> {
    let list = call(server, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn tools_installed_while_serving_are_listed_called_announced_and_removed() {
    let mut first = server();
    first.set_page_size(1000);
    let mut second = first.new_session();
    second.set_page_size(1000);
    for s in [&mut first, &mut second] {
        assert_eq!(init(s, "2025-11-25")["result"]["capabilities"]["tools"]["listChanged"], true);
        assert_eq!(s.handle_message(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#), None);
    }
    let registry = std::sync::Arc::clone(first.registry());
    let echo = || {
        Tool::new("echo_installed", |_, args| Ok(ToolOutput::new(json!({"said": args["text"]}))))
            .input_schema(json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}))
            .output_schema(json!({"type": "object"}))
    };
    // A built-in name cannot be taken, a bad schema is refused, nothing changes.
    assert!(registry.install(Tool::new("add", |_, _| Ok(ToolOutput::new(json!({})))), false).is_err());
    assert!(registry
        .install(Tool::new("broken", |_, _| Ok(ToolOutput::new(json!({})))).input_schema_text("{"), false)
        .is_err());
    assert_eq!(registry.generation(), 0);

    registry.install(echo(), false).unwrap();
    assert!(registry.install(echo(), false).is_err(), "a second install of the same name needs replace");
    assert!(listed(&mut first).contains(&"echo_installed".to_string()));
    // The session that lists hears of the change right after its answer.
    let heard: Vec<String> = first.drain_outgoing();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert!(heard[0].contains("notifications/tools/list_changed"), "{heard:?}");
    assert!(second.pending_changes());
    let called = call(
        &mut second,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo_installed", "arguments": {"text": "hi"}}}),
    );
    assert_eq!(called["result"]["structuredContent"]["said"], "hi", "{called}");
    let invalid = call(
        &mut second,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "echo_installed", "arguments": {}}}),
    );
    assert_eq!(error_code(&invalid), -32602, "an installed tool's schema is checked: {invalid}");
    assert_eq!(second.drain_outgoing().len(), 1, "one notification per change, not per message");
    assert!(first.call_tool("echo_installed", &json!({"text": "typed"})).is_ok());

    // Removed: gone from the list, unknown to calls, announced again.
    registry.uninstall("echo_installed").unwrap();
    assert!(registry.uninstall("echo_installed").is_err());
    assert!(registry.uninstall("add").is_err(), "built-in tools are not removable");
    assert!(!listed(&mut first).contains(&"echo_installed".to_string()));
    assert_eq!(first.drain_outgoing().len(), 1);
    let gone = call(
        &mut second,
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "echo_installed", "arguments": {"text": "x"}}}),
    );
    assert_eq!(error_code(&gone), -32602, "{gone}");
    // A session that never completed initialization is not told.
    let mut fresh = first.new_session();
    registry.install(echo(), false).unwrap();
    assert!(!fresh.pending_changes());
    let _ = call(&mut fresh, json!({"jsonrpc": "2.0", "id": 6, "method": "ping"}));
    assert!(fresh.drain_outgoing().is_empty());
}
