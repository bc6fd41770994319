//! A tool's manifest: what it is called, what it takes and returns, how it behaves, the
//! capabilities it asks for and the budget it runs in. Parsed strictly (an unknown field
//! is an error, so a misspelt capability is not silently dropped) and checked whole before
//! anything is compiled.

use crate::{Error, LIMITS};
use alloc::{
    format,
    string::{String, ToString},
    vec::Vec,
};
use serde::Deserialize;
use serde_json::Value;

/// The manifest as written by a tool's author (JSON, MCP's own field names where MCP has
/// one: `inputSchema`, `outputSchema`, the annotation hints).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Manifest {
    /// The MCP tool name (`^[a-zA-Z0-9_-]{1,64}$`), unique on the machine.
    pub name: String,
    /// Display name.
    #[serde(default)]
    pub title: String,
    /// What the tool does, for people and models.
    pub description: String,
    /// The author's version string.
    #[serde(default)]
    pub version: String,
    /// JSON Schema of the arguments (`"type": "object"`); absent: no arguments.
    #[serde(default = "no_arguments")]
    pub input_schema: Value,
    /// JSON Schema of the result; the sandbox checks what the module returns against it.
    #[serde(default)]
    pub output_schema: Option<Value>,
    /// MCP behaviour hints.
    #[serde(default)]
    pub annotations: Hints,
    /// Host functions the module may import; anything not declared is absent.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// The budget of one call (each within the kernel's maxima, [`crate::LIMITS`]).
    #[serde(default)]
    pub limits: Requested,
    /// Plain-language phrasings that mean "call this tool" (for `ask`).
    #[serde(default)]
    pub examples: Vec<String>,
}

/// MCP's tool annotations. A tool that says nothing is taken to change the machine
/// (`readOnlyHint: false`), as MCP's defaults say, but not to destroy anything.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Hints {
    /// Changes nothing: callable with the read role, may not import anything that writes.
    #[serde(default)]
    pub read_only_hint: bool,
    /// May destroy or disrupt: every call asks the user first.
    #[serde(default)]
    pub destructive_hint: bool,
    /// Calling twice has no further effect.
    #[serde(default)]
    pub idempotent_hint: bool,
    /// Talks to the world outside the machine.
    #[serde(default)]
    pub open_world_hint: bool,
}

/// What the module may reach. Each entry grants a group of host functions (see
/// [`crate::abi::IMPORTS`]), and for pins, addresses, paths and tools only those listed.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Write lines to the kernel log.
    #[serde(default)]
    pub log: bool,
    /// Read the clock and sleep (within the call's deadline).
    #[serde(default)]
    pub time: bool,
    /// These GPIO pins (BCM numbers), through the kernel's pin-ownership table.
    #[serde(default)]
    pub gpio: Vec<u8>,
    /// These 7-bit I2C addresses on the user bus.
    #[serde(default)]
    pub i2c: Vec<u8>,
    /// Full-duplex transfers on the user SPI bus.
    #[serde(default)]
    pub spi: bool,
    /// Read-only reads of files under these card paths (prefixes such as `/data`).
    #[serde(default)]
    pub files: Vec<String>,
    /// Calls of these read-only built-in tools.
    #[serde(default)]
    pub tools: Vec<String>,
}

/// A budget the manifest asks for; `None` takes the default.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Requested {
    /// Instructions (wasmi fuel units) per call.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Linear memory cap in KiB.
    #[serde(default)]
    pub memory_kib: Option<u32>,
    /// Wall-clock deadline per call in milliseconds.
    #[serde(default)]
    pub deadline_ms: Option<u32>,
}

/// The budget one call runs in, after defaults and maxima.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Fuel per call.
    pub fuel: u64,
    /// Linear memory cap in bytes.
    pub memory_bytes: usize,
    /// Deadline per call in microseconds.
    pub deadline_us: u64,
}

fn no_arguments() -> Value {
    serde_json::json!({"type": "object", "properties": {}, "additionalProperties": false})
}

fn refuse(why: impl Into<String>) -> Error {
    Error::Manifest(why.into())
}

impl Manifest {
    /// Parses and checks a manifest's JSON text.
    pub fn parse(text: &str) -> Result<Manifest, Error> {
        if text.len() > LIMITS.manifest_bytes {
            return Err(refuse(format!("the manifest is over {} KiB", LIMITS.manifest_bytes / 1024)));
        }
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| refuse(format!("not a manifest: {e}")))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// The budget of one call.
    pub fn budget(&self) -> Budget {
        Budget {
            fuel: self.limits.fuel.unwrap_or(LIMITS.default_fuel),
            memory_bytes: self.limits.memory_kib.unwrap_or(LIMITS.default_memory_kib) as usize * 1024,
            deadline_us: u64::from(self.limits.deadline_ms.unwrap_or(LIMITS.default_deadline_ms)) * 1000,
        }
    }

    /// The MCP annotations.
    pub fn annotations(&self) -> mcp::Annotations {
        mcp::Annotations {
            read_only: self.annotations.read_only_hint,
            destructive: self.annotations.destructive_hint,
            idempotent: self.annotations.idempotent_hint,
            open_world: self.annotations.open_world_hint,
        }
    }

