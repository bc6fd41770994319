//! BCM2836/BCM2837 per-core local interrupt controller.
//!
//! Reference: "Quad-A7 control" (QA7_rev3.4), base 0x4000_0000 on the Pi 2/3. It routes each
//! core's generic-timer interrupts, the four mailboxes per core (inter-processor signals)
//! and the GPU interrupt to cores, and reports per-core pending sources.

use crate::mmio::Mmio;
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite, WriteOnly},
};

register_bitfields! {u32,
    /// Core timer interrupt control (one per core).
    TIMER_CONTROL [
        /// Non-secure physical timer (CNTPNS) IRQ enable.
        CNTPNSIRQ OFFSET(1) NUMBITS(1) [],
        /// Virtual timer (CNTV) IRQ enable.
        CNTVIRQ OFFSET(3) NUMBITS(1) []
    ],
    /// Core interrupt source (one per core).
    SOURCE [
        /// Non-secure physical timer.
        CNTPNSIRQ OFFSET(1) NUMBITS(1) [],
        /// Virtual timer.
        CNTVIRQ OFFSET(3) NUMBITS(1) [],
        /// Mailboxes 0..3.
        MAILBOX OFFSET(4) NUMBITS(4) [],
        /// GPU interrupt (see the BCM2835 controller).
        GPU OFFSET(8) NUMBITS(1) []
    ]
}

register_structs! {
    /// Local controller register block.
    pub Registers {
        (0x00 => control: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x08 => prescaler: ReadWrite<u32>),
        (0x0c => gpu_routing: ReadWrite<u32>),
        (0x10 => _reserved1),
        (0x40 => timer_control: [ReadWrite<u32, TIMER_CONTROL::Register>; 4]),
        (0x50 => mailbox_control: [ReadWrite<u32>; 4]),
        (0x60 => irq_source: [ReadOnly<u32, SOURCE::Register>; 4]),
        (0x70 => fiq_source: [ReadOnly<u32>; 4]),
        (0x80 => mailbox_set: [WriteOnly<u32>; 16]),
        (0xc0 => mailbox_clear: [ReadWrite<u32>; 16]),
        (0x100 => @END),
    }
}

/// Pending interrupt sources of one core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// The non-secure physical generic timer fired.
    pub timer: bool,
    /// A GPU peripheral interrupt is pending (ask the BCM2835 controller which).
    pub gpu: bool,
    /// Mailboxes with a non-zero value (bit n = mailbox n).
    pub mailboxes: u32,
}

/// The local controller.
pub struct LocalIntc {
    registers: Mmio<Registers>,
}

impl LocalIntc {
    /// Creates the driver.
    ///
    /// # Safety
    /// `base` must be the mapped local controller block, owned by this driver.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Routes `core`'s non-secure physical timer interrupt to its IRQ line.
    pub fn enable_timer(&self, core: usize) {
        if let Some(control) = self.registers.timer_control.get(core) {
            control.write(TIMER_CONTROL::CNTPNSIRQ::SET);
        }
    }

    /// Routes the GPU interrupt (all peripheral IRQs) to `core`'s IRQ line.
    pub fn route_gpu_to(&self, core: usize) {
        self.registers.gpu_routing.set((core as u32) & 0b11);
    }

    /// Enables IRQs from `core`'s four mailboxes.
    pub fn enable_mailboxes(&self, core: usize) {
        if let Some(control) = self.registers.mailbox_control.get(core) {
            control.set(0b1111);
        }
    }

    /// Sets bits in mailbox `mailbox` of `core` (raises its IRQ when enabled).
    pub fn signal(&self, core: usize, mailbox: usize, bits: u32) {
        if let Some(register) = self.registers.mailbox_set.get(core * 4 + mailbox) {
            register.set(bits);
        }
    }

    /// Reads and clears mailbox `mailbox` of `core`.
    pub fn take_mailbox(&self, core: usize, mailbox: usize) -> u32 {
        match self.registers.mailbox_clear.get(core * 4 + mailbox) {
            Some(register) => {
                let value = register.get();
                register.set(value);
                value
            }
            None => 0,
        }
    }

    /// Pending sources of `core`.
    pub fn pending(&self, core: usize) -> Pending {
        match self.registers.irq_source.get(core) {
            Some(source) => Pending {
                timer: source.is_set(SOURCE::CNTPNSIRQ),
                gpu: source.is_set(SOURCE::GPU),
                mailboxes: source.read(SOURCE::MAILBOX),
            },
            None => Pending::default(),
        }
    }
}
