//! Data cache maintenance by virtual address, for buffers shared with non-coherent
//! bus masters (the VideoCore mailbox, later DMA).

use aarch64_cpu::asm::barrier;

/// Cache line size assumed for maintenance loops (Cortex-A53/A72: 64 bytes).
const LINE: usize = 64;

fn for_each_line(addr: usize, len: usize, op: impl Fn(usize)) {
    let mut line = addr & !(LINE - 1);
    let end = addr.saturating_add(len);
    while line < end {
        op(line);
        line += LINE;
    }
    barrier::dsb(barrier::SY);
}

/// Cleans (writes back) and invalidates `[addr, addr+len)` to the point of coherency.
pub fn clean_invalidate(addr: usize, len: usize) {
    for_each_line(addr, len, |line| {
        // SAFETY: `dc civac` only affects cache state of a mapped address; it never changes
        // memory contents visible to this core.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) line, options(nostack, preserves_flags)) };
    });
}

/// Cleans (writes back) `[addr, addr+len)` to the point of coherency.
pub fn clean(addr: usize, len: usize) {
    for_each_line(addr, len, |line| {
        // SAFETY: `dc cvac` writes back a line; memory contents do not change.
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) line, options(nostack, preserves_flags)) };
    });
}
