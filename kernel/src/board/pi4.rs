//! Raspberry Pi 4 Model B (BCM2711, 1-8 GiB; the DTB gives the real RAM size).

use super::{bcm2711 as soc, BoardInfo, PowerControl, SecondaryStart};

/// Board description.
pub const BOARD: BoardInfo = BoardInfo {
    name: "pi4",
    description: "Raspberry Pi 4 Model B",
    qemu: false,
    cores: 4,
    ram: (0, 0x3C00_0000),
    devices: soc::DEVICES,
    uart: (soc::UART0, 48_000_000),
    uart_irq: soc::UART0_IRQ,
    mini_uart: Some(soc::AUX),
    gpio: Some(soc::GPIO),
    mailbox: Some(soc::MAILBOX),
    // The Pi 4's RNG200 is a different block, not driven yet.
    rng: None,
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
    sd: Some(soc::SD_EMMC2),
    virtio_mmio: None,
    usb: None,
};
