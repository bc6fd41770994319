//! ARM PL011 UART: polled transmit, interrupt-driven receive.
//!
//! Reference: ARM PrimeCell UART (PL011) Technical Reference Manual, DDI 0183.
//! The receive interrupt (RX FIFO level and RX timeout) lets the kernel drain the 16-byte
//! FIFO into a software ring buffer, so pasted text is not lost while the CPU is busy.

use crate::{mmio::Mmio, POLL_LIMIT};
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite, WriteOnly},
};

register_bitfields! {u32,
    /// Data register.
    DR [
        /// Received or transmitted byte.
        DATA OFFSET(0) NUMBITS(8) [],
        /// Framing, parity, break and overrun error flags of the received byte.
        ERRORS OFFSET(8) NUMBITS(4) []
    ],
    /// Flag register.
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Integer baud rate divisor.
    IBRD [ BAUD_DIVINT OFFSET(0) NUMBITS(16) [] ],
    /// Fractional baud rate divisor.
    FBRD [ BAUD_DIVFRAC OFFSET(0) NUMBITS(6) [] ],
    /// Line control.
    LCR_H [
        /// Word length.
        WLEN OFFSET(5) NUMBITS(2) [ EightBit = 0b11 ],
        /// FIFO enable.
        FEN OFFSET(4) NUMBITS(1) [ FifosDisabled = 0, FifosEnabled = 1 ]
    ],
    /// Control.
    CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt FIFO level select.
    IFLS [
        /// Receive interrupt FIFO level.
        RXIFLSEL OFFSET(3) NUMBITS(3) [ OneEigth = 0b000, OneQuarter = 0b001, OneHalf = 0b010 ]
    ],
    /// Interrupt mask set/clear, raw and masked status, and clear registers share this layout.
    INT [
        /// Overrun error.
        OE OFFSET(10) NUMBITS(1) [],
        /// Receive timeout.
        RT OFFSET(6) NUMBITS(1) [],
        /// Transmit.
        TX OFFSET(5) NUMBITS(1) [],
        /// Receive.
        RX OFFSET(4) NUMBITS(1) [],
        /// All interrupts (for clearing).
        ALL OFFSET(0) NUMBITS(11) []
    ]
}

register_structs! {
    /// PL011 register block.
    #[allow(non_snake_case)]
    pub Registers {
        (0x00 => dr: ReadWrite<u32, DR::Register>),
        (0x04 => _reserved0),
        (0x18 => fr: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x24 => ibrd: WriteOnly<u32, IBRD::Register>),
        (0x28 => fbrd: WriteOnly<u32, FBRD::Register>),
        (0x2c => lcr_h: WriteOnly<u32, LCR_H::Register>),
        (0x30 => cr: WriteOnly<u32, CR::Register>),
        (0x34 => ifls: ReadWrite<u32, IFLS::Register>),
        (0x38 => imsc: ReadWrite<u32, INT::Register>),
        (0x3c => ris: ReadOnly<u32, INT::Register>),
        (0x40 => mis: ReadOnly<u32, INT::Register>),
        (0x44 => icr: WriteOnly<u32, INT::Register>),
        (0x48 => @END),
    }
}

/// Baud rate divisors for the PL011: `clock / (16 * baud)` as a 16.6 fixed-point number.
///
/// Returns `(integer, fraction)`; e.g. 48 MHz at 115200 baud gives 26.0417 → (26, 3).
pub fn baud_divisors(clock_hz: u32, baud: u32) -> (u32, u32) {
    let baud = baud.max(1) as u64;
    // Divisor * 64, rounded: (clock * 4 / baud + 1) / 2 == round(clock * 64 / (16 * baud)).
    let div64 = ((clock_hz as u64 * 8) / baud).div_ceil(2);
    ((div64 >> 6) as u32, (div64 & 0x3f) as u32)
}

/// A PL011 UART.
pub struct Pl011 {
    registers: Mmio<Registers>,
}

