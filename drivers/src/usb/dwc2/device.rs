//! The DWC2 core as a USB device (the Pi Zero 2 W's data port, the Pi 4's USB-C port):
//! buffer DMA, polled, implementing [`Controller`] for the gadget.
//!
//! References: the DesignWare OTG databook's device chapters as Linux's `dwc2/gadget.c` and
//! TinyUSB's `dcd_dwc2.c` use them (register offsets and field names as in
//! `registers.rs`). The BCM283x/BCM2711 cores are release 2.80a / 2.94a: older than 3.00a,
//! so endpoint 0 has no "setup packet received" or "status phase received" flags and
//! SETUP packets are seen through DOEPINT.SETUP_DONE alone.
//!
//! # How it works
//! After a core reset in device mode the driver sizes the FIFOs (one shared receive FIFO,
//! one transmit FIFO per IN endpoint, in 32-bit words of the core's RAM) and connects.
//! A bus reset (GINTSTS.USB_RESET) closes every endpoint and arms endpoint 0 OUT for up to
//! three back-to-back SETUP packets; the core writes each into the SETUP buffer by DMA and
//! advances DOEPDMA0, so the valid packet is the 8 bytes before it. The driver runs the
//! control data and status stages a packet at a time (endpoint 0's size register holds one
//! packet) and reports whole events. Other endpoints move one transfer at a time: program
//! the size (bytes, packets) and DMA address, set ENABLE and CLEAR_NAK, and the core
//! moves every packet, clearing ENABLE and raising COMPLETE at the end (or at a short
//! packet on OUT). The interrupt flags are write-1-to-clear and the driver writes only the
//! bits it handled.
//!
//! # DMA memory
//! One region the caller hands in ([`Dwc2Device::new`]), cut into 64-byte aligned buffers:
//! SETUP, endpoint 0 IN and OUT, and one [`ENDPOINT_BYTES`] buffer per direction for
//! endpoints 1 to [`ENDPOINTS`]. The caller's [`DmaCoherence`] translates addresses and
//! keeps the caches coherent, as for host mode.

use super::{
    registers::{Registers, DAINT, DCFG, DCTL, DEPCTL, DEPTSIZ, DIEPINT, DOEPINT, DSTS, GINTSTS, GOTGCTL, GOTGINT},
    DmaRegion, ALIGN, SIGNATURE,
};
use crate::{
    deadline::{Deadline, Micros},
    mailbox::DmaCoherence,
    mmio::Mmio,
    usb::{
        gadget::{
            Controller, EndpointAddress, EndpointConfig, EndpointKind, Event, GadgetError, CONTROL_BYTES,
            EP0_MAX_PACKET,
        },
        Error, SetupPacket, Speed,
    },
};
use fifo::FifoPlan;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

/// Endpoints (besides 0) this driver serves, per direction.
pub const ENDPOINTS: usize = 5;
/// Bytes of each endpoint's DMA buffer: the longest transfer it moves at once.
pub const ENDPOINT_BYTES: usize = 2048;

const SETUP_OFFSET: usize = 0;
const EP0_IN_OFFSET: usize = ALIGN;
const EP0_OUT_OFFSET: usize = EP0_IN_OFFSET + CONTROL_BYTES;
const ENDPOINTS_OFFSET: usize = EP0_OUT_OFFSET + CONTROL_BYTES;

/// Bytes of DMA memory [`Dwc2Device::new`] needs, including alignment slack.
pub const DEVICE_DMA_BYTES: usize = ALIGN + ENDPOINTS_OFFSET + 2 * ENDPOINTS * ENDPOINT_BYTES;

/// How long a core reset, FIFO flush or endpoint disable may take.
const STEP_TIMEOUT_US: u64 = 100_000;
/// Events kept between two polls (a poll drains every flag the core raised).
const EVENT_QUEUE: usize = 16;

/// The write-1-to-clear flags this driver handles, by register.
const IN_FLAGS: u32 = 0b1111; // COMPLETE, DISABLED, AHB_ERROR, TIMEOUT
const OUT_FLAGS: u32 = 0b101_1111; // COMPLETE, DISABLED, AHB_ERROR, SETUP_DONE, TOKEN_DISABLED, BACK_TO_BACK

