//! The BCM2711's RNG200 (Broadcom iProc RNG200), the Pi 4's hardware random number
//! generator: a different block from the BCM2835 RNG of [`crate::rng`], at the same
//! peripheral offset (0x10_4000).
//!
//! Reference: Linux `drivers/char/hw_random/iproc-rng200.c` and the Raspberry Pi kernel's
//! BCM2711 path of it (the block is not in the BCM2711 peripherals manual): discard the first
//! 0x40000 bits, a FIFO threshold of 2 words, the clock divider at 3; the generator is ready
//! once it has counted 16 bits. A health-test failure (NIST or master lockout) is cleared by
//! resetting the generator; one that persists is an error, never a stream of bad words.

use crate::{
    deadline::{Deadline, Micros},
    mmio::Mmio,
};
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_bitfields! {u32,
    /// Control.
    CTRL [
        /// Generator enable bits (all set to run).
        RBGEN OFFSET(0) NUMBITS(13) [],
        /// Sample clock divider.
        DIV OFFSET(13) NUMBITS(8) []
    ],
    /// Soft resets (RNG and RBG).
    RESET [
        /// Hold in reset.
        RESET OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt status (write 1 to clear).
    INT_STATUS [
        /// Total-bit-count threshold reached.
        TOTAL_BITS OFFSET(0) NUMBITS(1) [],
        /// The NIST health test failed.
        NIST_FAIL OFFSET(5) NUMBITS(1) [],
        /// Start-up transitions met.
        STARTUP OFFSET(17) NUMBITS(1) [],
        /// Master failure lockout.
        LOCKOUT OFFSET(31) NUMBITS(1) []
    ],
    /// FIFO fill and threshold.
    FIFO_COUNT [
        /// Words in the FIFO.
        COUNT OFFSET(0) NUMBITS(8) [],
        /// Words before "data ready".
        THRESHOLD OFFSET(8) NUMBITS(8) []
    ]
}

register_structs! {
    /// RNG200 register block.
    pub Registers {
        (0x00 => ctrl: ReadWrite<u32, CTRL::Register>),
        (0x04 => rng_reset: ReadWrite<u32, RESET::Register>),
        (0x08 => rbg_reset: ReadWrite<u32, RESET::Register>),
        (0x0c => total_bits: ReadOnly<u32>),
        (0x10 => total_bits_threshold: ReadWrite<u32>),
        (0x14 => _reserved0),
        (0x18 => int_status: ReadWrite<u32, INT_STATUS::Register>),
        (0x1c => int_enable: ReadWrite<u32>),
        (0x20 => fifo_data: ReadOnly<u32>),
        (0x24 => fifo_count: ReadWrite<u32, FIFO_COUNT::Register>),
        (0x28 => @END),
    }
}

/// Bits discarded after enabling (less random start-up output).
const WARMUP_BITS: u32 = 0x4_0000;
/// Bits counted before the generator is ready.
const READY_BITS: u32 = 16;
/// How long warm-up and each word may take.
const TIMEOUT_US: u64 = 100_000;

/// Errors from the RNG200.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No data within the deadline: the generator is absent or stalled.
    NotReady,
    /// The health tests keep failing after a reset.
    HealthTest,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::NotReady => f.write_str("RNG200 produced no data (absent or stalled)"),
            Error::HealthTest => f.write_str("RNG200 health test keeps failing"),
        }
    }
}

/// The RNG200.
pub struct Rng200 {
    registers: Mmio<Registers>,
    now: Micros,
}

impl Rng200 {
    /// Creates the driver; `now` is a microsecond clock for its deadlines.
    ///
    /// # Safety
    /// `base` must be the mapped RNG200 register block, owned by this driver.
    pub const unsafe fn new(base: usize, now: Micros) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) }, now }
    }

    fn start(&self) {
        let regs = &*self.registers;
        regs.ctrl.write(CTRL::RBGEN.val(0));
        regs.int_status.set(u32::MAX);
        regs.rng_reset.write(RESET::RESET::SET);
        regs.rbg_reset.write(RESET::RESET::SET);
        regs.rng_reset.write(RESET::RESET::CLEAR);
        regs.rbg_reset.write(RESET::RESET::CLEAR);
        regs.int_enable.set(0);
        regs.total_bits_threshold.set(WARMUP_BITS);
        regs.fifo_count.write(FIFO_COUNT::THRESHOLD.val(2));
        regs.ctrl.write(CTRL::DIV.val(3) + CTRL::RBGEN.val(0x1fff));
    }

    /// Resets and starts the generator, then waits (bounded) until it has warmed up.
    pub fn init(&self) -> Result<(), Error> {
        self.start();
        let deadline = Deadline::after(self.now, TIMEOUT_US);
        while self.registers.total_bits.get() <= READY_BITS {
            if deadline.expired() {
                return Err(Error::NotReady);
            }
            core::hint::spin_loop();
        }
        Ok(())
    }

    fn failed(&self) -> bool {
        let status = self.registers.int_status.extract();
        status.is_set(INT_STATUS::NIST_FAIL) || status.is_set(INT_STATUS::LOCKOUT)
    }

    /// Returns the next random word.
    pub fn next_u32(&self) -> Result<u32, Error> {
        if self.failed() {
            self.init()?;
            if self.failed() {
                return Err(Error::HealthTest);
            }
        }
        let regs = &*self.registers;
        let deadline = Deadline::after(self.now, TIMEOUT_US);
        while regs.fifo_count.read(FIFO_COUNT::COUNT) == 0 {
            if deadline.expired() {
                return Err(Error::NotReady);
            }
            core::hint::spin_loop();
        }
        Ok(regs.fifo_data.get())
    }
}

#[cfg(test)]
mod tests;
