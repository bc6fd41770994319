//! The Pi 4's Gigabit Ethernet: the BCM2711's GENET v5 MAC (UniMAC, DMA rings) with the
//! BCM54213PE PHY behind its MDIO bus, as an [`EthernetDevice`]. Polled; no interrupts.
//!
//! References (the block has no public datasheet): Linux
//! `drivers/net/ethernet/broadcom/genet/` and U-Boot's `drivers/net/bcmgenet.c` (register
//! offsets, the bring-up order), the IEEE 802.3 clause 22 MII registers for the PHY.
//!
//! # How it works
//! - Bring-up ([`Genet::init`]): checks the block is GENET v5 (major revision 6), resets the
//!   UniMAC with its loopback on (a stable receive clock), sets the MAC address and a
//!   destination filter (broadcast, our address, the mDNS groups), stops both DMA engines and
//!   waits (bounded) until they say so, lays out one receive ring of [`RX_DESCS`] and one
//!   transmit ring of [`TX_DESCS`] descriptors on the default queue (16), finds the PHY
//!   (address 1 on the Pi 4, else the first that answers), puts the RGMII block in external
//!   gigabit PHY mode with the MAC adding no clock delay (as U-Boot and Circle run the Pi 4:
//!   the board is `rgmii-rxid`, the PHY delays the receive clock) and restarts
//!   auto-negotiation advertising 10/100/1000. It does not wait for a link: that can take
//!   seconds and a cable may never come.
//! - Link: [`EthernetDevice::link_up`] and every receive (at most every 250 ms) read the PHY;
//!   when the link comes up the speed and duplex both ends share are programmed into the MAC
//!   and the RGMII block, and it starts; when it goes the MAC stops and frames are dropped
//!   until it is back.
//! - Receive: the hardware fills the ring's buffers and advances its producer index; each
//!   frame's status is checked (one buffer, no CRC, overrun or length error) and its length
//!   against [`MAX_FRAME`] before a byte is copied out, then the buffer goes back.
//! - Transmit: a frame is copied into the next free buffer (padded to 60 bytes; the MAC
//!   appends the CRC) and the producer index advanced; buffers come back as the consumer
//!   index passes them. A full ring is [`NetError::Busy`], never a wait.
//!
//! Every wait (MDIO, DMA stop, auto-negotiation restart) ends at a deadline with an error
//! that names the step.

