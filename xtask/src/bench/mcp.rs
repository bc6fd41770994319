//! `cargo xtask bench mcp`: the MCP core measured three ways, each next to a peer in the
//! same run.
//!
//! - In process: a JSON-RPC ping and a small `tools/call` round trip next to a Linux system
//!   call (`getppid`), the typed call path next to the handler body alone, allocations per
//!   request (this process counts them: `testkit::alloc_counter`).
//! - Over a pipe: the core as a host process on stdin/stdout (`xtask mcp-stdio`, this
//!   binary) against the official Rust SDK (rmcp, built from `xtask/peers/rmcp-server`) and
//!   the official Python SDK (`xtask/py/net_reference_server.py --stdio`), sequential round
//!   trips from this process, round trips/s and ratios.
//! - Over QEMU's emulated UART: pings to the release kernel on raspi3b.

use super::{measure, Figure};
use crate::{board::Board, build, deps, qemu, util};
use anyhow::{bail, Context, Result};
use mcp::{
    json, Annotations, Ctx, Declaration, Integer, Server, ServerInfo, Tool, ToolError, ToolOutput, TypedTool, Value,
};
use std::{
    hint::black_box,
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use testkit::{alloc_counter, process::Guard};

const ADD_INPUT: &str = r#"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"],"additionalProperties":false}"#;
const ADD_OUTPUT: &str = r#"{"type":"object","properties":{"sum":{"type":"integer"}}}"#;

/// `add`, a typed tool (arguments decoded into `(i64, i64)`, no schema walk).
struct Add;

impl TypedTool for Add {
    type Args = (i64, i64);
    const DECLARATION: Declaration = Declaration::typed::<Add>("add")
        .title("Add")
        .description("Adds two integers")
        .input_schema_text(ADD_INPUT)
        .output_schema_text(ADD_OUTPUT)
        .annotations(Annotations::READ_ONLY);

    fn decode(arguments: &str) -> Option<(i64, i64)> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            a: Integer,
            b: Integer,
        }
        let args: Args = mcp::tool::decode_object(arguments)?;
        Some((args.a.0, args.b.0))
    }

    fn run(_: &mut Ctx<'_>, (a, b): (i64, i64)) -> Result<ToolOutput, ToolError> {
        Ok(handler_body(a, b))
    }
}

/// What the handler does, measured alone as the typed path's peer.
#[inline(never)]
fn handler_body(a: i64, b: i64) -> ToolOutput {
    ToolOutput::new(json!({ "sum": add(a, b) }))
}

fn bench_server() -> Server {
    let mut server = Server::new(ServerInfo {
        name: "kingly-bench".into(),
        title: "Kingly OS MCP core (benchmark)".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        instructions: String::new(),
    });
    static ADD: Declaration = Add::DECLARATION;
    // The same tool declared the untyped way: its arguments are checked by a schema walk.
    let checked = Tool::new("add_checked", |_, args| {
        let a = args.get("a").and_then(Value::as_i64).unwrap_or(0);
        let b = args.get("b").and_then(Value::as_i64).unwrap_or(0);
        Ok(handler_body(a, b))
    })
    .title("Add (schema-checked)")
    .input_schema_text(ADD_INPUT)
    .output_schema_text(ADD_OUTPUT)
    .annotations(Annotations::READ_ONLY);
    if server.add_declared(&ADD).is_err() || server.add_tool(checked).is_err() {
        unreachable!("static tool declarations");
    }
    server
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#;

/// `cargo xtask mcp-stdio`: the MCP core (with the benchmark's tools) on stdin/stdout, one
/// message per line — the process `bench mcp` measures against the SDK servers.
pub fn serve_stdio(floor: bool) -> Result<()> {
    let mut server = bench_server();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut output = stdout.lock();
    let mut line = Vec::with_capacity(4096);
    let mut answer = String::with_capacity(4096);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let message = line.trim_ascii_end();
        if message.is_empty() {
            continue;
        }
        if floor {
            // The pipe alone: read a line, write a fixed answer (the initialize answer
            // is a result too, so the client's handshake passes).
            output.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n")?;
            output.flush()?;
            continue;
        }
        if server.handle_message_into(message, None, None, &mut answer) {
            answer.push('\n');
            output.write_all(answer.as_bytes())?;
            output.flush()?;
        }
    }
}

#[inline(never)]
fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

