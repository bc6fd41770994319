//! Host tests of the DWC2 driver against a RAM register block driven by a model of the
//! core with one full-speed device on the root port.
//!
//! As in the SPI and I2C tests, the model acts on every clock call (the driver reads the
//! clock before each status read): it sees a register write as a change from the value it
//! last presented, applies the hardware's semantics (write-1-to-clear bits, self-clearing
//! resets, channel enable), and runs an enabled channel's transfer against the device by
//! "DMA" through the test's bus-address translation.

extern crate std;

use super::*;
use std::{
    boxed::Box,
    cell::{Cell, RefCell},
    thread_local, vec,
    vec::Vec,
};

const WORDS: usize = 0x1000 / 4;
const GRSTCTL_W: usize = 0x10 / 4;
const GSNPSID_W: usize = 0x40 / 4;
const GHWCFG2_W: usize = 0x48 / 4;
const GHWCFG3_W: usize = 0x4c / 4;
const HFNUM_W: usize = 0x408 / 4;
const HPRT0_W: usize = 0x440 / 4;
const CHANNELS_W: usize = 0x500 / 4;

const AHB_IDLE: u32 = 1 << 31;
const PRT_CONNECTED: u32 = 1;
const PRT_W1C: u32 = 0b10_1110; // CONNECT_CHANGED, ENABLE, ENABLE_CHANGED, OVERCURRENT_CHANGED
const PRT_ENABLE: u32 = 1 << 2;
const PRT_RESET: u32 = 1 << 8;
const CH_ENABLE: u32 = 1 << 31;
const CH_DISABLE: u32 = 1 << 30;
const INT_COMPLETE: u32 = 1;
const INT_HALTED: u32 = 2;
const INT_STALL: u32 = 1 << 3;
const INT_NAK: u32 = 1 << 4;

/// Base of the fake bus addresses the test coherence hands out.
const BUS_BASE: u32 = 0x1000_0000;
thread_local! {
    /// The aligned start of this test's DMA region (tests run on parallel threads).
    static DMA_BASE: Cell<usize> = const { Cell::new(0) };
}

struct TestCoherence;

impl DmaCoherence for TestCoherence {
    fn clean(&self, _: usize, _: usize) {}
    fn invalidate(&self, _: usize, _: usize) {}
    fn bus_address(&self, addr: usize) -> u32 {
        BUS_BASE + (addr - DMA_BASE.get()) as u32
    }
}

static COHERENCE: TestCoherence = TestCoherence;

/// One channel stage as the model saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stage {
    channel: usize,
    address: u32,
    endpoint: u32,
    direction_in: bool,
    kind: u32,
    pid: u32,
    bytes: u32,
    packets: u32,
    max_packet: u32,
    /// OUT data the device received.
    data: Vec<u8>,
}

/// How the device answers the next channel transfer to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Normal,
    Stall,
    Silent,
}

struct Model {
    regs: *mut u32,
    dma: *mut u8,
    dma_len: usize,
    presented: [u32; WORDS],
    connected: bool,
    port_disabled_by_write: bool,
    device_address: u32,
    descriptor: Vec<u8>,
    /// The SETUP of the control transfer in progress and whether its data stage ran.
    control: Option<([u8; 8], bool)>,
    bulk_in: Vec<Vec<u8>>,
    behaviour: Behaviour,
    stages: Vec<Stage>,
    now: u64,
}

thread_local! {
    static MODEL: RefCell<Option<Model>> = const { RefCell::new(None) };
}

impl Model {
    fn get(&self, word: usize) -> u32 {
        // SAFETY: `word` < WORDS indexes the leaked register block.
        unsafe { self.regs.add(word).read_volatile() }
    }

    fn set(&mut self, word: usize, value: u32) {
        // SAFETY: as in `get`.
        unsafe { self.regs.add(word).write_volatile(value) };
        self.presented[word] = value;
    }

    fn dma_slice(&mut self, bus: u32, len: usize) -> &mut [u8] {
        let offset = (bus - BUS_BASE) as usize;
        assert!(offset + len <= self.dma_len, "DMA outside the region: {offset:#x}+{len}");
        // SAFETY: inside the leaked DMA region (checked); the driver does not touch it
        // while the model runs (single thread, inside its clock call).
        unsafe { core::slice::from_raw_parts_mut(self.dma.add(offset), len) }
    }

    fn tick(&mut self) {
        self.now += 10;
        self.set(HFNUM_W, (self.now / 1000) as u32 & 0x3fff);
        // Self-clearing reset and flush bits.
        let reset = self.get(GRSTCTL_W);
        self.set(GRSTCTL_W, (reset & !0x31) | AHB_IDLE);
        self.port();
        for channel in 0..8 {
            self.channel(channel);
        }
    }

