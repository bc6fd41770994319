//! CDC-NCM, the network function (NCM 1.0): Ethernet frames carried in network transfer
//! blocks (NTBs) on a bulk pair, the class requests a host driver sends, and the link
//! notifications. Linux (`cdc_ncm`), macOS (since 10.15) and Windows 10 version 2004 and 11
//! (`UsbNcm`) drive it with their own drivers.
//!
//! Only 16-bit NTBs (NTB16) are offered. A block from the host is checked before any of it
//! is used: its header's signature, length and sequence, then every datagram pointer table
//! (NDP16) it chains to, bounded in number, and every datagram's index and length against
//! the block. A block whose transfer ends on a packet boundary without a zero-length packet
//! (Windows sends none when the block fills its last packet) is reassembled by the length
//! its header gives, so the next block's bytes are never taken for part of this one.
//!
//! To the host, frames go one block per transfer, as many frames as fit in the input size
//! the host chose.

use super::{descriptors, Answer, Controller, SetupPacket};
use crate::net::{Counters, NetError, MAX_FRAME};
use alloc::{collections::VecDeque, vec::Vec};

/// NTH16 signature "NCMH".
const NTH16_SIGNATURE: u32 = 0x484d_434e;
/// NDP16 signature without CRC, "NCM0".
const NDP16_SIGNATURE: u32 = 0x304d_434e;
/// NTH16 length.
const NTH16_LENGTH: usize = 12;
/// Largest block in either direction (the endpoint buffer of the controller).
pub const NTB_MAX: usize = 2048;
/// Datagram alignment the function uses and asks for (wNdpInDivisor / wNdpOutDivisor).
const DIVISOR: usize = 4;
/// NDP16 alignment (wNdpOutAlignment / wNdpInAlignment).
const NDP_ALIGNMENT: usize = 4;
/// Smallest Ethernet frame accepted from the host (a header).
const MIN_FRAME: usize = 14;
/// Most NDP16 tables followed in one block.
const MAX_NDPS: usize = 8;
/// Frames held in each direction before the oldest is dropped (receive) or the stack is told
/// to wait (transmit).
pub const QUEUE_FRAMES: usize = 16;

/// Class requests (NCM 1.0 table 6-2, CDC 1.2 table 19).
mod request {
    pub const SET_ETHERNET_PACKET_FILTER: u8 = 0x43;
    pub const GET_NTB_PARAMETERS: u8 = 0x80;
    pub const GET_NTB_FORMAT: u8 = 0x83;
    pub const SET_NTB_FORMAT: u8 = 0x84;
    pub const GET_NTB_INPUT_SIZE: u8 = 0x85;
    pub const SET_NTB_INPUT_SIZE: u8 = 0x86;
}

/// Why a block from the host was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// Shorter than its header, or the header's lengths point outside the block.
    Truncated,
    /// Not an NTH16 or NDP16 signature.
    Signature,
    /// The header's block length is out of range.
    BlockLength,
    /// A datagram pointer table is misplaced, too short, or chains in a loop.
    Table,
}

impl core::fmt::Display for BlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BlockError::Truncated => "NTB shorter than its header says",
            BlockError::Signature => "not an NTB16 (bad signature)",
            BlockError::BlockLength => "NTB block length out of range",
            BlockError::Table => "bad NTB datagram pointer table",
        })
    }
}

fn u16_at(block: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes([*block.get(at)?, *block.get(at + 1)?]) as usize)
}