mod fifo {
    /// How the core's FIFO RAM (in 32-bit words) is shared: the receive FIFO at the bottom,
    /// then endpoint 0's transmit FIFO, then one per opened IN endpoint.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct FifoPlan {
        /// Total words.
        pub depth: u32,
        /// Words of the shared receive FIFO.
        pub receive: u32,
        /// Next free word.
        pub next: u32,
    }

    impl FifoPlan {
        /// Endpoint 0's transmit FIFO: one packet of 64 bytes.
        pub const EP0_WORDS: u32 = 16;

        /// The plan for a core with `depth` words and endpoints of at most 512 bytes:
        /// receive FIFO as the databook sizes it (13 words for SETUP packets, 1 for global
        /// NAK, two largest packets with their status words, 2 per OUT endpoint).
        pub fn new(depth: u32, out_endpoints: u32) -> FifoPlan {
            let receive = (13 + 1 + 2 * (512 / 4 + 1) + 2 * out_endpoints).min(depth / 2);
            FifoPlan { depth, receive, next: receive + Self::EP0_WORDS }
        }

        /// Room for a transmit FIFO of `bytes` (whole words, twice for bulk so the core can
        /// fill one packet while it sends the other): its start and size, if it fits.
        pub fn take(&mut self, bytes: u16, double: bool) -> Option<(u32, u32)> {
            let words = (bytes as u32).div_ceil(4).max(16) * if double { 2 } else { 1 };
            let start = self.next;
            (start + words <= self.depth).then(|| {
                self.next += words;
                (start, words)
            })
        }
    }
}

/// Endpoint 0's control transfer state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Control {
    /// Waiting for a SETUP.
    Idle,
    /// A SETUP was reported; the gadget has not answered yet.
    Pending { length: u16 },
    /// Sending the IN data stage: `sent` of `length` bytes, then a zero-length packet if
    /// `zero_packet`.
    DataIn { length: usize, sent: usize, packet: usize, zero_packet: bool },
    /// Waiting for the host's zero-length OUT status packet.
    StatusOut,
    /// Receiving the OUT data stage.
    DataOut { length: usize, received: usize, packet: usize },
    /// The OUT data stage was reported; the gadget has not answered yet.
    DataDone { received: usize },
    /// Sending the zero-length IN status packet.
    StatusIn,
}

/// A non-control endpoint's state (one direction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pipe {
    open: bool,
    max_packet: u16,
    /// A transfer is in flight (IN: being sent; OUT: armed).
    busy: bool,
    /// Bytes programmed for the transfer in flight.
    programmed: usize,
    /// IN: a zero-length packet follows the transfer in flight.
    zero_packet: bool,
    /// OUT: bytes the last finished transfer brought.
    received: usize,
    halted: bool,
}

/// What [`Dwc2Device::info`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// GSNPSID (0x4F54xxxx).
    pub id: u32,
    /// FIFO words of the core.
    pub fifo_words: u32,
    /// Whether VBUS is sensed (else the B-session is overridden valid).
    pub vbus_sensed: bool,
    /// The speed of the last enumeration.
    pub speed: Option<Speed>,
    /// The address the host gave.
    pub address: u8,
}

/// The DWC2 controller in device mode.
pub struct Dwc2Device {
    registers: Mmio<Registers>,
    dma: DmaRegion,
    coherence: &'static (dyn DmaCoherence + Sync),
    now: Micros,
    fifo: FifoPlan,
    control: Control,
    pipes: [[Pipe; 2]; ENDPOINTS + 1],
    events: [Option<Event>; EVENT_QUEUE],
    head: usize,
    len: usize,
    speed: Option<Speed>,
    vbus_sensed: bool,
    suspended: bool,
    /// Events dropped because the queue was full (a poll loop that fell far behind).
    pub dropped_events: u32,
}

// SAFETY: as for the host driver: the DMA region is owned exclusively (a `&'static mut [u8]`
// given up at construction) and moves with the driver; registers are reached through `Mmio`.
unsafe impl Send for Dwc2Device {}

const IN: usize = 0;
const OUT: usize = 1;

fn direction(address: EndpointAddress) -> usize {
    if address & 0x80 != 0 {
        IN
    } else {
        OUT
    }
}

