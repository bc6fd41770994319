//! I2C tools against QEMU's BSC controllers with an emulated TMP105 temperature sensor
//! (`-device tmp105,bus=i2c-bus.1,address=0x48`) on raspi3b and raspi4b: the scan finds it
//! and nothing else, reads return the temperature QEMU is told over QMP (so the data is
//! live, not a constant), the `lm75` crate reads it through our driver, writes reach its
//! registers, an absent address is a clear tool error, a controller that never answers ends
//! at the driver's deadline, and out-of-range arguments are rejected with -32602.

use kingly_tests::{Machine, Qmp};
use serde_json::json;
use std::time::{Duration, Instant};

/// Sets the TMP105's temperature in millidegrees Celsius.
fn set_temperature(qmp: &mut Qmp, millicelsius: i64) {
    qmp.execute(json!({"execute": "qom-set", "arguments": {"path": "/machine/peripheral/tmp0", "property": "temperature", "value": millicelsius}}));
}

/// Boots `board` with a TMP105 at 0x48 on bus 1 and a QMP socket.
fn boot(board: &str) -> Option<(Machine, Qmp)> {
    let socket = std::env::temp_dir().join(format!(
        "kingly-qmp-{}-{board}-{:?}.sock",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&socket);
    let qmp_arg = format!("unix:{},server=on,wait=off", socket.display());
    let mut vm = Machine::boot_to_prompt_with(
        board,
        &["-device", "tmp105,bus=i2c-bus.1,address=0x48,id=tmp0", "-qmp", &qmp_arg],
    )?;
    let qmp = Qmp::connect(&socket);
    let _ = std::fs::remove_file(&socket);
    vm.initialize("i2c-test");
    Some((vm, qmp))
}

#[test]
fn i2c_scan_finds_the_sensor_and_reads_follow_its_temperature() {
    for board in ["raspi3b", "raspi4b"] {
        let Some((mut vm, mut qmp)) = boot(board) else { return };
        let scan = vm.ok("i2c_scan", json!({}));
        assert_eq!(scan["addresses"], json!([0x48]), "[{board}] only the TMP105 answers on bus 1: {scan}");
        assert_eq!(scan["hex"], json!(["0x48"]));
        let scan = vm.ok("i2c_scan", json!({"bus": 0}));
        assert_eq!(scan["addresses"], json!([]), "[{board}] bus 0 is empty: {scan}");

        // 23.5 °C is 0x17.8 in the sensor's 8.8 fixed point (9-bit resolution keeps .5).
        set_temperature(&mut qmp, 23_500);
        let read = vm.ok("i2c_read", json!({"address": 0x48, "length": 2}));
        assert_eq!(read["data"], json!([0x17, 0x80]), "[{board}] {read}");
        assert_eq!(read["hex"], "17 80");
        let sensor = vm.ok("sensor_temperature", json!({"address": 0x48}));
        assert_eq!(sensor["celsius"], 23.5, "[{board}] the lm75 crate over our driver: {sensor}");

        set_temperature(&mut qmp, -5_000);
        let sensor = vm.ok("sensor_temperature", json!({"address": 0x48}));
        assert_eq!(sensor["celsius"], -5.0, "[{board}] {sensor}");
        let register = vm.ok("i2c_write_read", json!({"address": 0x48, "write": [0], "length": 2}));
        assert_eq!(register["data"], json!([0xfb, 0x00]), "[{board}] -5 °C = 0xfb00: {register}");

        // T_HIGH (register 3) resets to 80 °C; T_LOW (2) takes a write and reads it back.
        let high = vm.ok("i2c_write_read", json!({"address": 0x48, "write": [3], "length": 2}));
        assert_eq!(high["data"], json!([0x50, 0x00]), "[{board}] {high}");
        let written = vm.ok("i2c_write", json!({"address": 0x48, "data": [2, 0x20, 0x00], "confirm": true}));
        assert_eq!(written["written"], 3);
        let low = vm.ok("i2c_write_read", json!({"address": 0x48, "write": [2], "length": 2}));
        assert_eq!(low["data"], json!([0x20, 0x00]), "[{board}] {low}");

        // The shell takes hex addresses; a human line brings the prompt back after MCP.
        vm.send_line("i2c_write_read address=0x48 write=[0] length=2");
        vm.expect("0x48 [00]: fb 00");
        vm.expect("kingly> ");
    }
}

#[test]
fn i2c_absent_devices_and_dead_controllers_are_clear_errors() {
    let Some((mut vm, _qmp)) = boot("raspi3b") else { return };
    let why = vm.refused("i2c_read", json!({"address": 0x50, "length": 1}));
    assert!(
        why.contains("I2C bus 1") && why.contains("no ACK from address 0x50") && why.contains("no device"),
        "{why}"
    );
    let why = vm.refused("i2c_write", json!({"address": 0x51, "data": [1], "confirm": true}));
    assert!(why.contains("no ACK from address 0x51"), "{why}");
    let why = vm.refused("sensor_temperature", json!({"address": 0x49}));
    assert!(why.contains("no ACK from address 0x49"), "{why}");

    // A controller that never answers: the driver gives up at its deadline (~25 ms), the
    // call returns, and the kernel keeps serving the real bus.
    let started = Instant::now();
    let why = vm.refused("test_i2c_stall", json!({}));
    assert!(why.contains("timed out"), "{why}");
    let micros: u64 =
        why.rsplit("after ").next().and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(u64::MAX);
    assert!((20_000..1_000_000).contains(&micros), "gave up after {micros} µs: {why}");
    assert!(started.elapsed() < Duration::from_secs(20), "the stalled call took {:?}", started.elapsed());
    assert_eq!(vm.rpc(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#)["result"], json!({}));
    assert_eq!(vm.ok("i2c_scan", json!({}))["addresses"], json!([0x48]));
}

#[test]
fn i2c_out_of_range_arguments_are_rejected_by_the_schema() {
    let Some((mut vm, _qmp)) = boot("raspi3b") else { return };
    assert!(vm.invalid("i2c_read", json!({"address": 0x80, "length": 1})).contains("'address' must be ≤ 119"));
    assert!(vm.invalid("i2c_read", json!({"address": 2, "length": 1})).contains("'address' must be ≥ 3"));
    assert!(vm.invalid("i2c_read", json!({"address": 0x48, "length": 1_048_576})).contains("'length' must be ≤ 64"));
    assert!(vm.invalid("i2c_read", json!({"address": 0x48, "length": 0})).contains("'length' must be ≥ 1"));
    assert!(vm.invalid("i2c_write", json!({"address": 0x48, "data": []})).contains("at least 1 items"));
    let big = vm.invalid("i2c_write", json!({"address": 0x48, "data": vec![0u8; 65]}));
    assert!(big.contains("'data' must have at most 64 items"), "{big}");
    assert!(vm.invalid("i2c_write", json!({"address": 0x48, "data": [256]})).contains("'data[0]' must be ≤ 255"));
    assert!(vm.invalid("i2c_scan", json!({"bus": 2})).contains("'bus' must be ≤ 1"));
    assert!(vm.invalid("i2c_write_read", json!({"address": 0x48, "write": [0]})).contains("'length' is required"));
    assert!(vm.invalid("sensor_temperature", json!({"address": 0x50})).contains("'address' must be ≤ 79"));
}