fn u32_at(block: &[u8], at: usize) -> Option<u32> {
    let bytes = block.get(at..at + 4)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The block length an NTH16 at the start of `bytes` announces, once 12 bytes are there.
pub fn block_length(bytes: &[u8]) -> Result<Option<usize>, BlockError> {
    if bytes.len() < NTH16_LENGTH {
        return Ok(None);
    }
    if u32_at(bytes, 0) != Some(NTH16_SIGNATURE) || u16_at(bytes, 4) != Some(NTH16_LENGTH) {
        return Err(BlockError::Signature);
    }
    match u16_at(bytes, 8) {
        // 0 would mean "up to a short packet" only in NTB32's sense; NTB16 needs the length.
        Some(length) if (NTH16_LENGTH + 16..=NTB_MAX).contains(&length) => Ok(Some(length)),
        _ => Err(BlockError::BlockLength),
    }
}

/// Checks one NTB16 and gives the datagrams it carries, as ranges of `block`, to `each`;
/// datagrams of a length outside a frame's are skipped and counted in the result.
pub fn parse_block(block: &[u8], mut each: impl FnMut(&[u8])) -> Result<usize, BlockError> {
    let length = block_length(block)?.ok_or(BlockError::Truncated)?;
    let block = block.get(..length).ok_or(BlockError::Truncated)?;
    let mut ndp = u16_at(block, 10).ok_or(BlockError::Truncated)?;
    let mut skipped = 0;
    let mut seen = 0;
    while ndp != 0 {
        seen += 1;
        // Tables lie after the header, aligned, wholly in the block, and a chain is finite.
        if seen > MAX_NDPS || ndp < NTH16_LENGTH || ndp % NDP_ALIGNMENT != 0 {
            return Err(BlockError::Table);
        }
        if u32_at(block, ndp) != Some(NDP16_SIGNATURE) {
            return Err(BlockError::Signature);
        }
        let table_length = u16_at(block, ndp + 4).ok_or(BlockError::Truncated)?;
        if table_length < 16 || table_length % 4 != 0 || ndp + table_length > block.len() {
            return Err(BlockError::Table);
        }
        let next = u16_at(block, ndp + 6).ok_or(BlockError::Truncated)?;
        for entry in (ndp + 8..ndp + table_length).step_by(4) {
            let (Some(index), Some(len)) = (u16_at(block, entry), u16_at(block, entry + 2)) else {
                return Err(BlockError::Truncated);
            };
            if index == 0 || len == 0 {
                break; // the terminating null entry
            }
            match block.get(index..index + len) {
                Some(datagram) if (MIN_FRAME..=MAX_FRAME).contains(&len) && index >= NTH16_LENGTH => each(datagram),
                _ => skipped += 1,
            }
        }
        ndp = next;
    }
    Ok(skipped)
}

/// Builds one NTB16 carrying `frames` (each at most [`MAX_FRAME`]); the caller checks with
/// [`block_size`] that they fit.
pub fn build_block(sequence: u16, frames: &[&[u8]], out: &mut Vec<u8>) {
    out.clear();
    let table_length = (8 + 4 * (frames.len() + 1)).next_multiple_of(4).max(16);
    let first = (NTH16_LENGTH + table_length).next_multiple_of(DIVISOR);
    let mut entries = Vec::with_capacity(frames.len());
    let mut at = first;
    for frame in frames {
        entries.push((at, frame.len()));
        at = (at + frame.len()).next_multiple_of(DIVISOR);
    }
    let total = entries.last().map_or(first, |&(index, len)| index + len);
    out.resize(total, 0);
    out[0..4].copy_from_slice(&NTH16_SIGNATURE.to_le_bytes());
    out[4..6].copy_from_slice(&(NTH16_LENGTH as u16).to_le_bytes());
    out[6..8].copy_from_slice(&sequence.to_le_bytes());
    out[8..10].copy_from_slice(&(total as u16).to_le_bytes());
    out[10..12].copy_from_slice(&(NTH16_LENGTH as u16).to_le_bytes());
    let ndp = NTH16_LENGTH;
    out[ndp..ndp + 4].copy_from_slice(&NDP16_SIGNATURE.to_le_bytes());
    out[ndp + 4..ndp + 6].copy_from_slice(&(table_length as u16).to_le_bytes());
    for (i, ((index, len), frame)) in entries.iter().zip(frames).enumerate() {
        let entry = ndp + 8 + 4 * i;
        out[entry..entry + 2].copy_from_slice(&(*index as u16).to_le_bytes());
        out[entry + 2..entry + 4].copy_from_slice(&(*len as u16).to_le_bytes());
        out[*index..*index + len].copy_from_slice(frame);
    }
}

/// Bytes a block of frames of these lengths takes.
pub fn block_size(lengths: impl Iterator<Item = usize> + Clone) -> usize {
    let count = lengths.clone().count();
    let table_length = (8 + 4 * (count + 1)).next_multiple_of(4).max(16);
    let mut at = (NTH16_LENGTH + table_length).next_multiple_of(DIVISOR);
    let mut end = at;
    for len in lengths {
        end = at + len;
        at = end.next_multiple_of(DIVISOR);
    }
    end
}

/// GET_NTB_PARAMETERS' answer (NCM 1.0 table 6-3).
pub fn ntb_parameters() -> [u8; 28] {
    let mut out = [0u8; 28];
    out[0..2].copy_from_slice(&28u16.to_le_bytes());
    out[2..4].copy_from_slice(&1u16.to_le_bytes()); // NTB16 only
    out[4..8].copy_from_slice(&(NTB_MAX as u32).to_le_bytes()); // dwNtbInMaxSize
    out[8..10].copy_from_slice(&(DIVISOR as u16).to_le_bytes());
    out[10..12].copy_from_slice(&0u16.to_le_bytes()); // payload remainder
    out[12..14].copy_from_slice(&(NDP_ALIGNMENT as u16).to_le_bytes());
    out[16..20].copy_from_slice(&(NTB_MAX as u32).to_le_bytes()); // dwNtbOutMaxSize
    out[20..22].copy_from_slice(&(DIVISOR as u16).to_le_bytes());
    out[22..24].copy_from_slice(&0u16.to_le_bytes());
    out[24..26].copy_from_slice(&(NDP_ALIGNMENT as u16).to_le_bytes());
    out[26..28].copy_from_slice(&0u16.to_le_bytes()); // no limit on datagrams per block
    out
}

/// The notifications that tell the host the link is up: the speed, then the connection
/// (NCM 1.0 7.1; the order Linux and Windows expect).
pub fn link_notifications(up: bool, bits_per_second: u32) -> ([u8; 16], [u8; 8]) {
    let interface = descriptors::NCM_CONTROL;
    let mut speed = [0u8; 16];
    speed[..8].copy_from_slice(&[0xa1, 0x2a, 0, 0, interface, 0, 8, 0]);
    speed[8..12].copy_from_slice(&bits_per_second.to_le_bytes());
    speed[12..16].copy_from_slice(&bits_per_second.to_le_bytes());
    let connection = [0xa1, 0x00, up as u8, 0, interface, 0, 0, 0];
    (speed, connection)
}

/// Notification step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Notify {
    Idle,
    Speed,
    Connection,
}

