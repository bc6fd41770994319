//! Raspberry Pi 4 Model B (BCM2711, 1-8 GiB; the DTB gives the real RAM size).

use super::{bcm2711 as soc, BoardInfo};

/// Board description: the SoC's defaults with this board's differences.
pub const BOARD: BoardInfo = BoardInfo { name: "pi4", description: "Raspberry Pi 4 Model B", ..soc::SOC };
