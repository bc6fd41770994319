//! The I/O executor of the boot core: a handful of long-lived async tasks (the console, the
//! network) polled when an interrupt or a timer wakes them; between wake-ups the core sleeps
//! in `wfi`.
//!
//! Wakers are `Arc<Wake>` flags (no unsafe): an interrupt handler or another task calls
//! `wake()`, the run loop polls every task whose flag is set. Timers ([`sleep_until`]) are
//! checked after each wake-up; the 100 Hz tick bounds their lateness.
//!
//! Long synchronous work on this core (a generation, which spreads its matrix products over
//! the compute cores but keeps its own loop here) calls [`run_others`] between steps: it
//! polls the other ready tasks, so the console and the network keep answering. A task is
//! taken out of its slot while it is polled, so it is never polled re-entrantly; the tasks
//! themselves must not hold a lock across a call that may reach `run_others`.

use crate::{arch::cpu, sync::IrqMutex};
use alloc::{boxed::Box, sync::Arc, task::Wake, vec::Vec};
use core::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    task::{Context, Poll, Waker},
};
use inference::quant::Parallel;

/// Most tasks (they are services, spawned at boot).
pub const MAX_TASKS: usize = 8;

type BoxedTask = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Flag {
    woken: AtomicBool,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
    }
}

struct Slot {
    name: &'static str,
    future: Option<BoxedTask>,
    done: bool,
    flag: Arc<Flag>,
    waker: Waker,
}

/// Per-task figures for `tasks_list`.
#[derive(Clone, Debug)]
pub struct TaskStats {
    /// Task name.
    pub name: &'static str,
    /// Times polled.
    pub polls: u64,
    /// Counter ticks spent in its polls.
    pub busy_ticks: u64,
    /// Being polled right now (possibly running a long tool).
    pub running: bool,
    /// Finished.
    pub done: bool,
}

static SLOTS: IrqMutex<Vec<Slot>> = IrqMutex::new(Vec::new());
static POLLS: [AtomicU64; MAX_TASKS] = [const { AtomicU64::new(0) }; MAX_TASKS];
static BUSY: [AtomicU64; MAX_TASKS] = [const { AtomicU64::new(0) }; MAX_TASKS];
static TIMERS: IrqMutex<Vec<(u64, Waker)>> = IrqMutex::new(Vec::new());

/// Adds a task; it is polled once the run loop (or [`run_others`]) gets to it.
pub fn spawn(name: &'static str, future: impl Future<Output = ()> + Send + 'static) {
    let flag = Arc::new(Flag { woken: AtomicBool::new(true) });
    let waker = Waker::from(Arc::clone(&flag));
    let mut slots = SLOTS.lock();
    if slots.len() >= MAX_TASKS {
        log::error!("task {name} not started: {MAX_TASKS} tasks already");
        return;
    }
    slots.push(Slot { name, future: Some(Box::pin(future)), done: false, flag, waker });
}

/// Wakes the timers whose deadline passed.
fn fire_timers() {
    let now = cpu::counter();
    let mut timers = TIMERS.lock();
    timers.retain(|(deadline, waker)| {
        if *deadline <= now {
            waker.wake_by_ref();
            false
        } else {
            true
        }
    });
}

/// Polls every ready task not currently being polled; returns whether any ran.
fn poll_ready() -> bool {
    fire_timers();
    let mut ran = false;
    let count = SLOTS.lock().len();
    for index in 0..count {
        let taken = {
            let mut slots = SLOTS.lock();
            let slot = &mut slots[index];
            if slot.future.is_some() && slot.flag.woken.swap(false, Ordering::AcqRel) {
                slot.future.take().map(|f| (f, slot.waker.clone()))
            } else {
                None
            }
        };
        let Some((mut future, waker)) = taken else { continue };
        ran = true;
        let started = cpu::counter();
        let mut context = Context::from_waker(&waker);
        let finished = future.as_mut().poll(&mut context).is_ready();
        POLLS[index].fetch_add(1, Ordering::Relaxed);
        BUSY[index].fetch_add(cpu::counter().wrapping_sub(started), Ordering::Relaxed);
        if !finished {
            SLOTS.lock()[index].future = Some(future);
        } else {
            let mut slots = SLOTS.lock();
            slots[index].done = true;
            // The services run forever; only the boot's one-shot work ends.
            if slots[index].name != "boot" {
                log::warn!("task {} finished", slots[index].name);
            }
        }
    }
    ran
}

