//! Memory shared with devices, for the `virtio-drivers` crate (its `Hal`).
//!
//! The kernel maps RAM one-to-one, so a buffer's physical address is its address. DMA
//! pages come from the heap, page-aligned and zeroed. Buffers are cleaned from the data
//! cache before a device reads them and invalidated after it wrote them: QEMU's virt board
//! keeps DMA coherent anyway, but the protocol is right for caches that are not.

use crate::arch::cache;
use core::{alloc::Layout, ptr::NonNull};
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

/// The `Hal` of the kernel's virtio devices.
pub struct VirtioHal;

fn layout(pages: usize) -> Option<Layout> {
    Layout::from_size_align(pages.checked_mul(PAGE_SIZE)?.max(PAGE_SIZE), PAGE_SIZE).ok()
}

// SAFETY: `dma_alloc` returns zeroed, page-aligned, exclusively owned heap memory whose
// physical address equals its address (identity map); `share` returns the buffer's own
// address, valid for the device for the buffer's lifetime.
unsafe impl Hal for VirtioHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let Some(layout) = layout(pages) else { return (0, NonNull::dangling()) };
        // SAFETY: the layout has a non-zero size.
        let pointer = unsafe { alloc::alloc::alloc_zeroed(layout) };
        match NonNull::new(pointer) {
            Some(pointer) => {
                cache::clean(pointer.as_ptr() as usize, layout.size());
                (pointer.as_ptr() as PhysAddr, pointer)
            }
            // virtio-drivers has no error path here: out of memory is an allocator panic.
            None => alloc::alloc::handle_alloc_error(layout),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        let Some(layout) = layout(pages) else { return -1 };
        // SAFETY: the caller passes back what `dma_alloc` returned for `pages` pages.
        unsafe { alloc::alloc::dealloc(vaddr.as_ptr(), layout) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Identity map: device registers sit at their physical addresses.
        NonNull::new(paddr as usize as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        let address = buffer.as_ptr() as *mut u8 as usize;
        cache::clean(address, buffer.len());
        address as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        if direction != BufferDirection::DriverToDevice {
            cache::clean_invalidate(buffer.as_ptr() as *mut u8 as usize, buffer.len());
        }
    }
}
