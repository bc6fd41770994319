//! `cargo xtask serial` — the bridge for real boards — tested against QEMU's console on a
//! pseudo-terminal, with the official Python SDK as the client.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[test]
fn python_sdk_client_through_the_serial_port_bridge() {
    let (Some(images), Some(xtask), Some(python)) =
        (kingly_tests::image_dir(), kingly_tests::xtask(), kingly_tests::python())
    else {
        return;
    };
    let args = std::fs::read_to_string(images.join("raspi3b-test/qemu-args.txt")).expect("qemu-args.txt");
    let args: Vec<&str> =
        args.lines().filter(|l| !l.is_empty()).map(|l| if l == "stdio" { "pty" } else { l }).collect();
    let qemu = Command::new(kingly_tests::QEMU)
        .args(&args)
        .stdin(Stdio::null())
        // QEMU names the pty on stdout ("char device redirected to /dev/pts/N").
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("QEMU starts");
    let mut qemu = testkit::process::Guard::kill(qemu);
    let stdout = qemu.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let pty = loop {
        assert!(Instant::now() < deadline, "QEMU did not report its pty");
        let line = lines.next().expect("QEMU stdout open").expect("readable");
        if let Some(rest) = line.strip_prefix("char device redirected to ") {
            break rest.split_whitespace().next().unwrap_or_default().to_string();
        }
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/mcp_client.py");
    let output = Command::new(python)
        .arg(script)
        .arg(xtask)
        .args(["serial", "--no-wait", "--port", &pty])
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "client through `xtask serial --port {pty}` failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
}
