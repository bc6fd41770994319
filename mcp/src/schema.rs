//! A JSON Schema subset, enough for tool inputs and outputs: `type` (one or a list),
//! `properties`, `required`, `additionalProperties: false`, `enum`, `const`, `minimum`,
//! `maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`, `items`. Unknown keywords
//! are ignored, as JSON Schema requires. Iterative depth is bounded by the value, which
//! [`crate::frame`] already limited.

use alloc::{
    format,
    string::{String, ToString},
};
use core::sync::atomic::{AtomicUsize, Ordering};
use serde_json::Value;

/// Checks `value` against `schema`. The error names the offending field (`'count'`,
/// `'items[2].name'`) and says what was expected.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    WALKS.fetch_add(1, Ordering::Relaxed);
    check(schema, value, "", &mut false)
}

/// Checks `value` against `schema` like [`validate`] and, when the schema declares an
/// `integer` that arrived with a fraction part of zero (`2.0`, `3e0`, which JSON Schema counts
/// as integers), returns a copy with those numbers as JSON integers, so that a handler reading
/// `as_u64()` sees what the schema accepted. `Ok(None)`: the value is usable as it is (the
/// usual case; nothing is copied).
pub fn validate_normalized(schema: &Value, value: &Value) -> Result<Option<Value>, String> {
    WALKS.fetch_add(1, Ordering::Relaxed);
    let mut fractional = false;
    check(schema, value, "", &mut fractional)?;
    if !fractional {
        return Ok(None);
    }
    let mut copy = value.clone();
    integers(schema, &mut copy);
    Ok(Some(copy))
}

