//! Physical memory: the board's memory map and the kernel image layout (their logic is in
//! `logic::memory_map`, tested on the host), the heap, DMA buffers, and views of memory the
//! firmware or the loader handed over.

pub mod dma;
pub mod heap;

pub use logic::memory_map::{KernelLayout, MemoryKind, MemoryMap};

/// The kernel image layout, from the linker script's symbols.
pub fn layout() -> KernelLayout {
    crate::arch::linker_layout()
}

/// A byte view of physical memory handed over by the firmware or the loader (DTB, a placed
/// model), or `None` if the range wraps around.
///
/// # Safety
/// The range must be readable memory (identity mapped, or the MMU off) that nothing writes
/// for as long as the returned slice is used: RAM reserved from the heap before any
/// allocation, for `'static` use.
pub unsafe fn physical_bytes(address: usize, len: usize) -> Option<&'static [u8]> {
    address.checked_add(len)?;
    // SAFETY: forwarded from the caller's contract.
    Some(unsafe { core::slice::from_raw_parts(address as *const u8, len) })
}

/// A zeroed, 64-byte-aligned heap buffer of `len` bytes that is never freed (a model's
/// weights are borrowed from it for the rest of the kernel's life), or `None` when the heap
/// cannot hold it (no out-of-memory panic: the caller reports the size).
pub fn static_buffer(len: usize) -> Option<&'static mut [u8]> {
    let layout = core::alloc::Layout::from_size_align(len.max(1), 64).ok()?;
    // SAFETY: the layout has a non-zero size.
    let pointer = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if pointer.is_null() {
        return None;
    }
    // SAFETY: `pointer` is a fresh, zero-initialised allocation of `len` bytes that is never
    // deallocated, so the only reference to it may live forever.
    Some(unsafe { core::slice::from_raw_parts_mut(pointer, len) })
}
