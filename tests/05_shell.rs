//! The console shell as an MCP client: completion, history, help from schemas,
//! confirmation of destructive tools, clear errors.

use kingly_tests::Machine;

#[test]
fn tab_completes_tool_and_argument_names() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    // "syst" + Tab completes to "system_info ".
    vm.send_bytes(b"syst\t");
    vm.expect("system_info ");
    let out = vm.command("");
    assert!(out.contains("board:        raspi3b"), "{out}");
    // Argument names complete too: "log_read li" + Tab -> "log_read lines=".
    vm.send_bytes(b"log_read li\t");
    vm.expect("lines=");
    let out = vm.command("1");
    assert!(out.contains("INFO"), "{out}");
}

#[test]
fn history_recalls_the_previous_command() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    let first = vm.command("boot_timeline");
    assert!(first.contains("mcp"), "{first}");
    // Up arrow, then Enter: the same command runs again (the line is redrawn first).
    vm.send_bytes(b"\x1b[A");
    vm.expect("boot_timeline");
    let again = vm.command("");
    assert!(again.contains("stages:"), "history recall did not rerun boot_timeline: {again}");
    // Left arrow and an insert in the middle of the line: "lines=2" becomes "lines=12".
    vm.send_bytes(b"log_read lines=2\x1b[D1");
    vm.expect("lines=12");
    let out = vm.command("");
    assert!(!out.contains("invalid") && !out.contains("expected"), "editing in the middle failed: {out}");
}

#[test]
fn help_tools_and_errors_are_generated_from_the_schemas() {
    let Some(mut vm) = Machine::boot_to_prompt("virt") else { return };
    let tools = vm.command("tools");
    for name in ["system_info", "boot_timeline", "memory_stats", "log_read", "power_reboot", "power_off"] {
        assert!(tools.contains(name), "{name} missing from:\n{tools}");
    }
    assert!(tools.contains("destructive"), "{tools}");
    let help = vm.command("help log_read");
    assert!(help.contains("lines=<integer>"), "{help}");
    let out = vm.command("log_read lines=99999");
    assert!(out.contains("'lines' must be ≤ 2000"), "{out}");
    let out = vm.command("log_read lines=abc");
    assert!(out.contains("'lines': expected integer"), "{out}");
    let out = vm.command("log_read colour=red");
    assert!(out.contains("'colour' is not an accepted argument"), "{out}");
    let out = vm.command("system_info {\"x\":");
    assert!(out.contains("invalid JSON arguments"), "{out}");
    let resources = vm.command("resources");
    assert!(resources.contains("kernel://log"), "{resources}");
    let log = vm.command("read kernel://log/1");
    assert!(log.contains("INFO"), "{log}");
    let missing = vm.command("read kernel://nothing");
    assert!(missing.contains("Resource not found"), "{missing}");
}

#[test]
fn destructive_tools_ask_first() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.send_line("power_off");
    vm.expect("power_off is destructive. Proceed? [y/N] ");
    let out = vm.command("n");
    assert!(out.contains("cancelled"), "{out}");
    let info = vm.command("system_info");
    assert!(info.contains("board:"), "still running: {info}");
}

#[test]
fn reboot_goes_through_the_watchdog() {
    // With -no-reboot QEMU exits when the guest resets, so the exit proves the reset.
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.send_line("power_reboot");
    vm.expect("Proceed? [y/N] ");
    vm.send_line("y");
    vm.expect("rebooting");
    assert_eq!(vm.wait_exit(), 0);
}
