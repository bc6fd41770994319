//! Raspberry Pi 3 Model B / B+ (BCM2837, 1 GiB).

use super::{bcm2837 as soc, BoardInfo, PowerControl, SecondaryStart};

/// Board description.
pub const BOARD: BoardInfo = BoardInfo {
    name: "pi3",
    description: "Raspberry Pi 3 Model B/B+",
    qemu: false,
    cores: 4,
    ram: (0, 0x3C00_0000),
    devices: soc::DEVICES,
    // `init_uart_clock=48000000` in config.txt fixes the PL011 clock.
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
    usb: Some(soc::USB),
};
