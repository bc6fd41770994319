//! CDC-ACM, the serial function (PSTN 1.2): the console as `/dev/ttyACM0` on Linux,
//! `/dev/cu.usbmodem…` on macOS and a COM port on Windows (usbser), with no driver to install.
//!
//! The line coding is kept and reported back but changes nothing (there is no UART behind
//! it); the DTR line tells whether a program on the host has the port open. Output goes
//! through a bounded ring that drops its oldest bytes when the host does not read, so a
//! console with nobody attached never blocks the kernel; input is taken only while there is
//! room for it (the host is held off with NAKs otherwise).

use super::{descriptors, Answer, Controller, SetupPacket};
use alloc::{collections::VecDeque, vec::Vec};

/// Output bytes kept for the host.
pub const TX_RING: usize = 16 * 1024;
/// Input bytes kept for the console.
pub const RX_RING: usize = 4 * 1024;
/// Most bytes sent in one IN transfer.
const TX_CHUNK: usize = 2048;

mod request {
    pub const SET_LINE_CODING: u8 = 0x20;
    pub const GET_LINE_CODING: u8 = 0x21;
    pub const SET_CONTROL_LINE_STATE: u8 = 0x22;
    pub const SEND_BREAK: u8 = 0x23;
}

/// Appends `bytes` to `queue`, dropping its oldest bytes (and those of `bytes` beyond
/// `capacity`) so it never holds more than `capacity`; returns how many were dropped.
pub fn push_dropping_oldest(queue: &mut VecDeque<u8>, bytes: &[u8], capacity: usize) -> usize {
    let skipped = bytes.len().saturating_sub(capacity);
    let bytes = &bytes[skipped..];
    let over = (queue.len() + bytes.len()).saturating_sub(capacity);
    queue.drain(..over);
    queue.extend(bytes);
    skipped + over
}

/// The line coding (PSTN 1.2 table 17): rate, stop bits, parity, data bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineCoding {
    /// Bits per second.
    pub rate: u32,
    /// 0: 1 stop bit, 1: 1.5, 2: 2.
    pub stop_bits: u8,
    /// 0 none, 1 odd, 2 even, 3 mark, 4 space.
    pub parity: u8,
    /// 5, 6, 7, 8 or 16.
    pub data_bits: u8,
}

impl LineCoding {
    /// 115200 8N1, the UART's.
    pub const DEFAULT: LineCoding = LineCoding { rate: 115_200, stop_bits: 0, parity: 0, data_bits: 8 };

    /// The 7-byte wire form.
    pub fn bytes(&self) -> [u8; 7] {
        let r = self.rate.to_le_bytes();
        [r[0], r[1], r[2], r[3], self.stop_bits, self.parity, self.data_bits]
    }

    /// Parses and checks a SET_LINE_CODING data stage.
    pub fn parse(data: &[u8]) -> Option<LineCoding> {
        let bytes: &[u8; 7] = data.get(..7)?.try_into().ok()?;
        let coding = LineCoding {
            rate: u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            stop_bits: bytes[4],
            parity: bytes[5],
            data_bits: bytes[6],
        };
        let valid =
            coding.rate > 0 && coding.stop_bits <= 2 && coding.parity <= 4 && matches!(coding.data_bits, 5..=8 | 16);
        valid.then_some(coding)
    }
}

/// The ACM function's state.
pub struct Acm {
    coding: LineCoding,
    /// DTR and RTS as the host last set them.
    lines: u16,
    configured: bool,
    tx: VecDeque<u8>,
    rx: VecDeque<u8>,
    chunk: Vec<u8>,
    out_armed: bool,
    packet: usize,
    /// Output bytes dropped because the host did not read them in time.
    pub dropped: u64,
}

impl Default for Acm {
    fn default() -> Self {
        Acm::new()
    }
}

impl Acm {
    /// The function, unconfigured.
    pub fn new() -> Acm {
        Acm {
            coding: LineCoding::DEFAULT,
            lines: 0,
            configured: false,
            tx: VecDeque::with_capacity(TX_RING),
            rx: VecDeque::with_capacity(RX_RING),
            chunk: Vec::with_capacity(TX_CHUNK),
            out_armed: false,
            packet: 64,
            dropped: 0,
        }
    }

    /// The configuration was selected at a bulk packet size of `packet`.
    pub fn configure(&mut self, packet: usize) {
        self.configured = true;
        self.packet = packet;
        self.out_armed = false;
    }

    /// Back to the unconfigured state (bus reset, unplug). Output still waiting is kept for
    /// the next connection; it is the console's recent past.
    pub fn reset(&mut self) {
        self.configured = false;
        self.lines = 0;
        self.out_armed = false;
        self.rx.clear();
    }

    /// Whether a program on the host has the port open (DTR set).
    pub fn open(&self) -> bool {
        self.lines & 1 != 0
    }

    /// The line coding the host set.
    pub fn coding(&self) -> LineCoding {
        self.coding
    }

    /// A class request to the ACM communication interface.
    pub fn request(&mut self, setup: &SetupPacket) -> Answer {
        match (setup.request_type, setup.request) {
            (0x21, request::SET_LINE_CODING) if setup.length >= 7 => Answer::Out(setup.length as usize),
            (0xa1, request::GET_LINE_CODING) => Answer::In(self.coding.bytes().to_vec()),
            (0x21, request::SET_CONTROL_LINE_STATE) => {
                self.lines = setup.value & 3;
                Answer::Status
            }
            (0x21, request::SEND_BREAK) => Answer::Status,
            _ => Answer::Stall,
        }
    }

    /// The data stage of SET_LINE_CODING; whether it was accepted.
    pub fn control_data(&mut self, setup: &SetupPacket, data: &[u8]) -> bool {
        if setup.request != request::SET_LINE_CODING {
            return false;
        }
        match LineCoding::parse(data) {
            Some(coding) => {
                self.coding = coding;
                true
            }
            None => false,
        }
    }

    /// Console output for the host; the oldest bytes go when the ring is full.
    pub fn write(&mut self, bytes: &[u8]) {
        self.dropped += push_dropping_oldest(&mut self.tx, bytes, TX_RING) as u64;
    }

    /// Bytes the host typed, oldest first, up to `out.len()`.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.rx.len());
        for (slot, byte) in out.iter_mut().zip(self.rx.drain(..n)) {
            *slot = byte;
        }
        n
    }

    /// A finished OUT transfer: the host's bytes.
    pub fn received(&mut self, data: &[u8]) {
        self.out_armed = false;
        let room = RX_RING - self.rx.len();
        self.rx.extend(&data[..data.len().min(room)]);
    }

    /// Moves data: arms the OUT endpoint while input has room, sends waiting output.
    pub fn service(&mut self, controller: &mut dyn Controller) {
        if !self.configured {
            return;
        }
        if !self.out_armed
            && RX_RING - self.rx.len() >= self.packet
            && controller.arm(descriptors::ACM_OUT, self.packet).is_ok()
        {
            self.out_armed = true;
        }
        if self.tx.is_empty() || controller.busy(descriptors::ACM_IN) {
            return;
        }
        let n = self.tx.len().min(TX_CHUNK);
        self.chunk.clear();
        self.chunk.extend(self.tx.iter().take(n));
        if controller.write(descriptors::ACM_IN, &self.chunk, true).is_ok() {
            self.tx.drain(..n);
        }
    }
}
