//! Kernel log: a `log` facade backend that keeps records in a RAM ring buffer (read later
//! through MCP's `log_read` and `kernel://log`) and echoes them to the console.

use crate::{arch::cpu, sync::IrqMutex};
use alloc::{string::String, vec::Vec};
use core::fmt::Write;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// Capacity of the log ring in bytes; the oldest lines are overwritten.
pub const CAPACITY: usize = 64 * 1024;

struct Ring {
    bytes: [u8; CAPACITY],
    /// Total bytes ever written; the ring holds the last `min(written, CAPACITY)`.
    written: usize,
}

impl Write for Ring {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &byte in s.as_bytes() {
            self.bytes[self.written % CAPACITY] = byte;
            self.written += 1;
        }
        Ok(())
    }
}

static RING: IrqMutex<Ring> = IrqMutex::new(Ring { bytes: [0; CAPACITY], written: 0 });

struct KernelLog;

static LOGGER: KernelLog = KernelLog;

/// Whether log lines are echoed to the console (off while an MCP client owns the port).
static ECHO: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

impl Log for KernelLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let micros = cpu::micros();
        let level = match record.level() {
            Level::Error => "ERROR",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        };
        {
            let mut ring = RING.lock();
            let _ = writeln!(
                ring,
                "[{:>5}.{:06}] {level} {}: {}",
                micros / 1_000_000,
                micros % 1_000_000,
                record.target(),
                record.args()
            );
        }
        if ECHO.load(core::sync::atomic::Ordering::Relaxed) {
            crate::println!("[{:>5}.{:06}] {level} {}", micros / 1_000_000, micros % 1_000_000, record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger.
pub fn init() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}

/// Turns console echo of log lines on or off.
pub fn set_console_echo(on: bool) {
    ECHO.store(on, core::sync::atomic::Ordering::Relaxed);
}

/// The most recent `max_bytes` of the log (whole lines only), as text.
pub fn read_tail(max_bytes: usize) -> String {
    let ring = RING.lock();
    let held = ring.written.min(CAPACITY);
    let take = held.min(max_bytes);
    let mut bytes = Vec::with_capacity(take);
    for offset in ring.written - take..ring.written {
        bytes.push(ring.bytes[offset % CAPACITY]);
    }
    drop(ring);
    // Drop a partial first line when the window started mid-line.
    let start = if take < held { bytes.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1) } else { 0 };
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Total bytes ever written to the log (a position for [`read_since`]).
pub fn position() -> usize {
    RING.lock().written
}

/// Log text written since `position` (as much as the ring still holds), and the new
/// position. Used to forward log lines to an MCP client as `notifications/message`.
pub fn read_since(position: usize) -> (String, usize) {
    let ring = RING.lock();
    let start = position.max(ring.written.saturating_sub(CAPACITY)).min(ring.written);
    let bytes: Vec<u8> = (start..ring.written).map(|offset| ring.bytes[offset % CAPACITY]).collect();
    let end = ring.written;
    drop(ring);
    (String::from_utf8_lossy(&bytes).into_owned(), end)
}