fn any_woken() -> bool {
    SLOTS.lock().iter().any(|s| s.future.is_some() && s.flag.woken.load(Ordering::Acquire))
        || TIMERS.lock().iter().any(|(deadline, _)| *deadline <= cpu::counter())
}

/// Runs the tasks forever on this core, sleeping whenever none is ready.
pub fn run() -> ! {
    loop {
        crate::watchdog::kick();
        if !poll_ready() {
            crate::smp::idle(any_woken);
        }
    }
}

/// From long synchronous work inside a task: polls the other tasks that are ready (the
/// calling task is out of its slot and is skipped). Returns at once when none is ready.
pub fn run_others() {
    crate::watchdog::kick();
    poll_ready();
}

/// The tasks and their figures.
pub fn stats() -> Vec<TaskStats> {
    let slots = SLOTS.lock();
    slots
        .iter()
        .enumerate()
        .map(|(i, s)| TaskStats {
            name: s.name,
            polls: POLLS[i].load(Ordering::Relaxed),
            busy_ticks: BUSY[i].load(Ordering::Relaxed),
            running: s.future.is_none() && !s.done,
            done: s.done,
        })
        .collect()
}

/// A future that is ready once the counter reaches `deadline` (counter ticks).
pub struct Sleep {
    deadline: u64,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if cpu::counter() >= self.deadline {
            return Poll::Ready(());
        }
        TIMERS.lock().push((self.deadline, cx.waker().clone()));
        Poll::Pending
    }
}

/// Sleeps until the counter reaches `deadline`.
pub fn sleep_until(deadline: u64) -> Sleep {
    Sleep { deadline }
}

/// Multiply-adds per slice of a [`Yielding`] product: a few milliseconds of one core on
/// QEMU, much less on a real Cortex-A53.
const SLICE_WORK: usize = 1 << 20;

/// A [`Parallel`] for long inference that runs inside a task on the boot core (a chat
/// model answering `ask`, `llm_generate`): each matrix-vector product runs on the compute
/// pool in slices of about [`SLICE_WORK`] multiply-adds, and between slices the other
/// tasks are polled ([`run_others`]), so the console and the network keep answering while
/// a token is computed. Rows are independent, so slicing does not change any result.
///
/// After [`Yielding::stop`] the remaining products are skipped: the caller stops at the
/// next token and discards what the interrupted one left.
pub struct Yielding {
    pool: crate::smp::pool::Pool,
    stopped: AtomicBool,
}

impl Yielding {
    /// Over `pool`.
    pub fn new(pool: crate::smp::pool::Pool) -> Yielding {
        Yielding { pool, stopped: AtomicBool::new(false) }
    }

    /// Skips the remaining work (cancelled, or out of time).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Whether [`Yielding::stop`] was called.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

impl Parallel for Yielding {
    fn for_each_chunk(&self, out: &mut [f32], f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        self.for_each_chunk_sized(out, 1, f);
    }

    fn for_each_chunk_sized(&self, out: &mut [f32], row_cost: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        // Whole groups of 4 rows per slice, as the pool splits them.
        let rows = (SLICE_WORK / row_cost.max(1)).max(64).div_ceil(4) * 4;
        let mut first = 0;
        for slice in out.chunks_mut(rows) {
            if self.stopped() {
                return;
            }
            let base = first;
            first += slice.len();
            self.pool.for_each_chunk_sized(slice, row_cost, &|at, chunk| f(base + at, chunk));
            if cpu::core_id() == 0 {
                run_others();
            }
        }
    }
}

/// A future that lets the other ready tasks run once before it completes.
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Lets the other ready tasks run (e.g. the console answer its first request) first.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}
