//! A model of the GENET v5 and its PHY for the driver's host tests: the register block is RAM
//! and this model, run from the driver's clock (each deadline check is a moment where the
//! hardware acts), does what RAM cannot: MDIO transactions against a clause-22 PHY that
//! auto-negotiates with a configurable partner, the DMA engines' disabled status, the
//! transmit engine reading descriptors and buffers the driver filled, the receive engine
//! writing frames (after the destination filter) into the buffers of its ring, link loss.
//! It can also be made to misbehave: a DMA that never stops, a dead MDIO bus, a PHY whose
//! auto-negotiation restart never finishes.

extern crate std;

use super::{mii, Registers, DEFAULT_QUEUE};
use crate::mailbox::DmaCoherence;
use std::{boxed::Box, cell::RefCell, collections::VecDeque, thread_local, vec, vec::Vec};

/// Words of the register block.
pub const WORDS: usize = core::mem::size_of::<Registers>() / 4;
/// Bus address of the first DMA byte.
pub const BUS_BASE: u32 = 0x1000_0000;

const REVISION: usize = 0;
const UMAC_CMD: usize = 0x808 / 4;
const MDIO: usize = 0xe14 / 4;
const MDF_CONTROL: usize = 0xe50 / 4;
const MDF_ADDRESSES: usize = 0xe54 / 4;
const RX_DESCRIPTORS: usize = 0x2000 / 4;
const RX_DMA: usize = 0x2c00 / 4;
const TX_DESCRIPTORS: usize = 0x4000 / 4;
const TX_DMA: usize = 0x4c00 / 4;
/// Within a DMA engine: ring 16's registers and the engine's own.
const RING: usize = DEFAULT_QUEUE * 0x10;
const INDEX_A: usize = RING + 2;
const INDEX_B: usize = RING + 3;
const END_ADDRESS: usize = RING + 7;
const CONTROL: usize = 0x444 / 4;
const STATUS: usize = 0x448 / 4;

/// The link partner at the other end of the cable.
#[derive(Clone, Copy, Debug)]
pub struct Partner {
    /// Its ADVERTISE word (10/100 abilities).
    pub advertise: u16,
    /// Gigabit full (bit 11) / half (bit 10) as STAT1000 reports them.
    pub gigabit: u16,
}

impl Partner {
    /// A gigabit switch port.
    pub const GIGABIT: Partner = Partner { advertise: 0x05e1, gigabit: 0x0c00 };
    /// A 100 Mbit/s full-duplex port.
    pub const FAST: Partner = Partner { advertise: 0x0181, gigabit: 0 };
    /// An old 10 Mbit/s half-duplex hub.
    pub const HUB: Partner = Partner { advertise: 0x0021, gigabit: 0 };
}

/// The PHY.
pub struct Phy {
    /// MDIO address, or `None` for no PHY at all.
    pub address: Option<u8>,
    registers: [u16; 32],
    /// Ticks until a restart of auto-negotiation clears its bit, and until it completes.
    restart_ticks: u32,
    negotiate_ticks: u32,
    /// The cable is in.
    pub cable: bool,
    /// The other end.
    pub partner: Partner,
    /// The restart bit never clears.
    pub stuck: bool,
}

impl Phy {
    fn new() -> Phy {
        let mut registers = [0u16; 32];
        registers[mii::BMCR as usize] = 0x1140;
        registers[mii::BMSR as usize] = 0x7949;
        registers[mii::ID1 as usize] = 0x600d;
        registers[mii::ID2 as usize] = 0x84a2;
        Phy {
            address: Some(1),
            registers,
            restart_ticks: 0,
            negotiate_ticks: 0,
            cable: true,
            partner: Partner::GIGABIT,
            stuck: false,
        }
    }

    fn read(&mut self, register: u8) -> u16 {
        let value = self.registers[register as usize & 31];
        if register == mii::BMSR {
            // The latched-low link bit returns to the live state once read.
            self.registers[1] = (self.registers[1] & !(mii::LINK | mii::AN_COMPLETE)) | self.link_bits();
        }
        value
    }

    fn link_bits(&self) -> u16 {
        if self.cable && self.negotiated() {
            mii::LINK | mii::AN_COMPLETE
        } else {
            0
        }
    }

    fn negotiated(&self) -> bool {
        self.registers[mii::PARTNER as usize] != 0
    }

    fn write(&mut self, register: u8, value: u16) {
        let register = register as usize & 31;
        if register == mii::BMCR as usize && value & mii::RESTART_AN != 0 {
            self.restart_ticks = 3;
            self.negotiate_ticks = 40;
            self.registers[mii::PARTNER as usize] = 0;
            self.registers[mii::STAT1000 as usize] = 0;
            self.registers[1] &= !(mii::LINK | mii::AN_COMPLETE);
        }
        self.registers[register] = value;
    }

