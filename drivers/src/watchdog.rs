//! BCM2835 power-management watchdog, used to reset the SoC.
//!
//! Reference: Linux `drivers/watchdog/bcm2835_wdt.c`. Peripheral offset 0x10_0000. Every
//! write needs the password 0x5a in the top byte. In QEMU the reset restarts the machine (or
//! exits QEMU with `-no-reboot`).

use crate::mmio::Mmio;
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::ReadWrite,
};

register_bitfields! {u32,
    /// Reset control.
    PM_RSTC [
        /// Password (must be 0x5a on writes).
        PASSWORD OFFSET(24) NUMBITS(8) [ Magic = 0x5a ],
        /// Reset configuration.
        WRCFG OFFSET(4) NUMBITS(2) [ Clear = 0b00, FullReset = 0b10 ]
    ],
    /// Watchdog timer.
    PM_WDOG [
        /// Password (must be 0x5a on writes).
        PASSWORD OFFSET(24) NUMBITS(8) [ Magic = 0x5a ],
        /// Ticks (16 µs each) until the reset fires.
        TIME OFFSET(0) NUMBITS(20) []
    ]
}

register_structs! {
    /// Power-management block (watchdog part).
    pub Registers {
        (0x00 => _reserved0),
        (0x1c => rstc: ReadWrite<u32, PM_RSTC::Register>),
        (0x20 => rsts: ReadWrite<u32>),
        (0x24 => wdog: ReadWrite<u32, PM_WDOG::Register>),
        (0x28 => @END),
    }
}

/// The watchdog.
pub struct Watchdog {
    registers: Mmio<Registers>,
}

impl Watchdog {
    /// Creates the driver.
    ///
    /// # Safety
    /// `base` must be the mapped PM register block, owned by this driver.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Ticks the timer holds at most (about 16.8 s).
    pub const MAX_TICKS: u32 = 0xF_FFFF;

    /// Stops a running countdown (Linux `bcm2835_wdt_stop`: RSTC = password | 0x102).
    pub fn stop(&self) {
        self.registers.rstc.set(PM_RSTC::PASSWORD::Magic.value | 0x102);
    }

    /// Arms the watchdog to reset the whole SoC after `ticks` (16 µs each). Called again
    /// before it runs out, it restarts the countdown (a keep-alive). QEMU does not model the
    /// countdown: the reset happens at once there.
    pub fn reset_after(&self, ticks: u32) {
        let regs = &*self.registers;
        regs.wdog.write(PM_WDOG::PASSWORD::Magic + PM_WDOG::TIME.val(ticks));
        let keep = regs.rstc.get() & !(PM_RSTC::PASSWORD.mask << 24 | PM_RSTC::WRCFG.mask << 4);
        regs.rstc.set(keep | (PM_RSTC::PASSWORD::Magic + PM_RSTC::WRCFG::FullReset).value);
    }
}
