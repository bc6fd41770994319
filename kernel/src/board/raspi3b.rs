//! QEMU `raspi3b`: the emulated Raspberry Pi 3 Model B (the default board).

use super::{bcm2837 as soc, BoardInfo};

/// Board description: the SoC's defaults with this board's differences.
pub const BOARD: BoardInfo = BoardInfo {
    name: "raspi3b",
    description: "Raspberry Pi 3 Model B (QEMU raspi3b)",
    qemu: true,
    // QEMU gives 1 GiB; the mailbox reports the ARM part (0x3C00_0000) and the DTB refines it.
    raise_arm_clock: false,
    mux_console_pins: false,
    // QEMU emulates no PWM block (the window is a hole): nothing to drive.
    pwm: None,
    ..soc::SOC
};
