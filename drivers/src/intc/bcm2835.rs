//! BCM2835 ARM interrupt controller for the GPU peripheral interrupts.
//!
//! Reference: "BCM2835 ARM Peripherals" section 7.5 (peripheral offset 0xB200). Interrupts
//! 0..31 are "IRQ pending 1", 32..63 "IRQ pending 2" (e.g. 57 = PL011).

use crate::mmio::Mmio;
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_structs,
    registers::{ReadOnly, WriteOnly},
};

register_structs! {
    /// Interrupt controller register block.
    pub Registers {
        (0x00 => basic_pending: ReadOnly<u32>),
        (0x04 => pending: [ReadOnly<u32>; 2]),
        (0x0c => fiq_control: ReadOnly<u32>),
        (0x10 => enable: [WriteOnly<u32>; 2]),
        (0x18 => enable_basic: WriteOnly<u32>),
        (0x1c => disable: [WriteOnly<u32>; 2]),
        (0x24 => disable_basic: WriteOnly<u32>),
        (0x28 => @END),
    }
}

/// Number of GPU peripheral interrupt lines.
pub const LINES: u32 = 64;

/// The controller.
pub struct Bcm2835Intc {
    registers: Mmio<Registers>,
}

impl Bcm2835Intc {
    /// Creates the driver.
    ///
    /// # Safety
    /// `base` must be the mapped controller block, owned by this driver.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Masks every GPU interrupt.
    pub fn disable_all(&self) {
        for bank in &self.registers.disable {
            bank.set(u32::MAX);
        }
        self.registers.disable_basic.set(u32::MAX);
    }

    /// Enables GPU interrupt `line` (0..64). Out-of-range lines are ignored.
    pub fn enable(&self, line: u32) {
        if line < LINES {
            self.registers.enable[(line / 32) as usize].set(1 << (line % 32));
        }
    }

    /// Whether GPU interrupt `line` is pending.
    pub fn is_pending(&self, line: u32) -> bool {
        line < LINES && self.registers.pending[(line / 32) as usize].get() & (1 << (line % 32)) != 0
    }
}
