//! BCM2835/BCM2837/BCM2711 GPIO block: function select, output levels, pulls.
//!
//! Reference: "BCM2835 ARM Peripherals" section 6 (GPIO at offset 0x20_0000 of the
//! peripheral window) and "BCM2711 ARM Peripherals" section 5 (new pull-up/down registers
//! GPIO_PUP_PDN_CNTRL_REG0..3, which replace GPPUD/GPPUDCLK).
//!
//! [`Gpio::pin`] hands out one line as an [`embedded_hal::digital`] pin ([`Pin`]:
//! `OutputPin`, `InputPin`, `StatefulOutputPin`), so ecosystem drivers written against
//! embedded-hal 1.0 run on it unchanged. The output latch of these SoCs cannot be read back
//! (GPSET/GPCLR are write-only); the level register GPLEV shows what an output drives.

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
    /// Lower-case name as shown by tools (`input`, `output`, `alt0` .. `alt5`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
            Self::Alt0 => "alt0",
            Self::Alt1 => "alt1",
            Self::Alt2 => "alt2",
            Self::Alt3 => "alt3",
            Self::Alt4 => "alt4",
            Self::Alt5 => "alt5",
        }
    }

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

impl Pull {
    /// Lower-case name as shown by tools (`none`, `up`, `down`).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Up => "up",
            Self::Down => "down",
        }
    }
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

impl embedded_hal::digital::Error for Error {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
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

    /// The pull-register layout this block was created with.
    pub fn layout(&self) -> PullLayout {
        self.layout
    }

    /// Reads a pin's pull resistor back: `Some` on the BCM2711, whose pull registers are
    /// readable; `None` on the BCM2835/7, where the GPPUD sequence is write-only.
    pub fn pull(&self, pin: u32) -> Result<Option<Pull>, Error> {
        check(pin)?;
        Ok(match self.layout {
            PullLayout::Bcm2835 => None,
            PullLayout::Bcm2711 => {
                let bits = self.registers.pup_pdn_cntrl[(pin / 16) as usize].get() >> ((pin % 16) * 2);
                Some(match bits & 0b11 {
                    1 => Pull::Up,
                    2 => Pull::Down,
                    _ => Pull::None,
                })
            }
        })
    }

    /// One line as an embedded-hal pin. Its function is left as it is: call
    /// [`Gpio::set_function`] (or [`Pin::into_output`] / [`Pin::into_input`]) first.
    pub fn pin(&self, pin: u32) -> Result<Pin<'_>, Error> {
        check(pin)?;
        Ok(Pin { gpio: self, pin })
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

/// One GPIO line borrowed from its [`Gpio`] block, implementing the embedded-hal 1.0
/// digital traits.
pub struct Pin<'a> {
    gpio: &'a Gpio,
    pin: u32,
}

impl Pin<'_> {
    /// The GPIO number.
    pub fn number(&self) -> u32 {
        self.pin
    }

    /// Makes the line an output (the level latched before stays: set it first to avoid a glitch).
    pub fn into_output(self) -> Result<Self, Error> {
        self.gpio.set_function(self.pin, Function::Output)?;
        Ok(self)
    }

    /// Makes the line an input.
    pub fn into_input(self) -> Result<Self, Error> {
        self.gpio.set_function(self.pin, Function::Input)?;
        Ok(self)
    }
}

impl embedded_hal::digital::ErrorType for Pin<'_> {
    type Error = Error;
}

impl embedded_hal::digital::OutputPin for Pin<'_> {
    fn set_low(&mut self) -> Result<(), Error> {
        self.gpio.write(self.pin, false)
    }

    fn set_high(&mut self) -> Result<(), Error> {
        self.gpio.write(self.pin, true)
    }
}

impl embedded_hal::digital::InputPin for Pin<'_> {
    fn is_high(&mut self) -> Result<bool, Error> {
        self.gpio.read(self.pin)
    }

    fn is_low(&mut self) -> Result<bool, Error> {
        self.gpio.read(self.pin).map(|high| !high)
    }
}

/// The output latch is write-only on these SoCs, so the state is the level register: for an
/// output line that is the level it drives (unless something outside overpowers it).
impl embedded_hal::digital::StatefulOutputPin for Pin<'_> {
    fn is_set_high(&mut self) -> Result<bool, Error> {
        self.gpio.read(self.pin)
    }

    fn is_set_low(&mut self) -> Result<bool, Error> {
        self.gpio.read(self.pin).map(|high| !high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::digital::{InputPin, OutputPin, StatefulOutputPin};

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

    #[test]
    fn bcm2711_pulls_read_back_and_bcm2835_pulls_do_not() {
        let mut block = [0u32; 0xf4 / 4];
        // SAFETY: the array outlives the driver and covers the whole register block.
        let gpio = unsafe { Gpio::new(block.as_mut_ptr() as usize, PullLayout::Bcm2711) };
        gpio.set_pull(22, Pull::Up, || ()).unwrap();
        gpio.set_pull(23, Pull::Down, || ()).unwrap();
        assert_eq!(gpio.pull(22), Ok(Some(Pull::Up)));
        assert_eq!(gpio.pull(23), Ok(Some(Pull::Down)));
        assert_eq!(gpio.pull(24), Ok(Some(Pull::None)));
        assert_eq!(gpio.pull(60), Err(Error::NoSuchPin(60)));
        let mut block = [0u32; 0xf4 / 4];
        // SAFETY: as above.
        let gpio = unsafe { Gpio::new(block.as_mut_ptr() as usize, PullLayout::Bcm2835) };
        assert_eq!(gpio.pull(22), Ok(None));
    }

    #[test]
    fn embedded_hal_pins_drive_set_and_clear_and_read_the_level_register() {
        let mut block = [0u32; 0xf4 / 4];
        // SAFETY: the array outlives the driver and covers the whole register block.
        let gpio = unsafe { Gpio::new(block.as_mut_ptr() as usize, PullLayout::Bcm2835) };
        let mut pin = gpio.pin(35).unwrap().into_output().unwrap();
        assert_eq!(gpio.function(35), Ok(Function::Output));
        pin.set_high().unwrap();
        pin.set_low().unwrap();
        // GPIO 35 is bank 1, bit 3: GPSET1 (0x20) and GPCLR1 (0x2c) got that bit.
        assert_eq!((block[0x20 / 4], block[0x2c / 4]), (1 << 3, 1 << 3));
        // The level register GPLEV1 (0x38) decides what the pin reads (set as the hardware would).
        // SAFETY: an in-bounds, aligned element of the live array (volatile: the driver reads
        // it through a pointer the compiler does not see).
        unsafe { core::ptr::write_volatile(&mut block[0x38 / 4], 1 << 3) };
        assert_eq!(pin.is_high(), Ok(true));
        assert_eq!(pin.is_set_high(), Ok(true));
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(&mut block[0x38 / 4], 0) };
        assert_eq!(pin.is_low(), Ok(true));
        assert_eq!(pin.is_set_low(), Ok(true));
        assert!(gpio.pin(54).is_err());
    }
}
