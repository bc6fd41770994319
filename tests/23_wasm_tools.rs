//! Tools installed at run time (WebAssembly, `tool_install`) on the real kernel in QEMU:
//! the official Python SDK installs `blink`, hears `list_changed`, calls it, finds it again
//! after a reboot from the same card, removes it; the LM75 example reads a TMP105 on the
//! emulated I2C bus and answers `ask` through its example phrasings; hostile modules are stopped by fuel, by the memory cap, or refused at
//! install for an undeclared capability; thousands of mutated modules and manifests never
//! stop the kernel serving.

use kingly_tests::Machine;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use testkit::Rng;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kingly-wasm-{}-{name}", std::process::id()))
}

/// The example tools built by `cargo xtask wasm-tool build` (`cargo xtask test` builds them).
fn built(name: &str) -> Option<PathBuf> {
    let path = kingly_tests::root().join("target/wasm-tools").join(name);
    if path.exists() {
        Some(path)
    } else {
        testkit::missing(&path.display().to_string(), "run `cargo xtask wasm-tool build blink` and `... lm75`")
    }
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn install_arguments(name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(built(&format!("{name}.install.json"))?).expect("install file");
    Some(serde_json::from_str(&text).expect("JSON"))
}

fn card(xtask: &Path, name: &str) -> PathBuf {
    let output = temp(name);
    kingly_tests::card_image(xtask, "pi3", "raspi3b", &[], &output);
    output
}

#[test]
fn the_python_sdk_installs_calls_keeps_and_removes_a_tool() {
    let (Some(images), Some(xtask), Some(python)) =
        (kingly_tests::image_dir(), kingly_tests::xtask(), kingly_tests::python())
    else {
        return;
    };
    let Some(install) = built("blink.install.json") else { return };
    let card = card(&xtask, "sdk.img");
    let output = std::process::Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/wasm_tools_client.py"))
        .arg(&xtask)
        .arg(images.join("raspi3b-test/kernel8.img"))
        .arg(&card)
        .arg(&install)
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let _ = std::fs::remove_file(&card);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "the Python SDK client failed ({}):\n{stdout}\n--- stderr (tail) ---\n{}",
        output.status,
        &stderr[stderr.len().saturating_sub(4000)..]
    );
    for line in stdout.lines().filter(|l| l.starts_with("figure:")) {
        eprintln!("{line}");
    }
}

fn manifest(name: &str, extra: Value) -> Value {
    let mut manifest = json!({"name": name, "description": format!("test tool {name}")});
    for (key, value) in extra.as_object().unwrap() {
        manifest[key] = value.clone();
    }
    manifest
}

fn install(vm: &mut Machine, module: &[u8], manifest: Value) -> Value {
    vm.call_tool("tool_install", json!({"module": base64(module), "manifest": manifest, "confirm": true}))
}

fn text(reply: &Value) -> String {
    reply["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string()
}

const LOOP: &str =
    r#"(module (memory (export "memory") 1) (func (export "call") (result i32) (loop $l (br $l)) (i32.const 0)))"#;
const GROW: &str = r#"(module (memory (export "memory") 1) (func (export "call") (result i32)
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (i32.const 0)))"#;
const GPIO: &str = r#"(module (import "kingly" "gpio_write" (func $w (param i32 i32) (result i32)))
    (memory (export "memory") 1) (func (export "call") (result i32) (drop (call $w (i32.const 17) (i32.const 1))) (i32.const 0)))"#;
const EMPTY: &str = r#"(module (memory (export "memory") 1) (func (export "call") (result i32) (i32.const 0)))"#;

