//! A simulated DWC2 core in device mode and the USB host on the other end of its cable, for
//! host tests of the device driver and of the gadget above it.
//!
//! The core is a RAM register block plus a model that runs on every clock call (the driver
//! reads the clock in its waits) and between the host's steps: it sees a register write as
//! a change from the value it last presented and applies the hardware's rules — write-1-to-
//! clear flags (each carries a marker in a reserved bit, so a write of the same flags is
//! still seen; the driver writes only the flags it handled), self-clearing reset, flush,
//! NAK, DATA0 and disable bits, and endpoints moving packets by "DMA" through the test's
//! bus-address translation. The host side sends SETUP, OUT and IN tokens packet by packet
//! with data toggles checked on both ends, resets, suspends and unplugs the bus.

extern crate std;

use super::{Dwc2Device, DEVICE_DMA_BYTES};
use crate::mailbox::DmaCoherence;
use std::{boxed::Box, cell::RefCell, collections::VecDeque, thread_local, vec, vec::Vec};

pub const WORDS: usize = 0x1000 / 4;
const GOTGCTL: usize = 0;
const GOTGINT: usize = 1;
const GRSTCTL: usize = 4;
const GINTSTS: usize = 5;
const GSNPSID: usize = 0x10;
const GHWCFG2: usize = 0x12;
const GHWCFG3: usize = 0x13;
const DCFG: usize = 0x200;
const DCTL: usize = 0x201;
const DSTS: usize = 0x202;
const DIEPMSK: usize = 0x204;
const DOEPMSK: usize = 0x205;
const DAINT: usize = 0x206;
const DAINTMSK: usize = 0x207;
const IN_BASE: usize = 0x240;
const OUT_BASE: usize = 0x2c0;

// Marker bits in reserved positions of the write-1-to-clear registers.
const GINTSTS_MARKER: u32 = 1 << 8;
const GOTGINT_MARKER: u32 = 1 << 0;
const EP_MARKER: u32 = 1 << 10;
/// GINTSTS event bits that are write-1-to-clear.
const GINTSTS_W1C: u32 = (1 << 3) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (0b111 << 29);
const GINTSTS_OTG: u32 = 1 << 2;
const GINTSTS_IN: u32 = 1 << 18;
const GINTSTS_OUT: u32 = 1 << 19;
const USB_RESET: u32 = 1 << 12;
const ENUMERATION_DONE: u32 = 1 << 13;
const SUSPEND: u32 = 1 << 11;
const WAKEUP: u32 = 1 << 31;
const SESSION_REQUEST: u32 = 1 << 30;
const SESSION_END: u32 = 1 << 2;
const B_SESSION_VALID: u32 = 1 << 19;

const ENABLE: u32 = 1 << 31;
const DISABLE: u32 = 1 << 30;
const SET_DATA0: u32 = 1 << 28;
const SET_NAK: u32 = 1 << 27;
const CLEAR_NAK: u32 = 1 << 26;
const STALL: u32 = 1 << 21;
const NAK_STATUS: u32 = 1 << 17;
const ACTIVE: u32 = 1 << 15;
const COMPLETE: u32 = 1;
const DISABLED: u32 = 2;
const SETUP_DONE: u32 = 1 << 3;

/// Base of the fake bus addresses.
const BUS_BASE: u32 = 0x2000_0000;

