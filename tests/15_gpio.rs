//! GPIO tools on the emulated BCM2837 (raspi3b) and BCM2711 (raspi4b): modes and levels
//! set through the tools and read back from QEMU's GPIO model (GPLEV reflects GPSET/GPCLR),
//! pull resistors read back where the SoC allows it, pins the board or a bus owns refused
//! with an explanation, bad arguments rejected by schema validation (-32602), the header
//! map resource, and no GPIO tools at all on virt.

use kingly_tests::Machine;
use serde_json::{json, Value};

fn pin_state(list: &Value, pin: u64) -> Value {
    list["pins"].as_array().and_then(|pins| pins.iter().find(|p| p["pin"] == pin)).cloned().unwrap_or(Value::Null)
}

#[test]
fn gpio_modes_and_levels_read_back_through_the_emulated_controller() {
    for board in ["raspi3b", "raspi4b"] {
        let Some(mut vm) = Machine::boot_to_prompt(board) else { return };
        vm.initialize("gpio-test");
        let state = vm.ok("gpio_mode", json!({"pin": 17, "mode": "output"}));
        assert_eq!(state["function"], "output", "[{board}] {state}");
        assert_eq!(state["header_pin"], 11, "[{board}] GPIO 17 is header pin 11: {state}");
        let written = vm.ok("gpio_write", json!({"pin": 17, "value": true}));
        assert_eq!(
            (written["level"].clone(), written["made_output"].clone()),
            (json!(true), json!(false)),
            "[{board}] {written}"
        );
        assert_eq!(vm.ok("gpio_read", json!({"pin": 17})), json!({"pin": 17, "value": true, "mode": "output"}));
        vm.ok("gpio_write", json!({"pin": 17, "value": false}));
        assert_eq!(vm.ok("gpio_read", json!({"pin": 17}))["value"], false, "[{board}]");
        // A write to an input pin makes it an output first, and says so.
        let written = vm.ok("gpio_write", json!({"pin": 27, "value": true}));
        assert_eq!(written["made_output"], true, "[{board}] {written}");
        assert_eq!(vm.ok("gpio_read", json!({"pin": 27})), json!({"pin": 27, "value": true, "mode": "output"}));
        // Back to input; the pull resistor reads back only on the BCM2711.
        let state = vm.ok("gpio_mode", json!({"pin": 22, "mode": "input", "pull": "up"}));
        assert_eq!(state["function"], "input", "[{board}] {state}");
        let expected_pull = if board == "raspi4b" { json!("up") } else { Value::Null };
        assert_eq!(state["pull"], expected_pull, "[{board}] {state}");
        let list = vm.ok("gpio_list", json!({}));
        assert_eq!(list["pins"].as_array().map(Vec::len), Some(28), "[{board}] GPIO 0-27: {list}");
        assert_eq!(pin_state(&list, 17)["function"], "output", "[{board}] {list}");
        assert_eq!(pin_state(&list, 27)["level"], true, "[{board}] {list}");
        assert_eq!(pin_state(&list, 22)["function"], "input", "[{board}] {list}");
        assert_eq!(pin_state(&list, 14)["owner"], "console UART TXD", "[{board}] {list}");
        assert_eq!(pin_state(&list, 4)["owner"], Value::Null, "[{board}] {list}");
    }
}