use super::{Counters, EthernetDevice, NetError, MAX_FRAME};
use crate::{
    deadline::{Deadline, Micros},
    mailbox::DmaCoherence,
    mmio::Mmio,
};
use tock_registers::{
    interfaces::{ReadWriteable, Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

/// Receive descriptors (and 2 KiB buffers) used.
pub const RX_DESCS: usize = 64;
/// Transmit descriptors (and 2 KiB buffers) used.
pub const TX_DESCS: usize = 32;
/// Bytes of each DMA buffer.
pub const BUFFER_BYTES: usize = 2048;
/// Bytes of DMA memory [`Genet::new`] needs (64-byte aligned inside it).
pub const DMA_BYTES: usize = (RX_DESCS + TX_DESCS) * BUFFER_BYTES + 64;
/// Hardware descriptors per direction.
const HW_DESCS: usize = 256;
/// The default queue (the only one used).
const DEFAULT_QUEUE: usize = 16;
/// The hardware's 2-byte pad before each received frame (IP header alignment).
const RX_PAD: usize = 2;
/// Largest frame the MAC accepts: 1500 + header + VLAN tag + Broadcom tag + FCS + pad.
const MAX_MTU: u32 = 1536;
/// Shortest frame on the wire without its CRC.
const MIN_FRAME: usize = 60;
/// The Pi 4's PHY address.
const PI4_PHY: u8 = 1;
/// How often the link is read while frames are polled.
const LINK_POLL_US: u64 = 250_000;

register_bitfields! {u32,
    /// UniMAC command.
    UMAC_CMD [
        TX_EN OFFSET(0) NUMBITS(1) [],
        RX_EN OFFSET(1) NUMBITS(1) [],
        SPEED OFFSET(2) NUMBITS(2) [Mbps10 = 0, Mbps100 = 1, Mbps1000 = 2],
        PROMISCUOUS OFFSET(4) NUMBITS(1) [],
        CRC_FORWARD OFFSET(6) NUMBITS(1) [],
        RX_PAUSE_IGNORE OFFSET(8) NUMBITS(1) [],
        HALF_DUPLEX OFFSET(10) NUMBITS(1) [],
        SW_RESET OFFSET(13) NUMBITS(1) [],
        LOCAL_LOOPBACK OFFSET(15) NUMBITS(1) [],
        TX_PAUSE_IGNORE OFFSET(28) NUMBITS(1) []
    ],
    /// RGMII out-of-band control.
    RGMII_OOB [
        LINK OFFSET(4) NUMBITS(1) [],
        OOB_DISABLE OFFSET(5) NUMBITS(1) [],
        MODE_ENABLE OFFSET(6) NUMBITS(1) [],
        ID_MODE_DISABLE OFFSET(16) NUMBITS(1) []
    ],
    /// MDIO command.
    MDIO [
        DATA OFFSET(0) NUMBITS(16) [],
        REGISTER OFFSET(16) NUMBITS(5) [],
        PHY OFFSET(21) NUMBITS(5) [],
        OPERATION OFFSET(26) NUMBITS(2) [Write = 1, Read = 2],
        READ_FAIL OFFSET(28) NUMBITS(1) [],
        START_BUSY OFFSET(29) NUMBITS(1) []
    ],
    /// DMA engine control.
    DMA_CTRL [
        ENABLE OFFSET(0) NUMBITS(1) [],
        /// Ring enables, bit 1 + ring number.
        RINGS OFFSET(1) NUMBITS(17) []
    ],
    /// DMA engine status.
    DMA_STATUS [
        DISABLED OFFSET(0) NUMBITS(1) []
    ]
}

register_structs! {
    /// One DMA descriptor (in the block's own memory).
    pub Descriptor {
        (0x0 => length_status: ReadWrite<u32>),
        (0x4 => address_low: ReadWrite<u32>),
        (0x8 => address_high: ReadWrite<u32>),
        (0xc => @END),
    },

    /// A DMA ring's registers. Receive and transmit name the first and the index words
    /// differently: receive (write pointer, producer, consumer, read pointer), transmit
    /// (read pointer, consumer, producer, write pointer).
    pub Ring {
        (0x00 => pointer_a: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x08 => index_a: ReadWrite<u32>),
        (0x0c => index_b: ReadWrite<u32>),
        (0x10 => buffer_size: ReadWrite<u32>),
        (0x14 => start_address: ReadWrite<u32>),
        (0x18 => _reserved1),
        (0x1c => end_address: ReadWrite<u32>),
        (0x20 => _reserved2),
        (0x24 => done_threshold: ReadWrite<u32>),
        (0x28 => flow: ReadWrite<u32>),
        (0x2c => pointer_b: ReadWrite<u32>),
        (0x30 => _reserved3),
        (0x40 => @END),
    },

    /// A DMA engine: its rings (16 priority queues and the default one) and controls.
    pub Dma {
        (0x000 => rings: [Ring; 17]),
        (0x440 => ring_config: ReadWrite<u32>),
        (0x444 => control: ReadWrite<u32, DMA_CTRL::Register>),
        (0x448 => status: ReadOnly<u32, DMA_STATUS::Register>),
        (0x44c => burst_size: ReadWrite<u32>),
        (0x450 => _reserved0),
        (0x1000 => @END),
    },

    /// An interrupt controller instance (masked: the driver polls).
    pub Intrl2 {
        (0x00 => status: ReadOnly<u32>),
        (0x04 => set: ReadWrite<u32>),
        (0x08 => clear: ReadWrite<u32>),
        (0x0c => mask_status: ReadOnly<u32>),
        (0x10 => mask_set: ReadWrite<u32>),
        (0x14 => mask_clear: ReadWrite<u32>),
        (0x18 => _reserved0),
        (0x40 => @END),
    },

    /// The GENET v5 register block (64 KiB window; the parts this driver uses).
    pub Registers {
        (0x0000 => revision: ReadOnly<u32>),
        (0x0004 => port_control: ReadWrite<u32>),
        (0x0008 => rbuf_flush: ReadWrite<u32>),
        (0x000c => tbuf_flush: ReadWrite<u32>),
        (0x0010 => _reserved0),
        (0x008c => rgmii_oob: ReadWrite<u32, RGMII_OOB::Register>),
        (0x0090 => _reserved1),
        (0x0200 => intrl2_0: Intrl2),
        (0x0240 => intrl2_1: Intrl2),
        (0x0280 => _reserved2),
        (0x0300 => rbuf_control: ReadWrite<u32>),
        (0x0304 => _reserved3),
        (0x03b4 => rbuf_tbuf_size: ReadWrite<u32>),
        (0x03b8 => _reserved4),
        (0x0808 => umac_command: ReadWrite<u32, UMAC_CMD::Register>),
        (0x080c => mac_high: ReadWrite<u32>),
        (0x0810 => mac_low: ReadWrite<u32>),
        (0x0814 => max_frame_length: ReadWrite<u32>),
        (0x0818 => _reserved5),
        (0x0b34 => tx_flush: ReadWrite<u32>),
        (0x0b38 => _reserved6),
        (0x0d80 => mib_control: ReadWrite<u32>),
        (0x0d84 => _reserved7),
        (0x0e14 => mdio: ReadWrite<u32, MDIO::Register>),
        (0x0e18 => _reserved8),
        (0x0e50 => mdf_control: ReadWrite<u32>),
        (0x0e54 => mdf_addresses: [ReadWrite<u32>; 34]),
        (0x0edc => _reserved9),
        (0x2000 => rx_descriptors: [Descriptor; HW_DESCS]),
        (0x2c00 => rx_dma: Dma),
        (0x3c00 => _reserved10),
        (0x4000 => tx_descriptors: [Descriptor; HW_DESCS]),
        (0x4c00 => tx_dma: Dma),
        (0x5c00 => @END),
    }
}

/// Descriptor flags.
mod flag {
    pub const OWN: u32 = 0x8000;
    pub const EOP: u32 = 0x4000;
    pub const SOP: u32 = 0x2000;
    pub const TX_APPEND_CRC: u32 = 0x0040;
    /// Queue tag of every transmit descriptor (all ones, as Linux and U-Boot set it).
    pub const TX_QTAG: u32 = 0x3f << 7;
    /// Receive errors: length, no buffer, receive error, CRC, overrun.
    pub const RX_ERRORS: u32 = 0x001f;
}

/// MII registers (IEEE 802.3 clause 22) and bits.
pub mod mii {
    /// Control.
    pub const BMCR: u8 = 0;
    /// Status.
    pub const BMSR: u8 = 1;
    /// Identifier, high.
    pub const ID1: u8 = 2;
    /// Identifier, low.
    pub const ID2: u8 = 3;
    /// Our advertisement.
    pub const ADVERTISE: u8 = 4;
    /// The link partner's.
    pub const PARTNER: u8 = 5;
    /// 1000BASE-T control.
    pub const CTRL1000: u8 = 9;
    /// 1000BASE-T status.
    pub const STAT1000: u8 = 10;
    /// BMCR: restart auto-negotiation (self-clearing).
    pub const RESTART_AN: u16 = 1 << 9;
    /// BMCR: auto-negotiation enable.
    pub const AN_ENABLE: u16 = 1 << 12;
    /// BMSR: link up (latched low).
    pub const LINK: u16 = 1 << 2;
    /// BMSR: auto-negotiation complete.
    pub const AN_COMPLETE: u16 = 1 << 5;
    /// ADVERTISE: 10/100 half and full, IEEE 802.3 selector, symmetric and asymmetric pause.
    pub const ADVERTISE_ALL: u16 = 0x0de1;
    /// CTRL1000: 1000BASE-T half and full.
    pub const ADVERTISE_1000: u16 = 0x0300;
    /// STAT1000: master/slave configuration fault.
    pub const MS_FAULT: u16 = 1 << 15;
    /// The BCM54213PE's identifier (revision bits masked).
    pub const BCM54213PE: (u16, u16) = (0x600d, 0x84a0);
}

/// Why the GENET did not come up or stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The block is not a GENET v5 (its revision register).
    NotGenet5(u32),
    /// The DMA region is too small.
    DmaRegion {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// No PHY answered on the MDIO bus.
    NoPhy,
    /// A step did not finish before its deadline.
    Timeout(&'static str),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::NotGenet5(revision) => write!(f, "not a GENET v5 Ethernet controller (revision {revision:#010x})"),
            Error::DmaRegion { len, needed } => write!(f, "DMA region of {len} bytes, {needed} needed"),
            Error::NoPhy => f.write_str("no Ethernet PHY answers on the MDIO bus"),
            Error::Timeout(step) => write!(f, "the Ethernet controller did not finish: {step}"),
        }
    }
}

/// The link as negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Mbit/s: 10, 100 or 1000.
    pub speed: u16,
    /// Full duplex.
    pub full_duplex: bool,
}

