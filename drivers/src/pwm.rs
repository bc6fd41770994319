//! PWM0 (two channels) and its clock, implementing embedded-hal 1.0 `SetDutyCycle`.
//!
//! References: "BCM2835 ARM Peripherals" section 9 (PWM at peripheral offset 0x20_C000, the
//! same on the BCM2711) and section 6.3 for the clock-manager register layout (password
//! 0x5a in the top byte, BUSY, ENAB, SRC; divisor DIVI.DIVF). The PWM clock itself,
//! CM_PWMCTL/CM_PWMDIV at clock-manager offsets 0xa0/0xa4 (peripheral offset 0x10_1000), is
//! not in the datasheet; its offsets are those Linux's clk-bcm2835 uses.
//!
//! The clock runs from the crystal oscillator (19.2 MHz on the BCM2837, 54 MHz on the
//! BCM2711) divided down to about [`TARGET_CLOCK_HZ`], and is set once: both channels share
//! it, so a fixed clock keeps them independent. Each channel runs in mark-space mode
//! (MSEN): the output is high for DAT of every RNG clock ticks, so frequency = clock / RNG
//! and duty = DAT / RNG. Changing the clock means stopping it and waiting for BUSY to
//! drop; that wait has a [`Deadline`].

use crate::{
    deadline::{Deadline, Micros},
    mmio::Mmio,
};
use tock_registers::{
    interfaces::{ReadWriteable, Readable, Writeable},
    register_bitfields, register_structs,
    registers::ReadWrite,
};

register_bitfields! {u32,
    /// PWM control.
    CTL [
        /// Channel 2 mark-space mode.
        MSEN2 OFFSET(15) NUMBITS(1) [],
        /// Channel 2 uses the FIFO.
        USEF2 OFFSET(13) NUMBITS(1) [],
        /// Channel 2 polarity inverted.
        POLA2 OFFSET(12) NUMBITS(1) [],
        /// Channel 2 serialiser mode.
        MODE2 OFFSET(9) NUMBITS(1) [],
        /// Channel 2 enable.
        PWEN2 OFFSET(8) NUMBITS(1) [],
        /// Channel 1 mark-space mode.
        MSEN1 OFFSET(7) NUMBITS(1) [],
        /// Clear the FIFO (one-shot).
        CLRF1 OFFSET(6) NUMBITS(1) [],
        /// Channel 1 uses the FIFO.
        USEF1 OFFSET(5) NUMBITS(1) [],
        /// Channel 1 polarity inverted.
        POLA1 OFFSET(4) NUMBITS(1) [],
        /// Channel 1 serialiser mode.
        MODE1 OFFSET(1) NUMBITS(1) [],
        /// Channel 1 enable.
        PWEN1 OFFSET(0) NUMBITS(1) []
    ],
    /// Clock-manager control (CM_PWMCTL).
    CM_CTL [
        /// Must be 0x5a on every write.
        PASSWD OFFSET(24) NUMBITS(8) [ Magic = 0x5a ],
        /// MASH noise-shaping stages (0 = integer division).
        MASH OFFSET(9) NUMBITS(2) [],
        /// The generator is running.
        BUSY OFFSET(7) NUMBITS(1) [],
        /// Stop the generator at once (may glitch).
        KILL OFFSET(5) NUMBITS(1) [],
        /// Enable the generator.
        ENAB OFFSET(4) NUMBITS(1) [],
        /// Clock source.
        SRC OFFSET(0) NUMBITS(4) [ Ground = 0, Oscillator = 1 ]
    ],
    /// Clock-manager divisor (CM_PWMDIV).
    CM_DIV [
        /// Must be 0x5a on every write.
        PASSWD OFFSET(24) NUMBITS(8) [ Magic = 0x5a ],
        /// Integer part of the divisor.
        DIVI OFFSET(12) NUMBITS(12) [],
        /// Fractional part (in 1/4096).
        DIVF OFFSET(0) NUMBITS(12) []
    ]
}

