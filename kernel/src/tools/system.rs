//! System tools: `system_info`, `boot_timeline`, `memory_stats`, `log_read`, `rng_read`,
//! `power_reboot`, `power_off`, and the `kernel://log` resources.

use super::declare;
use crate::{arch::cpu, board::CURRENT, memory::heap, system, timeline, timer};
use alloc::{format, string::String, vec::Vec};
use core::fmt::Write;
use mcp::{json, Annotations, Declaration, Map, Resource, Server, ToolOutput, Value};

fn system_info() -> ToolOutput {
    let facts = system::facts();
    let heap = heap::stats();
    let uptime = cpu::micros();
    let mut info = Map::new();
    info.insert("board".into(), json!(CURRENT.name));
    info.insert("description".into(), json!(CURRENT.description));
    if let Some(model) = facts.dtb.and_then(|d| d.model) {
        info.insert("dtb_model".into(), json!(model));
    }
    if let Some(revision) = facts.board_revision {
        info.insert("revision".into(), json!(format!("{revision:#x}")));
    }
    if let Some(serial) = facts.serial {
        info.insert("serial".into(), json!(format!("{serial:016x}")));
    }
    if let Some(firmware) = facts.firmware_revision {
        info.insert("firmware_revision".into(), json!(format!("{firmware:#x}")));
    }
    info.insert("kernel_version".into(), json!(env!("CARGO_PKG_VERSION")));
    info.insert("cores".into(), json!(CURRENT.cores));
    info.insert("exception_level".into(), json!(cpu::exception_level()));
    info.insert("memory_total_bytes".into(), json!(facts.ram_bytes));
    info.insert("heap_total_bytes".into(), json!(heap.size));
    info.insert("heap_free_bytes".into(), json!(heap.free));
    if let Some((now, max)) = facts.arm_clock {
        info.insert("arm_clock_hz".into(), json!(now));
        info.insert("arm_clock_max_hz".into(), json!(max));
    }
    info.insert("counter_hz".into(), json!(cpu::counter_frequency()));
    info.insert("uptime_us".into(), json!(uptime));
    info.insert("timer_ticks".into(), json!(timer::ticks()));
    if let Some(fw) = timeline::firmware_micros() {
        info.insert("firmware_us".into(), json!(fw));
    }

    let mut text = String::new();
    let _ = writeln!(text, "board:        {} ({})", CURRENT.name, CURRENT.description);
    if let Some(model) = facts.dtb.and_then(|d| d.model) {
        let _ = writeln!(text, "dtb model:    {model}");
    }
    if let Some(revision) = facts.board_revision {
        let _ = writeln!(text, "revision:     {revision:#x}");
    }
    if let Some(serial) = facts.serial {
        let _ = writeln!(text, "serial:       {serial:016x}");
    }
    if let Some(firmware) = facts.firmware_revision {
        let _ = writeln!(text, "firmware:     {firmware:#x}");
    }
    let _ = writeln!(text, "kernel:       Kingly OS {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(text, "cores:        {}", CURRENT.cores);
    let _ = writeln!(text, "el:           EL{}", cpu::exception_level());
    let _ = writeln!(
        text,
        "memory:       {} MiB RAM, heap {} KiB free of {} KiB",
        facts.ram_bytes >> 20,
        heap.free >> 10,
        heap.size >> 10
    );
    if let Some((now, max)) = facts.arm_clock {
        let _ = writeln!(text, "arm clock:    {} MHz (max {} MHz)", now / 1_000_000, max / 1_000_000);
    }
    let _ = writeln!(text, "counter:      {} Hz", cpu::counter_frequency());
    let _ = writeln!(text, "uptime:       {}.{:06} s", uptime / 1_000_000, uptime % 1_000_000);
    let _ = writeln!(text, "timer ticks:  {}", timer::ticks());
    if let Some(fw) = timeline::firmware_micros() {
        let _ = writeln!(text, "firmware time before kernel: {fw} us");
    }
    ToolOutput::with_text(Value::Object(info), text)
}

fn boot_timeline() -> ToolOutput {
    let stages: Vec<Value> = timeline::NAMES
        .iter()
        .enumerate()
        .filter_map(|(index, name)| timeline::micros(index).map(|us| json!({"stage": name, "us": us})))
        .collect();
    let mut out = Map::new();
    out.insert("stages".into(), Value::Array(stages));
    if let Some(fw) = timeline::firmware_micros() {
        out.insert("firmware_us".into(), json!(fw));
    }
    ToolOutput::new(Value::Object(out))
}

/// The memory map as `memory_stats` reports it (regions, reservations): fixed at boot, so
/// built once.
fn memory_map_json() -> &'static (Value, Value) {
    static MAP: spin::Once<(Value, Value)> = spin::Once::new();
    MAP.call_once(|| {
        let facts = system::facts();
        let regions: Vec<Value> = facts
            .memory_map
            .regions()
            .iter()
            .map(|r| json!({"start": format!("{:#x}", r.start), "end": format!("{:#x}", r.end), "kind": format!("{:?}", r.kind)}))
            .collect();
        let reserved: Vec<Value> = facts
            .memory_map
            .reserved()
            .iter()
            .map(|r| json!({"start": format!("{:#x}", r.start), "end": format!("{:#x}", r.end)}))
            .collect();
        (Value::Array(regions), Value::Array(reserved))
    })
}

