//! Starting secondary cores: the firmware spin table (Pi firmware and QEMU's raspi machines)
//! and the address of the kernel's secondary entry point in `boot/src/entry.s`.

use aarch64_cpu::asm;

extern "C" {
    fn __secondary_entry();
}

/// Physical address where started secondary cores begin (`boot/src/entry.s`).
pub fn secondary_entry() -> usize {
    __secondary_entry as *const () as usize
}

/// Spin-table slot of `core` (1..=3): 0xe0, 0xe8, 0xf0 — where the firmware's stub waits
/// in `wfe` for a non-zero entry address.
const fn spin_table_slot(core: usize) -> usize {
    0xd8 + 8 * core
}

/// Releases `core` (1..=3) from the firmware spin table to `entry`.
pub fn release_from_spin_table(core: usize, entry: usize) {
    let slot = spin_table_slot(core);
    // SAFETY: the spin table lives in the low RAM page below the kernel, which the identity
    // map keeps mapped read-write; nothing else of the kernel uses those 24 bytes. The
    // waiting core reads it with its MMU off, so the line is cleaned to the point of
    // coherency before the event that wakes it.
    unsafe { core::ptr::write_volatile(slot as *mut u64, entry as u64) };
    super::cache::clean(slot, 8);
    asm::barrier::dsb(asm::barrier::SY);
    asm::sev();
}