register_structs! {
    /// PWM0 register block.
    pub Registers {
        (0x00 => ctl: ReadWrite<u32, CTL::Register>),
        (0x04 => sta: ReadWrite<u32>),
        (0x08 => dmac: ReadWrite<u32>),
        (0x0c => _reserved0),
        (0x10 => rng1: ReadWrite<u32>),
        (0x14 => dat1: ReadWrite<u32>),
        (0x18 => fif1: ReadWrite<u32>),
        (0x1c => _reserved1),
        (0x20 => rng2: ReadWrite<u32>),
        (0x24 => dat2: ReadWrite<u32>),
        (0x28 => @END),
    },

    /// The clock-manager block, as far as the PWM clock.
    pub ClockRegisters {
        (0x00 => _other_clocks),
        (0xa0 => pwm_ctl: ReadWrite<u32, CM_CTL::Register>),
        (0xa4 => pwm_div: ReadWrite<u32, CM_DIV::Register>),
        (0xa8 => @END),
    }
}

/// The PWM clock aimed for: fine enough for 100 kHz with 90+ steps, coarse enough for a
/// 1 Hz period to fit RNG easily.
pub const TARGET_CLOCK_HZ: u32 = 10_000_000;

/// Fewest clock ticks per period accepted (below that the duty has too few steps).
pub const MIN_RANGE: u32 = 10;

/// Duty cycles are given in parts per million.
pub const DUTY_SCALE: u32 = 1_000_000;

/// How long a stopping clock generator may stay busy.
const CLOCK_STOP_US: u64 = 10_000;

/// The two PWM0 channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// Channel 1 (PWM0_0: GPIO 12 ALT0, GPIO 18 ALT5).
    One,
    /// Channel 2 (PWM0_1: GPIO 13 ALT0, GPIO 19 ALT5).
    Two,
}

/// PWM errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The clock generator stayed busy after being stopped (not retryable).
    ClockBusy,
    /// The frequency is not reachable with at least [`MIN_RANGE`] steps per period.
    FrequencyOutOfRange {
        /// Requested frequency.
        hz: u32,
        /// Highest usable frequency with this clock.
        max_hz: u32,
    },
    /// A duty cycle above [`DUTY_SCALE`] parts per million.
    DutyOutOfRange(u32),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ClockBusy => f.write_str("the PWM clock generator did not stop (clock manager busy)"),
            Self::FrequencyOutOfRange { hz, max_hz } => write!(f, "{hz} Hz is out of range (1 to {max_hz} Hz)"),
            Self::DutyOutOfRange(ppm) => write!(f, "duty cycle {ppm} ppm is above 100%"),
        }
    }
}

impl embedded_hal::pwm::Error for Error {
    fn kind(&self) -> embedded_hal::pwm::ErrorKind {
        embedded_hal::pwm::ErrorKind::Other
    }
}

/// What a channel was set to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The PWM clock, in Hz.
    pub clock_hz: u32,
    /// Clock ticks per period (RNG).
    pub range: u32,
    /// Ticks high per period (DAT).
    pub data: u32,
}

impl Setting {
    /// The frequency actually produced, in millihertz.
    pub fn frequency_millihertz(&self) -> u64 {
        self.clock_hz as u64 * 1000 / self.range.max(1) as u64
    }

    /// The duty cycle actually produced, in parts per million.
    pub fn duty_ppm(&self) -> u32 {
        (self.data as u64 * DUTY_SCALE as u64 / self.range.max(1) as u64) as u32
    }
}

/// PWM0 with its clock.
pub struct Pwm {
    registers: Mmio<Registers>,
    clocks: Mmio<ClockRegisters>,
    clock: Micros,
    oscillator_hz: u32,
    clock_hz: u32,
}

