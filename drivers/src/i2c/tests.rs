//! Host tests of the BSC driver against a RAM register block driven by a small model of the
//! controller and an LM75-style sensor.
//!
//! The model runs from the driver's clock: the driver checks its deadline before every
//! status read, so each clock call is a point where "hardware" may act. It emulates what a
//! RAM block cannot: write-1-to-clear status bits (a write to S is seen as a change from
//! the value presented), the one-shot ST bit, FIFO writes (a write replaces a sentinel) and
//! FIFO reads (a byte presented with RXD is consumed before the next status read). Written
//! bytes take a couple of polls to shift out, as on the wire, so a read started right after
//! the last written byte turns into a repeated START only if the driver issues it in time.

extern crate std;

use super::*;
use embedded_hal::i2c::I2c;
use std::{boxed::Box, cell::RefCell, thread_local, vec, vec::Vec};

const C_REG: usize = 0;
const S_REG: usize = 1;
const DLEN_REG: usize = 2;
const A_REG: usize = 3;
const FIFO_REG: usize = 4;
const DIV_REG: usize = 5;

const TA: u32 = 1 << 0;
const DONE: u32 = 1 << 1;
const TXD: u32 = 1 << 4;
const RXD: u32 = 1 << 5;
const ERR: u32 = 1 << 8;
const CLKT: u32 = 1 << 9;
const ST: u32 = 1 << 7;
const I2CEN: u32 = 1 << 15;
const SENTINEL: u32 = 0xdead_0000;

/// What happened on the simulated bus.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bus {
    Start { address: u8, read: bool, len: u32 },
    RepeatedStart { address: u8, read: bool, len: u32 },
    Sent(u8),
    Stop,
}

/// An LM75-style sensor: a pointer byte, then 16-bit registers.
struct Sensor {
    address: u8,
    pointer: u8,
    registers: [[u8; 2]; 4],
    received: usize,
    sent: usize,
}

struct Transfer {
    read: bool,
    remaining: u32,
    device: bool,
}

struct Model {
    block: Box<[u32; 8]>,
    status: u32,
    presented: u32,
    active: Option<Transfer>,
    rx_presented: bool,
    shifting: u32,
    stuck: bool,
    sensor: Sensor,
    bus: Vec<Bus>,
    now: u64,
}

thread_local! {
    static MODEL: RefCell<Option<Model>> = const { RefCell::new(None) };
}

impl Model {
    fn tick(&mut self) {
        self.now += 1;
        if self.stuck {
            self.block[S_REG] = 0; // a dead controller reads as zeros
            return;
        }
        let regs = &*self.block;
        // 1. A write to S clears the write-1-to-clear flags it names.
        if regs[S_REG] != self.presented {
            self.status &= !(regs[S_REG] & (DONE | ERR | CLKT));
        }
        let restart_pending = regs[C_REG] & ST != 0;
        let mut continued = false;
        let mut started = false;
        // 2. A byte written to the FIFO takes two polls to go out on the bus; a START
        // waiting behind it goes out after it (a repeated START when DLEN is used up).
        if self.active.as_ref().is_some_and(|t| !t.read) && self.block[FIFO_REG] != SENTINEL {
            self.shifting = match self.shifting {
                0 => 2,
                n => n - 1,
            };
            if self.shifting == 0 || restart_pending {
                self.shifting = 0;
                continued = self.shift_out(restart_pending);
            }
        }
        // 3. A byte presented for reading was taken by the driver.
        if let Some(transfer) = self.active.as_mut().filter(|t| t.read) {
            if self.rx_presented {
                self.rx_presented = false;
                transfer.remaining -= 1;
                if transfer.remaining == 0 {
                    self.finish(true);
                }
            }
        }
        // 4. ST starts a transfer (a repeated START if one is still active).
        let control = self.block[C_REG];
        if control & ST != 0 {
            self.block[C_REG] &= !ST;
            if control & I2CEN != 0 {
                let address = self.block[A_REG] as u8;
                let read = control & 1 != 0;
                let len = self.block[DLEN_REG];
                let device = address == self.sensor.address;
                let restart = self.active.is_some() || continued;
                self.bus.push(if restart {
                    Bus::RepeatedStart { address, read, len }
                } else {
                    Bus::Start { address, read, len }
                });
                self.sensor.received = 0;
                self.sensor.sent = 0;
                if !device {
                    self.status |= ERR;
                }
                self.status |= TA;
                self.active = Some(Transfer { read, remaining: len, device });
                started = true;
                if len == 0 {
                    self.finish(true);
                }
            }
        }
        if control & I2CEN == 0 && self.active.is_some() {
            self.active = None; // disabled: transfer aborted
            self.bus.push(Bus::Stop);
            self.status &= !TA;
        }
        // 5. Present the next byte of a read (the first one a poll after the start: the
        // driver reads the clock once right after starting, before it polls).
        if let Some(transfer) = self.active.as_ref().filter(|t| t.read && !started) {
            if !self.rx_presented && transfer.remaining > 0 {
                let sensor = &mut self.sensor;
                let byte = if transfer.device && sensor.sent < 2 {
                    sensor.registers[sensor.pointer as usize][sensor.sent]
                } else {
                    0xff
                };
                sensor.sent += 1;
                self.block[FIFO_REG] = 0x100 | byte as u32;
                self.rx_presented = true;
            }
        }
        self.status = if self.rx_presented { self.status | RXD } else { self.status & !RXD };
        // A one-entry FIFO: room again once the byte went out.
        self.status = if self.block[FIFO_REG] == SENTINEL || self.active.as_ref().is_some_and(|t| t.read) {
            self.status | TXD
        } else {
            self.status & !TXD
        };
        self.block[S_REG] = self.status;
        self.presented = self.status;
    }

