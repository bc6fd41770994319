//! Console command bodies (until the MCP tool registry takes them over).

use crate::{
    arch::cpu,
    board::CURRENT,
    memory::heap,
    platform, println, system, timeline, timer,
};

/// Prints board, memory, uptime and firmware facts.
pub fn system_info() {
    let facts = system::facts();
    let heap = heap::stats();
    println!("board:        {} ({})", CURRENT.name, CURRENT.description);
    if let Some(model) = facts.dtb.and_then(|d| d.model) {
        println!("dtb model:    {model}");
    }
    if let Some(revision) = facts.board_revision {
        println!("revision:     {revision:#x}");
    }
    if let Some(serial) = facts.serial {
        println!("serial:       {serial:016x}");
    }
    if let Some(firmware) = facts.firmware_revision {
        println!("firmware:     {firmware:#x}");
    }
    println!("kernel:       Kingly OS {}", env!("CARGO_PKG_VERSION"));
    println!("cores:        {}", CURRENT.cores);
    println!("el:           EL{}", cpu::exception_level());
    println!("memory:       {} MiB RAM, heap {} KiB free of {} KiB", facts.ram_bytes >> 20, heap.free >> 10, heap.size >> 10);
    if let Some((now, max)) = facts.arm_clock {
        println!("arm clock:    {} MHz (max {} MHz)", now / 1_000_000, max / 1_000_000);
    }
    println!("counter:      {} Hz", cpu::counter_frequency());
    let uptime = cpu::micros();
    println!("uptime:       {}.{:06} s", uptime / 1_000_000, uptime % 1_000_000);
    println!("timer ticks:  {}", timer::ticks());
    if let Some(fw) = timeline::firmware_micros() {
        println!("firmware time before kernel: {fw} us");
    }
}

/// Prints heap statistics and the memory map.
pub fn memory_stats() {
    let heap = heap::stats();
    println!("heap: start {:#x}, size {} KiB, used {} B, free {} B, peak {} B", heap.start, heap.size >> 10, heap.used, heap.free, heap.peak_used);
    for region in system::facts().memory_map.regions() {
        println!("region {:#012x}..{:#012x} {:?}", region.start, region.end, region.kind);
    }
    for reserved in system::facts().memory_map.reserved() {
        println!("reserved {:#012x}..{:#012x}", reserved.start, reserved.end);
    }
    println!("console: {} input bytes dropped", crate::console::dropped_bytes());
}

/// Prints the tail of the kernel log.
pub fn log_read() {
    crate::print!("{}", crate::log::read_tail(4096));
}

/// Prints four words from the hardware RNG.
pub fn rng_read() {
    match platform::get().and_then(|p| p.rng.as_ref()) {
        Some(rng) => {
            crate::print!("rng:");
            for _ in 0..4 {
                match rng.next_u32() {
                    Ok(word) => crate::print!(" {word:08x}"),
                    Err(error) => crate::print!(" ({error})"),
                }
            }
            println!();
        }
        None => println!("rng: this board has no supported hardware RNG"),
    }
}

/// Prints the argument's length and a short prefix (the 4 KiB paste test uses this).
pub fn echo(args: &str) {
    let sum = args.bytes().fold(0u32, |acc, b| acc.wrapping_mul(31).wrapping_add(b as u32));
    println!("echo: {} bytes, checksum {sum:08x}", args.len());
}

/// Deliberate failures for the QEMU tests.
#[cfg(feature = "test-hooks")]
pub mod test {
    use alloc::vec::Vec;

    /// Reads from an address outside every mapping.
    pub fn fault() {
        let address = 0x1_0000_0000usize as *const u64;
        // SAFETY: none — this is the deliberate bad access the fault-report test needs.
        let value = unsafe { core::ptr::read_volatile(address) };
        crate::println!("read {value} (should have faulted)");
    }

    #[inline(never)]
    fn recurse(depth: u64) -> u64 {
        let frame = core::hint::black_box([depth; 64]);
        frame[0] + recurse(depth + 1)
    }

    /// Recurses until the kernel stack runs into its guard page.
    pub fn overflow() {
        crate::println!("{}", recurse(0));
    }

    /// Allocates far more than the heap can hold.
    pub fn oom() {
        let huge: Vec<u8> = Vec::with_capacity(usize::MAX / 4);
        crate::println!("allocated {} (should have failed)", huge.capacity());
    }

    /// Allocation stress: many sizes, interleaved frees, contents verified.
    pub fn heap(_: &str) {
        let before = super::heap::stats().used;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut checked = 0usize;
        for round in 0..4000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let size = 1 + (seed % 8192) as usize;
            if seed % 3 == 0 && !blocks.is_empty() {
                let index = (seed as usize / 7) % blocks.len();
                let block = blocks.swap_remove(index);
                let tag = block[0];
                if !block.iter().all(|&b| b == tag) {
                    crate::println!("heap test: FAILED, block contents corrupted at round {round}");
                    return;
                }
                checked += 1;
            } else {
                blocks.push(alloc::vec![round as u8; size]);
            }
        }
        for block in &blocks {
            if !block.iter().all(|&b| b == block[0]) {
                crate::println!("heap test: FAILED, block contents corrupted");
                return;
            }
        }
        drop(blocks);
        let after = super::heap::stats().used;
        crate::println!("heap test: ok, {checked} blocks verified, used before {before} after {after}");
    }
}
