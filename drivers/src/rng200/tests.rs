//! The RNG200 driver against a RAM register block and a small model of the generator that
//! runs from the driver's clock (each deadline check is a point where the "hardware" acts):
//! while enabled and out of reset it counts bits and keeps a word in its FIFO, a new one at
//! every step; it can be made to stall or to fail its health test.

extern crate std;

use super::*;
use std::{boxed::Box, cell::RefCell, thread_local, vec::Vec};

const CTRL_REG: usize = 0;
const RNG_RESET_REG: usize = 1;
const TOTAL_BITS_REG: usize = 3;
const THRESHOLD_REG: usize = 4;
const INT_STATUS_REG: usize = 6;
const FIFO_DATA_REG: usize = 8;
const FIFO_COUNT_REG: usize = 9;

struct Model {
    block: Box<[u32; 10]>,
    state: u64,
    stalled: bool,
    /// Health-test failures still to report (each reset clears one).
    failures: u32,
    resets: u32,
    /// INT_STATUS as last presented: a different value there is the driver's write-1-to-clear.
    status: u32,
    /// The warm-up threshold the driver last wrote.
    threshold: u32,
}

thread_local! {
    static MODEL: RefCell<Option<Model>> = const { RefCell::new(None) };
}

fn step() -> u64 {
    MODEL.with(|m| {
        let mut guard = m.borrow_mut();
        let Some(model) = guard.as_mut() else { return };
        let base = model.block.as_mut_ptr();
        // SAFETY: the block is the model's own boxed registers, alive while the model is.
        let get = |i: usize| unsafe { base.add(i).read_volatile() };
        // SAFETY: as above.
        let set = |i: usize, v: u32| unsafe { base.add(i).write_volatile(v) };
        let written = get(INT_STATUS_REG);
        if written != model.status {
            model.status &= !written;
        }
        // Every start writes the warm-up threshold: taken here (the register reads back 0
        // afterwards), it marks a restart, which resets the count and clears one failure.
        let threshold = get(THRESHOLD_REG);
        if threshold != 0 {
            model.threshold = threshold;
            set(THRESHOLD_REG, 0);
            set(TOTAL_BITS_REG, 0);
            set(FIFO_COUNT_REG, get(FIFO_COUNT_REG) & !0xff);
            if model.resets > 0 && model.failures > 0 {
                model.failures -= 1;
            }
            model.resets += 1;
        }
        let running = get(CTRL_REG) & 0x1fff == 0x1fff && get(RNG_RESET_REG) & 1 == 0;
        if running && !model.stalled {
            set(TOTAL_BITS_REG, get(TOTAL_BITS_REG).saturating_add(8));
            model.state ^= model.state << 13;
            model.state ^= model.state >> 7;
            model.state ^= model.state << 17;
            set(FIFO_DATA_REG, model.state as u32);
            set(FIFO_COUNT_REG, (get(FIFO_COUNT_REG) & !0xff) | 1);
        }
        // A generator that fails does so as soon as it has warmed up.
        if model.failures > 0 && get(TOTAL_BITS_REG) > 16 {
            model.status |= 1 << 5;
        }
        set(INT_STATUS_REG, model.status);
    });
    now_counter()
}

thread_local! {
    static CLOCK: RefCell<u64> = const { RefCell::new(0) };
}

fn now_counter() -> u64 {
    CLOCK.with(|c| {
        *c.borrow_mut() += 1;
        *c.borrow()
    })
}

fn rig(stalled: bool, failures: u32) -> Rng200 {
    let model = Model {
        block: Box::new([0; 10]),
        state: 0x1234_5678_9abc_def1,
        stalled,
        failures,
        resets: 0,
        status: 0,
        threshold: 0,
    };
    let base = model.block.as_ptr() as usize;
    MODEL.with(|m| *m.borrow_mut() = Some(model));
    // SAFETY: `base` is the model's boxed block, which lives until the next `rig` on this
    // thread, longer than the driver in each test.
    unsafe { Rng200::new(base, step) }
}

fn register(i: usize) -> u32 {
    MODEL.with(|m| m.borrow().as_ref().map_or(0, |model| model.block[i]))
}

#[test]
fn init_programs_the_bcm2711_settings_and_words_change() {
    let rng = rig(false, 0);
    rng.init().expect("warms up");
    assert_eq!(MODEL.with(|m| m.borrow().as_ref().map(|m| m.threshold)), Some(0x4_0000), "start-up bits discarded");
    assert_eq!(register(CTRL_REG), (3 << 13) | 0x1fff, "divider 3, generator enabled");
    assert_eq!((register(FIFO_COUNT_REG) >> 8) & 0xff, 2, "FIFO threshold");
    let words: Vec<u32> = (0..16).map(|_| rng.next_u32().expect("a word")).collect();
    let mut distinct = words.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 15, "{words:x?}");
}

#[test]
fn a_stalled_generator_is_an_error_after_its_deadline() {
    let rng = rig(true, 0);
    assert_eq!(rng.init(), Err(Error::NotReady));
    assert_eq!(rng.next_u32(), Err(Error::NotReady));
}

#[test]
fn a_health_test_failure_restarts_the_generator_and_one_that_persists_is_refused() {
    let rng = rig(false, 1);
    rng.init().expect("warms up");
    // After warm-up the health test fails once: the driver restarts the generator, which
    // clears it, and the words come from the restarted generator.
    for _ in 0..20 {
        assert!(rng.next_u32().is_ok());
    }
    assert_eq!(MODEL.with(|m| m.borrow().as_ref().map(|m| m.resets)), Some(2), "restarted once");
    let rng = rig(false, 1000);
    rng.init().expect("warms up");
    let outcomes: Vec<_> = (0..20).map(|_| rng.next_u32()).collect();
    assert!(outcomes.contains(&Err(Error::HealthTest)), "{outcomes:?}");
}
