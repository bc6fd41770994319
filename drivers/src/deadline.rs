//! Deadlines from a microsecond clock the kernel passes in, so a bus never hangs a caller.
//!
//! Bus drivers ([`crate::i2c`], [`crate::spi`], [`crate::pwm`]) poll status bits. A device
//! that never answers (unpowered, wired wrongly, holding the clock low) must turn into an
//! error, not an endless loop, so every poll loop checks a [`Deadline`]. The clock is a plain
//! function (`fn() -> u64`, microseconds, monotonic): the kernel hands in its generic-timer
//! reading, host tests a fake that advances on every call.

/// A monotonic microsecond clock.
pub type Micros = fn() -> u64;

/// A point in time after which a wait gives up.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    clock: Micros,
    at: u64,
}

impl Deadline {
    /// A deadline `micros` from now on `clock`.
    pub fn after(clock: Micros, micros: u64) -> Self {
        Self { clock, at: clock().saturating_add(micros) }
    }

    /// Whether the deadline has passed. Poll loops call this before every status read, so
    /// a caller that was descheduled for a long time still reads the status once more
    /// after the deadline before giving up.
    pub fn expired(&self) -> bool {
        (self.clock)() > self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU64, Ordering};

    static NOW: AtomicU64 = AtomicU64::new(0);

    fn clock() -> u64 {
        NOW.fetch_add(10, Ordering::Relaxed)
    }

    #[test]
    fn expires_after_the_budget() {
        let deadline = Deadline::after(clock, 100);
        let mut polls = 0;
        while !deadline.expired() {
            polls += 1;
            assert!(polls < 100, "deadline never expired");
        }
        assert!(polls >= 9, "expired too early after {polls} polls");
    }
}
