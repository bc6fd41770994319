//! What the QEMU loader placed in guest RAM: a model file (`cargo xtask qemu --model`) and
//! a settings text (`--net --token`), each found through a small descriptor at a fixed
//! address.
//!
//! Only emulated boards look for them. On a real board RAM is not cleared by a warm reset,
//! so a descriptor left by anything could otherwise be trusted as if the owner had put it
//! there (a network token, a model).
//!
//! Model descriptor at RAM + 256 MiB: magic `KINGLYMD`, u64 start, u64 length (the file
//! itself lies above the descriptor). Settings descriptor 64 KiB below it: magic
//! `KINGLYST`, u64 length, then the text of a `kingly.txt` (at most 16 KiB).

use crate::{board::CURRENT, memory::physical_bytes};
use core::ops::Range;
use spin::Once;

const MODEL_MAGIC: &[u8; 8] = b"KINGLYMD";
const SETTINGS_MAGIC: &[u8; 8] = b"KINGLYST";

static MODEL: Once<Range<usize>> = Once::new();
static SETTINGS: Once<&'static [u8]> = Once::new();

/// Where the loader puts the model descriptor: 256 MiB into RAM.
fn model_descriptor() -> usize {
    CURRENT.ram.0 + 0x1000_0000
}

/// Where the loader puts the settings descriptor: 64 KiB below the model descriptor.
fn settings_descriptor() -> usize {
    model_descriptor() - 0x1_0000
}

fn word(bytes: &[u8], at: usize) -> usize {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w) as usize
}

/// Looks for both descriptors in `ram` (the RAM region holding them) and returns the
/// ranges to keep out of the heap. Call once, before the heap exists.
pub fn probe(ram: Range<usize>) -> [Option<Range<usize>>; 2] {
    if !CURRENT.qemu {
        return [None, None];
    }
    [probe_model(&ram), probe_settings(&ram)]
}

fn probe_model(ram: &Range<usize>) -> Option<Range<usize>> {
    let descriptor = model_descriptor();
    if !ram.contains(&descriptor) || !ram.contains(&(descriptor + 31)) {
        return None;
    }
    // SAFETY: the 32 bytes lie in RAM (checked above) that nothing has written yet: the
    // heap does not exist before this probe, and the range is identity mapped.
    let bytes = unsafe { physical_bytes(descriptor, 32) }?;
    if &bytes[..8] != MODEL_MAGIC {
        return None;
    }
    let (start, len) = (word(bytes, 8), word(bytes, 16));
    let end = start.checked_add(len)?;
    if len == 0 || start < descriptor + 32 || end > ram.end {
        return None;
    }
    MODEL.call_once(|| start..end);
    // Reserve the descriptor page too.
    Some(descriptor..end)
}

fn probe_settings(ram: &Range<usize>) -> Option<Range<usize>> {
    let at = settings_descriptor();
    if !ram.contains(&at) || !ram.contains(&(at + 16)) {
        return None;
    }
    // SAFETY: as for the model descriptor: unwritten RAM, before the heap exists.
    let head = unsafe { physical_bytes(at, 16) }?;
    if &head[..8] != SETTINGS_MAGIC {
        return None;
    }
    let len = word(head, 8).min(formats::settings::MAX_FILE_BYTES);
    if !ram.contains(&(at + 16 + len)) {
        return None;
    }
    // SAFETY: the text lies in RAM (checked above) and is reserved from the heap by the
    // caller before any allocation, so nothing writes it for the rest of the kernel's life.
    let text = unsafe { physical_bytes(at + 16, len) }?;
    SETTINGS.call_once(|| text);
    Some(at..at + 16 + len)
}

/// The placed model file's address range, if the loader placed one.
pub fn model() -> Option<Range<usize>> {
    MODEL.get().cloned()
}

/// The placed settings text, if the loader placed one.
pub fn settings() -> Option<&'static [u8]> {
    SETTINGS.get().copied()
}
