//! I2C tools: `i2c_scan`, `i2c_read`, `i2c_write`, `i2c_write_read`, and
//! `sensor_temperature`, which reads an LM75-compatible sensor through the `lm75` crate — an
//! ecosystem driver written against embedded-hal 1.0, running unchanged on our BSC driver.
//!
//! Setup: registered on boards with BSC controllers (not virt). Bus 1 (default) is GPIO 2
//! SDA / GPIO 3 SCL on header pins 3/5; bus 0 is GPIO 0/1 (pins 27/28, meant for HAT ID
//! EEPROMs). The first call on a bus routes its two pins to the controller (they are then
//! reserved for it until reboot) and sets 100 kHz. Usage: `i2c_scan`, `i2c_read address=0x48
//! length=2`, `i2c_write_read address=0x48 write=[0] length=2`,
//! `sensor_temperature address=0x48`.
//!
//! Addresses are 7-bit, 0x03-0x77 (the others are reserved by the I2C specification);
//! transfers carry at most 64 bytes. Errors (isError results): no ACK (no device at that
//! address, the message says so), a clock-stretch timeout, a bus that never finishes
//! (deadline in the driver: the call returns, the kernel keeps serving), or the bus pins
//! owned by something else.

use super::declare;
use crate::{board::CURRENT, gpio_owner, platform};
use alloc::{format, string::String, vec::Vec};
use core::sync::atomic::{AtomicBool, Ordering};
use drivers::{gpio::Function, i2c::Bsc};
use mcp::{json, Annotations, Declaration, Map, Server, ToolError, ToolOutput, Value};
use spin::MutexGuard;

/// Bus clock set on first use.
const BUS_HZ: u32 = drivers::i2c::STANDARD_HZ;

/// Bus names as pin owners, by bus number.
const NAMES: [&str; 2] = ["I2C bus 0", "I2C bus 1"];

/// Each bus's pins: SDA, SCL (ALT0 on both SoCs).
const PINS: [[(u32, &str, Function); 2]; 2] = [
    [(0, "SDA", Function::Alt0), (1, "SCL", Function::Alt0)],
    [(2, "SDA", Function::Alt0), (3, "SCL", Function::Alt0)],
];

static READY: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

/// The bus number argument (default 1).
fn bus_argument(args: &Map<String, Value>) -> usize {
    args.get("bus").and_then(Value::as_u64).unwrap_or(1) as usize
}

fn address_argument(args: &Map<String, Value>) -> Result<u8, ToolError> {
    args.get("address").and_then(Value::as_u64).map(|a| a as u8).ok_or_else(|| "'address' is required".into())
}

/// Bytes from a JSON array the schema already limited to 0-255.
fn bytes_argument(args: &Map<String, Value>, name: &str) -> Result<Vec<u8>, ToolError> {
    let items = args.get(name).and_then(Value::as_array).ok_or_else(|| format!("'{name}' is required"))?;
    items
        .iter()
        .map(|v| {
            v.as_u64()
                .filter(|b| *b <= 255)
                .map(|b| b as u8)
                .ok_or_else(|| format!("'{name}' must hold bytes 0-255").into())
        })
        .collect()
}

/// Opens bus `bus`: on first use claims its pins and sets the clock.
pub fn open(bus: usize) -> Result<MutexGuard<'static, Bsc>, ToolError> {
    let controller = platform::get()
        .and_then(|p| p.i2c.get(bus)?.as_ref())
        .ok_or_else(|| format!("I2C bus {bus} does not exist on this board"))?;
    gpio_owner::claim(NAMES[bus], &PINS[bus])?;
    let guard = controller.lock();
    if !READY[bus].swap(true, Ordering::AcqRel) {
        let hz = guard.init(crate::system::core_clock_hz(), BUS_HZ);
        log::debug!("I2C bus {bus}: {hz} Hz");
    }
    Ok(guard)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

fn failed(bus: usize, error: drivers::i2c::Error) -> ToolError {
    format!("I2C bus {bus}: {error}").into()
}

