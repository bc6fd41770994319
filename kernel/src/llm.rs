//! The language model as a kernel service: a GGUF model placed in RAM by the loader
//! (`cargo xtask qemu --model FILE.gguf`, later the SD card), parsed in place — weights
//! are borrowed from that memory, never copied — and run by the `llm_*` tools.
//!
//! The loader leaves a 32-byte descriptor at [`descriptor_address`]: the magic
//! `KINGLYMD`, then the model's physical address and length (little-endian u64). The boot
//! code reserves that range before the heap is placed.

use crate::{board::CURRENT, memory::physical_bytes};
use alloc::{format, string::String};
use core::ops::Range;
use inference::{
    gguf::Gguf,
    model::{memory_estimate, Config, Model, Weights},
    tokenizer::Tokenizer,
};
use spin::Once;

const MAGIC: &[u8; 8] = b"KINGLYMD";

/// Where the loader puts the model descriptor: 256 MiB into RAM.
pub fn descriptor_address() -> usize {
    CURRENT.ram.0 + 0x1000_0000
}

/// A model ready to run.
pub struct Loaded {
    /// The parsed file.
    pub gguf: Gguf<'static>,
    /// Shape and weights.
    pub model: Model<'static>,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Where it lives.
    pub range: Range<usize>,
    /// Memory estimate at the default context.
    pub estimate: usize,
    /// The model's name from its metadata.
    pub name: String,
}

static MODEL: Once<Result<Loaded, String>> = Once::new();
static PLACED: Once<Range<usize>> = Once::new();

/// Default context length the tools allocate.
pub const DEFAULT_CONTEXT: usize = 512;

/// Reads the loader's descriptor (MMU may still be off: byte reads only). Returns the
/// model's range to reserve, if a model was placed and the descriptor is sane.
pub fn probe(ram: Range<usize>) -> Option<Range<usize>> {
    let descriptor = descriptor_address();
    if !ram.contains(&descriptor) || !ram.contains(&(descriptor + 31)) {
        return None;
    }
    let bytes = physical_bytes(descriptor, 32)?;
    if &bytes[..8] != MAGIC {
        return None;
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(w) as usize
    };
    let (start, len) = (word(8), word(16));
    let end = start.checked_add(len)?;
    if len == 0 || start < descriptor + 32 || end > ram.end {
        return None;
    }
    PLACED.call_once(|| start..end);
    // Reserve the descriptor page too.
    Some(descriptor..end)
}

fn load() -> Result<Loaded, String> {
    let Some(range) = PLACED.get().cloned() else {
        return Err("no model loaded: boot with `cargo xtask qemu --model FILE.gguf`".into());
    };
    let bytes = physical_bytes(range.start, range.len()).ok_or("model range wraps around")?;
    let gguf = Gguf::parse(bytes).map_err(|e| format!("{e}"))?;
    let config = Config::from_gguf(&gguf).map_err(|e| format!("{e}"))?;
    let estimate = memory_estimate(&gguf, DEFAULT_CONTEXT).map_err(|e| format!("{e}"))?;
    let runtime = config.runtime_bytes(DEFAULT_CONTEXT.min(config.max_context));
    let free = crate::memory::heap::stats().free;
    if runtime > free {
        return Err(format!(
            "model needs {} KiB of working memory at context {DEFAULT_CONTEXT} but only {} KiB are free",
            runtime >> 10,
            free >> 10
        ));
    }
    let weights = Weights::from_gguf(&gguf, &config).map_err(|e| format!("{e}"))?;
    let tokenizer = Tokenizer::from_gguf(&gguf).map_err(|e| format!("{e}"))?;
    let name = gguf.get("general.name").and_then(|v| v.as_str()).unwrap_or("unnamed").into();
    // Re-parse to keep an owned header alongside the model (both borrow `bytes`).
    let header = Gguf::parse(bytes).map_err(|e| format!("{e}"))?;
    Ok(Loaded { gguf: header, model: Model { config, weights }, tokenizer, range, estimate, name })
}

/// Parses the placed model once (at boot, after the heap); logs the outcome.
pub fn init() {
    let result = MODEL.call_once(load);
    match result {
        Ok(loaded) => {
            let c = &loaded.model.config;
            log::info!(
                "model '{}': {} layers, dim {}, vocab {}, {} KiB at {:#x}",
                loaded.name,
                c.n_layers,
                c.dim,
                c.vocab_size,
                loaded.range.len() >> 10,
                loaded.range.start
            );
        }
        Err(why) if PLACED.get().is_some() => log::warn!("model refused: {why}"),
        Err(_) => {}
    }
}

/// The loaded model, or why there is none.
pub fn get() -> Result<&'static Loaded, &'static str> {
    match MODEL.get() {
        Some(Ok(loaded)) => Ok(loaded),
        Some(Err(why)) => Err(why.as_str()),
        None => Err("the model service has not started"),
    }
}
