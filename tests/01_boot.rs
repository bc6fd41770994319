//! Every QEMU board boots to the shell, prints its boot timeline and powers off cleanly.

use kingly_tests::{parse_timeline, Machine};

fn boots_and_powers_off(board: &str) {
    let Some(mut vm) = Machine::boot(board) else { return };
    vm.expect(&format!("Kingly OS {} on {board}", env!("CARGO_PKG_VERSION")));
    let line = vm.expect("(us since kernel entry)");
    let stages = parse_timeline(line.lines().last().unwrap_or_default());
    let names: Vec<&str> = stages.iter().map(|(name, _)| name.as_str()).collect();
    for stage in ["entry", "mmu", "heap", "drivers", "console", "mcp"] {
        assert!(names.contains(&stage), "[{board}] timeline lacks {stage}: {line}");
    }
    // Stages are in boot order, so their times must not go backwards.
    let times: Vec<u64> = stages.iter().filter(|(n, _)| n != "firmware").map(|(_, t)| *t).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "[{board}] timeline not monotonic: {line}");
    vm.expect("kingly> ");
    let info = vm.command("system_info");
    assert!(info.contains(&format!("board:        {board}")), "[{board}] system_info: {info}");
    assert!(info.contains("el:           EL1"), "[{board}] not running at EL1: {info}");
    vm.confirm("power_off");
    assert_eq!(vm.wait_exit(), 0, "[{board}] power_off must exit QEMU with status 0");
}

#[test]
fn raspi3b_boots() {
    boots_and_powers_off("raspi3b");
}

#[test]
fn raspi4b_boots() {
    boots_and_powers_off("raspi4b");
}

#[test]
fn virt_boots() {
    boots_and_powers_off("virt");
}

#[test]
fn virt_reads_memory_size_from_the_device_tree() {
    // QEMU virt passes a DTB; its memory node must override the board default.
    let Some(mut vm) = Machine::boot_with("virt", &["-m", "512M"]) else { return };
    vm.expect("kingly> ");
    let info = vm.command("system_info");
    assert!(info.contains("memory:       512 MiB RAM"), "DTB memory size not applied: {info}");
}

#[test]
fn raspi3b_reports_mailbox_facts() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    let info = vm.command("system_info");
    // QEMU's raspi3b firmware model answers the property interface with these values.
    assert!(info.contains("revision:     0xa02082"), "board revision from the mailbox: {info}");
    assert!(info.contains("firmware time before kernel:"), "system timer at entry: {info}");
}