impl Pl011 {
    /// Creates a driver for the PL011 at `base`.
    ///
    /// # Safety
    /// `base` must be a mapped PL011 register block owned by this driver (see [`Mmio::new`]).
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Programs 8N1 at `baud` from a UART reference clock of `clock_hz`, enables the FIFOs,
    /// the receive interrupts, and the UART.
    pub fn init(&self, clock_hz: u32, baud: u32) {
        let regs = &*self.registers;
        self.flush();
        regs.cr.set(0);
        regs.icr.write(INT::ALL::SET);
        let (int, frac) = baud_divisors(clock_hz, baud);
        regs.ibrd.write(IBRD::BAUD_DIVINT.val(int));
        regs.fbrd.write(FBRD::BAUD_DIVFRAC.val(frac));
        regs.lcr_h.write(LCR_H::WLEN::EightBit + LCR_H::FEN::FifosEnabled);
        regs.ifls.write(IFLS::RXIFLSEL::OneEigth);
        regs.imsc.write(INT::RX::SET + INT::RT::SET);
        regs.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Sends one byte, waiting while the transmit FIFO is full (bounded wait: a wedged UART
    /// drops the byte rather than hanging the kernel).
    pub fn write_byte(&self, byte: u8) {
        let regs = &*self.registers;
        let mut budget = POLL_LIMIT;
        while regs.fr.is_set(FR::TXFF) {
            budget -= 1;
            if budget == 0 {
                return;
            }
            core::hint::spin_loop();
        }
        regs.dr.write(DR::DATA.val(byte as u32));
    }

    /// Waits until everything written has left the transmitter (bounded).
    pub fn flush(&self) {
        let mut budget = POLL_LIMIT;
        while self.registers.fr.is_set(FR::BUSY) && budget > 0 {
            budget -= 1;
            core::hint::spin_loop();
        }
    }

    /// Returns a received byte if the receive FIFO holds one. Bytes with framing/parity
    /// errors are returned too; the console treats them like any other input.
    pub fn read_byte(&self) -> Option<u8> {
        let regs = &*self.registers;
        if regs.fr.is_set(FR::RXFE) {
            None
        } else {
            Some(regs.dr.read(DR::DATA) as u8)
        }
    }

    /// Interrupt handler body: clears the receive interrupts, then moves every byte in the
    /// receive FIFO to `sink`. Returns the number of bytes moved.
    ///
    /// The order matters: a byte arriving after the drain re-raises the interrupt, whereas
    /// clearing *after* the drain could swallow the edge of a byte that arrived in between
    /// and leave a full FIFO with no interrupt pending (QEMU raises RX only when the FIFO
    /// goes from empty to non-empty, so the console would stall for good).
    pub fn handle_interrupt(&self, mut sink: impl FnMut(u8)) -> usize {
        self.registers.icr.write(INT::RX::SET + INT::RT::SET + INT::OE::SET);
        let mut moved = 0;
        while let Some(byte) = self.read_byte() {
            sink(byte);
            moved += 1;
        }
        moved
    }

    /// Whether a receive interrupt is pending (masked status).
    pub fn interrupt_pending(&self) -> bool {
        let mis = &self.registers.mis;
        mis.is_set(INT::RX) || mis.is_set(INT::RT)
    }
}

impl core::fmt::Write for &Pl011 {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisors_match_the_trm_examples() {
        // TRM example: 4 MHz, 230400 baud -> 1.085 -> IBRD 1, FBRD 5.
        assert_eq!(baud_divisors(4_000_000, 230_400), (1, 5));
        // The Pi firmware's default 48 MHz UART clock at 115200 baud.
        assert_eq!(baud_divisors(48_000_000, 115_200), (26, 3));
        // 3 MHz (older firmware) at 115200 baud: 1.627 -> (1, 40).
        assert_eq!(baud_divisors(3_000_000, 115_200), (1, 40));
    }

    #[test]
    fn init_programs_the_registers() {
        let mut block = [0u32; 0x48 / 4];
        // SAFETY: the array outlives the driver and has the register block's size.
        let uart = unsafe { Pl011::new(block.as_mut_ptr() as usize) };
        uart.init(48_000_000, 115_200);
        assert_eq!(block[0x24 / 4], 26);
        assert_eq!(block[0x28 / 4], 3);
        assert_eq!(block[0x2c / 4], 0b111 << 4);
        assert_eq!(block[0x30 / 4], (1 << 9) | (1 << 8) | 1);
        assert_eq!(block[0x38 / 4], (1 << 6) | (1 << 4));
    }
}
