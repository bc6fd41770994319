//! `cargo xtask bench net`: MCP over Streamable HTTP — requests/s and p50/p99 latency of
//! `ping` and a small `tools/call` from concurrent clients, against the release kernel in
//! QEMU (virt; raspi3b when its USB network comes up) and, in the same run, against an MCP
//! server built with the official Python SDK on the host (`xtask/py/net_reference_server.py`),
//! as a ratio. Runs interleave kernel and reference; figures are medians over rounds.

use crate::{board::Board, build, deps, qemu, util};
use anyhow::{bail, Context, Result};
use std::{
    path::Path,
    process::{Command, Stdio},
};
use testkit::process::Guard;

/// What one load run measured.
#[derive(Clone, Copy, Debug, Default)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
}

fn load(python: &Path, url: &str, token: &str, kind: &str, clients: usize, seconds: f64) -> Result<Load> {
    let script = util::root().join("xtask/py/net_load.py");
    let out = Command::new(python)
        .arg(script)
        .args([url, token, kind, &clients.to_string(), &seconds.to_string()])
        .output()?;
    if !out.status.success() {
        bail!("load run failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(line.trim()).with_context(|| format!("load output: {line}"))?;
    let f = |k: &str| value[k].as_f64().unwrap_or(0.0);
    Ok(Load { rps: f("rps"), p50_ms: f("p50_ms"), p99_ms: f("p99_ms"), failed: value["failed"].as_u64().unwrap_or(0) })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn summarize(runs: &[Load]) -> Load {
    Load {
        rps: median(runs.iter().map(|r| r.rps).collect()),
        p50_ms: median(runs.iter().map(|r| r.p50_ms).collect()),
        p99_ms: median(runs.iter().map(|r| r.p99_ms).collect()),
        failed: runs.iter().map(|r| r.failed).sum(),
    }
}

/// Boots the release kernel of `board` with the network; returns QEMU and the URL.
fn boot(board: Board, token: &str) -> Result<(Guard, String)> {
    deps::ensure_qemu(board.name())?;
    let image = build::Args { board, release: true, test_hooks: false }.run()?.image;
    let port = qemu::free_port()?;
    let mut command = qemu::net_machine(board, &image, port, token)?;
    command.args(["-serial", "null"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    util::echo(&command);
    let child = Guard::kill(command.spawn()?);
    qemu::wait_http(port, &format!("the kernel on {}", board.name()))?;
    Ok((child, format!("http://127.0.0.1:{port}/mcp")))
}

/// Runs the benchmark.
pub fn run(boards: &[Board], rounds: usize, clients: usize, seconds: f64) -> Result<()> {
    let python = deps::ensure_python_packages()?;
    let reference_port = qemu::free_port()?;
    let mut reference = Command::new(&python);
    reference
        .arg(util::root().join("xtask/py/net_reference_server.py"))
        .arg(reference_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    util::echo(&reference);
    let _reference = Guard::kill(reference.spawn()?);
    qemu::wait_http(reference_port, "the Python SDK reference server")?;
    let reference_url = format!("http://127.0.0.1:{reference_port}/mcp");
    let token = "bench-token-0123456789abcdef";
    let mut rows = Vec::new();
    for &board in boards {
        let (guest, url) = match boot(board, token) {
            Ok(found) => found,
            Err(error) => {
                eprintln!("skipping {}: {error:#}", board.name());
                continue;
            }
        };
        for kind in ["ping", "call"] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                eprintln!("{} {kind}: round {}/{rounds}", board.name(), round + 1);
                ours.push(load(&python, &url, token, kind, clients, seconds)?);
                theirs.push(load(&python, &reference_url, "-", kind, clients, seconds)?);
            }
            rows.push((board, kind, summarize(&ours), summarize(&theirs)));
        }
        drop(guest);
    }
    println!();
    println!("MCP over Streamable HTTP, {clients} concurrent clients, {seconds} s per run, median of {rounds} interleaved runs");
    println!("(Kingly OS: release kernel in QEMU via user-mode networking; reference: official Python SDK MCPServer on the host)");
    println!();
    println!("| board | request | Kingly req/s | p50 ms | p99 ms | reference req/s | p50 ms | p99 ms | req/s ratio |");
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|");
    for (board, kind, ours, theirs) in &rows {
        let name = if *kind == "ping" { "ping" } else { "tools/call memory_stats" };
        println!(
            "| {} | {name} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2}x |",
            board.name(),
            ours.rps,
            ours.p50_ms,
            ours.p99_ms,
            theirs.rps,
            theirs.p50_ms,
            theirs.p99_ms,
            ours.rps / theirs.rps.max(1e-9)
        );
    }
    let failed: u64 = rows.iter().map(|r| r.2.failed + r.3.failed).sum();
    println!();
    println!("failed requests: {failed}");
    if rows.is_empty() {
        bail!("no board could be measured");
    }
    Ok(())
}
