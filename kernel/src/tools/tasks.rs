//! `tasks_list`: what each core is doing — the I/O executor on core 0 with its tasks
//! (console, network), compute workers on cores 1-3, and transient tasks such as a running
//! generation — with CPU time.

use super::declare;
use crate::{arch::cpu, board::CURRENT, smp, tasks, MAX_CORES};
use alloc::{format, string::String, vec::Vec};
use core::{fmt::Write, sync::atomic::Ordering};
use mcp::{json, Annotations, Declaration, Server, ToolOutput, Value};

fn list() -> ToolOutput {
    let now = cpu::counter();
    let transient = tasks::snapshot();
    let mut cores: Vec<Value> = Vec::new();
    let mut rows: Vec<Value> = Vec::new();
    let mut text = String::new();
    let _ = writeln!(text, "{:<4} {:<5} {:<22} {:<9} {:>10}  detail", "id", "core", "task", "state", "cpu ms");
    for core in 0..CURRENT.cores.min(MAX_CORES) {
        let stats = smp::stats(core);
        let online = smp::is_online(core);
        let since = stats.online_at.load(Ordering::Relaxed);
        let up = if online { now.wrapping_sub(since) } else { 0 };
        let idle = stats.idle_ticks.load(Ordering::Relaxed).min(up);
        let busy_us = cpu::ticks_to_micros(up - idle);
        let jobs = stats.jobs.load(Ordering::Relaxed);
        let job_us = cpu::ticks_to_micros(stats.job_ticks.load(Ordering::Relaxed));
        let busy_percent = if up == 0 { 0.0 } else { (up - idle) as f64 * 100.0 / up as f64 };
        cores.push(json!({
            "core": core,
            "online": online,
            "busy_percent": ((busy_percent * 10.0) as u64) as f64 / 10.0,
            "cpu_us": busy_us,
            "compute_jobs": jobs,
            "compute_us": job_us,
            "wakeups": stats.ipis.load(Ordering::Relaxed),
            "timer_ticks": crate::timer::core_ticks(core),
        }));
        let (name, state, cpu_us, detail) = if core == 0 {
            ("io-executor".into(), "running", busy_us, String::from("I/O tasks below"))
        } else {
            let busy = smp::pool::is_busy(core);
            (
                format!("compute-{core}"),
                if !online {
                    "offline"
                } else if busy {
                    "running"
                } else {
                    "idle"
                },
                busy_us,
                format!("{jobs} jobs"),
            )
        };
        let _ = writeln!(
            text,
            "{:<4} {:<5} {:<22} {:<9} {:>10.1}  {}",
            core,
            core,
            name,
            state,
            cpu_us as f64 / 1000.0,
            detail
        );
        rows.push(json!({"id": core, "name": name, "core": core, "state": state, "cpu_us": cpu_us, "detail": detail}));
    }
    // The I/O executor's tasks on core 0 (console, network), ids 10+.
    for (i, task) in crate::executor::stats().into_iter().enumerate() {
        let id = 10 + i as u32;
        let state = if task.done {
            "done"
        } else if task.running {
            "running"
        } else {
            "waiting"
        };
        let cpu_us = cpu::ticks_to_micros(task.busy_ticks);
        let detail = format!("{} polls", task.polls);
        let _ = writeln!(
            text,
            "{:<4} {:<5} {:<22} {:<9} {:>10.1}  {}",
            id,
            0,
            task.name,
            state,
            cpu_us as f64 / 1000.0,
            detail
        );
        rows.push(json!({"id": id, "name": task.name, "core": 0, "state": state, "cpu_us": cpu_us, "detail": detail}));
    }
    for task in transient {
        let id = 100 + task.id;
        let _ = writeln!(
            text,
            "{:<4} {:<5} {:<22} {:<9} {:>10.1}  {}",
            id,
            task.core,
            task.name,
            "running",
            task.running_us as f64 / 1000.0,
            task.detail
        );
        rows.push(json!({"id": id, "name": task.name, "core": task.core, "state": "running", "cpu_us": task.running_us, "detail": task.detail}));
    }
    let online = smp::online_count();
    let _ = write!(text, "{online} of {} cores online", CURRENT.cores);
    ToolOutput::with_text(json!({"cores_online": online, "cores": cores, "tasks": rows}), text)
}

/// Registers the group.
pub fn register(server: &mut Server) {
    declare(
        server,
        &const {
            Declaration::new("tasks_list", |_, _| Ok(list()))
            .title("Tasks and cores")
            .description("Tasks with their core, state and CPU time (the I/O executor's tasks on core 0 — console, network — compute workers on cores 1-3, running generations), and per-core load.")
            .output_schema_text(r#"{"type":"object","properties":{"cores_online":{"type":"integer"},"cores":{"type":"array","items":{"type":"object","properties":{"core":{"type":"integer"},"online":{"type":"boolean"},"busy_percent":{"type":"number"},"cpu_us":{"type":"integer"},"compute_jobs":{"type":"integer"},"compute_us":{"type":"integer"},"wakeups":{"type":"integer"},"timer_ticks":{"type":"integer"}},"required":["core","online","cpu_us"]}},"tasks":{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"core":{"type":"integer"},"state":{"enum":["running","idle","offline","waiting","done"]},"cpu_us":{"type":"integer"},"detail":{"type":"string"}},"required":["id","name","core","state","cpu_us"]}}},"required":["cores_online","cores","tasks"]}"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
}
