//! One cable, no address typed: the guest on a link to one computer (QEMU virt, its NIC on a
//! TAP interface in a network namespace of the test's own) serves that computer an address
//! by DHCP (`net.mode = server`, as the USB gadget's link always does) and announces itself
//! by mDNS; the host side (`discovery_client.py`) gets the lease over a raw socket, finds
//! `kingly.local` and the `_mcp._tcp` service with the zeroconf package, and the official
//! Python SDK connects to the endpoint that was announced.
//!
//! The USB gadget itself cannot run in QEMU (no device-mode DWC2); its link runs this same
//! network code, and the gadget is tested against a simulated controller in `drivers`.
//! Needs root (network namespaces and TAP devices): under `cargo xtask test` a machine
//! without them fails this test with the reason.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};
use testkit::process::Guard;

/// A network namespace with a TAP interface, removed on drop.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create(name: &str, tap: &str) -> Option<Namespace> {
        let ip = |args: &[&str]| Command::new("ip").args(args).status().is_ok_and(|s| s.success());
        let _ = Command::new("ip").args(["netns", "del", name]).stderr(Stdio::null()).status();
        if !ip(&["netns", "add", name]) {
            return testkit::missing(
                "network namespaces (`ip netns add`)",
                "run the tests as root on Linux with iproute2 installed",
            );
        }
        let namespace = Namespace { name: name.into() };
        let in_ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", name, "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        if !in_ns(&["tuntap", "add", tap, "mode", "tap"]) {
            return testkit::missing("a TAP device (/dev/net/tun)", "run the tests as root where /dev/net/tun exists");
        }
        assert!(in_ns(&["link", "set", "lo", "up"]) && in_ns(&["link", "set", tap, "up"]), "bringing {tap} up");
        Some(namespace)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

#[test]
fn a_computer_on_the_cable_gets_an_address_and_finds_the_board_by_mdns() {
    let (Some(images), Some(xtask), Some(python)) =
        (kingly_tests::image_dir(), kingly_tests::xtask(), kingly_tests::python())
    else {
        return;
    };
    let (name, tap) = (format!("kingly-{}", std::process::id()), "ktap0");
    let Some(namespace) = Namespace::create(&name, tap) else { return };
    let token = format!("discovery-token-{}", std::process::id());
    let image = images.join("virt-test/kernel8.img");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &namespace.name])
        .arg(xtask)
        .args(["qemu", "--board", "virt", "--mcp", "--net", "--tap", tap, "--token", &token])
        .args(["--setting", "net.mode=server", "--setting", "net.address=10.77.0.1/24", "--image"])
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
    let output = Command::new("ip")
        .args(["netns", "exec", &namespace.name])
        .arg(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/discovery_client.py"))
        .args([tap, &token])
        .output()
        .expect("python starts");
    drop(guest);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "discovery failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
}
