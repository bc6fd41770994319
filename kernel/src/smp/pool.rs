//! The compute pool: cores 1-3 run chunks of a matrix-vector product for the inference
//! engine ([`inference::quant::Parallel`]), while the calling core runs the first chunk.
//!
//! A job is a borrowed closure and a borrowed output chunk. Borrowed data crosses to other
//! cores through raw pointers (the only `unsafe` here): the dispatcher does not return
//! until every worker has reported `DONE`, so the borrows outlive every use.

use super::stats;
use crate::{arch::cpu, MAX_CORES};
use core::{
    cell::UnsafeCell,
    sync::atomic::{AtomicU8, Ordering},
};
use inference::quant::Parallel;

type Work = dyn Fn(usize, &mut [f32]) + Sync;

const FREE: u8 = 0;
const READY: u8 = 1;
const DONE: u8 = 2;

/// Fewer rows than this per core are not worth a wake-up.
const MIN_ROWS_PER_CORE: usize = 16;
/// How long the dispatching core waits for the other cores' parts of one product. Every
/// part is milliseconds of work even for the largest model in QEMU; missing this means the
/// core hung or died.
pub const JOB_DEADLINE_US: u64 = 20_000_000;

/// Fewer multiply-adds than this per core are not worth a wake-up (stories260K's largest
/// product, 512×64, stays on one core; TinyLlama's 2048×2048 spreads). Chosen from
/// `llm_generate cores=1` vs `cores=4` on QEMU raspi3b, where a hand-off costs tens of µs.
const MIN_WORK_PER_CORE: usize = 32 * 1024;

#[derive(Clone, Copy)]
struct Job {
    work: *const Work,
    first: usize,
    out: *mut f32,
    len: usize,
}

struct Slot {
    state: AtomicU8,
    job: UnsafeCell<Option<Job>>,
}

// SAFETY: `job` is written only by the dispatcher while `state` is FREE (no worker reads it
// then) and read only by the slot's worker after it observed READY (Acquire), which the
// dispatcher stores (Release) after the write; the worker's writes through `out` are
// published by its DONE store (Release) before the dispatcher's Acquire load.
unsafe impl Sync for Slot {}

static SLOTS: [Slot; MAX_CORES] =
    [const { Slot { state: AtomicU8::new(FREE), job: UnsafeCell::new(None) } }; MAX_CORES];

/// One dispatcher at a time (others, and nested calls, run serially).
static DISPATCH: spin::Mutex<()> = spin::Mutex::new(());

/// Splits work across online cores (see [`Parallel`]): the calling core and up to
/// `cores - 1` workers.
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    cores: usize,
}

impl Pool {
    /// Every online core.
    pub const ALL: Pool = Pool { cores: MAX_CORES };

    /// At most `cores` cores (1 = the calling core alone).
    pub fn limit(cores: usize) -> Pool {
        Pool { cores: cores.clamp(1, MAX_CORES) }
    }
}

impl Parallel for Pool {
    fn for_each_chunk_sized(&self, out: &mut [f32], row_cost: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        let cores = self.cores.min(super::online_count()).max(1);
        let useful = (out.len().saturating_mul(row_cost.max(1)) / MIN_WORK_PER_CORE).clamp(1, cores);
        Pool { cores: useful }.for_each_chunk(out, f)
    }

