//! Identity-mapped translation tables and MMU enable.
//!
//! 4 KiB granule, 39-bit virtual addresses (T0SZ = 25), so translation starts at level 1:
//! one level-1 table (1 GiB entries), level-2 tables (2 MiB blocks) for the first 4 GiB, and
//! level-3 tables (4 KiB pages) for the 2 MiB chunks holding the kernel image, so that text,
//! rodata, data and stacks get their own permissions and the stack guard pages stay unmapped.
//! RAM above 4 GiB (Pi 4 with 8 GiB) is mapped with 1 GiB level-1 blocks.
//!
//! Reference: ARM ARM (DDI 0487) D8 "The AArch64 Virtual Memory System Architecture".

use aarch64_cpu::{
    asm::barrier,
    registers::{ReadWriteable, Readable, Writeable, ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1},
};
use core::cell::UnsafeCell;
use logic::memory_map::{KernelLayout, MemoryKind, MemoryMap, PagePermission};

const ENTRIES: usize = 512;
const PAGE: usize = 4096;
const BLOCK_2M: usize = 2 << 20;
const BLOCK_1G: usize = 1 << 30;
/// Level-2 tables: the first 4 GiB of the physical address space.
const L2_TABLES: usize = 4;
/// Level-3 tables: at most 64 MiB of kernel image mapped with pages (checked by the linker).
const L3_TABLES: usize = 32;

// Descriptor bits (ARM ARM D8.3).
const VALID: u64 = 1 << 0;
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_DEVICE: u64 = 0 << 2; // MAIR index 0
const ATTR_NORMAL: u64 = 1 << 2; // MAIR index 1
const AP_READ_ONLY: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
const SH_OUTER: u64 = 2 << 8;
const ACCESS_FLAG: u64 = 1 << 10;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;

fn normal(permission: PagePermission) -> u64 {
    let base = VALID | ATTR_NORMAL | SH_INNER | ACCESS_FLAG | UXN;
    match permission {
        PagePermission::ReadExecute => base | AP_READ_ONLY,
        PagePermission::ReadOnly => base | AP_READ_ONLY | PXN,
        PagePermission::ReadWrite => base | PXN,
        PagePermission::Unmapped => 0,
    }
}

const DEVICE: u64 = VALID | ATTR_DEVICE | SH_OUTER | ACCESS_FLAG | PXN | UXN;

#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

#[repr(C)]
struct Tables {
    l1: Table,
    l2: [Table; L2_TABLES],
    l3: [Table; L3_TABLES],
}

struct TableStorage(UnsafeCell<Tables>);

// SAFETY: the tables are written only by `init`, once, on the boot core before any other
// core runs or any interrupt is enabled; afterwards only the MMU reads them.
unsafe impl Sync for TableStorage {}

static TABLES: TableStorage = TableStorage(UnsafeCell::new(Tables {
    l1: Table([0; ENTRIES]),
    l2: [const { Table([0; ENTRIES]) }; L2_TABLES],
    l3: [const { Table([0; ENTRIES]) }; L3_TABLES],
}));

/// Errors building the tables: a board or layout the fixed table budget cannot express.
#[derive(Clone, Copy, Debug)]
pub enum MapError {
    /// The kernel image needs more level-3 tables than reserved.
    KernelTooLarge,
}