    fn tick(&mut self) {
        if self.restart_ticks > 0 && !self.stuck {
            self.restart_ticks -= 1;
            if self.restart_ticks == 0 {
                self.registers[0] &= !mii::RESTART_AN;
            }
        }
        if self.negotiate_ticks > 0 && self.cable {
            self.negotiate_ticks -= 1;
            if self.negotiate_ticks == 0 {
                self.registers[mii::PARTNER as usize] = self.partner.advertise | 0x4000;
                self.registers[mii::STAT1000 as usize] = self.partner.gigabit;
                self.registers[1] |= mii::LINK | mii::AN_COMPLETE;
            }
        }
    }

    /// Pulls the cable: the link drops (and its bit stays low until read).
    pub fn unplug(&mut self) {
        self.cable = false;
        self.registers[1] &= !(mii::LINK | mii::AN_COMPLETE);
        self.registers[mii::PARTNER as usize] = 0;
    }

    /// Plugs it back: the PHY negotiates again.
    pub fn plug(&mut self) {
        self.cable = true;
        self.negotiate_ticks = 40;
    }
}

/// The controller's state besides its registers.
pub struct Model {
    regs: *mut u32,
    dma: *mut u8,
    dma_len: usize,
    now: u64,
    /// The PHY.
    pub phy: Phy,
    /// The MDIO bus never finishes a transaction.
    pub mdio_dead: bool,
    /// The DMA engines never report disabled.
    pub dma_stuck: bool,
    /// The transmit engine takes nothing (a congested link).
    pub tx_paused: bool,
    /// Frames the transmit engine sent, as they left (no CRC; the MAC appends it).
    pub sent: Vec<Vec<u8>>,
    /// Whether each sent frame's descriptor asked for the CRC.
    pub crc_appended: Vec<bool>,
    /// Frames arriving from the wire, with extra status bits for the descriptor.
    pub wire: VecDeque<(Vec<u8>, u32)>,
    /// Frames the destination filter dropped.
    pub filtered: usize,
    rx_position: usize,
    tx_position: usize,
}

thread_local! {
    static MODEL: RefCell<Option<Model>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's model.
pub fn with_model<R>(f: impl FnOnce(&mut Model) -> R) -> R {
    MODEL.with(|m| f(m.borrow_mut().as_mut().expect("a model")))
}

impl Model {
    /// A register word.
    pub fn get(&self, word: usize) -> u32 {
        assert!(word < WORDS);
        // SAFETY: `word` < WORDS indexes the leaked register block.
        unsafe { self.regs.add(word).read_volatile() }
    }

    /// Sets a register word (the hardware's side of it).
    pub fn set(&mut self, word: usize, value: u32) {
        assert!(word < WORDS);
        // SAFETY: as in `get`.
        unsafe { self.regs.add(word).write_volatile(value) }
    }

    fn host(&self, bus: u32, len: usize) -> Option<*mut u8> {
        let offset = bus.checked_sub(BUS_BASE)? as usize;
        (offset + len <= self.dma_len).then(|| {
            // SAFETY: `offset + len` ≤ the DMA region's length (checked).
            unsafe { self.dma.add(offset) }
        })
    }

    fn ring_size(&self, engine: usize) -> usize {
        (self.get(engine + END_ADDRESS) as usize + 1) / 3
    }

    fn mdio(&mut self) {
        let command = self.get(MDIO);
        if command & (1 << 29) == 0 || self.mdio_dead {
            return;
        }
        let operation = (command >> 26) & 3;
        let address = ((command >> 21) & 31) as u8;
        let register = ((command >> 16) & 31) as u8;
        let mut result = command & !((1 << 29) | (1 << 28) | 0xffff);
        if self.phy.address == Some(address) {
            match operation {
                2 => result |= self.phy.read(register) as u32,
                1 => self.phy.write(register, command as u16),
                _ => {}
            }
        } else {
            result |= 1 << 28;
        }
        self.set(MDIO, result);
    }

    fn filter_passes(&self, frame: &[u8]) -> bool {
        if self.get(UMAC_CMD) & (1 << 4) != 0 {
            return true;
        }
        let enabled = self.get(MDF_CONTROL);
        (0..17).any(|n| {
            if enabled & (1 << (16 - n)) == 0 {
                return false;
            }
            let high = self.get(MDF_ADDRESSES + 2 * n).to_be_bytes();
            let low = self.get(MDF_ADDRESSES + 2 * n + 1).to_be_bytes();
            frame[..6] == [high[2], high[3], low[0], low[1], low[2], low[3]]
        })
    }

    fn transmit(&mut self) {
        let control = self.get(TX_DMA + CONTROL);
        if control & 1 == 0 || control & (1 << 17) == 0 || self.tx_paused || self.get(UMAC_CMD) & 1 == 0 {
            return;
        }
        let size = self.ring_size(TX_DMA).max(1);
        let producer = self.get(TX_DMA + INDEX_B) & 0xffff;
        let mut consumer = self.get(TX_DMA + INDEX_A) & 0xffff;
        while consumer != producer {
            let descriptor = TX_DESCRIPTORS + self.tx_position * 3;
            let status = self.get(descriptor);
            let length = ((status >> 16) & 0xfff) as usize;
            assert_eq!(status & 0x6000, 0x6000, "one buffer per frame (SOP and EOP)");
            assert_eq!(self.get(descriptor + 2), 0, "buffers below 4 GiB");
            let source = self.host(self.get(descriptor + 1), length).expect("a transmit buffer inside the DMA region");
            // SAFETY: `source..source + length` lies in the DMA region (checked by `host`).
            let frame = unsafe { core::slice::from_raw_parts(source, length) }.to_vec();
            self.sent.push(frame);
            self.crc_appended.push(status & 0x40 != 0);
            consumer = (consumer + 1) & 0xffff;
            self.tx_position = (self.tx_position + 1) % size;
        }
        let word = self.get(TX_DMA + INDEX_A) & !0xffff;
        self.set(TX_DMA + INDEX_A, word | consumer);
    }

    fn receive(&mut self) {
        let control = self.get(RX_DMA + CONTROL);
        let running = control & 1 != 0 && control & (1 << 17) != 0 && self.get(UMAC_CMD) & 2 != 0;
        if !running || !self.phy.cable {
            return;
        }
        let size = self.ring_size(RX_DMA).max(1);
        loop {
            let producer = self.get(RX_DMA + INDEX_A) & 0xffff;
            let consumer = self.get(RX_DMA + INDEX_B) & 0xffff;
            if (producer.wrapping_sub(consumer) & 0xffff) as usize >= size {
                return; // the ring is full: frames wait (a real MAC would drop them)
            }
            let Some((frame, extra)) = self.wire.pop_front() else { return };
            if !self.filter_passes(&frame) {
                self.filtered += 1;
                continue;
            }
            let descriptor = RX_DESCRIPTORS + self.rx_position * 3;
            let length = frame.len() + 2;
            let target = self.host(self.get(descriptor + 1), length.min(2048)).expect("a receive buffer");
            // SAFETY: the buffer lies in the DMA region (checked by `host`).
            let buffer = unsafe { core::slice::from_raw_parts_mut(target, length.min(2048)) };
            buffer[..2].fill(0);
            let n = frame.len().min(2046);
            buffer[2..2 + n].copy_from_slice(&frame[..n]);
            self.set(descriptor, ((length as u32 & 0xfff) << 16) | 0x6000 | extra);
            self.rx_position = (self.rx_position + 1) % size;
            self.set(RX_DMA + INDEX_A, (producer + 1) & 0xffff);
        }
    }

    /// One step of the hardware.
    pub fn tick(&mut self) {
        self.now += 10;
        self.mdio();
        self.phy.tick();
        for engine in [TX_DMA, RX_DMA] {
            let enabled = self.get(engine + CONTROL) & 1 != 0;
            let disabled = !enabled && !self.dma_stuck;
            self.set(engine + STATUS, disabled as u32);
        }
        self.transmit();
        self.receive();
    }

    /// Frames sent since the last call.
    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        self.crc_appended.clear();
        core::mem::take(&mut self.sent)
    }
}

