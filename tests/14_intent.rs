//! Natural-language control on the real kernel: the embedded intent model maps requests it
//! was never trained on to the right tool call, nonsense is not guessed, destructive calls
//! wait for a yes, and repeated requests come from the decision cache.

use kingly_tests::Machine;
use serde_json::json;

/// Slot values for the held-out phrasings: (slot, as the request says it, as the call
/// writes it). Two sets, so that a phrasing is tried with different values.
const FILLINGS: [&[(&str, &str, &str)]; 2] = [
    &[
        ("pin", "17", "17"),
        ("lines", "25", "25"),
        ("count", "8", "8"),
        ("address", "72", "72"),
        ("length", "2", "2"),
        ("ip", "10.0.2.2", "10.0.2.2"),
        ("bus", "1", "1"),
        ("file", "notes.txt", "notes.txt"),
        ("text", "\"Hello from the shed\"", "Hello from the shed"),
        ("sensor", "0x49", "73"),
        ("pwmpin", "18", "18"),
        ("duty", "40", "40"),
        ("freq", "2000", "2000"),
        ("byte1", "0x9f", "159"),
        ("byte2", "0", "0"),
        ("byte3", "255", "255"),
        ("byte4", "7", "7"),
        ("register", "0xd0", "208"),
    ],
    &[
        ("pin", "5", "5"),
        ("lines", "120", "120"),
        ("count", "30", "30"),
        ("address", "0x68", "104"),
        ("length", "16", "16"),
        ("ip", "192.168.1.20", "192.168.1.20"),
        ("bus", "0", "0"),
        ("file", "/logs/data.csv", "/logs/data.csv"),
        ("text", "\"once upon a time\"", "once upon a time"),
        ("sensor", "72", "72"),
        ("pwmpin", "12", "12"),
        ("duty", "75", "75"),
        ("freq", "50", "50"),
        ("byte1", "6", "6"),
        ("byte2", "0x10", "16"),
        ("byte3", "3", "3"),
        ("byte4", "0xff", "255"),
        ("register", "117", "117"),
    ],
];

/// The held-out phrasings (`+` lines) of the dataset with their calls, slots filled with
/// two sets of values. These phrasings were never trained on.
fn held_out() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../xtask/ml/intents.txt");
    let text = std::fs::read_to_string(path).expect("dataset");
    let mut call = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("= ") {
            call = rest.trim().to_string();
        } else if let Some(phrase) = line.strip_prefix("+ ") {
            for filling in FILLINGS {
                let (mut request, mut answer) = (phrase.trim().to_string(), call.clone());
                for (slot, said, written) in filling {
                    request = request.replace(&format!("{{{slot}}}"), said);
                    answer = answer.replace(&format!("{{{slot}}}"), written);
                }
                assert!(!request.contains('{'), "a slot without a test value: {request}");
                if !out.iter().any(|(r, _): &(String, String)| *r == request) {
                    out.push((request, answer));
                }
            }
        }
    }
    out
}

#[test]
fn held_out_requests_map_to_the_right_tool_calls() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.initialize("intent-test");
    let cases = held_out();
    assert!(cases.len() >= 60, "only {} held-out cases", cases.len());
    let mut wrong = Vec::new();
    for (request, answer) in &cases {
        let out = vm.ok("intent_parse", json!({"text": request}));
        if out["proposal"] != answer.as_str() {
            wrong.push(format!("{request:?}: expected `{answer}`, got `{}` ({})", out["proposal"], out["confidence"]));
        }
    }
    let accuracy = 1.0 - wrong.len() as f64 / cases.len() as f64;
    eprintln!("held-out accuracy in the kernel: {:.1}% of {}", accuracy * 100.0, cases.len());
    assert!(accuracy >= 0.95, "held-out accuracy {:.1}% < 95%:\n{}", accuracy * 100.0, wrong.join("\n"));
}

