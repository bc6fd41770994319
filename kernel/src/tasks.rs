//! What the kernel is doing, for `tasks_list`: long-lived services (the console, compute
//! workers, later the network) and transient work registered by the tools that run it
//! (e.g. a generation), each with its core, state and CPU time.
//!
//! CPU time comes from counter readings: per-core idle time measured around `wfi`
//! ([`crate::smp::idle`]), compute-job time per core ([`crate::smp::pool`]), and the
//! running time of each registered task.

use crate::{arch::cpu, sync::IrqMutex};
use alloc::{string::String, vec::Vec};

/// A registered transient task.
struct Entry {
    id: u32,
    name: String,
    core: usize,
    started: u64,
    detail: String,
}

static TASKS: IrqMutex<(u32, Vec<Entry>)> = IrqMutex::new((0, Vec::new()));

/// A registered task; removed from the list when dropped.
pub struct Task {
    id: u32,
}

impl Task {
    /// Registers `name` running on this core from now on.
    pub fn start(name: &str) -> Task {
        let mut tasks = TASKS.lock();
        tasks.0 += 1;
        let id = tasks.0;
        tasks.1.push(Entry {
            id,
            name: name.into(),
            core: cpu::core_id(),
            started: cpu::counter(),
            detail: String::new(),
        });
        Task { id }
    }

    /// Updates the one-line progress shown by `tasks_list`.
    pub fn set_detail(&self, detail: &str) {
        let mut tasks = TASKS.lock();
        if let Some(entry) = tasks.1.iter_mut().find(|e| e.id == self.id) {
            entry.detail.clear();
            entry.detail.push_str(detail);
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        TASKS.lock().1.retain(|e| e.id != self.id);
    }
}

/// A registered task as `tasks_list` shows it.
pub struct View {
    /// Task id (unique since boot).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Core it runs on.
    pub core: usize,
    /// Microseconds since it started (it runs the whole time: tasks do not block).
    pub running_us: u64,
    /// Progress line.
    pub detail: String,
}

/// The registered tasks now.
pub fn snapshot() -> Vec<View> {
    let now = cpu::counter();
    TASKS
        .lock()
        .1
        .iter()
        .map(|e| View {
            id: e.id,
            name: e.name.clone(),
            core: e.core,
            running_us: cpu::ticks_to_micros(now.wrapping_sub(e.started)),
            detail: e.detail.clone(),
        })
        .collect()
}
