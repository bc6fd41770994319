//! Symmetric multiprocessing: starting cores 1-3, per-core accounting, wake-up interrupts
//! between cores, and the compute pool ([`pool`]) the inference engine splits rows over.
//!
//! Core 0 runs the console, MCP and drivers; cores 1-3 are compute workers that sleep in
//! `wfi` until core 0 hands them a job and signals them (BCM2836 local mailboxes or a GIC
//! SGI, see [`crate::irq::send_ipi`]).

pub mod pool;

use crate::{
    arch::{self, cpu},
    board::{SecondaryStart, CURRENT},
    MAX_CORES,
};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Bit n set = core n runs kernel code.
static ONLINE: AtomicUsize = AtomicUsize::new(0);

/// Per-core counters.
pub struct CoreStats {
    /// Counter ticks spent asleep in `wfi`.
    pub idle_ticks: AtomicU64,
    /// Counter value when the core came online.
    pub online_at: AtomicU64,
    /// Compute jobs run.
    pub jobs: AtomicU64,
    /// Counter ticks spent in compute jobs.
    pub job_ticks: AtomicU64,
    /// Wake-up interrupts received.
    pub ipis: AtomicU64,
}

static STATS: [CoreStats; MAX_CORES] = [const {
    CoreStats {
        idle_ticks: AtomicU64::new(0),
        online_at: AtomicU64::new(0),
        jobs: AtomicU64::new(0),
        job_ticks: AtomicU64::new(0),
        ipis: AtomicU64::new(0),
    }
}; MAX_CORES];

/// Counters of `core` (clamped to the last core).
pub fn stats(core: usize) -> &'static CoreStats {
    &STATS[core.min(MAX_CORES - 1)]
}

/// Whether `core` is running kernel code.
pub fn is_online(core: usize) -> bool {
    core < MAX_CORES && ONLINE.load(Ordering::Acquire) & (1 << core) != 0
}

/// Number of cores running kernel code.
pub fn online_count() -> usize {
    ONLINE.load(Ordering::Acquire).count_ones() as usize
}

fn mark_online(core: usize) {
    STATS[core].online_at.store(cpu::counter(), Ordering::Relaxed);
    ONLINE.fetch_or(1 << core, Ordering::AcqRel);
}

/// Starts the board's secondary cores without waiting for them: they report in through
/// [`online_count`] within milliseconds, and the compute pool only uses cores online.
pub fn start() {
    mark_online(cpu::core_id());
    let entry = arch::smp::secondary_entry();
    for core in 1..CURRENT.cores.min(MAX_CORES) {
        match CURRENT.secondary_start {
            SecondaryStart::SpinTable => arch::smp::release_from_spin_table(core, entry),
            SecondaryStart::Psci => {
                let status = arch::psci::cpu_on(core as u64, entry, core as u64);
                if status != 0 {
                    log::warn!("PSCI CPU_ON core {core}: status {status}");
                }
            }
        }
    }
}

/// Waits up to `micros` for every core of the board to come online; returns how many are.
pub fn wait_online(micros: u64) -> usize {
    let cores = CURRENT.cores.min(MAX_CORES);
    let deadline = cpu::micros() + micros;
    while online_count() < cores && cpu::micros() < deadline {
        core::hint::spin_loop();
    }
    online_count()
}

/// Rust entry of a started secondary core (from `__secondary_entry` in boot/), on its own
/// stacks at EL1 with the MMU off.
#[no_mangle]
pub extern "C" fn secondary_main(core: usize) -> ! {
    if core >= MAX_CORES {
        cpu::halt();
    }
    // SAFETY: the boot core built the tables before releasing this core, and this core has
    // not enabled its MMU yet. No atomics or locks run before this call.
    unsafe { arch::mmu::init_secondary() };
    crate::irq::init_core(core);
    crate::timer::init();
    mark_online(core);
    cpu::enable_interrupts();
    pool::worker(core)
}

/// Sleeps this core until an interrupt unless `ready()` holds, counting the time asleep.
pub fn idle(ready: impl Fn() -> bool) {
    let before = cpu::counter();
    cpu::sleep_unless(ready);
    let slept = cpu::counter().wrapping_sub(before);
    stats(cpu::core_id()).idle_ticks.fetch_add(slept, Ordering::Relaxed);
}

/// A wake-up interrupt arrived on this core (the sleeping loop re-checks its condition).
pub fn on_ipi() {
    stats(cpu::core_id()).ipis.fetch_add(1, Ordering::Relaxed);
}