/// Requests for other machines, questions and nonsense: the kernel proposes nothing that
/// would change this one, whatever the model's confidence. Written for this test (not in
/// the dataset).
#[test]
fn out_of_domain_requests_never_become_state_changing_proposals() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.initialize("intent-test");
    let requests = [
        "switch off the porch light",
        "turn the oven off",
        "reboot the wifi router downstairs",
        "shut down my work laptop",
        "restart the tv",
        "lock the car",
        "turn on the sprinklers",
        "open the front door",
        "set the heating to 20",
        "dim the kitchen lights to 30 percent",
        "make me a cup of coffee",
        "tell me something funny",
        "what is the boiling point of water",
        "write a poem about spring",
        "how do i reset my password",
        "kill all humans",
        "zorp blat quux",
        "pin",
        "off",
        "power",
    ];
    let mut changing = Vec::new();
    let mut refused = 0;
    for request in requests {
        let out = vm.ok("intent_parse", json!({"text": request}));
        if out["status"] != "ready" {
            refused += 1;
        } else if out["read_only"] == false {
            changing.push(format!("{request:?} -> {} ({})", out["proposal"], out["confidence"]));
        }
    }
    eprintln!("out-of-domain: {refused}/{} refused", requests.len());
    assert!(changing.is_empty(), "state-changing proposals for out-of-domain requests:\n{}", changing.join("\n"));
    assert!(refused * 10 >= requests.len() * 9, "only {refused}/{} refused", requests.len());
}

#[test]
fn ask_answers_a_question_and_refuses_to_guess() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    let out = vm.command("ask how much memory is free?");
    assert!(out.contains("-> memory_stats {}"), "{out}");
    assert!(out.contains("read-only"), "{out}");
    assert!(out.contains("free_bytes"), "the answer itself is shown: {out}");
    let out = vm.command("ask what is the capital of france");
    assert!(out.contains("I don't know a tool for that") || out.contains("not sure"), "{out}");
    assert!(!out.contains("->"), "nothing was run: {out}");
    let out = vm.command("ask asdf qwer zxcv");
    assert!(out.contains("I don't know a tool for that") || out.contains("not sure"), "{out}");
}

#[test]
fn a_destructive_request_is_not_run_without_a_yes() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.send_line("ask reboot the machine please");
    let shown = vm.expect("Run it? [y/N] ");
    assert!(shown.contains("-> power_reboot {}") && shown.contains("destructive"), "{shown}");
    vm.send_line("n");
    vm.expect("cancelled");
    vm.expect(kingly_tests::PROMPT);
    // Still the same boot: the uptime keeps counting and no banner reappeared.
    let out = vm.command("system_info");
    assert!(out.contains("uptime:"), "{out}");
    assert_eq!(vm.transcript().matches("Kingly OS 0.1.0 on").count(), 1, "the machine rebooted");

    // Over MCP, intent_run runs read-only proposals and holds the others back.
    vm.initialize("intent-test");
    let ran = vm.ok("intent_run", json!({"text": "how much memory is free"}));
    assert_eq!(ran["status"], "ran", "{ran}");
    assert!(ran["result"]["heap"]["free_bytes"].is_u64(), "{ran}");
    let held = vm.ok("intent_run", json!({"text": "reboot the machine"}));
    assert_eq!(held["status"], "needs_confirmation", "{held}");
    assert_eq!(held["ran"], false, "{held}");
    let pong = vm.rpc(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#);
    assert_eq!(pong["result"], json!({}), "still running: {pong}");
}

#[test]
fn repeated_requests_hit_the_decision_cache() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.initialize("intent-test");
    let first = vm.ok("intent_parse", json!({"text": "show the boot timeline"}));
    assert_eq!(first["cached"], false, "{first}");
    let second = vm.ok("intent_parse", json!({"text": "Show the boot   timeline!"}));
    assert_eq!(second["cached"], true, "normalised text hits the cache: {second}");
    assert_eq!(second["proposal"], first["proposal"]);
    let info = vm.ok("llm_info", json!({}));
    let cache = &info["decision_cache"];
    assert_eq!(cache["hits"], 1, "{info}");
    assert_eq!(cache["misses"], 1, "{info}");
    assert_eq!(cache["hit_rate"], 0.5, "{info}");
    // The context a big chat model would get stays within its token budget and lists the
    // most related tool first.
    let explained = vm.ok("intent_parse", json!({"text": "how much memory is free", "explain": true, "budget": 200}));
    let context = &explained["context"];
    assert!(context["tokens"].as_u64().unwrap() <= 200, "{context}");
    let text = context["text"].as_str().unwrap();
    let first_tool = text.lines().find(|l| l.starts_with("- ")).unwrap_or("");
    assert!(first_tool.starts_with("- memory_stats"), "{text}");
}