/// Rewrites the integral floats that `schema` declares `integer` as JSON integers (the
/// value was validated first, so the walk follows the same keywords).
fn integers(schema: &Value, value: &mut Value) {
    let Some(schema) = schema.as_object() else { return };
    let declares_integer = match schema.get("type") {
        Some(Value::String(name)) => name == "integer",
        Some(Value::Array(names)) => names.iter().any(|n| n == "integer") && !names.iter().any(|n| n == "number"),
        _ => false,
    };
    if declares_integer && value.as_i64().is_none() && value.as_u64().is_none() {
        if let Some(float) = value.as_f64().filter(|f| f % 1.0 == 0.0) {
            *value = if float < 0.0 { Value::from(float as i64) } else { Value::from(float as u64) };
        }
        return;
    }
    match value {
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                items.iter_mut().for_each(|item| integers(item_schema, item));
            }
        }
        Value::Object(object) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, field) in object.iter_mut() {
                match properties.and_then(|p| p.get(name)) {
                    Some(field_schema) => integers(field_schema, field),
                    None => {
                        if let Some(extra @ Value::Object(_)) = schema.get("additionalProperties") {
                            integers(extra, field);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

static WALKS: AtomicUsize = AtomicUsize::new(0);

/// How many times [`validate`] has walked a schema since start: the typed call path's tests
/// check that it does not.
pub fn walks() -> usize {
    WALKS.load(Ordering::Relaxed)
}

fn describe(path: &str) -> String {
    if path.is_empty() {
        "the arguments".to_string()
    } else {
        format!("'{path}'")
    }
}

fn type_matches(name: &str, value: &Value, fractional: &mut bool) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            if value.as_i64().is_some() || value.as_u64().is_some() {
                return true;
            }
            let integral = value.as_f64().is_some_and(|f| f % 1.0 == 0.0 && (-9.2e18..1.8e19).contains(&f));
            *fractional |= integral;
            integral
        }
        _ => true,
    }
}

/// The `type` keyword as text (for messages and the shell).
pub fn type_name(schema: &Value) -> String {
    match schema.get("type") {
        Some(Value::String(name)) => name.clone(),
        Some(Value::Array(names)) => {
            names.iter().filter_map(Value::as_str).collect::<alloc::vec::Vec<_>>().join(" or ")
        }
        _ => "any".to_string(),
    }
}

fn article(name: &str) -> &'static str {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn check(schema: &Value, value: &Value, path: &str, fractional: &mut bool) -> Result<(), String> {
    let Some(schema) = schema.as_object() else { return Ok(()) };
    let what = describe(path);
    match schema.get("type") {
        Some(Value::String(name)) if !type_matches(name, value, fractional) => {
            return Err(format!("{what} must be {} {name}", article(name)));
        }
        Some(Value::Array(names))
            if !names.iter().filter_map(Value::as_str).any(|n| type_matches(n, value, fractional)) =>
        {
            return Err(format!("{what} must be {}", type_name(&Value::Object(schema.clone()))));
        }
        _ => {}
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            let list: alloc::vec::Vec<String> = options.iter().map(|o| o.to_string()).collect();
            return Err(format!("{what} must be one of {}", list.join(", ")));
        }
    }
    if let Some(expected) = schema.get("const") {
        if expected != value {
            return Err(format!("{what} must be {expected}"));
        }
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if number < min {
                return Err(format!("{what} must be ≥ {}", schema["minimum"]));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if number > max {
                return Err(format!("{what} must be ≤ {}", schema["maximum"]));
            }
        }
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if chars < min {
                return Err(format!("{what} must be at least {min} characters long"));
            }
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if chars > max {
                return Err(format!("{what} must be at most {max} characters long"));
            }
        }
    }
    if let Some(items) = value.as_array() {
        let len = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if len < min {
                return Err(format!("{what} must have at least {min} items"));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if len > max {
                return Err(format!("{what} must have at most {max} items"));
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (index, item) in items.iter().enumerate() {
                check(item_schema, item, &format!("{path}[{index}]"), fractional)?;
            }
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    return Err(format!("{} is required", describe(&join(path, name))));
                }
            }
        }
        // `anyOf` alternatives (e.g. `[{"required":["prompt"]},{"required":["messages"]}]`):
        // one must hold; the error names each one's failure.
        if let Some(Value::Array(options)) = schema.get("anyOf") {
            let failures: alloc::vec::Vec<String> =
                options.iter().filter_map(|o| check(o, value, path, &mut false).err()).collect();
            if !options.is_empty() && failures.len() == options.len() {
                return Err(failures.join(", or "));
            }
        }
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => check(field_schema, field, &join(path, name), fractional)?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{} is not an accepted argument", describe(&join(path, name))));
                    }
                    Some(extra @ Value::Object(_)) => check(extra, field, &join(path, name), fractional)?,
                    _ => {}
                },
            }
        }
    }
    Ok(())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "count": {"type": "integer", "minimum": 1, "maximum": 4096},
                "mode": {"enum": ["text", "base64"]},
                "name": {"type": "string", "minLength": 1, "maxLength": 4},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "nested": {"type": "object", "properties": {"on": {"type": "boolean"}}, "required": ["on"]}
            },
            "required": ["count"],
            "additionalProperties": false
        })
    }

    #[test]
    fn accepts_valid_arguments() {
        assert_eq!(
            validate(&schema(), &json!({"count": 3, "mode": "text", "tags": ["a"], "nested": {"on": true}})),
            Ok(())
        );
        assert_eq!(validate(&schema(), &json!({"count": 3.0})), Ok(()));
    }

    #[test]
    fn names_the_bad_field() {
        let s = schema();
        assert_eq!(validate(&s, &json!({})).unwrap_err(), "'count' is required");
        assert_eq!(validate(&s, &json!({"count": "3"})).unwrap_err(), "'count' must be an integer");
        assert_eq!(validate(&s, &json!({"count": 5000})).unwrap_err(), "'count' must be ≤ 4096");
        assert_eq!(validate(&s, &json!({"count": 0})).unwrap_err(), "'count' must be ≥ 1");
        assert_eq!(validate(&s, &json!({"count": 1.5})).unwrap_err(), "'count' must be an integer");
        assert_eq!(
            validate(&s, &json!({"count": 1, "mode": "hex"})).unwrap_err(),
            "'mode' must be one of \"text\", \"base64\""
        );
        assert_eq!(
            validate(&s, &json!({"count": 1, "name": "toolong"})).unwrap_err(),
            "'name' must be at most 4 characters long"
        );
        assert_eq!(validate(&s, &json!({"count": 1, "tags": ["a", 1]})).unwrap_err(), "'tags[1]' must be a string");
        assert_eq!(
            validate(&s, &json!({"count": 1, "tags": ["a", "b", "c"]})).unwrap_err(),
            "'tags' must have at most 2 items"
        );
        assert_eq!(validate(&s, &json!({"count": 1, "nested": {}})).unwrap_err(), "'nested.on' is required");
        assert_eq!(validate(&s, &json!({"count": 1, "bogus": 1})).unwrap_err(), "'bogus' is not an accepted argument");
        assert_eq!(validate(&s, &json!([1])).unwrap_err(), "the arguments must be an object");
    }

    #[test]
    fn integral_floats_reach_handlers_as_integers() {
        let s = json!({"type": "object", "properties": {
            "count": {"type": "integer"}, "ratio": {"type": "number"},
            "pins": {"type": "array", "items": {"type": "integer"}}}});
        assert_eq!(validate_normalized(&s, &json!({"count": 3, "ratio": 2.0})), Ok(None));
        let normalized = validate_normalized(&s, &json!({"count": 3.0, "ratio": 2.0, "pins": [1, 2e0, -4.0]}));
        let normalized = normalized.unwrap().unwrap();
        assert_eq!(normalized["count"].as_u64(), Some(3));
        assert_eq!(normalized["pins"][1].as_u64(), Some(2));
        assert_eq!(normalized["pins"][2].as_i64(), Some(-4));
        // A `number` stays as it came.
        assert!(normalized["ratio"].is_f64());
        assert!(validate_normalized(&s, &json!({"count": 3.5})).is_err());
    }

    #[test]
    fn one_of_the_alternatives_must_hold() {
        let schema = json!({"type": "object", "properties": {"prompt": {"type": "string"}, "messages": {"type": "array"}},
            "anyOf": [{"required": ["prompt"]}, {"required": ["messages"]}]});
        assert!(validate(&schema, &json!({"prompt": "hi"})).is_ok());
        assert!(validate(&schema, &json!({"messages": []})).is_ok());
        let error = validate(&schema, &json!({})).unwrap_err();
        assert!(error.contains("prompt") && error.contains("messages"), "{error}");
    }
}