/// The NCM function's state.
pub struct Ncm {
    host_mac: [u8; 6],
    board_mac: [u8; 6],
    /// The data interface's alternate setting 1 is selected: frames flow.
    active: bool,
    /// Largest block the host takes (SET_NTB_INPUT_SIZE), at most [`NTB_MAX`].
    input_size: usize,
    /// Bytes of the block being received (a block may take more than one transfer).
    partial: Vec<u8>,
    /// Frames from the host, for the network stack.
    rx: VecDeque<Vec<u8>>,
    /// Frames for the host.
    tx: VecDeque<Vec<u8>>,
    /// The block in flight to the host.
    block: Vec<u8>,
    sequence: u16,
    out_armed: bool,
    notify: Notify,
    /// Bit rate announced (the bus's).
    bit_rate: u32,
    counters: Counters,
    /// Blocks refused.
    pub bad_blocks: u64,
    /// The last refusal.
    pub last_error: Option<BlockError>,
}

impl Ncm {
    /// The function with the link's two MAC addresses (host side, board side).
    pub fn new(host_mac: [u8; 6], board_mac: [u8; 6]) -> Ncm {
        Ncm {
            host_mac,
            board_mac,
            active: false,
            input_size: NTB_MAX,
            partial: Vec::with_capacity(2 * NTB_MAX),
            rx: VecDeque::with_capacity(QUEUE_FRAMES),
            tx: VecDeque::with_capacity(QUEUE_FRAMES),
            block: Vec::with_capacity(NTB_MAX),
            sequence: 0,
            out_armed: false,
            notify: Notify::Idle,
            bit_rate: 480_000_000,
            counters: Counters::default(),
            bad_blocks: 0,
            last_error: None,
        }
    }

    /// The board's MAC address on the link.
    pub fn mac_address(&self) -> [u8; 6] {
        self.board_mac
    }

    /// The MAC address the host's interface takes.
    pub fn host_mac(&self) -> [u8; 6] {
        self.host_mac
    }

    /// Whether the host has the interface running.
    pub fn active(&self) -> bool {
        self.active
    }

