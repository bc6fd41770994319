//! `cargo xtask bench llm --qemu`: the language model inside the kernel on QEMU raspi3b —
//! tokens/s on one core against all four (the scaling ratio), intent latency, and how
//! quickly `ping` answers while a generation runs. Every figure comes from one run of one
//! release image; the peer of the 4-core figure is the same kernel limited to 1 core.

use super::stats::{percentile, Summary};
use crate::{board::Board, build, util};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

/// One MCP session with a kernel booted through `cargo xtask qemu --mcp`.
struct Session {
    /// Closing the bridge's stdin (on drop) ends it, which stops QEMU.
    child: testkit::process::Guard,
    lines: mpsc::Receiver<(Instant, Value)>,
    next_id: u64,
}

impl Session {
    fn start(image: &Path, model: Option<&Path>) -> Result<Session> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["qemu", "--mcp", "--board", "raspi3b", "--image"]).arg(image);
        if let Some(model) = model {
            command.arg("--model").arg(model);
        }
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        let output = child.stdout.take().context("no stdout")?;
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    if send.send((Instant::now(), value)).is_err() {
                        break;
                    }
                }
            }
        });
        let child = testkit::process::Guard::close_stdin(child, Duration::from_secs(20));
        let mut session = Session { child, lines, next_id: 1 };
        let init = session.request(
            "initialize",
            json!({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench-llm","version":"1"}}),
        )?;
        if init["result"]["serverInfo"]["name"] != "kingly-os" {
            bail!("unexpected initialize answer: {init}");
        }
        session.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))?;
        Ok(session)
    }

    fn send(&mut self, message: Value) -> Result<()> {
        let input = self.child.stdin.as_mut().context("session closed")?;
        writeln!(input, "{message}")?;
        input.flush()?;
        Ok(())
    }

    /// Sends a request; returns its id.
    fn submit(&mut self, method: &str, params: Value) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}))?;
        Ok(id)
    }

    /// Next message (any), with the time it arrived.
    fn next(&mut self) -> Result<(Instant, Value)> {
        self.lines.recv_timeout(Duration::from_secs(300)).context("the kernel stopped answering")
    }

    fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.submit(method, params)?;
        loop {
            let (_, message) = self.next()?;
            if message["id"] == id {
                return Ok(message);
            }
        }
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Result<Value> {
        let reply = self.request("tools/call", json!({"name": tool, "arguments": arguments}))?;
        if reply["result"]["isError"] != false {
            bail!("{tool} failed: {reply}");
        }
        Ok(reply["result"]["structuredContent"].clone())
    }
}

fn stories260k() -> Result<Option<PathBuf>> {
    let fixtures = util::root().join("../shared/fixtures/llama2c");
    let (Ok(model), Ok(vocab)) =
        (std::fs::read(fixtures.join("stories260K.bin")), std::fs::read(fixtures.join("tok512.bin")))
    else {
        eprintln!("note: ../shared/fixtures/llama2c is absent: stories260K rows skipped");
        return Ok(None);
    };
    let gguf = inference::llama2c::to_gguf(&model, &vocab, inference::llama2c::Quant::Q8_0)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = util::root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("stories260K-q8_0.gguf");
    std::fs::write(&path, gguf)?;
    Ok(Some(path))
}

/// Median tokens/s of `runs` generations of `tokens` tokens on `cores` cores.
fn tokens_per_second(session: &mut Session, cores: u64, tokens: u64, runs: usize) -> Result<f64> {
    let mut samples = Vec::new();
    for run in 0..runs {
        let out = session.call(
            "llm_generate",
            json!({"prompt": "Once upon a time", "max_tokens": tokens, "cores": cores, "seed": run}),
        )?;
        let generated = out["generated_tokens"].as_f64().unwrap_or(0.0);
        let micros = out["elapsed_us"].as_f64().unwrap_or(0.0).max(1.0);
        samples.push(generated * 1e6 / micros);
    }
    Ok(Summary::of(&samples).median)
}

/// Round trips of `ping` sent every 20 ms while a generation of `tokens` tokens runs (ms).
fn ping_during_generation(session: &mut Session, tokens: u64) -> Result<Vec<f64>> {
    let generation = session.submit(
        "tools/call",
        json!({"name": "llm_generate", "arguments": {"prompt": "Once upon a time", "max_tokens": tokens}, "_meta": {"progressToken": "bench"}}),
    )?;
    let mut sent: Vec<(u64, Instant)> = Vec::new();
    let mut latencies = Vec::new();
    let mut last_ping = Instant::now() - Duration::from_secs(1);
    let mut done = false;
    while !done || latencies.len() < sent.len() {
        if !done && last_ping.elapsed() >= Duration::from_millis(20) {
            let id = session.submit("ping", json!({}))?;
            sent.push((id, Instant::now()));
            last_ping = Instant::now();
        }
        let Ok((at, message)) = session.lines.recv_timeout(Duration::from_millis(5)) else { continue };
        if message["id"] == generation {
            done = true;
        } else if let Some((_, start)) = sent.iter().find(|(id, _)| message["id"] == *id) {
            latencies.push(at.duration_since(*start).as_secs_f64() * 1e3);
        }
    }
    Ok(latencies)
}

/// `intent_parse` figures, all in ms: round trips for distinct requests (cache misses) and
/// for the same requests again (cache hits), the kernel's own decision times for both (from
/// `kernel://decisions`), and `ping` round trips in the same session (the transport's share).
struct IntentLatency {
    miss: Vec<f64>,
    hit: Vec<f64>,
    kernel_miss: Vec<f64>,
    kernel_hit: Vec<f64>,
    ping: Vec<f64>,
}

