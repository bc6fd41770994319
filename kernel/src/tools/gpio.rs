//! GPIO tools: `gpio_mode`, `gpio_read`, `gpio_write`, `gpio_list`, and the header map
//! resource `board://header`.
//!
//! Setup: registered only on boards with a GPIO block and a 40-pin header (not on virt).
//! Pins are BCM GPIO numbers 0-27 (the ones the header brings out; `board://header` maps
//! them to physical pins). Usage: `gpio_write pin=17 value=true` drives GPIO 17 (header pin
//! 11) high, making it an output first if needed; `gpio_mode pin=22 mode=input pull=up`;
//! `gpio_read pin=22`. Pins the board uses (console UART on 14/15) or a bus claimed (I2C
//! bus 1 on 2/3 after an i2c tool ran, SPI0, PWM) are refused with an explanation; reading
//! any pin is allowed.
//!
//! Errors (tool results with isError): the pin is reserved or claimed (who owns it is
//! named). Bad arguments (pin 99, mode "pwm") never reach the handler: schema validation
//! answers -32602.

use super::declare;
use crate::{board::CURRENT, gpio_owner, platform};
use alloc::{format, string::String, vec::Vec};
use core::fmt::Write;
use drivers::gpio::{Function, Gpio, Pull};
use logic::gpio_args::{self, PinLevel};
use mcp::{json, Annotations, Ctx, Declaration, Map, Resource, Server, ToolError, ToolOutput, TypedTool, Value};

/// Highest GPIO the header brings out.
const MAX_HEADER_GPIO: u32 = 27;

fn gpio() -> Result<&'static Gpio, ToolError> {
    platform::get().and_then(|p| p.gpio.as_ref()).ok_or_else(|| "this board has no GPIO controller".into())
}

fn pin_argument(args: &Map<String, Value>) -> Result<u32, ToolError> {
    args.get("pin").and_then(Value::as_u64).map(|p| p as u32).ok_or_else(|| "'pin' is required".into())
}

fn physical(pin: u32) -> Option<u32> {
    CURRENT.header.and_then(|header| crate::board::header::physical_pin(header, pin))
}

/// One pin's state as tools report it.
fn describe(gpio: &Gpio, pin: u32) -> Value {
    let function = gpio.function(pin).map(Function::name).unwrap_or("unknown");
    let level = gpio.read(pin).unwrap_or(false);
    let pull = gpio.pull(pin).ok().flatten().map(Pull::name);
    let owner = gpio_owner::owner(pin).map(|o| format!("{o}"));
    json!({"pin": pin, "header_pin": physical(pin), "function": function, "level": level, "pull": pull, "owner": owner})
}

fn mode(args: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let pin = pin_argument(args)?;
    let function = match args.get("mode").and_then(Value::as_str) {
        Some("output") => Function::Output,
        Some("input") => Function::Input,
        _ => return Err("'mode' must be \"input\" or \"output\"".into()),
    };
    let pull = match args.get("pull").and_then(Value::as_str) {
        None => None,
        Some("up") => Some(Pull::Up),
        Some("down") => Some(Pull::Down),
        Some(_) => Some(Pull::None),
    };
    gpio_owner::with_free_pin(pin, |gpio| {
        gpio.set_function(pin, function)?;
        if let Some(pull) = pull {
            gpio.set_pull(pin, pull, || crate::arch::cpu::spin_for_micros(2))?;
        }
        Ok::<(), drivers::gpio::Error>(())
    })?
    .map_err(|e| format!("{e}"))?;
    let state = describe(gpio()?, pin);
    let text = format!("GPIO {pin} is now an {}", function.name());
    Ok(ToolOutput::with_text(state, text))
}

/// `gpio_write`: typed arguments, decoded without a schema walk (see `logic::gpio_args`).
pub struct GpioWrite;

