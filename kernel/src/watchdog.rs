//! The BCM watchdog as a hang detector on real Pi boards: armed once the services are up,
//! restarted from the executor's loop, stopped before a deliberate halt. (The driver is
//! `drivers::watchdog`; `system::reset` uses it to reset on purpose.)

use crate::{arch::cpu, board::CURRENT, platform};

/// Whether the watchdog is armed (real Pi boards), and when it was last restarted.
static ARMED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static KICKED_US: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// How often the executor restarts the countdown (it runs out after about 16.8 s).
const KICK_US: u64 = 1_000_000;

/// The board's watchdog (Pi boards).
pub fn device() -> Option<&'static drivers::watchdog::Watchdog> {
    platform::get().and_then(|p| p.watchdog.as_ref())
}

/// Starts the full countdown again.
fn restart(watchdog: &drivers::watchdog::Watchdog) {
    watchdog.reset_after(drivers::watchdog::Watchdog::MAX_TICKS);
}

/// Arms the BCM watchdog on a real Pi board: if the executor stops turning for about 16 s
/// (a hung task, interrupts off), the SoC resets. Not on QEMU, whose model resets at once
/// instead of counting down.
pub fn arm() {
    if CURRENT.qemu {
        return;
    }
    if let Some(watchdog) = device() {
        restart(watchdog);
        KICKED_US.store(cpu::micros(), core::sync::atomic::Ordering::Relaxed);
        ARMED.store(true, core::sync::atomic::Ordering::SeqCst);
        log::info!("watchdog armed: a hang of about 16 s resets the board");
    }
}

/// Restarts the watchdog's countdown (from the executor's loop, at most once a second).
pub fn kick() {
    use core::sync::atomic::Ordering;
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let now = cpu::micros();
    if now.saturating_sub(KICKED_US.load(Ordering::Relaxed)) < KICK_US {
        return;
    }
    KICKED_US.store(now, Ordering::Relaxed);
    if let Some(watchdog) = device() {
        restart(watchdog);
    }
}

/// Stops the watchdog before a deliberate halt (powered off, a boot crash loop).
pub fn disarm() {
    if ARMED.swap(false, core::sync::atomic::Ordering::SeqCst) {
        if let Some(watchdog) = device() {
            watchdog.stop();
        }
    }
}