/// What the PHY said it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phy {
    /// MDIO address.
    pub address: u8,
    /// ID1, ID2.
    pub id: (u16, u16),
}

/// The GENET v5 controller.
pub struct Genet {
    registers: Mmio<Registers>,
    buffers: *mut u8,
    coherence: &'static (dyn DmaCoherence + Sync),
    now: Micros,
    mac: [u8; 6],
    phy: Option<Phy>,
    link: Option<Link>,
    last_link_check: Option<u64>,
    rx_consumer: u16,
    rx_position: usize,
    tx_producer: u16,
    tx_consumer: u16,
    tx_position: usize,
    counters: Counters,
    /// Times the link went up or down.
    pub link_changes: u32,
    /// Receive descriptors refused (errors, fragments, bad lengths).
    pub rx_errors: u64,
}

// SAFETY: the buffers are a `&'static mut [u8]` given up at construction, owned by the
// driver alone and moving with it; registers are reached through `Mmio`.
unsafe impl Send for Genet {}

const fn mask16(value: u32) -> u16 {
    (value & 0xffff) as u16
}

impl Genet {
    /// Checks the block at `base` and takes `dma` ([`DMA_BYTES`]) as its buffers.
    ///
    /// # Safety
    /// `base` is the mapped GENET register block, owned by this driver; `dma` is RAM the
    /// controller reaches at `coherence.bus_address`.
    pub unsafe fn new(
        base: usize,
        dma: &'static mut [u8],
        coherence: &'static (dyn DmaCoherence + Sync),
        now: Micros,
    ) -> Result<Genet, Error> {
        // SAFETY: forwarded from the caller's contract.
        let registers = unsafe { Mmio::<Registers>::new(base) };
        let revision = registers.revision.get();
        if (revision >> 24) & 0xf != 6 {
            return Err(Error::NotGenet5(revision));
        }
        let skip = dma.as_ptr().align_offset(64).min(dma.len());
        let usable = dma.len() - skip;
        let needed = (RX_DESCS + TX_DESCS) * BUFFER_BYTES;
        if usable < needed {
            return Err(Error::DmaRegion { len: usable, needed });
        }
        Ok(Genet {
            registers,
            buffers: dma[skip..].as_mut_ptr(),
            coherence,
            now,
            mac: [0; 6],
            phy: None,
            link: None,
            last_link_check: None,
            rx_consumer: 0,
            rx_position: 0,
            tx_producer: 0,
            tx_consumer: 0,
            tx_position: 0,
            counters: Counters::default(),
            link_changes: 0,
            rx_errors: 0,
        })
    }

