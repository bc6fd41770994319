//! BSC (Broadcom Serial Controller) I2C master, polled, implementing embedded-hal 1.0 `I2c`.
//!
//! Reference: "BCM2835 ARM Peripherals" section 3 (BSC0 at peripheral offset 0x20_5000,
//! BSC1 at 0x80_4000, BSC2 at 0x80_5000); the BCM2711 has the same block at the same offsets.
//!
//! A transfer: clear the FIFO (C.CLEAR with I2CEN off), clear the status flags (write 1s
//! to S.DONE/ERR/CLKT), set A and DLEN, start with C = I2CEN | ST [| READ], then feed or
//! drain the 16-byte FIFO until DLEN bytes moved and S.DONE. Writing the FIFO only after the
//! start is what both the real controller (it stretches the clock until data arrives) and
//! QEMU's model (which drops FIFO writes before ST, and starts a transfer on any write to C
//! with I2CEN set) accept. S.ERR is a missing ACK — an absent address or a data byte refused;
//! S.CLKT is a slave holding SCL low past the CLKT limit. On top of both, every wait has a
//! [`Deadline`]: a controller that never finishes gives [`Error::Timeout`], not a hang.
//!
//! `I2c::transaction` groups adjacent operations of one direction into one transfer. For a
//! write followed by a read (the usual register read), the read is started while the last
//! written bytes are still in the FIFO, which the BSC turns into a repeated START (the method
//! Linux's i2c-bcm2835 uses). Other transitions end with STOP and start again.

use crate::{
    deadline::{Deadline, Micros},
    mmio::Mmio,
};
use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource, Operation, SevenBitAddress};
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::ReadWrite,
    LocalRegisterCopy,
};

register_bitfields! {u32,
    /// Control.
    C [
        /// Controller enable.
        I2CEN OFFSET(15) NUMBITS(1) [],
        /// Interrupt on RX.
        INTR OFFSET(10) NUMBITS(1) [],
        /// Interrupt on TX.
        INTT OFFSET(9) NUMBITS(1) [],
        /// Interrupt on DONE.
        INTD OFFSET(8) NUMBITS(1) [],
        /// Start transfer (one-shot).
        ST OFFSET(7) NUMBITS(1) [],
        /// Clear the FIFO (one-shot).
        CLEAR OFFSET(4) NUMBITS(2) [ Fifo = 0b01 ],
        /// Transfer direction.
        READ OFFSET(0) NUMBITS(1) [ Write = 0, Read = 1 ]
    ],
    /// Status.
    S [
        /// Clock stretch timeout (write 1 to clear).
        CLKT OFFSET(9) NUMBITS(1) [],
        /// ACK error (write 1 to clear).
        ERR OFFSET(8) NUMBITS(1) [],
        /// FIFO full.
        RXF OFFSET(7) NUMBITS(1) [],
        /// FIFO empty.
        TXE OFFSET(6) NUMBITS(1) [],
        /// FIFO contains data.
        RXD OFFSET(5) NUMBITS(1) [],
        /// FIFO can accept data.
        TXD OFFSET(4) NUMBITS(1) [],
        /// FIFO needs reading (full).
        RXR OFFSET(3) NUMBITS(1) [],
        /// FIFO needs writing (empty).
        TXW OFFSET(2) NUMBITS(1) [],
        /// Transfer done (write 1 to clear).
        DONE OFFSET(1) NUMBITS(1) [],
        /// Transfer active.
        TA OFFSET(0) NUMBITS(1) []
    ],
    /// Data length.
    DLEN [ DLEN OFFSET(0) NUMBITS(16) [] ],
    /// Slave address.
    A [ ADDR OFFSET(0) NUMBITS(7) [] ],
    /// Data FIFO.
    FIFO [ DATA OFFSET(0) NUMBITS(8) [] ],
    /// Clock divider: SCL = core clock / CDIV (even; 0 means 32768).
    DIV [ CDIV OFFSET(0) NUMBITS(16) [] ],
    /// Data delay (falling / rising edge), in core clocks.
    DEL [ FEDL OFFSET(16) NUMBITS(16) [], REDL OFFSET(0) NUMBITS(16) [] ],
    /// Clock stretch timeout, in SCL cycles (0 disables).
    CLKT [ TOUT OFFSET(0) NUMBITS(16) [] ]
}

register_structs! {
    /// BSC register block.
    pub Registers {
        (0x00 => c: ReadWrite<u32, C::Register>),
        (0x04 => s: ReadWrite<u32, S::Register>),
        (0x08 => dlen: ReadWrite<u32, DLEN::Register>),
        (0x0c => a: ReadWrite<u32, A::Register>),
        (0x10 => fifo: ReadWrite<u32, FIFO::Register>),
        (0x14 => div: ReadWrite<u32, DIV::Register>),
        (0x18 => del: ReadWrite<u32, DEL::Register>),
        (0x1c => clkt: ReadWrite<u32, CLKT::Register>),
        (0x20 => @END),
    }
}

