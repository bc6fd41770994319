//! QEMU `raspi4b`: the emulated Raspberry Pi 4 Model B (2 GiB, no RNG200, SD on EMMC1).

use super::{bcm2711 as soc, BoardInfo};

/// Board description: the SoC's defaults with this board's differences.
pub const BOARD: BoardInfo = BoardInfo {
    name: "raspi4b",
    description: "Raspberry Pi 4 Model B (QEMU raspi4b)",
    qemu: true,
    raise_arm_clock: false,
    mux_console_pins: false,
    // QEMU wires the card to EMMC1; a real Pi 4 boots from EMMC2.
    sd: Some(soc::SD_EMMC1),
    // QEMU emulates no PWM block (the window is a hole): nothing to drive.
    pwm: None,
    // No RNG200 either (a write there is an external abort).
    rng: None,
    // QEMU's DWC2 is host-only: no gadget.
    usb_device: None,
    // No GENET in QEMU's raspi4b.
    genet: None,
    ..soc::SOC
};