thread_local! {
    static MODEL: RefCell<Option<Model>> = const { RefCell::new(None) };
    static DMA_START: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

struct TestCoherence;

impl DmaCoherence for TestCoherence {
    fn clean(&self, _: usize, _: usize) {}
    fn invalidate(&self, _: usize, _: usize) {}
    fn bus_address(&self, addr: usize) -> u32 {
        BUS_BASE + (addr - DMA_START.get()) as u32
    }
}

static COHERENCE: TestCoherence = TestCoherence;

/// The core's state besides its registers.
pub struct Model {
    regs: *mut u32,
    dma: *mut u8,
    dma_len: usize,
    presented: Box<[u32; WORDS]>,
    now: u64,
    /// SETUP packets the host sent that the core has not stored yet (endpoint 0 OUT not
    /// enabled for them).
    setups: VecDeque<[u8; 8]>,
    /// Device-side data toggles (true = DATA1), IN and OUT, per endpoint.
    toggles: [[bool; 2]; 16],
    /// Packets whose toggle did not match (the receiver would drop them as duplicates).
    pub toggle_errors: usize,
    /// Whether the driver's soft-disconnect is off (the pull-up is on).
    pub pulled_up: bool,
}

impl Model {
    /// The core reports host mode whatever the driver forces (a host-only core, as QEMU
    /// models the DWC2).
    pub fn stay_host(&mut self) {
        let status = self.get(GINTSTS);
        self.set(GINTSTS, status | 1);
    }

    pub fn get(&self, word: usize) -> u32 {
        // SAFETY: `word` < WORDS indexes the leaked register block.
        unsafe { self.regs.add(word).read_volatile() }
    }

    fn set(&mut self, word: usize, value: u32) {
        // SAFETY: as in `get`.
        unsafe { self.regs.add(word).write_volatile(value) };
        self.presented[word] = value;
    }

    fn dma_slice(&mut self, bus: u32, len: usize) -> &mut [u8] {
        let offset = bus.wrapping_sub(BUS_BASE) as usize;
        assert!(offset + len <= self.dma_len, "device DMA outside the region: {offset:#x}+{len}");
        // SAFETY: inside the leaked DMA region (checked); the driver does not touch it while
        // the model runs (single thread).
        unsafe { core::slice::from_raw_parts_mut(self.dma.add(offset), len) }
    }

    /// Applies write-1-to-clear to `word`: the flags written are cleared.
    fn w1c(&mut self, word: usize, marker: u32, clearable: u32) {
        let written = self.get(word);
        let presented = self.presented[word];
        if written != presented {
            let cleared = presented & !(written & clearable);
            self.set(word, cleared | marker);
        }
    }

    fn raise(&mut self, word: usize, flags: u32, marker: u32) {
        let value = self.get(word);
        self.set(word, value | flags | marker);
    }

    fn endpoint_control(&mut self, word: usize, endpoint: usize, dir: usize) {
        let written = self.get(word);
        if written == self.presented[word] {
            return;
        }
        let mut value = written;
        if written & SET_DATA0 != 0 {
            self.toggles[endpoint][dir] = false;
        }
        if written & SET_NAK != 0 {
            value |= NAK_STATUS;
        }
        if written & CLEAR_NAK != 0 {
            value &= !NAK_STATUS;
        }
        if written & DISABLE != 0 && written & ENABLE != 0 {
            value &= !ENABLE;
            self.raise(word + 2, DISABLED, EP_MARKER);
        }
        if endpoint == 0 {
            value |= ACTIVE;
        }
        value &= !(SET_DATA0 | SET_NAK | CLEAR_NAK | DISABLE);
        self.set(word, value);
    }

    /// One step of the core: applies the driver's writes and updates the summaries.
    pub fn tick(&mut self) {
        self.now += 10;
        let reset = self.get(GRSTCTL);
        self.set(GRSTCTL, (reset & !0x31) | (1 << 31));
        self.w1c(GINTSTS, GINTSTS_MARKER, GINTSTS_W1C);
        self.w1c(GOTGINT, GOTGINT_MARKER, u32::MAX);
        self.pulled_up = self.get(DCTL) & 2 == 0;
        self.presented[DCTL] = self.get(DCTL);
        for endpoint in 0..16 {
            for (dir, base) in [(0, IN_BASE), (1, OUT_BASE)] {
                let word = base + endpoint * 8;
                self.w1c(word + 2, EP_MARKER, !EP_MARKER);
                self.endpoint_control(word, endpoint, dir);
                for offset in [4, 5] {
                    self.presented[word + offset] = self.get(word + offset);
                }
            }
        }
        self.deliver_setup();
        self.summarise();
    }

    fn summarise(&mut self) {
        let (in_mask, out_mask) = (self.get(DIEPMSK), self.get(DOEPMSK));
        let mut daint = 0;
        for endpoint in 0..16 {
            if self.get(IN_BASE + endpoint * 8 + 2) & in_mask & !EP_MARKER != 0 {
                daint |= 1 << endpoint;
            }
            if self.get(OUT_BASE + endpoint * 8 + 2) & out_mask & !EP_MARKER != 0 {
                daint |= 1 << (16 + endpoint);
            }
        }
        daint &= self.get(DAINTMSK);
        self.set(DAINT, daint);
        let mut status = self.get(GINTSTS) & !(GINTSTS_IN | GINTSTS_OUT | GINTSTS_OTG);
        if daint & 0xffff != 0 {
            status |= GINTSTS_IN;
        }
        if daint >> 16 != 0 {
            status |= GINTSTS_OUT;
        }
        if self.get(GOTGINT) & !GOTGINT_MARKER != 0 {
            status |= GINTSTS_OTG;
        }
        self.set(GINTSTS, status | GINTSTS_MARKER);
    }

    /// Stores a waiting SETUP if endpoint 0 OUT is enabled for one.
    fn deliver_setup(&mut self) {
        let control = OUT_BASE;
        if self.setups.is_empty() || self.get(control) & ENABLE == 0 {
            return;
        }
        let size = self.get(control + 4);
        let count = (size >> 29) & 3;
        if count == 0 {
            return;
        }
        let Some(setup) = self.setups.pop_front() else { return };
        let dma = self.get(control + 5);
        self.dma_slice(dma, 8).copy_from_slice(&setup);
        self.set(control + 5, dma + 8);
        self.set(control + 4, (size & !(3 << 29)) | ((count - 1) << 29));
        // A SETUP ends any stall of endpoint 0 and any transfer armed on it.
        let out_control = self.get(control) & !(ENABLE | STALL);
        self.set(control, out_control);
        let in_control = self.get(IN_BASE) & !STALL;
        self.set(IN_BASE, in_control);
        self.raise(control + 2, SETUP_DONE, EP_MARKER);
    }
}

fn now() -> u64 {
    with_model(|model| {
        model.tick();
        model.now
    })
}

/// Runs `f` on the installed model.
pub fn with_model<R>(f: impl FnOnce(&mut Model) -> R) -> R {
    MODEL.with(|model| f(model.borrow_mut().as_mut().expect("model installed")))
}

/// A driver on a fresh simulated core with VBUS present (`vbus`) or not sensed.
pub fn controller(vbus: bool) -> Dwc2Device {
    let regs: &'static mut [u32] = Box::leak(vec![0u32; WORDS].into_boxed_slice());
    regs[GSNPSID] = 0x4f54_280a;
    regs[GHWCFG2] = (2 << 3) | (7 << 14) | (1 << 6);
    regs[GHWCFG3] = (4096 << 16) | (4 << 4) | 4;
    regs[GRSTCTL] = 1 << 31;
    regs[GINTSTS] = GINTSTS_MARKER;
    regs[GOTGINT] = GOTGINT_MARKER;
    regs[GOTGCTL] = if vbus { B_SESSION_VALID } else { 0 };
    for endpoint in 0..16 {
        regs[IN_BASE + endpoint * 8 + 2] = EP_MARKER;
        regs[OUT_BASE + endpoint * 8 + 2] = EP_MARKER;
    }
    regs[IN_BASE] = ACTIVE;
    regs[OUT_BASE] = ACTIVE;
    let dma: &'static mut [u8] = Box::leak(vec![0u8; DEVICE_DMA_BYTES].into_boxed_slice());
    let (dma_ptr, dma_len) = (dma.as_mut_ptr(), dma.len());
    let mut presented = Box::new([0u32; WORDS]);
    presented.copy_from_slice(regs);
    let regs = regs.as_mut_ptr();
    MODEL.with(|model| {
        *model.borrow_mut() = Some(Model {
            regs,
            dma: dma_ptr,
            dma_len,
            presented,
            now: 0,
            setups: VecDeque::new(),
            toggles: [[false; 2]; 16],
            toggle_errors: 0,
            pulled_up: false,
        })
    });
    // SAFETY: a leaked RAM block stands in for the registers; the model is its only other
    // user, on this thread. The DMA region is leaked and handed over.
    let device = unsafe { Dwc2Device::new(regs as usize, dma, &COHERENCE, now) }.expect("a DWC2 core");
    DMA_START.set(device.dma.address(0));
    with_model(|model| {
        model.dma = device.dma.base;
        model.dma_len = device.dma.len;
    });
    device
}

/// How an IN or OUT token was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Data (IN) or accepted (OUT, empty).
    Data(Vec<u8>),
    /// Not ready: try again.
    Nak,
    /// Halted.
    Stall,
}

