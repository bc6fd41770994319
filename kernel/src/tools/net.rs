//! Network tools: `net_status`, `net_ping`, and the serial-only `net_token`.
//!
//! Usage: `net_status` reports every path (device, MAC, link, address and how it was
//! obtained, gateway, DNS, mDNS name, DHCP leases it gave), frame counters and the HTTP
//! server's figures, MQTT's state (with `mqtt.broker`); without a network
//! device it says why (state, not an error). `net_ping host=10.0.2.2 count=3` sends ICMP
//! echo requests. `net_token` shows the bearer token MCP-over-HTTP clients need; it is
//! reachable only from the serial console (local), never over the network.

use super::declare;
use crate::net;
use alloc::{format, string::String, vec::Vec};
use core::fmt::Write;
use mcp::{json, Annotations, Declaration, Server, ToolOutput, Value};

fn dotted([a, b, c, d]: [u8; 4]) -> String {
    format!("{a}.{b}.{c}.{d}")
}

fn mac_text(mac: &[u8]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// One path as JSON (and its lines of text).
fn path_json(p: &net::PathStatus, text: &mut String) -> Value {
    let mac = mac_text(&p.mac);
    let address = p.address.map(|(a, prefix)| format!("{}/{prefix}", dotted(a)));
    let gateway = p.gateway.map(dotted);
    let _ =
        writeln!(text, "path:     {} ({} {mac}), link {}", p.kind.name(), p.device, if p.link { "up" } else { "down" });
    let _ = writeln!(
        text,
        "address:  {} ({}), gateway {}",
        address.as_deref().unwrap_or("none"),
        p.source,
        gateway.as_deref().unwrap_or("none")
    );
    if let Some(name) = &p.mdns {
        let _ = writeln!(text, "mdns:     {name} (http://{name}{})", net::http::PATH);
    }
    let leases: Vec<Value> = p
        .leases
        .iter()
        .map(|l| {
            let _ = writeln!(
                text,
                "leased:   {} to {}{}{}",
                dotted(l.address),
                mac_text(&l.mac),
                l.host_name.as_deref().map_or(String::new(), |n| format!(" ({n})")),
                if l.bound { "" } else { " (offered)" }
            );
            json!({"address": dotted(l.address), "mac": mac_text(&l.mac), "bound": l.bound, "host_name": l.host_name})
        })
        .collect();
    let c = p.counters;
    let _ = writeln!(
        text,
        "frames:   rx {} ({} bytes), tx {} ({} bytes), dropped {}",
        c.rx_frames, c.rx_bytes, c.tx_frames, c.tx_bytes, c.dropped
    );
    let h = p.http;
    let _ = writeln!(
        text,
        "mcp http: {} connections, {} requests ({} refused), {} open, {} idle strangers closed",
        h.connections, h.requests, h.rejected, h.open, h.evicted
    );
    json!({
        "path": p.kind.name(),
        "device": p.device,
        "mac": mac,
        "link": p.link,
        "address": address,
        "source": p.source,
        "gateway": gateway,
        "dns": p.dns.iter().map(|d| dotted(*d)).collect::<Vec<_>>(),
        "mdns": p.mdns,
        "leases": leases,
        "counters": {"rx_frames": c.rx_frames, "rx_bytes": c.rx_bytes, "tx_frames": c.tx_frames, "tx_bytes": c.tx_bytes, "dropped": c.dropped},
        "http": {"connections": h.connections, "requests": h.requests, "rejected": h.rejected, "open": h.open, "evicted": h.evicted},
    })
}

/// The USB gadget's state (boards with a device port), or `None`.
fn gadget_json(text: &mut String) -> Option<Value> {
    match crate::gadget::status() {
        Ok(None) => None,
        Ok(Some(g)) => {
            let _ = writeln!(
                text,
                "usb gadget: {} ({} speed), serial {}, network {}",
                g.state,
                g.speed,
                if g.serial_open { "open" } else { "closed" },
                if g.network_up { "up" } else { "down" }
            );
            Some(json!({
                "running": true, "state": g.state, "speed": g.speed, "serial_open": g.serial_open,
                "network_up": g.network_up, "bad_blocks": g.bad_blocks, "resets": g.resets,
                "disconnects": g.disconnects,
            }))
        }
        Err(why) => {
            let _ = writeln!(text, "usb gadget: not running ({why})");
            Some(json!({"running": false, "error": why}))
        }
    }
}

fn status() -> ToolOutput {
    let mut gadget_text = String::new();
    let gadget = gadget_json(&mut gadget_text);
    let paths = match net::status() {
        Ok(paths) => paths,
        Err(why) => {
            let mut out = json!({"up": false, "error": format!("{why}")});
            if let (Some(gadget), Value::Object(top)) = (gadget, &mut out) {
                top.insert("gadget".into(), gadget);
            }
            return ToolOutput::with_text(out, format!("no network: {why}\n{gadget_text}"));
        }
    };
    let mut text = String::new();
    let mut entries: Vec<Value> = Vec::new();
    for path in &paths {
        entries.push(path_json(path, &mut text));
    }
    let port = crate::storage::settings().net_port;
    let (polls, us) = crate::net::profile::read();
    let _ = writeln!(text, "mcp http port {port}; {} path(s)", paths.len());
    // The first path's figures stay at the top level too (one-path boards, older clients).
    let mut out = entries.first().cloned().unwrap_or(Value::Null);
    if let Value::Object(top) = &mut out {
        top.insert("up".into(), json!(true));
        let profile = json!({"polls": polls, "poll_us": us[0], "collect_us": us[1], "run_us": us[2], "send_us": us[3], "mcp_us": us[4]});
        if let Some(Value::Object(http)) = top.get_mut("http") {
            http.insert("port".into(), json!(port));
            http.insert("profile".into(), profile);
        }
        top.insert("paths".into(), Value::Array(entries));
        if let Some(gadget) = gadget {
            top.insert("gadget".into(), gadget);
        }
        if let Some(m) = crate::net::mqtt::status() {
            let _ = writeln!(
                text,
                "mqtt: broker {} {}, server {} (id {}), {} client(s), {} message(s), {} connect(s){}",
                m.broker,
                if m.connected { "connected" } else { "not connected" },
                m.server_name,
                m.server_id,
                m.clients,
                m.messages,
                m.connects,
                m.last_error.as_deref().map(|e| format!("; last error: {e}")).unwrap_or_default()
            );
            top.insert(
                "mqtt".into(),
                json!({"broker": m.broker, "connected": m.connected, "server_id": m.server_id,
                       "server_name": m.server_name, "clients": m.clients, "messages": m.messages,
                       "connects": m.connects, "last_error": m.last_error}),
            );
        }
    }
    text.push_str(&gadget_text);
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
    let settings = crate::storage::settings();
    let port = settings.net_port;
    let authority = |host: &str| if port == 80 { String::from(host) } else { format!("{host}:{port}") };
    let mut urls: Vec<String> = net::status()
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.address)
        .map(|(a, _)| format!("http://{}{}", authority(&dotted(a)), net::http::PATH))
        .collect();
    if settings.net_mdns && !urls.is_empty() {
        urls.push(format!("http://{}{}", authority(&format!("{}.local", settings.net_hostname)), net::http::PATH));
    }
    let url = urls.first().cloned();
    let text = format!(
        "token: {token}\nread-only token: {}\nurl:   {}\nheader: Authorization: Bearer {token}\n",
        net::read_token().unwrap_or("-"),
        if urls.is_empty() { String::from("(no address yet)") } else { urls.join("  or  ") }
    );
    Ok(ToolOutput::with_text(json!({"token": token, "read_token": net::read_token(), "url": url, "urls": urls}), text))
}

