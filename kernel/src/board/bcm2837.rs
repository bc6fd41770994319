//! BCM2837 (Pi 3, Pi Zero 2 W, QEMU raspi3b): peripheral addresses shared by those boards.
//!
//! ```text
//! 0x0000_0000 ┬ RAM (ARM part; the GPU takes the top, split set by the firmware)
//!             │   0x0000_00d8..0x0000_00f8  spin table for cores 1-3
//!             │   0x0008_0000               kernel8.img
//! 0x3F00_0000 ┼ peripherals (PL011 +0x20_1000, GPIO +0x20_0000, mailbox +0xB880, ...)
//! 0x4000_0000 ┼ ARM local peripherals (per-core timers, mailboxes, IRQ routing)
//! 0x4004_0000 ┴
//! ```

// Compiled for every board (so an error in a SoC table shows in every build); a build uses
// only its own SoC's items.
#![allow(dead_code)]

use super::{BoardInfo, InterruptController, IrqLine, PowerControl, PwmBlock, SdHost, SecondaryStart};
use drivers::gpio::PullLayout;

/// Peripheral window base.
pub const PERIPHERALS: usize = 0x3F00_0000;
/// Device windows: peripherals and the local controller.
pub const DEVICES: &[(usize, usize)] = &[(PERIPHERALS, 0x4000_0000), (0x4000_0000, 0x4020_0000)];
/// PL011 base.
pub const UART0: usize = PERIPHERALS + 0x20_1000;
/// PL011 interrupt (GPU IRQ 57).
pub const UART0_IRQ: IrqLine = IrqLine::Gpu(57);
/// AUX (mini UART) base.
pub const AUX: usize = PERIPHERALS + 0x21_5000;
/// GPIO block.
pub const GPIO: (usize, PullLayout) = (PERIPHERALS + 0x20_0000, PullLayout::Bcm2835);
/// Mailbox base and the bus alias of ARM RAM (L2-coherent alias used by the firmware).
pub const MAILBOX: (usize, u32) = (PERIPHERALS + 0xB880, 0xC000_0000);
/// RNG base.
pub const RNG: usize = PERIPHERALS + 0x10_4000;
/// PM / watchdog base.
pub const PM: usize = PERIPHERALS + 0x10_0000;
/// System timer base.
pub const SYSTEM_TIMER: usize = PERIPHERALS + 0x3000;
/// Interrupt controllers.
pub const INTERRUPTS: InterruptController =
    InterruptController::Bcm2836 { local: 0x4000_0000, gpu: PERIPHERALS + 0xB200 };
/// SD card host: the Arasan SDHCI ("EMMC"), with the card's pins (GPIO 48-53) on ALT3.
pub const SD: SdHost = SdHost {
    base: PERIPHERALS + 0x30_0000,
    clock: drivers::mailbox::Clock::Emmc,
    default_clock_hz: 200_000_000,
    pins: Some((48, 6)),
};
/// DWC2 USB 2.0 OTG controller (host mode; the Pi 3B's LAN9514 hub and Ethernet sit on it).
pub const USB: usize = PERIPHERALS + 0x98_0000;
/// BSC0 (I2C bus 0) and BSC1 (I2C bus 1).
pub const I2C: [Option<usize>; 2] = [Some(PERIPHERALS + 0x20_5000), Some(PERIPHERALS + 0x80_4000)];
/// SPI0.
pub const SPI0: usize = PERIPHERALS + 0x20_4000;
/// PWM0, fed by the clock manager from the 19.2 MHz crystal.
pub const PWM0: PwmBlock =
    PwmBlock { base: PERIPHERALS + 0x20_C000, clock_manager: PERIPHERALS + 0x10_1000, oscillator_hz: 19_200_000 };
/// VPU core clock with the firmware's defaults (the mailbox reports the real one).
pub const CORE_CLOCK_HZ: u32 = 250_000_000;
/// GPIOs the board uses itself.
pub const RESERVED_PINS: &[(u8, &str)] = &[
    (14, "console UART TXD"),
    (15, "console UART RXD"),
    (34, "wireless SDIO"),
    (35, "wireless SDIO"),
    (36, "wireless SDIO"),
    (37, "wireless SDIO"),
    (38, "wireless SDIO"),
    (39, "wireless SDIO"),
    (48, "SD card"),
    (49, "SD card"),
    (50, "SD card"),
    (51, "SD card"),
    (52, "SD card"),
    (53, "SD card"),
];

/// What every BCM2837 board has, as its board files start from: a board overrides only its
/// name, RAM, and what it does not have or wire differently.
pub const SOC: BoardInfo = BoardInfo {
    name: "bcm2837",
    description: "BCM2837",
    qemu: false,
    cores: 4,
    ram: (0, 0x3C00_0000),
    devices: DEVICES,
    // `init_uart_clock=48000000` in config.txt fixes the PL011 clock (QEMU's is the same).
    uart: (UART0, 48_000_000),
    uart_irq: UART0_IRQ,
    mini_uart: Some(AUX),
    gpio: Some(GPIO),
    mailbox: Some(MAILBOX),
    rng: Some(super::RngBlock::Bcm2835(RNG)),
    system_timer: Some(SYSTEM_TIMER),
    interrupts: INTERRUPTS,
    secondary_start: SecondaryStart::SpinTable,
    power: PowerControl::Watchdog(PM),
    raise_arm_clock: true,
    mux_console_pins: true,
    sd: Some(SD),
    virtio_mmio: None,
    usb: Some(USB),
    // The Pi 3's DWC2 sits behind its hub (host only); the Zero 2 W overrides this.
    usb_device: None,
    genet: None,
    i2c: I2C,
    spi: Some(SPI0),
    pwm: Some(PWM0),
    core_clock_hz: CORE_CLOCK_HZ,
    header: Some(&super::header::PI_40_PIN),
    reserved_pins: RESERVED_PINS,
};
