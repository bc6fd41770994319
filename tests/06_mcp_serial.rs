//! MCP over the serial console, spoken directly as JSON lines.

use kingly_tests::Machine;
use serde_json::{json, Value};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"serial-test","version":"1"}}}"#;

fn code(response: &Value) -> i64 {
    response["error"]["code"].as_i64().unwrap_or_else(|| panic!("not an error: {response}"))
}

#[test]
fn a_client_can_initialize_list_and_call_every_read_only_tool() {
    for board in ["raspi3b", "virt"] {
        let Some(mut vm) = Machine::boot_to_prompt(board) else { return };
        let init = vm.rpc(INIT);
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
        assert_eq!(init["result"]["serverInfo"]["name"], "kingly-os");
        vm.send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let list = vm.rpc(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
        let tools = list["result"]["tools"].as_array().cloned().unwrap_or_default();
        assert!(tools.len() >= 6, "{list}");
        let mut id = 10;
        for tool in &tools {
            let name = tool["name"].as_str().unwrap_or_default();
            assert!(tool["annotations"]["readOnlyHint"].is_boolean(), "{tool}");
            assert!(tool["outputSchema"].is_object(), "{name} lacks an output schema");
            let needs_arguments = tool["inputSchema"]["required"].as_array().is_some_and(|r| !r.is_empty())
                || tool["inputSchema"]["anyOf"].is_array();
            if tool["annotations"]["readOnlyHint"] != json!(true) || needs_arguments {
                continue;
            }
            id += 1;
            let call =
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": {}}});
            let result = vm.rpc(&call.to_string());
            assert_eq!(result["id"], id, "{result}");
            let structured = &result["result"]["structuredContent"];
            let error = result["result"]["isError"].as_bool();
            // rng_read fails cleanly on boards without an RNG, the file tools without an SD
            // card;
            // everything else succeeds.
            if error == Some(true) {
                let why = result["result"]["content"][0]["text"].as_str().unwrap_or("");
                let expected = name == "rng_read"
                    || (name.starts_with("llm_") && why.contains("no model loaded"))
                    || (name.starts_with("fs_") && why.contains("no usable SD card"));
                assert!(expected, "[{board}] {name} failed: {result}");
                continue;
            }
            assert!(structured.is_object(), "[{board}] {name}: {result}");
            for required in tool["outputSchema"]["required"].as_array().into_iter().flatten() {
                let field = required.as_str().unwrap_or_default();
                assert!(structured.get(field).is_some(), "[{board}] {name} lacks {field}: {structured}");
            }
        }
    }
}

#[test]
fn errors_are_answered_and_the_port_keeps_serving() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.rpc(INIT);
    let unknown = vm.rpc(r#"{"jsonrpc":"2.0","id":3,"method":"server/discover"}"#);
    assert_eq!(code(&unknown), -32601);
    let tool = vm.rpc(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"no_such_tool"}}"#);
    assert_eq!(code(&tool), -32602);
    let args = vm.rpc(
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"log_read","arguments":{"lines":"ten"}}}"#,
    );
    assert_eq!(code(&args), -32602);
    assert!(args["error"]["message"].as_str().unwrap_or("").contains("'lines'"), "{args}");
    let malformed = vm.rpc(r#"{"jsonrpc":"2.0","id":6,"method":"#);
    assert_eq!(code(&malformed), -32700);
    let not_rpc = vm.rpc(r#"{"x":1}"#);
    assert_eq!(code(&not_rpc), -32600);
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(70), "]".repeat(70));
    assert_eq!(code(&vm.rpc(&deep)), -32600);
    let huge = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"ping","pad":"{}"}}"#, "x".repeat(70 * 1024));
    let too_big = vm.rpc(&huge);
    assert_eq!(code(&too_big), -32600, "{too_big}");
    vm.send_bytes(b"{\"a\":\"\xff\xfe\"}\r");
    assert_eq!(code(&vm.next_json(true)), -32700);
    // A batch (JSON-RPC arrays, which MCP 2025-06-18 dropped) is answered with an Invalid
    // Request error, not taken as a shell command and left unanswered.
    let batch = vm.rpc(r#"[{"jsonrpc":"2.0","id":7,"method":"ping"}]"#);
    assert_eq!(code(&batch), -32600, "{batch}");
    let pong = vm.rpc(r#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#);
    assert_eq!(pong["result"], json!({}));
    let log = vm.rpc(r#"{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":"kernel://log/5"}}"#);
    assert!(log["result"]["contents"][0]["text"].as_str().unwrap_or("").contains("INFO"), "{log}");
}

#[test]
fn the_port_carries_only_json_until_a_human_types() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.rpc(INIT);
    // Two requests back to back: exactly two JSON lines, no prompt or log line between.
    vm.send_line(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
    vm.send_line(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    assert_eq!(vm.next_json(true)["id"], 2);
    assert_eq!(vm.next_json(true)["id"], 3);
    // A repeated initialize starts a fresh session with another version.
    let again = vm.rpc(r#"{"jsonrpc":"2.0","id":4,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}"#);
    assert_eq!(again["result"]["protocolVersion"], "2024-11-05");
    // A human line brings the prompt back.
    vm.send_line("boot_timeline");
    vm.expect("stages:");
    vm.expect("kingly> ");
}

/// Over the serial line too, a destructive call asks a client that declared elicitation:
/// the question is a line, the answer a line; only "accept" with confirm=true runs it. A
/// client without the capability is refused until it sends confirm: true.
#[test]
fn destructive_calls_ask_the_client_over_the_serial_line() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"asking","version":"1"}}}"#;
    assert_eq!(vm.rpc(init)["result"]["protocolVersion"], "2025-11-25");
    vm.send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let call = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"llm_load","arguments":{{"model":"intent"}}}}}}"#
        )
    };
    for (id, answer, runs) in [
        (2, r#"{"action":"decline"}"#, false),
        (3, r#"{"action":"accept","content":{"confirm":false}}"#, false),
        (4, r#"{"action":"accept","content":{"confirm":true}}"#, true),
    ] {
        vm.send_line(&call(id));
        let question = loop {
            let message = vm.next_json(true);
            if message.get("method").is_some_and(|m| m == "elicitation/create") {
                break message;
            }
            assert!(message.get("id").is_none(), "the call must ask before answering: {message}");
        };
        let text = question["params"]["message"].as_str().unwrap_or("");
        assert!(text.contains("llm_load"), "{question}");
        // While the question is open, other requests are still served.
        vm.send_line(r#"{"jsonrpc":"2.0","id":90,"method":"ping"}"#);
        while vm.next_json(true).get("id") != Some(&json!(90)) {}
        vm.send_line(&format!(r#"{{"jsonrpc":"2.0","id":{},"result":{answer}}}"#, question["id"]));
        let reply = loop {
            let message = vm.next_json(true);
            if message.get("id") == Some(&json!(id)) {
                break message;
            }
        };
        assert_eq!(reply["result"]["isError"], !runs, "{answer}: {reply}");
        eprintln!("{answer} -> {reply}");
    }
    // The same tool from a client that cannot be asked.
    assert_eq!(vm.rpc(INIT)["result"]["protocolVersion"], "2025-11-25");
    let refused = vm.rpc(&call(5));
    let text = refused["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(refused["result"]["isError"] == true && text.contains("\"confirm\": true"), "{refused}");
}

#[test]
fn power_off_answers_before_exiting() {
    let Some(mut vm) = Machine::boot_to_prompt("virt") else { return };
    vm.rpc(INIT);
    let answer = vm.rpc(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"power_off","arguments":{"confirm":true}}}"#,
    );
    assert_eq!(answer["result"]["structuredContent"]["action"], "power_off", "{answer}");
    assert_eq!(vm.wait_exit(), 0);
}
