//! PWM tool: `pwm_set`, a frequency and duty cycle on one of the PWM0 pins.
//!
//! Setup: registered on boards whose PWM block is driven (the real Pi 3, Pi 4, Zero 2 W;
//! QEMU emulates no PWM). PWM0 channel 1 comes out on GPIO 12 (ALT0, header pin 32) or 18
//! (ALT5, pin 12), channel 2 on GPIO 13 (ALT0, pin 33) or 19 (ALT5, pin 35); the pin is
//! claimed for its channel until reboot. Usage: `pwm_set pin=18 frequency_hz=50
//! duty_percent=7.5` (a hobby servo's centre), `duty_percent=0` to keep the pin low.
//!
//! Limits: 1 Hz to 100 kHz, 0-100 % duty; the result reports what the ~10 MHz PWM clock
//! actually gives. Errors (isError results): the pin is owned by something else, or the
//! clock generator did not stop within its deadline.

use super::declare;
use crate::{board::CURRENT, gpio_owner, platform};
use alloc::{format, string::String};
use drivers::{
    gpio::Function,
    pwm::{Channel, DUTY_SCALE},
};
use mcp::{json, Annotations, Declaration, Map, Server, ToolError, ToolOutput, Value};

/// Pin → (channel, owner name, alternate function).
fn channel_of(pin: u64) -> Option<(Channel, &'static str, Function)> {
    match pin {
        12 => Some((Channel::One, "PWM0 channel 1", Function::Alt0)),
        18 => Some((Channel::One, "PWM0 channel 1", Function::Alt5)),
        13 => Some((Channel::Two, "PWM0 channel 2", Function::Alt0)),
        19 => Some((Channel::Two, "PWM0 channel 2", Function::Alt5)),
        _ => None,
    }
}

fn set(args: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let pin = args.get("pin").and_then(Value::as_u64).ok_or("'pin' is required")?;
    let (channel, name, function) = channel_of(pin).ok_or("PWM0 is on GPIO 12, 13, 18 or 19")?;
    let hz = args.get("frequency_hz").and_then(Value::as_u64).ok_or("'frequency_hz' is required")? as u32;
    let percent = args.get("duty_percent").and_then(Value::as_f64).ok_or("'duty_percent' is required")?;
    let duty_ppm = (percent.clamp(0.0, 100.0) * (DUTY_SCALE as f64 / 100.0) + 0.5) as u32;
    let pwm = platform::get().and_then(|p| p.pwm.as_ref()).ok_or("this board has no PWM")?;
    gpio_owner::claim(name, &[(pin as u32, "PWM", function)])?;
    let setting = pwm.lock().set(channel, hz, duty_ppm).map_err(|e| format!("{name}: {e}"))?;
    let actual_hz = setting.frequency_millihertz() as f64 / 1000.0;
    let actual_percent = setting.duty_ppm() as f64 / (DUTY_SCALE as f64 / 100.0);
    let text = format!(
        "GPIO {pin} ({name}): {actual_hz} Hz, {actual_percent}% duty ({} of {} ticks)",
        setting.data, setting.range
    );
    Ok(ToolOutput::with_text(
        json!({"pin": pin, "channel": if channel == Channel::One { 1 } else { 2 }, "frequency_hz": actual_hz, "duty_percent": actual_percent, "clock_hz": setting.clock_hz, "range": setting.range}),
        text,
    ))
}

/// Registers the group (nothing on boards without a driven PWM block).
pub fn register(server: &mut Server) {
    if CURRENT.pwm.is_none() || CURRENT.gpio.is_none() {
        return;
    }
    declare(
        server,
        &const {
            Declaration::new("pwm_set", |_, args| set(args))
            .title("Set a PWM output")
            .description("Drives GPIO 12/18 (PWM0 channel 1) or 13/19 (channel 2) with a square wave of the given frequency and duty cycle; 0% keeps the pin low. Reports the frequency and duty actually produced.")
            .input_schema_text(r#"{"type": "object", "properties": {
                "pin": {"enum": [12, 13, 18, 19], "description": "GPIO 12 (pin 32) or 18 (pin 12): channel 1; 13 (pin 33) or 19 (pin 35): channel 2"},
                "frequency_hz": {"type": "integer", "minimum": 1, "maximum": 100000},
                "duty_percent": {"type": "number", "minimum": 0, "maximum": 100}
            }, "required": ["pin", "frequency_hz", "duty_percent"], "additionalProperties": false}"#)
            .output_schema_text(r#"{"type": "object", "properties": {"pin": {"type": "integer"}, "channel": {"type": "integer"}, "frequency_hz": {"type": "number"}, "duty_percent": {"type": "number"}, "clock_hz": {"type": "integer"}, "range": {"type": "integer"}}, "required": ["pin", "channel", "frequency_hz", "duty_percent"]}"#)
            .annotations(Annotations { read_only: false, destructive: false, idempotent: true, open_world: false })
        },
    );
}