fn build(tables: &mut Tables, map: &MemoryMap, layout: &KernelLayout) -> Result<(), MapError> {
    // Level 1: tables for the first 4 GiB, 1 GiB blocks for RAM above.
    for (index, l2) in tables.l2.iter().enumerate() {
        tables.l1.0[index] = l2.0.as_ptr() as u64 | VALID | TABLE_OR_PAGE;
    }
    for region in map.regions() {
        let descriptor = match region.kind {
            MemoryKind::Ram => normal(PagePermission::ReadWrite),
            MemoryKind::Device => DEVICE,
        };
        let mut addr = region.start & !(BLOCK_2M - 1);
        while addr < region.end {
            if addr >= L2_TABLES * BLOCK_1G {
                if addr.is_multiple_of(BLOCK_1G) && addr / BLOCK_1G < ENTRIES {
                    tables.l1.0[addr / BLOCK_1G] = addr as u64 | descriptor;
                }
                addr += BLOCK_1G;
                continue;
            }
            let (l2, index) = (addr / BLOCK_1G, (addr % BLOCK_1G) / BLOCK_2M);
            tables.l2[l2].0[index] = addr as u64 | descriptor;
            addr += BLOCK_2M;
        }
    }
    // Level 3 for the kernel image's 2 MiB chunks.
    let first = layout.image_start & !(BLOCK_2M - 1);
    let chunks = (layout.image_end - first).div_ceil(BLOCK_2M);
    if chunks > L3_TABLES {
        return Err(MapError::KernelTooLarge);
    }
    for chunk in 0..chunks {
        let chunk_base = first + chunk * BLOCK_2M;
        let l3 = &mut tables.l3[chunk];
        for (index, entry) in l3.0.iter_mut().enumerate() {
            let page = chunk_base + index * PAGE;
            let descriptor = normal(layout.permission(page));
            *entry = if descriptor == 0 { 0 } else { page as u64 | descriptor | TABLE_OR_PAGE };
        }
        let (l2, index) = (chunk_base / BLOCK_1G, (chunk_base % BLOCK_1G) / BLOCK_2M);
        tables.l2[l2].0[index] = l3.0.as_ptr() as u64 | VALID | TABLE_OR_PAGE;
    }
    Ok(())
}

/// Builds the identity map for `map` and `layout` and turns the MMU and caches on.
///
/// # Safety
/// Must run exactly once, on the boot core, before other cores start and before anything
/// relies on cacheable memory (atomics need the MMU on). The map must cover the running
/// code, the stack in use and every device the kernel touches afterwards.
pub unsafe fn init(map: &MemoryMap, layout: &KernelLayout) -> Result<(), MapError> {
    // SAFETY: per the contract, nothing else accesses the tables now.
    let tables = unsafe { &mut *TABLES.0.get() };
    build(tables, map, layout)?;
    let base = tables as *const Tables as usize;
    // Tables were written with the MMU off (non-cacheable): drop stale lines, if any.
    super::cache::clean_invalidate(base, core::mem::size_of::<Tables>());
    enable(base);
    Ok(())
}

/// Turns the MMU and caches on for a secondary core with the boot core's tables.
///
/// # Safety
/// Only after [`init`] succeeded, on a secondary core that has not enabled its MMU yet.
pub unsafe fn init_secondary() {
    // Only the address is taken; the tables are read by the hardware walker.
    enable(TABLES.0.get() as usize);
}

/// Programs the translation registers for the tables at `base` and enables the MMU and
/// caches on the calling core.
fn enable(base: usize) {
    MAIR_EL1.write(
        MAIR_EL1::Attr0_Device::nonGathering_nonReordering_EarlyWriteAck
            + MAIR_EL1::Attr1_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc
            + MAIR_EL1::Attr1_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc,
    );
    let pa_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(0b101);
    TCR_EL1.write(
        TCR_EL1::TBI0::Used
            + TCR_EL1::IPS.val(pa_range)
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::SH0::Inner
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::EPD0::EnableTTBR0Walks
            + TCR_EL1::EPD1::DisableTTBR1Walks
            + TCR_EL1::T0SZ.val(25),
    );
    // `l1` is the first field of the `repr(C)` tables.
    TTBR0_EL1.set_baddr(base as u64);
    barrier::dsb(barrier::ISHST);
    // SAFETY: invalidating all EL1 TLB entries has no memory effects.
    unsafe { core::arch::asm!("tlbi vmalle1", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    barrier::isb(barrier::SY);
}