/// The host: sends tokens to the model, polling the device's software (`pump`) between
/// them as a real bus gives it time to.
pub struct Host {
    /// Host-side toggles per endpoint (IN, OUT).
    toggles: [[bool; 2]; 16],
    /// Packet size of endpoint 0.
    pub max_packet0: usize,
}

/// How many rounds a host step waits for the device before giving up (a hung driver).
const PATIENCE: usize = 2_000;

impl Default for Host {
    fn default() -> Self {
        Host { toggles: [[false; 2]; 16], max_packet0: 64 }
    }
}

impl Host {
    /// Resets the bus (high speed unless `full`) and waits until the device has seen the
    /// end of the reset.
    pub fn reset(&mut self, pump: &mut dyn FnMut(), full: bool) {
        self.toggles = [[false; 2]; 16];
        with_model(|m| {
            m.setups.clear();
            m.raise(GINTSTS, USB_RESET, GINTSTS_MARKER);
        });
        self.until(pump, |m| m.get(GINTSTS) & USB_RESET == 0, "the driver to take the bus reset");
        with_model(|m| {
            let speed = if full { 1 } else { 0 };
            let status = m.get(DSTS) & !(3 << 1);
            m.set(DSTS, status | (speed << 1));
            m.raise(GINTSTS, ENUMERATION_DONE, GINTSTS_MARKER);
        });
        self.until(pump, |m| m.get(GINTSTS) & ENUMERATION_DONE == 0, "the driver to see enumeration done");
    }