    fn for_each_chunk(&self, out: &mut [f32], f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        let me = cpu::core_id();
        let mut workers = [0usize; MAX_CORES];
        let mut count = 0;
        for core in (0..MAX_CORES).filter(|&c| c != me && super::is_online(c)).take(self.cores - 1) {
            workers[count] = core;
            count += 1;
        }
        let parts = count + 1;
        if count == 0 || out.len() < parts * MIN_ROWS_PER_CORE {
            return f(0, out);
        }
        let Some(_guard) = DISPATCH.try_lock() else { return f(0, out) };
        // Chunks of whole groups of 4 rows; the calling core takes the first.
        let chunk = out.len().div_ceil(parts).div_ceil(4) * 4;
        let total = out.len();
        let (mine, mut rest) = out.split_at_mut(chunk.min(total));
        let mut first = mine.len();
        let mut dispatched = [false; MAX_CORES];
        for &core in &workers[..count] {
            if rest.is_empty() {
                break;
            }
            let take = chunk.min(rest.len());
            let (part, tail) = core::mem::take(&mut rest).split_at_mut(take);
            rest = tail;
            let slot = &SLOTS[core];
            if slot.state.load(Ordering::Acquire) != FREE {
                // A worker still busy (it crashed mid-job): do its part here.
                f(first, part);
            } else {
                let borrowed: *const (dyn Fn(usize, &mut [f32]) + Sync + '_) = f;
                // SAFETY: only the trait object's lifetime bound changes (same fat pointer).
                // `f` stays valid for every use: this function waits for DONE below before
                // returning. The slot is FREE, so its worker does not read `job` (see `Slot`).
                unsafe {
                    let work =
                        core::mem::transmute::<*const (dyn Fn(usize, &mut [f32]) + Sync + '_), *const Work>(borrowed);
                    *slot.job.get() = Some(Job { work, first, out: part.as_mut_ptr(), len: part.len() });
                }
                slot.state.store(READY, Ordering::Release);
                crate::irq::send_ipi(core);
                dispatched[core] = true;
            }
            first += take;
        }
        let started = cpu::counter();
        f(0, mine);
        let stats = stats(me);
        stats.jobs.fetch_add(1, Ordering::Relaxed);
        stats.job_ticks.fetch_add(cpu::counter().wrapping_sub(started), Ordering::Relaxed);
        let waiting_since = cpu::micros();
        for core in (0..MAX_CORES).filter(|&c| dispatched[c]) {
            let slot = &SLOTS[core];
            while slot.state.load(Ordering::Acquire) != DONE {
                core::hint::spin_loop();
                // The worker still borrows `f` and its chunk, so returning is not an option:
                // a core that misses the deadline is reported through the crash path (the
                // report, the crash record, a reset) instead of hanging core 0 for good.
                if cpu::micros().saturating_sub(waiting_since) > JOB_DEADLINE_US {
                    panic!(
                        "compute core {core} did not finish its job within {} s (hung or dead)",
                        JOB_DEADLINE_US / 1_000_000
                    );
                }
            }
            slot.state.store(FREE, Ordering::Release);
        }
        debug_assert_eq!(first, total);
    }
}

/// The loop of a compute core: sleep until a job is READY, run it, report DONE.
pub fn worker(core: usize) -> ! {
    let slot = &SLOTS[core];
    loop {
        super::idle(|| slot.state.load(Ordering::Acquire) == READY);
        if slot.state.load(Ordering::Acquire) != READY {
            continue;
        }
        // SAFETY: READY was observed (Acquire), so the dispatcher finished writing the job
        // and will not touch the slot until DONE.
        let Some(job) = (unsafe { *slot.job.get() }) else {
            slot.state.store(DONE, Ordering::Release);
            continue;
        };
        let started = cpu::counter();
        // SAFETY: the dispatcher keeps the closure and the output chunk alive, and gives
        // this chunk to no one else, until it observes DONE (see the module docs).
        let (work, out) = unsafe { (&*job.work, core::slice::from_raw_parts_mut(job.out, job.len)) };
        work(job.first, out);
        let stats = stats(core);
        stats.jobs.fetch_add(1, Ordering::Relaxed);
        stats.job_ticks.fetch_add(cpu::counter().wrapping_sub(started), Ordering::Relaxed);
        slot.state.store(DONE, Ordering::Release);
    }
}

/// Whether `core`'s worker has a job in hand.
pub fn is_busy(core: usize) -> bool {
    SLOTS.get(core).is_some_and(|slot| slot.state.load(Ordering::Relaxed) == READY)
}