fn scan(args: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let bus = bus_argument(args);
    let mut controller = open(bus)?;
    let mut found = Vec::new();
    for address in 0x03..=0x77u8 {
        if controller.probe(address).map_err(|e| failed(bus, e))? {
            found.push(address);
        }
    }
    let names: Vec<String> = found.iter().map(|a| format!("{a:#04x}")).collect();
    let text = match found.len() {
        0 => format!("no device answered on I2C bus {bus} (0x03-0x77)"),
        n => format!("{n} device{} on I2C bus {bus}: {}", if n == 1 { "" } else { "s" }, names.join(" ")),
    };
    Ok(ToolOutput::with_text(json!({"bus": bus, "addresses": found, "hex": names}), text))
}

fn read(args: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let (bus, address) = (bus_argument(args), address_argument(args)?);
    let length = args.get("length").and_then(Value::as_u64).ok_or("'length' is required")? as usize;
    let mut data = alloc::vec![0u8; length];
    open(bus)?.read_bytes(address, &mut data).map_err(|e| failed(bus, e))?;
    let text = format!("{address:#04x}: {}", hex(&data));
    Ok(ToolOutput::with_text(json!({"bus": bus, "address": address, "data": data, "hex": hex(&data)}), text))
}

fn write(args: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let (bus, address) = (bus_argument(args), address_argument(args)?);
    let data = bytes_argument(args, "data")?;
    open(bus)?.write_bytes(address, &data).map_err(|e| failed(bus, e))?;
    let text = format!("wrote {} byte{} to {address:#04x}", data.len(), if data.len() == 1 { "" } else { "s" });
    Ok(ToolOutput::with_text(json!({"bus": bus, "address": address, "written": data.len()}), text))
}

fn write_read(args: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let (bus, address) = (bus_argument(args), address_argument(args)?);
    let out = bytes_argument(args, "write")?;
    let length = args.get("length").and_then(Value::as_u64).ok_or("'length' is required")? as usize;
    let mut data = alloc::vec![0u8; length];
    open(bus)?.write_read_bytes(address, &out, &mut data).map_err(|e| failed(bus, e))?;
    let text = format!("{address:#04x} [{}]: {}", hex(&out), hex(&data));
    Ok(ToolOutput::with_text(json!({"bus": bus, "address": address, "data": data, "hex": hex(&data)}), text))
}

fn temperature(args: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let (bus, address) = (bus_argument(args), address_argument(args)?);
    let mut controller = open(bus)?;
    // The lm75 crate only knows embedded-hal's `I2c` trait; `&mut Bsc` is one.
    let mut sensor = lm75::Lm75::new(&mut *controller, lm75::Address::from(address));
    let celsius = sensor.read_temperature().map_err(|error| match error {
        lm75::Error::I2C(e) => failed(bus, e),
        lm75::Error::InvalidInputData => ToolError::from("the lm75 driver rejected the request"),
    })?;
    let text = format!("{celsius:.1} °C (LM75-compatible sensor at {address:#04x}, I2C bus {bus})");
    Ok(ToolOutput::with_text(
        json!({"bus": bus, "address": address, "celsius": celsius, "driver": "lm75 (embedded-hal 1.0)"}),
        text,
    ))
}