    fn until(&mut self, pump: &mut dyn FnMut(), done: impl Fn(&Model) -> bool, what: &str) {
        for _ in 0..PATIENCE {
            with_model(Model::tick);
            if with_model(|m| done(m)) {
                return;
            }
            pump();
        }
        panic!("the simulated host waited in vain for {what}");
    }

    /// One IN token to `endpoint` with packets of `max_packet` bytes.
    pub fn in_token(&mut self, endpoint: usize, max_packet: usize) -> Handshake {
        with_model(|m| {
            m.tick();
            let word = IN_BASE + endpoint * 8;
            let control = m.get(word);
            if control & STALL != 0 {
                return Handshake::Stall;
            }
            if control & ENABLE == 0 || control & NAK_STATUS != 0 {
                return Handshake::Nak;
            }
            let size = m.get(word + 4);
            let (bytes, packets) = ((size & 0x7ffff) as usize, (size >> 19) & 0x3ff);
            let n = bytes.min(max_packet);
            let dma = m.get(word + 5);
            let data = m.dma_slice(dma, n).to_vec();
            m.set(word + 5, dma + n as u32);
            let packets = packets.saturating_sub(1);
            let bytes = bytes - n;
            m.set(word + 4, (size & !0x1fff_ffff) | (packets << 19) | bytes as u32);
            if endpoint != 0 {
                if m.toggles[endpoint][0] != self.toggles[endpoint][0] {
                    m.toggle_errors += 1;
                }
                m.toggles[endpoint][0] ^= true;
                self.toggles[endpoint][0] = m.toggles[endpoint][0];
            }
            if packets == 0 || bytes == 0 {
                m.set(word, control & !ENABLE);
                m.raise(word + 2, COMPLETE, EP_MARKER);
            }
            m.summarise();
            Handshake::Data(data)
        })
    }

