//! A real chat model in the kernel: SmolLM2-135M-Instruct (`../shared/fixtures/smollm2`)
//! read from the SD card in the background while MCP already answers, chatting through
//! `llm_generate messages=[...]` with the same text as the host engine; and as the second
//! tier of `intent_parse`, where it runs between the other tasks' turns (HTTP pings keep
//! their latency) and stops when the request is cancelled.

use kingly_tests::{free_port, image_dir, python, xtask, Bridge, Machine};
use serde_json::json;
use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

const SMOLLM2: &str = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kingly-chat-{}-{name}", std::process::id()))
}

/// What the host engine answers to `question` (greedy, chat layout), `tokens` tokens at most.
fn host_answer(xtask: &std::path::Path, model: &std::path::Path, question: &str, tokens: usize) -> String {
    let output = Command::new(xtask)
        .args(["llm", "run", "--chat", "--max-tokens", &tokens.to_string(), "--model"])
        .arg(model)
        .args(["--prompt", question])
        .output()
        .expect("xtask llm runs");
    assert!(output.status.success(), "host engine failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn smollm2_loads_from_the_card_in_the_background_and_chats() {
    let Some(model) = testkit::fixture_path(SMOLLM2) else { return };
    let Some(xtask) = xtask() else { return };
    let Some(images) = image_dir() else { return };
    let card = temp("smollm2.img");
    let status = Command::new(&xtask)
        .args(["image", "--board", "pi3", "--kernel"])
        .arg(images.join("raspi3b-test/kernel8.img"))
        .arg("--model")
        .arg(&model)
        .arg("-o")
        .arg(&card)
        .status()
        .expect("xtask image runs");
    assert!(status.success(), "cargo xtask image failed");
    let drive = format!("if=sd,format=raw,file={}", card.display());
    let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive]).expect("boots");

    // MCP answers while the model is being read (its first progress line is out; the next
    // comes seconds later, and once a client speaks they go out as MCP log notifications).
    vm.expect("loading model.gguf from the SD card:");
    vm.expect("\n");
    vm.initialize("chat-test");
    vm.ping();
    let info = vm.tool_result("llm_info", json!({}));
    let loading = &info["structuredContent"]["loading"];
    assert_eq!(loading["file"], "model.gguf", "llm_info shows the load in progress: {info}");
    assert!(loading["percent"].as_u64().is_some_and(|p| p < 100), "{info}");
    let early = vm.refused("llm_generate", json!({"messages": [{"role": "user", "content": "hi"}]}));
    assert!(early.contains("still loading"), "{early}");
    vm.ping();

    // Its progress now comes as MCP log notifications; llm_info says when it is done.
    let deadline = Instant::now() + Duration::from_secs(600);
    let info = loop {
        std::thread::sleep(Duration::from_secs(3));
        let info = vm.tool_result("llm_info", json!({}));
        if info["structuredContent"]["loading"].is_null() || Instant::now() > deadline {
            break info;
        }
    };
    let out = &info["structuredContent"];
    assert_eq!((out["source"].as_str(), out["layers"].as_u64()), (Some("card"), Some(30)), "{info}");
    assert!(out["loading"].is_null(), "{info}");

    // A ChatML conversation: the kernel's answer is the host engine's, token for token.
    let question = "Write a haiku about the sea.";
    let answer =
        vm.tool_result("llm_generate", json!({"messages": [{"role": "user", "content": question}], "max_tokens": 12}));
    let text = answer["structuredContent"]["text"].as_str().unwrap_or_default().to_string();
    let expected = host_answer(&xtask, &model, question, 12);
    assert_eq!(text.trim(), expected.trim(), "kernel vs host engine: {answer}");
    let words = text.split_whitespace().filter(|w| w.chars().all(|c| c.is_ascii_alphabetic() || ",.'".contains(c)));
    assert!(words.count() >= 5, "an English answer: {text:?}");
    eprintln!("SmolLM2 in the kernel: {text:?} ({} tok/s)", answer["structuredContent"]["tokens_per_second"]);
    vm.ping();
    let _ = std::fs::remove_file(&card);
}