    fn port(&mut self) {
        let written = self.get(HPRT0_W);
        let old = self.presented[HPRT0_W];
        let mut port = old;
        if written != old {
            if written & PRT_ENABLE != 0 && old & PRT_ENABLE != 0 {
                self.port_disabled_by_write = true;
            }
            port &= !(written & PRT_W1C);
            port = (port & PRT_W1C) | (written & !PRT_W1C & !PRT_CONNECTED);
            if old & PRT_RESET != 0 && written & PRT_RESET == 0 && self.connected {
                port |= PRT_ENABLE | (1 << 3);
                port = (port & !(3 << 17)) | (1 << 17); // full speed
                self.device_address = 0;
            }
        }
        if self.connected {
            port |= PRT_CONNECTED;
        }
        self.set(HPRT0_W, port);
    }

    fn channel(&mut self, channel: usize) {
        let base = CHANNELS_W + channel * 8;
        // HCINT is write-1-to-clear.
        let written = self.get(base + 2);
        if written != self.presented[base + 2] {
            let cleared = self.presented[base + 2] & !written;
            self.set(base + 2, cleared);
        }
        let hcchar = self.get(base);
        if hcchar & CH_DISABLE != 0 {
            self.set(base, hcchar & !(CH_DISABLE | CH_ENABLE));
            let flags = self.get(base + 2);
            self.set(base + 2, flags | INT_HALTED);
            return;
        }
        if hcchar & CH_ENABLE == 0 || hcchar == self.presented[base] {
            return;
        }
        self.presented[base] = hcchar;
        let size = self.get(base + 4);
        let stage = Stage {
            channel,
            address: (hcchar >> 22) & 0x7f,
            endpoint: (hcchar >> 11) & 0xf,
            direction_in: hcchar & (1 << 15) != 0,
            kind: (hcchar >> 18) & 3,
            pid: (size >> 29) & 3,
            bytes: size & 0x7ffff,
            packets: (size >> 19) & 0x3ff,
            max_packet: hcchar & 0x7ff,
            data: Vec::new(),
        };
        if !self.connected || stage.address != self.device_address || self.behaviour == Behaviour::Silent {
            // Like QEMU: nobody answers, the channel stays enabled.
            self.stages.push(stage);
            return;
        }
        let dma = self.get(base + 5);
        let max_packet = stage.max_packet.max(1);
        let Some((flags, moved)) = self.run(stage, dma) else { return };
        let packets = moved.div_ceil(max_packet).max(1);
        let remaining_bytes = (size & 0x7ffff).saturating_sub(moved);
        let remaining_packets = ((size >> 19) & 0x3ff).saturating_sub(packets);
        self.set(base + 4, (size & !0x1fff_ffff) | (remaining_packets << 19) | remaining_bytes);
        self.set(base, hcchar & !CH_ENABLE);
        self.set(base + 2, flags);
    }

    /// Performs one channel transfer; returns HCINT and the bytes moved, or `None` when
    /// the device NAKs a bulk transfer (the channel stays enabled and retries).
    fn run(&mut self, mut stage: Stage, dma: u32) -> Option<(u32, u32)> {
        if self.behaviour == Behaviour::Stall {
            self.stages.push(stage);
            return Some((INT_STALL | INT_HALTED, 0));
        }
        let done = INT_COMPLETE | INT_HALTED;
        let result = match (stage.kind, stage.direction_in, stage.pid) {
            (0, false, 3) => {
                let mut setup = [0u8; 8];
                setup.copy_from_slice(self.dma_slice(dma, 8));
                stage.data = setup.to_vec();
                self.control = Some((setup, false));
                (done, 8)
            }
            (0, direction_in, _) => match self.control.take() {
                // The data stage: the descriptor, up to wLength.
                Some((setup, false)) if setup[6] | setup[7] != 0 && direction_in => {
                    let wanted = u16::from_le_bytes([setup[6], setup[7]]) as usize;
                    let bytes = self.descriptor[..wanted.min(self.descriptor.len())].to_vec();
                    self.dma_slice(dma, bytes.len()).copy_from_slice(&bytes);
                    self.control = Some((setup, true));
                    (done, bytes.len() as u32)
                }
                // The status stage: a SET_ADDRESS takes effect now.
                Some((setup, _)) => {
                    if setup[0] == 0 && setup[1] == 5 {
                        self.device_address = setup[2] as u32;
                    }
                    (done, 0)
                }
                None => panic!("control stage without SETUP"),
            },
            // Interrupt IN: nothing to report.
            (3, true, _) => (INT_NAK | INT_HALTED, 0),
            // Bulk IN: the next frame, if any (else keep NAKing: the channel stays on).
            (2, true, _) => match self.bulk_in.pop() {
                Some(frame) => {
                    self.dma_slice(dma, frame.len()).copy_from_slice(&frame);
                    (done, frame.len() as u32)
                }
                None => {
                    let base = CHANNELS_W + stage.channel * 8;
                    self.presented[base] = 0; // look again on the next tick
                    return None;
                }
            },
            (2, false, _) => {
                stage.data = self.dma_slice(dma, stage.bytes as usize).to_vec();
                (done, stage.bytes)
            }
            other => panic!("unexpected transfer {other:?}"),
        };
        self.stages.push(stage);
        Some(result)
    }
}

