//! Any byte string given to the server must produce either nothing (a notification) or
//! exactly one line of valid JSON-RPC, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp::{json, Server, ServerInfo, Tool, ToolOutput};

fuzz_target!(|data: &[u8]| {
    let mut server = Server::new(ServerInfo {
        name: "fuzz".into(),
        title: "fuzz".into(),
        version: "0".into(),
        instructions: String::new(),
    });
    let _ = server.add_tool(
        Tool::new("echo", |_, args| Ok(ToolOutput::new(json!({ "n": args.len() }))))
            .input_schema(json!({
                "type": "object",
                "properties": {"text": {"type": "string", "maxLength": 8}, "n": {"type": "integer", "maximum": 5}},
                "additionalProperties": false
            })),
    );
    // Split the input into lines so one run exercises a whole session.
    for line in data.split(|&b| b == b'\n') {
        if let Some(reply) = server.handle_message(line) {
            assert!(!reply.contains('\n'));
            let value: mcp::Value = serde_json::from_str(&reply).expect("server produced invalid JSON");
            assert_eq!(value["jsonrpc"], "2.0");
        }
        server.drain_outgoing();
    }
});
