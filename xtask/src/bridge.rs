//! The host side of MCP over a serial line: our stdin/stdout ↔ the kernel's console.
//!
//! The kernel's console carries the human shell and MCP on one UART; a line starting with
//! `{` is JSON-RPC. The bridge makes that a clean stdio MCP server for a client: it waits
//! until the kernel is ready (the first shell prompt) so no request is lost during boot,
//! forwards every client line to the device, and copies only JSON lines from the device to
//! stdout — banners, prompts and logs go to stderr, where MCP clients show them as server
//! logs.

use anyhow::{bail, Result};
use std::{
    io::{BufRead, BufReader, Read, Write},
    sync::mpsc,
    thread,
    time::Duration,
};

/// What the kernel prints when its console is ready for input.
pub const READY_MARKER: &[u8] = b"kingly> ";

/// How long to wait for the kernel to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Splits the device's output into JSON-RPC lines (to `json`) and everything else (to
/// stderr). Signals `ready` once the ready marker appears. Returns at end of input.
pub fn pump_device_output(device: impl Read, mut json: impl Write, ready: mpsc::Sender<()>) {
    let mut reader = BufReader::new(device);
    let mut line = Vec::new();
    let mut ready = Some(ready);
    let mut byte = [0u8; 1];
    loop {
        match reader.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if byte[0] != b'\n' {
            line.push(byte[0]);
            if line.ends_with(READY_MARKER) {
                if let Some(signal) = ready.take() {
                    let _ = signal.send(());
                }
                // A prompt is never part of a JSON line; show it as a log line.
                eprintln!("[kernel] {}", String::from_utf8_lossy(&line).trim_end());
                line.clear();
            }
            continue;
        }
        while line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.first() == Some(&b'{') {
            line.push(b'\n');
            if json.write_all(&line).and_then(|_| json.flush()).is_err() {
                break;
            }
        } else if !line.is_empty() {
            eprintln!("[kernel] {}", String::from_utf8_lossy(&line));
        }
        line.clear();
    }
}

/// Forwards lines from `client` to `device` (after `ready`), until the client closes.
/// With `poke`, an empty line is sent every second until the kernel answers with a prompt
/// (for a board that booted before the bridge was connected).
pub fn pump_client_input(
    client: impl BufRead,
    mut device: impl Write,
    ready: mpsc::Receiver<()>,
    poke: bool,
) -> Result<()> {
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    loop {
        if poke {
            device.write_all(b"\r")?;
            device.flush()?;
        }
        match ready.recv_timeout(Duration::from_secs(1)) {
            Ok(()) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the device closed before the kernel was ready"),
            Err(mpsc::RecvTimeoutError::Timeout) if std::time::Instant::now() < deadline => {}
            Err(mpsc::RecvTimeoutError::Timeout) => bail!("the kernel did not become ready within {READY_TIMEOUT:?}"),
        }
    }
    for line in client.split(b'\n') {
        let mut line = line?;
        while line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        line.push(b'\r');
        device.write_all(&line)?;
        device.flush()?;
    }
    Ok(())
}

/// Runs both directions: device output on a thread, client input on this one. Returns when
/// the client closes its input. `poke`: see [`pump_client_input`].
pub fn run(device_out: impl Read + Send + 'static, device_in: impl Write, poke: bool) -> Result<()> {
    let (ready_tx, ready_rx) = mpsc::channel();
    thread::spawn(move || pump_device_output(device_out, std::io::stdout().lock(), ready_tx));
    pump_client_input(std::io::stdin().lock(), device_in, ready_rx, poke)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_lines_reach_the_client() {
        let device = b"\r\nKingly OS 0.1.0\r\ntimeline: entry=0\r\nkingly> {\"jsonrpc\":\"2.0\",\"id\":1}\r\n[ 1.0] INFO x\r\n{\"a\":2}\r\n";
        let mut out = Vec::new();
        let (tx, rx) = mpsc::channel();
        pump_device_output(&device[..], &mut out, tx);
        assert_eq!(String::from_utf8(out).unwrap(), "{\"jsonrpc\":\"2.0\",\"id\":1}\n{\"a\":2}\n");
        assert!(rx.try_recv().is_ok(), "ready marker not signalled");
    }

    #[test]
    fn client_lines_wait_for_ready_and_end_with_cr() {
        let (tx, rx) = mpsc::channel();
        tx.send(()).unwrap();
        let mut device = Vec::new();
        pump_client_input(&b"{\"id\":1}\n\n{\"id\":2}\r\n"[..], &mut device, rx, false).unwrap();
        assert_eq!(device, b"{\"id\":1}\r{\"id\":2}\r");
    }
}
