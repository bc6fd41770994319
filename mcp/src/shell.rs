//! The pure parts of the kernel's console client: turning `tool key=value ...` into JSON
//! arguments using the tool's schema, help text generated from schemas, and completion.

use crate::{schema::type_name, tool::Tool};
use alloc::{
    format,
    string::{String, ToString},
    vec::Vec,
};
use serde_json::{Map, Value};

/// Splits a command line into words; double or single quotes group words and a backslash
/// escapes the next character. Returns an error for an unterminated quote.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                    in_word = true;
                }
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".to_string());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn property_schema<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    schema.get("properties").and_then(|p| p.get(name))
}

/// Converts one `key=value` text into JSON by the property's declared type.
fn convert(schema: Option<&Value>, key: &str, text: &str) -> Result<Value, String> {
    let wanted = schema.map(type_name).unwrap_or_else(|| "string".to_string());
    let parse_json =
        || serde_json::from_str::<Value>(text).map_err(|_| format!("'{key}': expected {wanted}, got '{text}'"));
    match wanted.as_str() {
        // Hex for integers (`address=0x48`): how I2C addresses and registers are written.
        "integer" if text.starts_with("0x") || text.starts_with("0X") => u64::from_str_radix(&text[2..], 16)
            .map(Value::from)
            .map_err(|_| format!("'{key}': expected {wanted}, got '{text}'")),
        "integer" | "number" => parse_json(),
        "boolean" => match text {
            "true" | "yes" | "on" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "off" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("'{key}': expected true or false, got '{text}'")),
        },
        "object" | "array" => parse_json(),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// Parses the argument part of a shell call: either one JSON object (`{...}`) or
/// `key=value` words converted by the tool's input schema.
pub fn parse_arguments(tool: &Tool, rest: &str) -> Result<Value, String> {
    let rest = rest.trim();
    if rest.starts_with('{') {
        return serde_json::from_str::<Value>(rest).map_err(|e| format!("invalid JSON arguments: {e}"));
    }
    let mut arguments = Map::new();
    for word in split_words(rest)? {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!("expected key=value, got '{word}' (try 'help {}')", tool.name()));
        };
        let converted = convert(property_schema(tool.schema(), key), key, value)?;
        arguments.insert(key.to_string(), converted);
    }
    Ok(Value::Object(arguments))
}