    /// Frame counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Back to the unconfigured state (bus reset, unplug, SET_CONFIGURATION).
    pub fn reset(&mut self) {
        self.active = false;
        self.input_size = NTB_MAX;
        self.partial.clear();
        self.rx.clear();
        self.tx.clear();
        self.out_armed = false;
        self.notify = Notify::Idle;
    }

    /// The bus speed, for the speed the link reports.
    pub fn set_bit_rate(&mut self, bits_per_second: u32) {
        self.bit_rate = bits_per_second;
    }

    /// SET_INTERFACE on the data interface: alternate 1 starts the link, 0 stops it.
    pub fn select(&mut self, alternate: u16) -> bool {
        match alternate {
            0 => {
                let armed = self.out_armed;
                self.reset();
                // The OUT transfer armed earlier is still with the controller.
                self.out_armed = armed;
                true
            }
            1 => {
                self.active = true;
                self.notify = Notify::Speed;
                true
            }
            _ => false,
        }
    }

    /// A class request to the NCM communication interface.
    pub fn request(&mut self, setup: &SetupPacket) -> Answer {
        match (setup.request_type, setup.request) {
            (0xa1, request::GET_NTB_PARAMETERS) => Answer::In(ntb_parameters().to_vec()),
            (0xa1, request::GET_NTB_FORMAT) => Answer::In(0u16.to_le_bytes().to_vec()),
            (0x21, request::SET_NTB_FORMAT) if setup.value == 0 => Answer::Status,
            (0xa1, request::GET_NTB_INPUT_SIZE) => Answer::In((self.input_size as u32).to_le_bytes().to_vec()),
            (0x21, request::SET_NTB_INPUT_SIZE) if setup.length == 4 || setup.length == 8 => {
                Answer::Out(setup.length as usize)
            }
            (0x21, request::SET_ETHERNET_PACKET_FILTER) => Answer::Status,
            _ => Answer::Stall,
        }
    }

    /// The data stage of SET_NTB_INPUT_SIZE; whether it was accepted.
    pub fn control_data(&mut self, setup: &SetupPacket, data: &[u8]) -> bool {
        if setup.request != request::SET_NTB_INPUT_SIZE {
            return false;
        }
        match u32_at(data, 0) {
            // The spec's floor for dwNtbInMaxSize is 2048; a smaller one still holds a frame.
            Some(size) if size as usize >= MAX_FRAME + 32 => {
                self.input_size = (size as usize).min(NTB_MAX);
                true
            }
            _ => false,
        }
    }

    /// A finished OUT transfer on the bulk endpoint.
    pub fn received(&mut self, data: &[u8]) {
        self.out_armed = false;
        if !self.active {
            return;
        }
        self.partial.extend_from_slice(data);
        // Whole blocks out of what has arrived; a bad header drops everything buffered (the
        // next transfer starts a new block, as a host sends one block per transfer).
        loop {
            match block_length(&self.partial) {
                Ok(Some(length)) if self.partial.len() >= length => {
                    let mut frames = Vec::new();
                    let outcome = parse_block(&self.partial[..length], |datagram| frames.push(datagram.to_vec()));
                    match outcome {
                        Ok(skipped) => {
                            self.counters.dropped += skipped as u64;
                            for frame in frames {
                                self.counters.rx_frames += 1;
                                self.counters.rx_bytes += frame.len() as u64;
                                if self.rx.len() == QUEUE_FRAMES {
                                    self.rx.pop_front();
                                    self.counters.dropped += 1;
                                }
                                self.rx.push_back(frame);
                            }
                        }
                        Err(error) => self.refuse(error),
                    }
                    self.partial.drain(..length);
                }
                Ok(_) => {
                    // A transfer that ended before filling its buffer ended at a short (or
                    // zero-length) packet, which ends a block: what is still incomplete is lost.
                    if data.len() < NTB_MAX && !self.partial.is_empty() {
                        self.refuse(BlockError::Truncated);
                        self.partial.clear();
                    }
                    break;
                }
                Err(error) => {
                    self.refuse(error);
                    self.partial.clear();
                    break;
                }
            }
        }
    }

    fn refuse(&mut self, error: BlockError) {
        self.bad_blocks += 1;
        self.last_error = Some(error);
    }

    /// Whether frames from the host are waiting.
    pub fn has_frames(&self) -> bool {
        !self.rx.is_empty()
    }

    /// The next frame from the host, if any.
    pub fn receive(&mut self) -> Option<Vec<u8>> {
        self.rx.pop_front()
    }

