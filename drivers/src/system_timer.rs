//! BCM2835 system timer: a free-running 1 MHz counter since SoC reset.
//!
//! Reference: "BCM2835 ARM Peripherals" section 12. Its value at kernel entry is the time the
//! GPU firmware took before handing over to the ARM cores.

use crate::mmio::Mmio;
use tock_registers::{interfaces::Readable, register_structs, registers::ReadOnly};

register_structs! {
    /// System timer register block (peripheral offset 0x3000).
    pub Registers {
        (0x00 => _cs),
        (0x04 => clo: ReadOnly<u32>),
        (0x08 => chi: ReadOnly<u32>),
        (0x0c => @END),
    }
}

/// The system timer.
pub struct SystemTimer {
    registers: Mmio<Registers>,
}

impl SystemTimer {
    /// Creates the driver.
    ///
    /// # Safety
    /// `base` must be the mapped system timer block.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Microseconds since SoC reset (64-bit, read consistently across the two halves).
    pub fn micros(&self) -> u64 {
        loop {
            let high = self.registers.chi.get();
            let low = self.registers.clo.get();
            if self.registers.chi.get() == high {
                return ((high as u64) << 32) | low as u64;
            }
        }
    }
}
