//! The crash record: a panic or fault report survives the reset that follows it.
//!
//! While the panic handler prints its report, every byte also goes into the crash area (a
//! page of low RAM that a watchdog or PSCI reset leaves alone, see
//! [`crate::memory::CRASH_AREA_OFFSET`]); a header with a magic, the length and a checksum
//! is written last. The next boot takes the record out (so it is reported once), serves it
//! as `kernel://crash/last` and appends it to [`FILE`] on the card.
//!
//! Crashes during boot (before the services are up) are counted across resets: after
//! [`MAX_BOOT_CRASHES`] in a row the kernel halts instead of resetting again, so a bad card
//! or setting cannot make the board reset forever.

use crate::memory::{crash_area_read, crash_area_write, CRASH_AREA_BYTES};
use alloc::string::{String, ToString};
use core::{
    fmt,
    sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering},
};
pub use logic::crash_record::Kind;
use logic::crash_record::{self, fnv_from, Header, FNV_START, HEADER};
use mcp::{json, Value};
use spin::Once;

/// The crash log on the card's boot partition.
pub const FILE: &str = "/CRASH.TXT";
/// Bytes the file may grow to before it is rewritten with the latest record alone.
const MAX_FILE: usize = 16 * 1024;
/// Consecutive crashes before the services are up after which the kernel halts.
pub const MAX_BOOT_CRASHES: u32 = 3;

/// Report bytes the area holds.
pub const CAPACITY: usize = CRASH_AREA_BYTES - HEADER;

/// A record taken from the crash area at boot.
#[derive(Clone, Debug)]
pub struct Record {
    /// The report as the console showed it (possibly cut at [`CAPACITY`] bytes).
    pub report: String,
    /// Panic or fault.
    pub kind: &'static str,
    /// Microseconds since boot when it happened.
    pub uptime_us: u64,
    /// Crashes in a row before the services came up, this one included (0: it happened
    /// while running).
    pub boot_crashes: u32,
}

impl Record {
    /// It happened before the services were up.
    pub fn during_boot(&self) -> bool {
        self.boot_crashes > 0
    }
}

static PREVIOUS: Once<Option<Record>> = Once::new();
/// Boot crashes in a row up to the previous boot (from its record).
static BOOT_CRASHES: AtomicU32 = AtomicU32::new(0);
/// The first core that crashes (`usize::MAX`: none yet): only it writes the record.
static RECORDING: AtomicUsize = AtomicUsize::new(usize::MAX);
static WRITTEN: AtomicUsize = AtomicUsize::new(0);
/// FNV-1a of the bytes written so far (kept as they go: no page-sized copy on a crashed stack).
static CHECKSUM: AtomicU32 = AtomicU32::new(FNV_START);
/// Test builds exit QEMU on a crash unless a test asked for the reset path.
static RESET_IN_TESTS: AtomicBool = AtomicBool::new(false);

/// The record in a crash area, if one was sealed there.
fn parse(area: &[u8]) -> Option<Record> {
    let (header, text) = crash_record::parse(area)?;
    Some(Record {
        report: String::from_utf8_lossy(text).into_owned(),
        kind: header.kind.name(),
        uptime_us: header.uptime_us,
        boot_crashes: header.boot_crashes,
    })
}

/// Takes the previous boot's record out of the crash area (once, early at boot): it is kept
/// for [`resource`] and the area is cleared so the same crash is not reported again.
pub fn take_previous() -> Option<&'static Record> {
    PREVIOUS
        .call_once(|| {
            let record = parse(&crash_area_read());
            if let Some(r) = &record {
                crash_area_write(0, &[0u8; HEADER]);
                BOOT_CRASHES.store(r.boot_crashes, Ordering::Relaxed);
            }
            record
        })
        .as_ref()
}

/// Appends the previous boot's record to [`FILE`] on the card (after storage is up).
pub fn save_to_card() {
    let Some(record) = PREVIOUS.get().and_then(Option::as_ref) else { return };
    let entry = alloc::format!("--- {} at {} us after boot ---\n{}\n", record.kind, record.uptime_us, record.report);
    crate::storage::append_bounded(FILE, &entry, MAX_FILE, || entry.clone());
}

/// The resource `kernel://crash/last`.
pub fn resource() -> String {
    let value: Value = match PREVIOUS.get().and_then(Option::as_ref) {
        Some(r) => json!({
            "crashed": true, "kind": r.kind, "uptime_us": r.uptime_us, "during_boot": r.during_boot(),
            "boot_crashes_in_a_row": r.boot_crashes, "report": r.report, "file": FILE,
        }),
        None => json!({"crashed": false, "message": "the previous boot did not end in a recorded crash"}),
    };
    value.to_string()
}

/// Whether this core is already reporting a crash (a fault inside the panic handler).
pub fn nested() -> bool {
    RECORDING.load(Ordering::SeqCst) == crate::arch::cpu::core_id()
}

/// Lets a test build take the reset path on its next crash (instead of exiting QEMU).
#[cfg(feature = "test-hooks")]
pub fn reset_in_tests() {
    RESET_IN_TESTS.store(true, Ordering::SeqCst);
}

/// Whether a crash in this build ends in a reset (otherwise: QEMU exits in test builds).
pub fn resets() -> bool {
    !cfg!(feature = "test-hooks") || RESET_IN_TESTS.load(Ordering::SeqCst)
}

/// The writer for the report: each byte goes to the crash area too. `None` when another
/// core already records a crash (its report is the one kept).
pub struct Recorder(());

impl Recorder {
    /// Starts the record (first crashing core only).
    pub fn begin() -> Option<Recorder> {
        let me = crate::arch::cpu::core_id();
        if RECORDING.compare_exchange(usize::MAX, me, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return None;
        }
        WRITTEN.store(0, Ordering::SeqCst);
        CHECKSUM.store(FNV_START, Ordering::SeqCst);
        Some(Recorder(()))
    }

    /// Writes the header last, so a record cut short by a second fault is never trusted.
    /// Returns whether the kernel should halt rather than reset (a boot crash loop).
    pub fn seal(self, kind: Kind) -> bool {
        let len = WRITTEN.load(Ordering::SeqCst);
        let boot_crashes =
            if crate::system::services_up() { 0 } else { BOOT_CRASHES.load(Ordering::Relaxed).saturating_add(1) };
        let header = Header {
            len: len as u32,
            text_checksum: CHECKSUM.load(Ordering::SeqCst),
            boot_crashes,
            kind,
            uptime_us: crate::arch::cpu::micros(),
        }
        .encode();
        crash_area_write(8, &header[8..]);
        crash_area_write(0, &header[..8]);
        boot_crashes >= MAX_BOOT_CRASHES
    }
}

impl fmt::Write for Recorder {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let at = WRITTEN.load(Ordering::SeqCst);
        let n = s.len().min(CAPACITY - at);
        let bytes = &s.as_bytes()[..n];
        crash_area_write(HEADER + at, bytes);
        CHECKSUM.store(fnv_from(CHECKSUM.load(Ordering::SeqCst), bytes), Ordering::SeqCst);
        WRITTEN.store(at + n, Ordering::SeqCst);
        Ok(())
    }
}