    fn buffer_address(&self, index: usize) -> usize {
        self.buffers as usize + index * BUFFER_BYTES
    }

    fn rx_buffer(index: usize) -> usize {
        index
    }

    fn tx_buffer(index: usize) -> usize {
        RX_DESCS + index
    }

    fn delay_us(&self, micros: u64) {
        let deadline = Deadline::after(self.now, micros);
        while !deadline.expired() {
            core::hint::spin_loop();
        }
    }

    fn wait(&self, step: &'static str, micros: u64, done: impl Fn(&Registers) -> bool) -> Result<(), Error> {
        let deadline = Deadline::after(self.now, micros);
        loop {
            if done(&self.registers) {
                return Ok(());
            }
            if deadline.expired() {
                return Err(Error::Timeout(step));
            }
            core::hint::spin_loop();
        }
    }

    /// Reads PHY register `register` at `phy`; `None` when nobody answers.
    pub fn mdio_read(&self, phy: u8, register: u8) -> Result<Option<u16>, Error> {
        let regs = &*self.registers;
        regs.mdio.write(MDIO::OPERATION::Read + MDIO::PHY.val(phy as u32) + MDIO::REGISTER.val(register as u32));
        regs.mdio.modify(MDIO::START_BUSY::SET);
        self.wait("an MDIO read", 20_000, |r| !r.mdio.is_set(MDIO::START_BUSY))?;
        let value = regs.mdio.extract();
        if value.is_set(MDIO::READ_FAIL) {
            return Ok(None);
        }
        Ok(Some(value.read(MDIO::DATA) as u16))
    }