    fn check(&self) -> Result<(), Error> {
        if !mcp::tool::valid_name(&self.name) {
            return Err(refuse(format!("'{}' is not a tool name (1-64 of a-z A-Z 0-9 _ -)", self.name)));
        }
        text_field("title", &self.title, 128, false)?;
        text_field("description", &self.description, 2048, true)?;
        text_field("version", &self.version, 64, false)?;
        object_schema("inputSchema", &self.input_schema)?;
        if let Some(schema) = &self.output_schema {
            object_schema("outputSchema", schema)?;
        }
        if self.annotations.read_only_hint && self.annotations.destructive_hint {
            return Err(refuse("a tool cannot be both readOnlyHint and destructiveHint"));
        }
        self.check_capabilities()?;
        self.check_limits()?;
        if self.examples.len() > 16 {
            return Err(refuse("at most 16 examples"));
        }
        for example in &self.examples {
            text_field("an example", example, 200, true)?;
        }
        Ok(())
    }

    fn check_capabilities(&self) -> Result<(), Error> {
        let c = &self.capabilities;
        if c.gpio.len() > 16 || c.i2c.len() > 16 || c.files.len() > 8 || c.tools.len() > 16 {
            return Err(refuse("at most 16 pins, 16 I2C addresses, 8 paths and 16 tools"));
        }
        if let Some(pin) = c.gpio.iter().find(|p| **p > 53) {
            return Err(refuse(format!("GPIO {pin} does not exist (BCM 0-53)")));
        }
        if let Some(address) = c.i2c.iter().find(|a| !(0x03..=0x77).contains(*a)) {
            return Err(refuse(format!("I2C address {address:#04x} is reserved (7-bit 0x03-0x77)")));
        }
        if duplicated(&c.gpio) || duplicated(&c.i2c) || duplicated(&c.files) || duplicated(&c.tools) {
            return Err(refuse("a capability lists the same pin, address, path or tool twice"));
        }
        for path in &c.files {
            let clean = path.starts_with('/')
                && path.len() <= 64
                && !path.split('/').any(|part| part == ".." || part == ".")
                && path.bytes().all(|b| b.is_ascii_graphic());
            if !clean {
                return Err(refuse(format!("'{path}' is not an absolute card path without . or ..")));
            }
        }
        if let Some(tool) = c.tools.iter().find(|t| !mcp::tool::valid_name(t)) {
            return Err(refuse(format!("'{tool}' is not a tool name")));
        }
        if c.tools.contains(&self.name) {
            return Err(refuse("a tool cannot call itself"));
        }
        Ok(())
    }

    fn check_limits(&self) -> Result<(), Error> {
        let l = &self.limits;
        let within = |value: Option<u64>, min: u64, max: u64| value.is_none_or(|v| (min..=max).contains(&v));
        if !within(l.fuel, 1, LIMITS.max_fuel) {
            return Err(refuse(format!("limits.fuel must be 1-{}", LIMITS.max_fuel)));
        }
        if !within(l.memory_kib.map(u64::from), 64, u64::from(LIMITS.max_memory_kib)) {
            return Err(refuse(format!("limits.memoryKib must be 64-{} (whole 64 KiB pages)", LIMITS.max_memory_kib)));
        }
        if l.memory_kib.is_some_and(|kib| kib % 64 != 0) {
            return Err(refuse("limits.memoryKib must be a multiple of 64 (WebAssembly pages)"));
        }
        if !within(l.deadline_ms.map(u64::from), 1, u64::from(LIMITS.max_deadline_ms)) {
            return Err(refuse(format!("limits.deadlineMs must be 1-{}", LIMITS.max_deadline_ms)));
        }
        Ok(())
    }
}

fn duplicated<T: PartialEq>(items: &[T]) -> bool {
    items.iter().enumerate().any(|(i, a)| items[..i].contains(a))
}

fn text_field(what: &str, text: &str, max: usize, required: bool) -> Result<(), Error> {
    if required && text.trim().is_empty() {
        return Err(refuse(format!("{what} is empty")));
    }
    if text.chars().count() > max {
        return Err(refuse(format!("{what} is over {max} characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(refuse(format!("{what} holds control characters")));
    }
    Ok(())
}

fn object_schema(what: &str, schema: &Value) -> Result<(), Error> {
    let Some(object) = schema.as_object() else { return Err(refuse(format!("{what} must be a JSON object"))) };
    if object.get("type").and_then(Value::as_str) != Some("object") {
        return Err(refuse(format!("{what} must say \"type\": \"object\"")));
    }
    let text = schema.to_string();
    if text.len() > LIMITS.schema_bytes {
        return Err(refuse(format!("{what} is over {} KiB", LIMITS.schema_bytes / 1024)));
    }
    if mcp::frame::nesting_depth(text.as_bytes(), 16) > 16 {
        return Err(refuse(format!("{what} nests deeper than 16 levels")));
    }
    Ok(())
}
