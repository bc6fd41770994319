//! Network tools: `net_status`, `net_ping`, and the serial-only `net_token`.
//!
//! Usage: `net_status` reports the interface (device, MAC, link, address and how it was
//! obtained, gateway, DNS), frame counters and the HTTP server's figures; without a network
//! device it says why (state, not an error). `net_ping host=10.0.2.2 count=3` sends ICMP
//! echo requests. `net_token` shows the bearer token MCP-over-HTTP clients need; it is
//! reachable only from the serial console (local), never over the network.

use super::declare;
use crate::net;
use alloc::{format, string::String, vec::Vec};
use core::fmt::Write;
use mcp::{json, Annotations, Declaration, Server, ToolOutput, Value};

fn status() -> ToolOutput {
    let s = match net::status() {
        Ok(s) => s,
        Err(why) => {
            return ToolOutput::with_text(
                json!({"up": false, "error": format!("{why}")}),
                format!("no network: {why}\n"),
            )
        }
    };
    let mac = s.mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let mut text = String::new();
    let _ = writeln!(text, "device:   {} {mac}, link {}", s.device, if s.link { "up" } else { "down" });
    let _ = writeln!(
        text,
        "address:  {} ({}), gateway {}",
        s.address.as_deref().unwrap_or("none"),
        s.source,
        s.gateway.as_deref().unwrap_or("none")
    );
    let c = s.counters;
    let _ = writeln!(
        text,
        "frames:   rx {} ({} bytes), tx {} ({} bytes), dropped {}",
        c.rx_frames, c.rx_bytes, c.tx_frames, c.tx_bytes, c.dropped
    );
    let h = s.http;
    let port = crate::storage::settings().net_port;
    let _ = writeln!(
        text,
        "mcp http: port {port}, {} connections, {} requests ({} refused), {} open, {} idle strangers closed",
        h.connections, h.requests, h.rejected, h.open, h.evicted
    );
    let (polls, us) = crate::net::profile::read();
    let out = json!({
        "up": true,
        "device": s.device,
        "mac": mac,
        "link": s.link,
        "address": s.address,
        "source": s.source,
        "gateway": s.gateway,
        "dns": s.dns,
        "counters": {"rx_frames": c.rx_frames, "rx_bytes": c.rx_bytes, "tx_frames": c.tx_frames, "tx_bytes": c.tx_bytes, "dropped": c.dropped},
        "http": {"port": port, "connections": h.connections, "requests": h.requests, "rejected": h.rejected, "open": h.open, "evicted": h.evicted,
                 "profile": {"polls": polls, "poll_us": us[0], "collect_us": us[1], "run_us": us[2], "send_us": us[3], "mcp_us": us[4]}},
    });
    ToolOutput::with_text(out, text)
}

fn ping(args: &mcp::Map<String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    let host = args.get("host").and_then(Value::as_str).unwrap_or("");
    let count = args.get("count").and_then(Value::as_u64).unwrap_or(3) as u16;
    let timeout_ms = args.get("timeout_ms").and_then(Value::as_u64).unwrap_or(1000);
    let address = net::parse_ipv4(host).ok_or_else(|| format!("'{host}' is not an IPv4 address"))?;
    let mut times: Vec<Value> = Vec::new();
    let mut text = String::new();
    let mut received = 0;
    for sequence in 0..count {
        match net::ping(address, timeout_ms * 1000, sequence)? {
            Some(us) => {
                received += 1;
                times.push(json!(us));
                let _ = writeln!(text, "reply from {host}: seq={sequence} time={}.{:03} ms", us / 1000, us % 1000);
            }
            None => {
                times.push(Value::Null);
                let _ = writeln!(text, "no reply from {host}: seq={sequence} (timeout {timeout_ms} ms)");
            }
        }
    }
    let _ = writeln!(text, "{received} of {count} answered");
    Ok(ToolOutput::with_text(json!({"host": host, "sent": count, "received": received, "rtt_us": times}), text))
}

fn token() -> Result<ToolOutput, mcp::ToolError> {
    let Some(token) = net::token() else {
        let why = net::status().err().unwrap_or(net::NetworkError::NotUp);
        return Ok(ToolOutput::with_text(
            json!({"token": null, "url": null, "message": format!("no network, so no token: {why}")}),
            format!("no network, so no token: {why}\n"),
        ));
    };
    let port = crate::storage::settings().net_port;
    let address = net::status().ok().and_then(|s| s.address).map(|a| String::from(a.split('/').next().unwrap_or("")));
    let url = address.map(|a| format!("http://{a}:{port}/mcp"));
    let text = format!(
        "token: {token}\nread-only token: {}\nurl:   {}\nheader: Authorization: Bearer {token}\n",
        net::read_token().unwrap_or("-"),
        url.as_deref().unwrap_or("(no address yet)")
    );
    Ok(ToolOutput::with_text(json!({"token": token, "read_token": net::read_token(), "url": url}), text))
}

/// Registers the group.
pub fn register(server: &mut Server) {
    declare(
        server,
        &const {
            Declaration::new("net_status", |_, _| Ok(status()))
            .title("Network status")
            .description("The network interface: device, MAC, link, IPv4 address and whether DHCP or the static settings gave it, gateway, DNS, frame counters, and the MCP-over-HTTP server's figures. Without a network device, up=false and the reason.")
            .output_schema_text(r#"{"type":"object","properties":{"up":{"type":"boolean"},"error":{"type":"string"},"device":{"type":"string"},"mac":{"type":"string"},"link":{"type":"boolean"},"address":{"type":["string","null"]},"source":{"enum":["dhcp","static","none"]},"gateway":{"type":["string","null"]},"dns":{"type":"array","items":{"type":"string"}},"counters":{"type":"object"},"http":{"type":"object"}},"required":["up"]}"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("net_ping", |_, args| ping(args))
            .title("Ping a host")
            .description("Sends ICMP echo requests to an IPv4 address and reports each round trip (or the timeout).")
            .input_schema_text(r#"{"type":"object","properties":{"host":{"type":"string","minLength":7,"maxLength":15,"description":"IPv4 address, e.g. 10.0.2.2"},"count":{"type":"integer","minimum":1,"maximum":10,"default":3},"timeout_ms":{"type":"integer","minimum":10,"maximum":5000,"default":1000}},"required":["host"],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"host":{"type":"string"},"sent":{"type":"integer"},"received":{"type":"integer"},"rtt_us":{"type":"array","items":{"type":["integer","null"]}}},"required":["host","sent","received","rtt_us"]}"#)
            .annotations(Annotations { read_only: true, destructive: false, idempotent: false, open_world: true })
        },
    );
    declare(
        server,
        &const {
            Declaration::new("net_token", |_, _| token())
            .title("MCP-over-HTTP token")
            .description("The bearer tokens (control, and read-only) and URL HTTP clients need. Only on the serial console: not listed or callable over the network.")
            .output_schema_text(r#"{"type":"object","properties":{"token":{"type":["string","null"]},"read_token":{"type":["string","null"],"description":"a token with the read role: read-only tools, resources, prompts"},"url":{"type":["string","null"]},"message":{"type":"string"}},"required":["token"]}"#)
            .annotations(Annotations::READ_ONLY)
            .local_only()
        },
    );
}
