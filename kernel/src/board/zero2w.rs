//! Raspberry Pi Zero 2 W (BCM2710A1 = BCM2837 family, 512 MiB).

use super::{bcm2837 as soc, BoardInfo, PowerControl, SecondaryStart};

/// Board description.
pub const BOARD: BoardInfo = BoardInfo {
    name: "zero2w",
    description: "Raspberry Pi Zero 2 W",
    qemu: false,
    cores: 4,
    // 512 MiB minus the GPU's share; the mailbox reports the real split.
    ram: (0, 0x1C00_0000),
    devices: soc::DEVICES,
    uart: (soc::UART0, 48_000_000),
    uart_irq: soc::UART0_IRQ,
    mini_uart: Some(soc::AUX),
    gpio: Some(soc::GPIO),
    mailbox: Some(soc::MAILBOX),
    rng: Some(soc::RNG),
    system_timer: Some(soc::SYSTEM_TIMER),
    interrupts: soc::INTERRUPTS,
    secondary_start: SecondaryStart::SpinTable,
    power: PowerControl::Watchdog(soc::PM),
    raise_arm_clock: true,
    i2c: soc::I2C,
    spi: Some(soc::SPI0),
    pwm: Some(soc::PWM0),
    core_clock_hz: soc::CORE_CLOCK_HZ,
    header: Some(&super::header::PI_40_PIN),
    reserved_pins: soc::RESERVED_PINS,
    mux_console_pins: true,
    sd: Some(soc::SD),
    virtio_mmio: None,
    usb: None,
};
