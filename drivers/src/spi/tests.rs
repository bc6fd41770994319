//! Host tests of the SPI0 driver against a RAM register block driven by a model of the
//! controller with a device that answers each byte with its complement.
//!
//! As in the I2C tests, the model acts on each clock call (the driver reads its deadline
//! before every status read): a CS write is seen as a change from the value presented, a
//! FIFO write replaces a sentinel, and a byte presented with RXD is taken by the driver
//! before the next clock call.

extern crate std;

use super::*;
use embedded_hal::spi::{SpiBus, SpiDevice, MODE_0, MODE_3};
use std::{boxed::Box, cell::RefCell, collections::VecDeque, thread_local, vec, vec::Vec};

const CS_REG: usize = 0;
const FIFO_REG: usize = 1;
const CLK_REG: usize = 2;

const TA: u32 = 1 << 7;
const CLEAR: u32 = 0b11 << 4;
const DONE: u32 = 1 << 16;
const RXD: u32 = 1 << 17;
const TXD: u32 = 1 << 18;
const STATUS: u32 = DONE | RXD | TXD;
const SENTINEL: u32 = 0xdead_0000;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Wire {
    Select { line: u32, cpol: bool, cpha: bool },
    Byte(u8),
    Deselect,
}

struct Model {
    block: Box<[u32; 6]>,
    presented: u32,
    config: u32,
    rx: VecDeque<u8>,
    rx_presented: bool,
    stuck: bool,
    wire: Vec<Wire>,
    now: u64,
}

thread_local! {
    static MODEL: RefCell<Option<Model>> = const { RefCell::new(None) };
}