    /// Writes PHY register `register` at `phy`.
    pub fn mdio_write(&self, phy: u8, register: u8, value: u16) -> Result<(), Error> {
        let regs = &*self.registers;
        regs.mdio.write(
            MDIO::OPERATION::Write
                + MDIO::PHY.val(phy as u32)
                + MDIO::REGISTER.val(register as u32)
                + MDIO::DATA.val(value as u32),
        );
        regs.mdio.modify(MDIO::START_BUSY::SET);
        self.wait("an MDIO write", 20_000, |r| !r.mdio.is_set(MDIO::START_BUSY))
    }

    fn find_phy(&self) -> Result<Phy, Error> {
        let candidates = core::iter::once(PI4_PHY).chain((0..32).filter(|&a| a != PI4_PHY));
        for address in candidates {
            let Some(id1) = self.mdio_read(address, mii::ID1)? else { continue };
            let Some(id2) = self.mdio_read(address, mii::ID2)? else { continue };
            if id1 != 0xffff && id1 != 0 {
                return Ok(Phy { address, id: (id1, id2) });
            }
        }
        Err(Error::NoPhy)
    }

    fn set_filter(&self) {
        let regs = &*self.registers;
        // Broadcast, our address, and the mDNS groups (IPv4 224.0.0.251, IPv6 ff02::fb).
        let addresses =
            [[0xff; 6], self.mac, [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb], [0x33, 0x33, 0x00, 0x00, 0x00, 0xfb]];
        for (i, a) in addresses.iter().enumerate() {
            regs.mdf_addresses[2 * i].set(u32::from_be_bytes([0, 0, a[0], a[1]]));
            regs.mdf_addresses[2 * i + 1].set(u32::from_be_bytes([a[2], a[3], a[4], a[5]]));
        }
        // Filter n is enabled by bit 16 - n.
        let enabled = (0..addresses.len()).fold(0u32, |bits, n| bits | 1 << (16 - n));
        regs.mdf_control.set(enabled);
    }