impl Dwc2Device {
    /// Checks the core at `base` and takes `dma` ([`DEVICE_DMA_BYTES`]) as its DMA memory.
    ///
    /// # Safety
    /// As for [`super::Dwc2::new`]: `base` is the mapped DWC2 register block, owned by this
    /// driver (the host driver must not run on it at the same time); `dma` is RAM the
    /// controller reaches at `coherence.bus_address`.
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
        let architecture = registers.ghwcfg2.read(super::registers::GHWCFG2::ARCHITECTURE);
        if architecture != 2 {
            return Err(Error::NoDma(architecture));
        }
        let skip = dma.as_ptr().align_offset(ALIGN).min(dma.len());
        let usable = (dma.len() - skip) & !(ALIGN - 1);
        let needed = ENDPOINTS_OFFSET + 2 * ENDPOINTS * ENDPOINT_BYTES;
        if usable < needed {
            return Err(Error::DmaRegion { len: usable, needed });
        }
        let depth = registers.ghwcfg3.read(super::registers::GHWCFG3::FIFO_DEPTH).max(256);
        let region = DmaRegion { base: dma[skip..].as_mut_ptr(), len: usable };
        Ok(Dwc2Device {
            registers,
            dma: region,
            coherence,
            now,
            fifo: FifoPlan::new(depth, ENDPOINTS as u32 + 1),
            control: Control::Idle,
            pipes: [[Pipe::default(); 2]; ENDPOINTS + 1],
            events: [None; EVENT_QUEUE],
            head: 0,
            len: 0,
            speed: None,
            vbus_sensed: false,
            suspended: false,
            dropped_events: 0,
        })
    }

    /// What the controller is and how it stands.
    pub fn info(&self) -> DeviceInfo {
        DeviceInfo {
            id: self.registers.gsnpsid.get(),
            fifo_words: self.fifo.depth,
            vbus_sensed: self.vbus_sensed,
            speed: self.speed,
            address: self.registers.dcfg.read(DCFG::ADDRESS) as u8,
        }
    }

    fn wait(&self, what: &'static str, done: impl Fn(&Registers) -> bool) -> Result<(), GadgetError> {
        let deadline = Deadline::after(self.now, STEP_TIMEOUT_US);
        loop {
            if done(&self.registers) {
                return Ok(());
            }
            if deadline.expired() {
                return Err(GadgetError::Controller(what));
            }
            core::hint::spin_loop();
        }
    }

    fn delay_us(&self, micros: u64) {
        let deadline = Deadline::after(self.now, micros);
        while !deadline.expired() {
            core::hint::spin_loop();
        }
    }

    /// Resets the core into device mode (8-bit UTMI+ PHY, high speed, internal DMA), sizes
    /// the FIFOs and connects to the bus. Takes about 50 ms (the mode change waits).
    pub fn init(&mut self) -> Result<(), GadgetError> {
        use super::registers::{GAHBCFG, GRSTCTL, GUSBCFG};
        let regs = &*self.registers;
        regs.gahbcfg.modify(GAHBCFG::GLOBAL_INTERRUPT::CLEAR);
        regs.dctl.modify(DCTL::SOFT_DISCONNECT::SET);
        self.wait("AHB idle before the core reset", |r| r.grstctl.is_set(GRSTCTL::AHB_IDLE))?;
        regs.grstctl.write(GRSTCTL::CORE_SOFT_RESET::SET);
        self.wait("the core soft reset", |r| !r.grstctl.is_set(GRSTCTL::CORE_SOFT_RESET))?;
        self.delay_us(20_000);
        regs.gusbcfg.modify(
            GUSBCFG::ULPI::CLEAR
                + GUSBCFG::PHY_16BIT::CLEAR
                + GUSBCFG::HNP_CAPABLE::CLEAR
                + GUSBCFG::SRP_CAPABLE::CLEAR
                + GUSBCFG::FORCE_HOST::CLEAR
                + GUSBCFG::FORCE_DEVICE::SET
                + GUSBCFG::TURNAROUND.val(9),
        );
        // The databook asks for 25 ms after forcing a mode.
        self.delay_us(25_000);
        // A core that cannot be a device (host-only, like QEMU's model of it) stays a host.
        if regs.gintsts.is_set(GINTSTS::CURRENT_MODE) {
            return Err(GadgetError::Controller("device mode (the core stayed in host mode)"));
        }
        regs.pcgcctl.set(0);
        regs.gahbcfg
            .modify(GAHBCFG::DMA_ENABLE::SET + GAHBCFG::BCM_WAIT_AXI_WRITES::SET + GAHBCFG::BCM_MAX_AXI_BURST.val(0));
        regs.dcfg.write(DCFG::DEVICE_SPEED::High + DCFG::NONZERO_STATUS_STALL::SET + DCFG::ADDRESS.val(0));
        // A port whose VBUS pin the core does not see would never start a session: then
        // say the B-session is valid ourselves (and detect unplugging by the bus going idle).
        self.vbus_sensed = regs.gotgctl.is_set(GOTGCTL::B_SESSION_VALID);
        if !self.vbus_sensed {
            regs.gotgctl.modify(GOTGCTL::B_VALID_OVERRIDE::SET + GOTGCTL::B_VALID_VALUE::SET);
        }
        self.fifo = FifoPlan::new(self.fifo.depth, ENDPOINTS as u32 + 1);
        self.program_fifos()?;
        regs.gotgint.write(GOTGINT::SESSION_END::SET);
        regs.gintsts.write(
            GINTSTS::OTG::SET
                + GINTSTS::START_OF_FRAME::SET
                + GINTSTS::EARLY_SUSPEND::SET
                + GINTSTS::SUSPEND::SET
                + GINTSTS::USB_RESET::SET
                + GINTSTS::ENUMERATION_DONE::SET
                + GINTSTS::SESSION_REQUEST::SET
                + GINTSTS::WAKEUP::SET,
        );
        // Polled: the masks only decide which flags reach DAINT and the interrupt line.
        regs.gintmsk.set(
            (GINTSTS::OTG::SET
                + GINTSTS::SUSPEND::SET
                + GINTSTS::USB_RESET::SET
                + GINTSTS::ENUMERATION_DONE::SET
                + GINTSTS::IN_ENDPOINT::SET
                + GINTSTS::OUT_ENDPOINT::SET
                + GINTSTS::WAKEUP::SET)
                .value,
        );
        regs.diepmsk.set((DIEPINT::COMPLETE::SET + DIEPINT::TIMEOUT::SET + DIEPINT::AHB_ERROR::SET).value);
        regs.doepmsk.set((DOEPINT::COMPLETE::SET + DOEPINT::SETUP_DONE::SET + DOEPINT::AHB_ERROR::SET).value);
        regs.daintmsk.write(DAINT::IN.val(1) + DAINT::OUT.val(1));
        self.control = Control::Idle;
        self.pipes = [[Pipe::default(); 2]; ENDPOINTS + 1];
        Ok(())
    }

    /// Receive FIFO, endpoint 0's transmit FIFO; flushes both.
    fn program_fifos(&self) -> Result<(), GadgetError> {
        use super::registers::{FIFO_SIZE, GRSTCTL};
        let regs = &*self.registers;
        regs.grxfsiz.set(self.fifo.receive);
        regs.gnptxfsiz.write(FIFO_SIZE::START.val(self.fifo.receive) + FIFO_SIZE::DEPTH.val(FifoPlan::EP0_WORDS));
        regs.grstctl.write(GRSTCTL::TX_FIFO_FLUSH::SET + GRSTCTL::TX_FIFO_NUMBER.val(0x10));
        self.wait("the transmit FIFO flush", |r| !r.grstctl.is_set(GRSTCTL::TX_FIFO_FLUSH))?;
        regs.grstctl.write(GRSTCTL::RX_FIFO_FLUSH::SET);
        self.wait("the receive FIFO flush", |r| !r.grstctl.is_set(GRSTCTL::RX_FIFO_FLUSH))
    }

    fn push(&mut self, event: Event) {
        if self.len == EVENT_QUEUE {
            self.dropped_events += 1;
            return;
        }
        self.events[(self.head + self.len) % EVENT_QUEUE] = Some(event);
        self.len += 1;
    }

    fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let event = self.events[self.head].take();
        self.head = (self.head + 1) % EVENT_QUEUE;
        self.len -= 1;
        event
    }

    fn bus(&self, offset: usize) -> u32 {
        self.coherence.bus_address(self.dma.address(offset))
    }

    fn buffer(endpoint: usize, dir: usize) -> usize {
        ENDPOINTS_OFFSET + ((endpoint - 1) * 2 + dir) * ENDPOINT_BYTES
    }

    /// Arms endpoint 0 OUT for up to three back-to-back SETUP packets.
    fn arm_setup(&self) {
        let out0 = &self.registers.out_endpoints[0];
        self.coherence.invalidate(self.dma.address(SETUP_OFFSET), 3 * 8);
        out0.size.write(DEPTSIZ::SETUP_COUNT.val(3));
        out0.dma.set(self.bus(SETUP_OFFSET));
        out0.control.modify(DEPCTL::ENABLE::SET);
    }

    /// Sends one packet of the control IN stage (`length` bytes at `offset` of the IN buffer).
    fn control_packet_in(&self, offset: usize, length: usize) {
        let in0 = &self.registers.in_endpoints[0];
        if length > 0 {
            self.coherence.clean(self.dma.address(EP0_IN_OFFSET + offset), length);
        }
        in0.size.write(DEPTSIZ::BYTES.val(length as u32) + DEPTSIZ::PACKETS.val(1));
        in0.dma.set(self.bus(EP0_IN_OFFSET + offset));
        in0.control.modify(DEPCTL::ENABLE::SET + DEPCTL::CLEAR_NAK::SET);
    }

    /// Arms one packet of a control OUT stage: data (`offset` into the OUT buffer) or the
    /// status packet (`None`: no data, and SETUP packets may land meanwhile).
    fn control_packet_out(&self, offset: Option<usize>) {
        let out0 = &self.registers.out_endpoints[0];
        match offset {
            Some(offset) => {
                self.coherence.invalidate(self.dma.address(EP0_OUT_OFFSET + offset), EP0_MAX_PACKET);
                out0.size.write(DEPTSIZ::BYTES.val(EP0_MAX_PACKET as u32) + DEPTSIZ::PACKETS.val(1));
                out0.dma.set(self.bus(EP0_OUT_OFFSET + offset));
            }
            None => {
                out0.size.write(DEPTSIZ::PACKETS.val(1) + DEPTSIZ::SETUP_COUNT.val(3));
                out0.dma.set(self.bus(SETUP_OFFSET));
            }
        }
        out0.control.modify(DEPCTL::ENABLE::SET + DEPCTL::CLEAR_NAK::SET);
    }

    /// Stops endpoint 0 IN if it is still sending (a new SETUP aborts the old transfer).
    fn abort_control_in(&self) {
        let in0 = &self.registers.in_endpoints[0];
        if in0.control.is_set(DEPCTL::ENABLE) {
            in0.control.modify(DEPCTL::SET_NAK::SET + DEPCTL::DISABLE::SET);
            let _ = self.wait("endpoint 0 IN disable", |r| !r.in_endpoints[0].control.is_set(DEPCTL::ENABLE));
            in0.interrupt.set(DIEPINT::DISABLED::SET.value);
        }
    }

    fn on_reset(&mut self) {
        let regs = &*self.registers;
        for n in 0..=ENDPOINTS {
            regs.out_endpoints[n].control.modify(DEPCTL::SET_NAK::SET);
            if regs.in_endpoints[n].control.is_set(DEPCTL::ENABLE) {
                regs.in_endpoints[n].control.modify(DEPCTL::SET_NAK::SET + DEPCTL::DISABLE::SET);
            }
            if n > 0 {
                regs.in_endpoints[n].control.modify(DEPCTL::ACTIVE::CLEAR + DEPCTL::STALL::CLEAR);
                regs.out_endpoints[n].control.modify(DEPCTL::ACTIVE::CLEAR + DEPCTL::STALL::CLEAR);
            }
        }
        regs.daintmsk.write(DAINT::IN.val(1) + DAINT::OUT.val(1));
        regs.dcfg.modify(DCFG::ADDRESS.val(0));
        self.fifo = FifoPlan::new(self.fifo.depth, ENDPOINTS as u32 + 1);
        let _ = self.program_fifos();
        self.pipes = [[Pipe::default(); 2]; ENDPOINTS + 1];
        self.control = Control::Idle;
        self.suspended = false;
        self.arm_setup();
    }

    fn on_enumerated(&mut self) {
        let speed = match self.registers.dsts.read_as_enum(DSTS::ENUMERATED_SPEED) {
            Some(DSTS::ENUMERATED_SPEED::Value::High) => Speed::High,
            Some(DSTS::ENUMERATED_SPEED::Value::Low) => Speed::Low,
            _ => Speed::Full,
        };
        self.speed = Some(speed);
        // Endpoint 0: 64-byte packets (code 0), always active.
        for endpoint in [&self.registers.in_endpoints[0], &self.registers.out_endpoints[0]] {
            endpoint.control.modify(DEPCTL::MAX_PACKET.val(0));
        }
        self.push(Event::Enumerated(speed));
    }

    /// The SETUP the core wrote last: DOEPDMA0 points past it.
    fn take_setup(&mut self) {
        let end = self.registers.out_endpoints[0].dma.get().wrapping_sub(self.bus(SETUP_OFFSET)) as usize;
        // Up to three packets fit; anything else means the pointer was not advanced as the
        // databook says, and the first packet is the best guess.
        let start = if (8..=24).contains(&end) && end.is_multiple_of(8) { end - 8 } else { 0 };
        self.coherence.invalidate(self.dma.address(SETUP_OFFSET), 24);
        let mut raw = [0u8; 8];
        self.dma.read(SETUP_OFFSET + start, &mut raw);
        let setup = SetupPacket {
            request_type: raw[0],
            request: raw[1],
            value: u16::from_le_bytes([raw[2], raw[3]]),
            index: u16::from_le_bytes([raw[4], raw[5]]),
            length: u16::from_le_bytes([raw[6], raw[7]]),
        };
        self.abort_control_in();
        self.control = Control::Pending { length: setup.length };
        self.push(Event::Setup(setup));
    }

    fn on_control_in_done(&mut self) {
        match self.control {
            Control::DataIn { length, sent, packet, zero_packet } => {
                let sent = sent + packet;
                if sent < length {
                    let next = (length - sent).min(EP0_MAX_PACKET);
                    self.control = Control::DataIn { length, sent, packet: next, zero_packet };
                    self.control_packet_in(sent, next);
                } else if zero_packet {
                    self.control = Control::DataIn { length, sent, packet: 0, zero_packet: false };
                    self.control_packet_in(sent, 0);
                } else {
                    self.control = Control::StatusOut;
                    self.control_packet_out(None);
                }
            }
            Control::StatusIn => {
                self.control = Control::Idle;
                self.arm_setup();
            }
            _ => {}
        }
    }

    fn on_control_out_done(&mut self) {
        let remaining = self.registers.out_endpoints[0].size.read(DEPTSIZ::BYTES) as usize;
        match self.control {
            Control::StatusOut => {
                self.control = Control::Idle;
                self.arm_setup();
            }
            Control::DataOut { length, received, packet } => {
                let got = packet.saturating_sub(remaining).min(length - received);
                self.coherence.invalidate(self.dma.address(EP0_OUT_OFFSET + received), EP0_MAX_PACKET);
                let received = received + got;
                if received < length && got == EP0_MAX_PACKET {
                    self.control = Control::DataOut { length, received, packet: EP0_MAX_PACKET };
                    self.control_packet_out(Some(received));
                } else {
                    self.control = Control::DataDone { received };
                    self.push(Event::ControlData(received));
                }
            }
            _ => {}
        }
    }

    fn on_in(&mut self, endpoint: usize) {
        let ep = &self.registers.in_endpoints[endpoint];
        let flags = ep.interrupt.get() & IN_FLAGS;
        if flags == 0 {
            return;
        }
        ep.interrupt.set(flags);
        if flags & DIEPINT::COMPLETE::SET.value == 0 {
            return;
        }
        if endpoint == 0 {
            self.on_control_in_done();
            return;
        }
        let Some(pipe) = self.pipes.get_mut(endpoint).map(|p| &mut p[IN]) else { return };
        if !pipe.busy {
            return;
        }
        if pipe.zero_packet {
            pipe.zero_packet = false;
            pipe.programmed = 0;
            let ep = &self.registers.in_endpoints[endpoint];
            ep.size.write(DEPTSIZ::PACKETS.val(1));
            ep.dma.set(self.bus(Self::buffer(endpoint, IN)));
            ep.control.modify(DEPCTL::ENABLE::SET + DEPCTL::CLEAR_NAK::SET);
            return;
        }
        pipe.busy = false;
        self.push(Event::InComplete(endpoint as u8 | 0x80));
    }

    fn on_out(&mut self, endpoint: usize) {
        let ep = &self.registers.out_endpoints[endpoint];
        let flags = ep.interrupt.get() & OUT_FLAGS;
        if flags == 0 {
            return;
        }
        ep.interrupt.set(flags);
        if endpoint == 0 {
            // The status OUT of a control read can complete in the same poll as the next
            // SETUP arrives: the completion first.
            if flags & DOEPINT::COMPLETE::SET.value != 0 {
                self.on_control_out_done();
            }
            if flags & DOEPINT::SETUP_DONE::SET.value != 0 {
                self.take_setup();
            }
            return;
        }
        if flags & DOEPINT::COMPLETE::SET.value == 0 {
            return;
        }
        let remaining = ep.size.read(DEPTSIZ::BYTES) as usize;
        let Some(pipe) = self.pipes.get_mut(endpoint).map(|p| &mut p[OUT]) else { return };
        if !pipe.busy {
            return;
        }
        pipe.busy = false;
        pipe.received = pipe.programmed.saturating_sub(remaining);
        let received = pipe.received;
        self.coherence.invalidate(self.dma.address(Self::buffer(endpoint, OUT)), received.max(1));
        self.push(Event::OutComplete(endpoint as u8, received));
    }

    /// Reads the core's flags into events.
    fn service(&mut self) {
        let regs = &*self.registers;
        let status = regs.gintsts.extract();
        if status.is_set(GINTSTS::OTG) {
            let otg = regs.gotgint.extract();
            if otg.is_set(GOTGINT::SESSION_END) {
                regs.gotgint.write(GOTGINT::SESSION_END::SET);
                self.speed = None;
                self.control = Control::Idle;
                self.pipes = [[Pipe::default(); 2]; ENDPOINTS + 1];
                self.push(Event::Disconnect);
            }
        }
        // One write clears every event flag seen (each was read set, so none is lost).
        let events = GINTSTS::USB_RESET::SET
            + GINTSTS::ENUMERATION_DONE::SET
            + GINTSTS::SUSPEND::SET
            + GINTSTS::EARLY_SUSPEND::SET
            + GINTSTS::WAKEUP::SET
            + GINTSTS::SESSION_REQUEST::SET;
        let seen = status.get() & events.value;
        if seen != 0 {
            self.registers.gintsts.set(seen);
        }
        if status.is_set(GINTSTS::USB_RESET) {
            self.on_reset();
            self.push(Event::Reset);
        }
        if status.is_set(GINTSTS::ENUMERATION_DONE) {
            self.on_enumerated();
        }
        if status.is_set(GINTSTS::SUSPEND) && !self.suspended && self.speed.is_some() {
            self.suspended = true;
            self.push(Event::Suspend);
        }
        if status.is_set(GINTSTS::WAKEUP) && self.suspended {
            self.suspended = false;
            self.push(Event::Resume);
        }
        let daint = self.registers.daint.extract();
        let (ins, outs) = (daint.read(DAINT::IN), daint.read(DAINT::OUT));
        for endpoint in 0..=ENDPOINTS {
            if outs & (1 << endpoint) != 0 {
                self.on_out(endpoint);
            }
            if ins & (1 << endpoint) != 0 {
                self.on_in(endpoint);
            }
        }
    }

    fn pipe(&self, address: EndpointAddress) -> Result<(usize, usize), GadgetError> {
        let endpoint = (address & 0x0f) as usize;
        let dir = direction(address);
        match self.pipes.get(endpoint) {
            Some(pipes) if endpoint > 0 && pipes[dir].open => Ok((endpoint, dir)),
            _ => Err(GadgetError::NotOpen(address)),
        }
    }

    fn endpoint(&self, endpoint: usize, dir: usize) -> &super::registers::Endpoint {
        if dir == IN {
            &self.registers.in_endpoints[endpoint]
        } else {
            &self.registers.out_endpoints[endpoint]
        }
    }
}

