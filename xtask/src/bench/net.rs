//! `cargo xtask bench net`: MCP over Streamable HTTP — requests/s and p50/p99 latency of
//! `ping` and a small `tools/call` from concurrent clients, against the release kernel in
//! QEMU (virt; raspi3b when its USB network comes up) and, in the same run, against an MCP
//! server built with the official Python SDK on the host (`xtask/py/net_reference_server.py`),
//! as a ratio. Runs interleave kernel and reference; figures are medians over rounds.

use crate::{board::Board, build, deps, qemu, util};
use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};
use testkit::process::Guard;

/// What one load run measured.
#[derive(Clone, Copy, Debug, Default)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
}

/// One client's HTTP/1.1 connection (keep-alive), speaking just enough HTTP for MCP's
/// JSON responses (Content-Length or chunked bodies).
pub(super) struct Connection {
    stream: std::io::BufReader<std::net::TcpStream>,
    address: String,
    token: Option<String>,
    session: Option<String>,
}

impl Connection {
    pub(super) fn open(url: &str, token: &str) -> Result<Connection> {
        let address = url.trim_start_matches("http://").split('/').next().unwrap_or_default().to_string();
        let stream = std::net::TcpStream::connect(&address).with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
        let token = (token != "-").then(|| token.to_string());
        Ok(Connection { stream: std::io::BufReader::new(stream), address, token, session: None })
    }

    /// Posts one JSON-RPC message; returns the status and the body.
    pub(super) fn post(&mut self, body: &str) -> Result<(u16, String)> {
        use std::io::{BufRead, Read, Write};
        let mut head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, \
             text/event-stream\r\nContent-Length: {}\r\n",
            self.address,
            body.len()
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(session) = &self.session {
            head.push_str(&format!("Mcp-Session-Id: {session}\r\nMcp-Protocol-Version: 2025-11-25\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(body);
        self.stream.get_mut().write_all(head.as_bytes())?;
        let mut line = String::new();
        self.stream.read_line(&mut line)?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status")?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            if self.stream.read_line(&mut line)? == 0 {
                bail!("connection closed");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "mcp-session-id" => self.session = Some(value.trim().to_string()),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim(), 16).context("chunk size")?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body)?;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// `clients` concurrent MCP sessions over Streamable HTTP (one thread and one keep-alive
/// connection each) for `seconds`, each sending nothing but one kind of request (`ping` or a
/// small `tools/call`). A native client, so that the figures measure the servers: a Python
/// client spent more of the shared host CPU than either server.
fn load(url: &str, token: &str, kind: &str, clients: usize, seconds: f64) -> Result<Load> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds);
    let tool = if kind == "ping" { None } else { Some("memory_stats") };
    let started = std::time::Instant::now();
    let results: Vec<Result<(Vec<f64>, u64)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(move || -> Result<(Vec<f64>, u64)> {
                    let mut connection = Connection::open(url, token)?;
                    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
                    let (status, _) = connection.post(init)?;
                    if status != 200 {
                        bail!("initialize answered {status}");
                    }
                    connection.post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)?;
                    let (mut latencies, mut failed) = (Vec::new(), 0u64);
                    let mut id = 0u64;
                    while std::time::Instant::now() < deadline {
                        id += 1;
                        let body = match tool {
                            None => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#),
                            Some(tool) => format!(
                                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
                            ),
                        };
                        let sent = std::time::Instant::now();
                        let ok = match connection.post(&body) {
                            Ok((status, answer)) => status == 200 && !answer.contains(r#""error""#),
                            Err(_) => {
                                connection = Connection::open(url, token)?;
                                connection.post(init)?;
                                false
                            }
                        };
                        latencies.push(sent.elapsed().as_secs_f64());
                        failed += u64::from(!ok);
                    }
                    Ok((latencies, failed))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a client thread panicked"))))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (mut latencies, mut failed) = (Vec::new(), 0);
    for result in results {
        let (l, f) = result?;
        latencies.extend(l);
        failed += f;
    }
    latencies.sort_by(f64::total_cmp);
    let n = latencies.len();
    let at =
        |q: f64| latencies.get(((n as f64 * q) as usize).min(n.saturating_sub(1))).copied().unwrap_or(0.0) * 1000.0;
    Ok(Load { rps: n as f64 / elapsed, p50_ms: at(0.5), p99_ms: at(0.99), failed })
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

/// The guest's own account of its network time (`net_status`'s `http.profile`): polls and
/// microseconds in each stage, and requests answered.
#[derive(Clone, Copy, Debug, Default)]
struct GuestProfile {
    requests: f64,
    polls: f64,
    /// Poll, collect, run (around the server), send, the MCP server.
    micros: [f64; 5],
}

impl GuestProfile {
    fn since(&self, earlier: &GuestProfile) -> GuestProfile {
        GuestProfile {
            requests: self.requests - earlier.requests,
            polls: self.polls - earlier.polls,
            micros: std::array::from_fn(|i| self.micros[i] - earlier.micros[i]),
        }
    }
}

/// Asks the guest for its figures with one raw HTTP request (no session needed).
fn guest_profile(url: &str, token: &str) -> Result<GuestProfile> {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://").split('/').next().unwrap_or_default().to_string();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"net_status","arguments":{}}}"#;
    let mut stream = std::net::TcpStream::connect(&address)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let json = answer.split_once("\r\n\r\n").map(|(_, json)| json).unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(json.trim()).with_context(|| format!("net_status: {answer}"))?;
    let http = &value["result"]["structuredContent"]["http"];
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let profile = &http["profile"];
    Ok(GuestProfile {
        requests: f(&http["requests"]),
        polls: f(&profile["polls"]),
        micros: [
            f(&profile["poll_us"]),
            f(&profile["collect_us"]),
            f(&profile["run_us"]),
            f(&profile["send_us"]),
            f(&profile["mcp_us"]),
        ],
    })
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
    let mut profiles = Vec::new();
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
            let mut spent = GuestProfile::default();
            for round in 0..rounds {
                eprintln!("{} {kind}: round {}/{rounds}", board.name(), round + 1);
                let before = guest_profile(&url, token)?;
                ours.push(load(&url, token, kind, clients, seconds)?);
                let after = guest_profile(&url, token)?.since(&before);
                spent.requests += after.requests;
                spent.polls += after.polls;
                (0..5).for_each(|i| spent.micros[i] += after.micros[i]);
                theirs.push(load(&reference_url, "-", kind, clients, seconds)?);
            }
            profiles.push((board, kind, spent, summarize(&ours).rps));
            rows.push((board, kind, summarize(&ours), summarize(&theirs)));
        }
        drop(guest);
    }
    println!();
    println!("MCP over Streamable HTTP, {clients} concurrent clients, {seconds} s per run, median of {rounds} interleaved runs");
    println!("(Kingly OS: release kernel in QEMU via user-mode networking; reference: official Python SDK MCPServer on the host;");
    println!("clients: threads of this process, one keep-alive connection and session each)");
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
    println!();
    println!("Where the guest's time goes per request (its own clock, all runs; the rest is waiting for frames,");
    println!("timers and the other tasks):");
    println!();
    println!("| board | request | µs per request (1 / throughput) | poll µs | polls | collect µs | endpoint µs | MCP server µs | send µs |");
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|");
    for (board, kind, p, rps) in &profiles {
        let n = p.requests.max(1.0);
        println!(
            "| {} | {kind} | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |",
            board.name(),
            1e6 / rps.max(1e-9),
            p.micros[0] / n,
            p.polls / n,
            p.micros[1] / n,
            p.micros[2] / n,
            p.micros[4] / n,
            p.micros[3] / n
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
