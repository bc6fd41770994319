//! SPI tool: `spi_transfer`, one full-duplex transfer on SPI0.
//!
//! Setup: registered on boards with SPI0 (not virt). SPI0 is GPIO 10 MOSI, 9 MISO, 11 SCLK
//! (header pins 19, 21, 23) with chip selects CE0 = GPIO 8 (pin 24) and CE1 = GPIO 7 (pin
//! 26); the first call claims the data pins and the chip select it uses until reboot.
//! Usage: `spi_transfer data=[159,0,0,0]` sends 0x9f (JEDEC "read ID" of SPI flash chips)
//! and three padding bytes, and returns the four bytes clocked in at the same time.
//!
//! Limits: 1-256 bytes, 1 kHz-32 MHz (rounded down to what the divider gives), modes 0-3.
//! Errors (isError results): the pins are owned by something else, or the controller did not
//! finish within its deadline (the call returns, the kernel keeps serving).

use super::declare;
use crate::{board::CURRENT, gpio_owner, platform};
use alloc::{format, string::String, vec::Vec};
use drivers::gpio::Function;
use embedded_hal::spi::{MODE_0, MODE_1, MODE_2, MODE_3};
use mcp::{json, Annotations, Declaration, Map, Server, ToolError, ToolOutput, Value};

/// The owner name of the pins.
const NAME: &str = "SPI0";

fn transfer(args: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let data: Vec<u8> = args
        .get("data")
        .and_then(Value::as_array)
        .ok_or("'data' is required")?
        .iter()
        .map(|v| v.as_u64().filter(|b| *b <= 255).map(|b| b as u8).ok_or("'data' must hold bytes 0-255"))
        .collect::<Result<_, _>>()?;
    let chip_select = args.get("chip_select").and_then(Value::as_u64).unwrap_or(0) as u8;
    let mode_number = args.get("mode").and_then(Value::as_u64).unwrap_or(0);
    let mode = [MODE_0, MODE_1, MODE_2, MODE_3].get(mode_number as usize).copied().ok_or("'mode' must be 0-3")?;
    let hz = args.get("frequency_hz").and_then(Value::as_u64).unwrap_or(1_000_000) as u32;
    let spi = platform::get().and_then(|p| p.spi.as_ref()).ok_or("this board has no SPI0")?;
    let (ce_pin, ce_name) = if chip_select == 0 { (8, "CE0") } else { (7, "CE1") };
    gpio_owner::claim(
        NAME,
        &[
            (9, "MISO", Function::Alt0),
            (10, "MOSI", Function::Alt0),
            (11, "SCLK", Function::Alt0),
            (ce_pin, ce_name, Function::Alt0),
        ],
    )?;
    let mut spi = spi.lock();
    let actual_hz =
        spi.configure(crate::system::core_clock_hz(), chip_select, mode, hz).map_err(|e| format!("SPI0: {e}"))?;
    let mut received = alloc::vec![0u8; data.len()];
    spi.transfer_bytes(&mut received, &data).map_err(|e| format!("SPI0: {e}"))?;
    let hex = received.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
    let text =
        format!("CE{chip_select} mode {mode_number} at {actual_hz} Hz: sent {} bytes, received {hex}", data.len());
    Ok(ToolOutput::with_text(
        json!({"chip_select": chip_select, "mode": mode_number, "frequency_hz": actual_hz, "received": received, "hex": hex}),
        text,
    ))
}

/// Registers the group (nothing on boards without SPI0).
pub fn register(server: &mut Server) {
    if CURRENT.spi.is_none() || CURRENT.gpio.is_none() {
        return;
    }
    declare(
        server,
        &const {
            Declaration::new("spi_transfer", |_, args| transfer(args))
            .title("SPI transfer")
            .description("Sends 1-256 bytes on SPI0 with a chip select held low and returns the bytes received at the same time (full duplex). The bytes are commands to the device: they can erase or overwrite it.")
            .input_schema_text(r#"{"type": "object", "properties": {
                "data": {"type": "array", "minItems": 1, "maxItems": 256, "items": {"type": "integer", "minimum": 0, "maximum": 255}, "description": "bytes to send"},
                "chip_select": {"type": "integer", "minimum": 0, "maximum": 1, "default": 0, "description": "0: CE0 (GPIO 8, pin 24); 1: CE1 (GPIO 7, pin 26)"},
                "mode": {"type": "integer", "minimum": 0, "maximum": 3, "default": 0, "description": "SPI mode (CPOL*2 + CPHA)"},
                "frequency_hz": {"type": "integer", "minimum": 1000, "maximum": 32000000, "default": 1000000}
            }, "required": ["data"], "additionalProperties": false}"#)
            .output_schema_text(r#"{"type": "object", "properties": {"chip_select": {"type": "integer"}, "mode": {"type": "integer"}, "frequency_hz": {"type": "integer", "description": "clock actually used"}, "received": {"type": "array", "items": {"type": "integer"}}, "hex": {"type": "string"}}, "required": ["chip_select", "mode", "frequency_hz", "received", "hex"]}"#)
            .annotations(Annotations { read_only: false, destructive: true, idempotent: false, open_world: false })
        },
    );
}
