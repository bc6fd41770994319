//! Raspberry Pi 3 Model B / B+ (BCM2837, 1 GiB).

use super::{bcm2837 as soc, BoardInfo};

/// Board description: the SoC's defaults with this board's differences.
pub const BOARD: BoardInfo = BoardInfo { name: "pi3", description: "Raspberry Pi 3 Model B/B+", ..soc::SOC };
