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

/// The crash area: one page of low RAM below the kernel image, where a panic or fault
/// leaves its report for the next boot (a watchdog or PSCI reset keeps RAM outside the
/// image; see `crate::crash`). Offset from the start of RAM.
pub const CRASH_AREA_OFFSET: usize = 0x7_0000;
/// Its size.
pub const CRASH_AREA_BYTES: usize = 0x1000;

/// Copies `bytes` into the crash area at `offset` (clipped to the area), then writes the
/// lines back from the data cache so they reach RAM before a reset.
pub fn crash_area_write(offset: usize, bytes: &[u8]) {
    let Some(base) = crash_area_base() else { return };
    let len = bytes.len().min(CRASH_AREA_BYTES.saturating_sub(offset));
    if len == 0 {
        return;
    }
    // SAFETY: `base..base + CRASH_AREA_BYTES` is mapped read-write RAM below the kernel image
    // that neither the heap nor any other user touches (checked by `crash_area_base`); the
    // copy stays inside it. Only the first crashing core writes (crate::crash).
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), (base + offset) as *mut u8, len) };
    crate::arch::cache::clean(base + offset, len);
}

/// A copy of the crash area (zeros when the board has none).
pub fn crash_area_read() -> [u8; CRASH_AREA_BYTES] {
    let mut copy = [0u8; CRASH_AREA_BYTES];
    if let Some(base) = crash_area_base() {
        // SAFETY: as in `crash_area_write`: reserved, mapped RAM of exactly this size.
        unsafe { core::ptr::copy_nonoverlapping(base as *const u8, copy.as_mut_ptr(), CRASH_AREA_BYTES) };
    }
    copy
}

static CRASH_AREA: spin::Once<Option<usize>> = spin::Once::new();

/// Decides once whether the crash area is usable: it must lie in RAM below the image and
/// clear of every reserved range (a DTB the firmware put low). Call after the MMU is on.
pub fn init_crash_area(map: &MemoryMap) {
    CRASH_AREA.call_once(|| {
        let start = crate::board::CURRENT.ram.0 + CRASH_AREA_OFFSET;
        let end = start + CRASH_AREA_BYTES;
        let in_ram = map.regions().iter().any(|r| r.kind == MemoryKind::Ram && r.start <= start && end <= r.end);
        let clear = map.reserved().iter().all(|r| r.end <= start || end <= r.start);
        (in_ram && clear && end <= layout().image_start).then_some(start)
    });
}

fn crash_area_base() -> Option<usize> {
    CRASH_AREA.get().copied().flatten()
}
