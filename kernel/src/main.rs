//! Kingly OS kernel.
//!
//! # Code organization
//! - `boot/` (separate crate): entry assembly and exception vectors.
//! - [`arch`]: AArch64 CPU, MMU, caches, exceptions, semihosting, PSCI. The only place that
//!   names `aarch64_cpu` or uses inline assembly.
//! - [`board`]: one module per board (addresses, interrupt controller, UART, how cores
//!   start), selected by a `board-*` feature; nothing else tests for a board.
//! - [`memory`]: memory map, kernel layout, heap. [`dtb`]: the firmware's device tree.
//! - [`platform`]: creates the `drivers/` crate's drivers from the board description.
//! - [`irq`], [`timer`], [`console`], [`log`], [`timeline`], [`system`]: kernel services.
//!   [`gpio_owner`]: which GPIOs the board or a claimed bus owns (tools refuse to touch them).
//! - [`tools`]: the MCP tools, one module per tool group. [`shell`]: the serial console,
//!   which carries MCP (JSON lines) and the human shell, an MCP client of the same tools.
//! - `drivers/`, `mcp/`, `inference/`: hardware-free or kernel-free crates wired in here.
//!
//! # Layers
//! Modules import one way (`cargo xtask lint` fails on a loop): [`arch`], [`board`] and
//! [`sync`] at the bottom; [`memory`], [`dtb`], [`placed`], [`platform`], [`console`],
//! [`irq`], [`timer`], [`log`] above them; then [`smp`] and the [`executor`]; the services
//! ([`storage`], [`usb`], [`net`], [`system`]); the model ([`llm`]) and [`intent`]; the
//! [`tools`] and the [`shell`] on top. Interrupt sources register their handlers with
//! [`irq`]; the exception entry (`kernel_exception`) is here, the glue that may name all.
//!
//! # Unsafe
//! `unsafe` blocks, each with a `// SAFETY:` comment, are in: `arch/` (system registers,
//! MMU, caches, PSCI, semihosting, core start-up), `memory/` (heap, DMA buffers, physical
//! views), `platform.rs` (creating drivers at board addresses), `smp/` (starting cores,
//! the compute pool's job hand-off), the readers of memory the firmware or the loader
//! handed over (`dtb.rs`, `placed.rs`, the placed model in `llm.rs`, the backtrace in
//! `panic.rs`), this file (MMU and heap initialisation), and the test hooks' deliberate
//! faults. Every other module is safe code.
//!
//! # Boot flow
//! `_start` (boot/) → [`kernel_main`]: DTB probe → memory map → MMU → heap → drivers →
//! logger → interrupts and timer → console banner → MCP tool registry → timeline → shell.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

extern crate alloc;

use boot as _;

mod arch;
mod audit;
mod board;
mod console;
mod crash;
mod decisions;
mod dtb;
mod entropy;
mod executor;
mod gadget;
mod gpio_owner;
mod intent;
mod irq;
mod llm;
mod log;
mod memory;
mod net;
mod panic;
mod placed;
mod platform;
mod shell;
mod smp;
mod storage;
mod sync;
mod system;
mod tasks;
mod timeline;
mod timer;
mod tools;
mod usb;
mod virtio_blk;
mod watchdog;

use crate::{
    arch::cpu,
    board::CURRENT,
    memory::{MemoryKind, MemoryMap},
    timeline::Stage,
};
use core::fmt::Write;

/// Most cores any supported board has (per-core stacks are reserved for this many).
pub const MAX_CORES: usize = 4;

fn early_failure(message: &str) -> ! {
    let _ = writeln!(console::panic_writer(), "\n*** BOOT FAILURE: {message} ***");
    if CURRENT.qemu {
        arch::semihosting::exit(panic::EXIT_PANIC);
    }
    cpu::halt()
}

/// Exception entry, called by `boot/src/vectors.s` for every exception: interrupts go to
/// their handlers, anything else is a fault report.
#[no_mangle]
extern "C" fn kernel_exception(frame: &mut arch::exception::ExceptionFrame, kind: u64) {
    let kind = arch::exception::Kind::from_vector(kind);
    if kind.is_irq() {
        irq::dispatch();
    } else {
        panic::fault(frame, kind);
    }
}