impl Pwm {
    /// Creates the driver. `oscillator_hz` is the crystal feeding the clock manager.
    ///
    /// # Safety
    /// `base` and `clock_manager` must be the mapped PWM0 and clock-manager blocks; this
    /// driver owns PWM0 and the PWM clock registers (no one else may touch them).
    pub const unsafe fn new(base: usize, clock_manager: usize, oscillator_hz: u32, clock: Micros) -> Self {
        // SAFETY: forwarded from the caller's contract.
        let (registers, clocks) = unsafe { (Mmio::new(base), Mmio::new(clock_manager)) };
        Self { registers, clocks, clock, oscillator_hz, clock_hz: 0 }
    }

    /// The integer divisor from the oscillator to about [`TARGET_CLOCK_HZ`] (at least 2).
    pub fn divisor(oscillator_hz: u32) -> u32 {
        oscillator_hz.div_ceil(TARGET_CLOCK_HZ).clamp(2, 0xfff)
    }

    /// Starts the PWM clock if it is not running yet; returns its frequency.
    fn start_clock(&mut self) -> Result<u32, Error> {
        if self.clock_hz != 0 {
            return Ok(self.clock_hz);
        }
        let clocks = &*self.clocks;
        // Stop the generator (keeping its source) and wait until it has.
        let source = clocks.pwm_ctl.read(CM_CTL::SRC);
        clocks.pwm_ctl.write(CM_CTL::PASSWD::Magic + CM_CTL::SRC.val(source));
        let deadline = Deadline::after(self.clock, CLOCK_STOP_US);
        loop {
            let expired = deadline.expired();
            if !clocks.pwm_ctl.is_set(CM_CTL::BUSY) {
                break;
            }
            if expired {
                return Err(Error::ClockBusy);
            }
        }
        let divisor = Self::divisor(self.oscillator_hz);
        clocks.pwm_div.write(CM_DIV::PASSWD::Magic + CM_DIV::DIVI.val(divisor));
        clocks.pwm_ctl.write(CM_CTL::PASSWD::Magic + CM_CTL::SRC::Oscillator);
        clocks.pwm_ctl.write(CM_CTL::PASSWD::Magic + CM_CTL::SRC::Oscillator + CM_CTL::ENAB::SET);
        self.clock_hz = self.oscillator_hz / divisor;
        Ok(self.clock_hz)
    }

    /// Drives `channel` at `hz` with `duty_ppm` parts per million high, in mark-space mode.
    pub fn set(&mut self, channel: Channel, hz: u32, duty_ppm: u32) -> Result<Setting, Error> {
        if duty_ppm > DUTY_SCALE {
            return Err(Error::DutyOutOfRange(duty_ppm));
        }
        let clock_hz = self.start_clock()?;
        let max_hz = clock_hz / MIN_RANGE;
        if hz == 0 || hz > max_hz {
            return Err(Error::FrequencyOutOfRange { hz, max_hz });
        }
        let range = ((clock_hz as u64 + hz as u64 / 2) / hz as u64) as u32;
        let data = ((range as u64 * duty_ppm as u64 + DUTY_SCALE as u64 / 2) / DUTY_SCALE as u64) as u32;
        self.disable(channel);
        let regs = &*self.registers;
        match channel {
            Channel::One => {
                regs.rng1.set(range);
                regs.dat1.set(data);
                regs.ctl.modify(
                    CTL::MSEN1::SET + CTL::MODE1::CLEAR + CTL::USEF1::CLEAR + CTL::POLA1::CLEAR + CTL::PWEN1::SET,
                );
            }
            Channel::Two => {
                regs.rng2.set(range);
                regs.dat2.set(data);
                regs.ctl.modify(
                    CTL::MSEN2::SET + CTL::MODE2::CLEAR + CTL::USEF2::CLEAR + CTL::POLA2::CLEAR + CTL::PWEN2::SET,
                );
            }
        }
        Ok(Setting { clock_hz, range, data })
    }

