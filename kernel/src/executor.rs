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
            log::warn!("task {} finished", slots[index].name);
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
        if !poll_ready() {
            crate::smp::idle(any_woken);
        }
    }
}

/// From long synchronous work inside a task: polls the other tasks that are ready (the
/// calling task is out of its slot and is skipped). Returns at once when none is ready.
pub fn run_others() {
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