/// Registers the group.
pub fn register(server: &mut Server) {
    declare(
        server,
        &const {
            Declaration::new("net_status", |_, _| Ok(status()))
            .title("Network status")
            .description("The network paths (virtio, USB adapter, the USB gadget's cable link, Ethernet): for each the device, MAC, link, IPv4 address and how it was obtained (DHCP, static settings, or this board serving the link), gateway, DNS, the mDNS name, the addresses handed to a computer on the cable, frame counters, and the MCP-over-HTTP server's figures. Without a network device, up=false and the reason.")
            .output_schema_text(r#"{"type":"object","properties":{"up":{"type":"boolean"},"error":{"type":"string"},"device":{"type":"string"},"mac":{"type":"string"},"link":{"type":"boolean"},"address":{"type":["string","null"]},"source":{"enum":["dhcp","static","server","none"]},"gateway":{"type":["string","null"]},"dns":{"type":"array","items":{"type":"string"}},"mdns":{"type":["string","null"],"description":"the mDNS name answered on this path"},"leases":{"type":"array","description":"addresses this board gave the computer on a cable link","items":{"type":"object","properties":{"address":{"type":"string"},"mac":{"type":"string"},"bound":{"type":"boolean"},"host_name":{"type":["string","null"]}}}},"counters":{"type":"object"},"http":{"type":"object"},"gadget":{"type":"object","description":"the USB device port (Zero 2 W, Pi 4): running, state, speed, serial_open, network_up"},"mqtt":{"type":"object","description":"MCP over MQTT (with mqtt.broker set): broker, connected, server_id, server_name, clients, messages, connects, last_error"},"paths":{"type":"array","description":"every network path (virtio, usb-nic, usb-gadget, genet), the first also at the top level","items":{"type":"object","properties":{"path":{"enum":["virtio","usb-nic","usb-gadget","genet"]},"device":{"type":"string"},"address":{"type":["string","null"]},"source":{"type":"string"}},"required":["path","device","address","source"]}}},"required":["up"]}"#)
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
            .output_schema_text(r#"{"type":"object","properties":{"token":{"type":["string","null"]},"read_token":{"type":["string","null"],"description":"a token with the read role: read-only tools, resources, prompts"},"url":{"type":["string","null"]},"urls":{"type":"array","items":{"type":"string"},"description":"the endpoint on every path, and by its mDNS name"},"message":{"type":"string"}},"required":["token"]}"#)
            .annotations(Annotations::READ_ONLY)
            .local_only()
        },
    );
}