    /// One OUT token with `data` (at most one packet) to `endpoint`.
    pub fn out_token(&mut self, endpoint: usize, data: &[u8], max_packet: usize) -> Handshake {
        assert!(data.len() <= max_packet, "a host never sends more than a packet");
        with_model(|m| {
            m.tick();
            let word = OUT_BASE + endpoint * 8;
            let control = m.get(word);
            if control & STALL != 0 {
                return Handshake::Stall;
            }
            let size = m.get(word + 4);
            let (bytes, packets) = ((size & 0x7ffff) as usize, (size >> 19) & 0x3ff);
            if control & ENABLE == 0 || control & NAK_STATUS != 0 || packets == 0 {
                return Handshake::Nak;
            }
            assert!(data.len() <= bytes, "babble: {} bytes into a transfer of {bytes} left", data.len());
            if endpoint != 0 {
                // The host's toggle advances with every packet it sends and sees ACKed;
                // a device expecting the other toggle drops the packet as a duplicate.
                let sent = self.toggles[endpoint][1];
                self.toggles[endpoint][1] ^= true;
                if m.toggles[endpoint][1] != sent {
                    m.toggle_errors += 1;
                    return Handshake::Data(Vec::new());
                }
                m.toggles[endpoint][1] ^= true;
            }
            let dma = m.get(word + 5);
            m.dma_slice(dma, data.len()).copy_from_slice(data);
            m.set(word + 5, dma + data.len() as u32);
            let (bytes, packets) = (bytes - data.len(), packets - 1);
            m.set(word + 4, (size & !0x1fff_ffff) | (packets << 19) | bytes as u32);
            if packets == 0 || data.len() < max_packet {
                m.set(word, control & !ENABLE);
                m.raise(word + 2, COMPLETE, EP_MARKER);
            }
            m.summarise();
            Handshake::Data(Vec::new())
        })
    }

    /// Sends a SETUP and waits until the device's software has taken it.
    pub fn setup(&mut self, pump: &mut dyn FnMut(), packet: [u8; 8]) {
        with_model(|m| m.setups.push_back(packet));
        self.until(pump, |m| m.setups.is_empty() && m.get(OUT_BASE + 2) & SETUP_DONE == 0, "the SETUP to be taken");
    }

    fn retry(&mut self, pump: &mut dyn FnMut(), mut step: impl FnMut(&mut Self) -> Handshake) -> Handshake {
        for _ in 0..PATIENCE {
            match step(self) {
                Handshake::Nak => pump(),
                other => return other,
            }
        }
        Handshake::Nak
    }

    /// A control read: SETUP, IN data until a short packet or `length` bytes, OUT status.
    /// `Err(())` when the device stalls (or never answers).
    pub fn control_read(&mut self, pump: &mut dyn FnMut(), packet: [u8; 8]) -> Result<Vec<u8>, ()> {
        let length = u16::from_le_bytes([packet[6], packet[7]]) as usize;
        self.setup(pump, packet);
        let mut data = Vec::new();
        loop {
            let max = self.max_packet0;
            match self.retry(pump, |h| h.in_token(0, max)) {
                Handshake::Data(chunk) => {
                    let short = chunk.len() < max;
                    data.extend_from_slice(&chunk);
                    if short || data.len() >= length {
                        break;
                    }
                }
                _ => return Err(()),
            }
        }
        let max = self.max_packet0;
        match self.retry(pump, |h| h.out_token(0, &[], max)) {
            Handshake::Data(_) => Ok(data),
            _ => Err(()),
        }
    }

    /// A control write: SETUP, OUT data in packets, IN status. `Err(())` on a stall.
    pub fn control_write(&mut self, pump: &mut dyn FnMut(), packet: [u8; 8], data: &[u8]) -> Result<(), ()> {
        self.setup(pump, packet);
        let max = self.max_packet0;
        for chunk in data.chunks(max) {
            match self.retry(pump, |h| h.out_token(0, chunk, max)) {
                Handshake::Data(_) => {}
                _ => return Err(()),
            }
        }
        match self.retry(pump, |h| h.in_token(0, max)) {
            Handshake::Data(status) if status.is_empty() => Ok(()),
            _ => Err(()),
        }
    }

