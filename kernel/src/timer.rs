//! The periodic tick from each core's generic timer (per-core counts).

use crate::arch::cpu;
use core::sync::atomic::{AtomicU64, Ordering};

/// Tick rate in Hz.
pub const HZ: u64 = 100;

static TICKS: [AtomicU64; crate::MAX_CORES] = [const { AtomicU64::new(0) }; crate::MAX_CORES];

/// Starts the periodic tick on this core.
pub fn init() {
    cpu::arm_timer(cpu::counter_frequency() / HZ);
}

/// Timer interrupt: count and re-arm.
pub fn on_tick() {
    if let Some(ticks) = TICKS.get(cpu::core_id()) {
        ticks.fetch_add(1, Ordering::Relaxed);
    }
    cpu::arm_timer(cpu::counter_frequency() / HZ);
}

/// Ticks of the boot core since [`init`].
pub fn ticks() -> u64 {
    core_ticks(0)
}

/// Ticks of `core` since it started its timer.
pub fn core_ticks(core: usize) -> u64 {
    TICKS.get(core).map_or(0, |t| t.load(Ordering::Relaxed))
}