/// Pings the HTTP endpoint for `seconds`; prints latencies in ms, one per line.
const PINGER: &str = r#"
import http.client, json, sys, time
port, token, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "Authorization": "Bearer " + token}
c.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "pinger", "version": "1"}}}), h)
r = c.getresponse(); r.read(); h["Mcp-Session-Id"] = r.getheader("mcp-session-id")
end, i = time.time() + seconds, 2
while time.time() < end:
    t = time.perf_counter()
    c.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": i, "method": "ping"}), h)
    r = c.getresponse(); body = r.read()
    assert r.status == 200 and b'"result"' in body, body
    print((time.perf_counter() - t) * 1000, flush=True)
    i += 1
    time.sleep(0.02)
"#;

#[test]
fn a_chat_model_thinking_about_ask_keeps_http_answering_and_stops_when_cancelled() {
    let Some(model) = testkit::fixture_path(SMOLLM2) else { return };
    let Some(python) = python() else { return };
    let port = free_port();
    let token = format!("chat-token-{}-{port}", std::process::id());
    let model = model.to_str().expect("UTF-8 path").to_string();
    let Some(mut vm) =
        Bridge::start("virt", &["--net", "--port", &port.to_string(), "--token", &token, "--model", &model])
    else {
        return;
    };
    // A request the built-in intent model does not map to a tool (so the chat model gets it).
    let loaded = vm.call_tool("llm_load", json!({"model": "intent", "confirm": true}));
    assert_eq!(loaded["result"]["isError"], false, "{loaded}");
    let candidates = [
        "compose a limerick about my neighbour's cat",
        "what is the meaning of life",
        "tell me about the history of the roman empire",
        "how do penguins keep warm",
    ];
    let request = candidates
        .iter()
        .find(|text| {
            let reply = vm.call_tool("intent_parse", json!({"text": text}));
            reply["result"]["structuredContent"]["status"] != "ready"
        })
        .expect("one request the intent model does not know");
    let loaded = vm.call_tool("llm_load", json!({"model": "placed", "confirm": true}));
    assert_eq!(loaded["result"]["isError"], false, "{loaded}");

    // The chat model thinks about it; meanwhile HTTP pings are answered.
    let pinger = temp("pinger.py");
    std::fs::write(&pinger, PINGER).expect("write the pinger");
    let pings = Command::new(&python)
        .arg(&pinger)
        .args([&port.to_string(), token.as_str(), "8"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python starts");
    let id = 77_001;
    vm.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "intent_parse", "arguments": {"text": request}}}));
    let output = pings.wait_with_output().expect("pinger runs");
    assert!(output.status.success(), "pinger failed: {}", String::from_utf8_lossy(&output.stderr));
    let mut latencies: Vec<f64> =
        String::from_utf8_lossy(&output.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect();
    latencies.sort_by(f64::total_cmp);
    assert!(latencies.len() >= 20, "pings answered while the chat model ran: {latencies:?}");
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "HTTP ping while the chat model thinks: {} pings, median {median:.1} ms, p99 {p99:.1} ms",
        latencies.len()
    );
    assert!(p99 < 50.0, "ping p99 {p99:.1} ms while the chat model ran");

    // Still thinking (a 135M model in QEMU takes minutes for this prompt); cancel it.
    let cancelled = Instant::now();
    vm.send(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}}));
    let reply = loop {
        let message = vm.line();
        if message["id"] == id {
            break message;
        }
    };
    let waited = cancelled.elapsed();
    let result = &reply["result"]["structuredContent"];
    assert_ne!(result["status"], "ready", "{reply}");
    assert!(result["message"].as_str().unwrap_or_default().contains("cancelled"), "{reply}");
    assert!(waited < Duration::from_secs(20), "stopped within a token: {waited:?}");
    eprintln!("cancelled after {waited:?}");
    let alive = vm.request(json!({"jsonrpc": "2.0", "method": "ping"}));
    assert!(alive["result"].is_object(), "{alive}");
    let _ = std::fs::remove_file(&pinger);
}
