//! Typed arguments of `gpio_write` and `gpio_read`: the input schemas clients see, and the
//! decoding the MCP server uses instead of walking them ([`mcp::TypedTool`]). The tests
//! check, over thousands of random argument objects, that each decoder accepts exactly
//! what its schema accepts (the schema alone explains a refusal to the client).

use mcp::Integer;
use serde::Deserialize;

/// `gpio_write`'s input schema.
pub const WRITE_SCHEMA: &str = r#"{"type": "object", "properties": {"pin": {"type": "integer", "minimum": 0, "maximum": 27, "description": "BCM GPIO number on the 40-pin header (0-27; see board://header)"}, "value": {"type": "boolean", "description": "true = high, false = low"}}, "required": ["pin", "value"], "additionalProperties": false}"#;

/// `gpio_read`'s input schema.
pub const READ_SCHEMA: &str = r#"{"type": "object", "properties": {"pin": {"type": "integer", "minimum": 0, "maximum": 27, "description": "BCM GPIO number on the 40-pin header (0-27; see board://header)"}}, "required": ["pin"], "additionalProperties": false}"#;

/// Highest GPIO the header brings out.
pub const MAX_PIN: u32 = 27;

/// A pin and the level to drive it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinLevel {
    /// BCM GPIO number, 0-27.
    pub pin: u32,
    /// `true` = high.
    pub value: bool,
}

fn header_pin(pin: Integer) -> Option<u32> {
    u32::try_from(pin.0).ok().filter(|pin| *pin <= MAX_PIN)
}

/// Decodes `gpio_write`'s arguments (the JSON text of an object).
pub fn decode_write(arguments: &str) -> Option<PinLevel> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        pin: Integer,
        value: bool,
    }
    let args: Args = mcp::tool::decode_object(arguments)?;
    Some(PinLevel { pin: header_pin(args.pin)?, value: args.value })
}

/// Decodes `gpio_read`'s arguments.
pub fn decode_read(arguments: &str) -> Option<u32> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        pin: Integer,
    }
    let args: Args = mcp::tool::decode_object(arguments)?;
    header_pin(args.pin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{format, string::String, vec::Vec};
    use mcp::{schema, Value};
    use testkit::Rng;

    fn member(rng: &mut Rng, key: &str) -> String {
        if key == "value" && rng.below(2) == 0 {
            return String::from(["true", "false"][rng.below(2)]);
        }
        if key == "pin" && rng.below(2) == 0 {
            return format!("{}", rng.below(30));
        }
        let values = [
            "0",
            "27",
            "28",
            "-1",
            "17",
            "17.0",
            "1.7e1",
            "3.5",
            "1e40",
            "\"17\"",
            "null",
            "true",
            "false",
            "[]",
            "{}",
            "4294967313",
        ];
        String::from(values[rng.below(values.len())])
    }

    fn random_object(rng: &mut Rng) -> String {
        let mut members = Vec::new();
        for key in ["pin", "value", "extra"] {
            let keep = match key {
                "extra" => rng.below(6) == 0,
                _ => rng.below(5) > 0,
            };
            if keep {
                members.push(format!("\"{key}\": {}", member(rng, key)));
            }
        }
        if rng.below(30) == 0 {
            return String::from("[1]");
        }
        format!("{{{}}}", members.join(", "))
    }

    fn agree(schema_text: &str, decodes: fn(&str) -> bool, seed: u64) {
        let schema: Value = mcp::parse_json(schema_text.as_bytes()).unwrap();
        let mut rng = Rng::new(seed);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..5000 {
            let text = random_object(&mut rng);
            let value: Value = mcp::parse_json(text.as_bytes()).unwrap();
            let by_schema = schema::validate(&schema, &value).is_ok();
            assert_eq!(by_schema, decodes(&text), "the schema and the decoder disagree on {text}");
            if by_schema {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        // Both sides of the boundary were exercised.
        assert!(accepted > 100 && refused > 100, "{accepted} accepted, {refused} refused");
    }

    #[test]
    fn write_decoding_matches_its_schema() {
        agree(WRITE_SCHEMA, |text| decode_write(text).is_some(), 0x6e10);
        assert_eq!(decode_write(r#"{"pin": 17, "value": true}"#), Some(PinLevel { pin: 17, value: true }));
        assert_eq!(decode_write(r#"{"value": false, "pin": 1.7e1}"#), Some(PinLevel { pin: 17, value: false }));
    }

    #[test]
    fn read_decoding_matches_its_schema() {
        agree(READ_SCHEMA, |text| decode_read(text).is_some(), 0x6e11);
        assert_eq!(decode_read(r#"{"pin": 27}"#), Some(27));
    }
}