fn intent_latency(session: &mut Session) -> Result<IntentLatency> {
    const REQUESTS: [&str; 16] = [
        "how much memory is free",
        "show me the boot timeline",
        "what board is this",
        "read 8 random bytes",
        "show the last 5 log lines",
        "list the tasks",
        "what model is loaded",
        "how long did boot take",
        "give me some random numbers",
        "tell me about the system",
        "what is the capital of france",
        "reboot the machine",
        "set pin 17 high",
        "read 2 bytes from register 0xd0 of i2c device 0x76",
        "scan the i2c bus",
        "turn off the kitchen lights",
    ];
    let timed = |session: &mut Session, method: &str, params: Value| -> Result<f64> {
        let start = Instant::now();
        let reply = session.request(method, params)?;
        if reply.get("error").is_some() {
            bail!("{method} failed: {reply}");
        }
        Ok(start.elapsed().as_secs_f64() * 1e3)
    };
    let mut figures =
        IntentLatency { miss: vec![], hit: vec![], kernel_miss: vec![], kernel_hit: vec![], ping: vec![] };
    for round in 0..2 {
        for request in REQUESTS {
            let ms = timed(session, "tools/call", json!({"name": "intent_parse", "arguments": {"text": request}}))?;
            if round == 0 {
                figures.miss.push(ms)
            } else {
                figures.hit.push(ms)
            }
            figures.ping.push(timed(session, "ping", json!({}))?);
        }
    }
    let decisions = session.request("resources/read", json!({"uri": "kernel://decisions"}))?;
    let text = decisions["result"]["contents"][0]["text"].as_str().context("kernel://decisions has no text")?;
    let records: Value = serde_json::from_str(text)?;
    for record in records["decisions"].as_array().context("no decisions")? {
        let Some(us) = record["latency_us"].as_u64() else { continue };
        let ms = us as f64 / 1e3;
        if record["cached"] == true {
            figures.kernel_hit.push(ms)
        } else {
            figures.kernel_miss.push(ms)
        }
    }
    Ok(figures)
}

pub fn run(runs: usize, tokens: u64, extra: Option<&Path>) -> Result<()> {
    let image = build::Args { board: Board::Raspi3b, release: true, test_hooks: false }.run()?.image;
    let mut models: Vec<(String, Option<PathBuf>)> = vec![("embedded intent model".into(), None)];
    if let Some(path) = stories260k()? {
        models.push(("stories260K q8_0".into(), Some(path)));
    }
    println!("QEMU raspi3b, release kernel, {tokens} tokens per generation, median of {runs} runs");
    println!("{:<24} {:>12} {:>12} {:>9}", "model", "1 core t/s", "4 cores t/s", "scaling");
    let mut sessions = Vec::new();
    for (name, path) in &models {
        let mut session = Session::start(&image, path.as_deref())?;
        let one = tokens_per_second(&mut session, 1, tokens, runs)?;
        let four = tokens_per_second(&mut session, 4, tokens, runs)?;
        println!("{name:<24} {one:>12.1} {four:>12.1} {:>8.2}x", four / one);
        sessions.push((name.clone(), session));
    }
    if let Some(path) = extra {
        let (tokens, runs) = (tokens.min(8), runs.min(2));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        eprintln!(
            "{name}: placing the model in guest RAM and generating {tokens} tokens {runs} times on 1 and on 4 cores..."
        );
        let mut session = Session::start(&image, Some(path))?;
        let info = session.call("llm_info", json!({}))?;
        if info["source"] != "placed" {
            bail!("the kernel did not take {name} (llm_info: {info})");
        }
        let one = tokens_per_second(&mut session, 1, tokens, runs)?;
        let four = tokens_per_second(&mut session, 4, tokens, runs)?;
        println!("{:<24} {one:>12.2} {four:>12.2} {:>8.2}x   ({tokens} tokens, median of {runs})", name, four / one);
    }
    // Intent latency with the embedded model; ping during a long generation with the story
    // model when there is one (the intent model ends its answers after a few tokens).
    let Some((_, session)) = sessions.first_mut() else { return Ok(()) };
    let intent = intent_latency(session)?;
    let median = |v: &[f64]| if v.is_empty() { f64::NAN } else { Summary::of(v).median };
    println!("intent_parse on the embedded model (n={} requests, each asked twice):", intent.miss.len());
    println!("{:<34} {:>12} {:>12} {:>10}", "", "median ms", "p99 ms", "target");
    for (name, v, target) in [
        ("round trip, new request", &intent.miss, "< 30"),
        ("round trip, repeated (cached)", &intent.hit, ""),
        ("ping round trip (transport)", &intent.ping, ""),
        ("in the kernel, new request", &intent.kernel_miss, "< 30"),
        ("in the kernel, repeated (cached)", &intent.kernel_hit, "< 1"),
    ] {
        println!(
            "{name:<34} {:>12.2} {:>12.2} {target:>10}",
            median(v),
            if v.is_empty() { f64::NAN } else { percentile(v, 0.99) }
        );
    }
    println!(
        "decision time over transport: new {:.1}x a ping, cached {:.1}x",
        median(&intent.miss) / median(&intent.ping),
        median(&intent.hit) / median(&intent.ping)
    );
    let Some((model, session)) = sessions.last_mut() else { return Ok(()) };
    let pings = ping_during_generation(session, 256)?;
    if pings.is_empty() {
        println!("ping during a 256-token generation: no pings sent (generation finished at once)");
    } else {
        println!(
            "ping round trip during a 256-token generation of the {model} (n={}): median {:.1} ms, p99 {:.1} ms (test limit: p99 < 50 ms)",
            pings.len(),
            Summary::of(&pings).median,
            percentile(&pings, 0.99)
        );
    }
    Ok(())
}
