//! `cargo xtask soak --minutes N [--board virt|raspi3b]`: the kernel in QEMU under mixed load
//! for N minutes — MCP over HTTP from several sessions with a generation running and hostile
//! clients beside them (`xtask/py/soak.py`), and MCP pings over the serial console at the
//! same time — then requests, errors, p50/p99 per transport and the kernel heap after a
//! warm-up and at the end. Fails on any error or on heap growth past [`MAX_GROWTH`].

use crate::{board::Board, build, deps, qemu, util};
use anyhow::{bail, Context, Result};
use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};
use testkit::process::Guard;

/// Heap growth allowed between the warm-up and the end (rings filling up, pools).
pub const MAX_GROWTH: i64 = 64 * 1024;

/// Soak the kernel under mixed, partly hostile load.
#[derive(clap::Args)]
pub struct Args {
    /// How long, in minutes.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// The QEMU board.
    #[arg(long, value_enum, default_value = "virt")]
    board: Board,
    /// Boot this kernel image instead of building the release kernel (the test passes its
    /// test image).
    #[arg(long)]
    image: Option<PathBuf>,
}

/// What the serial side measured.
#[derive(Default)]
struct Serial {
    requests: usize,
    errors: usize,
    latencies_ms: Vec<f64>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

impl Args {
    pub fn run(self) -> Result<()> {
        let seconds = self.minutes * 60.0;
        if seconds.is_nan() || seconds < 10.0 {
            bail!("--minutes must give at least 10 seconds");
        }
        let python = deps::ensure_python_packages()?;
        deps::ensure_qemu(self.board.name())?;
        let image = match self.image {
            Some(image) => image,
            None => build::Args { board: self.board, release: true, test_hooks: false }.run()?.image,
        };
        let port = qemu::free_port()?;
        let token = qemu::random_token()?;
        let mut command = qemu::net_machine(self.board, &image, port, &token)?;
        command.args(["-serial", "stdio"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        util::echo(&command);
        let mut child = command.spawn().context("starting QEMU")?;
        let mut stdin = child.stdin.take().context("QEMU stdin")?;
        let stdout = child.stdout.take().context("QEMU stdout")?;
        let _guard = Guard::kill(child);
        qemu::wait_http(port, &format!("the kernel on {}", self.board.name()))?;

        // The console's JSON-RPC answers, by id, as they arrive.
        let (answers, arrived) = mpsc::channel::<(u64, bool, Instant)>();
        // The console's other lines (the kernel log), the newest kept for a failure report.
        let console = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::<String>::new()));
        let kept = std::sync::Arc::clone(&console);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Some(start) = line.find("{\"jsonrpc\"") else {
                    if let Ok(mut kept) = kept.lock() {
                        if kept.len() == 60 {
                            kept.pop_front();
                        }
                        kept.push_back(line);
                    }
                    continue;
                };
                let Ok(value) = serde_json::from_str::<serde_json::Value>(&line[start..]) else { continue };
                if let Some(id) = value["id"].as_u64() {
                    let _ = answers.send((id, value.get("result").is_some(), Instant::now()));
                }
            }
        });
        let url = format!("http://127.0.0.1:{port}/mcp");
        eprintln!("soak: {:.0} s on {} (HTTP at {url}, serial pings beside)...", seconds, self.board.name());
        let network = Command::new(&python)
            .arg(util::root().join("xtask/py/soak.py"))
            .args([&url, &token, &format!("{seconds}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the soak client")?;

        // Serial: one ping every 100 ms, each answered within 5 s.
        let mut serial = Serial::default();
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let mut id = 1_000_000u64;
        while Instant::now() < deadline {
            id += 1;
            let sent = Instant::now();
            writeln!(stdin, "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}")?;
            stdin.flush()?;
            serial.requests += 1;
            loop {
                match arrived.recv_timeout(Duration::from_secs(5).saturating_sub(sent.elapsed())) {
                    Ok((got, ok, at)) if got == id => {
                        serial.latencies_ms.push(at.duration_since(sent).as_secs_f64() * 1e3);
                        serial.errors += usize::from(!ok);
                        break;
                    }
                    Ok(_) => continue,
                    Err(_) => {
                        serial.errors += 1;
                        break;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = network.wait_with_output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let net: serde_json::Value = serde_json::from_str(text.trim()).with_context(|| {
            let tail: Vec<String> = console.lock().map(|c| c.iter().cloned().collect()).unwrap_or_default();
            format!(
                "the soak client's summary ({}): {text}\nthe kernel's console, last lines:\n{}",
                output.status,
                tail.join("\n")
            )
        })?;
        serial.latencies_ms.sort_by(f64::total_cmp);
        let (before, after) = (net["heap_before"].as_i64().unwrap_or(0), net["heap_after"].as_i64().unwrap_or(0));
        println!(
            "soak on QEMU {} for {:.0} s ({} generations, {} hostile connections beside)",
            self.board.name(),
            seconds,
            net["generations"],
            net["hostile_connections"]
        );
        println!("{:<18} {:>9} {:>7} {:>9} {:>9}", "transport", "requests", "errors", "p50 ms", "p99 ms");
        println!(
            "{:<18} {:>9} {:>7} {:>9.2} {:>9.2}",
            "MCP over HTTP",
            net["requests"].as_u64().unwrap_or(0),
            net["errors"].as_u64().unwrap_or(0),
            net["p50_ms"].as_f64().unwrap_or(0.0),
            net["p99_ms"].as_f64().unwrap_or(0.0)
        );
        println!(
            "{:<18} {:>9} {:>7} {:>9.2} {:>9.2}",
            "MCP over serial",
            serial.requests,
            serial.errors,
            percentile(&serial.latencies_ms, 0.5),
            percentile(&serial.latencies_ms, 0.99)
        );
        println!(
            "kernel heap used: {before} bytes after warm-up (under load), {after} at the end, idle ({:+} bytes)",
            after - before
        );
        let net_errors = net["errors"].as_u64().unwrap_or(u64::MAX);
        if net_errors != 0 || serial.errors != 0 {
            bail!("soak: {net_errors} HTTP errors (first: {}), {} serial errors", net["first_errors"], serial.errors);
        }
        if after - before > MAX_GROWTH {
            bail!("soak: the heap grew by {} bytes (more than {MAX_GROWTH})", after - before);
        }
        println!("soak: 0 errors, heap growth within {} KiB", MAX_GROWTH / 1024);
        Ok(())
    }
}
