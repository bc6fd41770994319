//! BCM2835/BCM2837/BCM2711 GPIO block: function select, output levels, pulls.
//!
//! Reference: "BCM2835 ARM Peripherals" section 6 (GPIO at offset 0x20_0000 of the
//! peripheral window) and "BCM2711 ARM Peripherals" section 5 (new pull-up/down registers
//! GPIO_PUP_PDN_CNTRL_REG0..3, which replace GPPUD/GPPUDCLK).

use crate::mmio::Mmio;
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_structs,
    registers::{ReadOnly, ReadWrite, WriteOnly},
};

register_structs! {
    /// GPIO register block (BCM2835 layout, plus the BCM2711 pull registers).
    pub Registers {
        (0x00 => gpfsel: [ReadWrite<u32>; 6]),
        (0x18 => _reserved0),
        (0x1c => gpset: [WriteOnly<u32>; 2]),
        (0x24 => _reserved1),
        (0x28 => gpclr: [WriteOnly<u32>; 2]),
        (0x30 => _reserved2),
        (0x34 => gplev: [ReadOnly<u32>; 2]),
        (0x3c => _reserved3),
        (0x94 => gppud: ReadWrite<u32>),
        (0x98 => gppudclk: [ReadWrite<u32>; 2]),
        (0xa0 => _reserved4),
        (0xe4 => pup_pdn_cntrl: [ReadWrite<u32>; 4]),
        (0xf4 => @END),
    }
}

/// Number of GPIO lines on the BCM283x/BCM2711.
pub const PIN_COUNT: u32 = 54;

/// A pin's function (3-bit field of GPFSELn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Function {
    /// Input.
    Input = 0b000,
    /// Output.
    Output = 0b001,
    /// Alternate function 0 (e.g. PL011 TXD0/RXD0 on pins 14/15).
    Alt0 = 0b100,
    /// Alternate function 1.
    Alt1 = 0b101,
    /// Alternate function 2.
    Alt2 = 0b110,
    /// Alternate function 3.
    Alt3 = 0b111,
    /// Alternate function 4.
    Alt4 = 0b011,
    /// Alternate function 5 (e.g. mini UART TXD1/RXD1 on pins 14/15).
    Alt5 = 0b010,
}

impl Function {
    fn from_bits(bits: u32) -> Self {
        match bits & 0b111 {
            0b000 => Self::Input,
            0b001 => Self::Output,
            0b100 => Self::Alt0,
            0b101 => Self::Alt1,
            0b110 => Self::Alt2,
            0b111 => Self::Alt3,
            0b011 => Self::Alt4,
            _ => Self::Alt5,
        }
    }
}

/// Pull resistor setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    /// No pull resistor.
    None,
    /// Pull-up.
    Up,
    /// Pull-down.
    Down,
}

/// Which pull-register layout the SoC has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullLayout {
    /// BCM2835/BCM2837: GPPUD + GPPUDCLKn clocking sequence.
    Bcm2835,
    /// BCM2711: two bits per pin in GPIO_PUP_PDN_CNTRL_REGn (00 none, 01 up, 10 down).
    Bcm2711,
}

/// Errors from GPIO calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The pin number is not below [`PIN_COUNT`].
    NoSuchPin(u32),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoSuchPin(pin) => write!(f, "GPIO {pin} does not exist (0..={})", PIN_COUNT - 1),
        }
    }
}

/// The GPIO controller.
pub struct Gpio {
    registers: Mmio<Registers>,
    layout: PullLayout,
}

fn check(pin: u32) -> Result<(usize, u32), Error> {
    if pin < PIN_COUNT {
        Ok(((pin / 32) as usize, 1 << (pin % 32)))
    } else {
        Err(Error::NoSuchPin(pin))
    }
}

