//! The fast paths, measured by counting: a ping allocates nothing, a typed tool is called
//! without a schema walk (from JSON or from kernel code), a typed tool's decoding accepts
//! exactly what its schema accepts, and a batch is answered as the session's revision says.
//! One test function: the allocation and schema-walk counters are process-wide.

use mcp::{
    json, schema, Annotations, Ctx, Declaration, Integer, Server, ServerInfo, ToolError, ToolOutput, TypedTool, Value,
};
use serde::Deserialize;
use testkit::{alloc_counter, Rng};

#[global_allocator]
static ALLOCATOR: alloc_counter::Counting = alloc_counter::Counting;

/// `add`: the sum of two bounded integers.
struct Add;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddArgs {
    a: Integer,
    #[serde(default, deserialize_with = "mcp::tool::present")]
    b: Option<Integer>,
}

const ADD_SCHEMA: &str = r#"{"type":"object","properties":{"a":{"type":"integer","minimum":-1000,"maximum":1000},"b":{"type":"integer","minimum":-1000,"maximum":1000}},"required":["a"],"additionalProperties":false}"#;

impl TypedTool for Add {
    type Args = (i64, i64);
    const DECLARATION: Declaration = Declaration::typed::<Add>("add")
        .title("Add")
        .input_schema_text(ADD_SCHEMA)
        .output_schema_text(r#"{"type":"object","properties":{"sum":{"type":"integer"}},"required":["sum"]}"#)
        .annotations(Annotations::READ_ONLY);

    fn decode(arguments: &str) -> Option<(i64, i64)> {
        let args: AddArgs = mcp::tool::decode_object(arguments)?;
        let b = args.b.map_or(0, |b| b.0);
        let within = |n: i64| (-1000..=1000).contains(&n);
        (within(args.a.0) && within(b)).then_some((args.a.0, b))
    }

    fn run(_: &mut Ctx<'_>, (a, b): (i64, i64)) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::new(json!({ "sum": a + b })))
    }
}

fn session(version: &str) -> Server {
    let mut server = Server::new(ServerInfo {
        name: "t".into(),
        title: "t".into(),
        version: "0".into(),
        instructions: String::new(),
    });
    static DECLARATION: Declaration = Add::DECLARATION;
    server.add_declared(&DECLARATION).unwrap();
    let init = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"t","version":"0"}}}}}}"#
    );
    assert!(server.handle_message(init.as_bytes()).unwrap().contains(version));
    server
}

fn answer(server: &mut Server, message: &str) -> Value {
    serde_json::from_str(&server.handle_message(message.as_bytes()).expect("an answer")).unwrap()
}

/// A random argument object around the schema's edges.
fn random_arguments(rng: &mut Rng) -> String {
    let number = |rng: &mut Rng| -> String {
        match rng.below(8) {
            0 => format!("{}", rng.below(3000) as i64 - 1500),
            1 => format!("{}.0", rng.below(3000) as i64 - 1500),
            2 => format!("{}.5", rng.below(20) as i64 - 10),
            3 => format!("{}e1", rng.below(300) as i64 - 150),
            4 => "\"7\"".into(),
            5 => "null".into(),
            6 => "1000".into(),
            _ => "-1001".into(),
        }
    };
    let mut members = Vec::new();
    for key in ["a", "b", "c"] {
        if rng.below(3) > 0 || (key == "a" && rng.below(4) > 0) {
            if key == "c" && rng.below(3) > 0 {
                continue;
            }
            members.push(format!("\"{key}\":{}", number(rng)));
        }
    }
    match rng.below(20) {
        0 => "[]".into(),
        2 => "[5, 6]".into(),
        1 => "7".into(),
        _ => format!("{{{}}}", members.join(",")),
    }
}

