//! Synopsys DesignWare USB 2.0 OTG core (DWC2) as a USB host, internal DMA, polled.
//!
//! References: the "DesignWare Cores USB 2.0 Hi-Speed On-The-Go" databook register chapter
//! (as documented in the BCM2835 community register maps and Linux's `dwc2/hw.h`), QEMU's
//! model `hw/usb/hcd-dwc2.c`, and the BCM2835 bring-up order used by Circle/USPi.
//!
//! # How it works
//! The core has one root port (HPRT0) and up to 16 host channels. A channel runs one
//! transfer: program HCCHAR (device, endpoint, type, max packet), HCTSIZ (bytes, packets,
//! data PID) and HCDMA (bus address of the buffer), set CHENA, and the core moves every
//! packet by DMA, retrying NAKed control and bulk packets by itself, until the channel
//! halts with HCINT telling why (transfer complete, STALL, NAK on an interrupt endpoint,
//! or a bus error). This driver polls HCINT; it never enables the core's interrupt.
//!
//! Channel 0 serves the blocking calls (control transfers, interrupt polls). Channels
//! 1..=[`MAX_SLOTS`] are the background slots of [`Host::start`]/[`Host::poll`], so a
//! NIC can keep a bulk IN transfer armed while control transfers run.
//!
//! # DMA memory
//! The core only does DMA (QEMU models no FIFO/slave mode at all), so every byte goes
//! through a region the caller hands in ([`Dwc2::new`]): the setup packet, a control
//! buffer, one buffer per slot. The controller sees it at a bus address the caller's
//! [`DmaCoherence::bus_address`] gives (on the BCM2837 the GPU alias `0xC000_0000 | phys`).
//! Cache maintenance is the caller's too: [`DmaCoherence::clean`] runs before the core
//! reads a buffer, [`DmaCoherence::invalidate`] before and after it writes one. QEMU
//! models no caches; real hardware needs both (buffers are 64-byte aligned whole cache
//! lines so maintenance never touches a neighbour's data).
//!
//! # QEMU's model, as read in hcd-dwc2.c (QEMU 10)
//! - DMA only; GHWCFG2 says "internal DMA", 8 channels; HCSPLT is ignored (no split
//!   transactions, none needed: its hub and devices are full speed).
//! - Transfers of at most 1536 bytes move one packet per 250 µs timer tick; larger ones in
//!   one step. HCTSIZ's PID is not updated, so toggles are tracked here from the packet
//!   count (which both QEMU and hardware decrement).
//! - A channel enabled for an address no device has does nothing at all: only the
//!   deadline ends it (then CHDIS halts it).
//! - Writing CHDIS stops the channel but not a packet QEMU is still retrying after NAKs,
//!   so the driver never cancels the background receive on QEMU's behalf: it re-arms
//!   it after every completion instead.

use super::{Direction, Error, Host, Pipe, SetupPacket, Speed, Target, TransferType};
use crate::{
    deadline::{Deadline, Micros},
    mailbox::DmaCoherence,
    mmio::Mmio,
};
use core::sync::atomic::{fence, Ordering};
use registers::{
    Registers, FIFO_SIZE, GAHBCFG, GHWCFG2, GHWCFG3, GRSTCTL, GUSBCFG, HCCHAR, HCFG, HCINT, HCTSIZ, HFNUM, HPRT0,
};
use tock_registers::{
    interfaces::{ReadWriteable, Readable, Writeable},
    LocalRegisterCopy,
};

pub mod device;
mod registers;

/// Background transfer slots at most (channels 1 to 4).
pub const MAX_SLOTS: usize = 4;

/// Alignment of every DMA buffer (the Cortex-A53/A72 cache line).
const ALIGN: usize = 64;
/// Offset of the setup packet in the aligned region.
const SETUP_OFFSET: usize = 0;
/// Offset and size of the control/interrupt data buffer.
const CONTROL_OFFSET: usize = ALIGN;
/// Largest control data stage (configuration descriptors are far smaller).
pub const CONTROL_BYTES: usize = 1024;
/// Offset of the first slot buffer.
const SLOTS_OFFSET: usize = CONTROL_OFFSET + CONTROL_BYTES;
/// Size of each slot buffer (one Ethernet frame transfer and more).
pub const SLOT_BYTES: usize = 2048;