fn row(name: &str, figure: &Figure, allocations: Option<f64>, peer: Option<(&str, &Figure)>) {
    let per_second = 1e9 / figure.p50;
    let allocations = allocations.map_or(String::from("-"), |a| format!("{a:.1}"));
    match peer {
        Some((peer_name, peer_figure)) => println!(
            "| {name:<36} | {:>9.0} | {:>9.0} | {:>11.0} | {allocations:>6} | {peer_name:<22} {:>9.0} ns | {:>6.2}x |",
            figure.p50,
            figure.p99,
            per_second,
            peer_figure.p50,
            figure.p50 / peer_figure.p50
        ),
        None => println!(
            "| {name:<36} | {:>9.0} | {:>9.0} | {:>11.0} | {allocations:>6} | {:<35} | {:>7} |",
            figure.p50, figure.p99, per_second, "", ""
        ),
    }
}

/// Two operations measured in alternating batches (so that a change of clock speed or a
/// neighbour's load hits both alike): their figures and the median of the per-batch ratios.
fn measure_pair(batches: usize, per_batch: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (Figure, Figure, f64) {
    let (mut first, mut second, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..batches {
        let fa = measure(1, per_batch, &mut a);
        let fb = measure(1, per_batch, &mut b);
        ratios.push(fa.p50 / fb.p50);
        first.push(fa.p50);
        second.push(fb.p50);
    }
    let figure = |samples: &[f64]| Figure {
        p50: super::stats::Summary::of(samples).median,
        p99: super::stats::percentile(samples, 0.99),
    };
    (figure(&first), figure(&second), super::stats::Summary::of(&ratios).median)
}

/// Allocations per call of `op` (this process counts them), over 1000 calls after a warm-up.
fn allocations_per(mut op: impl FnMut()) -> f64 {
    op();
    let before = alloc_counter::allocations();
    for _ in 0..1000 {
        op();
    }
    (alloc_counter::allocations() - before) as f64 / 1000.0
}

pub fn run(batches: usize, in_process: bool) -> Result<()> {
    let mut server = bench_server();
    let _ = server.handle_message(INITIALIZE.as_bytes());
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let call = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}"#;
    let checked =
        br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add_checked","arguments":{"a":2,"b":3}}}"#;
    let mut answer = String::with_capacity(1024);
    eprintln!("measuring in process ({batches} batches per figure)...");
    let mut syscall_op = || {
        black_box(std::os::unix::process::parent_id());
    };
    let mut ping_op = || {
        black_box(server.handle_message_into(black_box(ping), None, None, &mut answer));
    };
    let (ping_rt, syscall, ping_ratio) = measure_pair(batches, 2000, &mut ping_op, &mut syscall_op);
    let ping_allocations = allocations_per(&mut ping_op);
    let mut call_op = || {
        black_box(server.handle_message_into(black_box(call), None, None, &mut answer));
    };
    let call_rt = measure(batches, 1000, &mut call_op);
    let call_allocations = allocations_per(&mut call_op);
    let mut checked_op = || {
        black_box(server.handle_message_into(black_box(checked), None, None, &mut answer));
    };
    let checked_rt = measure(batches, 500, &mut checked_op);
    let checked_allocations = allocations_per(&mut checked_op);
    // Kernel code holds a context for its calls; both figures use the same one.
    let mut outgoing = Vec::new();
    let mut ctx = Ctx::detached(&mut outgoing);
    let (typed, direct, typed_ratio, typed_allocations, direct_allocations) = {
        let ctx = std::cell::RefCell::new(&mut ctx);
        let mut typed_op = || {
            black_box(server.call_typed::<Add>(&mut ctx.borrow_mut(), black_box((2, 3))).ok());
        };
        let mut direct_op = || {
            black_box(Add::run(&mut ctx.borrow_mut(), black_box((2, 3))).ok());
        };
        let (typed, direct, ratio) = measure_pair(batches, 2000, &mut typed_op, &mut direct_op);
        (typed, direct, ratio, allocations_per(&mut typed_op), allocations_per(&mut direct_op))
    };

    let (pipes, uart) = if in_process {
        (Vec::new(), None)
    } else {
        eprintln!("measuring over pipes: this core, rmcp and the Python SDK as stdio servers...");
        let pipes = pipe_peers(batches)?;
        eprintln!("measuring over the emulated UART (QEMU raspi3b, release kernel)...");
        (pipes, Some(uart_round_trips()?))
    };

    println!();
    println!("In process (one host core):");
    println!();
    println!("| measurement                          |  p50 (ns) |  p99 (ns) |  per second | allocs | peer (same run)                     |   ratio |");
    println!("|--------------------------------------|----------:|----------:|------------:|-------:|-------------------------------------|--------:|");
    let peer = Some(("getppid syscall", &syscall));
    row("JSON-RPC ping round trip", &ping_rt, Some(ping_allocations), peer);
    row("tools/call add (typed arguments)", &call_rt, Some(call_allocations), peer);
    row("tools/call add_checked (schema walk)", &checked_rt, Some(checked_allocations), peer);
    row("typed call_typed (no JSON)", &typed, Some(typed_allocations), Some(("handler alone", &direct)));
    row("handler alone (Add::run)", &direct, Some(direct_allocations), None);
    row("Linux getppid syscall", &syscall, None, None);
    println!();
    let targets = format!(
        "Targets: ping <= 2x getppid ({ping_ratio:.2}x), small tools/call <= 1 us ({:.0} ns), typed path <= 1.05x its \
         handler ({typed_ratio:.2}x), no allocation on ping ({ping_allocations:.1}) [ratios: medians of alternating \
         batches]",
        call_rt.p50,
    );
    let (Some(ours), Some(uart)) = (pipes.first(), uart) else {
        println!("{targets}.");
        return Ok(());
    };
    println!("Over a pipe (stdio servers on this host, sequential round trips from one client):");
    println!();
    println!("| server                            | ping round trips/s | tools/call add round trips/s | Kingly's speed-up, ping | Kingly's speed-up, call |");
    println!("|-----------------------------------|-------------------:|-----------------------------:|------------------------:|------------------------:|");
    for peer in &pipes {
        println!(
            "| {:<33} | {:>18.0} | {:>28.0} | {:>22.2}x | {:>22.2}x |",
            peer.name,
            1e9 / peer.ping.p50,
            1e9 / peer.call.p50,
            peer.ping.p50 / ours.ping.p50,
            peer.call.p50 / ours.call.p50,
        );
    }
    if let Some(floor) = pipes.iter().find(|p| p.name.starts_with("pipe floor")) {
        let above = |figure: &Figure, floor: &Figure| (figure.p50 - floor.p50).max(0.0) / 1000.0;
        println!();
        println!("Above the pipe floor (microseconds per round trip spent in the server, p50):");
        for peer in pipes.iter().filter(|p| !p.name.starts_with("pipe floor")) {
            println!(
                "  {:<33} ping {:>7.1} us, call {:>7.1} us",
                peer.name,
                above(&peer.ping, &floor.ping),
                above(&peer.call, &floor.call)
            );
        }
    }
    println!();
    println!("Over QEMU's emulated UART (raspi3b, release kernel):");
    println!();
    row("ping over emulated UART (QEMU)", &uart, None, None);
    println!();
    println!(
        "{targets}, pipe >= 2x rmcp's best ({:.2}x ping, {:.2}x call).",
        pipes.iter().filter(|p| p.name.starts_with("rmcp")).map(|p| p.ping.p50).fold(f64::MAX, f64::min)
            / ours.ping.p50,
        pipes.iter().filter(|p| p.name.starts_with("rmcp")).map(|p| p.call.p50).fold(f64::MAX, f64::min)
            / ours.call.p50,
    );
    Ok(())
}

/// One stdio server's round trips.
struct PipeFigures {
    name: String,
    ping: Figure,
    call: Figure,
}

/// Builds the rmcp peer (release; first run takes a minute or two) and returns its binary.
fn rmcp_server() -> Result<PathBuf> {
    let manifest = util::root().join("xtask/peers/rmcp-server/Cargo.toml");
    let target = util::root().join("target/peers");
    let mut cargo = util::cargo();
    cargo.args(["build", "--release", "--quiet", "--manifest-path"]).arg(&manifest).arg("--target-dir").arg(&target);
    util::run(&mut cargo).context("building the rmcp peer server")?;
    Ok(target.join("release/rmcp-bench-server"))
}

fn pipe_peers(batches: usize) -> Result<Vec<PipeFigures>> {
    let python = deps::ensure_python_packages()?;
    let rmcp = rmcp_server()?;
    let mut ours = Command::new(std::env::current_exe()?);
    ours.arg("mcp-stdio");
    let mut rmcp_single = Command::new(&rmcp);
    rmcp_single.arg("--current-thread");
    let mut rmcp_multi = Command::new(&rmcp);
    rmcp_multi.arg("--multi-thread");
    let mut python_sdk = Command::new(python);
    python_sdk.arg(util::root().join("xtask/py/net_reference_server.py")).arg("--stdio");
    let mut floor = Command::new(std::env::current_exe()?);
    floor.args(["mcp-stdio", "--floor"]);
    let servers = [
        ("Kingly OS MCP core", ours, batches),
        ("pipe floor (fixed answer, no MCP)", floor, batches),
        ("rmcp (Rust SDK), current-thread", rmcp_single, batches),
        ("rmcp (Rust SDK), multi-thread", rmcp_multi, batches),
        // The Python server is ~100x slower per round trip: fewer batches, same per batch.
        ("Python SDK (MCPServer)", python_sdk, (batches / 10).max(10)),
    ];
    servers.into_iter().map(|(name, command, batches)| pipe_round_trips(name, command, batches)).collect()
}

/// A line-delimited JSON-RPC client on a child's stdin/stdout.
struct PipeClient<'a> {
    name: &'a str,
    input: std::process::ChildStdin,
    output: BufReader<std::process::ChildStdout>,
    line: String,
    buffer: Vec<u8>,
}

