//! MCP over Streamable HTTP on the network: `cargo xtask qemu --board virt --net` (virtio-net
//! behind QEMU's user network, a host port forwarded to the guest), checked by the official
//! Python SDK's HTTP client and raw-socket abuse in `net_client.py`, with a bounded load run.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use testkit::process::Guard;

/// Boots `board`'s test image with --net; returns the guest, URL and token.
fn boot(board: &str) -> Option<(Guard, String, String)> {
    let images = kingly_tests::image_dir()?;
    let xtask = kingly_tests::xtask()?;
    let port = kingly_tests::free_port();
    let token = format!("test-token-{}-{port}", std::process::id());
    let read_token = format!("{token}-read");
    let image = images.join(format!("{board}-test/kernel8.img"));
    let mut child = Command::new(xtask)
        .args(["qemu", "--board", board, "--mcp", "--net", "--port", &port.to_string(), "--token", &token])
        .args(["--read-token", &read_token, "--image"])
        .arg(&image)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("xtask starts");
    let stdout = child.stdout.take().expect("stdout");
    // Drain the console (MCP notifications) so the bridge never blocks.
    std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
    let guest = Guard::close_stdin(child, Duration::from_secs(20));
    let url = format!("http://127.0.0.1:{port}/mcp");
    // Ready when the endpoint answers (401 without a token) and the guest has its address.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the guest's HTTP endpoint did not come up");
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let _ = stream.write_all(b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            let mut answer = [0u8; 12];
            if stream.read_exact(&mut answer).is_ok() && answer.starts_with(b"HTTP/1.1 ") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Some((guest, url, token))
}

/// `one_shot`: sequential `Connection: close` requests (each on its own connection).
fn python_checks(board: &str, load_seconds: &str, one_shot: &str) {
    let Some(python) = kingly_tests::python() else { return };
    let Some((guest, url, token)) = boot(board) else { return };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/net_client.py");
    let output = Command::new(python)
        .arg(script)
        .arg(&url)
        .arg(&token)
        .args(["--load-seconds", load_seconds, "--clients", "4", "--power-off", "--one-shot", one_shot])
        .args(["--read-token", &format!("{token}-read")])
        .output()
        .expect("python starts");
    drop(guest);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "[{board}] HTTP client failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    if let Some(leak) = stdout.lines().find(|l| l.contains("no leak")) {
        eprintln!("[{board}] {leak}");
    }
    for line in
        stdout.lines().filter(|l| l.starts_with("load:") || l.starts_with("one-shot:") || l.starts_with("hostile:"))
    {
        eprintln!("[{board}] {line}");
    }
}

#[test]
fn net_mcp_over_http_on_virt_with_the_python_sdk() {
    python_checks("virt", "10", "1000");
}

#[test]
fn net_mcp_over_http_on_raspi3b_over_usb_with_the_python_sdk() {
    // USB networking is slower per connection: fewer one-shot requests.
    python_checks("raspi3b", "5", "200");
}

/// `cargo xtask soak` for a minute on virt (the 10-minute run is the command itself): mixed
/// MCP over HTTP and serial with a generation running and hostile clients beside; no error
/// and no heap growth, or the command fails.
#[test]
fn soak_for_a_minute_on_virt() {
    let Some(images) = kingly_tests::image_dir() else { return };
    let Some(xtask) = kingly_tests::xtask() else { return };
    let output = Command::new(xtask)
        .args(["soak", "--minutes", "1", "--board", "virt", "--image"])
        .arg(images.join("virt-test/kernel8.img"))
        .stdin(Stdio::null())
        .output()
        .expect("xtask starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("soak: 0 errors"),
        "soak failed:\n{stdout}\n--- stderr ---\n{stderr}"
    );
    eprintln!("{stdout}");
}