/// Most bytes one transfer can move (DLEN is 16 bits).
pub const MAX_TRANSFER: usize = 0xffff;

/// Standard-mode bus clock.
pub const STANDARD_HZ: u32 = 100_000;

/// Time every transfer is allowed on top of its bytes (start-up, clock stretching).
const BASE_TIMEOUT_US: u64 = 25_000;

/// Allowance per byte: 9 clocks at 100 kHz are 90 µs; four times that for slow slaves.
const PER_BYTE_US: u64 = 360;

/// I2C errors. A missing ACK is normal for an absent device (scans rely on it); the others
/// point at wiring or a stuck bus, where retrying rarely helps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No ACK: no device answers at `address`, or it refused a byte.
    Nack {
        /// The 7-bit address of the transfer.
        address: u8,
    },
    /// A slave held SCL low longer than the controller's clock-stretch limit.
    ClockStretchTimeout {
        /// The 7-bit address of the transfer.
        address: u8,
    },
    /// The controller did not finish within the deadline (no clock, bus stuck, controller
    /// absent).
    Timeout {
        /// The 7-bit address of the transfer.
        address: u8,
        /// What it was waiting for.
        waiting_for: &'static str,
    },
    /// The address is not a 7-bit address.
    InvalidAddress(u8),
    /// More than [`MAX_TRANSFER`] bytes in one direction.
    TooLong(usize),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Nack { address } => write!(f, "no ACK from address {address:#04x}: no device there, or it refused the data"),
            Self::ClockStretchTimeout { address } => {
                write!(f, "device {address:#04x} held the clock low too long (clock-stretch timeout)")
            }
            Self::Timeout { address, waiting_for } => write!(
                f,
                "I2C transfer to {address:#04x} timed out waiting for {waiting_for} (check wiring and pull-ups; the bus may be stuck)"
            ),
            Self::InvalidAddress(address) => write!(f, "{address:#x} is not a 7-bit I2C address"),
            Self::TooLong(len) => write!(f, "{len} bytes is more than one I2C transfer can carry ({MAX_TRANSFER})"),
        }
    }
}

impl embedded_hal::i2c::Error for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Nack { .. } => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Unknown),
            Self::ClockStretchTimeout { .. } => ErrorKind::Bus,
            _ => ErrorKind::Other,
        }
    }
}

/// Clock divider for `bus_hz` from `core_hz`: rounded up to an even number (the controller
/// ignores bit 0), so the bus never runs faster than asked.
pub fn divider(core_hz: u32, bus_hz: u32) -> u32 {
    let bus_hz = bus_hz.max(1);
    let div = core_hz.div_ceil(bus_hz).clamp(2, 0xfffe);
    div + (div & 1)
}

/// One BSC controller.
pub struct Bsc {
    registers: Mmio<Registers>,
    clock: Micros,
}

