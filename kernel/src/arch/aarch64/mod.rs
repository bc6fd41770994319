//! AArch64: CPU control, the MMU, exception handling, caches and semihosting.

pub mod cache;
pub mod cpu;
pub mod exception;
pub mod mmu;
pub mod psci;
pub mod semihosting;
pub mod smp;

use logic::memory_map::KernelLayout;

extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __stacks_start: u8;
    static __kernel_end: u8;
    static __core_slot_size: u8;
    static __stack_size: u8;
}

/// The kernel image layout from the linker script's symbols.
pub fn linker_layout() -> KernelLayout {
    // Only the addresses of the linker-defined symbols are taken (safe with `&raw const`);
    // nothing is read through them.
    KernelLayout {
        image_start: &raw const __kernel_start as usize,
        text_end: &raw const __text_end as usize,
        rodata_end: &raw const __rodata_end as usize,
        stacks_start: &raw const __stacks_start as usize,
        image_end: &raw const __kernel_end as usize,
        core_slot: &raw const __core_slot_size as usize,
        stack_size: &raw const __stack_size as usize,
        cores: crate::MAX_CORES,
    }
}
