//! The boot timeline: counter timestamps of each boot stage, in µs since kernel entry.
//!
//! Printed at boot as `timeline: entry=0 mmu=.. heap=.. drivers=.. console=.. (µs)` and kept
//! for `boot_timeline` and the boot benchmark. On Pi boards the BCM system timer value at
//! entry gives the firmware's time before the kernel (µs since SoC reset).

use crate::arch::cpu;
use core::sync::atomic::{AtomicU64, Ordering};

/// Boot stages in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Stage {
    /// First instruction of the kernel.
    Entry,
    /// MMU and caches on.
    Mmu,
    /// Heap ready.
    Heap,
    /// Drivers initialised.
    Drivers,
    /// Console ready (interrupt-driven input, banner printed).
    Console,
    /// Secondary cores released (they report in asynchronously).
    Smp,
    /// Model loaded (later issue).
    Model,
    /// MCP server ready (later issue).
    Mcp,
}

/// Stage names as printed.
pub const NAMES: [&str; 8] = ["entry", "mmu", "heap", "drivers", "console", "smp", "model", "mcp"];

const UNSET: u64 = u64::MAX;
static STAMPS: [AtomicU64; 8] = [const { AtomicU64::new(UNSET) }; 8];
static FIRMWARE_MICROS: AtomicU64 = AtomicU64::new(UNSET);

/// Records the entry counter value (and the firmware time, if known).
pub fn set_entry(entry_ticks: u64, firmware_micros: Option<u64>) {
    STAMPS[Stage::Entry as usize].store(entry_ticks, Ordering::Relaxed);
    if let Some(micros) = firmware_micros {
        FIRMWARE_MICROS.store(micros, Ordering::Relaxed);
    }
}

/// Records `stage` now (first call wins).
pub fn record(stage: Stage) {
    record_at(stage, cpu::counter());
}

/// Records `stage` at counter value `ticks` (first call wins).
pub fn record_at(stage: Stage, ticks: u64) {
    let _ = STAMPS[stage as usize].compare_exchange(UNSET, ticks, Ordering::Relaxed, Ordering::Relaxed);
}

/// Microseconds from entry to `stage`, if it has been reached.
pub fn micros(stage: usize) -> Option<u64> {
    let entry = STAMPS[Stage::Entry as usize].load(Ordering::Relaxed);
    let at = STAMPS.get(stage)?.load(Ordering::Relaxed);
    (at != UNSET && entry != UNSET).then(|| cpu::ticks_to_micros(at.saturating_sub(entry)))
}

/// Firmware time before kernel entry (µs since SoC reset), on boards with a system timer.
pub fn firmware_micros() -> Option<u64> {
    let value = FIRMWARE_MICROS.load(Ordering::Relaxed);
    (value != UNSET).then_some(value)
}

/// Prints the machine-readable timeline line.
pub fn print() {
    crate::print!("timeline:");
    for (index, name) in NAMES.iter().enumerate() {
        if let Some(us) = micros(index) {
            crate::print!(" {name}={us}");
        }
    }
    if let Some(fw) = firmware_micros() {
        crate::print!(" firmware={fw}");
    }
    crate::println!(" (us since kernel entry)");
}
