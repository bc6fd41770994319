//! Physical memory: the board's memory map, the kernel image layout, and the heap.
//!
//! The map starts from the board's defaults and is refined by the DTB when the firmware
//! passes one (RAM size, reserved ranges such as the DTB itself). The heap takes the
//! largest free RAM range above the kernel image.

pub mod dma;
pub mod heap;

use crate::arch::mmu::PagePermission;
use core::ops::Range;

/// What a physical range holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Ordinary RAM (normal, cacheable).
    Ram,
    /// Device registers (nGnRE).
    Device,
}

/// A physical address range with its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Kind of memory.
    pub kind: MemoryKind,
}

/// Capacity of the fixed tables below (no heap exists while they are filled).
const MAX_REGIONS: usize = 8;
const MAX_RESERVED: usize = 8;

/// The machine's memory map: RAM and device windows, and reserved RAM ranges.
#[derive(Clone, Debug)]
pub struct MemoryMap {
    regions: [Region; MAX_REGIONS],
    region_count: usize,
    reserved: [Range<usize>; MAX_RESERVED],
    reserved_count: usize,
}

impl MemoryMap {
    /// An empty map.
    pub const fn new() -> Self {
        const EMPTY: Region = Region { start: 0, end: 0, kind: MemoryKind::Ram };
        Self {
            regions: [EMPTY; MAX_REGIONS],
            region_count: 0,
            reserved: [const { 0..0 }; MAX_RESERVED],
            reserved_count: 0,
        }
    }

    /// Adds a region (ignored when the table is full; the boards need far fewer).
    pub fn add(&mut self, start: usize, end: usize, kind: MemoryKind) {
        if self.region_count < MAX_REGIONS && start < end {
            self.regions[self.region_count] = Region { start, end, kind };
            self.region_count += 1;
        }
    }

    /// Removes every RAM region (before the DTB's memory nodes replace them).
    pub fn clear_ram(&mut self) {
        let mut kept = 0;
        for index in 0..self.region_count {
            if self.regions[index].kind != MemoryKind::Ram {
                self.regions[kept] = self.regions[index];
                kept += 1;
            }
        }
        self.region_count = kept;
    }

    /// Marks a RAM range as in use by something other than the heap (DTB, firmware).
    pub fn reserve(&mut self, range: Range<usize>) {
        if self.reserved_count < MAX_RESERVED && range.start < range.end {
            self.reserved[self.reserved_count] = range;
            self.reserved_count += 1;
        }
    }

    /// All regions.
    pub fn regions(&self) -> &[Region] {
        &self.regions[..self.region_count]
    }

    /// Reserved RAM ranges.
    pub fn reserved(&self) -> &[Range<usize>] {
        &self.reserved[..self.reserved_count]
    }

    /// Total RAM in bytes.
    pub fn ram_bytes(&self) -> usize {
        self.regions().iter().filter(|r| r.kind == MemoryKind::Ram).map(|r| r.end - r.start).sum()
    }

    /// The largest RAM range at or above `floor` that overlaps no reserved range.
    pub fn largest_free(&self, floor: usize) -> Option<Range<usize>> {
        let mut best: Option<Range<usize>> = None;
        for region in self.regions().iter().filter(|r| r.kind == MemoryKind::Ram) {
            let mut start = region.start.max(floor);
            // Walk the gaps between reserved ranges inside this region.
            loop {
                if start >= region.end {
                    break;
                }
                let next_reserved =
                    self.reserved().iter().filter(|r| r.end > start && r.start < region.end).min_by_key(|r| r.start);
                let end = match next_reserved {
                    Some(r) if r.start <= start => {
                        start = r.end;
                        continue;
                    }
                    Some(r) => r.start,
                    None => region.end,
                };
                if best.as_ref().is_none_or(|b| end - start > b.end - b.start) {
                    best = Some(start..end);
                }
                match next_reserved {
                    Some(r) => start = r.end,
                    None => break,
                }
            }
        }
        best
    }
}

impl Default for MemoryMap {
    fn default() -> Self {
        Self::new()
    }
}

/// Addresses of the kernel image sections, from the linker script.
#[derive(Clone, Copy, Debug)]
pub struct KernelLayout {
    /// First byte of the image (load address).
    pub image_start: usize,
    /// End of `.text`.
    pub text_end: usize,
    /// End of `.rodata`.
    pub rodata_end: usize,
    /// Start of the per-core stack slots.
    pub stacks_start: usize,
    /// End of the image including stacks (2 MiB aligned).
    pub image_end: usize,
    /// Bytes per core slot: guard, stack, guard, exception stack.
    pub core_slot: usize,
    /// Kernel stack size per core.
    pub stack_size: usize,
}

const PAGE: usize = 4096;

impl KernelLayout {
    /// Reads the linker-script symbols.
    pub fn current() -> Self {
        crate::arch::linker_layout()
    }

    /// Permission of the 4 KiB page at `addr`, for addresses in the image's 2 MiB chunks.
    pub fn permission(&self, addr: usize) -> PagePermission {
        if addr < self.image_start {
            PagePermission::ReadWrite // low RAM below the load address (spin table, ATAGs)
        } else if addr < self.text_end {
            PagePermission::ReadExecute
        } else if addr < self.rodata_end {
            PagePermission::ReadOnly
        } else if addr >= self.stacks_start && addr < self.image_end {
            match self.guard_of(addr) {
                Some(_) => PagePermission::Unmapped,
                None => PagePermission::ReadWrite,
            }
        } else {
            PagePermission::ReadWrite
        }
    }

    /// If `addr` lies in a stack guard page, which core's and which stack's.
    pub fn guard_of(&self, addr: usize) -> Option<(usize, &'static str)> {
        if addr < self.stacks_start || self.core_slot == 0 {
            return None;
        }
        let core = (addr - self.stacks_start) / self.core_slot;
        if core >= crate::MAX_CORES {
            return None;
        }
        let offset = (addr - self.stacks_start) % self.core_slot;
        if offset < PAGE {
            Some((core, "kernel stack"))
        } else if (PAGE + self.stack_size..2 * PAGE + self.stack_size).contains(&offset) {
            Some((core, "exception stack"))
        } else {
            None
        }
    }

    /// The kernel stack range of `core`.
    pub fn stack(&self, core: usize) -> Range<usize> {
        let bottom = self.stacks_start + core * self.core_slot + PAGE;
        bottom..bottom + self.stack_size
    }

    /// The exception stack range of `core`.
    pub fn exception_stack(&self, core: usize) -> Range<usize> {
        let slot = self.stacks_start + core * self.core_slot;
        slot + 2 * PAGE + self.stack_size..slot + self.core_slot
    }
}

/// A byte view of physical memory handed over by the firmware (DTB, ATAGs), or `None` if
/// the range wraps around.
pub fn physical_bytes(address: usize, len: usize) -> Option<&'static [u8]> {
    address.checked_add(len)?;
    // SAFETY: the range lies in RAM the firmware handed over and nothing in the kernel writes
    // (the DTB range is reserved from the heap before any allocation); the identity map (or
    // the MMU being off) makes physical addresses directly readable.
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