impl Controller for Dwc2Device {
    fn poll(&mut self) -> Option<Event> {
        if self.len == 0 {
            self.service();
        }
        self.pop()
    }

    fn control_in(&mut self, data: &[u8]) -> Result<(), GadgetError> {
        let Control::Pending { length: asked } = self.control else { return Err(GadgetError::Busy(0x80)) };
        let length = data.len().min(asked as usize).min(CONTROL_BYTES);
        self.dma.write(EP0_IN_OFFSET, &data[..length]);
        // A shorter answer than asked that ends on a packet boundary needs a zero-length
        // packet to end the stage (USB 2.0 8.5.3.2).
        let zero_packet = length < asked as usize && length.is_multiple_of(EP0_MAX_PACKET) && length > 0;
        let first = length.min(EP0_MAX_PACKET);
        self.control = Control::DataIn { length, sent: 0, packet: first, zero_packet };
        self.control_packet_in(0, first);
        Ok(())
    }

    fn control_out(&mut self, length: usize) -> Result<(), GadgetError> {
        let Control::Pending { .. } = self.control else { return Err(GadgetError::Busy(0x00)) };
        if length > CONTROL_BYTES {
            return Err(GadgetError::TooLong { len: length, max: CONTROL_BYTES });
        }
        if length == 0 {
            self.control = Control::DataDone { received: 0 };
            self.push(Event::ControlData(0));
            return Ok(());
        }
        self.control = Control::DataOut { length, received: 0, packet: EP0_MAX_PACKET };
        self.control_packet_out(Some(0));
        Ok(())
    }

