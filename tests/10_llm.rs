//! The language model inside the kernel: stories260K (from ../shared/fixtures, converted to
//! GGUF here) placed in guest RAM by `cargo xtask qemu --model`, run by the `llm_*` tools
//! over MCP on the serial console.

use kingly_tests::Bridge;
use serde_json::{json, Value};
use std::path::PathBuf;
use testkit::fixture;

/// stories260K as a Q8_0 GGUF in a temporary file (removed on drop), or `None` (require rule).
struct Stories(PathBuf);

impl Stories {
    fn write(name: &str) -> Option<Stories> {
        let (model, vocab) = (fixture("llama2c/stories260K.bin")?, fixture("llama2c/tok512.bin")?);
        let gguf = inference::llama2c::to_gguf(&model, &vocab, inference::llama2c::Quant::Q8_0).expect("converts");
        let path = std::env::temp_dir().join(format!("kingly-{name}-{}.gguf", std::process::id()));
        std::fs::write(&path, gguf).expect("write model");
        Some(Stories(path))
    }

    fn bridge(&self) -> Option<Bridge> {
        Bridge::start("raspi3b", &["--model", self.0.to_str().expect("UTF-8 temp path")])
    }
}

impl Drop for Stories {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_kernel_tells_the_known_story_and_streams_progress() {
    let Some(model) = Stories::write("stories260k") else { return };
    let Some(mut s) = model.bridge() else { return };

    let info =
        s.request(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"llm_info","arguments":{}}}));
    let info = &info["result"]["structuredContent"];
    assert_eq!(info["layers"], 5, "{info}");
    assert_eq!(info["vocab"], 512, "{info}");
    assert_eq!(info["parameters"], 260_032, "{info}");

    let tokens = s.request(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"llm_tokenize","arguments":{"text":"Once upon a time"}}}));
    assert_eq!(tokens["result"]["structuredContent"]["ids"], json!([1, 403, 407, 261, 378]), "{tokens}");

    s.send(&json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"llm_generate","arguments":{"prompt":"Once upon a time","max_tokens":24},"_meta":{"progressToken":"story"}}}));
    let mut progress = Vec::new();
    let result = loop {
        let line = s.line();
        if line["method"] == "notifications/progress" {
            assert_eq!(line["params"]["progressToken"], "story");
            progress.push(line["params"]["message"].as_str().unwrap_or("").to_string());
        } else if line["id"] == 3 {
            break line;
        }
    };
    let out = &result["result"]["structuredContent"];
    let text = out["text"].as_str().unwrap_or("");
    assert!(text.starts_with(", there was a little girl named Lily"), "kernel generated {text:?}");
    assert_eq!(out["generated_tokens"], 24, "{out}");
    assert_eq!(progress.len(), 24, "one progress notification per token");
    assert_eq!(progress.last().map(String::as_str), Some(text), "the last progress carries the whole text");

    // While it generates, other requests on the same port are answered at once (a second
    // generation is refused as busy); notifications/cancelled stops it within a token.
    s.send(&json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"llm_generate","arguments":{"prompt":"Once","max_tokens":1000},"_meta":{"progressToken":"long"}}}));
    let mut seen = 0;
    let mut answered_during = Vec::new();
    let cancelled = loop {
        let line = s.line();
        if line["method"] == "notifications/progress" {
            seen += 1;
            if seen == 3 {
                s.send(&json!({"jsonrpc":"2.0","id":6,"method":"ping"}));
                s.send(&json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"system_info","arguments":{}}}));
                s.send(&json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"llm_generate","arguments":{"prompt":"x"}}}));
            }
            if seen == 40 {
                s.send(&json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,"reason":"test"}}));
            }
        } else if line["id"] == 5 {
            break line;
        } else if !line["id"].is_null() {
            answered_during.push(line);
        }
    };
    let ids: Vec<&Value> = answered_during.iter().map(|l| &l["id"]).collect();
    assert_eq!(ids, [&json!(6), &json!(7), &json!(8)], "answered during the generation: {answered_during:?}");
    assert_eq!(answered_during[0]["result"], json!({}));
    assert_eq!(answered_during[1]["result"]["isError"], false, "{}", answered_during[1]);
    assert_eq!(answered_during[2]["result"]["isError"], true, "{}", answered_during[2]);
    assert!(answered_during[2]["result"]["content"][0]["text"].as_str().unwrap_or("").contains("already running"));
    let out = &cancelled["result"]["structuredContent"];
    assert_eq!(out["finish"], "cancelled", "{cancelled}");
    let generated = out["generated_tokens"].as_u64().unwrap_or(1000);
    assert!((40..=42).contains(&generated), "stopped after {generated} tokens (cancel sent after 40)");

    let bad = s.request(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"llm_generate","arguments":{"prompt":"x","max_tokens":5000}}}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
}