// The schemas are literals assembled by macros, so the tools are declared as constant data
// (see `super::declare`).
macro_rules! bus_schema {
    () => {
        r#""bus": {"type": "integer", "minimum": 0, "maximum": 1, "default": 1, "description": "1: GPIO 2/3 (header pins 3/5); 0: GPIO 0/1 (pins 27/28)"}"#
    };
}
macro_rules! address_schema {
    () => {
        r#""address": {"type": "integer", "minimum": 3, "maximum": 119, "description": "7-bit device address, 0x03-0x77"}"#
    };
}
macro_rules! length_schema {
    () => {
        r#""length": {"type": "integer", "minimum": 1, "maximum": 64, "description": "bytes to read (at most 64)"}"#
    };
}
/// A byte-array argument `name`, described as `what`.
macro_rules! bytes_schema {
    ($name:literal, $what:literal) => {
        concat!(
            "\"",
            $name,
            r#"": {"type": "array", "minItems": 1, "maxItems": 64, "items": {"type": "integer", "minimum": 0, "maximum": 255}, "description": ""#,
            $what,
            r#" (1-64 bytes)"}"#
        )
    };
}
/// An object schema of the given properties (each `"name": {...}`) and required names.
macro_rules! object {
    ($required:literal; $first:expr $(, $rest:expr)*) => {
        concat!(r#"{"type": "object", "properties": {"#, $first $(, ", ", $rest)*, r#"}, "required": ["#, $required, r#"], "additionalProperties": false}"#)
    };
}
const DATA_OUTPUT: &str = r#"{"type": "object", "properties": {"bus": {"type": "integer"}, "address": {"type": "integer"}, "data": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}}, "hex": {"type": "string"}}, "required": ["bus", "address", "data", "hex"]}"#;

/// Registers the group (nothing on boards without I2C).
pub fn register(server: &mut Server) {
    if CURRENT.i2c.iter().all(Option::is_none) || CURRENT.gpio.is_none() {
        return;
    }
    declare(
        server,
        &const {
            Declaration::new("i2c_scan", |_, args| scan(args))
            .title("Scan an I2C bus")
            .description("Lists the 7-bit addresses (0x03-0x77) where a device acknowledges a one-byte read. The first I2C call on a bus routes its pins to the controller.")
            .input_schema_text(object!(""; bus_schema!()))
            .output_schema_text(r#"{"type": "object", "properties": {"bus": {"type": "integer"}, "addresses": {"type": "array", "items": {"type": "integer"}}, "hex": {"type": "array", "items": {"type": "string"}}}, "required": ["bus", "addresses", "hex"]}"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("i2c_read", |_, args| read(args))
                .title("Read from an I2C device")
                .description("Reads 1-64 bytes from the device at a 7-bit address (a NACK means no device there).")
                .input_schema_text(
                    object!(r#""address", "length""#; address_schema!(), length_schema!(), bus_schema!()),
                )
                .output_schema_text(DATA_OUTPUT)
                .annotations(Annotations { read_only: true, destructive: false, idempotent: false, open_world: false })
        },
    );
    declare(
        server,
        &const {
            Declaration::new("i2c_write", |_, args| write(args))
            .title("Write to an I2C device")
            .description("Writes 1-64 bytes to the device at a 7-bit address (typically a register number followed by its new value). Can overwrite device memory such as EEPROMs.")
            .input_schema_text(object!(r#""address", "data""#; address_schema!(), bytes_schema!("data", "bytes to write"), bus_schema!()))
            .output_schema_text(r#"{"type": "object", "properties": {"bus": {"type": "integer"}, "address": {"type": "integer"}, "written": {"type": "integer"}}, "required": ["bus", "address", "written"]}"#)
            .annotations(Annotations { read_only: false, destructive: true, idempotent: false, open_world: false })
        },
    );
    declare(
        server,
        &const {
            Declaration::new("i2c_write_read", |_, args| write_read(args))
            .title("Read an I2C device's register")
            .description("Writes 1-64 bytes (usually a register number), then reads 1-64 bytes after a repeated START: the usual way to read a sensor register.")
            .input_schema_text(object!(r#""address", "write", "length""#; address_schema!(), bytes_schema!("write", "bytes to write first, e.g. the register number"), length_schema!(), bus_schema!()))
            .output_schema_text(DATA_OUTPUT)
            .annotations(Annotations { read_only: false, destructive: false, idempotent: false, open_world: false })
        },
    );
    declare(
        server,
        &const {
            Declaration::new("sensor_temperature", |_, args| temperature(args))
            .title("Read an LM75-compatible temperature sensor")
            .description("Degrees Celsius from an LM75-family sensor (LM75, TMP75, TMP105, ...) at 0x48-0x4f, read with the lm75 crate (an embedded-hal 1.0 driver) over the kernel's I2C driver.")
            .input_schema_text(object!(r#""address""#; r#""address": {"type": "integer", "minimum": 72, "maximum": 79, "description": "0x48-0x4f"}"#, bus_schema!()))
            .output_schema_text(r#"{"type": "object", "properties": {"bus": {"type": "integer"}, "address": {"type": "integer"}, "celsius": {"type": "number"}, "driver": {"type": "string"}}, "required": ["bus", "address", "celsius"]}"#)
            .annotations(Annotations { read_only: true, destructive: false, idempotent: false, open_world: false })
        },
    );
}