    fn control_data(&self, buffer: &mut [u8]) -> usize {
        let Control::DataDone { received } = self.control else { return 0 };
        let n = received.min(buffer.len());
        self.dma.read(EP0_OUT_OFFSET, &mut buffer[..n]);
        n
    }

    fn control_status(&mut self) -> Result<(), GadgetError> {
        match self.control {
            Control::Pending { .. } | Control::DataDone { .. } => {
                self.control = Control::StatusIn;
                self.control_packet_in(0, 0);
                Ok(())
            }
            _ => Err(GadgetError::Busy(0x80)),
        }
    }

    fn control_stall(&mut self) {
        let regs = &*self.registers;
        regs.in_endpoints[0].control.modify(DEPCTL::STALL::SET);
        regs.out_endpoints[0].control.modify(DEPCTL::STALL::SET);
        self.control = Control::Idle;
        // The next SETUP clears the stall (the core does, on endpoint 0).
        self.arm_setup();
    }

    fn set_address(&mut self, address: u8) {
        // The DWC2 takes the new address before the status stage and answers that stage
        // at the old one itself.
        self.registers.dcfg.modify(DCFG::ADDRESS.val(address as u32 & 0x7f));
    }

    fn open(&mut self, config: EndpointConfig) -> Result<(), GadgetError> {
        let endpoint = (config.address & 0x0f) as usize;
        let dir = direction(config.address);
        if endpoint == 0 || endpoint > ENDPOINTS {
            return Err(GadgetError::NoRoom);
        }
        let max_packet = config.max_packet.clamp(8, 512);
        let kind = match config.kind {
            EndpointKind::Bulk => DEPCTL::TYPE::Bulk,
            EndpointKind::Interrupt => DEPCTL::TYPE::Interrupt,
        };
        let fields = DEPCTL::MAX_PACKET.val(max_packet as u32)
            + DEPCTL::ACTIVE::SET
            + kind
            + DEPCTL::SET_DATA0::SET
            + DEPCTL::STALL::CLEAR;
        if dir == IN {
            let (start, words) =
                self.fifo.take(max_packet, config.kind == EndpointKind::Bulk).ok_or(GadgetError::NoRoom)?;
            self.registers.dieptxf[endpoint - 1]
                .write(super::registers::FIFO_SIZE::START.val(start) + super::registers::FIFO_SIZE::DEPTH.val(words));
            self.registers.in_endpoints[endpoint].control.modify(fields + DEPCTL::TX_FIFO.val(endpoint as u32));
            self.registers.daintmsk.set(self.registers.daintmsk.get() | 1 << endpoint);
        } else {
            self.registers.out_endpoints[endpoint].control.modify(fields);
            self.registers.daintmsk.set(self.registers.daintmsk.get() | 1 << (16 + endpoint));
        }
        self.pipes[endpoint][dir] = Pipe { open: true, max_packet, ..Pipe::default() };
        Ok(())
    }