/// Bytes of DMA memory [`Dwc2::new`] needs for all slots, including alignment slack.
pub const DMA_REGION_BYTES: usize = ALIGN + SLOTS_OFFSET + MAX_SLOTS * SLOT_BYTES;

/// Top half of GSNPSID: "OT" (the core's signature; the low half is the release).
const SIGNATURE: u32 = 0x4f54_0000;

/// Deadline for each stage of a control transfer.
const CONTROL_STAGE_TIMEOUT_US: u64 = 500_000;
/// Deadline for an interrupt IN poll (a NAK arrives within a frame or two).
const INTERRUPT_TIMEOUT_US: u64 = 100_000;
/// Deadline for a background OUT transfer (IN transfers wait for data without one).
const OUT_TIMEOUT_US: u64 = 1_000_000;
/// How long the root port may take to see a device after power-up.
const CONNECT_TIMEOUT_US: u64 = 500_000;
/// Root port reset length (USB 2.0 7.1.7.5: at least 50 ms from a root port).
const ROOT_RESET_MS: u32 = 50;
/// Recovery after the root port reset (10 ms in the spec; some devices need 20).
const ROOT_RECOVERY_MS: u32 = 20;
/// Pause between two reads of a status register while polling.
const POLL_PAUSE_US: u64 = 5;
/// Transaction errors tolerated per control transfer before giving up.
const CONTROL_ATTEMPTS: usize = 3;

/// The write-1-to-clear bits of HPRT0 removed from a read value, so writing it back
/// changes nothing but the bits the caller then sets.
pub fn hprt0_keep(value: u32) -> u32 {
    let mut port = LocalRegisterCopy::<u32, HPRT0::Register>::new(value);
    port.modify(
        HPRT0::CONNECT_CHANGED::CLEAR
            + HPRT0::ENABLE::CLEAR
            + HPRT0::ENABLE_CHANGED::CLEAR
            + HPRT0::OVERCURRENT_CHANGED::CLEAR,
    );
    port.get()
}

/// Packets and programmed byte count for a transfer of `length` bytes: at least one
/// packet (a zero-length packet for 0 bytes); IN transfers are rounded up to whole
/// packets, as the core requires.
pub fn packet_plan(length: usize, max_packet: u16, direction: Direction) -> (u32, u32) {
    let max_packet = max_packet.max(1) as usize;
    let packets = length.div_ceil(max_packet).max(1);
    let bytes = if direction == Direction::In { packets * max_packet } else { length };
    (packets as u32, bytes as u32)
}

/// The data toggle after `packets` packets starting from `data1`.
pub fn toggle_after(data1: bool, packets: u32) -> bool {
    data1 ^ (packets % 2 == 1)
}

/// The DMA region, as a raw pointer: the controller writes into it behind the compiler's
/// back, so it is never held as a Rust reference after construction.
struct DmaRegion {
    base: *mut u8,
    len: usize,
}

impl DmaRegion {
    fn write(&mut self, offset: usize, data: &[u8]) {
        let end = offset.saturating_add(data.len());
        assert!(end <= self.len, "DMA write outside the region (layout bug)");
        // SAFETY: `[offset, end)` lies inside the region (checked above), which this
        // driver owns exclusively (it came from a `&'static mut [u8]`), and `data` is
        // ordinary memory that cannot overlap it.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(offset), data.len()) };
    }

    fn read(&self, offset: usize, out: &mut [u8]) {
        let end = offset.saturating_add(out.len());
        assert!(end <= self.len, "DMA read outside the region (layout bug)");
        // SAFETY: as in `write`; the controller has halted the channel that wrote this
        // buffer, and the fence in the caller orders this read after that observation.
        unsafe { core::ptr::copy_nonoverlapping(self.base.add(offset), out.as_mut_ptr(), out.len()) };
    }

    fn address(&self, offset: usize) -> usize {
        self.base as usize + offset
    }
}

