//! The machine's memory map and the kernel image layout.
//!
//! The map starts from the board's defaults and is refined by the DTB when the firmware
//! passes one (RAM size, reserved ranges such as the DTB itself); the heap takes the largest
//! free RAM range above the kernel image ([`MemoryMap::largest_free`]). The tables are fixed
//! arrays: the map is built before any heap exists.

use core::ops::Range;

/// Page permissions inside the kernel image (what the MMU maps each 4 KiB page as).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagePermission {
    /// Read-only, executable (`.text`).
    ReadExecute,
    /// Read-only, never executable (`.rodata`).
    ReadOnly,
    /// Read-write, never executable (data, bss, stacks, heap).
    ReadWrite,
    /// Not mapped (guard pages).
    Unmapped,
}

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

/// Most regions a map holds (no heap exists while it is filled; the boards need three).
pub const MAX_REGIONS: usize = 8;
/// Most reserved ranges a map holds.
pub const MAX_RESERVED: usize = 8;

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
    /// Number of per-core slots.
    pub cores: usize,
}

const PAGE: usize = 4096;

impl KernelLayout {
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
        if core >= self.cores {
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    /// A map of `ram` with a device window and `reserved` as (start, end) pairs.
    fn map(ram: Range<usize>, reserved: &[(usize, usize)]) -> MemoryMap {
        let mut map = MemoryMap::new();
        map.add(ram.start, ram.end, MemoryKind::Ram);
        map.add(0x3F00_0000, 0x4000_0000, MemoryKind::Device);
        for &(start, end) in reserved {
            map.reserve(start..end);
        }
        map
    }

    #[test]
    fn the_heap_is_the_largest_gap_between_reservations_above_the_floor() {
        let m = map(0..1024 * MIB, &[]);
        assert_eq!(m.largest_free(2 * MIB), Some(2 * MIB..1024 * MIB));
        assert_eq!(m.ram_bytes(), 1024 * MIB);
        // A model placed at 256 MiB splits RAM; the larger side wins.
        let m = map(0..1024 * MIB, &[(256 * MIB, 400 * MIB)]);
        assert_eq!(m.largest_free(2 * MIB), Some(400 * MIB..1024 * MIB));
        let m = map(0..1024 * MIB, &[(256 * MIB, 900 * MIB)]);
        assert_eq!(m.largest_free(2 * MIB), Some(2 * MIB..256 * MIB));
        // Overlapping and unordered reservations, one starting below the floor.
        let m = map(0..100 * MIB, &[(60 * MIB, 70 * MIB), (0, 10 * MIB), (65 * MIB, 80 * MIB)]);
        assert_eq!(m.largest_free(2 * MIB), Some(10 * MIB..60 * MIB));
        // Everything reserved: no heap.
        let m = map(0..100 * MIB, &[(0, 100 * MIB)]);
        assert_eq!(m.largest_free(0), None);
        // The floor above all RAM.
        assert_eq!(map(0..100 * MIB, &[]).largest_free(200 * MIB), None);
    }

    #[test]
    fn device_windows_are_never_heap_and_the_dtb_replaces_ram() {
        let mut m = map(0..512 * MIB, &[]);
        m.clear_ram();
        assert_eq!(m.regions().len(), 1, "the device window stays");
        assert_eq!(m.largest_free(0), None);
        m.add(0, 948 * MIB, MemoryKind::Ram);
        assert_eq!(m.largest_free(2 * MIB), Some(2 * MIB..948 * MIB));
        assert_eq!(m.ram_bytes(), 948 * MIB);
    }

    #[test]
    fn full_tables_and_empty_ranges_are_ignored_not_panics() {
        let mut m = MemoryMap::new();
        for i in 0..MAX_REGIONS + 4 {
            m.add(i * MIB, (i + 1) * MIB, MemoryKind::Ram);
        }
        m.add(5, 5, MemoryKind::Ram);
        assert_eq!(m.regions().len(), MAX_REGIONS);
        for _ in 0..MAX_RESERVED + 3 {
            m.reserve(0..MIB);
        }
        #[allow(clippy::reversed_empty_ranges)]
        m.reserve(7..3);
        assert_eq!(m.reserved().len(), MAX_RESERVED);
    }

    #[test]
    fn random_maps_give_a_free_range_inside_ram_that_overlaps_no_reservation() {
        let mut rng = testkit::Rng::new(42);
        for _ in 0..20_000 {
            let mut m = MemoryMap::new();
            for _ in 0..rng.below(4) {
                let start = rng.below(64) * MIB;
                m.add(start, start + rng.below(64) * MIB, MemoryKind::Ram);
            }
            for _ in 0..rng.below(5) {
                let start = rng.below(128) * MIB + rng.below(4096);
                m.reserve(start..start + rng.below(32) * MIB);
            }
            let floor = rng.below(32) * MIB;
            if let Some(free) = m.largest_free(floor) {
                assert!(free.start >= floor && free.start < free.end, "{free:?}");
                assert!(m
                    .regions()
                    .iter()
                    .any(|r| r.kind == MemoryKind::Ram && r.start <= free.start && free.end <= r.end));
                assert!(m.reserved().iter().all(|r| r.end <= free.start || r.start >= free.end), "{free:?} {m:?}");
            }
        }
    }

    fn layout() -> KernelLayout {
        KernelLayout {
            image_start: 0x8_0000,
            text_end: 0x9_0000,
            rodata_end: 0xA_0000,
            stacks_start: 0x10_0000,
            image_end: 0x10_0000 + 4 * 0x2_3000,
            core_slot: 0x2_3000,
            stack_size: 0x1_0000,
            cores: 4,
        }
    }

    #[test]
    fn image_pages_get_w_xor_x_permissions_and_guard_pages_are_unmapped() {
        let l = layout();
        assert_eq!(l.permission(0x1000), PagePermission::ReadWrite, "spin table below the image");
        assert_eq!(l.permission(0x8_0000), PagePermission::ReadExecute);
        assert_eq!(l.permission(0x8_FFFF), PagePermission::ReadExecute);
        assert_eq!(l.permission(0x9_0000), PagePermission::ReadOnly);
        assert_eq!(l.permission(0xA_0000), PagePermission::ReadWrite, "data and bss");
        for core in 0..4 {
            let slot = 0x10_0000 + core * 0x2_3000;
            assert_eq!(l.permission(slot), PagePermission::Unmapped, "kernel stack guard of core {core}");
            assert_eq!(l.guard_of(slot + 10), Some((core, "kernel stack")));
            assert_eq!(l.stack(core), slot + 0x1000..slot + 0x1_1000);
            assert_eq!(l.permission(slot + 0x1000), PagePermission::ReadWrite);
            assert_eq!(l.permission(slot + 0x1_1000), PagePermission::Unmapped, "exception stack guard");
            assert_eq!(l.guard_of(slot + 0x1_1000), Some((core, "exception stack")));
            assert_eq!(l.exception_stack(core), slot + 0x1_2000..slot + 0x2_3000);
            assert_eq!(l.guard_of(slot + 0x1_2000), None);
        }
        assert_eq!(l.guard_of(0x10_0000 + 4 * 0x2_3000), None, "past the last core");
        // No page is both writable and executable, anywhere.
        for page in (0..0x20_0000).step_by(4096) {
            let p = l.permission(page);
            assert!(p != PagePermission::ReadExecute || (0x8_0000..0x9_0000).contains(&page), "{page:#x}");
        }
    }
}