/// Rust entry point, called by `boot/src/entry.s` on the boot core at EL1 with the MMU off.
#[no_mangle]
pub extern "C" fn kernel_main(dtb_address: usize, entry_ticks: u64) -> ! {
    let firmware_micros = platform::early_system_timer_micros();
    let layout = memory::layout();

    // Memory map: board defaults, refined by the DTB. No atomics or locks before the MMU is
    // on (exclusive accesses need cacheable memory on real cores).
    let mut map = MemoryMap::new();
    map.add(CURRENT.ram.0, CURRENT.ram.1, MemoryKind::Ram);
    for &(start, end) in CURRENT.devices {
        map.add(start, end, MemoryKind::Device);
    }
    let dtb = dtb::probe(dtb_address);
    if let Some((fdt, summary)) = &dtb {
        dtb::apply(fdt, summary, &mut map);
    }

    // SAFETY: first and only call, on the boot core, with the map covering the image,
    // stacks and devices.
    if unsafe { arch::mmu::init(&map, &layout) }.is_err() {
        early_failure("kernel image too large for the boot page tables");
    }
    let mmu_ticks = cpu::counter();
    timeline::set_entry(entry_ticks, firmware_micros);
    timeline::record_at(Stage::Mmu, mmu_ticks);

    // What the QEMU loader placed in RAM (a model, settings) must be kept out of the heap.
    let ram =
        map.regions().iter().find(|r| r.kind == MemoryKind::Ram && r.start == CURRENT.ram.0).map(|r| r.start..r.end);
    for placed in ram.map(placed::probe).into_iter().flatten().flatten() {
        map.reserve(placed);
    }

    let Some(heap_range) = map.largest_free(layout.image_end) else {
        early_failure("no free RAM above the kernel image for the heap");
    };
    // SAFETY: the range is mapped RAM above the image that overlaps no reserved range.
    unsafe { memory::heap::init(heap_range) };
    timeline::record(Stage::Heap);

    memory::init_crash_area(&map);
    let previous_crash = crash::take_previous().map(|r| (r.kind, r.during_boot()));
    platform::init();
    log::init();
    if let Some((kind, during_boot)) = previous_crash {
        let when = if during_boot { "during boot" } else { "while running" };
        ::log::warn!("the previous boot ended in a {kind} {when}: its report is kernel://crash/last");
    }
    system::init(&map, dtb.as_ref().map(|(_, summary)| *summary));
    irq::init();
    irq::set_local_handlers(irq::LocalHandlers { tick: timer::on_tick, wake: smp::on_ipi });
    irq::register(CURRENT.uart_irq, console::on_uart_interrupt);
    timer::init();
    cpu::enable_interrupts();
    timeline::record(Stage::Drivers);

    println!();
    println!("Kingly OS {} on {} ({})", env!("CARGO_PKG_VERSION"), CURRENT.name, CURRENT.description);
    timeline::record(Stage::Console);
    smp::start();
    timeline::record(Stage::Smp);
    let server = tools::server();
    timeline::record(Stage::Mcp);
    timeline::print();
    let cores = smp::wait_online(200_000);
    if cores < CURRENT.cores {
        ::log::warn!("only {cores} of {} cores started", CURRENT.cores);
    }
    ::log::info!(
        "EL{}, {cores} cores, counter {} Hz, {} MiB RAM, heap {} KiB, dtb {}",
        cpu::exception_level(),
        cpu::counter_frequency(),
        map.ram_bytes() >> 20,
        memory::heap::stats().size >> 10,
        if dtb.is_some() { "yes" } else { "none" }
    );
    println!("Type 'help' for commands, Tab to complete. QEMU: Ctrl-A X quits.");
    let registry = alloc::sync::Arc::clone(server.registry());
    executor::spawn("console", shell::run(server));
    // The card, the models and the network come up after MCP answers, between the other
    // tasks' turns: a model on the card is read in the background.
    executor::spawn("boot", async move {
        executor::yield_now().await;
        storage::init();
        crash::save_to_card();
        decisions::load();
        tools::load_installed();
        llm::init();
        timeline::record(Stage::Model);
        // Tool schemas are parsed on first use; do it here, one tool per turn, before the
        // network can ask for them from inside another request's wait.
        for tool in registry.tools() {
            tool.prepare();
            executor::yield_now().await;
        }
        // The gadget before the network, so its link is one of the network's paths.
        gadget::init();
        net::init(registry);
        let card_model = llm::card_model_to_load();
        system::mark_services_up();
        watchdog::arm();
        ::log::info!("services up: storage, models, network");
        if let Some(file) = card_model {
            llm::load_card_model_in_background(file).await;
        }
    });
    executor::run()
}