/// One channel transfer as the core sees it.
#[derive(Clone, Copy, Debug)]
struct Transfer {
    address: u8,
    endpoint: u8,
    direction: Direction,
    kind: TransferType,
    speed: Speed,
    max_packet: u16,
    pid: u32,
    length: usize,
    /// Offset of its buffer in the DMA region.
    buffer: usize,
    /// Size of that buffer: the core may write whole packets, up to the programmed size.
    capacity: usize,
}

/// How a halted channel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Done: bytes moved and packets acknowledged.
    Done { bytes: usize, packets: u32 },
    /// The device NAKed (interrupt endpoints only; the core retries the others).
    Nak,
}

/// A background slot's transfer in flight.
#[derive(Clone, Copy, Debug)]
struct SlotTransfer {
    transfer: Transfer,
    packets: u32,
    started: u64,
}

/// What [`Dwc2::info`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerInfo {
    /// GSNPSID (0x4F54xxxx; the low half is the core release, e.g. 0x280A on a Pi 3).
    pub id: u32,
    /// Host channels.
    pub channels: usize,
    /// Background slots.
    pub slots: usize,
    /// HPRT0 as last read.
    pub port: u32,
    /// Speed of the device on the root port after its reset.
    pub root_speed: Option<Speed>,
    /// Bus address of the DMA region.
    pub dma_bus_address: u32,
}

/// The DWC2 host controller.
pub struct Dwc2 {
    registers: Mmio<Registers>,
    dma: DmaRegion,
    coherence: &'static (dyn DmaCoherence + Sync),
    now: Micros,
    channels: usize,
    max_packets: u32,
    max_bytes: u32,
    slots: [Option<SlotTransfer>; MAX_SLOTS],
    slot_count: usize,
    root_speed: Option<Speed>,
}

// SAFETY: the raw DMA pointer refers to memory this driver owns exclusively (a
// `&'static mut [u8]` given up at construction); moving the driver to another core moves
// that ownership with it. The register block is reached through `Mmio`, which is `Send`.
unsafe impl Send for Dwc2 {}

impl Dwc2 {
    /// Checks the core at `base` and takes `dma` as its DMA memory (any alignment; a
    /// 64-byte aligned part of it is used: [`DMA_REGION_BYTES`] give all slots, two slots
    /// are the minimum).
    ///
    /// # Safety
    /// `base` must be the mapped DWC2 register block, owned by this driver. `dma` must be
    /// RAM the controller can reach at `coherence.bus_address` of each address, and the
    /// caller must not touch it again (the `'static` borrow ensures that in safe code).
    pub unsafe fn new(
        base: usize,
        dma: &'static mut [u8],
        coherence: &'static (dyn DmaCoherence + Sync),
        now: Micros,
    ) -> Result<Self, Error> {
        // SAFETY: forwarded from the caller's contract.
        let registers = unsafe { Mmio::<Registers>::new(base) };
        let id = registers.gsnpsid.get();
        if id & 0xffff_0000 != SIGNATURE {
            return Err(Error::NotDwc2(id));
        }
        let architecture = registers.ghwcfg2.read(GHWCFG2::ARCHITECTURE);
        if architecture != 2 {
            return Err(Error::NoDma(architecture));
        }
        let channels = registers.ghwcfg2.read(GHWCFG2::HOST_CHANNELS) as usize + 1;
        let packet_width = registers.ghwcfg3.read(GHWCFG3::PACKET_COUNT_WIDTH) + 4;
        let size_width = registers.ghwcfg3.read(GHWCFG3::TRANSFER_SIZE_WIDTH) + 11;

        let skip = dma.as_ptr().align_offset(ALIGN).min(dma.len());
        let usable = (dma.len() - skip) & !(ALIGN - 1);
        // Two slots at least: a NIC keeps one receive and one transmit in flight.
        let needed = SLOTS_OFFSET + SLOT_BYTES * 2;
        if usable < needed {
            return Err(Error::DmaRegion { len: usable, needed });
        }
        let slot_count = ((usable - SLOTS_OFFSET) / SLOT_BYTES).min(MAX_SLOTS).min(channels - 1);
        let region = DmaRegion { base: dma[skip..].as_mut_ptr(), len: usable };
        Ok(Self {
            registers,
            dma: region,
            coherence,
            now,
            channels,
            max_packets: (1 << packet_width.min(10)) - 1,
            max_bytes: (1 << size_width.min(19)) - 1,
            slots: [None; MAX_SLOTS],
            slot_count,
            root_speed: None,
        })
    }

