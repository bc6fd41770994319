//! Panic handler and fault report: what a developer needs to act on a crash.
//!
//! The report names the core, the exception class decoded from ESR (e.g. "data abort,
//! translation fault level 3"), FAR with a note when it hits a stack guard page, ELR,
//! SPSR, all general registers and a frame-pointer backtrace. The report is also kept in
//! the crash record, and the machine resets (watchdog on Pi boards, PSCI on virt); in test
//! builds on QEMU the emulator exits with a failure code instead, so a crash fails the test
//! with the report in its output.

use crate::{
    arch::{
        cpu,
        exception::{ExceptionFrame, Kind, Syndrome},
    },
    board::CURRENT,
    console::panic_writer,
    crash,
    memory::{heap, KernelLayout},
};
use core::{fmt::Write, panic::PanicInfo};

/// Semihosting exit code for a panic (test builds on QEMU).
pub const EXIT_PANIC: u32 = 101;
/// Semihosting exit code for a CPU fault (test builds on QEMU).
pub const EXIT_FAULT: u32 = 102;

const MAX_FRAMES: usize = 32;

fn on_some_stack(layout: &KernelLayout, addr: usize) -> bool {
    (0..crate::MAX_CORES).any(|core| layout.stack(core).contains(&addr) || layout.exception_stack(core).contains(&addr))
}

/// Prints return addresses by walking the frame-pointer chain (x29 → [fp, lr]).
fn backtrace(out: &mut impl Write, mut fp: usize, first_pc: Option<usize>) {
    let layout = crate::memory::layout();
    let _ = writeln!(out, "backtrace (symbolize with `cargo xtask symbolize ADDR...`):");
    let mut frame = 0;
    if let Some(pc) = first_pc {
        let _ = writeln!(out, "  #{frame:<2} {pc:#018x}");
        frame += 1;
    }
    while frame < MAX_FRAMES && fp.is_multiple_of(16) && on_some_stack(&layout, fp) && on_some_stack(&layout, fp + 8) {
        // SAFETY: `fp..fp + 16` lies on a mapped kernel stack (checked above); the words are
        // copied out at once, while the stopped code cannot change them.
        let words = unsafe { crate::memory::physical_bytes(fp, 16) }.unwrap_or(&[]);
        if words.len() < 16 {
            break;
        }
        let next = usize::from_le_bytes(words[0..8].try_into().unwrap_or([0; 8]));
        let lr = usize::from_le_bytes(words[8..16].try_into().unwrap_or([0; 8]));
        if lr == 0 {
            break;
        }
        let _ = writeln!(out, "  #{frame:<2} {:#018x}", lr.saturating_sub(4));
        frame += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
}

fn heap_report(out: &mut impl Write) {
    let stats = heap::stats_nonblocking();
    match stats {
        Some(s) => {
            if s.last_failed != 0 {
                let _ = writeln!(out, "out of memory: an allocation of {} bytes failed", s.last_failed);
            }
            let _ = writeln!(
                out,
                "heap: {} bytes used of {} ({} free, peak {}) at {:#x}",
                s.used, s.size, s.free, s.peak_used, s.start
            );
        }
        None => {
            let _ = writeln!(out, "heap: locked by the faulting code, state unavailable");
        }
    }
}

/// The report goes to the console and into the crash record (see [`crate::crash`]).
struct Report<W> {
    console: W,
    record: Option<crash::Recorder>,
}

impl<W: Write> Write for Report<W> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        if let Some(record) = &mut self.record {
            let _ = record.write_str(s);
        }
        self.console.write_str(s)
    }
}

fn report() -> Report<impl Write> {
    Report { console: panic_writer(), record: crash::Recorder::begin() }
}

/// Seals the crash record, then resets the machine (the next boot serves the record as
/// `kernel://crash/last`). Test builds on QEMU exit with `code` instead, so a crash fails
/// the test that caused it, unless the test asked for the reset path. After
/// [`crash::MAX_BOOT_CRASHES`] crashes in a row during boot the core halts.
fn finish(out: Report<impl Write>, kind: crash::Kind, code: u32) -> ! {
    let Report { mut console, record } = out;
    let halt = match record {
        Some(record) => record.seal(kind),
        // The report itself faulted: its record stays unsealed (never trusted), but the
        // machine must still come back.
        None if crash::nested() => false,
        // Another core is already reporting a crash and will reset the machine.
        None => cpu::halt(),
    };
    if !crash::resets() && CURRENT.qemu {
        crate::arch::semihosting::exit(code);
    }
    if halt {
        let _ = writeln!(
            console,
            "{} crashes in a row during boot: system halted (a reset would crash again).",
            crash::MAX_BOOT_CRASHES
        );
        crate::watchdog::disarm();
        cpu::halt()
    }
    let _ = writeln!(console, "resetting; the report is kept as kernel://crash/last.");
    crate::system::reset()
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut out = report();
    let _ = writeln!(out, "\n*** KERNEL PANIC on core {} ***", cpu::core_id());
    let _ = writeln!(out, "{}", info.message());
    if let Some(location) = info.location() {
        let _ = writeln!(out, "at {}:{}:{}", location.file(), location.line(), location.column());
    }
    heap_report(&mut out);
    backtrace(&mut out, cpu::frame_pointer(), None);
    finish(out, crash::Kind::Panic, EXIT_PANIC)
}

/// Reports a CPU exception the kernel cannot handle and stops.
pub fn fault(frame: &ExceptionFrame, kind: Kind) -> ! {
    let mut out = report();
    let syndrome = Syndrome(frame.esr);
    let _ = writeln!(out, "\n*** KERNEL FAULT on core {} ***", cpu::core_id());
    let _ = writeln!(out, "{kind}: {syndrome}");
    let layout = crate::memory::layout();
    let far = frame.far as usize;
    let _ = write!(out, "FAR  {far:#018x}");
    if let Some((core, stack)) = layout.guard_of(far) {
        let _ = write!(out, "  <- guard page below core {core}'s {stack}: stack overflow");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "ELR  {:#018x}  (faulting instruction)", frame.elr);
    let _ = writeln!(out, "SPSR {:#018x}  ESR {:#010x}  SP {:#018x}", frame.spsr, frame.esr, frame.sp);
    for row in 0..8 {
        for col in 0..4 {
            let index = row * 4 + col;
            if index < 31 {
                let _ = write!(out, "x{index:<2} {:#018x}  ", frame.x[index]);
            }
        }
        let _ = writeln!(out);
    }
    backtrace(&mut out, frame.x[29] as usize, Some(frame.elr as usize));
    heap_report(&mut out);
    finish(out, crash::Kind::Fault, EXIT_FAULT)
}
