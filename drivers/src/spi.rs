//! SPI0 master, polled, implementing embedded-hal 1.0 `SpiBus` and `SpiDevice`.
//!
//! Reference: "BCM2835 ARM Peripherals" section 10 (SPI0 at peripheral offset 0x20_4000;
//! the BCM2711 has it at the same offset). Polled mode, section 10.6.1: set the chip select,
//! clock polarity and phase with the FIFOs cleared, set TA (the controller asserts the chip
//! select), then write bytes to the FIFO while TXD and read the same number back while RXD,
//! and wait for DONE before clearing TA (which releases the chip select).
//!
//! The controller drives its chip-select lines itself while TA is set. So each `SpiBus`
//! call is one transfer framed by the configured chip select, and `SpiDevice::transaction`
//! keeps it asserted across all its operations — the trait device drivers usually take.
//! At most [`IN_FLIGHT`] bytes are written ahead of the ones read back, so the 16-entry
//! receive FIFO never overflows. Every wait has a [`Deadline`].

use crate::{
    deadline::{Deadline, Micros},
    mmio::Mmio,
};
use embedded_hal::spi::{ErrorKind, Mode, Operation, Phase, Polarity};
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::ReadWrite,
};

register_bitfields! {u32,
    /// Control and status.
    CS [
        /// RX FIFO full.
        RXF OFFSET(20) NUMBITS(1) [],
        /// RX FIFO needs reading (3/4 full).
        RXR OFFSET(19) NUMBITS(1) [],
        /// TX FIFO can accept data.
        TXD OFFSET(18) NUMBITS(1) [],
        /// RX FIFO contains data.
        RXD OFFSET(17) NUMBITS(1) [],
        /// Transfer done (TX FIFO empty and shifted out).
        DONE OFFSET(16) NUMBITS(1) [],
        /// Read enable (bidirectional mode only).
        REN OFFSET(12) NUMBITS(1) [],
        /// Transfer active: the chip select is asserted.
        TA OFFSET(7) NUMBITS(1) [],
        /// Chip-select polarity (all lines).
        CSPOL OFFSET(6) NUMBITS(1) [ ActiveLow = 0, ActiveHigh = 1 ],
        /// Clear FIFOs (one-shot).
        CLEAR OFFSET(4) NUMBITS(2) [ None = 0b00, Both = 0b11 ],
        /// Clock polarity: idle level of SCLK.
        CPOL OFFSET(3) NUMBITS(1) [ IdleLow = 0, IdleHigh = 1 ],
        /// Clock phase: which edge samples.
        CPHA OFFSET(2) NUMBITS(1) [ FirstEdge = 0, SecondEdge = 1 ],
        /// Chip select line (CE0, CE1, CE2).
        CS OFFSET(0) NUMBITS(2) []
    ],
    /// Data FIFO.
    FIFO [ DATA OFFSET(0) NUMBITS(8) [] ],
    /// Clock divider: SCLK = core clock / CDIV (even; 0 means 65536).
    CLK [ CDIV OFFSET(0) NUMBITS(16) [] ],
    /// Data length (DMA mode only).
    DLEN [ LEN OFFSET(0) NUMBITS(16) [] ]
}

register_structs! {
    /// SPI0 register block.
    pub Registers {
        (0x00 => cs: ReadWrite<u32, CS::Register>),
        (0x04 => fifo: ReadWrite<u32, FIFO::Register>),
        (0x08 => clk: ReadWrite<u32, CLK::Register>),
        (0x0c => dlen: ReadWrite<u32, DLEN::Register>),
        (0x10 => ltoh: ReadWrite<u32>),
        (0x14 => dc: ReadWrite<u32>),
        (0x18 => @END),
    }
}

/// Bytes written ahead of those read back (the FIFOs hold 16 entries each).
pub const IN_FLIGHT: usize = 16;

/// Chip-select lines the header brings out (CE0 on GPIO 8, CE1 on GPIO 7).
pub const CHIP_SELECTS: u8 = 2;

/// Time every transfer is allowed on top of its bytes.
const BASE_TIMEOUT_US: u64 = 25_000;

