//! virtio-blk (QEMU virt, through `virtio-drivers`) as a [`BlockDevice`]: the card of the
//! virt board, so the storage tools, settings and models from a card image work there too.
//!
//! The crate's transfers poll the used ring until QEMU completes them (an emulated disk
//! always answers); arguments are checked here first, because the crate asserts on them.

use crate::memory::dma::VirtioHal;
use drivers::block::{BlockDevice, BlockError, BLOCK_SIZE};
use virtio_drivers::{device::blk::VirtIOBlk, transport::mmio::MmioTransport};

/// Largest transfer handed to the device at once.
const MAX_TRANSFER: usize = 128 * 1024;

/// A virtio block device.
pub struct VirtioBlock {
    device: VirtIOBlk<VirtioHal, MmioTransport<'static>>,
}

impl VirtioBlock {
    /// The first virtio-blk device of the board, brought up (boards with a virtio-mmio
    /// window only).
    pub fn find() -> Option<Result<VirtioBlock, virtio_drivers::Error>> {
        let (transport, _irq) = crate::platform::virtio_transport(virtio_drivers::transport::DeviceType::Block)?;
        Some(VirtioBlock::new(transport))
    }

    /// Brings up the device behind `transport`.
    pub fn new(transport: MmioTransport<'static>) -> Result<VirtioBlock, virtio_drivers::Error> {
        let device = VirtIOBlk::new(transport)?;
        Ok(VirtioBlock { device })
    }

    fn check(&self, first: u64, len: usize) -> Result<usize, BlockError> {
        let blocks = (len / BLOCK_SIZE) as u64;
        let end = first.checked_add(blocks).ok_or(BlockError::OutOfRange)?;
        if !len.is_multiple_of(BLOCK_SIZE) || end > self.device.capacity() {
            return Err(BlockError::OutOfRange);
        }
        usize::try_from(first).map_err(|_| BlockError::OutOfRange)
    }
}

impl BlockDevice for VirtioBlock {
    fn kind(&self) -> &'static str {
        "virtio-blk"
    }

    fn blocks(&self) -> u64 {
        self.device.capacity()
    }

    fn read_blocks(&mut self, first: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        let mut block = self.check(first, buffer.len())?;
        for chunk in buffer.chunks_mut(MAX_TRANSFER) {
            self.device.read_blocks(block, chunk).map_err(|_| BlockError::Device("virtio-blk read failed"))?;
            block += chunk.len() / BLOCK_SIZE;
        }
        Ok(())
    }

    fn write_blocks(&mut self, first: u64, buffer: &[u8]) -> Result<(), BlockError> {
        if self.device.readonly() {
            return Err(BlockError::ReadOnly);
        }
        let mut block = self.check(first, buffer.len())?;
        for chunk in buffer.chunks(MAX_TRANSFER) {
            self.device.write_blocks(block, chunk).map_err(|_| BlockError::Device("virtio-blk write failed"))?;
            block += chunk.len() / BLOCK_SIZE;
        }
        Ok(())
    }
}