fn now() -> u64 {
    MODEL.with(|model| {
        let mut model = model.borrow_mut();
        let model = model.as_mut().expect("model installed");
        model.tick();
        model.now
    })
}

fn with_model<R>(f: impl FnOnce(&mut Model) -> R) -> R {
    MODEL.with(|model| f(model.borrow_mut().as_mut().expect("model installed")))
}

const DESCRIPTOR: [u8; 18] = [18, 1, 0x10, 1, 0, 0, 0, 8, 0x34, 0x12, 0x78, 0x56, 0, 1, 0, 0, 0, 1];

/// A driver on a fresh register block, with a device on the root port if `connected`.
fn setup(connected: bool) -> Dwc2 {
    let regs: &'static mut [u32] = Box::leak(vec![0u32; WORDS].into_boxed_slice());
    regs[GSNPSID_W] = 0x4f54_294a;
    regs[GHWCFG2_W] = (2 << 3) | (7 << 14);
    regs[GHWCFG3_W] = (4096 << 16) | (4 << 4) | 4;
    regs[GRSTCTL_W] = AHB_IDLE;
    regs[HPRT0_W] = if connected { PRT_CONNECTED } else { 0 };
    let regs = regs.as_mut_ptr();
    let dma: &'static mut [u8] = Box::leak(vec![0u8; DMA_REGION_BYTES].into_boxed_slice());
    let (dma_ptr, dma_len) = (dma.as_mut_ptr(), dma.len());
    let mut presented = [0u32; WORDS];
    // SAFETY: the block was just leaked and is only read here.
    presented.iter_mut().enumerate().for_each(|(i, p)| *p = unsafe { regs.add(i).read() });
    MODEL.with(|model| {
        *model.borrow_mut() = Some(Model {
            regs,
            dma: dma_ptr,
            dma_len,
            presented,
            connected,
            port_disabled_by_write: false,
            device_address: 0,
            descriptor: DESCRIPTOR.to_vec(),
            control: None,
            bulk_in: Vec::new(),
            behaviour: Behaviour::Normal,
            stages: Vec::new(),
            now: 0,
        })
    });
    // SAFETY: a leaked RAM block stands in for the registers; the model is its only other
    // user, on this thread. The DMA region is leaked and handed over.
    let host = unsafe { Dwc2::new(regs as usize, dma, &COHERENCE, now) }.expect("a DWC2 core");
    // The aligned part of the region is what the driver uses as offset 0.
    DMA_BASE.set(host.dma.address(0));
    with_model(|model| {
        model.dma = host.dma.base;
        model.dma_len = host.dma.len;
    });
    host
}

fn full_speed_device(address: u8) -> Target {
    Target { address, speed: Speed::Full, max_packet0: 8 }
}

#[test]
fn pure_helpers() {
    // Reading back an enabled, connected port with pending changes and writing it must
    // not disable the port or ack changes the caller did not ask for.
    assert_eq!(hprt0_keep(0x0002_100f), 0x0002_1001);
    assert_eq!(hprt0_keep(0x0002_102d) & PRT_W1C, 0);
    assert_eq!(packet_plan(0, 64, Direction::Out), (1, 0));
    assert_eq!(packet_plan(0, 64, Direction::In), (1, 64));
    assert_eq!(packet_plan(18, 8, Direction::In), (3, 24));
    assert_eq!(packet_plan(1514, 64, Direction::Out), (24, 1514));
    assert_eq!(packet_plan(2048, 512, Direction::In), (4, 2048));
    assert!(toggle_after(false, 1));
    assert!(!toggle_after(false, 2));
    assert!(!toggle_after(true, 3));
}