/// SPI errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The controller did not move the data within the deadline (controller absent or its
    /// clock stopped). Retrying rarely helps.
    Timeout {
        /// What it was waiting for.
        waiting_for: &'static str,
    },
    /// No such chip-select line on the header.
    InvalidChipSelect(u8),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Timeout { waiting_for } => write!(f, "SPI transfer timed out waiting for {waiting_for}"),
            Self::InvalidChipSelect(line) => write!(f, "chip select {line} does not exist (0 or 1)"),
        }
    }
}

impl embedded_hal::spi::Error for Error {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// Clock divider for `hz` from `core_hz`, rounded up to an even number so SCLK never runs
/// faster than asked.
pub fn divider(core_hz: u32, hz: u32) -> u32 {
    let div = core_hz.div_ceil(hz.max(1)).clamp(2, 0xfffe);
    div + (div & 1)
}

/// The bytes of one exchange: separate read and write buffers, or one buffer in place.
enum Buffers<'a> {
    Split { read: &'a mut [u8], write: &'a [u8] },
    InPlace(&'a mut [u8]),
}

impl Buffers<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Split { read, write } => read.len().max(write.len()),
            Self::InPlace(words) => words.len(),
        }
    }

    /// The byte to send at `index` (0 past the end of a shorter write buffer).
    fn outgoing(&self, index: usize) -> u8 {
        match self {
            Self::Split { write, .. } => write.get(index).copied().unwrap_or(0),
            Self::InPlace(words) => words[index],
        }
    }

    /// Stores the byte received at `index` (dropped past the end of a shorter read buffer).
    fn incoming(&mut self, index: usize, byte: u8) {
        match self {
            Self::Split { read, .. } => {
                if let Some(slot) = read.get_mut(index) {
                    *slot = byte;
                }
            }
            Self::InPlace(words) => words[index] = byte,
        }
    }
}

/// SPI0.
pub struct Spi {
    registers: Mmio<Registers>,
    clock: Micros,
    chip_select: u8,
    mode: Mode,
    bus_hz: u32,
}

impl Spi {
    /// Creates the driver (CE0, mode 0, clock unset: call [`Spi::configure`]).
    ///
    /// # Safety
    /// `base` must be the mapped SPI0 register block, owned by this driver.
    pub const unsafe fn new(base: usize, clock: Micros) -> Self {
        // SAFETY: forwarded from the caller's contract.
        let registers = unsafe { Mmio::new(base) };
        Self { registers, clock, chip_select: 0, mode: embedded_hal::spi::MODE_0, bus_hz: 0 }
    }

    /// Selects the chip-select line, the mode and the clock (`hz` from the VPU core clock
    /// `core_hz`) for the following transfers. Returns the clock actually set.
    pub fn configure(&mut self, core_hz: u32, chip_select: u8, mode: Mode, hz: u32) -> Result<u32, Error> {
        if chip_select >= CHIP_SELECTS {
            return Err(Error::InvalidChipSelect(chip_select));
        }
        let div = divider(core_hz, hz);
        self.registers.clk.write(CLK::CDIV.val(div));
        self.chip_select = chip_select;
        self.mode = mode;
        self.bus_hz = core_hz / div;
        Ok(self.bus_hz)
    }

    /// One full-duplex transfer of `max(read.len(), write.len())` bytes with the chip select
    /// asserted throughout; a shorter `write` is padded with zeros, extra received bytes
    /// are dropped.
    pub fn transfer_bytes(&mut self, read: &mut [u8], write: &[u8]) -> Result<(), Error> {
        self.framed(|spi| spi.exchange(Buffers::Split { read, write }))
    }

    /// Runs `body` with the chip select asserted, and always releases it.
    fn framed(&mut self, body: impl FnOnce(&Self) -> Result<(), Error>) -> Result<(), Error> {
        self.begin();
        let result = body(self).and_then(|()| self.wait_done());
        self.end();
        result
    }

    fn config_fields(&self) -> tock_registers::fields::FieldValue<u32, CS::Register> {
        let cpol = if self.mode.polarity == Polarity::IdleHigh { CS::CPOL::IdleHigh } else { CS::CPOL::IdleLow };
        let cpha = if self.mode.phase == Phase::CaptureOnSecondTransition {
            CS::CPHA::SecondEdge
        } else {
            CS::CPHA::FirstEdge
        };
        CS::CS.val(self.chip_select as u32) + cpol + cpha + CS::CSPOL::ActiveLow
    }