#[test]
fn without_a_placed_model_the_embedded_one_serves_and_a_corrupt_one_is_refused() {
    let Some(mut s) = Bridge::start("raspi3b", &[]) else { return };
    let r =
        s.request(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"llm_info","arguments":{}}}));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let info = &r["result"]["structuredContent"];
    assert_eq!(info["source"], "embedded", "{r}");
    assert_eq!(info["name"], "kingly-intent", "the intent model built into the image: {r}");
    let r = s.request(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"llm_generate","arguments":{"prompt":"how much memory is free\n","max_tokens":8}}}));
    assert_eq!(r["result"]["isError"], false, "{r}");
    assert!(r["result"]["structuredContent"]["text"].as_str().unwrap_or("").contains("memory_stats"), "{r}");
    drop(s);

    let path = std::env::temp_dir().join(format!("kingly-corrupt-{}.gguf", std::process::id()));
    let mut corrupt = b"GGUF\x03\x00\x00\x00".to_vec();
    corrupt.extend_from_slice(&[0xff; 64]);
    std::fs::write(&path, corrupt).unwrap();
    let Some(mut s) = Bridge::start("raspi3b", &["--model", path.to_str().expect("UTF-8 temp path")]) else { return };
    let r = s.request(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"llm_generate","arguments":{"prompt":"hi"}}}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(r["result"]["content"][0]["text"].as_str().unwrap_or("").contains("corrupt model file"), "{r}");
    let pong = s.request(json!({"jsonrpc":"2.0","id":2,"method":"ping"}));
    assert_eq!(pong["result"], json!({}), "the kernel keeps serving");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn ping_and_system_info_stay_responsive_during_a_long_generation() {
    let Some(model) = Stories::write("responsive") else { return };
    let Some(mut s) = model.bridge() else { return };
    s.send(&json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"llm_generate","arguments":{"prompt":"Once upon a time","max_tokens":256},"_meta":{"progressToken":"p"}}}));
    // One probe per progress notification after the first few, alternating ping and
    // system_info; each round trip is timed from send to answer.
    let mut sent: std::collections::HashMap<u64, std::time::Instant> = Default::default();
    let mut latencies = Vec::new();
    let mut progress = 0;
    let mut next_id = 100u64;
    let result = loop {
        let line = s.line();
        let now = std::time::Instant::now();
        if line["method"] == "notifications/progress" {
            progress += 1;
            if progress >= 4 && progress % 2 == 0 && progress < 240 {
                let probe = if next_id.is_multiple_of(2) {
                    json!({"jsonrpc":"2.0","id":next_id,"method":"ping"})
                } else {
                    json!({"jsonrpc":"2.0","id":next_id,"method":"tools/call","params":{"name":"system_info","arguments":{}}})
                };
                sent.insert(next_id, std::time::Instant::now());
                s.send(&probe);
                next_id += 1;
            }
        } else if line["id"] == 1 {
            break line;
        } else if let Some(start) = line["id"].as_u64().and_then(|id| sent.get(&id)) {
            assert!(line.get("error").is_none() && line["result"]["isError"] != true, "{line}");
            latencies.push(now.duration_since(*start).as_secs_f64() * 1e3);
        }
    };
    assert_eq!(result["result"]["structuredContent"]["generated_tokens"], 256, "{result}");
    assert_eq!(latencies.len(), sent.len(), "every probe was answered during the generation");
    latencies.sort_by(f64::total_cmp);
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    eprintln!("ping/system_info during a 256-token generation: n={} p50 {p50:.1} ms p99 {p99:.1} ms", latencies.len());
    assert!(p99 < 50.0, "p99 {p99:.1} ms above 50 ms (p50 {p50:.1} ms)");
}

#[test]
fn a_generation_that_does_not_fit_in_memory_is_refused_and_the_kernel_keeps_serving() {
    let Some(model) = Stories::write("nomem") else { return };
    let Some(mut s) = model.bridge() else { return };
    let held = s.request(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"test_hold","arguments":{"leave_kib":200}}}));
    assert_eq!(held["result"]["isError"], false, "{held}");
    let r = s.request(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"llm_generate","arguments":{"prompt":"Once","max_tokens":4}}}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    let why = r["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(why.contains("not enough memory") && why.contains("KiB are free"), "{r}");
    let pong = s.request(json!({"jsonrpc":"2.0","id":3,"method":"ping"}));
    assert_eq!(pong["result"], json!({}), "the kernel keeps serving");
    s.request(
        json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"test_hold","arguments":{"leave_kib":0}}}),
    );
    let r = s.request(json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"llm_generate","arguments":{"prompt":"Once","max_tokens":4}}}));
    assert_eq!(r["result"]["isError"], false, "with the memory back it runs: {r}");
}
