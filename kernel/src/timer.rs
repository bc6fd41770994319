//! The periodic scheduler tick from the core's generic timer.

use crate::arch::cpu;
use core::sync::atomic::{AtomicU64, Ordering};

/// Tick rate in Hz.
pub const HZ: u64 = 100;

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Starts the periodic tick on this core.
pub fn init() {
    cpu::arm_timer(cpu::counter_frequency() / HZ);
}

/// Timer interrupt: count and re-arm.
pub fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    cpu::arm_timer(cpu::counter_frequency() / HZ);
}

/// Ticks since [`init`].
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}