#[test]
fn identifies_the_core_and_checks_the_dma_region() {
    let regs: &'static mut [u32] = Box::leak(vec![0u32; WORDS].into_boxed_slice());
    let dma: &'static mut [u8] = Box::leak(vec![0u8; DMA_REGION_BYTES].into_boxed_slice());
    // SAFETY: RAM stands in for the registers; nothing else uses it.
    let result = unsafe { Dwc2::new(regs.as_ptr() as usize, dma, &COHERENCE, || 0) };
    assert!(matches!(result, Err(Error::NotDwc2(0))));
    regs[GSNPSID_W] = 0x4f54_280a;
    regs[GHWCFG2_W] = 7 << 14; // slave-only core
    let dma: &'static mut [u8] = Box::leak(vec![0u8; DMA_REGION_BYTES].into_boxed_slice());
    // SAFETY: as above.
    let result = unsafe { Dwc2::new(regs.as_ptr() as usize, dma, &COHERENCE, || 0) };
    assert!(matches!(result, Err(Error::NoDma(0))));
    regs[GHWCFG2_W] = (2 << 3) | (7 << 14);
    let small: &'static mut [u8] = Box::leak(vec![0u8; 2048].into_boxed_slice());
    // SAFETY: as above.
    let result = unsafe { Dwc2::new(regs.as_ptr() as usize, small, &COHERENCE, || 0) };
    assert!(matches!(result, Err(Error::DmaRegion { .. })));
}

#[test]
fn init_powers_the_port_and_the_reset_enables_it_without_disabling_writes() {
    let mut host = setup(true);
    host.init().expect("init");
    let port = with_model(|m| m.get(HPRT0_W));
    assert_ne!(port & (1 << 12), 0, "port power on");
    assert_eq!(host.reset_root_port(), Ok(Speed::Full));
    let (port, disabled) = with_model(|m| {
        m.tick(); // apply the driver's last write
        (m.get(HPRT0_W), m.port_disabled_by_write)
    });
    assert_ne!(port & PRT_ENABLE, 0, "enabled after reset");
    assert!(!disabled, "a read-modify-write wrote ENABLE back (which disables the port)");
    assert_eq!(host.info().root_speed, Some(Speed::Full));
}

#[test]
fn an_empty_root_port_is_no_device() {
    let mut host = setup(false);
    host.init().expect("init");
    assert_eq!(host.reset_root_port(), Err(Error::NoDevice));
}

#[test]
fn control_transfers_run_setup_data_and_status_stages() {
    let mut host = setup(true);
    host.init().expect("init");
    host.reset_root_port().expect("reset");
    let mut bytes = [0u8; 18];
    let setup = SetupPacket::get_descriptor(1, 0, 0, 18);
    assert_eq!(host.control(&full_speed_device(0), &setup, &mut bytes), Ok(18));
    assert_eq!(bytes, DESCRIPTOR);
    let stages = with_model(|m| core::mem::take(&mut m.stages));
    assert_eq!(stages.len(), 3);
    let (s, d, st) = (&stages[0], &stages[1], &stages[2]);
    assert_eq!((s.direction_in, s.kind, s.pid, s.bytes, s.packets), (false, 0, 3, 8, 1), "SETUP");
    assert_eq!(s.data, setup.bytes().to_vec());
    assert_eq!(
        (d.direction_in, d.pid, d.bytes, d.packets, d.max_packet),
        (true, 2, 24, 3, 8),
        "data IN, DATA1, whole packets"
    );
    assert_eq!((st.direction_in, st.pid, st.bytes, st.packets), (false, 2, 0, 1), "status OUT, DATA1, zero length");

    // SET_ADDRESS has no data stage: its status stage is IN.
    assert_eq!(host.control(&full_speed_device(0), &SetupPacket::set_address(3), &mut []), Ok(0));
    let stages = with_model(|m| core::mem::take(&mut m.stages));
    assert_eq!(stages.len(), 2);
    assert!(stages[1].direction_in);
    assert_eq!(with_model(|m| m.device_address), 3);
    assert_eq!(host.control(&full_speed_device(3), &setup, &mut bytes), Ok(18));
}

#[test]
fn a_silent_device_times_out_and_the_channel_is_halted() {
    let mut host = setup(true);
    host.init().expect("init");
    host.reset_root_port().expect("reset");
    let started = with_model(|m| m.now);
    let result = host.control(&full_speed_device(9), &SetupPacket::get_descriptor(1, 0, 0, 8), &mut [0; 8]);
    assert_eq!(result, Err(Error::Timeout { address: 9, endpoint: 0 }));
    let (elapsed, hcchar) = with_model(|m| (m.now - started, m.get(CHANNELS_W)));
    assert!(elapsed >= CONTROL_STAGE_TIMEOUT_US, "gave up after {elapsed} µs");
    assert_eq!(hcchar & CH_ENABLE, 0, "channel halted");
    // The controller still works afterwards.
    let mut bytes = [0u8; 18];
    assert_eq!(host.control(&full_speed_device(0), &SetupPacket::get_descriptor(1, 0, 0, 18), &mut bytes), Ok(18));
}

