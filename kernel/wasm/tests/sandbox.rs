//! The sandbox against modules written in WAT: answers, every budget (fuel, memory,
//! deadline), every refusal at install (undeclared, unknown and mistyped imports, writes
//! from a read-only tool, missing exports), host functions held to the manifest's pins,
//! addresses, paths and tools, hostile pointers, and thousands of mutated modules,
//! manifests and bundles that never panic.

use serde_json::{json, Value};
use std::{cell::Cell, rc::Rc};
use wasmhost::{bundle, Error, Host, Manifest, Sandbox};

/// A model of the kernel: a clock that moves 10 µs per reading (and by what is slept),
/// eight GPIO pins, an LM75 at 0x48, a file, and one read-only tool.
#[derive(Default)]
struct Model {
    clock: Rc<Cell<u64>>,
    logged: Vec<String>,
    pins: Vec<bool>,
    calls: Vec<String>,
}

impl Host for Model {
    fn now_us(&self) -> u64 {
        self.clock.set(self.clock.get() + 10);
        self.clock.get()
    }
    fn log(&mut self, tool: &str, message: &str) {
        self.logged.push(format!("{tool}: {message}"));
    }
    fn sleep_us(&mut self, us: u64) {
        self.clock.set(self.clock.get() + us);
    }
    fn gpio_write(&mut self, pin: u8, high: bool) -> Result<(), String> {
        self.calls.push(format!("gpio_write {pin} {high}"));
        self.pins.resize(64, false);
        self.pins[pin as usize] = high;
        Ok(())
    }
    fn gpio_read(&mut self, pin: u8) -> Result<bool, String> {
        Ok(self.pins.get(pin as usize).copied().unwrap_or(false))
    }
    fn i2c_write_read(&mut self, address: u8, write: &[u8], read: &mut [u8]) -> Result<(), String> {
        self.calls.push(format!("i2c {address:#x} {write:?} {}", read.len()));
        // LM75 temperature register: 25.5 °C.
        let answer = [0x19, 0x80];
        for (out, byte) in read.iter_mut().zip(answer) {
            *out = byte;
        }
        Ok(())
    }
    fn spi_transfer(&mut self, data: &mut [u8]) -> Result<(), String> {
        data.reverse();
        Ok(())
    }
    fn file_read(&mut self, path: &str, offset: u32, buffer: &mut [u8]) -> Result<usize, String> {
        if path != "/data/greeting.txt" {
            return Err(format!("{path}: not found"));
        }
        let text = &b"hello from the card"[(offset as usize).min(19)..];
        let n = text.len().min(buffer.len());
        buffer[..n].copy_from_slice(&text[..n]);
        Ok(n)
    }
    fn tool_call(&mut self, name: &str, arguments: &str) -> Result<String, String> {
        self.calls.push(format!("tool {name} {arguments}"));
        Ok(r#"{"free_bytes":1234}"#.into())
    }
}

fn manifest(extra: Value) -> Manifest {
    let mut base = json!({"name": "t", "description": "a test tool"});
    for (key, value) in extra.as_object().unwrap() {
        base[key] = value.clone();
    }
    Manifest::parse(&base.to_string()).expect("manifest")
}

fn compile(manifest: Manifest, wat: &str) -> Result<wasmhost::Tool, Error> {
    Sandbox::new().compile(manifest, &wat::parse_str(wat).expect("WAT"))
}

fn call(tool: &wasmhost::Tool, arguments: &str) -> (Result<wasmhost::Answer, Error>, Model) {
    tool.call(Model::default(), arguments)
}

/// Reads its arguments into memory at 1024 and returns them as its answer.
const ECHO: &str = r#"(module
  (import "kingly" "args_len" (func $len (result i32)))
  (import "kingly" "args_read" (func $read (param i32 i32) (result i32)))
  (import "kingly" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "call") (result i32)
    (local $n i32)
    (local.set $n (call $read (i32.const 1024) (i32.const 4096)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (local.get $n))))
    (call $result (i32.const 1024) (local.get $n))
    (i32.const 0)))"#;

