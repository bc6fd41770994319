//! BCM2835 auxiliary mini UART (UART1), polled.
//!
//! Reference: "BCM2835 ARM Peripherals" section 2.2. Its baud rate derives from the VPU core
//! clock (`baud = core_clock / (8 * (BAUD + 1))`), so it drifts if the firmware changes the
//! core clock; the kernel prefers the PL011 for the console.

use crate::{mmio::Mmio, POLL_LIMIT};
use tock_registers::{
    interfaces::{ReadWriteable, Readable, Writeable},
    register_bitfields, register_structs,
    registers::ReadWrite,
};

register_bitfields! {u32,
    /// Auxiliary enables.
    AUX_ENABLES [
        /// Mini UART enable.
        MINI_UART OFFSET(0) NUMBITS(1) []
    ],
    /// Line status.
    AUX_MU_LSR [
        /// Transmitter can accept at least one byte.
        TX_EMPTY OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO holds at least one byte.
        DATA_READY OFFSET(0) NUMBITS(1) []
    ],
    /// Extra control.
    AUX_MU_CNTL [
        /// Transmitter enable.
        TX_EN OFFSET(1) NUMBITS(1) [],
        /// Receiver enable.
        RX_EN OFFSET(0) NUMBITS(1) []
    ],
    /// Line control.
    AUX_MU_LCR [
        /// Data size.
        DATA_SIZE OFFSET(0) NUMBITS(2) [ SevenBit = 0b00, EightBit = 0b11 ]
    ]
}

register_structs! {
    /// AUX block (mini UART part), based at peripheral offset 0x21_5000.
    pub Registers {
        (0x00 => _irq),
        (0x04 => enables: ReadWrite<u32, AUX_ENABLES::Register>),
        (0x08 => _reserved0),
        (0x40 => io: ReadWrite<u32>),
        (0x44 => ier: ReadWrite<u32>),
        (0x48 => iir: ReadWrite<u32>),
        (0x4c => lcr: ReadWrite<u32, AUX_MU_LCR::Register>),
        (0x50 => mcr: ReadWrite<u32>),
        (0x54 => lsr: ReadWrite<u32, AUX_MU_LSR::Register>),
        (0x58 => _reserved1),
        (0x60 => cntl: ReadWrite<u32, AUX_MU_CNTL::Register>),
        (0x64 => _stat),
        (0x68 => baud: ReadWrite<u32>),
        (0x6c => @END),
    }
}

/// The mini UART.
pub struct MiniUart {
    registers: Mmio<Registers>,
}

impl MiniUart {
    /// Creates the driver for the AUX block at `base` (peripheral base + 0x21_5000).
    ///
    /// # Safety
    /// `base` must be the mapped AUX register block, owned by this driver.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Enables the mini UART at 8N1 and `baud` given the core clock.
    pub fn init(&self, core_clock_hz: u32, baud: u32) {
        let regs = &*self.registers;
        regs.enables.modify(AUX_ENABLES::MINI_UART::SET);
        regs.cntl.set(0);
        regs.ier.set(0);
        regs.lcr.write(AUX_MU_LCR::DATA_SIZE::EightBit);
        regs.mcr.set(0);
        regs.iir.set(0b110); // clear both FIFOs
        let divisor = (core_clock_hz / (8 * baud.max(1))).saturating_sub(1);
        regs.baud.set(divisor & 0xffff);
        regs.cntl.write(AUX_MU_CNTL::TX_EN::SET + AUX_MU_CNTL::RX_EN::SET);
    }

    /// Sends a byte (bounded wait).
    pub fn write_byte(&self, byte: u8) {
        let mut budget = POLL_LIMIT;
        while !self.registers.lsr.is_set(AUX_MU_LSR::TX_EMPTY) {
            budget -= 1;
            if budget == 0 {
                return;
            }
            core::hint::spin_loop();
        }
        self.registers.io.set(byte as u32);
    }

    /// Returns a received byte, if any.
    pub fn read_byte(&self) -> Option<u8> {
        if self.registers.lsr.is_set(AUX_MU_LSR::DATA_READY) {
            Some(self.registers.io.get() as u8)
        } else {
            None
        }
    }
}
