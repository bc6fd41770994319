//! The device tree blob the firmware (or QEMU `-dtb`) passes in x0.
//!
//! QEMU's raspi machines put an ATAG pointer (0x100) in x0 when no DTB is given, so the
//! magic number is checked before anything is parsed; without a DTB the board defaults
//! stand. Parsing uses the `fdt` crate, which never allocates.

use crate::memory::{MemoryKind, MemoryMap};
use fdt::Fdt;

const FDT_MAGIC: u32 = 0xd00d_feed;
/// Largest DTB accepted (real Pi DTBs are ~30-60 KiB).
const MAX_SIZE: usize = 2 << 20;

/// What the DTB told us, kept for `system_info`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DtbSummary {
    /// Physical address of the blob.
    pub address: usize,
    /// Size in bytes.
    pub size: usize,
    /// The `model` property of the root node.
    pub model: Option<&'static str>,
}

/// Validates and parses the DTB at `address`, if one is there.
pub fn probe(address: usize) -> Option<(Fdt<'static>, DtbSummary)> {
    if address == 0 || !address.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the firmware handed this RAM over with the DTB in it; it is reserved from the
    // heap (`apply`) before any allocation, so nothing writes it afterwards.
    let header = unsafe { crate::memory::physical_bytes(address, 8) }?;
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if magic != FDT_MAGIC || !(40..=MAX_SIZE).contains(&size) {
        return None;
    }
    // SAFETY: as above, for the size the header gives (bounded by MAX_SIZE).
    let bytes = unsafe { crate::memory::physical_bytes(address, size) }?;
    let fdt = Fdt::new(bytes).ok()?;
    let model = fdt.find_node("/").and_then(|root| root.property("model")).and_then(|p| p.as_str());
    Some((fdt, DtbSummary { address, size, model }))
}

/// Replaces the board's default RAM with the DTB's memory nodes and reserves the blob itself
/// and the DTB's memory reservations.
pub fn apply(fdt: &Fdt<'_>, summary: &DtbSummary, map: &mut MemoryMap) {
    let mut found = false;
    let mut ram = MemoryMap::new();
    for region in fdt.memory().regions() {
        let start = region.starting_address as usize;
        if let Some(size) = region.size {
            ram.add(start, start.saturating_add(size), MemoryKind::Ram);
            found = true;
        }
    }
    if found {
        map.clear_ram();
        for region in ram.regions() {
            map.add(region.start, region.end, MemoryKind::Ram);
        }
    }
    map.reserve(summary.address..summary.address + summary.size);
    for reservation in fdt.memory_reservations() {
        let start = reservation.address() as usize;
        map.reserve(start..start.saturating_add(reservation.size()));
    }
}