impl Model {
    fn tick(&mut self) {
        self.now += 1;
        if self.stuck {
            self.block[CS_REG] = 0;
            return;
        }
        let written = self.block[CS_REG];
        if written != self.presented {
            let was_active = self.config & TA != 0;
            self.config = written & !STATUS & !CLEAR;
            if written & CLEAR != 0 {
                self.rx.clear();
                self.rx_presented = false;
            }
            match (was_active, self.config & TA != 0) {
                (false, true) => self.wire.push(Wire::Select {
                    line: self.config & 3,
                    cpol: self.config & 8 != 0,
                    cpha: self.config & 4 != 0,
                }),
                (true, false) => self.wire.push(Wire::Deselect),
                _ => {}
            }
        }
        if self.rx_presented {
            self.rx_presented = false;
            self.rx.pop_front();
        }
        if self.block[FIFO_REG] <= 0xff && self.config & TA != 0 {
            let byte = self.block[FIFO_REG] as u8;
            self.wire.push(Wire::Byte(byte));
            self.rx.push_back(!byte);
            assert!(self.rx.len() <= 16, "receive FIFO overflow: the driver wrote too far ahead");
        }
        self.block[FIFO_REG] = SENTINEL;
        if let Some(&byte) = self.rx.front() {
            self.block[FIFO_REG] = 0x100 | byte as u32;
            self.rx_presented = true;
        }
        let mut status = TXD;
        if self.rx_presented {
            status |= RXD;
        }
        if self.config & TA != 0 {
            status |= DONE; // every byte is shifted out at once
        }
        self.block[CS_REG] = self.config | status;
        self.presented = self.block[CS_REG];
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

fn setup(stuck: bool) -> Spi {
    let mut block = Box::new([0u32; 6]);
    block[FIFO_REG] = SENTINEL;
    let base = block.as_mut_ptr() as usize;
    let model =
        Model { block, presented: 0, config: 0, rx: VecDeque::new(), rx_presented: false, stuck, wire: vec![], now: 0 };
    MODEL.with(|m| *m.borrow_mut() = Some(model));
    // SAFETY: the boxed block lives in the thread-local model until the next `setup` on
    // this thread, longer than the driver used by each test.
    let mut spi = unsafe { Spi::new(base, clock) };
    spi.configure(250_000_000, 0, MODE_0, 1_000_000).unwrap();
    spi
}

/// Lets the model see the driver's last register writes, then returns what was on the wire.
fn wire() -> Vec<Wire> {
    clock();
    MODEL.with(|m| core::mem::take(&mut m.borrow_mut().as_mut().unwrap().wire))
}

fn register(index: usize) -> u32 {
    MODEL.with(|m| m.borrow().as_ref().unwrap().block[index])
}

#[test]
fn divider_is_even_and_never_faster_than_asked() {
    assert_eq!(divider(250_000_000, 1_000_000), 250);
    assert_eq!(divider(250_000_000, 3_000_000), 84); // 83.3 → 84
    assert_eq!(divider(250_000_000, 500_000_000), 2);
    assert_eq!(divider(250_000_000, 1), 0xfffe);
    let mut spi = setup(false);
    assert_eq!(spi.configure(250_000_000, 1, MODE_3, 12_500_000), Ok(12_500_000));
    assert_eq!(register(CLK_REG), 20);
    // 25 would be odd: 26, so 9.6 MHz rather than more than the 10 MHz asked for.
    assert_eq!(spi.configure(250_000_000, 1, MODE_3, 10_000_000), Ok(9_615_384));
    assert_eq!(spi.configure(250_000_000, 2, MODE_0, 1), Err(Error::InvalidChipSelect(2)));
}

#[test]
fn a_transfer_is_full_duplex_and_framed_by_the_chip_select() {
    let mut spi = setup(false);
    let mut read = [0u8; 4];
    SpiBus::transfer(&mut spi, &mut read, &[1, 2, 3, 4]).unwrap();
    assert_eq!(read, [!1, !2, !3, !4]);
    assert_eq!(
        wire(),
        [
            Wire::Select { line: 0, cpol: false, cpha: false },
            Wire::Byte(1),
            Wire::Byte(2),
            Wire::Byte(3),
            Wire::Byte(4),
            Wire::Deselect
        ]
    );
    assert_eq!(register(CS_REG) & TA, 0, "chip select released");
}

#[test]
fn long_transfers_never_overrun_the_receive_fifo() {
    let mut spi = setup(false);
    let write: Vec<u8> = (0..100).collect();
    let mut read = vec![0u8; 100];
    SpiBus::transfer(&mut spi, &mut read, &write).unwrap();
    assert!(read.iter().zip(&write).all(|(r, w)| *r == !*w));
    let mut in_place: Vec<u8> = (0..40).collect();
    SpiBus::transfer_in_place(&mut spi, &mut in_place).unwrap();
    assert!(in_place.iter().enumerate().all(|(i, b)| *b == !(i as u8)));
}

#[test]
fn the_mode_and_line_reach_the_control_register() {
    let mut spi = setup(false);
    spi.configure(250_000_000, 1, MODE_3, 1_000_000).unwrap();
    SpiBus::write(&mut spi, &[0xa5]).unwrap();
    assert_eq!(wire(), [Wire::Select { line: 1, cpol: true, cpha: true }, Wire::Byte(0xa5), Wire::Deselect]);
    let mut read = [0u8; 2];
    SpiBus::read(&mut spi, &mut read).unwrap();
    assert_eq!(read, [0xff, 0xff], "reads send zeros");
}

#[test]
fn a_device_transaction_keeps_the_chip_select_asserted() {
    let mut spi = setup(false);
    let mut id = [0u8; 2];
    spi.transaction(&mut [Operation::Write(&[0x9f]), Operation::DelayNs(2000), Operation::Read(&mut id)]).unwrap();
    assert_eq!(id, [0xff, 0xff]);
    assert_eq!(
        wire(),
        [
            Wire::Select { line: 0, cpol: false, cpha: false },
            Wire::Byte(0x9f),
            Wire::Byte(0),
            Wire::Byte(0),
            Wire::Deselect
        ]
    );
}

#[test]
fn a_controller_that_never_answers_times_out_and_releases_the_line() {
    let mut spi = setup(true);
    let error = SpiBus::write(&mut spi, &[1, 2]).unwrap_err();
    assert_eq!(error, Error::Timeout { waiting_for: "room in the FIFO" });
    let ticks = MODEL.with(|m| m.borrow().as_ref().unwrap().now);
    assert!(ticks > BASE_TIMEOUT_US, "gave up after {ticks} µs, before the deadline");
    assert_eq!(register(CS_REG) & TA, 0);
}
