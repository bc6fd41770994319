//! VideoCore mailbox property interface (channel 8).
//!
//! Reference: the Raspberry Pi firmware wiki "Mailbox property interface". A request is a
//! 16-byte-aligned buffer of 32-bit words: total size, request code, a list of tags
//! (id, value buffer size, request/response size, value words), an end tag. The GPU writes
//! the response into the same buffer. The buffer lives in cacheable RAM, so the caller's
//! [`DmaCoherence`] cleans it before the GPU reads it and invalidates it afterwards.

use crate::{mmio::Mmio, POLL_LIMIT};
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, WriteOnly},
};

register_bitfields! {u32,
    /// Mailbox status.
    STATUS [
        /// The write mailbox is full.
        FULL OFFSET(31) NUMBITS(1) [],
        /// The read mailbox is empty.
        EMPTY OFFSET(30) NUMBITS(1) []
    ]
}

register_structs! {
    /// Mailbox 0 (read) and mailbox 1 (write) registers, peripheral offset 0xB880.
    pub Registers {
        (0x00 => read: ReadOnly<u32>),
        (0x04 => _reserved0),
        (0x18 => status: ReadOnly<u32, STATUS::Register>),
        (0x1c => _reserved1),
        (0x20 => write: WriteOnly<u32>),
        (0x24 => _reserved2),
        (0x38 => write_status: ReadOnly<u32, STATUS::Register>),
        (0x3c => @END),
    }
}

const CHANNEL_PROPERTY: u32 = 8;
const REQUEST: u32 = 0;
const RESPONSE_OK: u32 = 0x8000_0000;
const TAG_RESPONSE: u32 = 0x8000_0000;

/// Property tags used by the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Tag {
    /// Firmware revision (1 word out).
    FirmwareRevision = 0x0000_0001,
    /// Board model (1 word out).
    BoardModel = 0x0001_0001,
    /// Board revision code (1 word out).
    BoardRevision = 0x0001_0002,
    /// Board MAC address (6 bytes out, in 2 words).
    BoardMac = 0x0001_0003,
    /// Board serial number (2 words out).
    BoardSerial = 0x0001_0004,
    /// ARM memory base and size (2 words out).
    ArmMemory = 0x0001_0005,
    /// VideoCore memory base and size (2 words out).
    VcMemory = 0x0001_0006,
    /// Current clock rate (in: clock id; out: id, Hz).
    ClockRate = 0x0003_0002,
    /// Maximum clock rate (in: clock id; out: id, Hz).
    MaxClockRate = 0x0003_0004,
    /// Set clock rate (in: id, Hz, skip turbo; out: id, Hz).
    SetClockRate = 0x0003_8002,
    /// Set a device's power state (in: device id, bit 0 on and bit 1 wait; out: id, state).
    SetPowerState = 0x0002_8001,
}

/// Clock ids of the property interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Clock {
    /// EMMC (SD host) clock.
    Emmc = 1,
    /// PL011 reference clock.
    Uart = 2,
    /// ARM core clock.
    Arm = 3,
    /// VPU core clock (mini UART, I2C, SPI).
    Core = 4,
    /// EMMC2 (the BCM2711's SD card host) clock.
    Emmc2 = 12,
}

/// Cache maintenance and address translation for buffers shared with the GPU.
pub trait DmaCoherence {
    /// Writes dirty cache lines of `[addr, addr+len)` back to RAM.
    fn clean(&self, addr: usize, len: usize);
    /// Discards cached copies of `[addr, addr+len)` so the next read sees RAM.
    fn invalidate(&self, addr: usize, len: usize);
    /// Translates an ARM physical address to the GPU bus address the mailbox expects.
    fn bus_address(&self, addr: usize) -> u32;
}

/// Mailbox errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The mailbox did not accept or answer within the poll budget (firmware absent or hung).
    /// Retrying rarely helps.
    Timeout,
    /// The firmware answered with a failure code or did not set the tag's response bit
    /// (tag unsupported). Not retryable.
    Rejected(u32),
    /// The request does not fit the message buffer. A programming error.
    TooLarge,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Timeout => f.write_str("mailbox timeout (no answer from the VideoCore firmware)"),
            Self::Rejected(code) => write!(f, "firmware rejected the property request (code {code:#x})"),
            Self::TooLarge => f.write_str("property request larger than the message buffer"),
        }
    }
}

/// A 16-byte aligned property message buffer.
#[repr(C, align(16))]
pub struct Message {
    words: [u32; 36],
}

impl Message {
    /// An empty message buffer.
    pub const fn new() -> Self {
        Self { words: [0; 36] }
    }
}

impl Default for Message {
    fn default() -> Self {
        Self::new()
    }
}

/// The mailbox.
pub struct Mailbox {
    registers: Mmio<Registers>,
}

impl Mailbox {
    /// Creates the driver.
    ///
    /// # Safety
    /// `base` must be the mapped mailbox register block, owned by this driver.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Sends one tag with `input` words in a value buffer of `value_words` words, and returns
    /// the response value words (a slice of the message buffer).
    pub fn property<'m>(
        &self,
        dma: &dyn DmaCoherence,
        message: &'m mut Message,
        tag: Tag,
        input: &[u32],
        value_words: usize,
    ) -> Result<&'m [u32], Error> {
        let value_words = value_words.max(input.len());
        let total_words = 6 + value_words;
        if total_words > message.words.len() {
            return Err(Error::TooLarge);
        }
        let words = &mut message.words;
        words.fill(0);
        words[0] = (total_words * 4) as u32;
        words[1] = REQUEST;
        words[2] = tag as u32;
        words[3] = (value_words * 4) as u32;
        words[4] = 0;
        words[5..5 + input.len()].copy_from_slice(input);
        words[5 + value_words] = 0; // end tag

        let addr = words.as_ptr() as usize;
        let len = total_words * 4;
        dma.clean(addr, len);
        self.exchange(dma.bus_address(addr) | CHANNEL_PROPERTY)?;
        dma.invalidate(addr, len);

        let words = &message.words;
        if words[1] != RESPONSE_OK {
            return Err(Error::Rejected(words[1]));
        }
        if words[4] & TAG_RESPONSE == 0 {
            return Err(Error::Rejected(words[4]));
        }
        Ok(&words[5..5 + value_words])
    }

    fn exchange(&self, value: u32) -> Result<(), Error> {
        let regs = &*self.registers;
        let mut budget = POLL_LIMIT;
        while regs.write_status.is_set(STATUS::FULL) {
            budget = budget.checked_sub(1).ok_or(Error::Timeout)?;
        }
        regs.write.set(value);
        loop {
            while regs.status.is_set(STATUS::EMPTY) {
                budget = budget.checked_sub(1).ok_or(Error::Timeout)?;
            }
            if regs.read.get() == value {
                return Ok(());
            }
        }
    }
}