    fn close_all(&mut self) {
        for endpoint in 1..=ENDPOINTS {
            for dir in [IN, OUT] {
                let ep = self.endpoint(endpoint, dir);
                if ep.control.is_set(DEPCTL::ENABLE) {
                    ep.control.modify(DEPCTL::SET_NAK::SET + DEPCTL::DISABLE::SET);
                }
                ep.control.modify(DEPCTL::ACTIVE::CLEAR + DEPCTL::STALL::CLEAR);
            }
        }
        self.registers.daintmsk.write(DAINT::IN.val(1) + DAINT::OUT.val(1));
        self.fifo = FifoPlan::new(self.fifo.depth, ENDPOINTS as u32 + 1);
        let mut ep0 = self.pipes[0];
        ep0[IN].busy = false;
        self.pipes = [[Pipe::default(); 2]; ENDPOINTS + 1];
        self.pipes[0] = ep0;
    }

    fn write(&mut self, address: EndpointAddress, data: &[u8], terminate: bool) -> Result<(), GadgetError> {
        let (endpoint, dir) = self.pipe(address)?;
        if dir != IN {
            return Err(GadgetError::NotOpen(address));
        }
        let pipe = self.pipes[endpoint][IN];
        if pipe.busy {
            return Err(GadgetError::Busy(address));
        }
        if data.len() > ENDPOINT_BYTES {
            return Err(GadgetError::TooLong { len: data.len(), max: ENDPOINT_BYTES });
        }
        let offset = Self::buffer(endpoint, IN);
        self.dma.write(offset, data);
        if !data.is_empty() {
            self.coherence.clean(self.dma.address(offset), data.len());
        }
        let packets = data.len().div_ceil(pipe.max_packet as usize).max(1);
        let ep = &self.registers.in_endpoints[endpoint];
        ep.size.write(DEPTSIZ::BYTES.val(data.len() as u32) + DEPTSIZ::PACKETS.val(packets as u32));
        ep.dma.set(self.bus(offset));
        ep.control.modify(DEPCTL::ENABLE::SET + DEPCTL::CLEAR_NAK::SET);
        let zero_packet = terminate && !data.is_empty() && data.len().is_multiple_of(pipe.max_packet as usize);
        self.pipes[endpoint][IN] = Pipe { busy: true, programmed: data.len(), zero_packet, ..pipe };
        Ok(())
    }