#[test]
fn stalls_are_errors_and_interrupt_naks_are_none() {
    let mut host = setup(true);
    host.init().expect("init");
    host.reset_root_port().expect("reset");
    with_model(|m| m.behaviour = Behaviour::Stall);
    let result = host.control(&full_speed_device(0), &SetupPacket::set_configuration(1), &mut []);
    assert_eq!(result, Err(Error::Stall { address: 0, endpoint: 0 }));
    with_model(|m| m.behaviour = Behaviour::Normal);
    let endpoint = crate::usb::descriptor::Endpoint::parse(&[7, 5, 0x81, 3, 8, 0, 10]).expect("valid");
    let mut pipe = Pipe::new(&full_speed_device(0), &endpoint);
    assert_eq!(host.interrupt_in(&mut pipe, &mut [0u8; 8]), Ok(None));
    assert!(!pipe.data1, "a NAK does not toggle");
    let stage = with_model(|m| m.stages.pop()).expect("one stage");
    assert_eq!((stage.kind, stage.direction_in, stage.pid), (3, true, 0));
}

#[test]
fn bulk_slots_run_in_the_background_and_track_toggles() {
    let mut host = setup(true);
    host.init().expect("init");
    host.reset_root_port().expect("reset");
    assert_eq!(host.slots(), MAX_SLOTS);
    let bulk_in = crate::usb::descriptor::Endpoint::parse(&[7, 5, 0x82, 2, 64, 0, 0]).expect("valid");
    let bulk_out = crate::usb::descriptor::Endpoint::parse(&[7, 5, 0x02, 2, 64, 0, 0]).expect("valid");
    let target = full_speed_device(0);
    let (mut rx, mut tx) = (Pipe::new(&target, &bulk_in), Pipe::new(&target, &bulk_out));
    let mut buffer = [0u8; 2048];

    host.start(0, &rx, &[], 2048).expect("armed");
    assert_eq!(host.start(0, &rx, &[], 2048), Err(Error::SlotBusy(0)));
    assert_eq!(host.poll(0, &mut rx, &mut buffer), Ok(None), "no frame yet");
    let frame: Vec<u8> = (0..100u8).collect();
    with_model(|m| m.bulk_in.push(frame.clone()));
    let mut got = None;
    for _ in 0..10 {
        got = host.poll(0, &mut rx, &mut buffer).expect("no error");
        if got.is_some() {
            break;
        }
    }
    assert_eq!(got, Some(100));
    assert_eq!(&buffer[..100], &frame[..]);
    assert!(!rx.data1, "two packets (64 + 36) from DATA0: the next is DATA0 again");
    assert_eq!(host.poll(0, &mut rx, &mut buffer), Err(Error::SlotIdle(0)));

    host.start(1, &tx, &frame[..60], 0).expect("sent");
    assert_eq!(
        host.poll(1, &mut tx, &mut []).ok().flatten().or_else(|| host.poll(1, &mut tx, &mut []).expect("done")),
        Some(60)
    );
    assert!(tx.data1, "one packet flips the toggle");
    let stage = with_model(|m| m.stages.pop()).expect("OUT stage");
    assert_eq!((stage.channel, stage.kind, stage.pid, stage.data.len()), (2, 2, 0, 60));
    assert_eq!(host.start(MAX_SLOTS, &tx, &[], 0), Err(Error::NoSlot(MAX_SLOTS)));
    assert!(matches!(host.start(1, &tx, &[0; 4096], 0), Err(Error::TooLong { .. })));
    // Whole packets of an odd max packet size would overrun the slot buffer.
    let odd = crate::usb::descriptor::Endpoint::parse(&[7, 5, 0x83, 2, 0xe8, 0x03, 0]).expect("1000-byte packets");
    let odd = Pipe::new(&target, &odd);
    assert_eq!(host.start(2, &odd, &[], 2048), Err(Error::TooLong { len: 3000, max: 2048 }));
    assert_eq!(
        host.interrupt_in(&mut Pipe { kind: TransferType::Interrupt, ..odd }, &mut [0u8; 1024]),
        Err(Error::TooLong { len: 2000, max: 1024 })
    );
}
