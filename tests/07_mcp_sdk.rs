//! The official Python MCP SDK as the client of `cargo xtask qemu --mcp` (stdio bridge to
//! the kernel's serial console): see `mcp_client.py` for the checks.

use std::process::Command;

#[test]
fn python_sdk_client_over_the_stdio_bridge() {
    let (Some(images), Some(xtask), Some(python)) =
        (kingly_tests::image_dir(), kingly_tests::xtask(), kingly_tests::python())
    else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/mcp_client.py");
    let image = images.join("raspi3b-test/kernel8.img");
    let output = Command::new(python)
        .arg(script)
        .arg(xtask)
        .args(["qemu", "--mcp", "--board", "raspi3b", "--image"])
        .arg(&image)
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "Python SDK client failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    // Every read-only tool was checked against its output schema.
    assert!(stdout.contains("ok: system_info structuredContent validates"), "{stdout}");
}

/// The same SDK against the MCP core as a host stdio server (`xtask mcp-stdio`, the server
/// `bench mcp` measures over pipes): typed and schema-checked tools answer alike.
#[test]
fn python_sdk_client_over_the_host_stdio_core() {
    let (Some(xtask), Some(python)) = (kingly_tests::xtask(), kingly_tests::python()) else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/mcp_stdio_core.py");
    let output = Command::new(python).arg(script).arg(xtask).output().expect("python starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "Python SDK client of xtask mcp-stdio failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
}
