//! `lm75_temperature`: reads an LM75-compatible sensor (LM75, TMP105, ...) at 0x48 over
//! I2C and converts the reading to the unit asked for. Read-only: its manifest grants the
//! one address and nothing that writes.
#![cfg_attr(target_arch = "wasm32", no_std)]

use kingly_tool::{i2c, Args, Error, Json};

kingly_tool::tool!(run);

/// The temperature register (0) as °C: a left-aligned two's-complement value whose top
/// 9 bits count half degrees (an LM75; a TMP105 gives 12 bits, read the same way here).
pub fn celsius(raw: [u8; 2]) -> f64 {
    f64::from(i16::from_be_bytes(raw) >> 4) * 0.0625
}

/// Converts °C to `unit`.
pub fn convert(celsius: f64, unit: &str) -> Option<f64> {
    match unit {
        "celsius" => Some(celsius),
        "fahrenheit" => Some(celsius * 9.0 / 5.0 + 32.0),
        "kelvin" => Some(celsius + 273.15),
        _ => None,
    }
}

/// Reads the sensor and answers the temperature in the unit asked for.
pub fn run(args: &Args) -> Result<(), Error> {
    let unit = args.str("unit").unwrap_or("celsius");
    let mut raw = [0u8; 2];
    i2c::write_read(0x48, &[0], &mut raw)?;
    let c = celsius(raw);
    let value = convert(c, unit).ok_or(Error::Message("unit must be celsius, fahrenheit or kelvin"))?;
    let mut out = [0u8; 128];
    kingly_tool::result(
        Json::new(&mut out)
            .fixed("value", value, 2)
            .str("unit", unit)
            .fixed("celsius", c, 4)
            .int("address", 0x48)
            .finish(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn readings_convert() {
        assert_eq!(super::celsius([0x19, 0x80]), 25.5);
        assert_eq!(super::celsius([0xe7, 0x00]), -25.0);
        assert_eq!(super::convert(100.0, "fahrenheit"), Some(212.0));
        assert_eq!(super::convert(0.0, "kelvin"), Some(273.15));
        assert_eq!(super::convert(0.0, "rankine"), None);
    }
}
