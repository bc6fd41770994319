//! Who owns each GPIO, so a tool call never reconfigures a pin something else depends on.
//!
//! Two kinds of owner: the board itself (`BoardInfo::reserved_pins`: console UART, SD card,
//! wireless SDIO — fixed), and a bus that a tool claimed on first use (I2C bus 1 takes GPIO
//! 2/3, SPI0 takes 9-11 and its chip select, a PWM channel its pin — kept until reboot).
//! Pins with neither are free: `gpio_mode` and `gpio_write` may change them. Every GPIO
//! reconfiguration by a tool happens under the one lock here, so two requests cannot
//! interleave read-modify-write cycles of the function-select registers.

use crate::{board::CURRENT, platform};
use alloc::format;
use drivers::gpio::{Function, Gpio, PIN_COUNT};
use spin::Mutex;

/// The owner of a pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Used by the board (what for).
    Board(&'static str),
    /// Claimed by a bus driver.
    Bus {
        /// The bus (`I2C bus 1`, `SPI0`, `PWM0 channel 1`).
        bus: &'static str,
        /// The signal on this pin (`SDA`, `SCLK`, ...).
        signal: &'static str,
    },
}

impl core::fmt::Display for Owner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Board(what) => f.write_str(what),
            Self::Bus { bus, signal } => write!(f, "{bus} ({signal})"),
        }
    }
}

/// Bus claims by GPIO number.
static CLAIMS: Mutex<[Option<(&'static str, &'static str)>; PIN_COUNT as usize]> =
    Mutex::new([None; PIN_COUNT as usize]);

fn board_owner(pin: u32) -> Option<Owner> {
    CURRENT.reserved_pins.iter().find(|(p, _)| *p as u32 == pin).map(|(_, what)| Owner::Board(what))
}

/// Why a pin may not be changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinError {
    /// The board has no GPIO controller.
    NoGpio,
    /// No such GPIO.
    NoSuchPin(u32),
    /// Someone else owns the pin; `for_bus` is the bus that asked for it, if one did.
    Owned {
        /// The pin.
        pin: u32,
        /// Its owner.
        owner: Owner,
        /// The bus whose claim was refused.
        for_bus: Option<&'static str>,
    },
    /// The controller refused the function.
    Controller(drivers::gpio::Error),
}

impl core::fmt::Display for PinError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PinError::NoGpio => write!(f, "this board has no GPIO controller"),
            PinError::NoSuchPin(pin) => write!(f, "GPIO {pin} does not exist"),
            PinError::Owned { pin, owner, for_bus } => {
                if let Some(bus) = for_bus {
                    write!(f, "{bus} cannot use its pins: ")?;
                }
                let place = CURRENT
                    .header
                    .and_then(|header| crate::board::header::physical_pin(header, *pin))
                    .map(|p| format!(" (header pin {p})"))
                    .unwrap_or_default();
                match owner {
                    Owner::Board(_) => {
                        write!(f, "GPIO {pin}{place} is reserved: the board uses it for the {owner}; it is never reconfigured")
                    }
                    Owner::Bus { bus, .. } => write!(
                        f,
                        "GPIO {pin}{place} belongs to {owner} since a tool used {bus}; it stays with it until reboot"
                    ),
                }
            }
            PinError::Controller(error) => write!(f, "{error}"),
        }
    }
}

fn gpio() -> Result<&'static Gpio, PinError> {
    platform::get().and_then(|p| p.gpio.as_ref()).ok_or(PinError::NoGpio)
}

/// The owner of `pin`, if any.
pub fn owner(pin: u32) -> Option<Owner> {
    board_owner(pin).or_else(|| {
        let claims = CLAIMS.lock();
        claims.get(pin as usize).copied().flatten().map(|(bus, signal)| Owner::Bus { bus, signal })
    })
}

/// Runs `change` on the GPIO block if `pin` is free, under the reconfiguration lock;
/// otherwise says who owns the pin.
pub fn with_free_pin<R>(pin: u32, change: impl FnOnce(&Gpio) -> R) -> Result<R, PinError> {
    let gpio = gpio()?;
    if let Some(owner) = board_owner(pin) {
        return Err(PinError::Owned { pin, owner, for_bus: None });
    }
    let claims = CLAIMS.lock();
    if let Some((bus, signal)) = claims.get(pin as usize).copied().flatten() {
        return Err(PinError::Owned { pin, owner: Owner::Bus { bus, signal }, for_bus: None });
    }
    let result = change(gpio);
    drop(claims);
    Ok(result)
}

/// Claims `pins` (GPIO, signal, alternate function) for `bus` and routes them to it. Pins
/// the bus already holds are fine; a pin the board or another bus owns refuses the whole
/// claim, and nothing is changed.
pub fn claim(bus: &'static str, pins: &[(u32, &'static str, Function)]) -> Result<(), PinError> {
    let gpio = gpio()?;
    let mut claims = CLAIMS.lock();
    for &(pin, _, _) in pins {
        if let Some(owner) = board_owner(pin) {
            return Err(PinError::Owned { pin, owner, for_bus: Some(bus) });
        }
        match claims.get(pin as usize).copied() {
            None => return Err(PinError::NoSuchPin(pin)),
            Some(Some((other, signal))) if other != bus => {
                return Err(PinError::Owned { pin, owner: Owner::Bus { bus: other, signal }, for_bus: Some(bus) });
            }
            _ => {}
        }
    }
    for &(pin, signal, function) in pins {
        if claims[pin as usize].is_none() {
            gpio.set_function(pin, function).map_err(PinError::Controller)?;
            claims[pin as usize] = Some((bus, signal));
            log::debug!("GPIO {pin} -> {bus} {signal} ({})", function.name());
        }
    }
    Ok(())
}