/// Help for one tool, generated from its declaration.
pub fn tool_help(tool: &Tool) -> String {
    let hints = tool.hints();
    let mut text = format!("{} — {}\n  {}\n", tool.name(), tool.title_text(), tool.description_text());
    let kind = if hints.read_only {
        "read-only"
    } else if hints.destructive {
        "destructive (asks for confirmation)"
    } else {
        "changes state"
    };
    text.push_str(&format!("  {kind}\n"));
    let required: Vec<&str> = tool
        .schema()
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(properties) = tool.schema().get("properties").and_then(Value::as_object) {
        if properties.is_empty() {
            text.push_str("  no arguments\n");
        }
        for (name, schema) in properties {
            let mut line = format!("  {name}=<{}>", type_name(schema));
            if required.contains(&name.as_str()) {
                line.push_str(" (required)");
            }
            if let Some(description) = schema.get("description").and_then(Value::as_str) {
                line.push_str(&format!("  {description}"));
            }
            let mut limits = Vec::new();
            for (key, label) in
                [("minimum", "min"), ("maximum", "max"), ("maxLength", "max length"), ("default", "default")]
            {
                if let Some(value) = schema.get(key) {
                    limits.push(format!("{label} {value}"));
                }
            }
            if let Some(options) = schema.get("enum").and_then(Value::as_array) {
                let options: Vec<String> = options.iter().map(|o| o.to_string()).collect();
                limits.push(format!("one of {}", options.join(", ")));
            }
            if !limits.is_empty() {
                line.push_str(&format!(" [{}]", limits.join("; ")));
            }
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

/// Completions for the word being typed at the end of `line`, given tool names, builtin
/// commands and (after a tool name) its argument names as `name=`.
pub fn complete(tools: &[Tool], builtins: &[&str], line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let typing_new_word = line.is_empty() || line.ends_with(' ');
    let (done, partial) = if typing_new_word {
        (&words[..], "")
    } else {
        (&words[..words.len().saturating_sub(1)], words.last().copied().unwrap_or(""))
    };
    let mut candidates: Vec<String> = match done.first() {
        None => tools
            .iter()
            .map(|t| t.name().to_string())
            .chain(builtins.iter().map(|b| b.to_string()))
            .filter(|name| name.starts_with(partial))
            .collect(),
        Some(&("help" | "h")) if done.len() == 1 => {
            tools.iter().map(|t| t.name().to_string()).filter(|n| n.starts_with(partial)).collect()
        }
        Some(name) => match tools.iter().find(|t| t.name() == *name) {
            Some(tool) => tool
                .schema()
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| {
                    p.keys()
                        .filter(|k| !done.iter().any(|w| w.starts_with(&format!("{k}="))))
                        .map(|k| format!("{k}="))
                        .filter(|k| k.starts_with(partial))
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        },
    };
    candidates.sort();
    candidates.dedup();
    candidates
}

/// The longest common prefix of the candidates.
pub fn common_prefix(candidates: &[String]) -> String {
    let Some(first) = candidates.first() else { return String::new() };
    let mut end = first.len();
    for other in &candidates[1..] {
        end = first.bytes().zip(other.bytes()).take(end).take_while(|(a, b)| a == b).count();
    }
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    first[..end].to_string()
}

/// Renders a structured result for people: objects as aligned `key: value` lines, arrays
/// of objects as tables, scalars as text.
pub fn render(value: &Value) -> String {
    let mut out = String::new();
    render_into(&mut out, value, 0);
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

fn render_into(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            let width = map.keys().map(|k| k.len()).max().unwrap_or(0);
            for (key, value) in map {
                match value {
                    Value::Object(_) => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        render_into(out, value, indent + 2);
                    }
                    Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        render_into(out, value, indent + 2);
                    }
                    Value::Array(items) => {
                        let list: Vec<String> = items.iter().map(scalar).collect();
                        out.push_str(&format!("{pad}{key:<width$}  {}\n", list.join(", ")));
                    }
                    other => {
                        let text = scalar(other);
                        if text.contains('\n') {
                            out.push_str(&format!("{pad}{key}:\n{text}"));
                            if !text.ends_with('\n') {
                                out.push('\n');
                            }
                        } else {
                            out.push_str(&format!("{pad}{key:<width$}  {text}\n"));
                        }
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => table(out, items, &pad),
        Value::Array(items) => {
            for item in items {
                render_into(out, item, indent);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn table(out: &mut String, rows: &[Value], pad: &str) {
    let mut columns: Vec<&str> = Vec::new();
    for row in rows {
        for key in row.as_object().into_iter().flat_map(|m| m.keys()) {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    let cells: Vec<Vec<String>> =
        rows.iter().map(|row| columns.iter().map(|c| row.get(*c).map(scalar).unwrap_or_default()).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| cells.iter().map(|r| r[i].chars().count()).chain([c.len()]).max().unwrap_or(0))
        .collect();
    let line = |values: Vec<&str>| {
        let mut text = String::from(pad);
        for (i, v) in values.iter().enumerate() {
            text.push_str(v);
            if i + 1 < values.len() {
                text.push_str(&" ".repeat(widths[i] - v.chars().count() + 2));
            }
        }
        text.push('\n');
        text
    };
    out.push_str(&line(columns.clone()));
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::ToolOutput;
    use serde_json::json;

    fn tool() -> Tool {
        Tool::new("log_read", |_, _| Ok(ToolOutput::new(json!({}))))
            .title("Read the log")
            .description("Recent kernel log lines.")
            .input_schema(json!({
                "type": "object",
                "properties": {
                    "lines": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "how many"},
                    "level": {"type": "string", "enum": ["info", "warn"]},
                    "follow": {"type": "boolean"}
                },
                "additionalProperties": false
            }))
    }

    #[test]
    fn words_and_quotes() {
        assert_eq!(split_words(r#"a b="c d" 'e f' g\ h"#).unwrap(), ["a", "b=c d", "e f", "g h"]);
        assert!(split_words("a \"b").is_err());
    }

    #[test]
    fn key_values_follow_the_schema() {
        let t = tool();
        assert_eq!(
            parse_arguments(&t, "lines=20 level=info follow=yes").unwrap(),
            json!({"lines": 20, "level": "info", "follow": true})
        );
        assert_eq!(parse_arguments(&t, r#"{"lines": 3}"#).unwrap(), json!({"lines": 3}));
        assert_eq!(parse_arguments(&t, "lines=0x48").unwrap(), json!({"lines": 72}));
        assert!(parse_arguments(&t, "lines=0xzz").unwrap_err().contains("expected integer"));
        assert!(parse_arguments(&t, "lines=many").unwrap_err().contains("'lines'"));
        assert!(parse_arguments(&t, "lines").unwrap_err().contains("key=value"));
    }

    #[test]
    fn completion_of_tools_and_arguments() {
        let tools = [tool()];
        assert_eq!(complete(&tools, &["help"], "lo"), ["log_read"]);
        assert_eq!(complete(&tools, &["help"], "log_read l"), ["level=", "lines="]);
        assert_eq!(complete(&tools, &["help"], "log_read lines=3 l"), ["level="]);
        assert_eq!(complete(&tools, &["help"], "help l"), ["log_read"]);
        assert_eq!(common_prefix(&["level=".into(), "lines=".into()]), "l");
    }

    #[test]
    fn help_is_generated_from_the_schema() {
        let help = tool_help(&tool());
        assert!(help.contains("lines=<integer>  how many [min 1; max 1000]"), "{help}");
        assert!(help.contains("read-only"), "{help}");
    }

    #[test]
    fn rendering_for_people() {
        let text = render(
            &json!({"board": "raspi3b", "cores": 4, "stages": [{"stage": "mmu", "us": 10}, {"stage": "heap", "us": 200}]}),
        );
        assert!(text.contains("board   raspi3b"), "{text}");
        assert!(text.contains("  stage  us"), "{text}");
        assert!(text.contains("  heap   200"), "{text}");
    }
}