/// The driver's clock: every call is a step of the hardware.
pub fn now() -> u64 {
    MODEL.with(|m| match m.borrow_mut().as_mut() {
        Some(model) => {
            model.tick();
            model.now
        }
        None => 0,
    })
}

struct TestCoherence;

thread_local! {
    static DMA_START: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

impl DmaCoherence for TestCoherence {
    fn clean(&self, _: usize, _: usize) {}
    fn invalidate(&self, _: usize, _: usize) {}
    fn bus_address(&self, addr: usize) -> u32 {
        BUS_BASE + (addr - DMA_START.with(|s| s.get())) as u32
    }
}

static COHERENCE: TestCoherence = TestCoherence;

/// A fresh model on this thread and the driver over it; `revision` is what the block
/// reports (0x0600_0000 for a GENET v5).
pub fn controller(revision: u32) -> Result<super::Genet, super::Error> {
    let regs: &'static mut [u32] = Box::leak(vec![0u32; WORDS].into_boxed_slice());
    regs[REVISION] = revision;
    // Indices the hardware does not reset (the driver must align on them).
    regs[RX_DMA + INDEX_A] = 0x1234;
    regs[TX_DMA + INDEX_A] = 0x0042;
    let dma: &'static mut [u8] = Box::leak(vec![0u8; super::DMA_BYTES].into_boxed_slice());
    let skip = dma.as_ptr().align_offset(64);
    DMA_START.with(|s| s.set(dma.as_ptr() as usize + skip));
    let model = Model {
        regs: regs.as_mut_ptr(),
        // SAFETY: `skip` < 64 < the region's length.
        dma: unsafe { dma.as_mut_ptr().add(skip) },
        dma_len: dma.len() - skip,
        now: 0,
        phy: Phy::new(),
        mdio_dead: false,
        dma_stuck: false,
        tx_paused: false,
        sent: Vec::new(),
        crc_appended: Vec::new(),
        wire: VecDeque::new(),
        filtered: 0,
        rx_position: 0,
        tx_position: 0,
    };
    let base = regs.as_mut_ptr() as usize;
    MODEL.with(|m| *m.borrow_mut() = Some(model));
    // SAFETY: `base` is the leaked register block, which lives for the rest of the test
    // process; `dma` is leaked too and translated by `COHERENCE`.
    unsafe { super::Genet::new(base, dma, &COHERENCE, now) }
}
