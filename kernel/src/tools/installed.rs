//! Tools installed at run time: `tool_install`, `tool_remove`, `tool_list_installed`, and
//! the installed WebAssembly tools themselves ([`wasmhost`]).
//!
//! A module and its manifest arrive over MCP (control role; destructive, so the user is
//! asked), are checked and compiled, kept on the card as one bundle file (`/TOOLnn.KTL`)
//! and added to the shared registry: every session hears
//! `notifications/tools/list_changed` and `tools/list` shows the tool at once. At boot the
//! bundles on the card come back; a damaged one is skipped with a log line.
//!
//! The sandbox's host functions reach the machine through the built-in tools (so the pin
//! ownership table, the I2C and SPI checks apply as for any client) and the card's reader.

use super::declare;
use crate::{arch::cpu, storage};
use alloc::{
    format,
    string::{String, ToString},
    sync::Arc,
    vec::Vec,
};
use mcp::{json, Annotations, Declaration, Map, Registry, Server, Tool, ToolError, ToolOutput, Value};
use wasmhost::{bundle, Manifest, Sandbox, LIMITS};

/// The engine every installed tool is compiled by.
static SANDBOX: spin::Once<Sandbox> = spin::Once::new();

/// What is installed, and in which card file.
static INSTALLED: spin::Mutex<Vec<Entry>> = spin::Mutex::new(Vec::new());

struct Entry {
    slot: Option<u8>,
    tool: Arc<wasmhost::Tool>,
    module_bytes: usize,
    installed_us: u64,
    calls: Arc<core::sync::atomic::AtomicU64>,
}

fn sandbox() -> &'static Sandbox {
    SANDBOX.call_once(Sandbox::new)
}

fn registry() -> Result<&'static Arc<Registry>, ToolError> {
    crate::intent::registry().ok_or_else(|| ToolError::from("the MCP registry is not up yet"))
}

fn slot_path(slot: u8) -> String {
    format!("/TOOL{slot:02}.KTL")
}

impl Entry {
    fn name(&self) -> &str {
        &self.tool.manifest().name
    }
}

/// Why an installed tool may not call built-in tool `name`, if it may not: only read-only
/// built-in tools a network client could reach are callable.
fn not_callable(registry: &Registry, name: &str) -> Option<String> {
    match registry.tool(name) {
        Some(mcp::Found::BuiltIn(tool)) if tool.hints().read_only && !tool.is_local_only() => None,
        Some(_) => Some(format!("{name} is not a read-only built-in tool (only those may be called)")),
        None => Some(format!("unknown tool '{name}'")),
    }
}

/// The kernel behind the sandbox's host functions.
struct KernelHost {
    registry: Arc<Registry>,
}

impl KernelHost {
    /// Calls a built-in tool as the kernel (control role, local).
    fn builtin(&self, name: &str, arguments: Value) -> Result<Value, String> {
        let session = Server::over(Arc::clone(&self.registry));
        match session.tool(name) {
            Some(mcp::Found::BuiltIn(_)) => {}
            _ => return Err(format!("unknown tool '{name}'")),
        }
        session.call_tool(name, &arguments).map(|output| output.structured).map_err(|e| failed(&format!("{name}: {e}")))
    }
}

/// A host function's failure: the module sees only a status, so the reason goes to the
/// kernel log (as the SDK's `Status::Failed` says).
fn failed(why: &str) -> String {
    ::log::warn!("installed tool: {why}");
    why.into()
}

fn bytes_of(value: &Value) -> Vec<u8> {
    value.as_array().map(|a| a.iter().filter_map(Value::as_u64).map(|b| b as u8).collect()).unwrap_or_default()
}

impl wasmhost::Host for KernelHost {
    fn now_us(&self) -> u64 {
        cpu::micros()
    }

    fn log(&mut self, tool: &str, message: &str) {
        ::log::info!("tool {tool}: {message}");
    }

    fn sleep_us(&mut self, us: u64) {
        cpu::spin_for_micros(us);
    }

    fn gpio_write(&mut self, pin: u8, high: bool) -> Result<(), String> {
        self.builtin("gpio_write", json!({"pin": pin, "value": high})).map(|_| ())
    }

    fn gpio_read(&mut self, pin: u8) -> Result<bool, String> {
        let read = self.builtin("gpio_read", json!({"pin": pin}))?;
        read["value"].as_bool().ok_or_else(|| "gpio_read gave no value".into())
    }