    /// A bulk (or interrupt) IN transfer: packets until a short one; `None` if the first
    /// token is NAKed (nothing to send).
    pub fn transfer_in(&mut self, pump: &mut dyn FnMut(), endpoint: usize, max_packet: usize) -> Option<Vec<u8>> {
        let mut data = Vec::new();
        loop {
            let answer = if data.is_empty() {
                self.in_token(endpoint, max_packet)
            } else {
                self.retry(pump, |h| h.in_token(endpoint, max_packet))
            };
            match answer {
                Handshake::Data(chunk) => {
                    let short = chunk.len() < max_packet;
                    data.extend_from_slice(&chunk);
                    if short {
                        return Some(data);
                    }
                }
                Handshake::Nak if data.is_empty() => return None,
                Handshake::Nak | Handshake::Stall => return Some(data),
            }
        }
    }

    /// A bulk OUT transfer of `data` (a zero-length packet ends one that fills its last
    /// packet when `terminate`). `Err(())` on a stall or a device that never takes it.
    pub fn transfer_out(
        &mut self,
        pump: &mut dyn FnMut(),
        endpoint: usize,
        data: &[u8],
        max_packet: usize,
        terminate: bool,
    ) -> Result<(), ()> {
        let mut chunks: Vec<&[u8]> = data.chunks(max_packet).collect();
        if terminate && (data.is_empty() || data.len().is_multiple_of(max_packet)) {
            chunks.push(&[]);
        }
        for chunk in chunks {
            match self.retry(pump, |h| h.out_token(endpoint, chunk, max_packet)) {
                Handshake::Data(_) => {}
                _ => return Err(()),
            }
        }
        Ok(())
    }

    /// The host's toggles restart at DATA0 for `endpoint` (after SET_CONFIGURATION or
    /// CLEAR_FEATURE(ENDPOINT_HALT)).
    pub fn reset_toggle(&mut self, endpoint: usize) {
        self.toggles[endpoint] = [false, false];
    }

    /// Every host toggle restarts (SET_CONFIGURATION).
    pub fn reset_toggles(&mut self) {
        self.toggles = [[false; 2]; 16];
    }

    /// Pulls the cable: VBUS goes, the core reports a session end.
    pub fn unplug(&mut self, pump: &mut dyn FnMut()) {
        with_model(|m| {
            let otg = m.get(GOTGCTL) & !B_SESSION_VALID;
            m.set(GOTGCTL, otg);
            m.raise(GOTGINT, SESSION_END, GOTGINT_MARKER);
            m.setups.clear();
        });
        self.until(pump, |m| m.get(GOTGINT) & SESSION_END == 0, "the driver to see the session end");
    }

    /// Plugs the cable in again: VBUS, a new session, then the host's bus reset.
    pub fn plug(&mut self, pump: &mut dyn FnMut()) {
        with_model(|m| {
            let otg = m.get(GOTGCTL) | B_SESSION_VALID;
            m.set(GOTGCTL, otg);
            m.raise(GINTSTS, SESSION_REQUEST, GINTSTS_MARKER);
        });
        self.reset(pump, false);
    }

    /// Suspends the bus (3 ms idle), then resumes it.
    pub fn suspend(&mut self, pump: &mut dyn FnMut()) {
        with_model(|m| m.raise(GINTSTS, SUSPEND, GINTSTS_MARKER));
        self.until(pump, |m| m.get(GINTSTS) & SUSPEND == 0, "the driver to see the suspend");
    }

    /// Resumes a suspended bus.
    pub fn resume(&mut self, pump: &mut dyn FnMut()) {
        with_model(|m| m.raise(GINTSTS, WAKEUP, GINTSTS_MARKER));
        self.until(pump, |m| m.get(GINTSTS) & WAKEUP == 0, "the driver to see the resume");
    }

    /// The device address the driver programmed.
    pub fn device_address(&self) -> u8 {
        with_model(|m| ((m.get(DCFG) >> 4) & 0x7f) as u8)
    }
}