    /// Sends the byte in the FIFO; returns whether that ended the transfer with a START
    /// pending (no STOP: the next transfer follows as a repeated START).
    fn shift_out(&mut self, restart_pending: bool) -> bool {
        let byte = self.block[FIFO_REG] as u8;
        self.block[FIFO_REG] = SENTINEL;
        self.bus.push(Bus::Sent(byte));
        let Some(transfer) = self.active.as_mut() else { return false };
        if transfer.device {
            let sensor = &mut self.sensor;
            if sensor.received == 0 {
                sensor.pointer = byte & 3;
            } else if sensor.received <= 2 {
                sensor.registers[sensor.pointer as usize][sensor.received - 1] = byte;
            }
            sensor.received += 1;
        }
        transfer.remaining -= 1;
        if transfer.remaining == 0 {
            self.finish(!restart_pending);
            return restart_pending;
        }
        false
    }

    fn finish(&mut self, stop: bool) {
        self.active = None;
        self.rx_presented = false;
        self.status |= DONE;
        self.status &= !(TA | RXD);
        if stop {
            self.bus.push(Bus::Stop);
        }
    }
}

fn clock() -> u64 {
    MODEL.with(|m| {
        let mut model = m.borrow_mut();
        let model = model.as_mut().expect("model installed");
        model.tick();
        model.now
    })
}

/// Installs a fresh model on this thread and returns a driver over its register block.
fn setup(stuck: bool) -> Bsc {
    let mut block = Box::new([0u32; 8]);
    block[S_REG] = TXD;
    block[FIFO_REG] = SENTINEL;
    let base = block.as_mut_ptr() as usize;
    let sensor = Sensor {
        address: 0x48,
        pointer: 0,
        registers: [[0x17, 0x80], [0, 0], [0x4b, 0], [0x50, 0]],
        received: 0,
        sent: 0,
    };
    let model = Model {
        block,
        status: TXD,
        presented: TXD,
        active: None,
        rx_presented: false,
        shifting: 0,
        stuck,
        sensor,
        bus: vec![],
        now: 0,
    };
    MODEL.with(|m| *m.borrow_mut() = Some(model));
    // SAFETY: the boxed block lives in the thread-local model until the next `setup` on
    // this thread, longer than the driver used by each test.
    unsafe { Bsc::new(base, clock) }
}

fn bus_log() -> Vec<Bus> {
    MODEL.with(|m| core::mem::take(&mut m.borrow_mut().as_mut().unwrap().bus))
}

fn register(index: usize) -> u32 {
    MODEL.with(|m| m.borrow().as_ref().unwrap().block[index])
}

