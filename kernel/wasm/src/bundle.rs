//! A tool as kept on the card: one file holding its manifest and its module, so that the
//! two cannot be separated or mismatched. Layout (little-endian):
//!
//! ```text
//! "KTOOL1\n"  magic (7 bytes)
//! u32         manifest length M
//! u32         module length W
//! u32         FNV-1a of the manifest and module bytes
//! M bytes     manifest (UTF-8 JSON)
//! W bytes     module
//! ```
//!
//! Decoding checks every length and the checksum before anything is parsed: a truncated or
//! corrupted file is an [`Error::Bundle`], and the kernel skips it with a log line.

use crate::{Error, LIMITS};
use alloc::{format, string::String, vec::Vec};

const MAGIC: &[u8; 7] = b"KTOOL1\n";
const HEADER: usize = MAGIC.len() + 12;

/// The largest bundle: the header, the largest manifest and the largest module.
pub const MAX_BYTES: usize = HEADER + LIMITS.manifest_bytes + LIMITS.module_bytes;

fn fnv1a(parts: &[&[u8]]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for part in parts {
        for byte in *part {
            hash ^= u32::from(*byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// The bundle of a manifest's text and a module.
pub fn encode(manifest: &str, module: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + manifest.len() + module.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
    out.extend_from_slice(&(module.len() as u32).to_le_bytes());
    out.extend_from_slice(&fnv1a(&[manifest.as_bytes(), module]).to_le_bytes());
    out.extend_from_slice(manifest.as_bytes());
    out.extend_from_slice(module);
    out
}

/// The manifest text and module of a bundle.
pub fn decode(bytes: &[u8]) -> Result<(String, Vec<u8>), Error> {
    let damaged = |why: &str| Error::Bundle(why.into());
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        return Err(damaged("not a tool bundle (no KTOOL1 header)"));
    }
    let word = |at: usize| {
        let mut four = [0u8; 4];
        four.copy_from_slice(&bytes[at..at + 4]);
        u32::from_le_bytes(four) as usize
    };
    let (manifest_len, module_len, sum) = (word(7), word(11), word(15) as u32);
    if manifest_len > LIMITS.manifest_bytes || module_len > LIMITS.module_bytes {
        return Err(damaged("a length in the header is over the limits"));
    }
    if bytes.len() != HEADER + manifest_len + module_len {
        return Err(Error::Bundle(format!(
            "the file is {} bytes, its header says {}",
            bytes.len(),
            HEADER + manifest_len + module_len
        )));
    }
    let manifest = &bytes[HEADER..HEADER + manifest_len];
    let module = &bytes[HEADER + manifest_len..];
    if fnv1a(&[manifest, module]) != sum {
        return Err(damaged("the checksum does not match (the file is corrupted)"));
    }
    let manifest = core::str::from_utf8(manifest).map_err(|_| damaged("the manifest is not UTF-8"))?;
    Ok((manifest.into(), module.to_vec()))
}