    fn i2c_write_read(&mut self, address: u8, write: &[u8], read: &mut [u8]) -> Result<(), String> {
        if read.is_empty() {
            return self.builtin("i2c_write", json!({"address": address, "data": write})).map(|_| ());
        }
        let answer = if write.is_empty() {
            self.builtin("i2c_read", json!({"address": address, "length": read.len()}))?
        } else {
            self.builtin("i2c_write_read", json!({"address": address, "write": write, "length": read.len()}))?
        };
        let data = bytes_of(&answer["data"]);
        let n = data.len().min(read.len());
        read[..n].copy_from_slice(&data[..n]);
        Ok(())
    }

    fn spi_transfer(&mut self, data: &mut [u8]) -> Result<(), String> {
        let answer = self.builtin("spi_transfer", json!({"data": &*data}))?;
        let received = bytes_of(&answer["received"]);
        let n = received.len().min(data.len());
        data[..n].copy_from_slice(&received[..n]);
        Ok(())
    }

    fn file_read(&mut self, path: &str, offset: u32, buffer: &mut [u8]) -> Result<usize, String> {
        let (bytes, _) = storage::read(path, offset, buffer.len()).map_err(|e| failed(&format!("{path}: {e}")))?;
        let n = bytes.len().min(buffer.len());
        buffer[..n].copy_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn tool_call(&mut self, name: &str, arguments: &str) -> Result<String, String> {
        let arguments: Value = serde_json::from_str(arguments).map_err(|e| format!("arguments are not JSON: {e}"))?;
        if let Some(why) = not_callable(&self.registry, name) {
            return Err(why);
        }
        self.builtin(name, arguments).map(|structured| structured.to_string())
    }
}

/// Checks what the manifest asks of the rest of the machine: the tools it calls must be
/// read-only built-in tools that exist.
fn check_reach(registry: &Registry, manifest: &Manifest) -> Result<(), ToolError> {
    match manifest.capabilities.tools.iter().find_map(|name| not_callable(registry, name)) {
        Some(why) => Err(format!("capability tools: {why}").into()),
        None => Ok(()),
    }
}

/// The MCP tool that runs `compiled`.
fn mcp_tool(compiled: Arc<wasmhost::Tool>, calls: Arc<core::sync::atomic::AtomicU64>) -> Result<Tool, ToolError> {
    let registry = Arc::clone(registry()?);
    let manifest = compiled.manifest().clone();
    let mut description = manifest.description.clone();
    if !manifest.version.is_empty() {
        description.push_str(&format!(" (installed WebAssembly tool, version {})", manifest.version));
    } else {
        description.push_str(" (installed WebAssembly tool)");
    }
    let tool = Tool::new(&manifest.name, move |_, arguments: &Map<String, Value>| {
        calls.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let text = serde_json::to_string(arguments).unwrap_or_else(|_| "{}".into());
        let host = KernelHost { registry: Arc::clone(&registry) };
        let (outcome, _) = compiled.call(host, &text);
        let answer = outcome.map_err(ToolError::from)?;
        Ok(ToolOutput::new(answer.structured))
    })
    .title(if manifest.title.is_empty() { &manifest.name } else { &manifest.title })
    .description(&description)
    .input_schema(manifest.input_schema.clone())
    .annotations(manifest.annotations())
    .examples(manifest.examples.clone())
    .output_schema(manifest.output_schema.unwrap_or_else(|| json!({"type": "object"})));
    Ok(tool)
}

/// Compiles a bundle's parts; nothing is registered yet.
fn compile(manifest_text: &str, module: &[u8]) -> Result<Arc<wasmhost::Tool>, ToolError> {
    let manifest = Manifest::parse(manifest_text)?;
    check_reach(registry()?, &manifest)?;
    Ok(Arc::new(sandbox().compile(manifest, module)?))
}

/// Adds a compiled tool to the shared registry (every session hears of it); its entry.
fn activate(
    compiled: Arc<wasmhost::Tool>,
    slot: Option<u8>,
    module_bytes: usize,
    replace: bool,
) -> Result<Entry, ToolError> {
    let calls = Arc::new(core::sync::atomic::AtomicU64::new(0));
    registry()?.install(mcp_tool(Arc::clone(&compiled), Arc::clone(&calls))?, replace)?;
    Ok(Entry { slot, tool: compiled, module_bytes, installed_us: cpu::micros(), calls })
}

/// A free card slot, or the one `name` already has.
fn slot_for(installed: &[Entry], name: &str) -> Option<u8> {
    if let Some(entry) = installed.iter().find(|e| e.name() == name) {
        if entry.slot.is_some() {
            return entry.slot;
        }
    }
    (0..LIMITS.installed as u8).find(|slot| !installed.iter().any(|e| e.slot == Some(*slot)))
}

fn install(arguments: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let started = cpu::micros();
    let encoded = arguments.get("module").and_then(Value::as_str).ok_or("'module' must be base64 text")?;
    let module = formats::base64::decode(encoded).map_err(|e| format!("'module' is not base64: {e}"))?;
    let manifest_text = match arguments.get("manifest") {
        Some(Value::String(text)) => text.clone(),
        Some(object @ Value::Object(_)) => object.to_string(),
        _ => return Err("'manifest' must be the manifest object (or its JSON text)".into()),
    };
    let replace = arguments.get("replace").and_then(Value::as_bool).unwrap_or(false);
    let compiled = compile(&manifest_text, &module)?;
    let name = compiled.manifest().name.clone();
    let registry = registry()?;
    let mut installed = INSTALLED.lock();
    let existing = installed.iter().position(|e| e.name() == name);
    if existing.is_some() && !replace {
        return Err(format!("{name} is installed already: remove it first, or pass replace: true").into());
    }
    if existing.is_none() && installed.len() >= LIMITS.installed {
        return Err(
            format!("{} tools are installed, the most this kernel keeps: remove one first", LIMITS.installed).into()
        );
    }
    if registry.tools().iter().any(|t| t.name() == name) {
        return Err(format!("{name} is a built-in tool's name").into());
    }
    // On the card first: a tool that says it is installed comes back after a reboot.
    let slot = slot_for(&installed, &name);
    let (persisted, card_note) = match slot {
        Some(slot) => match storage::write(&slot_path(slot), &bundle::encode(&manifest_text, &module), false) {
            Ok(_) => (true, None),
            Err(why) => (false, Some(format!("not kept on the card ({why}): it lasts until the next reboot"))),
        },
        None => (false, Some("no free card slot".to_string())),
    };
    let entry = activate(Arc::clone(&compiled), slot.filter(|_| persisted), module.len(), replace)?;
    match existing {
        Some(at) => installed[at] = entry,
        None => installed.push(entry),
    }
    drop(installed);
    let took = cpu::micros().saturating_sub(started);
    ::log::info!("installed tool {name} ({} bytes, imports {:?})", module.len(), compiled.imports());
    let file = slot.filter(|_| persisted).map(slot_path);
    let mut text = format!("installed {name}: callable now ({took} µs); it may reach {}", compiled.reach());
    if let Some(note) = &card_note {
        text.push_str("; ");
        text.push_str(note);
    }
    Ok(ToolOutput::with_text(
        json!({
            "name": name,
            "imports": compiled.imports(),
            "reach": compiled.reach(),
            "persisted": persisted,
            "file": file,
            "note": card_note,
            "module_bytes": module.len(),
            "install_us": took,
        }),
        text,
    ))
}

fn remove(arguments: &Map<String, Value>) -> Result<ToolOutput, ToolError> {
    let name = arguments.get("name").and_then(Value::as_str).ok_or("'name' is required")?;
    let registry = registry()?;
    let mut installed = INSTALLED.lock();
    let Some(at) = installed.iter().position(|e| e.name() == name) else {
        return Err(match registry.tools().iter().any(|t| t.name() == name) {
            true => format!("{name} is built in: only installed tools can be removed"),
            false => format!("no installed tool is named {name} (tool_list_installed lists them)"),
        }
        .into());
    };
    let entry = installed.remove(at);
    drop(installed);
    registry.uninstall(name)?;
    let mut deleted = false;
    if let Some(slot) = entry.slot {
        match storage::remove(&slot_path(slot)) {
            Ok(()) => deleted = true,
            Err(why) => ::log::warn!("tool {name} removed, but {} stays on the card: {why}", slot_path(slot)),
        }
    }
    Ok(ToolOutput::with_text(
        json!({"name": name, "removed": true, "file_deleted": deleted}),
        format!("removed {name}{}", if deleted { " (and its file on the card)" } else { "" }),
    ))
}

fn list() -> ToolOutput {
    let installed = INSTALLED.lock();
    let now = cpu::micros();
    let rows: Vec<Value> = installed
        .iter()
        .map(|e| {
            let m = e.tool.manifest();
            let budget = e.tool.budget();
            json!({
                "name": e.name(),
                "title": m.title,
                "version": m.version,
                "read_only": m.annotations.read_only_hint,
                "imports": e.tool.imports(),
                "reach": e.tool.reach(),
                "file": e.slot.map(slot_path),
                "module_bytes": e.module_bytes,
                "fuel": budget.fuel,
                "memory_kib": budget.memory_bytes / 1024,
                "deadline_ms": budget.deadline_us / 1000,
                "calls": e.calls.load(core::sync::atomic::Ordering::Relaxed),
                "installed_s_ago": now.saturating_sub(e.installed_us) / 1_000_000,
                "examples": m.examples,
            })
        })
        .collect();
    let mut text = String::new();
    if rows.is_empty() {
        text.push_str("no tools installed (tool_install adds one)\n");
    }
    for e in installed.iter() {
        text.push_str(&format!("{:<20} {} (reaches {})\n", e.name(), e.tool.manifest().description, e.tool.reach()));
    }
    ToolOutput::with_text(json!({"tools": rows, "max": LIMITS.installed}), text)
}

/// The tools kept on the card come back (after the card and the registry are up). A bundle
/// that is damaged, or whose module no longer passes the checks, is skipped with a log line.
pub fn load_from_card() {
    let Ok(entries) = storage::list("/") else { return };
    let mut loaded = 0;
    for entry in entries {
        let name = entry.short_name.to_ascii_uppercase();
        let Some(slot) = name.strip_prefix("TOOL").and_then(|rest| rest.strip_suffix(".KTL")) else { continue };
        let Some(slot) = slot.parse::<u8>().ok().filter(|s| usize::from(*s) < LIMITS.installed) else { continue };
        let path = slot_path(slot);
        let outcome = (|| -> Result<String, ToolError> {
            let max = bundle::MAX_BYTES;
            if entry.size as usize > max {
                return Err(format!("{} bytes, over the {max} a tool bundle can be", entry.size).into());
            }
            let (bytes, _) = storage::read(&path, 0, max)?;
            let (manifest_text, module) = bundle::decode(&bytes)?;
            let entry = activate(compile(&manifest_text, &module)?, Some(slot), module.len(), false)?;
            let name = entry.name().to_string();
            INSTALLED.lock().push(entry);
            Ok(name)
        })();
        match outcome {
            Ok(name) => {
                loaded += 1;
                ::log::info!("installed tool {name} loaded from {path}");
            }
            Err(why) => ::log::warn!("skipped the installed tool in {path}: {}", why.message()),
        }
    }
    if loaded > 0 {
        ::log::info!("{loaded} installed tool(s) back from the card");
    }
}

/// The three tools that manage installed tools.
pub fn register(server: &mut Server) {
    declare(
        server,
        &const {
            Declaration::new("tool_install", |_, args| install(args))
                .title("Install a WebAssembly tool")
                .description(
                    "Installs a tool built with the Kingly tool SDK: a WebAssembly module (base64) and its \
                     manifest (name, description, inputSchema, outputSchema, annotations, capabilities, limits, \
                     examples). The module is checked against the manifest (it may import only the host \
                     functions its capabilities grant), kept on the SD card, and callable at once under its name; \
                     clients are told the tool list changed. Runs sandboxed with fuel, memory and time limits.",
                )
                .input_schema_text(
                    r#"{"type": "object", "properties": {
                        "module": {"type": "string", "description": "the .wasm file, base64", "maxLength": 60000},
                        "manifest": {"type": ["object", "string"], "description": "the manifest (object, or its JSON text)"},
                        "replace": {"type": "boolean", "description": "replace an installed tool of the same name", "default": false}
                    }, "required": ["module", "manifest"], "additionalProperties": false}"#,
                )
                .output_schema_text(
                    r#"{"type": "object", "properties": {
                        "name": {"type": "string"}, "imports": {"type": "array", "items": {"type": "string"}},
                        "reach": {"type": "string"}, "persisted": {"type": "boolean"}, "file": {"type": ["string", "null"]},
                        "note": {"type": ["string", "null"]}, "module_bytes": {"type": "integer"}, "install_us": {"type": "integer"}
                    }, "required": ["name", "imports", "persisted", "install_us"]}"#,
                )
                .annotations(Annotations::DESTRUCTIVE)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("tool_remove", |_, args| remove(args))
                .title("Remove an installed tool")
                .description("Removes a tool installed with tool_install, and its file on the SD card. Built-in tools cannot be removed.")
                .input_schema_text(
                    r#"{"type": "object", "properties": {"name": {"type": "string", "description": "the installed tool's name"}},
                        "required": ["name"], "additionalProperties": false}"#,
                )
                .output_schema_text(
                    r#"{"type": "object", "properties": {"name": {"type": "string"}, "removed": {"type": "boolean"},
                        "file_deleted": {"type": "boolean"}}, "required": ["name", "removed"]}"#,
                )
                .annotations(Annotations::DESTRUCTIVE)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("tool_list_installed", |_, _| Ok(list()))
                .title("Installed tools")
                .description(
                    "The WebAssembly tools installed at run time: what each may reach (its capabilities), its budget, \
                     its card file and how often it was called.",
                )
                .output_schema_text(
                    r#"{"type": "object", "properties": {"tools": {"type": "array", "items": {"type": "object"}},
                        "max": {"type": "integer"}}, "required": ["tools", "max"]}"#,
                )
        },
    );
}