    /// Stops `channel` (its output stays at the idle level, low).
    pub fn disable(&mut self, channel: Channel) {
        match channel {
            Channel::One => self.registers.ctl.modify(CTL::PWEN1::CLEAR),
            Channel::Two => self.registers.ctl.modify(CTL::PWEN2::CLEAR),
        }
    }

    /// Whether `channel` is enabled.
    pub fn is_enabled(&self, channel: Channel) -> bool {
        match channel {
            Channel::One => self.registers.ctl.is_set(CTL::PWEN1),
            Channel::Two => self.registers.ctl.is_set(CTL::PWEN2),
        }
    }

    /// `channel` as an embedded-hal `SetDutyCycle` at its current frequency (set one first
    /// with [`Pwm::set`]).
    pub fn channel(&mut self, channel: Channel) -> PwmChannel<'_> {
        PwmChannel { pwm: self, channel }
    }

    fn range(&self, channel: Channel) -> u32 {
        match channel {
            Channel::One => self.registers.rng1.get(),
            Channel::Two => self.registers.rng2.get(),
        }
    }
}

/// One channel as an embedded-hal 1.0 `SetDutyCycle`. Its full scale is the channel's
/// range (RNG) when that fits 16 bits, else 65535 scaled onto the range.
pub struct PwmChannel<'a> {
    pwm: &'a mut Pwm,
    channel: Channel,
}

impl embedded_hal::pwm::ErrorType for PwmChannel<'_> {
    type Error = Error;
}