    /// What the controller is and how its port stands.
    pub fn info(&self) -> ControllerInfo {
        ControllerInfo {
            id: self.registers.gsnpsid.get(),
            channels: self.channels,
            slots: self.slot_count,
            port: self.registers.hprt0.get(),
            root_speed: self.root_speed,
            dma_bus_address: self.coherence.bus_address(self.dma.address(0)),
        }
    }

    fn pause(&self) {
        let until = (self.now)().saturating_add(POLL_PAUSE_US);
        while (self.now)() < until {
            core::hint::spin_loop();
        }
    }

    fn wait_until(
        &self,
        timeout_us: u64,
        step: super::ControllerStep,
        done: impl Fn(&Registers) -> bool,
    ) -> Result<(), Error> {
        let deadline = Deadline::after(self.now, timeout_us);
        loop {
            if done(&self.registers) {
                return Ok(());
            }
            if deadline.expired() {
                return Err(Error::Controller(step));
            }
            self.pause();
        }
    }

    fn delay_us(&self, micros: u64) {
        let deadline = Deadline::after(self.now, micros);
        while !deadline.expired() {
            core::hint::spin_loop();
        }
    }

    /// Resets the core and sets it up as a host: UTMI+ PHY, internal DMA, FIFO sizes,
    /// all channels idle, port power on. Takes about 150 ms (reset and mode-change waits).
    pub fn init(&mut self) -> Result<(), Error> {
        use super::ControllerStep::*;
        let regs = &*self.registers;
        regs.gahbcfg.modify(GAHBCFG::GLOBAL_INTERRUPT::CLEAR);
        regs.gusbcfg.modify(GUSBCFG::ULPI_EXTERNAL_VBUS::CLEAR + GUSBCFG::TERMSEL_DLINE_PULSE::CLEAR);

        self.wait_until(100_000, AhbIdle, |r| r.grstctl.is_set(GRSTCTL::AHB_IDLE))?;
        regs.grstctl.write(GRSTCTL::CORE_SOFT_RESET::SET);
        self.wait_until(100_000, CoreReset, |r| !r.grstctl.is_set(GRSTCTL::CORE_SOFT_RESET))?;
        self.delay_us(20_000);

        // The BCM283x has an internal UTMI+ PHY, 8 bits wide.
        regs.gusbcfg.modify(GUSBCFG::ULPI::CLEAR + GUSBCFG::PHY_16BIT::CLEAR);
        let ulpi_fs = regs.ghwcfg2.read(GHWCFG2::HS_PHY_TYPE) == 2 && regs.ghwcfg2.read(GHWCFG2::FS_PHY_TYPE) == 1;
        if ulpi_fs {
            regs.gusbcfg.modify(GUSBCFG::ULPI_FS_LS::SET + GUSBCFG::ULPI_CLOCK_SUSPEND::SET);
        } else {
            regs.gusbcfg.modify(GUSBCFG::ULPI_FS_LS::CLEAR + GUSBCFG::ULPI_CLOCK_SUSPEND::CLEAR);
        }
        regs.gahbcfg
            .modify(GAHBCFG::DMA_ENABLE::SET + GAHBCFG::BCM_WAIT_AXI_WRITES::SET + GAHBCFG::BCM_MAX_AXI_BURST.val(0));
        regs.gusbcfg.modify(
            GUSBCFG::HNP_CAPABLE::CLEAR
                + GUSBCFG::SRP_CAPABLE::CLEAR
                + GUSBCFG::FORCE_DEVICE::CLEAR
                + GUSBCFG::FORCE_HOST::SET,
        );
        // The databook asks for 25 ms after forcing a mode.
        self.delay_us(25_000);

        // Restart the PHY clock; pick the full/low-speed PHY clock.
        regs.pcgcctl.set(0);
        regs.hcfg.modify(if ulpi_fs { HCFG::FS_LS_CLOCK::Clock48MHz } else { HCFG::FS_LS_CLOCK::Clock30Or60MHz });

        // FIFOs (words): receive, non-periodic transmit, periodic transmit. Used by the
        // DMA engine internally; sizes as the Pi firmware's Linux driver uses them.
        let depth = regs.ghwcfg3.read(GHWCFG3::FIFO_DEPTH).max(64);
        let (rx, np, p) = if depth >= 3072 { (1024, 1024, 1024) } else { (depth / 2, depth / 4, depth / 4) };
        regs.grxfsiz.set(rx);
        regs.gnptxfsiz.write(FIFO_SIZE::START.val(rx) + FIFO_SIZE::DEPTH.val(np));
        regs.hptxfsiz.write(FIFO_SIZE::START.val(rx + np) + FIFO_SIZE::DEPTH.val(p));
        regs.grstctl.write(GRSTCTL::TX_FIFO_FLUSH::SET + GRSTCTL::TX_FIFO_NUMBER.val(0x10));
        self.wait_until(10_000, FifoFlush, |r| !r.grstctl.is_set(GRSTCTL::TX_FIFO_FLUSH))?;
        regs.grstctl.write(GRSTCTL::RX_FIFO_FLUSH::SET);
        self.wait_until(10_000, FifoFlush, |r| !r.grstctl.is_set(GRSTCTL::RX_FIFO_FLUSH))?;

        for channel in 0..self.channels {
            self.halt(channel)?;
            let ch = &self.registers.channels[channel];
            ch.hcint.set(u32::MAX);
            ch.hcintmsk.set(0);
        }
        self.slots = [None; MAX_SLOTS];
        let regs = &*self.registers;
        regs.haintmsk.set(0);
        regs.gintmsk.set(0);
        regs.gintsts.set(u32::MAX);

        let port = regs.hprt0.get();
        if port & HPRT0::POWER::SET.value == 0 {
            regs.hprt0.set(hprt0_keep(port) | HPRT0::POWER::SET.value);
        }
        Ok(())
    }