fn memory_stats() -> ToolOutput {
    let heap = heap::stats();
    let (regions, reserved) = memory_map_json();
    let (regions, reserved) = (regions.clone(), reserved.clone());
    ToolOutput::new(json!({
        "heap": {
            "start": format!("{:#x}", heap.start),
            "size_bytes": heap.size,
            "used_bytes": heap.used,
            "free_bytes": heap.free,
            "peak_used_bytes": heap.peak_used,
        },
        "regions": regions,
        "reserved": reserved,
        "console_dropped_bytes": crate::console::dropped_bytes(),
    }))
}

/// The last `lines` lines of the kernel log.
fn log_tail(lines: usize) -> String {
    let text = crate::log::read_tail(crate::log::CAPACITY);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = all[start..].join("\n");
    out.push('\n');
    out
}

fn rng_read(count: usize) -> Result<ToolOutput, mcp::ToolError> {
    let mut bytes = alloc::vec![0u8; count * 4];
    let source = crate::entropy::fill(&mut bytes).map_err(|e| format!("{e}"))?;
    let words: Vec<Value> =
        bytes.chunks(4).map(|w| json!(format!("{:08x}", u32::from_le_bytes([w[0], w[1], w[2], w[3]])))).collect();
    Ok(ToolOutput::new(json!({ "words": words, "source": source })))
}