    fn arm(&mut self, address: EndpointAddress, length: usize) -> Result<(), GadgetError> {
        let (endpoint, dir) = self.pipe(address)?;
        if dir != OUT {
            return Err(GadgetError::NotOpen(address));
        }
        let pipe = self.pipes[endpoint][OUT];
        if pipe.busy {
            return Err(GadgetError::Busy(address));
        }
        // OUT transfers are whole packets; the buffer bounds how many.
        let max_packet = pipe.max_packet as usize;
        let packets = length.clamp(1, ENDPOINT_BYTES).div_ceil(max_packet).min(ENDPOINT_BYTES / max_packet);
        let bytes = packets * max_packet;
        let offset = Self::buffer(endpoint, OUT);
        self.coherence.invalidate(self.dma.address(offset), bytes);
        let ep = &self.registers.out_endpoints[endpoint];
        ep.size.write(DEPTSIZ::BYTES.val(bytes as u32) + DEPTSIZ::PACKETS.val(packets as u32));
        ep.dma.set(self.bus(offset));
        ep.control.modify(DEPCTL::ENABLE::SET + DEPCTL::CLEAR_NAK::SET);
        self.pipes[endpoint][OUT] = Pipe { busy: true, programmed: bytes, ..pipe };
        Ok(())
    }