    /// Brings the controller up with `mac` (the firmware's) and starts auto-negotiation;
    /// the link comes later (see [`Genet::poll_link`]).
    pub fn init(&mut self, mac: [u8; 6]) -> Result<Phy, Error> {
        self.mac = mac;
        let regs = &*self.registers;
        regs.port_control.set(3); // external gigabit PHY
                                  // UniMAC reset, its loopback on so the receive clock is stable meanwhile.
        regs.rbuf_flush.set(0);
        self.delay_us(10);
        regs.umac_command.set(0);
        regs.umac_command.write(UMAC_CMD::SW_RESET::SET + UMAC_CMD::LOCAL_LOOPBACK::SET);
        self.delay_us(2);
        regs.umac_command.set(0);
        regs.rbuf_flush.set(1 << 1);
        self.delay_us(10);
        regs.rbuf_flush.set(0);
        self.delay_us(10);
        regs.mib_control.set(0b111);
        regs.mib_control.set(0);
        regs.max_frame_length.set(MAX_MTU);
        regs.rbuf_control.set(regs.rbuf_control.get() | 1 << 1); // 2-byte receive alignment
        regs.rbuf_tbuf_size.set(1);
        for intrl2 in [&regs.intrl2_0, &regs.intrl2_1] {
            intrl2.mask_set.set(u32::MAX);
            intrl2.clear.set(u32::MAX);
        }
        regs.mac_high.set(u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]));
        regs.mac_low.set(u32::from_be_bytes([0, 0, mac[4], mac[5]]));
        self.set_filter();

        // Stop both engines and wait until they say so.
        regs.tx_dma.control.modify(DMA_CTRL::ENABLE::CLEAR);
        regs.rx_dma.control.modify(DMA_CTRL::ENABLE::CLEAR);
        self.wait("stopping the transmit DMA", 10_000, |r| r.tx_dma.status.is_set(DMA_STATUS::DISABLED))?;
        self.wait("stopping the receive DMA", 10_000, |r| r.rx_dma.status.is_set(DMA_STATUS::DISABLED))?;
        regs.tx_flush.set(1);
        self.delay_us(10);
        regs.tx_flush.set(0);

        self.init_rx();
        self.init_tx();
        let regs = &*self.registers;
        let rings = DMA_CTRL::RINGS.val(1 << DEFAULT_QUEUE) + DMA_CTRL::ENABLE::SET;
        regs.tx_dma.control.write(rings);
        regs.rx_dma.control.write(rings);

        let phy = self.find_phy()?;
        self.phy = Some(phy);
        regs.rgmii_oob.modify(RGMII_OOB::MODE_ENABLE::SET + RGMII_OOB::ID_MODE_DISABLE::SET);
        self.mdio_write(phy.address, mii::ADVERTISE, mii::ADVERTISE_ALL)?;
        self.mdio_write(phy.address, mii::CTRL1000, mii::ADVERTISE_1000)?;
        let control = self.mdio_read(phy.address, mii::BMCR)?.ok_or(Error::NoPhy)?;
        self.mdio_write(phy.address, mii::BMCR, control | mii::AN_ENABLE | mii::RESTART_AN)?;
        let deadline = Deadline::after(self.now, 100_000);
        loop {
            let control = self.mdio_read(phy.address, mii::BMCR)?.ok_or(Error::NoPhy)?;
            if control & mii::RESTART_AN == 0 {
                break;
            }
            if deadline.expired() {
                return Err(Error::Timeout("the PHY's auto-negotiation restart"));
            }
        }
        self.link = None;
        Ok(phy)
    }

    fn init_rx(&mut self) {
        let regs = &*self.registers;
        let ring = &regs.rx_dma.rings[DEFAULT_QUEUE];
        regs.rx_dma.burst_size.set(8);
        ring.start_address.set(0);
        ring.pointer_b.set(0); // read pointer
        ring.pointer_a.set(0); // write pointer
        ring.end_address.set((RX_DESCS * 3 - 1) as u32);
        // The producer index cannot be reset: the consumer starts where it stands.
        self.rx_consumer = mask16(ring.index_a.get());
        ring.index_b.set(self.rx_consumer as u32);
        self.rx_position = 0;
        ring.buffer_size.set(((RX_DESCS as u32) << 16) | BUFFER_BYTES as u32);
        ring.flow.set((5 << 16) | (RX_DESCS as u32 >> 4));
        regs.rx_dma.ring_config.set(1 << DEFAULT_QUEUE);
        for i in 0..RX_DESCS {
            let address = self.buffer_address(Self::rx_buffer(i));
            self.coherence.invalidate(address, BUFFER_BYTES);
            let descriptor = &regs.rx_descriptors[i];
            descriptor.address_low.set(self.coherence.bus_address(address));
            descriptor.address_high.set(0);
            descriptor.length_status.set(((BUFFER_BYTES as u32) << 16) | flag::OWN);
        }
    }

    fn init_tx(&mut self) {
        let regs = &*self.registers;
        let ring = &regs.tx_dma.rings[DEFAULT_QUEUE];
        regs.tx_dma.burst_size.set(8);
        ring.start_address.set(0);
        ring.pointer_a.set(0); // read pointer
        ring.pointer_b.set(0); // write pointer
        ring.end_address.set((TX_DESCS * 3 - 1) as u32);
        // The consumer index cannot be reset: the producer starts where it stands.
        self.tx_consumer = mask16(ring.index_a.get());
        self.tx_producer = self.tx_consumer;
        ring.index_b.set(self.tx_producer as u32);
        self.tx_position = 0;
        ring.done_threshold.set(1);
        ring.flow.set(0);
        ring.buffer_size.set(((TX_DESCS as u32) << 16) | BUFFER_BYTES as u32);
        regs.tx_dma.ring_config.set(1 << DEFAULT_QUEUE);
    }

    /// The PHY found at bring-up.
    pub fn phy(&self) -> Option<Phy> {
        self.phy
    }

    /// The link as last read.
    pub fn link(&self) -> Option<Link> {
        self.link
    }

    /// Reads the PHY and follows a change of link: programs the MAC for the negotiated
    /// speed and duplex when it comes up, stops it when it goes. Returns the link.
    pub fn poll_link(&mut self) -> Result<Option<Link>, Error> {
        self.last_link_check = Some((self.now)());
        let Some(phy) = self.phy else { return Ok(None) };
        // The link bit latches low: the first read reports a loss since the last one.
        let first = self.mdio_read(phy.address, mii::BMSR)?.unwrap_or(0);
        let status = if first & mii::LINK == 0 && self.link.is_none() {
            self.mdio_read(phy.address, mii::BMSR)?.unwrap_or(0)
        } else {
            first
        };
        let link = if status & mii::LINK != 0 && status & mii::AN_COMPLETE != 0 { self.resolve(phy)? } else { None };
        if link != self.link {
            self.link_changes += 1;
            self.apply(link);
            self.link = link;
        }
        Ok(link)
    }

    /// The best mode both ends advertise (IEEE 802.3 annex 28B priority).
    fn resolve(&self, phy: Phy) -> Result<Option<Link>, Error> {
        let read = |register| self.mdio_read(phy.address, register).map(|v| v.unwrap_or(0));
        let stat1000 = read(mii::STAT1000)?;
        if stat1000 & mii::MS_FAULT != 0 {
            return Ok(None);
        }
        let gigabit = stat1000 & (read(mii::CTRL1000)? << 2);
        let common = read(mii::PARTNER)? & read(mii::ADVERTISE)?;
        let link = if gigabit & (1 << 11) != 0 {
            Link { speed: 1000, full_duplex: true }
        } else if gigabit & (1 << 10) != 0 {
            Link { speed: 1000, full_duplex: false }
        } else if common & (1 << 8) != 0 {
            Link { speed: 100, full_duplex: true }
        } else if common & (1 << 7) != 0 {
            Link { speed: 100, full_duplex: false }
        } else {
            Link { speed: 10, full_duplex: common & (1 << 6) != 0 }
        };
        Ok(Some(link))
    }

    fn apply(&self, link: Option<Link>) {
        let regs = &*self.registers;
        match link {
            Some(link) => {
                let speed = match link.speed {
                    1000 => UMAC_CMD::SPEED::Mbps1000,
                    100 => UMAC_CMD::SPEED::Mbps100,
                    _ => UMAC_CMD::SPEED::Mbps10,
                };
                let duplex = if link.full_duplex { UMAC_CMD::HALF_DUPLEX::CLEAR } else { UMAC_CMD::HALF_DUPLEX::SET };
                regs.rgmii_oob.modify(RGMII_OOB::OOB_DISABLE::CLEAR + RGMII_OOB::LINK::SET);
                regs.umac_command.modify(speed + duplex + UMAC_CMD::TX_EN::SET + UMAC_CMD::RX_EN::SET);
            }
            None => {
                regs.umac_command.modify(UMAC_CMD::TX_EN::CLEAR + UMAC_CMD::RX_EN::CLEAR);
                regs.rgmii_oob.modify(RGMII_OOB::LINK::CLEAR);
            }
        }
    }

    fn link_due(&self) -> bool {
        self.last_link_check.is_none_or(|at| (self.now)().saturating_sub(at) >= LINK_POLL_US)
    }

    /// Takes back the transmit buffers the hardware has sent.
    fn reclaim(&mut self) {
        let ring = &self.registers.tx_dma.rings[DEFAULT_QUEUE];
        let consumer = mask16(ring.index_a.get());
        // A consumer index outside what was produced is the hardware's error: keep ours.
        if consumer.wrapping_sub(self.tx_consumer) <= self.tx_producer.wrapping_sub(self.tx_consumer) {
            self.tx_consumer = consumer;
        }
    }
}