    /// Waits for a device on the root port, resets the port and returns the device's
    /// speed. [`Error::NoDevice`] when nothing connects within 500 ms.
    pub fn reset_root_port(&mut self) -> Result<Speed, Error> {
        let connected = self
            .wait_until(CONNECT_TIMEOUT_US, super::ControllerStep::PortEnable, |r| r.hprt0.is_set(HPRT0::CONNECTED));
        if connected.is_err() {
            return Err(Error::NoDevice);
        }
        self.delay_us(100_000); // connect debounce (USB 2.0 7.1.7.3)
        let regs = &*self.registers;
        regs.hprt0.set(hprt0_keep(regs.hprt0.get()) | HPRT0::RESET::SET.value);
        self.delay_us(ROOT_RESET_MS as u64 * 1000);
        regs.hprt0.set(hprt0_keep(regs.hprt0.get()) & !HPRT0::RESET::SET.value);
        self.wait_until(100_000, super::ControllerStep::PortEnable, |r| r.hprt0.is_set(HPRT0::ENABLE))?;
        self.delay_us(ROOT_RECOVERY_MS as u64 * 1000);
        // Acknowledge the change bits (write 1 to clear), leaving ENABLE alone.
        let regs = &*self.registers;
        let port = regs.hprt0.get();
        let changes = HPRT0::CONNECT_CHANGED::SET + HPRT0::ENABLE_CHANGED::SET + HPRT0::OVERCURRENT_CHANGED::SET;
        regs.hprt0.set(hprt0_keep(port) | changes.value);
        let speed = match regs.hprt0.read_as_enum(HPRT0::SPEED) {
            Some(HPRT0::SPEED::Value::High) => Speed::High,
            Some(HPRT0::SPEED::Value::Low) => Speed::Low,
            _ => Speed::Full,
        };
        self.root_speed = Some(speed);
        Ok(speed)
    }

    /// Halts `channel` if it is running and waits until it has stopped.
    fn halt(&self, channel: usize) -> Result<(), Error> {
        let ch = &self.registers.channels[channel];
        if !ch.hcchar.is_set(HCCHAR::ENABLE) {
            return Ok(());
        }
        ch.hcchar.modify(HCCHAR::DISABLE::SET + HCCHAR::ENABLE::SET);
        self.wait_until(100_000, super::ControllerStep::ChannelHalt, |r| {
            let ch = &r.channels[channel];
            !ch.hcchar.is_set(HCCHAR::ENABLE) || ch.hcint.is_set(HCINT::HALTED)
        })
    }

