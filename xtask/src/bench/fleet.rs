//! `cargo xtask bench fleet`: MCP over MQTT against MCP over HTTP on the same guests.
//! Mosquitto on 127.0.0.1 and N release virt guests (`cargo xtask qemu --fleet`'s wiring);
//! per round, a fresh gateway (`cargo xtask fleet`'s code) finds and lists every board
//! (boards discovered per second), then sequential `memory_stats` calls to board 1 through
//! the broker and straight over HTTP alternate in small batches, so both see the same
//! machine load. Figures are medians; the ratio is MQTT over HTTP from the same run.

use super::net::Connection;
use super::stats;
use crate::{board::Board, build, deps, fleet::Gateway, qemu, util};
use anyhow::{bail, Result};
use serde_json::json;
use std::time::{Duration, Instant};

/// Runs the benchmark.
pub fn run(boards: u8, rounds: usize, calls: usize) -> Result<()> {
    deps::ensure_qemu("virt")?;
    let image = build::Args { board: Board::Virt, release: true, test_hooks: false }.run()?.image;
    let dir = util::root().join("target/bench-fleet");
    let broker_port = qemu::free_port()?;
    let _broker = qemu::local_broker(&dir, broker_port)?;
    let mut guests = Vec::new();
    for n in 1..=boards {
        guests.push(qemu::fleet_guest(Board::Virt, &image, n, broker_port, &[], &dir)?);
    }
    for guest in &guests {
        let port = guest.url.trim_start_matches("http://127.0.0.1:").trim_end_matches("/mcp").parse()?;
        qemu::wait_http(port, "a fleet guest")?;
    }
    let broker = format!("mqtt://127.0.0.1:{broker_port}");
    let mut discovery = Vec::new();
    let (mut mqtt, mut http) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        let started = Instant::now();
        let gateway = Gateway::start(&broker, (None, None), "fleet/#")?;
        if !gateway.wait_ready(boards.into(), Duration::from_secs(60)) {
            bail!("the gateway found {} of {boards} boards within 60 s", gateway.ready());
        }
        discovery.push(started.elapsed().as_secs_f64());
        let mut connection = Connection::open(&guests[0].url, &guests[0].token)?;
        let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
        connection.post(init)?;
        connection.post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)?;
        let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"memory_stats","arguments":{}}}"#;
        for _ in 0..calls.div_ceil(10) {
            for _ in 0..10 {
                let t = Instant::now();
                if let Err(error) = gateway.call_on("board1", "memory_stats", json!({})) {
                    bail!("memory_stats through the broker failed: {error}");
                }
                mqtt.push(t.elapsed().as_secs_f64() * 1e3);
            }
            for _ in 0..10 {
                let t = Instant::now();
                let (status, body) = connection.post(call)?;
                if status != 200 || !body.contains("\"result\"") {
                    bail!("memory_stats over HTTP answered {status}: {body}");
                }
                http.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let (m, h) = (stats::Summary::of(&mqtt), stats::Summary::of(&http));
    let (m99, h99) = (stats::percentile(&mqtt, 0.99), stats::percentile(&http, 0.99));
    let found = stats::Summary::of(&discovery);
    println!();
    println!(
        "MCP over MQTT (Mosquitto on the host) vs MCP over HTTP, the same release virt guest, {} calls each in \
         alternating batches of 10, {rounds} round(s); {boards} guests",
        mqtt.len()
    );
    println!(
        "(MQTT: the fleet gateway's client, broker, guest and back; HTTP: one keep-alive connection to the guest)"
    );
    println!();
    println!("| request | MQTT p50 ms | p99 ms | HTTP p50 ms | p99 ms | MQTT / HTTP (p50) |");
    println!("|---|--:|--:|--:|--:|--:|");
    println!(
        "| tools/call memory_stats | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}x |",
        m.median,
        m99,
        h.median,
        h99,
        m.median / h.median.max(1e-9)
    );
    println!();
    println!(
        "discovery: a new gateway found, initialized and listed {boards} boards in {:.3} s (median of {rounds}): \
         {:.1} boards/s",
        found.median,
        f64::from(boards) / found.median.max(1e-9)
    );
    Ok(())
}
