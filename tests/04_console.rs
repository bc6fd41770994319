//! The serial console: interrupt-driven receive, long pastes, clear messages for bad input.

use kingly_tests::Machine;

fn checksum(text: &str) -> u32 {
    text.bytes().fold(0u32, |acc, b| acc.wrapping_mul(31).wrapping_add(b as u32))
}

#[test]
fn a_4_kib_paste_arrives_intact() {
    for board in ["raspi3b", "raspi4b"] {
        let Some(mut vm) = Machine::boot_to_prompt(board) else { return };
        let payload: String = (0..4096).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let out = vm.command(&format!("test_echo text={payload}"));
        let expected = format!("echo: 4096 bytes, checksum {:08x}", checksum(&payload));
        assert!(out.contains(&expected), "[{board}] paste corrupted: {out}");
        let stats = vm.command("memory_stats");
        assert!(stats.contains("console_dropped_bytes  0"), "[{board}] {stats}");
    }
}

#[test]
fn unknown_commands_get_a_clear_message_and_the_shell_keeps_going() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    let out = vm.command("frobnicate now");
    assert!(out.contains("unknown command 'frobnicate'"), "{out}");
    // Control bytes and invalid UTF-8 must not upset the shell.
    vm.send_bytes(&[0xff, 0xfe, 0x00, 0x1b, b'[', b'Z']);
    vm.send_bytes(b"\x15");
    vm.expect("\x1b[K"); // Ctrl-U redraws an empty line
    let out = vm.command("test_echo text=\"still here\"");
    assert!(out.contains("echo: 10 bytes"), "{out}");
}

#[test]
fn log_ring_buffer_keeps_boot_messages() {
    let Some(mut vm) = Machine::boot_to_prompt("virt") else { return };
    let out = vm.command("log_read");
    assert!(out.contains("INFO"), "{out}");
    assert!(out.contains("dtb yes"), "{out}");
}
