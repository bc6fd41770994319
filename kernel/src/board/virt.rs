//! QEMU `virt`: the generic ARM virtual machine (GICv2, PL011, PSCI, virtio-mmio).
//!
//! ```text
//! 0x0800_0000 GIC distributor, 0x0801_0000 GIC CPU interface
//! 0x0900_0000 PL011 (SPI 1 = id 33)
//! 0x0a00_0000 virtio-mmio slots (32 x 0x200)
//! 0x4000_0000 RAM (128 MiB by default; the DTB says how much), kernel at 0x4008_0000
//! ```

use super::{BoardInfo, InterruptController, IrqLine, PowerControl, SecondaryStart};

/// Board description.
pub const BOARD: BoardInfo = BoardInfo {
    name: "virt",
    description: "QEMU virt (generic ARM64 machine)",
    qemu: true,
    cores: 4,
    ram: (0x4000_0000, 0x4800_0000),
    devices: &[(0, 0x4000_0000)],
    uart: (0x0900_0000, 24_000_000),
    uart_irq: IrqLine::Gic(33),
    mini_uart: None,
    gpio: None,
    mailbox: None,
    rng: None,
    system_timer: None,
    interrupts: InterruptController::Gic { distributor: 0x0800_0000, cpu: 0x0801_0000, timer: 30 },
    secondary_start: SecondaryStart::Psci,
    power: PowerControl::Psci,
    raise_arm_clock: false,
    mux_console_pins: false,
    sd: None,
    // QEMU virt: 32 slots from 0x0a00_0000, interrupts SPI 16+n (GIC id 48+n).
    virtio_mmio: Some(super::VirtioMmio { base: 0x0a00_0000, slots: 32, stride: 0x200, first_irq: 48 }),
    usb: None,
    usb_device: None,
    genet: None,
    i2c: [None, None],
    spi: None,
    pwm: None,
    core_clock_hz: 0,
    header: None,
    reserved_pins: &[],
};
