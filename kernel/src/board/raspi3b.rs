//! QEMU `raspi3b`: the emulated Raspberry Pi 3 Model B (the default board).

use super::{bcm2837 as soc, BoardInfo, PowerControl, SecondaryStart};

/// Board description.
pub const BOARD: BoardInfo = BoardInfo {
    name: "raspi3b",
    description: "Raspberry Pi 3 Model B (QEMU raspi3b)",
    qemu: true,
    cores: 4,
    // QEMU gives 1 GiB; the mailbox reports the ARM part (0x3C00_0000) and the DTB refines it.
    ram: (0, 0x3C00_0000),
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
    raise_arm_clock: false,
    i2c: soc::I2C,
    spi: Some(soc::SPI0),
    // QEMU emulates no PWM block (the window is a hole): nothing to drive.
    pwm: None,
    core_clock_hz: soc::CORE_CLOCK_HZ,
    header: Some(&super::header::PI_40_PIN),
    reserved_pins: soc::RESERVED_PINS,
    mux_console_pins: false,
    sd: Some(soc::SD),
    virtio_mmio: None,
    usb: Some(soc::USB),
};