#[test]
fn a_tool_reads_its_arguments_and_answers_an_object() {
    let tool = compile(manifest(json!({})), ECHO).unwrap();
    assert_eq!(tool.imports(), ["args_len", "args_read", "result"]);
    let (answer, _) = call(&tool, r#"{"x":[1,2,3]}"#);
    let answer = answer.unwrap();
    assert_eq!(answer.structured, json!({"x": [1, 2, 3]}));
    assert!(answer.fuel > 0 && answer.fuel < 1000, "{}", answer.fuel);
    // The answer must be an object matching the output schema.
    assert!(matches!(call(&tool, "[1]").0, Err(Error::BadAnswer(_))));
    assert!(matches!(call(&tool, "{nope").0, Err(Error::BadAnswer(_))));
    let typed = manifest(
        json!({"outputSchema": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}),
    );
    let tool = compile(typed, ECHO).unwrap();
    assert_eq!(call(&tool, r#"{"x":7}"#).0.unwrap().structured, json!({"x": 7}));
    let Err(Error::BadAnswer(why)) = call(&tool, r#"{"x":"seven"}"#).0 else { panic!("a mismatch is refused") };
    assert!(why.contains("output schema"), "{why}");
}

#[test]
fn fuel_stops_an_endless_loop() {
    let wat = r#"(module (memory (export "memory") 1)
      (func (export "call") (result i32) (loop $l (br $l)) (i32.const 0)))"#;
    let tool = compile(manifest(json!({"limits": {"fuel": 5000000}})), wat).unwrap();
    let (outcome, _) = call(&tool, "{}");
    assert_eq!(outcome, Err(Error::OutOfFuel { fuel: 5_000_000 }));
    assert!(Error::OutOfFuel { fuel: 5 }.to_string().contains("fuel"));
}

#[test]
fn the_deadline_stops_a_tool_whose_fuel_would_last_longer() {
    let wat = r#"(module (memory (export "memory") 1)
      (func (export "call") (result i32) (loop $l (br $l)) (i32.const 0)))"#;
    // A huge fuel budget, a 5 ms deadline: the clock model moves 10 µs per reading, read
    // once per fuel slice, so the deadline ends it after a few hundred slices.
    let tool = compile(manifest(json!({"limits": {"fuel": 2000000000u64, "deadlineMs": 5}})), wat).unwrap();
    assert_eq!(call(&tool, "{}").0, Err(Error::Deadline { ms: 5 }));
    // Sleeping past the deadline stops at once.
    let sleeper = r#"(module
      (import "kingly" "sleep_ms" (func $sleep (param i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "call") (result i32) (drop (call $sleep (i32.const 60000))) (i32.const 0)))"#;
    let tool =
        compile(manifest(json!({"capabilities": {"time": true}, "limits": {"deadlineMs": 100}})), sleeper).unwrap();
    let (outcome, model) = call(&tool, "{}");
    assert!(matches!(outcome, Err(Error::Deadline { .. })), "{outcome:?}");
    assert!(model.clock.get() < 1000, "it did not sleep first");
}

#[test]
fn memory_is_capped_at_instantiation_and_on_growth() {
    let grower = r#"(module (memory (export "memory") 1)
      (func (export "call") (result i32)
        (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (i32.const 0)))"#;
    let tool = compile(manifest(json!({"limits": {"memoryKib": 256}})), grower).unwrap();
    let (outcome, _) = call(&tool, "{}");
    assert_eq!(outcome, Err(Error::Memory { asked: 5 * 65536, cap: 256 * 1024 }));
    let big = r#"(module (memory (export "memory") 100) (func (export "call") (result i32) (i32.const 0)))"#;
    let refused = compile(manifest(json!({})), big).err().expect("100 pages over a 256 KiB cap");
    assert!(matches!(refused, Error::Memory { .. }), "{refused:?}");
    // The manifest cannot ask for more than the kernel allows.
    assert!(Manifest::parse(r#"{"name":"t","description":"d","limits":{"memoryKib":1048576}}"#).is_err());
    assert!(Manifest::parse(r#"{"name":"t","description":"d","limits":{"memoryKib":100}}"#).is_err());
}

#[test]
fn imports_must_be_declared_known_and_typed() {
    let gpio = r#"(module
      (import "kingly" "gpio_write" (func $w (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "call") (result i32) (drop (call $w (i32.const 17) (i32.const 1))) (i32.const 0)))"#;
    let Err(Error::Import(why)) = compile(manifest(json!({})), gpio) else { panic!("undeclared gpio") };
    assert!(why.contains("kingly.gpio_write") && why.contains("'gpio'"), "{why}");
    assert!(compile(manifest(json!({"capabilities": {"gpio": [17]}})), gpio).is_ok());
    let Err(Error::Import(why)) =
        compile(manifest(json!({"capabilities": {"gpio": [17]}, "annotations": {"readOnlyHint": true}})), gpio)
    else {
        panic!("a read-only tool cannot write a pin")
    };
    assert!(why.contains("readOnlyHint"), "{why}");
    for (wat, expected) in [
        (
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (memory (export "memory") 1) (func (export "call") (result i32) (i32.const 0)))"#,
            "only the 'kingly'",
        ),
        (
            r#"(module (import "kingly" "format_card" (func)) (memory (export "memory") 1) (func (export "call") (result i32) (i32.const 0)))"#,
            "not a host function",
        ),
        (
            r#"(module (import "kingly" "result" (func (param i64))) (memory (export "memory") 1) (func (export "call") (result i32) (i32.const 0)))"#,
            "wrong signature",
        ),
        (
            r#"(module (import "kingly" "memory" (memory 1)) (func (export "call") (result i32) (i32.const 0)))"#,
            "only functions",
        ),
    ] {
        let Err(Error::Import(why)) = compile(manifest(json!({})), wat) else { panic!("{wat}") };
        assert!(why.contains(expected), "{why}");
    }
    for (wat, expected) in [
        (r#"(module (memory (export "memory") 1))"#, "'call'"),
        (
            r#"(module (memory (export "memory") 1) (func (export "call") (param i32) (result i32) (i32.const 0)))"#,
            "'call'",
        ),
        (r#"(module (func (export "call") (result i32) (i32.const 0)))"#, "'memory'"),
        (
            r#"(module (memory (export "memory") 1) (func $s) (start $s) (func (export "call") (result i32) (i32.const 0)))"#,
            "",
        ),
    ] {
        let Err(Error::Module(why)) = compile(manifest(json!({})), wat) else { panic!("{wat}") };
        assert!(why.contains(expected), "{why}");
    }
    assert!(matches!(Sandbox::new().compile(manifest(json!({})), b"not wasm"), Err(Error::Module(_))));
}

#[test]
fn host_functions_reach_only_what_the_manifest_lists() {
    let capabilities =
        json!({"capabilities": {"gpio": [17], "i2c": [0x48], "files": ["/data"], "tools": ["memory_stats"]}});
    let tool = compile(manifest(capabilities), &tool_variant_returning_statuses()).unwrap();
    let (outcome, model) = call(&tool, "{}");
    let answer = outcome.unwrap().structured;
    assert_eq!(
        model.calls,
        ["gpio_write 17 true", "i2c 0x48 [0] 2", "tool memory_stats {}"],
        "only listed pins, addresses and tools reached the host"
    );
    // What each call returned: pin 17 ok, pin 18 denied; I2C 0x48 read 2 bytes, 0x50 denied;
    // the file under /data read its 19 bytes, /etc denied; memory_stats answered 19 bytes,
    // power_off denied; then pointers past the end of memory or negative lengths: refused.
    assert_eq!(answer["s"], json!([0, -1, 2, -1, 19, -1, 19, -1, -2, -2, -2]), "{answer}");
    // Log lines out of bounds are dropped; control characters are removed.
    let log = r#"(module (import "kingly" "log" (func $log (param i32 i32))) (memory (export "memory") 1)
      (data (i32.const 0) "hello\1b[2Jworld")
      (func (export "call") (result i32) (call $log (i32.const 0) (i32.const 70000)) (call $log (i32.const 65535) (i32.const 2))
        (call $log (i32.const 0) (i32.const 14)) (i32.const 0)))"#;
    let (outcome, model) = call(&compile(manifest(json!({"capabilities": {"log": true}})), log).unwrap(), "{}");
    assert!(outcome.is_ok());
    assert_eq!(model.logged, ["t: hello[2Jworld"]);
}

fn tool_variant_returning_statuses() -> String {
    // The same calls; then the eleven i32 words at 200.. are written as decimal into a
    // JSON object {"s":[...]} by a small formatter in WAT.
    r#"(module
      (import "kingly" "gpio_write" (func $w (param i32 i32) (result i32)))
      (import "kingly" "i2c_write_read" (func $i2c (param i32 i32 i32 i32 i32) (result i32)))
      (import "kingly" "file_read" (func $file (param i32 i32 i32 i32 i32) (result i32)))
      (import "kingly" "tool_call" (func $tool (param i32 i32 i32 i32 i32 i32) (result i32)))
      (import "kingly" "result" (func $result (param i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "/data/greeting.txt/etc/secretmemory_statspower_off")
      (global $out (mut i32) (i32.const 1000))
      (func $byte (param $b i32) (i32.store8 (global.get $out) (local.get $b)) (global.set $out (i32.add (global.get $out) (i32.const 1))))
      (func $num (param $v i32)
        (local $d i32) (local $div i32)
        (if (i32.lt_s (local.get $v) (i32.const 0)) (then (call $byte (i32.const 45)) (local.set $v (i32.sub (i32.const 0) (local.get $v)))))
        (local.set $div (i32.const 1000000))
        (local.set $d (i32.const 0))
        (block $done (loop $l
          (if (i32.or (i32.ge_u (local.get $v) (local.get $div)) (i32.or (local.get $d) (i32.eq (local.get $div) (i32.const 1))))
            (then (call $byte (i32.add (i32.const 48) (i32.div_u (local.get $v) (local.get $div))))
                  (local.set $v (i32.rem_u (local.get $v) (local.get $div)))
                  (local.set $d (i32.const 1))))
          (br_if $done (i32.eq (local.get $div) (i32.const 1)))
          (local.set $div (i32.div_u (local.get $div) (i32.const 10)))
          (br $l))))
      (func (export "call") (result i32)
        (local $i i32)
        (i32.store (i32.const 200) (call $w (i32.const 17) (i32.const 1)))
        (i32.store (i32.const 204) (call $w (i32.const 18) (i32.const 1)))
        (i32.store (i32.const 208) (call $i2c (i32.const 0x48) (i32.const 100) (i32.const 1) (i32.const 300) (i32.const 2)))
        (i32.store (i32.const 212) (call $i2c (i32.const 0x50) (i32.const 100) (i32.const 1) (i32.const 300) (i32.const 2)))
        (i32.store (i32.const 216) (call $file (i32.const 0) (i32.const 18) (i32.const 0) (i32.const 400) (i32.const 64)))
        (i32.store (i32.const 220) (call $file (i32.const 18) (i32.const 11) (i32.const 0) (i32.const 400) (i32.const 64)))
        (i32.store (i32.const 224) (call $tool (i32.const 29) (i32.const 12) (i32.const 0) (i32.const 0) (i32.const 500) (i32.const 64)))
        (i32.store (i32.const 228) (call $tool (i32.const 41) (i32.const 9) (i32.const 0) (i32.const 0) (i32.const 500) (i32.const 64)))
        (i32.store (i32.const 232) (call $file (i32.const 65530) (i32.const 100) (i32.const 0) (i32.const 400) (i32.const 64)))
        (i32.store (i32.const 236) (call $i2c (i32.const 0x48) (i32.const 0) (i32.const -1) (i32.const 300) (i32.const 2)))
        (i32.store (i32.const 240) (call $tool (i32.const 29) (i32.const 12) (i32.const 0) (i32.const 0) (i32.const 65535) (i32.const 64)))
        (call $byte (i32.const 123)) (call $byte (i32.const 34)) (call $byte (i32.const 115)) (call $byte (i32.const 34))
        (call $byte (i32.const 58)) (call $byte (i32.const 91))
        (local.set $i (i32.const 0))
        (loop $l
          (if (local.get $i) (then (call $byte (i32.const 44))))
          (call $num (i32.load (i32.add (i32.const 200) (i32.mul (local.get $i) (i32.const 4)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 11))))
        (call $byte (i32.const 93)) (call $byte (i32.const 125))
        (call $result (i32.const 1000) (i32.sub (global.get $out) (i32.const 1000)))
        (i32.const 0)))"#
        .into()
}

#[test]
fn traps_and_failures_are_errors() {
    let trap = r#"(module (memory (export "memory") 1) (func (export "call") (result i32) unreachable))"#;
    assert!(matches!(call(&compile(manifest(json!({})), trap).unwrap(), "{}").0, Err(Error::Trap(_))));
    let oob =
        r#"(module (memory (export "memory") 1) (func (export "call") (result i32) (i32.load (i32.const 70000))))"#;
    assert!(matches!(call(&compile(manifest(json!({})), oob).unwrap(), "{}").0, Err(Error::Trap(_))));
    let div = r#"(module (memory (export "memory") 1) (func (export "call") (result i32) (i32.div_s (i32.const 1) (i32.const 0))))"#;
    assert!(matches!(call(&compile(manifest(json!({})), div).unwrap(), "{}").0, Err(Error::Trap(_))));
    let deep = r#"(module (memory (export "memory") 1) (func $f (export "call") (result i32) (call $f)))"#;
    assert!(matches!(call(&compile(manifest(json!({})), deep).unwrap(), "{}").0, Err(Error::Trap(_))));
    let fail = r#"(module (import "kingly" "fail" (func $fail (param i32 i32))) (memory (export "memory") 1)
      (data (i32.const 0) "no sensor answered") (func (export "call") (result i32) (call $fail (i32.const 0) (i32.const 18)) (i32.const 0)))"#;
    assert_eq!(
        call(&compile(manifest(json!({})), fail).unwrap(), "{}").0,
        Err(Error::Failed("no sensor answered".into()))
    );
    let status = r#"(module (memory (export "memory") 1) (func (export "call") (result i32) (i32.const 7)))"#;
    assert!(
        matches!(call(&compile(manifest(json!({})), status).unwrap(), "{}").0, Err(Error::Failed(why)) if why.contains('7'))
    );
    let bad_answer = r#"(module (import "kingly" "result" (func $r (param i32 i32))) (memory (export "memory") 1)
      (func (export "call") (result i32) (call $r (i32.const 65000) (i32.const 9000)) (i32.const 0)))"#;
    assert!(matches!(call(&compile(manifest(json!({})), bad_answer).unwrap(), "{}").0, Err(Error::Trap(_))));
}

#[test]
fn manifests_are_checked_whole() {
    let ok = r#"{"name":"blink","title":"Blink","description":"Blinks a pin","version":"1.0",
      "inputSchema":{"type":"object","properties":{"times":{"type":"integer"}}},
      "annotations":{"destructiveHint":false},"capabilities":{"gpio":[17],"time":true},
      "limits":{"fuel":1000,"memoryKib":128,"deadlineMs":500},"examples":["blink the led"]}"#;
    let m = Manifest::parse(ok).unwrap();
    assert_eq!(m.budget().memory_bytes, 128 * 1024);
    assert!(!m.annotations().read_only);
    for (bad, why) in [
        (r#"{"name":"a b","description":"d"}"#, "tool name"),
        (r#"{"name":"a","description":""}"#, "empty"),
        (r#"{"name":"a","description":"d","capabilities":{"gpoi":[1]}}"#, "unknown field"),
        (r#"{"name":"a","description":"d","capabilities":{"gpio":[99]}}"#, "GPIO 99"),
        (r#"{"name":"a","description":"d","capabilities":{"gpio":[4,4]}}"#, "twice"),
        (r#"{"name":"a","description":"d","capabilities":{"i2c":[0]}}"#, "reserved"),
        (r#"{"name":"a","description":"d","capabilities":{"files":["/data/../boot"]}}"#, "absolute"),
        (r#"{"name":"a","description":"d","capabilities":{"tools":["a"]}}"#, "itself"),
        (r#"{"name":"a","description":"d","inputSchema":{"type":"array"}}"#, "\"object\""),
        (r#"{"name":"a","description":"d","inputSchema":[]}"#, "JSON object"),
        (r#"{"name":"a","description":"d","limits":{"fuel":0}}"#, "fuel"),
        (r#"{"name":"a","description":"d","limits":{"deadlineMs":100000}}"#, "deadlineMs"),
        (r#"{"name":"a","description":"d","annotations":{"readOnlyHint":true,"destructiveHint":true}}"#, "both"),
        (r#"{"name":"a","description":"bell\u0007"}"#, "control"),
        (r#"[]"#, "not a manifest"),
    ] {
        let Err(Error::Manifest(message)) = Manifest::parse(bad) else { panic!("{bad} must be refused") };
        assert!(message.contains(why), "{bad}: {message}");
    }
    assert!(wasmhost::sandbox::allowed_path(&["/data".into()], "/DATA/x.txt"));
    assert!(!wasmhost::sandbox::allowed_path(&["/data".into()], "/database"));
    assert!(!wasmhost::sandbox::allowed_path(&["/data".into()], "/data/../config.txt"));
}

#[test]
fn bundles_round_trip_and_damage_is_detected() {
    let manifest = r#"{"name":"t","description":"d"}"#;
    let module = wat::parse_str(ECHO).unwrap();
    let bytes = bundle::encode(manifest, &module);
    assert_eq!(bundle::decode(&bytes).unwrap(), (manifest.to_string(), module.clone()));
    assert!(bundle::decode(&bytes[..bytes.len() - 1]).is_err(), "truncated");
    let mut rng = testkit::Rng::new(7);
    for _ in 0..5000 {
        let mut damaged = bytes.clone();
        let at = rng.below(damaged.len());
        damaged[at] ^= 1 << rng.below(8);
        assert!(bundle::decode(&damaged).is_err(), "a flipped bit at {at} is caught");
    }
    assert!(bundle::decode(b"").is_err());
    assert!(bundle::decode(b"KTOOL1\n\xff\xff\xff\xff\0\0\0\0\0\0\0\0").is_err());
}

/// Thousands of mutated modules and manifests: compile refuses or accepts, a call answers
/// or fails, and nothing panics.
#[test]
fn mutated_modules_and_manifests_never_panic() {
    let sandbox = Sandbox::new();
    let seeds = [wat::parse_str(ECHO).unwrap(), wat::parse_str(tool_variant_returning_statuses()).unwrap()];
    let capabilities = manifest(
        json!({"capabilities": {"log": true, "gpio": [17], "i2c": [0x48], "files": ["/data"], "tools": ["memory_stats"]}, "limits": {"fuel": 200000}}),
    );
    let mut rng = testkit::Rng::new(0x5eed);
    let (mut compiled, mut ran) = (0, 0);
    for round in 0..3000 {
        let mut module = seeds[round % 2].clone();
        for _ in 0..1 + rng.below(4) {
            rng.mutate(&mut module, 8);
        }
        if let Ok(tool) = sandbox.compile(capabilities.clone(), &module) {
            compiled += 1;
            let (outcome, _) = tool.call(Model::default(), r#"{"a":1}"#);
            ran += usize::from(outcome.is_ok());
        }
    }
    assert!(compiled > 50, "some mutations still compile ({compiled}), so calls were exercised too ({ran} answered)");
    let text = r#"{"name":"blink","description":"Blinks","inputSchema":{"type":"object","properties":{"n":{"type":"integer"}}},"capabilities":{"gpio":[17],"time":true},"limits":{"fuel":1000}}"#;
    let mut accepted = 0;
    for _ in 0..5000 {
        let mut bytes = text.as_bytes().to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len());
            bytes[at] = *rng.pick(b"{}[]\":,0123456789abc -\\").unwrap_or(&b' ');
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            accepted += usize::from(Manifest::parse(text).is_ok());
        }
    }
    assert!(accepted < 5000);
}