#[test]
fn hostile_modules_are_stopped_or_refused_and_the_lm75_example_reads_the_bus() {
    let Some(lm75) = install_arguments("lm75") else { return };
    let Some(mut vm) = Machine::boot_to_prompt_with("raspi3b", &["-device", "tmp105,bus=i2c-bus.1,address=0x48"])
    else {
        return;
    };
    vm.initialize("wasm-test");

    // The LM75 example through the emulated I2C controller, against the built-in driver.
    let mut arguments = lm75.clone();
    arguments["confirm"] = json!(true);
    let installed = vm.call_tool("tool_install", arguments);
    assert_eq!(installed["result"]["isError"], false, "{installed}");
    assert_eq!(installed["result"]["structuredContent"]["persisted"], false, "no card in this machine: {installed}");
    let builtin = vm.ok("sensor_temperature", json!({"address": 0x48}));
    let fahrenheit = vm.ok("lm75_temperature", json!({"unit": "fahrenheit"}));
    let celsius = builtin["celsius"].as_f64().unwrap();
    assert!((fahrenheit["celsius"].as_f64().unwrap() - celsius).abs() < 0.5, "{fahrenheit} vs {builtin}");
    assert!((fahrenheit["value"].as_f64().unwrap() - (celsius * 1.8 + 32.0)).abs() < 1.0, "{fahrenheit}");
    let kelvin = vm.ok("lm75_temperature", json!({"unit": "kelvin"}));
    assert!((kelvin["value"].as_f64().unwrap() - (celsius + 273.15)).abs() < 0.5, "{kelvin}");
    vm.invalid("lm75_temperature", json!({"unit": "rankine"}));

    // Plain language reaches it through its manifest's example phrasings (not the intent
    // model, which never saw it); a request that is not one of them does not.
    let ran = vm.ok("intent_run", json!({"text": "please read the LM75 temperature"}));
    assert_eq!((ran["status"].as_str(), ran["tool"].as_str()), (Some("ran"), Some("lm75_temperature")), "{ran}");
    assert!((ran["result"]["celsius"].as_f64().unwrap() - celsius).abs() < 0.5, "{ran}");
    let other = vm.ok("intent_run", json!({"text": "read the lm75 humidity"}));
    assert_ne!(other["tool"], "lm75_temperature", "{other}");

    // Stopped by fuel, by the memory cap; a trap is an isError result.
    let looping =
        install(&mut vm, &wat::parse_str(LOOP).unwrap(), manifest("spin", json!({"limits": {"fuel": 3000000}})));
    assert_eq!(looping["result"]["isError"], false, "{looping}");
    let started = std::time::Instant::now();
    let stopped = vm.refused("spin", json!({}));
    assert!(stopped.contains("fuel"), "{stopped}");
    eprintln!("figure: 3,000,000 fuel units ran out after {:?} (raspi3b QEMU, over serial)", started.elapsed());
    install(
        &mut vm,
        &wat::parse_str(LOOP).unwrap(),
        manifest("spin_deadline", json!({"limits": {"fuel": 2000000000u64, "deadlineMs": 200}})),
    );
    let stopped = vm.refused("spin_deadline", json!({}));
    assert!(stopped.contains("deadline"), "{stopped}");
    install(&mut vm, &wat::parse_str(GROW).unwrap(), manifest("grow", json!({"limits": {"memoryKib": 192}})));
    let stopped = vm.refused("grow", json!({}));
    assert!(stopped.contains("memory") && stopped.contains("192 KiB"), "{stopped}");

    // Refused at install: an import no capability grants, a write from a read-only tool,
    // a name that is a built-in tool's, a broken manifest, not WebAssembly at all.
    let gpio = wat::parse_str(GPIO).unwrap();
    let undeclared = install(&mut vm, &gpio, manifest("sneaky", json!({})));
    assert_eq!(undeclared["result"]["isError"], true, "{undeclared}");
    assert!(text(&undeclared).contains("kingly.gpio_write") && text(&undeclared).contains("'gpio'"), "{undeclared}");
    let read_only = install(
        &mut vm,
        &gpio,
        manifest("sneaky", json!({"capabilities": {"gpio": [17]}, "annotations": {"readOnlyHint": true}})),
    );
    assert!(text(&read_only).contains("readOnlyHint"), "{read_only}");
    let taken = install(&mut vm, &wat::parse_str(EMPTY).unwrap(), manifest("system_info", json!({})));
    assert!(text(&taken).contains("system_info"), "{taken}");
    let calls_writer = install(
        &mut vm,
        &wat::parse_str(EMPTY).unwrap(),
        manifest("caller", json!({"capabilities": {"tools": ["power_off"]}})),
    );
    assert!(text(&calls_writer).contains("read-only"), "{calls_writer}");
    let not_wasm = install(&mut vm, b"#!/bin/sh\nrm -rf /\n", manifest("script", json!({})));
    assert!(text(&not_wasm).contains("not a WebAssembly module"), "{not_wasm}");
    let names: Vec<String> = vm.ok("tool_list_installed", json!({}))["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["lm75_temperature", "spin", "spin_deadline", "grow"]);

    // Call overhead: an empty WASM tool against a native read-only tool, same transport.
    install(
        &mut vm,
        &wat::parse_str(EMPTY).unwrap(),
        manifest("empty", json!({"annotations": {"readOnlyHint": true}})),
    );
    let time = |vm: &mut Machine, tool: &str| {
        let mut samples: Vec<std::time::Duration> = (0..21)
            .map(|_| {
                let started = std::time::Instant::now();
                vm.ok(tool, json!({}));
                started.elapsed()
            })
            .collect();
        samples.sort();
        samples[10]
    };
    let native = time(&mut vm, "memory_stats");
    let wasm = time(&mut vm, "empty");
    eprintln!(
        "figure: empty WASM tool {wasm:?} vs native memory_stats {native:?} per call over serial (median of 21): {:.2}x",
        wasm.as_secs_f64() / native.as_secs_f64()
    );

    // Thousands of mutated modules and manifests: each answered, none faults the kernel.
    let seeds = [wat::parse_str(EMPTY).unwrap(), gpio.clone(), wat::parse_str(LOOP).unwrap()];
    let mut rng = Rng::new(0xa11);
    let mut accepted = 0;
    for round in 0..2000 {
        let mut module = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rng.below(3) {
            rng.mutate(&mut module, 4);
        }
        let mut manifest_text = json!({"name": format!("m{round}"), "description": "mutant", "capabilities": {"gpio": [17], "time": true}, "limits": {"fuel": 100000}}).to_string();
        if round % 2 == 1 {
            let mut bytes = manifest_text.into_bytes();
            let at = rng.below(bytes.len());
            bytes[at] = *rng.pick(b"{}[]\":,0189az -").unwrap_or(&b' ');
            manifest_text = String::from_utf8_lossy(&bytes).into_owned();
        }
        let reply = vm
            .call_tool("tool_install", json!({"module": base64(&module), "manifest": manifest_text, "confirm": true}));
        assert!(reply.get("result").is_some() || reply.get("error").is_some(), "round {round}: {reply}");
        if reply["result"]["isError"] == false {
            accepted += 1;
            let name = reply["result"]["structuredContent"]["name"].as_str().unwrap().to_string();
            let _ = vm.call_tool(&name, json!({}));
            vm.ok("tool_remove", json!({"name": name, "confirm": true}));
        }
    }
    eprintln!("mutants: {accepted} of 2000 installed (then called and removed), the rest refused");
    vm.ping();
    assert!(vm.ok("lm75_temperature", json!({}))["celsius"].is_number(), "the kernel still serves");
    assert!(vm.ok("memory_stats", json!({})).is_object());
}

/// A bundle on the card that is damaged, or whose module no longer passes the checks, is
/// skipped at boot with a log line; the boot goes on and the good bundle next to it loads.
#[test]
fn broken_bundles_on_the_card_are_skipped_at_boot() {
    let Some(xtask) = kingly_tests::xtask() else { return };
    let Some(install) = install_arguments("lm75") else { return };
    let card = card(&xtask, "broken.img");
    let drive = format!("if=sd,format=raw,file={}", card.display());
    let Some(mut vm) = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive]) else { return };
    vm.initialize("wasm-test");
    for _ in 0..100 {
        if vm.ok("storage_info", json!({}))["present"] == true {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut arguments = install.clone();
    arguments["confirm"] = json!(true);
    let installed = vm.ok("tool_install", arguments);
    assert_eq!(installed["file"], "/TOOL00.KTL", "{installed}");
    // Three broken bundles written as plain files: garbage, a good header over a flipped
    // byte, and a valid bundle whose module imports what its manifest does not grant.
    let mut flipped = bundle(r#"{"name":"flipped","description":"d"}"#, &wat::parse_str(EMPTY).unwrap());
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    let sneaky = bundle(r#"{"name":"sneaky","description":"d"}"#, &wat::parse_str(GPIO).unwrap());
    for (file, bytes) in
        [("/TOOL01.KTL", b"garbage, not a bundle".to_vec()), ("/TOOL02.KTL", flipped), ("/TOOL03.KTL", sneaky)]
    {
        vm.ok("fs_write", json!({"path": file, "content": base64(&bytes), "encoding": "base64", "confirm": true}));
    }
    drop(vm);
    let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive]).expect("boots again");
    vm.initialize("wasm-test");
    let mut listed = Value::Null;
    for _ in 0..100 {
        listed = vm.ok("tool_list_installed", json!({}));
        if !listed["tools"].as_array().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let names: Vec<&str> = listed["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lm75_temperature"], "{listed}");
    vm.ping();
    let transcript = vm.transcript();
    for (file, why) in
        [("/TOOL01.KTL", "no KTOOL1 header"), ("/TOOL02.KTL", "checksum"), ("/TOOL03.KTL", "kingly.gpio_write")]
    {
        assert!(
            transcript.lines().any(|l| l.contains(&format!("skipped the installed tool in {file}")) && l.contains(why)),
            "{file}: {why}\n{transcript}"
        );
    }
    drop(vm);
    let _ = std::fs::remove_file(&card);
}

/// The card bundle layout of `wasmhost::bundle`, written independently.
fn bundle(manifest: &str, module: &[u8]) -> Vec<u8> {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in manifest.as_bytes().iter().chain(module) {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let mut out = b"KTOOL1\n".to_vec();
    out.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
    out.extend_from_slice(&(module.len() as u32).to_le_bytes());
    out.extend_from_slice(&hash.to_le_bytes());
    out.extend_from_slice(manifest.as_bytes());
    out.extend_from_slice(module);
    out
}