#[test]
fn gpio_reserved_and_claimed_pins_are_refused_with_the_reason() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.initialize("gpio-test");
    let why = vm.refused("gpio_write", json!({"pin": 14, "value": true}));
    assert!(why.contains("GPIO 14 (header pin 8) is reserved") && why.contains("console UART TXD"), "{why}");
    let why = vm.refused("gpio_mode", json!({"pin": 15, "mode": "output"}));
    assert!(why.contains("console UART RXD"), "{why}");
    // Reading a reserved pin changes nothing and is allowed.
    assert_eq!(vm.ok("gpio_read", json!({"pin": 14}))["pin"], 14);
    // The console still works after the refusals.
    assert_eq!(vm.rpc(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#)["result"], json!({}));
    // GPIO 2/3 are free until an I2C tool claims them for bus 1.
    vm.ok("gpio_mode", json!({"pin": 2, "mode": "input"}));
    vm.ok("i2c_scan", json!({}));
    let why = vm.refused("gpio_mode", json!({"pin": 2, "mode": "output"}));
    assert!(why.contains("I2C bus 1 (SDA)"), "{why}");
    let why = vm.refused("gpio_write", json!({"pin": 3, "value": false}));
    assert!(why.contains("I2C bus 1 (SCL)"), "{why}");
    let list = vm.ok("gpio_list", json!({}));
    assert_eq!(pin_state(&list, 2)["function"], "alt0", "{list}");
    assert_eq!(pin_state(&list, 2)["owner"], "I2C bus 1 (SDA)", "{list}");
}

#[test]
fn gpio_invalid_arguments_are_rejected_by_the_schema() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    // In the shell the checks answer in words.
    let out = vm.command("gpio_write pin=99 value=true");
    assert!(out.contains("'pin' must be ≤ 27"), "{out}");
    let out = vm.command("gpio_write pin=5 value=true");
    assert!(out.contains("GPIO 5 high"), "{out}");
    vm.initialize("gpio-test");
    assert!(vm.invalid("gpio_write", json!({"pin": 99, "value": true})).contains("'pin' must be ≤ 27"));
    assert!(vm.invalid("gpio_read", json!({"pin": -1})).contains("'pin' must be ≥ 0"));
    assert!(vm.invalid("gpio_mode", json!({"pin": 17, "mode": "pwm"})).contains("'mode' must be one of"));
    assert!(vm.invalid("gpio_write", json!({"pin": 17})).contains("'value' is required"));
    assert!(vm.invalid("gpio_write", json!({"pin": 17, "value": "on"})).contains("'value' must be a boolean"));
    assert!(vm.invalid("gpio_read", json!({"pin": 17, "force": true})).contains("'force' is not an accepted argument"));
}

#[test]
fn gpio_header_map_is_a_resource() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi4b") else { return };
    vm.initialize("gpio-test");
    let list = vm.rpc(r#"{"jsonrpc":"2.0","id":2,"method":"resources/list"}"#);
    assert!(list.to_string().contains("board://header"), "{list}");
    vm.ok("gpio_write", json!({"pin": 17, "value": true}));
    let read = vm.rpc(r#"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"board://header"}}"#);
    let text = read["result"]["contents"][0]["text"].as_str().unwrap_or_default().to_string();
    let line = |pin: u32| {
        text.lines().find(|l| l.split_whitespace().next() == Some(&pin.to_string())).unwrap_or("").to_string()
    };
    assert_eq!(
        text.lines().filter(|l| l.split_whitespace().next().is_some_and(|w| w.parse::<u32>().is_ok())).count(),
        40,
        "{text}"
    );
    assert!(line(1).contains("3V3") && line(2).contains("5V") && line(6).contains("GND"), "{text}");
    assert!(line(8).contains("GPIO14") && line(8).contains("console UART TXD"), "{text}");
    assert!(line(11).contains("GPIO17") && line(11).contains("output") && line(11).contains("high"), "{text}");
    assert!(line(40).contains("GPIO21"), "{text}");
}

#[test]
fn gpio_virt_has_no_gpio_or_bus_tools() {
    let Some(mut vm) = Machine::boot_to_prompt("virt") else { return };
    vm.initialize("gpio-test");
    let list = vm.rpc(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    let names: Vec<&str> =
        list["result"]["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"system_info"), "{names:?}");
    for absent in
        ["gpio_mode", "gpio_read", "gpio_write", "gpio_list", "i2c_scan", "i2c_read", "spi_transfer", "pwm_set"]
    {
        assert!(!names.contains(&absent), "{absent} listed on virt: {names:?}");
    }
    let reply = vm.call_tool("gpio_list", json!({}));
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap_or("").contains("Unknown tool"), "{reply}");
}

#[test]
fn gpio_ask_turn_on_pin_17_proposes_and_after_a_yes_drives_it() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    // Refused first: nothing changes without a yes.
    vm.send_line("ask turn on pin 17");
    let shown = vm.expect("Run it? [y/N] ");
    assert!(shown.contains(r#"-> gpio_write {"pin":17,"value":true}"#), "{shown}");
    vm.send_line("n");
    vm.expect("cancelled");
    vm.expect(kingly_tests::PROMPT);
    vm.initialize("gpio-test");
    assert_eq!(vm.ok("gpio_read", json!({"pin": 17}))["value"], false, "a refused proposal changed the pin");
    // Confirmed: the pin goes high.
    vm.send_line("ask turn on pin 17");
    vm.expect("Run it? [y/N] ");
    vm.send_line("y");
    vm.expect(kingly_tests::PROMPT);
    vm.initialize("gpio-test");
    assert_eq!(vm.ok("gpio_read", json!({"pin": 17}))["value"], true, "the confirmed gpio_write did not run");
}