    /// Programs `channel` for `transfer` and enables it. Returns the packet count.
    fn launch(&mut self, channel: usize, transfer: &Transfer) -> Result<u32, Error> {
        let (packets, bytes) = packet_plan(transfer.length, transfer.max_packet, transfer.direction);
        if packets > self.max_packets || bytes > self.max_bytes || bytes as usize > transfer.capacity {
            let counter_limit = (self.max_packets as usize) * transfer.max_packet as usize;
            return Err(Error::TooLong { len: bytes as usize, max: counter_limit.min(transfer.capacity) });
        }
        self.halt(channel)?;
        let address = self.dma.address(transfer.buffer);
        if transfer.direction == Direction::Out {
            self.coherence.clean(address, bytes.max(1) as usize);
        } else {
            self.coherence.invalidate(address, bytes as usize);
        }
        fence(Ordering::SeqCst);

        let odd_frame = match transfer.kind {
            // Periodic transfers start only in a frame of the chosen parity: the next one.
            TransferType::Interrupt | TransferType::Isochronous => self.registers.hfnum.read(HFNUM::FRAME) & 1 == 0,
            _ => false,
        };
        let ch = &self.registers.channels[channel];
        ch.hcint.set(u32::MAX);
        ch.hcintmsk.set(0);
        ch.hcsplt.set(0);
        ch.hctsiz.write(HCTSIZ::BYTES.val(bytes) + HCTSIZ::PACKETS.val(packets) + HCTSIZ::PID.val(transfer.pid));
        ch.hcdma.set(self.coherence.bus_address(address));
        let kind = match transfer.kind {
            TransferType::Control => HCCHAR::TYPE::Control,
            TransferType::Isochronous => HCCHAR::TYPE::Isochronous,
            TransferType::Bulk => HCCHAR::TYPE::Bulk,
            TransferType::Interrupt => HCCHAR::TYPE::Interrupt,
        };
        ch.hcchar.write(
            HCCHAR::MAX_PACKET.val(transfer.max_packet as u32)
                + HCCHAR::ENDPOINT.val(transfer.endpoint as u32)
                + if transfer.direction == Direction::In { HCCHAR::DIRECTION::In } else { HCCHAR::DIRECTION::Out }
                + HCCHAR::LOW_SPEED.val((transfer.speed == Speed::Low) as u32)
                + kind
                + HCCHAR::MULTI_COUNT.val(1)
                + HCCHAR::ADDRESS.val(transfer.address as u32)
                + HCCHAR::ODD_FRAME.val(odd_frame as u32)
                + HCCHAR::ENABLE::SET,
        );
        Ok(packets)
    }

    /// Reads how a halted channel ended (HCINT `flags`), after its DMA.
    fn outcome(&self, channel: usize, transfer: &Transfer, packets: u32, flags: u32) -> Result<Outcome, Error> {
        fence(Ordering::SeqCst);
        let flags = LocalRegisterCopy::<u32, HCINT::Register>::new(flags);
        let (address, endpoint) = (transfer.address, transfer.endpoint);
        if flags.is_set(HCINT::COMPLETE) {
            let size = self.registers.channels[channel].hctsiz.extract();
            let (_, programmed) = packet_plan(transfer.length, transfer.max_packet, transfer.direction);
            let bytes = programmed.saturating_sub(size.read(HCTSIZ::BYTES)) as usize;
            let done_packets = packets.saturating_sub(size.read(HCTSIZ::PACKETS));
            if transfer.direction == Direction::In {
                self.coherence.invalidate(self.dma.address(transfer.buffer), bytes.max(1));
            }
            return Ok(Outcome::Done { bytes, packets: done_packets });
        }
        let errors = HCINT::AHB_ERROR::SET
            + HCINT::TRANSACTION_ERROR::SET
            + HCINT::BABBLE::SET
            + HCINT::FRAME_OVERRUN::SET
            + HCINT::TOGGLE_ERROR::SET;
        if flags.is_set(HCINT::STALL) {
            Err(Error::Stall { address, endpoint })
        } else if flags.get() & errors.value != 0 {
            Err(Error::Transaction { address, endpoint, flags: flags.get() })
        } else if flags.is_set(HCINT::NAK) || flags.is_set(HCINT::NYET) {
            Ok(Outcome::Nak)
        } else {
            Err(Error::Transaction { address, endpoint, flags: flags.get() })
        }
    }