    /// Queues a frame for the host.
    pub fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        if frame.len() < MIN_FRAME || frame.len() > MAX_FRAME {
            return Err(NetError::Size);
        }
        if !self.active {
            // Nobody listens: dropped like a frame on an unplugged cable.
            self.counters.dropped += 1;
            return Ok(());
        }
        if self.tx.len() == QUEUE_FRAMES {
            return Err(NetError::Busy);
        }
        self.tx.push_back(frame.to_vec());
        Ok(())
    }

    /// Moves data: arms the OUT endpoint, sends notifications and the next block.
    pub fn service(&mut self, controller: &mut dyn Controller) {
        if !self.active {
            return;
        }
        if !self.out_armed && controller.arm(descriptors::NCM_OUT, NTB_MAX).is_ok() {
            self.out_armed = true;
        }
        if !controller.busy(descriptors::NCM_NOTIFY) {
            let (speed, connection) = link_notifications(true, self.bit_rate);
            match self.notify {
                Notify::Speed if controller.write(descriptors::NCM_NOTIFY, &speed, false).is_ok() => {
                    self.notify = Notify::Connection;
                }
                Notify::Connection if controller.write(descriptors::NCM_NOTIFY, &connection, false).is_ok() => {
                    self.notify = Notify::Idle;
                }
                _ => {}
            }
        }
        if self.tx.is_empty() || controller.busy(descriptors::NCM_IN) {
            return;
        }
        let mut count = 0;
        while count < self.tx.len() && block_size(self.tx.iter().take(count + 1).map(Vec::len)) <= self.input_size {
            count += 1;
        }
        let frames: Vec<Vec<u8>> = self.tx.drain(..count.max(1)).collect();
        let slices: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        build_block(self.sequence, &slices, &mut self.block);
        // A block shorter than the input size ends with a short or zero-length packet; one
        // of exactly the input size needs none (NCM 1.0 3.2.2).
        let terminate = self.block.len() < self.input_size;
        match controller.write(descriptors::NCM_IN, &self.block, terminate) {
            Ok(()) => {
                self.sequence = self.sequence.wrapping_add(1);
                for frame in &frames {
                    self.counters.tx_frames += 1;
                    self.counters.tx_bytes += frame.len() as u64;
                }
            }
            Err(_) => self.counters.dropped += frames.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use testkit::Rng;

    #[test]
    fn built_blocks_parse_back_and_respect_the_size_they_announce() {
        let frames: std::vec::Vec<std::vec::Vec<u8>> = (0..3).map(|i| std::vec![i as u8; 60 + i * 7]).collect();
        let slices: std::vec::Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let mut block = Vec::new();
        build_block(5, &slices, &mut block);
        assert_eq!(block.len(), block_size(frames.iter().map(|f| f.len())));
        assert_eq!(block_length(&block), Ok(Some(block.len())));
        let mut got = std::vec::Vec::new();
        assert_eq!(parse_block(&block, |d| got.push(d.to_vec())), Ok(0));
        assert_eq!(got, frames);
    }

    #[test]
    fn hostile_blocks_are_refused_without_reading_outside_them() {
        // A table that points at itself loops forever in a naive parser.
        let mut block = Vec::new();
        build_block(0, &[&[1u8; 64]], &mut block);
        block[12 + 6..12 + 8].copy_from_slice(&12u16.to_le_bytes());
        assert_eq!(parse_block(&block, |_| {}), Err(BlockError::Table));
        // A datagram reaching past the block is skipped, not read.
        let mut block = Vec::new();
        build_block(0, &[&[1u8; 64]], &mut block);
        block[12 + 10..12 + 12].copy_from_slice(&2000u16.to_le_bytes());
        assert_eq!(parse_block(&block, |_| panic!("no datagram")), Ok(1));
        let mut rng = Rng::new(1);
        let mut seed = Vec::new();
        build_block(0, &[&[7u8; 100], &[8u8; 1514]], &mut seed);
        for _ in 0..50_000 {
            let mut block = seed.clone();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(block.len());
                block[at] = rng.byte();
            }
            block.truncate(rng.below(block.len() + 1));
            let _ = parse_block(&block, |d| assert!((MIN_FRAME..=MAX_FRAME).contains(&d.len())));
        }
    }
}