impl EthernetDevice for Genet {
    fn name(&self) -> &'static str {
        "genet"
    }

    fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        if self.link_due() {
            let _ = self.poll_link();
        }
        self.link.is_some()
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetError> {
        if self.link_due() {
            self.poll_link().map_err(|_| NetError::Device("the Ethernet PHY stopped answering"))?;
        }
        let regs = &*self.registers;
        let ring = &regs.rx_dma.rings[DEFAULT_QUEUE];
        loop {
            let producer = mask16(ring.index_a.get());
            if producer == self.rx_consumer {
                return Ok(None);
            }
            // More waiting than the ring holds: the index is not to be trusted; resync.
            if producer.wrapping_sub(self.rx_consumer) as usize > RX_DESCS {
                self.rx_errors += 1;
                self.rx_consumer = producer;
                ring.index_b.set(producer as u32);
                return Err(NetError::Device("GENET receive index out of step"));
            }
            let index = self.rx_position;
            let status = regs.rx_descriptors[index].length_status.get();
            let length = ((status >> 16) & 0x0fff) as usize;
            let address = self.buffer_address(Self::rx_buffer(index));
            let whole = status & (flag::SOP | flag::EOP) == flag::SOP | flag::EOP;
            let frame_length = length.saturating_sub(RX_PAD);
            let outcome = if !whole || status & flag::RX_ERRORS != 0 || !(14..=MAX_FRAME).contains(&frame_length) {
                self.rx_errors += 1;
                self.counters.dropped += 1;
                None
            } else if frame_length > buffer.len() {
                self.counters.dropped += 1;
                None
            } else {
                self.coherence.invalidate(address, length);
                // SAFETY: `address..address + length` lies in receive buffer `index` (length
                // ≤ MAX_FRAME + 2 < BUFFER_BYTES, checked above), owned by this driver; the
                // hardware finished writing it (the producer index passed it).
                let data = unsafe { core::slice::from_raw_parts((address + RX_PAD) as *const u8, frame_length) };
                buffer[..frame_length].copy_from_slice(data);
                self.counters.rx_frames += 1;
                self.counters.rx_bytes += frame_length as u64;
                Some(frame_length)
            };
            // The buffer goes back to the hardware.
            self.coherence.invalidate(address, BUFFER_BYTES);
            self.rx_consumer = self.rx_consumer.wrapping_add(1);
            ring.index_b.set(self.rx_consumer as u32);
            self.rx_position = (self.rx_position + 1) % RX_DESCS;
            if let Some(n) = outcome {
                return Ok(Some(n));
            }
        }
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        if frame.len() < 14 || frame.len() > MAX_FRAME {
            return Err(NetError::Size);
        }
        if self.link.is_none() {
            self.counters.dropped += 1;
            return Ok(());
        }
        self.reclaim();
        if self.tx_producer.wrapping_sub(self.tx_consumer) as usize >= TX_DESCS {
            return Err(NetError::Busy);
        }
        let index = self.tx_position;
        let address = self.buffer_address(Self::tx_buffer(index));
        let length = frame.len().max(MIN_FRAME);
        // SAFETY: transmit buffer `index` (BUFFER_BYTES ≥ MAX_FRAME) is owned by this driver
        // and not in the hardware's hands: the consumer index has passed it (checked above).
        let out = unsafe { core::slice::from_raw_parts_mut(address as *mut u8, length) };
        out[..frame.len()].copy_from_slice(frame);
        out[frame.len()..].fill(0);
        self.coherence.clean(address, length);
        let regs = &*self.registers;
        let descriptor = &regs.tx_descriptors[index];
        descriptor.address_low.set(self.coherence.bus_address(address));
        descriptor.address_high.set(0);
        descriptor
            .length_status
            .set(((length as u32) << 16) | flag::TX_QTAG | flag::TX_APPEND_CRC | flag::SOP | flag::EOP);
        self.tx_producer = self.tx_producer.wrapping_add(1);
        self.tx_position = (self.tx_position + 1) % TX_DESCS;
        regs.tx_dma.rings[DEFAULT_QUEUE].index_b.set(self.tx_producer as u32);
        self.counters.tx_frames += 1;
        self.counters.tx_bytes += frame.len() as u64;
        Ok(())
    }

    fn counters(&self) -> Counters {
        self.counters
    }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