/// Registers the group.
pub fn register(server: &mut Server) {
    declare(
        server,
        &const {
            Declaration::new("system_info", |_, _| Ok(system_info()))
            .title("System information")
            .description("Board, revision, serial number, cores, exception level, memory, uptime, firmware and kernel versions.")
            .output_schema_text(r#"{
                "type": "object",
                "properties": {
                    "board": {"type": "string"},
                    "description": {"type": "string"},
                    "dtb_model": {"type": "string"},
                    "revision": {"type": "string"},
                    "serial": {"type": "string"},
                    "firmware_revision": {"type": "string"},
                    "kernel_version": {"type": "string"},
                    "cores": {"type": "integer"},
                    "exception_level": {"type": "integer"},
                    "memory_total_bytes": {"type": "integer"},
                    "heap_total_bytes": {"type": "integer"},
                    "heap_free_bytes": {"type": "integer"},
                    "arm_clock_hz": {"type": "integer"},
                    "arm_clock_max_hz": {"type": "integer"},
                    "counter_hz": {"type": "integer"},
                    "uptime_us": {"type": "integer"},
                    "timer_ticks": {"type": "integer"},
                    "firmware_us": {"type": "integer", "description": "BCM system timer at kernel entry: firmware time since SoC reset"}
                },
                "required": ["board", "kernel_version", "cores", "exception_level", "memory_total_bytes", "uptime_us"]
            }"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("boot_timeline", |_, _| Ok(boot_timeline()))
            .title("Boot timeline")
            .description("Each boot stage (entry, mmu, heap, drivers, console, mcp, ...) in microseconds since kernel entry, plus the firmware time before the kernel on Pi boards.")
            .output_schema_text(r#"{
                "type": "object",
                "properties": {
                    "stages": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"stage": {"type": "string"}, "us": {"type": "integer"}},
                        "required": ["stage", "us"]
                    }},
                    "firmware_us": {"type": "integer"}
                },
                "required": ["stages"]
            }"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("memory_stats", |_, _| Ok(memory_stats()))
            .title("Memory statistics")
            .description("Heap size, used, free and peak bytes; the physical memory regions and reservations; console input bytes dropped.")
            .output_schema_text(r#"{
                "type": "object",
                "properties": {
                    "heap": {"type": "object", "properties": {
                        "start": {"type": "string"},
                        "size_bytes": {"type": "integer"},
                        "used_bytes": {"type": "integer"},
                        "free_bytes": {"type": "integer"},
                        "peak_used_bytes": {"type": "integer"}
                    }, "required": ["size_bytes", "used_bytes", "free_bytes"]},
                    "regions": {"type": "array", "items": {"type": "object"}},
                    "reserved": {"type": "array", "items": {"type": "object"}},
                    "console_dropped_bytes": {"type": "integer"}
                },
                "required": ["heap", "regions"]
            }"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("log_read", |_, args| {
            let lines = args.get("lines").and_then(Value::as_u64).unwrap_or(50) as usize;
            let text = log_tail(lines);
            let count = text.lines().count();
            Ok(ToolOutput::with_text(json!({"lines": count, "text": text}), text))
        })
        .title("Read the kernel log")
        .description("The most recent lines of the kernel log ring buffer (also the resource kernel://log).")
        .input_schema_text(r#"{
            "type": "object",
            "properties": {"lines": {"type": "integer", "minimum": 1, "maximum": 2000, "default": 50, "description": "how many of the newest lines"}},
            "additionalProperties": false
        }"#)
        .output_schema_text(r#"{
            "type": "object",
            "properties": {"lines": {"type": "integer"}, "text": {"type": "string"}},
            "required": ["lines", "text"]
        }"#)
        .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("rng_read", |_, args| rng_read(args.get("count").and_then(Value::as_u64).unwrap_or(4) as usize))
            .title("Hardware random numbers")
            .description("32-bit words from the hardware random number generator (the SoC's, or virtio-rng on QEMU virt), as hex.")
            .input_schema_text(
                r#"{
                "type": "object",
                "properties": {"count": {"type": "integer", "minimum": 1, "maximum": 256, "default": 4}},
                "additionalProperties": false
            }"#,
            )
            .output_schema_text(
                r#"{
                "type": "object",
                "properties": {"words": {"type": "array", "items": {"type": "string"}}, "source": {"type": "string"}},
                "required": ["words"]
            }"#,
            )
            .annotations(Annotations { read_only: true, destructive: false, idempotent: false, open_world: false })
        },
    );
    declare(
        server,
        &const {
            Declaration::new("power_reboot", |_, _| {
                crate::audit::power("reboot");
                system::request(system::PowerAction::Reboot);
                Ok(ToolOutput::new(json!({"action": "reboot"})))
            })
            .title("Reboot")
            .description(
                "Resets the machine through the watchdog (PSCI on virt) right after answering. Ends every session.",
            )
            .output_schema_text(
                r#"{"type": "object", "properties": {"action": {"type": "string"}}, "required": ["action"]}"#,
            )
            .annotations(Annotations::DESTRUCTIVE)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("power_off", |_, _| {
                crate::audit::power("off");
                system::request(system::PowerAction::Off);
                Ok(ToolOutput::new(json!({"action": "power_off"})))
            })
            .title("Power off")
            .description("Powers the machine off right after answering (QEMU exits; a real board halts).")
            .output_schema_text(
                r#"{"type": "object", "properties": {"action": {"type": "string"}}, "required": ["action"]}"#,
            )
            .annotations(Annotations::DESTRUCTIVE)
        },
    );

    let log_resource =
        Resource::new("kernel://log", "kernel-log", |_, _| Ok(crate::log::read_tail(crate::log::CAPACITY)))
            .title("Kernel log")
            .description("The whole kernel log ring buffer (64 KiB).");
    let log_template = Resource::template("kernel://log/{lines}", "kernel-log-tail", |_, vars| {
        let lines: usize = vars
            .get("lines")
            .and_then(Value::as_str)
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=2000).contains(n))
            .ok_or_else(|| String::from("{lines} must be a number from 1 to 2000"))?;
        Ok(log_tail(lines))
    })
    .title("Kernel log tail")
    .description("The newest {lines} lines of the kernel log.");
    let audit = Resource::new("kernel://audit", "audit", |_, _| Ok(crate::audit::resource()))
        .title("Audit trail")
        .description(
            "Every tools/call from the network (peer, role, tool, argument digest, result, duration) and every \
             power action, newest last; also AUDIT.LOG on the card. Control role only.",
        )
        .control_only();
    let crash = Resource::new("kernel://crash/last", "last-crash", |_, _| Ok(crate::crash::resource()))
        .title("Last crash")
        .description(
            "The panic or fault report that ended the previous boot (kept in RAM across the reset, also \
             appended to CRASH.TXT on the card), or crashed: false. Control role only: a report holds \
             registers and memory addresses.",
        )
        .control_only();
    for resource in [log_resource, log_template, audit, crash] {
        if let Err(error) = server.add_resource(resource) {
            log::error!("resource not registered: {error}");
        }
    }
    let prompt = mcp::Prompt::new("diagnose_boot", |_| {
        Ok(alloc::vec![(
            "user".into(),
            "Call boot_timeline and log_read, then explain which boot stage took longest and whether the log shows warnings.".into(),
        )])
    })
    .title("Diagnose the boot")
    .description("Asks the model to read the boot timeline and log and explain them.");
    if let Err(error) = server.add_prompt(prompt) {
        log::error!("prompt not registered: {error}");
    }
}