impl Gpio {
    /// Creates the driver.
    ///
    /// # Safety
    /// `base` must be the mapped GPIO register block, owned by this driver.
    pub const unsafe fn new(base: usize, layout: PullLayout) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) }, layout }
    }

    /// Selects a pin's function.
    pub fn set_function(&self, pin: u32, function: Function) -> Result<(), Error> {
        check(pin)?;
        let register = &self.registers.gpfsel[(pin / 10) as usize];
        let shift = (pin % 10) * 3;
        let value = (register.get() & !(0b111 << shift)) | ((function as u32) << shift);
        register.set(value);
        Ok(())
    }

    /// Reads a pin's function.
    pub fn function(&self, pin: u32) -> Result<Function, Error> {
        check(pin)?;
        let register = &self.registers.gpfsel[(pin / 10) as usize];
        Ok(Function::from_bits(register.get() >> ((pin % 10) * 3)))
    }

    /// Drives an output pin high or low.
    pub fn write(&self, pin: u32, high: bool) -> Result<(), Error> {
        let (bank, mask) = check(pin)?;
        if high {
            self.registers.gpset[bank].set(mask);
        } else {
            self.registers.gpclr[bank].set(mask);
        }
        Ok(())
    }

    /// Reads a pin's level.
    pub fn read(&self, pin: u32) -> Result<bool, Error> {
        let (bank, mask) = check(pin)?;
        Ok(self.registers.gplev[bank].get() & mask != 0)
    }

    /// Sets a pin's pull resistor. `delay` must wait at least 150 cycles of the core
    /// (BCM2835 sequence only).
    pub fn set_pull(&self, pin: u32, pull: Pull, delay: impl Fn()) -> Result<(), Error> {
        let (bank, mask) = check(pin)?;
        let regs = &*self.registers;
        match self.layout {
            PullLayout::Bcm2835 => {
                regs.gppud.set(match pull {
                    Pull::None => 0,
                    Pull::Down => 1,
                    Pull::Up => 2,
                });
                delay();
                regs.gppudclk[bank].set(mask);
                delay();
                regs.gppud.set(0);
                regs.gppudclk[bank].set(0);
            }
            PullLayout::Bcm2711 => {
                let register = &regs.pup_pdn_cntrl[(pin / 16) as usize];
                let shift = (pin % 16) * 2;
                let bits = match pull {
                    Pull::None => 0,
                    Pull::Up => 1,
                    Pull::Down => 2,
                };
                register.set((register.get() & !(0b11 << shift)) | (bits << shift));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_block(layout: PullLayout, f: impl FnOnce(&Gpio)) {
        let mut block = [0u32; 0xf4 / 4];
        // SAFETY: the array outlives the driver and covers the whole register block.
        let gpio = unsafe { Gpio::new(block.as_mut_ptr() as usize, layout) };
        f(&gpio);
    }

    #[test]
    fn function_select_touches_only_its_field() {
        with_block(PullLayout::Bcm2835, |gpio| {
            gpio.set_function(14, Function::Alt0).unwrap();
            gpio.set_function(15, Function::Alt0).unwrap();
            gpio.set_function(17, Function::Output).unwrap();
            assert_eq!(gpio.function(14), Ok(Function::Alt0));
            assert_eq!(gpio.function(15), Ok(Function::Alt0));
            assert_eq!(gpio.function(16), Ok(Function::Input));
            assert_eq!(gpio.function(17), Ok(Function::Output));
            assert_eq!(gpio.set_function(54, Function::Output), Err(Error::NoSuchPin(54)));
        });
    }

    #[test]
    fn bcm2711_pulls_use_two_bits_per_pin() {
        let mut block = [0u32; 0xf4 / 4];
        // SAFETY: as above.
        let gpio = unsafe { Gpio::new(block.as_mut_ptr() as usize, PullLayout::Bcm2711) };
        gpio.set_pull(17, Pull::Down, || ()).unwrap();
        gpio.set_pull(18, Pull::Up, || ()).unwrap();
        assert_eq!(block[(0xe4 + 4) / 4], (2 << 2) | (1 << 4));
    }
}
