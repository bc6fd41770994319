//! `cargo xtask bench mcp`: JSON-RPC round trips on the host next to a Linux system call,
//! the typed call path next to the handler body, and pings over QEMU's emulated UART.

use super::{measure, Figure};
use crate::{board::Board, build, deps, qemu};
use anyhow::{bail, Context, Result};
use mcp::{json, Annotations, Server, ServerInfo, Tool, ToolOutput, Value};
use std::{
    hint::black_box,
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn bench_server() -> Server {
    let mut server = Server::new(ServerInfo {
        name: "bench".into(),
        title: "bench".into(),
        version: "0".into(),
        instructions: String::new(),
    });
    let tool = Tool::new("add", |_, args| {
        let a = args.get("a").and_then(Value::as_i64).unwrap_or(0);
        let b = args.get("b").and_then(Value::as_i64).unwrap_or(0);
        Ok(ToolOutput::new(json!({ "sum": add(a, b) })))
    })
    .title("Add")
    .input_schema(json!({
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": false
    }))
    .output_schema(json!({"type": "object", "properties": {"sum": {"type": "integer"}}}))
    .annotations(Annotations::READ_ONLY);
    if server.add_tool(tool).is_err() {
        unreachable!("static tool declaration");
    }
    let _ = server.handle_message(
        br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#,
    );
    server
}

#[inline(never)]
fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

fn row(name: &str, figure: &Figure, peer: Option<(&str, &Figure)>) {
    let per_second = 1e9 / figure.p50;
    match peer {
        Some((peer_name, peer_figure)) => println!(
            "| {name:<34} | {:>10.0} | {:>10.0} | {:>12.0} | {peer_name:<22} {:>8.0} ns | {:>6.2}x |",
            figure.p50,
            figure.p99,
            per_second,
            peer_figure.p50,
            figure.p50 / peer_figure.p50
        ),
        None => println!(
            "| {name:<34} | {:>10.0} | {:>10.0} | {:>12.0} | {:<34} | {:>7} |",
            figure.p50, figure.p99, per_second, "", ""
        ),
    }
}

pub fn run(batches: usize) -> Result<()> {
    let mut server = bench_server();
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let call = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}"#;
    eprintln!("measuring on the host ({batches} batches per figure)...");
    let syscall = measure(batches, 2000, || {
        black_box(std::os::unix::process::parent_id());
    });
    let ping_rt = measure(batches, 2000, || {
        black_box(server.handle_message(black_box(ping)));
    });
    let call_rt = measure(batches, 500, || {
        black_box(server.handle_message(black_box(call)));
    });
    let args = json!({"a": 2, "b": 3});
    let typed = measure(batches, 1000, || {
        black_box(server.call_tool(black_box("add"), black_box(&args)).ok());
    });
    let direct = measure(batches, 1000, || {
        let a = black_box(&args)["a"].as_i64().unwrap_or(0);
        let b = black_box(&args)["b"].as_i64().unwrap_or(0);
        black_box(json!({ "sum": add(a, b) }));
    });

    eprintln!("measuring over the emulated UART (QEMU raspi3b, release kernel)...");
    let uart = uart_round_trips()?;

    println!();
    println!("| measurement                        |   p50 (ns) |   p99 (ns) |  per second   | peer (same run)                 |   ratio |");
    println!("|------------------------------------|-----------:|-----------:|-------------:|---------------------------------|--------:|");
    let peer = Some(("getppid syscall", &syscall));
    row("JSON-RPC ping round trip", &ping_rt, peer);
    row("tools/call add (parse,check,run)", &call_rt, peer);
    row("typed call_tool (no framing)", &typed, Some(("handler body alone", &direct)));
    row("Linux getppid syscall", &syscall, None);
    row("ping over emulated UART (QEMU)", &uart, None);
    println!();
    println!("Targets: >= 1,000,000 pings/s on one host core; typed path within 5% of a plain call.");
    println!(
        "ping: {:.0}/s ({}); typed path / handler body: {:.2}x",
        1e9 / ping_rt.p50,
        if 1e9 / ping_rt.p50 >= 1_000_000.0 { "meets target" } else { "below target" },
        typed.p50 / direct.p50
    );
    Ok(())
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