    /// Runs `transfer` on channel 0 to its end or `timeout_us`.
    fn run(&mut self, transfer: &Transfer, timeout_us: u64) -> Result<Outcome, Error> {
        let packets = self.launch(0, transfer)?;
        let deadline = Deadline::after(self.now, timeout_us);
        loop {
            let flags = self.registers.channels[0].hcint.get();
            if flags & HCINT::HALTED::SET.value != 0 {
                return self.outcome(0, transfer, packets, flags);
            }
            if deadline.expired() {
                self.halt(0)?;
                return Err(Error::Timeout { address: transfer.address, endpoint: transfer.endpoint });
            }
            self.pause();
        }
    }

    fn control_once(&mut self, target: &Target, setup: &SetupPacket, data: &mut [u8]) -> Result<usize, Error> {
        let length = setup.length as usize;
        let stage = |direction, pid, length, buffer| Transfer {
            address: target.address,
            endpoint: 0,
            direction,
            kind: TransferType::Control,
            speed: target.speed,
            max_packet: target.max_packet0,
            pid,
            length,
            buffer,
            capacity: if buffer == SETUP_OFFSET { CONTROL_OFFSET - SETUP_OFFSET } else { CONTROL_BYTES },
        };
        self.dma.write(SETUP_OFFSET, &setup.bytes());
        let setup_stage = stage(Direction::Out, HCTSIZ::PID::Value::Setup as u32, 8, SETUP_OFFSET);
        expect_done(self.run(&setup_stage, CONTROL_STAGE_TIMEOUT_US)?, target)?;

        let mut moved = 0;
        let data_direction = if setup.is_in() { Direction::In } else { Direction::Out };
        if length > 0 {
            if data_direction == Direction::Out {
                self.dma.write(CONTROL_OFFSET, &data[..length]);
            }
            let data_stage = stage(data_direction, HCTSIZ::PID::Value::Data1 as u32, length, CONTROL_OFFSET);
            moved = expect_done(self.run(&data_stage, CONTROL_STAGE_TIMEOUT_US)?, target)?.min(length);
            if data_direction == Direction::In {
                self.dma.read(CONTROL_OFFSET, &mut data[..moved]);
            }
        }
        // The status stage goes the other way (IN when there was no data stage).
        let status_direction =
            if length > 0 && data_direction == Direction::In { Direction::Out } else { Direction::In };
        let status_stage = stage(status_direction, HCTSIZ::PID::Value::Data1 as u32, 0, CONTROL_OFFSET);
        expect_done(self.run(&status_stage, CONTROL_STAGE_TIMEOUT_US)?, target)?;
        Ok(moved)
    }

    fn slot_transfer(&self, slot: usize) -> Result<SlotTransfer, Error> {
        if slot >= self.slot_count {
            return Err(Error::NoSlot(slot));
        }
        self.slots[slot].ok_or(Error::SlotIdle(slot))
    }
}

/// A control stage must complete (a NAK would have been retried by the core).
fn expect_done(outcome: Outcome, target: &Target) -> Result<usize, Error> {
    match outcome {
        Outcome::Done { bytes, .. } => Ok(bytes),
        Outcome::Nak => Err(Error::Timeout { address: target.address, endpoint: 0 }),
    }
}

impl Host for Dwc2 {
    fn control(&mut self, target: &Target, setup: &SetupPacket, data: &mut [u8]) -> Result<usize, Error> {
        let length = setup.length as usize;
        if length > data.len() || length > CONTROL_BYTES {
            return Err(Error::TooLong { len: length, max: data.len().min(CONTROL_BYTES) });
        }
        let mut attempt = 0;
        loop {
            match self.control_once(target, setup, data) {
                Err(Error::Transaction { .. }) if attempt + 1 < CONTROL_ATTEMPTS => attempt += 1,
                result => return result,
            }
        }
    }

