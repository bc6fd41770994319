//! The 40-pin expansion header of the Pi 3, Pi 4 and Pi Zero 2 W (one layout for all).
//!
//! ```text
//!        3V3  1 ●● 2  5V
//!     GPIO 2  3 ●● 4  5V          odd pins on the inner row (towards the SoC),
//!     GPIO 3  5 ●● 6  GND         pin 1 at the end nearest the SD card / board corner
//!     GPIO 4  7 ●● 8  GPIO 14 (console TXD)
//!        GND  9 ●● 10 GPIO 15 (console RXD)
//!        ...                     ... down to 39 GND / 40 GPIO 21
//! ```
//!
//! The virt board has no header, so its builds leave this table unused.
#![cfg_attr(feature = "board-virt", allow(dead_code))]

/// What one physical header pin carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderPin {
    /// 3.3 V supply.
    Power3v3,
    /// 5 V supply.
    Power5v,
    /// Ground.
    Ground,
    /// A GPIO line (BCM numbering).
    Gpio(u8),
}

use HeaderPin::{Gpio, Ground, Power3v3, Power5v};

/// Physical pins 1-40 in order (index 0 is pin 1).
#[rustfmt::skip]
pub const PI_40_PIN: [HeaderPin; 40] = [
    Power3v3, Power5v,   // 1, 2
    Gpio(2), Power5v,    // 3, 4
    Gpio(3), Ground,     // 5, 6
    Gpio(4), Gpio(14),   // 7, 8
    Ground, Gpio(15),    // 9, 10
    Gpio(17), Gpio(18),  // 11, 12
    Gpio(27), Ground,    // 13, 14
    Gpio(22), Gpio(23),  // 15, 16
    Power3v3, Gpio(24),  // 17, 18
    Gpio(10), Ground,    // 19, 20
    Gpio(9), Gpio(25),   // 21, 22
    Gpio(11), Gpio(8),   // 23, 24
    Ground, Gpio(7),     // 25, 26
    Gpio(0), Gpio(1),    // 27, 28
    Gpio(5), Ground,     // 29, 30
    Gpio(6), Gpio(12),   // 31, 32
    Gpio(13), Ground,    // 33, 34
    Gpio(19), Gpio(16),  // 35, 36
    Gpio(26), Gpio(20),  // 37, 38
    Ground, Gpio(21),    // 39, 40
];

/// The physical pin (1-40) that carries `gpio`, if the header brings it out.
pub fn physical_pin(header: &[HeaderPin; 40], gpio: u32) -> Option<u32> {
    let gpio = u8::try_from(gpio).ok()?;
    header.iter().position(|pin| *pin == Gpio(gpio)).map(|index| index as u32 + 1)
}
