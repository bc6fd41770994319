//! Block devices: the one seam between storage drivers and the kernel's storage layer
//! (partition table, FAT through `embedded-sdmmc`, model loading in `kernel/src/storage.rs`).
//! Blocks are 512 bytes; a driver moves whole blocks and knows nothing about file systems.
//!
//! Implementations: the SD host controller ([`crate::sdhci::Sdhci`]: Pi boards, QEMU
//! raspi3b/raspi4b) and virtio-blk on QEMU virt (in the kernel, over `virtio-drivers`).

use crate::sdhci;

/// Bytes per block.
pub const BLOCK_SIZE: usize = 512;

/// Why a block transfer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The range is outside the device, or the buffer is not a whole number of blocks.
    OutOfRange,
    /// The device does not accept writes.
    ReadOnly,
    /// An SD card or controller error.
    Sd(sdhci::Error),
    /// Another device reported an error or stopped answering.
    Device(&'static str),
}

impl core::fmt::Display for BlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BlockError::OutOfRange => f.write_str("block outside the device"),
            BlockError::ReadOnly => f.write_str("the device is read-only"),
            BlockError::Sd(error) => write!(f, "{error}"),
            BlockError::Device(why) => write!(f, "block device error: {why}"),
        }
    }
}

impl core::error::Error for BlockError {}

impl From<sdhci::Error> for BlockError {
    fn from(error: sdhci::Error) -> Self {
        match error {
            sdhci::Error::OutOfRange => BlockError::OutOfRange,
            other => BlockError::Sd(other),
        }
    }
}

/// A device of 512-byte blocks. Transfers are synchronous; every wait inside a driver ends
/// at a deadline, so a dead device is an error, not a hang.
pub trait BlockDevice {
    /// A short name for `storage_info` (e.g. "sd", "virtio-blk").
    fn kind(&self) -> &'static str;
    /// Number of blocks.
    fn blocks(&self) -> u64;
    /// Reads whole blocks from block `first` into `buffer` (a multiple of [`BLOCK_SIZE`]).
    fn read_blocks(&mut self, first: u64, buffer: &mut [u8]) -> Result<(), BlockError>;
    /// Writes whole blocks from block `first` (`buffer` a multiple of [`BLOCK_SIZE`]).
    fn write_blocks(&mut self, first: u64, buffer: &[u8]) -> Result<(), BlockError>;
}

impl BlockDevice for sdhci::Sdhci {
    fn kind(&self) -> &'static str {
        "sd"
    }

    fn blocks(&self) -> u64 {
        self.card().map_or(0, |card| card.blocks)
    }

    fn read_blocks(&mut self, first: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        sdhci::Sdhci::read_blocks(self, first, buffer).map_err(BlockError::from)
    }

    fn write_blocks(&mut self, first: u64, buffer: &[u8]) -> Result<(), BlockError> {
        sdhci::Sdhci::write_blocks(self, first, buffer).map_err(BlockError::from)
    }
}