    fn interrupt_in(&mut self, pipe: &mut Pipe, buffer: &mut [u8]) -> Result<Option<usize>, Error> {
        if buffer.len() > CONTROL_BYTES || pipe.direction != Direction::In {
            return Err(Error::TooLong { len: buffer.len(), max: CONTROL_BYTES });
        }
        let transfer = Transfer {
            address: pipe.address,
            endpoint: pipe.endpoint,
            direction: Direction::In,
            kind: TransferType::Interrupt,
            speed: pipe.speed,
            max_packet: pipe.max_packet,
            pid: if pipe.data1 { HCTSIZ::PID::Value::Data1 as u32 } else { HCTSIZ::PID::Value::Data0 as u32 },
            length: buffer.len().max(1),
            buffer: CONTROL_OFFSET,
            capacity: CONTROL_BYTES,
        };
        match self.run(&transfer, INTERRUPT_TIMEOUT_US)? {
            Outcome::Nak => Ok(None),
            Outcome::Done { bytes, packets } => {
                pipe.data1 = toggle_after(pipe.data1, packets);
                if bytes > buffer.len() {
                    return Err(Error::TooLong { len: bytes, max: buffer.len() });
                }
                self.dma.read(CONTROL_OFFSET, &mut buffer[..bytes]);
                Ok(Some(bytes))
            }
        }
    }

    fn slots(&self) -> usize {
        self.slot_count
    }

    fn start(&mut self, slot: usize, pipe: &Pipe, out: &[u8], in_length: usize) -> Result<(), Error> {
        match self.slot_transfer(slot) {
            Err(Error::SlotIdle(_)) => {}
            Err(error) => return Err(error),
            Ok(_) => return Err(Error::SlotBusy(slot)),
        }
        let length = if pipe.direction == Direction::Out { out.len() } else { in_length };
        if length > SLOT_BYTES {
            return Err(Error::TooLong { len: length, max: SLOT_BYTES });
        }
        let buffer = SLOTS_OFFSET + slot * SLOT_BYTES;
        if pipe.direction == Direction::Out {
            self.dma.write(buffer, out);
        }
        let transfer = Transfer {
            address: pipe.address,
            endpoint: pipe.endpoint,
            direction: pipe.direction,
            kind: pipe.kind,
            speed: pipe.speed,
            max_packet: pipe.max_packet,
            pid: if pipe.data1 { HCTSIZ::PID::Value::Data1 as u32 } else { HCTSIZ::PID::Value::Data0 as u32 },
            length,
            buffer,
            capacity: SLOT_BYTES,
        };
        let packets = self.launch(1 + slot, &transfer)?;
        self.slots[slot] = Some(SlotTransfer { transfer, packets, started: (self.now)() });
        Ok(())
    }

    fn poll(&mut self, slot: usize, pipe: &mut Pipe, buffer: &mut [u8]) -> Result<Option<usize>, Error> {
        let running = self.slot_transfer(slot)?;
        let channel = 1 + slot;
        let transfer = running.transfer;
        let flags = self.registers.channels[channel].hcint.get();
        if flags & HCINT::HALTED::SET.value == 0 {
            let elapsed = (self.now)().saturating_sub(running.started);
            if transfer.direction == Direction::Out && elapsed > OUT_TIMEOUT_US {
                self.slots[slot] = None;
                self.halt(channel)?;
                return Err(Error::Timeout { address: transfer.address, endpoint: transfer.endpoint });
            }
            return Ok(None);
        }
        self.slots[slot] = None;
        match self.outcome(channel, &transfer, running.packets, flags)? {
            Outcome::Nak => Ok(Some(0)),
            Outcome::Done { bytes, packets } => {
                pipe.data1 = toggle_after(pipe.data1, packets);
                if transfer.direction == Direction::In {
                    if bytes > buffer.len() {
                        return Err(Error::TooLong { len: bytes, max: buffer.len() });
                    }
                    self.dma.read(transfer.buffer, &mut buffer[..bytes]);
                }
                Ok(Some(bytes))
            }
        }
    }

    fn now_us(&self) -> u64 {
        (self.now)()
    }

    fn delay_ms(&mut self, ms: u32) {
        self.delay_us(ms as u64 * 1000);
    }
}

#[cfg(test)]
mod tests;
