//! SPI0 against QEMU's BCM2835 SPI model with an emulated SPI NOR flash
//! (`-device m25p80,bus=spi`) on raspi3b and raspi4b: the flash's JEDEC ID comes back
//! through `spi_transfer`, a command changes its status register (data really flows both
//! ways), out-of-range arguments are rejected with -32602, and the shell asks before running
//! it (the bytes are device commands: destructive).

use kingly_tests::Machine;
use serde_json::{json, Value};

fn received(vm: &mut Machine, data: &[u8]) -> Vec<u64> {
    let out = &vm.ok("spi_transfer", json!({"data": data, "confirm": true}));
    assert_eq!(out["frequency_hz"].as_u64().map(|hz| hz <= 1_000_000), Some(true), "{out}");
    out["received"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect()
}

#[test]
fn spi_flash_chip_answers_through_spi0() {
    for board in ["raspi3b", "raspi4b"] {
        let Some(mut vm) = Machine::boot_to_prompt_with(board, &["-device", "m25p80,bus=spi"]) else { return };
        vm.initialize("spi-test");
        // 0x9f = read JEDEC ID: manufacturer 0x20, type 0x20, capacity 0x14 (1 MiB).
        assert_eq!(received(&mut vm, &[0x9f, 0, 0, 0, 0, 0, 0]), [0, 0x20, 0x20, 0x14, 0, 0, 0], "[{board}]");
        // WREN (0x06) sets the write-enable latch, bit 1 of the status register (0x05),
        // which is clear after reset. QEMU does not wire SPI0's chip selects to the flash,
        // so the flash never sees the select rise and keeps answering a status read (its
        // command ends with the select): the status read has to come last.
        received(&mut vm, &[0x06]);
        assert_eq!(received(&mut vm, &[0x05, 0, 0]), [0, 0x02, 0x02], "[{board}] WREN took effect");
        let list =
            vm.rpc(r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"gpio_list","arguments":{}}}"#);
        let pins = &list["result"]["structuredContent"]["pins"];
        assert_eq!(pins[10]["owner"], "SPI0 (MOSI)", "[{board}] {list}");
        assert_eq!(pins[8]["owner"], "SPI0 (CE0)", "[{board}] {list}");
        assert_eq!(pins[7]["owner"], Value::Null, "[{board}] CE1 unused, still free: {list}");
    }
}

#[test]
fn spi_arguments_are_checked_and_the_shell_asks_first() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.send_line("spi_transfer data=[1,2]");
    vm.expect("spi_transfer is destructive. Proceed? [y/N] ");
    let out = vm.command("n");
    assert!(out.contains("cancelled"), "{out}");
    vm.initialize("spi-test");
    for (arguments, why) in [
        (json!({"data": vec![0u8; 257]}), "'data' must have at most 256 items"),
        (json!({"data": []}), "'data' must have at least 1 items"),
        (json!({"data": [1], "mode": 4}), "'mode' must be ≤ 3"),
        (json!({"data": [1], "chip_select": 2}), "'chip_select' must be ≤ 1"),
        (json!({"data": [1], "frequency_hz": 100_000_000}), "'frequency_hz' must be ≤ 32000000"),
    ] {
        let message = vm.invalid("spi_transfer", arguments.clone());
        assert!(message.contains(why), "{arguments}: {message}");
    }
}