impl PipeClient<'_> {
    fn notify(&mut self, message: &str) -> Result<()> {
        // One write per message: two would wake the server twice.
        self.buffer.clear();
        self.buffer.extend_from_slice(message.as_bytes());
        self.buffer.push(b'\n');
        self.input.write_all(&self.buffer)?;
        Ok(self.input.flush()?)
    }

    /// Sends a request and reads up to its answer (skipping the server's notifications).
    fn ask(&mut self, message: &str) -> Result<()> {
        self.notify(message)?;
        loop {
            self.line.clear();
            if self.output.read_line(&mut self.line)? == 0 {
                bail!("{} closed its output", self.name);
            }
            if self.line.contains(r#""result""#) {
                return Ok(());
            }
            if self.line.contains(r#""error""#) {
                bail!("{} answered with an error: {}", self.name, self.line);
            }
        }
    }
}

/// Sequential round trips to a stdio MCP server: initialize, then pings and `add` calls.
fn pipe_round_trips(name: &str, mut command: Command, batches: usize) -> Result<PipeFigures> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = Guard::kill(command.spawn().with_context(|| format!("starting {name}"))?);
    let input = child.stdin.take().context("stdin")?;
    let output = BufReader::new(child.stdout.take().context("stdout")?);
    let mut client = PipeClient { name, input, output, line: String::new(), buffer: Vec::new() };
    client.ask(INITIALIZE)?;
    client.notify(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)?;
    let mut failure = None;
    let mut ask = |message: &str| {
        if failure.is_none() {
            if let Err(error) = client.ask(message) {
                failure = Some(error);
            }
        }
    };
    let ping = measure(batches, 50, || ask(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#));
    let call = measure(batches, 50, || {
        ask(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}"#)
    });
    if let Some(error) = failure {
        return Err(error);
    }
    Ok(PipeFigures { name: name.into(), ping, call })
}

/// Sequential pings through QEMU's emulated PL011 from this process.
fn uart_round_trips() -> Result<Figure> {
    let board = Board::Raspi3b;
    deps::ensure_qemu(board.name())?;
    let output = build::Args { board, release: true, test_hooks: false }.run()?;
    let mut child = Command::new(deps::QEMU)
        .args(qemu::machine_args(board, &output.image)?)
        .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let result = (|| {
        let mut input = child.stdin.take().context("stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?);
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = Vec::new();
        while !seen.ends_with(b"kingly> ") {
            let mut byte = [0u8; 1];
            std::io::Read::read_exact(&mut lines, &mut byte)?;
            seen.push(byte[0]);
            if Instant::now() > deadline {
                bail!("kernel not ready");
            }
        }
        let mut ask = |message: &str| -> Result<()> {
            input.write_all(message.as_bytes())?;
            input.write_all(b"\r")?;
            input.flush()?;
            let mut line = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    bail!("QEMU closed the console");
                }
                if line.starts_with('{') {
                    return Ok(());
                }
            }
        };
        ask(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#,
        )?;
        let mut failure = None;
        let figure = measure(30, 20, || {
            if let Err(error) = ask(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#) {
                failure = Some(error);
            }
        });
        match failure {
            Some(error) => Err(error),
            None => Ok(figure),
        }
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