    fn begin(&self) {
        self.registers.cs.write(self.config_fields() + CS::CLEAR::Both);
        self.registers.cs.write(self.config_fields() + CS::TA::SET);
    }

    fn end(&self) {
        self.registers.cs.write(self.config_fields() + CS::CLEAR::Both);
    }

    /// The deadline for `len` bytes: eight clocks each, four times over, plus a base.
    fn deadline(&self, len: usize) -> Deadline {
        let per_byte_us = 32_000_000 / self.bus_hz.max(1) as u64 + 1;
        Deadline::after(self.clock, BASE_TIMEOUT_US + per_byte_us * len as u64)
    }

    fn exchange(&self, mut buffers: Buffers<'_>) -> Result<(), Error> {
        let len = buffers.len();
        let deadline = self.deadline(len);
        let (mut sent, mut received) = (0, 0);
        while received < len {
            let expired = deadline.expired();
            let status = self.registers.cs.extract();
            let mut progress = false;
            // Read before writing: a byte is only sent once there is room to receive it.
            if status.is_set(CS::RXD) {
                buffers.incoming(received, self.registers.fifo.read(FIFO::DATA) as u8);
                received += 1;
                progress = true;
            }
            if sent < len && sent - received < IN_FLIGHT && status.is_set(CS::TXD) {
                self.registers.fifo.write(FIFO::DATA.val(buffers.outgoing(sent) as u32));
                sent += 1;
                progress = true;
            }
            if expired && !progress {
                return Err(Error::Timeout {
                    waiting_for: if sent < len { "room in the FIFO" } else { "received data" },
                });
            }
        }
        Ok(())
    }

    fn wait_done(&self) -> Result<(), Error> {
        let deadline = self.deadline(IN_FLIGHT);
        loop {
            let expired = deadline.expired();
            if self.registers.cs.is_set(CS::DONE) {
                return Ok(());
            }
            if expired {
                return Err(Error::Timeout { waiting_for: "the end of the transfer" });
            }
        }
    }

    fn delay_ns(&self, ns: u32) {
        let deadline = Deadline::after(self.clock, (ns as u64).div_ceil(1000));
        while !deadline.expired() {}
    }
}

impl embedded_hal::spi::ErrorType for Spi {
    type Error = Error;
}

/// Each call is one transfer framed by the configured chip select (see the module doc).
impl embedded_hal::spi::SpiBus<u8> for Spi {
    fn read(&mut self, words: &mut [u8]) -> Result<(), Error> {
        self.transfer_bytes(words, &[])
    }

    fn write(&mut self, words: &[u8]) -> Result<(), Error> {
        self.transfer_bytes(&mut [], words)
    }

    fn transfer(&mut self, read: &mut [u8], write: &[u8]) -> Result<(), Error> {
        self.transfer_bytes(read, write)
    }

    fn transfer_in_place(&mut self, words: &mut [u8]) -> Result<(), Error> {
        self.framed(|spi| spi.exchange(Buffers::InPlace(words)))
    }

    fn flush(&mut self) -> Result<(), Error> {
        Ok(()) // every call waits for DONE before it returns
    }
}

/// The configured chip-select line as a device: asserted across the whole transaction.
impl embedded_hal::spi::SpiDevice<u8> for Spi {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Error> {
        self.framed(|spi| {
            for operation in operations.iter_mut() {
                match operation {
                    Operation::Read(words) => spi.exchange(Buffers::Split { read: words, write: &[] })?,
                    Operation::Write(words) => spi.exchange(Buffers::Split { read: &mut [], write: words })?,
                    Operation::Transfer(read, write) => spi.exchange(Buffers::Split { read, write })?,
                    Operation::TransferInPlace(words) => spi.exchange(Buffers::InPlace(words))?,
                    Operation::DelayNs(ns) => {
                        spi.wait_done()?;
                        spi.delay_ns(*ns);
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