#[test]
fn divider_is_even_and_never_faster_than_asked() {
    assert_eq!(divider(250_000_000, 100_000), 2500);
    assert_eq!(divider(250_000_000, 400_000), 626); // 625 rounded up to even
    assert_eq!(divider(100, 1_000_000), 2);
    assert_eq!(divider(u32::MAX, 1), 0xfffe);
    let bsc = setup(false);
    assert_eq!(bsc.init(250_000_000, 100_000), 100_000);
    assert_eq!(register(DIV_REG), 2500);
}

#[test]
fn write_read_uses_a_repeated_start() {
    let mut bsc = setup(false);
    let mut data = [0u8; 2];
    bsc.write_read_bytes(0x48, &[0], &mut data).unwrap();
    assert_eq!(data, [0x17, 0x80]);
    assert_eq!(
        bus_log(),
        [
            Bus::Start { address: 0x48, read: false, len: 1 },
            Bus::Sent(0),
            Bus::RepeatedStart { address: 0x48, read: true, len: 2 },
            Bus::Stop
        ]
    );
    assert_eq!(register(C_REG) & I2CEN, 0, "controller left disabled");
}

#[test]
fn writes_reach_the_device_and_read_back() {
    let mut bsc = setup(false);
    bsc.write_bytes(0x48, &[2, 0x20, 0x80]).unwrap();
    assert_eq!(
        bus_log(),
        [Bus::Start { address: 0x48, read: false, len: 3 }, Bus::Sent(2), Bus::Sent(0x20), Bus::Sent(0x80), Bus::Stop]
    );
    let mut data = [0u8; 2];
    bsc.read_bytes(0x48, &mut data).unwrap(); // pointer stays at 2
    assert_eq!(data, [0x20, 0x80]);
}

#[test]
fn an_absent_address_is_a_nack_and_probe_says_no() {
    let mut bsc = setup(false);
    assert_eq!(bsc.write_bytes(0x50, &[1, 2]), Err(Error::Nack { address: 0x50 }));
    assert_eq!(register(C_REG) & I2CEN, 0, "controller left disabled after the error");
    assert_eq!(bsc.probe(0x50), Ok(false));
    assert_eq!(bsc.probe(0x48), Ok(true));
    let mut data = [0u8; 4];
    let error = bsc.read_bytes(0x51, &mut data).unwrap_err();
    assert_eq!(embedded_hal::i2c::Error::kind(&error), ErrorKind::NoAcknowledge(NoAcknowledgeSource::Unknown));
}

#[test]
fn a_controller_that_never_answers_times_out() {
    let mut bsc = setup(true);
    let error = bsc.write_bytes(0x48, &[1]).unwrap_err();
    assert!(matches!(error, Error::Timeout { address: 0x48, .. }), "{error:?}");
    let ticks = MODEL.with(|m| m.borrow().as_ref().unwrap().now);
    assert!(ticks > BASE_TIMEOUT_US, "gave up after {ticks} µs, before the deadline");
    let mut data = [0u8; 1];
    assert!(matches!(bsc.read_bytes(0x48, &mut data), Err(Error::Timeout { .. })));
}

#[test]
fn arguments_are_checked_before_the_bus_is_touched() {
    let mut bsc = setup(false);
    assert_eq!(bsc.write_bytes(0x80, &[1]), Err(Error::InvalidAddress(0x80)));
    let big = vec![0u8; MAX_TRANSFER + 1];
    assert_eq!(bsc.write_bytes(0x48, &big), Err(Error::TooLong(MAX_TRANSFER + 1)));
    assert!(bus_log().is_empty());
}

#[test]
fn embedded_hal_transactions_merge_adjacent_operations() {
    let mut bsc = setup(false);
    let (mut first, mut second) = ([0u8; 1], [0u8; 1]);
    bsc.transaction(0x48, &mut [Operation::Write(&[3]), Operation::Read(&mut first), Operation::Read(&mut second)])
        .unwrap();
    assert_eq!((first, second), ([0x50], [0]));
    assert_eq!(bus_log()[2], Bus::RepeatedStart { address: 0x48, read: true, len: 2 });
}

#[test]
fn the_lm75_crate_reads_the_sensor_through_this_driver() {
    let bsc = setup(false);
    let mut sensor = lm75::Lm75::new(bsc, lm75::Address::from(0x48));
    assert_eq!(sensor.read_temperature().unwrap(), 23.5);
}
