//! BCM2711 (Pi 4, QEMU raspi4b): peripheral addresses in the low-peripheral mode the
//! firmware sets up for a 64-bit kernel.
//!
//! ```text
//! 0x0000_0000 ┬ RAM (first GiB; more above on 2-8 GiB boards)
//!             │   0x0008_0000  kernel8.img
//! 0xFC00_0000 ┼ peripherals (PL011 0xFE20_1000, GPIO 0xFE20_0000, EMMC2 0xFE34_0000, ...)
//! 0xFF80_0000 ┼ ARM local + GIC-400 (distributor 0xFF84_1000, CPU interface 0xFF84_2000)
//! 0x1_0000_0000 ┴
//! ```

// Compiled for every board (so an error in a SoC table shows in every build); a build uses
// only its own SoC's items.
#![allow(dead_code)]

use super::{BoardInfo, InterruptController, IrqLine, PowerControl, PwmBlock, SdHost, SecondaryStart};
use drivers::gpio::PullLayout;

/// Peripheral window base.
pub const PERIPHERALS: usize = 0xFE00_0000;
/// The DWC2 OTG controller (wired to the USB-C port).
pub const USB_OTG: usize = 0xFE98_0000;

/// The GENET v5 Gigabit Ethernet controller.
pub const GENET: usize = 0xFD58_0000;

/// Device windows.
pub const DEVICES: &[(usize, usize)] = &[(0xFC00_0000, 0x1_0000_0000)];
/// PL011 base.
pub const UART0: usize = PERIPHERALS + 0x20_1000;
/// PL011 interrupt: GIC SPI 121 (id 153).
pub const UART0_IRQ: IrqLine = IrqLine::Gic(153);
/// AUX (mini UART) base.
pub const AUX: usize = PERIPHERALS + 0x21_5000;
/// GPIO block (BCM2711 pull registers).
pub const GPIO: (usize, PullLayout) = (PERIPHERALS + 0x20_0000, PullLayout::Bcm2711);
/// Mailbox base and bus alias.
pub const MAILBOX: (usize, u32) = (PERIPHERALS + 0xB880, 0xC000_0000);
/// PM / watchdog base.
pub const PM: usize = PERIPHERALS + 0x10_0000;
/// System timer base.
pub const SYSTEM_TIMER: usize = PERIPHERALS + 0x3000;
/// GIC-400 with the non-secure physical timer on PPI 30.
pub const INTERRUPTS: InterruptController =
    InterruptController::Gic { distributor: 0xFF84_1000, cpu: 0xFF84_2000, timer: 30 };
/// SD card host of the Pi 4's card slot: EMMC2, a standard SDHCI with its own pins.
pub const SD_EMMC2: SdHost = SdHost {
    base: PERIPHERALS + 0x34_0000,
    clock: drivers::mailbox::Clock::Emmc2,
    default_clock_hz: 100_000_000,
    pins: None,
};
/// EMMC1 (the Arasan SDHCI), where QEMU's raspi4b wires its SD card.
pub const SD_EMMC1: SdHost = SdHost {
    base: PERIPHERALS + 0x30_0000,
    clock: drivers::mailbox::Clock::Emmc,
    default_clock_hz: 200_000_000,
    pins: None,
};
/// BSC0 (I2C bus 0) and BSC1 (I2C bus 1); BSC3-6 (extra buses of the BCM2711) are not
/// driven yet.
pub const I2C: [Option<usize>; 2] = [Some(PERIPHERALS + 0x20_5000), Some(PERIPHERALS + 0x80_4000)];
/// SPI0.
pub const SPI0: usize = PERIPHERALS + 0x20_4000;
/// PWM0, fed by the clock manager from the 54 MHz crystal.
pub const PWM0: PwmBlock =
    PwmBlock { base: PERIPHERALS + 0x20_C000, clock_manager: PERIPHERALS + 0x10_1000, oscillator_hz: 54_000_000 };
/// VPU core clock with the firmware's defaults (the mailbox reports the real one).
pub const CORE_CLOCK_HZ: u32 = 500_000_000;
/// GPIOs the board uses itself (the SD card sits on EMMC2's own pins).
pub const RESERVED_PINS: &[(u8, &str)] = &[
    (14, "console UART TXD"),
    (15, "console UART RXD"),
    (34, "wireless SDIO"),
    (35, "wireless SDIO"),
    (36, "wireless SDIO"),
    (37, "wireless SDIO"),
    (38, "wireless SDIO"),
    (39, "wireless SDIO"),
];

/// What every BCM2711 board has, as its board files start from (see `bcm2837::SOC`).
pub const SOC: BoardInfo = BoardInfo {
    name: "bcm2711",
    description: "BCM2711",
    qemu: false,
    cores: 4,
    // The first GiB below the peripherals; the DTB gives the real size.
    ram: (0, 0x3C00_0000),
    devices: DEVICES,
    uart: (UART0, 48_000_000),
    uart_irq: UART0_IRQ,
    mini_uart: Some(AUX),
    gpio: Some(GPIO),
    mailbox: Some(MAILBOX),
    // The RNG200, a different block from the BCM2835 RNG at the same offset.
    rng: Some(super::RngBlock::Rng200(PERIPHERALS + 0x10_4000)),
    system_timer: Some(SYSTEM_TIMER),
    interrupts: INTERRUPTS,
    secondary_start: SecondaryStart::SpinTable,
    power: PowerControl::Watchdog(PM),
    raise_arm_clock: true,
    mux_console_pins: true,
    sd: Some(SD_EMMC2),
    virtio_mmio: None,
    // The USB-A ports are the VL805 on PCIe (not driven); the DWC2 is wired to the USB-C
    // power port, which becomes the gadget.
    usb: None,
    usb_device: Some(USB_OTG),
    genet: Some(GENET),
    i2c: I2C,
    spi: Some(SPI0),
    pwm: Some(PWM0),
    core_clock_hz: CORE_CLOCK_HZ,
    header: Some(&super::header::PI_40_PIN),
    reserved_pins: RESERVED_PINS,
};
