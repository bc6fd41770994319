//! BCM2835/BCM2837 hardware random number generator.
//!
//! Reference: Linux `drivers/char/hw_random/bcm2835-rng.c` (the block is undocumented in the
//! peripherals manual). Peripheral offset 0x10_4000. The BCM2711's RNG200 is a different
//! block and is not driven here.

use crate::{mmio::Mmio, POLL_LIMIT};
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_bitfields! {u32,
    /// Control.
    CTRL [
        /// Generator enable.
        RBGEN OFFSET(0) NUMBITS(1) []
    ],
    /// Status.
    STATUS [
        /// Number of 32-bit words ready in the FIFO.
        READY_WORDS OFFSET(24) NUMBITS(8) [],
        /// Warm-up count: bits discarded after enabling.
        WARMUP OFFSET(0) NUMBITS(20) []
    ],
    /// Interrupt mask.
    INT_MASK [
        /// Mask the "data ready" interrupt.
        INT_OFF OFFSET(0) NUMBITS(1) []
    ]
}

register_structs! {
    /// RNG register block.
    pub Registers {
        (0x00 => ctrl: ReadWrite<u32, CTRL::Register>),
        (0x04 => status: ReadWrite<u32, STATUS::Register>),
        (0x08 => data: ReadOnly<u32>),
        (0x0c => _reserved0),
        (0x10 => int_mask: ReadWrite<u32, INT_MASK::Register>),
        (0x14 => @END),
    }
}

/// Errors from the RNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No word became ready within the poll budget: the generator is absent or stalled.
    NotReady,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("hardware RNG produced no data (absent or stalled)")
    }
}

/// The hardware RNG.
pub struct Rng {
    registers: Mmio<Registers>,
}

impl Rng {
    /// Creates the driver.
    ///
    /// # Safety
    /// `base` must be the mapped RNG register block, owned by this driver.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Masks the RNG interrupt, sets the warm-up count and starts the generator.
    pub fn init(&self) {
        let regs = &*self.registers;
        regs.int_mask.write(INT_MASK::INT_OFF::SET);
        regs.status.write(STATUS::WARMUP.val(0x4_0000));
        regs.ctrl.write(CTRL::RBGEN::SET);
    }

    /// Returns the next random word.
    pub fn next_u32(&self) -> Result<u32, Error> {
        let regs = &*self.registers;
        let mut budget = POLL_LIMIT;
        while regs.status.read(STATUS::READY_WORDS) == 0 {
            budget = budget.checked_sub(1).ok_or(Error::NotReady)?;
            core::hint::spin_loop();
        }
        Ok(regs.data.get())
    }
}