impl Bsc {
    /// Creates the driver; call [`Bsc::init`] before the first transfer.
    ///
    /// # Safety
    /// `base` must be a mapped BSC register block owned by this driver.
    pub const unsafe fn new(base: usize, clock: Micros) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) }, clock }
    }

    /// Stops any transfer, clears the FIFO and flags, and sets the bus clock to `bus_hz` from
    /// the VPU core clock `core_hz`. Returns the bus clock actually set.
    pub fn init(&self, core_hz: u32, bus_hz: u32) -> u32 {
        self.idle();
        let div = divider(core_hz, bus_hz);
        self.registers.div.write(DIV::CDIV.val(div));
        core_hz / div
    }

    /// Whether a device acknowledges `address`: a one-byte read, the probe that disturbs the
    /// fewest devices (a write could be taken as a command). `Ok(false)` means no ACK.
    pub fn probe(&mut self, address: u8) -> Result<bool, Error> {
        match self.read_bytes(address, &mut [0]) {
            Ok(()) => Ok(true),
            Err(Error::Nack { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Reads `buffer.len()` bytes from `address`.
    pub fn read_bytes(&mut self, address: u8, buffer: &mut [u8]) -> Result<(), Error> {
        self.run(address, &mut [Operation::Read(buffer)])
    }

    /// Writes `bytes` to `address`.
    pub fn write_bytes(&mut self, address: u8, bytes: &[u8]) -> Result<(), Error> {
        self.run(address, &mut [Operation::Write(bytes)])
    }

    /// Writes `bytes`, then reads `buffer.len()` bytes after a repeated START.
    pub fn write_read_bytes(&mut self, address: u8, bytes: &[u8], buffer: &mut [u8]) -> Result<(), Error> {
        self.run(address, &mut [Operation::Write(bytes), Operation::Read(buffer)])
    }

    /// Runs the operations as one transaction and always leaves the controller idle.
    fn run(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Error> {
        if address > 0x7f {
            return Err(Error::InvalidAddress(address));
        }
        let result = self.transfers(address, operations);
        self.idle();
        result
    }

    fn transfers(&self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Error> {
        let mut index = 0;
        while index < operations.len() {
            let read = matches!(operations[index], Operation::Read(_));
            let run = operations[index..].iter().take_while(|op| matches!(op, Operation::Read(_)) == read).count();
            let (group, rest) = operations[index..].split_at_mut(run);
            let len: usize = group.iter().map(operation_len).sum();
            if len > MAX_TRANSFER {
                return Err(Error::TooLong(len));
            }
            let read_follows = !rest.is_empty();
            index += run;
            if !read && len == 0 && read_follows {
                continue; // the read's own address phase does what an empty write would
            }
            // Start first, then take the time: after a write the read must start while the
            // last byte is still on its way out (repeated START), so nothing goes in between.
            self.start(address, len, read);
            let deadline = Deadline::after(self.clock, BASE_TIMEOUT_US + PER_BYTE_US * len as u64);
            if read {
                self.receive(address, group, &deadline)?;
                self.wait_done(address, &deadline)?;
            } else {
                self.send(address, group, &deadline)?;
                if read_follows {
                    // Leave the transfer running: a START issued while it is active (TA) and
                    // its last bytes are still going out becomes a repeated START.
                    self.wait_until(address, "the transfer to start", &deadline, |s| {
                        s.is_set(S::TA) || s.is_set(S::DONE)
                    })?;
                } else {
                    self.wait_done(address, &deadline)?;
                }
            }
        }
        Ok(())
    }

    fn start(&self, address: u8, len: usize, read: bool) {
        let regs = &*self.registers;
        regs.s.write(S::DONE::SET + S::ERR::SET + S::CLKT::SET);
        regs.a.write(A::ADDR.val(address as u32));
        regs.dlen.write(DLEN::DLEN.val(len as u32));
        let direction = if read { C::READ::Read } else { C::READ::Write };
        regs.c.write(C::I2CEN::SET + C::ST::SET + direction);
    }

    /// Fails on a NACK or clock-stretch timeout flagged so far.
    fn check(&self, address: u8) -> Result<(), Error> {
        let status = self.registers.s.extract();
        if status.is_set(S::ERR) {
            Err(Error::Nack { address })
        } else if status.is_set(S::CLKT) {
            Err(Error::ClockStretchTimeout { address })
        } else {
            Ok(())
        }
    }

    /// Waits until `ready` holds for the status register, failing on NACK, clock-stretch
    /// timeout or the deadline (the status is read once more after the deadline passed).
    fn wait_until(
        &self,
        address: u8,
        waiting_for: &'static str,
        deadline: &Deadline,
        ready: impl Fn(LocalRegisterCopy<u32, S::Register>) -> bool,
    ) -> Result<(), Error> {
        loop {
            let expired = deadline.expired();
            self.check(address)?;
            if ready(self.registers.s.extract()) {
                return Ok(());
            }
            if expired {
                return Err(Error::Timeout { address, waiting_for });
            }
        }
    }

    fn send(&self, address: u8, group: &[Operation<'_>], deadline: &Deadline) -> Result<(), Error> {
        for operation in group {
            if let Operation::Write(bytes) = operation {
                for &byte in bytes.iter() {
                    self.wait_until(address, "room in the FIFO", deadline, |s| s.is_set(S::TXD))?;
                    self.registers.fifo.write(FIFO::DATA.val(byte as u32));
                }
            }
        }
        Ok(())
    }

    fn receive(&self, address: u8, group: &mut [Operation<'_>], deadline: &Deadline) -> Result<(), Error> {
        for operation in group.iter_mut() {
            if let Operation::Read(buffer) = operation {
                for slot in buffer.iter_mut() {
                    self.wait_until(address, "received data", deadline, |s| s.is_set(S::RXD))?;
                    *slot = self.registers.fifo.read(FIFO::DATA) as u8;
                }
            }
        }
        Ok(())
    }

    fn wait_done(&self, address: u8, deadline: &Deadline) -> Result<(), Error> {
        // DONE may be left over from a write that ended in a repeated START; the transfer is
        // over (STOP sent) only when TA has dropped too. Disabling the controller before
        // then could cut the STOP short.
        self.wait_until(address, "the end of the transfer", deadline, |s| s.is_set(S::DONE) && !s.is_set(S::TA))?;
        // A data byte refused at the very end shows up together with DONE.
        self.check(address)
    }

    /// Disables the controller (I2CEN off: no transfer starts), clears the FIFO and flags.
    fn idle(&self) {
        let regs = &*self.registers;
        regs.c.write(C::CLEAR::Fifo);
        regs.s.write(S::DONE::SET + S::ERR::SET + S::CLKT::SET);
    }
}

fn operation_len(operation: &Operation<'_>) -> usize {
    match operation {
        Operation::Read(buffer) => buffer.len(),
        Operation::Write(bytes) => bytes.len(),
    }
}

impl embedded_hal::i2c::ErrorType for Bsc {
    type Error = Error;
}

impl embedded_hal::i2c::I2c<SevenBitAddress> for Bsc {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Error> {
        self.run(address, operations)
    }
}

#[cfg(test)]
mod tests;