impl TypedTool for GpioWrite {
    type Args = PinLevel;
    const DECLARATION: Declaration = Declaration::typed::<GpioWrite>("gpio_write")
        .title("Drive a GPIO high or low")
        .description("Sets a header GPIO's output level (true = high, 3.3 V), making it an output first if it was not; reports the level read back. Reserved and claimed pins are refused.")
        .input_schema_text(gpio_args::WRITE_SCHEMA)
        .output_schema_text(r#"{"type": "object", "properties": {"pin": {"type": "integer"}, "value": {"type": "boolean"}, "level": {"type": "boolean", "description": "level read back"}, "made_output": {"type": "boolean"}}, "required": ["pin", "value", "level", "made_output"]}"#)
        .annotations(Annotations { read_only: false, destructive: false, idempotent: true, open_world: false });

    fn decode(arguments: &str) -> Option<PinLevel> {
        gpio_args::decode_write(arguments)
    }

    fn run(_: &mut Ctx<'_>, arguments: PinLevel) -> Result<ToolOutput, ToolError> {
        write(arguments)
    }
}

/// `gpio_read`, typed like `gpio_write`.
pub struct GpioRead;

impl TypedTool for GpioRead {
    type Args = u32;
    const DECLARATION: Declaration = Declaration::typed::<GpioRead>("gpio_read")
        .title("Read a GPIO")
        .description("The level of a header GPIO (true = high) and its current function.")
        .input_schema_text(gpio_args::READ_SCHEMA)
        .output_schema_text(r#"{"type": "object", "properties": {"pin": {"type": "integer"}, "value": {"type": "boolean"}, "mode": {"type": "string"}}, "required": ["pin", "value", "mode"]}"#)
        .annotations(Annotations::READ_ONLY);

    fn decode(arguments: &str) -> Option<u32> {
        gpio_args::decode_read(arguments)
    }

    fn run(_: &mut Ctx<'_>, pin: u32) -> Result<ToolOutput, ToolError> {
        read(pin)
    }
}

fn write(PinLevel { pin, value }: PinLevel) -> Result<ToolOutput, ToolError> {
    let made_output = gpio_owner::with_free_pin(pin, |gpio| {
        // Latch the level first, then switch to output: no glitch at the old level.
        gpio.write(pin, value)?;
        let was_output = gpio.function(pin)? == Function::Output;
        if !was_output {
            gpio.set_function(pin, Function::Output)?;
        }
        Ok::<bool, drivers::gpio::Error>(!was_output)
    })?
    .map_err(|e| format!("{e}"))?;
    let level = gpio()?.read(pin).map_err(|e| format!("{e}"))?;
    let mut text = format!("GPIO {pin} {}", if value { "high" } else { "low" });
    if made_output {
        text.push_str(" (made an output)");
    }
    if level != value {
        let _ = write!(text, " — but it reads {}: something outside drives it", if level { "high" } else { "low" });
    }
    Ok(ToolOutput::with_text(json!({"pin": pin, "value": value, "level": level, "made_output": made_output}), text))
}

fn read(pin: u32) -> Result<ToolOutput, ToolError> {
    let gpio = gpio()?;
    let value = gpio.read(pin).map_err(|e| format!("{e}"))?;
    let function = gpio.function(pin).map_err(|e| format!("{e}"))?.name();
    let text = format!("GPIO {pin} is {} ({function})", if value { "high" } else { "low" });
    Ok(ToolOutput::with_text(json!({"pin": pin, "value": value, "mode": function}), text))
}

fn list() -> Result<ToolOutput, ToolError> {
    let gpio = gpio()?;
    let mut text = format!("{:<5} {:<7} {:<8} {:<6} {:<5} owner\n", "gpio", "header", "function", "level", "pull");
    let mut pins = Vec::new();
    for pin in 0..=MAX_HEADER_GPIO {
        let state = describe(gpio, pin);
        let _ = writeln!(
            text,
            "{:<5} {:<7} {:<8} {:<6} {:<5} {}",
            pin,
            physical(pin).map(|p| format!("{p}")).unwrap_or_default(),
            state["function"].as_str().unwrap_or(""),
            if state["level"] == json!(true) { "high" } else { "low" },
            state["pull"].as_str().unwrap_or("-"),
            state["owner"].as_str().unwrap_or("")
        );
        pins.push(state);
    }
    Ok(ToolOutput::with_text(json!({ "pins": pins }), text))
}

/// The header map: every physical pin with its signal and, for GPIOs, the current state.
fn header_text() -> Result<String, String> {
    let header = CURRENT.header.ok_or("this board has no expansion header")?;
    let gpio = platform::get().and_then(|p| p.gpio.as_ref());
    let mut text = format!("{} 40-pin header (pin 1 is 3V3; odd pins on the inner row)\n", CURRENT.description);
    let _ = writeln!(text, "{:<4} {:<8} {:<8} {:<6} owner", "pin", "signal", "function", "level");
    for (index, signal) in header.iter().enumerate() {
        let name = match signal {
            crate::board::HeaderPin::Power3v3 => String::from("3V3"),
            crate::board::HeaderPin::Power5v => String::from("5V"),
            crate::board::HeaderPin::Ground => String::from("GND"),
            crate::board::HeaderPin::Gpio(n) => format!("GPIO{n}"),
        };
        let mut line = format!("{:<4} {:<8}", index + 1, name);
        if let (crate::board::HeaderPin::Gpio(n), Some(gpio)) = (signal, gpio) {
            let pin = *n as u32;
            let function = gpio.function(pin).map(Function::name).unwrap_or("?");
            let level = if gpio.read(pin).unwrap_or(false) { "high" } else { "low" };
            let owner = gpio_owner::owner(pin).map(|o| format!("{o}")).unwrap_or_default();
            let _ = write!(line, " {function:<8} {level:<6} {owner}");
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    Ok(text)
}

/// The `pin` argument (a macro, so the schemas that contain it are literals: the tools are
/// declared as constant data, see `super::declare`).
macro_rules! pin_schema {
    () => {
        r#"{"type": "integer", "minimum": 0, "maximum": 27, "description": "BCM GPIO number on the 40-pin header (0-27; see board://header)"}"#
    };
}

/// An input schema with `pin` and the `extra` properties (text starting with a comma), and
/// the `required` names (quoted, comma-separated).
macro_rules! pin_object {
    ($extra:literal, $required:literal) => {
        concat!(
            r#"{"type": "object", "properties": {"pin": "#,
            pin_schema!(),
            $extra,
            r#"}, "required": ["#,
            $required,
            r#"], "additionalProperties": false}"#
        )
    };
}

/// What every GPIO tool reports about a pin.
macro_rules! pin_state_schema {
    () => {
        r#"{"type": "object", "properties": {
    "pin": {"type": "integer"},
    "header_pin": {"type": ["integer", "null"]},
    "function": {"type": "string"},
    "level": {"type": "boolean"},
    "pull": {"type": ["string", "null"], "description": "readable on the BCM2711 only"},
    "owner": {"type": ["string", "null"]}
}, "required": ["pin", "function", "level", "owner"]}"#
    };
}

/// Registers the group (nothing on boards without GPIO and header).
pub fn register(server: &mut Server) {
    if CURRENT.gpio.is_none() || CURRENT.header.is_none() {
        return;
    }
    declare(
        server,
        &const {
            Declaration::new("gpio_mode", |_, args| mode(args))
                .title("Set a GPIO's mode")
                .description("Makes a header GPIO an input or an output, optionally with a pull-up or pull-down. Pins the board or a bus uses (console UART 14/15, claimed I2C/SPI/PWM pins) are refused.")
                .input_schema_text(pin_object!(
                    r#", "mode": {"enum": ["input", "output"]}, "pull": {"enum": ["none", "up", "down"], "description": "pull resistor (unchanged if omitted)"}"#,
                    r#""pin", "mode""#
                ))
                .output_schema_text(pin_state_schema!())
                .annotations(Annotations { read_only: false, destructive: false, idempotent: true, open_world: false })
        },
    );
    declare(server, &GpioWrite::DECLARATION);
    declare(server, &GpioRead::DECLARATION);
    declare(
        server,
        &const {
            Declaration::new("gpio_list", |_, _| list())
                .title("List the GPIOs")
                .description("Every header GPIO (0-27) with its physical pin, function, level, pull (where readable) and owner (board or bus), if any.")
                .output_schema_text(concat!(r#"{"type": "object", "properties": {"pins": {"type": "array", "items": "#, pin_state_schema!(), r#"}}, "required": ["pins"]}"#))
                .annotations(Annotations::READ_ONLY)
        },
    );
    let header = Resource::new("board://header", "board-header", |_, _| header_text())
        .title("40-pin header map")
        .description("Physical pins 1-40: power, ground and GPIO numbers, with each GPIO's function, level and owner.");
    if let Err(error) = server.add_resource(header) {
        log::error!("resource not registered: {error}");
    }
}