    fn read(&self, address: EndpointAddress, buffer: &mut [u8]) -> usize {
        let Ok((endpoint, OUT)) = self.pipe(address) else { return 0 };
        let pipe = self.pipes[endpoint][OUT];
        let n = pipe.received.min(buffer.len());
        self.dma.read(Self::buffer(endpoint, OUT), &mut buffer[..n]);
        n
    }

    fn busy(&self, address: EndpointAddress) -> bool {
        self.pipe(address).is_ok_and(|(endpoint, dir)| self.pipes[endpoint][dir].busy)
    }

    fn set_halt(&mut self, address: EndpointAddress, halted: bool) {
        let Ok((endpoint, dir)) = self.pipe(address) else { return };
        let ep = self.endpoint(endpoint, dir);
        if halted {
            ep.control.modify(DEPCTL::STALL::SET);
        } else {
            ep.control.modify(DEPCTL::STALL::CLEAR + DEPCTL::SET_DATA0::SET);
        }
        self.pipes[endpoint][dir].halted = halted;
    }

    fn halted(&self, address: EndpointAddress) -> bool {
        self.pipe(address).is_ok_and(|(endpoint, dir)| self.pipes[endpoint][dir].halted)
    }

    fn connect(&mut self, connected: bool) {
        if connected {
            self.registers.dctl.modify(DCTL::SOFT_DISCONNECT::CLEAR);
        } else {
            self.registers.dctl.modify(DCTL::SOFT_DISCONNECT::SET);
        }
    }

    fn now_us(&self) -> u64 {
        (self.now)()
    }
}

#[cfg(test)]
pub(crate) mod sim;
#[cfg(test)]
mod tests;