#[test]
fn fast_paths() {
    let mut server = session("2025-11-25");

    // A ping answered into a kept buffer: no allocation at all.
    let mut out = String::with_capacity(256);
    let ping = br#"{"jsonrpc":"2.0","id":17,"method":"ping"}"#;
    assert!(server.handle_message_into(ping, None, None, &mut out));
    let before = alloc_counter::allocations();
    for _ in 0..1000 {
        assert!(server.handle_message_into(ping, None, None, &mut out));
    }
    assert_eq!(alloc_counter::allocations() - before, 0, "a ping allocated");
    assert_eq!(out, r#"{"jsonrpc":"2.0","id":17,"result":{}}"#);
    let string_id = br#"{"jsonrpc":"2.0","id":"abc-\u00e9","method":"ping"}"#;
    let before = alloc_counter::allocations();
    assert!(server.handle_message_into(string_id, None, None, &mut out));
    assert_eq!(alloc_counter::allocations() - before, 0, "a ping with a string id allocated");
    assert_eq!(out, r#"{"jsonrpc":"2.0","id":"abc-\u00e9","result":{}}"#);

    // A typed tool called over JSON: the answer, and no schema walk.
    let call = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}"#;
    let walks = schema::walks();
    let before = alloc_counter::allocations();
    assert!(server.handle_message_into(call, None, None, &mut out));
    let call_allocations = alloc_counter::allocations() - before;
    assert_eq!(schema::walks(), walks, "the typed tool's arguments were checked against the schema");
    let value: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["result"]["structuredContent"], json!({"sum": 5}), "{out}");
    assert_eq!(value["result"]["content"][0]["text"], r#"{"sum":5}"#);
    assert_eq!(value["result"]["isError"], false);
    // The allocations left are the handler's own output (a map, its key, the result).
    assert!(call_allocations <= 4, "a small typed call made {call_allocations} allocations");
    eprintln!("small typed tools/call: {call_allocations} allocations");

    assert_eq!(server.last_call_failed(), Some(false));
    assert!(server.handle_message_into(ping, None, None, &mut out));
    assert_eq!(server.last_call_failed(), None, "a ping is not a call");

    // Kernel code calls it with its own types: no JSON, no walk.
    let walks = schema::walks();
    let mut outgoing = Vec::new();
    let output = server.call_typed::<Add>(&mut Ctx::detached(&mut outgoing), (40, 2)).unwrap();
    assert_eq!(output.structured, json!({"sum": 42}));
    assert_eq!(schema::walks(), walks);

    // Refused arguments get the schema's own message (which walks the schema, once).
    let refused = answer(
        &mut server,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{"a":5000}}}"#,
    );
    assert_eq!(schema::walks(), walks + 1);
    assert_eq!(server.last_call_failed(), Some(true), "refused arguments are a failed call");
    let message = refused["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("'a'") && message.contains("1000"), "{refused}");

    // The type accepts exactly what the schema accepts (2,000 random argument objects).
    let schema_value: Value = serde_json::from_str(ADD_SCHEMA).unwrap();
    let mut rng = Rng::new(0x005e_ed22);
    for _ in 0..2000 {
        let text = random_arguments(&mut rng);
        let value: Value = serde_json::from_str(&text).unwrap();
        let by_schema = schema::validate(&schema_value, &value).is_ok();
        let by_type = Add::decode(&text).is_some();
        assert_eq!(by_schema, by_type, "schema and type disagree on {text}");
        let reply = answer(
            &mut server,
            &format!(
                r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"add","arguments":{text}}}}}"#
            ),
        );
        assert_eq!(reply["error"].is_null(), by_schema, "{text}: {reply}");
    }

    // Batches: answered as an array under 2025-03-26, refused under later revisions.
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"nope"},7]"#;
    let refused = answer(&mut server, batch);
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    let mut old = session("2025-03-26");
    let answers = answer(&mut old, batch);
    let answers = answers.as_array().expect("a batch answer is an array");
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[0], json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
    assert_eq!(answers[1]["error"]["code"], -32601);
    assert_eq!(answers[2]["error"]["code"], -32600);
    assert!(old.handle_message(br#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#).is_none());
    assert_eq!(answer(&mut old, "[]")["error"]["code"], -32600);
    let initialize = answer(
        &mut old,
        r#"[{"jsonrpc":"2.0","id":9,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}]"#,
    );
    assert_eq!(initialize[0]["error"]["code"], -32600, "{initialize}");
    assert_eq!(initialize[0]["id"], 9);
    assert_eq!(old.protocol_version(), Some("2025-03-26"), "a batched initialize must not restart the session");
}
