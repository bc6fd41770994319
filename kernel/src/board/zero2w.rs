//! Raspberry Pi Zero 2 W (BCM2710A1 = BCM2837 family, 512 MiB).

use super::{bcm2837 as soc, BoardInfo};

/// Board description: the SoC's defaults with this board's differences.
pub const BOARD: BoardInfo = BoardInfo {
    name: "zero2w",
    description: "Raspberry Pi Zero 2 W",
    // 512 MiB minus the GPU's share; the mailbox reports the real split.
    ram: (0, 0x1C00_0000),
    // The data port is the DWC2 itself (no hub): it runs as the gadget, not as a host.
    usb: None,
    usb_device: Some(soc::USB),
    ..soc::SOC
};