impl embedded_hal::pwm::SetDutyCycle for PwmChannel<'_> {
    fn max_duty_cycle(&self) -> u16 {
        self.pwm.range(self.channel).clamp(1, u16::MAX as u32) as u16
    }

    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Error> {
        let range = self.pwm.range(self.channel);
        let max = self.max_duty_cycle() as u64;
        let data = (duty as u64).min(max) * range as u64 / max;
        let regs = &*self.pwm.registers;
        match self.channel {
            Channel::One => regs.dat1.set(data as u32),
            Channel::Two => regs.dat2.set(data as u32),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::sync::atomic::{AtomicU64, Ordering};
    use embedded_hal::pwm::SetDutyCycle;

    const PASSWORD: u32 = 0x5a << 24;
    const BUSY: u32 = 1 << 7;
    const ENAB: u32 = 1 << 4;
    const CM_PWMCTL: usize = 0xa0 / 4;
    const CM_PWMDIV: usize = 0xa4 / 4;

    std::thread_local! {
        /// The clock-manager block of a test whose generator never stops (0: none).
        static STUCK: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    }
    static NOW: AtomicU64 = AtomicU64::new(0);

    /// Advances time; a stuck generator keeps reporting BUSY whatever was written.
    fn clock() -> u64 {
        let stuck = STUCK.with(|s| s.get());
        if stuck != 0 {
            // SAFETY: `stuck` is the address of the live test's clock-manager array.
            unsafe { core::ptr::write_volatile((stuck as *mut u32).add(CM_PWMCTL), PASSWORD | BUSY) };
        }
        NOW.fetch_add(7, Ordering::Relaxed)
    }

    struct Blocks {
        pwm: [u32; 10],
        cm: [u32; 42],
    }

    fn driver(blocks: &mut Blocks, oscillator_hz: u32) -> Pwm {
        // SAFETY: both arrays outlive the driver and cover the register blocks.
        unsafe { Pwm::new(blocks.pwm.as_mut_ptr() as usize, blocks.cm.as_mut_ptr() as usize, oscillator_hz, clock) }
    }

    #[test]
    fn the_clock_is_divided_from_the_oscillator_with_the_password() {
        let mut blocks = Blocks { pwm: [0; 10], cm: [0; 42] };
        let mut pwm = driver(&mut blocks, 19_200_000);
        let setting = pwm.set(Channel::One, 1000, 250_000).unwrap();
        assert_eq!(setting, Setting { clock_hz: 9_600_000, range: 9600, data: 2400 });
        assert_eq!(blocks.cm[CM_PWMDIV], PASSWORD | (2 << 12));
        assert_eq!(blocks.cm[CM_PWMCTL], PASSWORD | ENAB | 1);
        assert_eq!(Pwm::divisor(54_000_000), 6); // BCM2711: 9 MHz
    }

    #[test]
    fn channels_are_set_independently_in_mark_space_mode() {
        let mut blocks = Blocks { pwm: [0; 10], cm: [0; 42] };
        let mut pwm = driver(&mut blocks, 19_200_000);
        pwm.set(Channel::One, 1000, 250_000).unwrap();
        let servo = pwm.set(Channel::Two, 50, 75_000).unwrap();
        assert_eq!((servo.range, servo.data), (192_000, 14_400));
        assert_eq!(servo.frequency_millihertz(), 50_000);
        assert_eq!(servo.duty_ppm(), 75_000);
        assert!(pwm.is_enabled(Channel::One) && pwm.is_enabled(Channel::Two));
        pwm.disable(Channel::One);
        assert!(!pwm.is_enabled(Channel::One) && pwm.is_enabled(Channel::Two));
        // CTL: MSEN2 | PWEN2 | MSEN1 (channel 1 disabled); RNG1/DAT1, RNG2/DAT2.
        assert_eq!(blocks.pwm[0], (1 << 15) | (1 << 8) | (1 << 7));
        assert_eq!((blocks.pwm[4], blocks.pwm[5]), (9600, 2400));
        assert_eq!((blocks.pwm[8], blocks.pwm[9]), (192_000, 14_400));
    }

    #[test]
    fn out_of_range_requests_are_errors() {
        let mut blocks = Blocks { pwm: [0; 10], cm: [0; 42] };
        let mut pwm = driver(&mut blocks, 19_200_000);
        assert_eq!(
            pwm.set(Channel::One, 2_000_000, 0),
            Err(Error::FrequencyOutOfRange { hz: 2_000_000, max_hz: 960_000 })
        );
        assert_eq!(pwm.set(Channel::One, 0, 0), Err(Error::FrequencyOutOfRange { hz: 0, max_hz: 960_000 }));
        assert_eq!(pwm.set(Channel::One, 100, 1_000_001), Err(Error::DutyOutOfRange(1_000_001)));
        assert_eq!(pwm.set(Channel::One, 100, 1_000_000).unwrap().duty_ppm(), 1_000_000);
    }

    #[test]
    fn set_duty_cycle_scales_onto_the_range() {
        let mut blocks = Blocks { pwm: [0; 10], cm: [0; 42] };
        let mut pwm = driver(&mut blocks, 19_200_000);
        pwm.set(Channel::One, 1000, 0).unwrap();
        pwm.set(Channel::Two, 50, 0).unwrap();
        let mut one = pwm.channel(Channel::One);
        assert_eq!(one.max_duty_cycle(), 9600);
        one.set_duty_cycle_percent(50).unwrap();
        let mut two = pwm.channel(Channel::Two);
        assert_eq!(two.max_duty_cycle(), u16::MAX);
        two.set_duty_cycle_fully_on().unwrap();
        assert_eq!(blocks.pwm[5], 4800);
        assert_eq!(blocks.pwm[9], 192_000);
    }

    #[test]
    fn a_clock_generator_that_stays_busy_is_an_error() {
        let mut blocks = Blocks { pwm: [0; 10], cm: [0; 42] };
        STUCK.with(|s| s.set(blocks.cm.as_mut_ptr() as usize));
        let mut pwm = driver(&mut blocks, 19_200_000);
        let result = pwm.set(Channel::One, 1000, 0);
        STUCK.with(|s| s.set(0));
        assert_eq!(result, Err(Error::ClockBusy));
        assert_eq!(blocks.pwm[0], 0, "the channel was not enabled");
    }
}
