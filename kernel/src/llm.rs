//! The language models as a kernel service. Two sources, both parsed in place (weights are
//! borrowed, never copied):
//! - the **intent model**, embedded in the kernel image (`kernel/models/intent.gguf`, made
//!   by `cargo xtask model train-intent`): maps requests to tool calls ([`crate::intent`]),
//!   and is the generation model when nothing else is loaded;
//! - a **placed model** (e.g. TinyLlama) put in RAM by the loader (`cargo xtask qemu
//!   --model FILE.gguf`, later the SD card).
//!
//! `llm_generate` uses the active model: the placed one if there is one, else the intent
//! model; `llm_load` switches.
//!
//! The loader leaves a 32-byte descriptor at [`descriptor_address`]: the magic
//! `KINGLYMD`, then the model's physical address and length (little-endian u64). The boot
//! code reserves that range before the heap is placed.

use crate::{board::CURRENT, memory::physical_bytes};
use alloc::{format, string::String};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Where it came from: "embedded" or "placed".
    pub source: &'static str,
}

/// A byte array aligned for the GGUF reader (tensor data is 32-byte aligned in the file).
#[repr(C, align(64))]
struct Aligned<B: ?Sized>(B);

/// The intent model, built into the image.
#[cfg(intent_model)]
static INTENT_FILE: Option<&Aligned<[u8]>> = Some(&Aligned(*include_bytes!("../models/intent.gguf")));
#[cfg(not(intent_model))]
static INTENT_FILE: Option<&Aligned<[u8]>> = None;

static INTENT: Once<Result<Loaded, String>> = Once::new();
static MODEL: Once<Result<Loaded, String>> = Once::new();
static PLACED: Once<Range<usize>> = Once::new();
/// `llm_load` chose the intent model although a placed model exists.
static PREFER_INTENT: AtomicBool = AtomicBool::new(false);
static TOKENS: AtomicU64 = AtomicU64::new(0);
static TOKEN_MICROS: AtomicU64 = AtomicU64::new(0);

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

/// Parses a model file and checks it fits in the free heap at the default context.
fn parse(bytes: &'static [u8], source: &'static str) -> Result<Loaded, String> {
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
    let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
    Ok(Loaded { gguf: header, model: Model { config, weights }, tokenizer, range, estimate, name, source })
}

fn load_placed() -> Result<Loaded, String> {
    let Some(range) = PLACED.get().cloned() else {
        return Err("no model loaded: boot with `cargo xtask qemu --model FILE.gguf`".into());
    };
    let bytes = physical_bytes(range.start, range.len()).ok_or("model range wraps around")?;
    parse(bytes, "placed")
}

fn log_model(loaded: &Loaded) {
    let c = &loaded.model.config;
    log::info!(
        "{} model '{}': {} layers, dim {}, vocab {}, {} KiB at {:#x}",
        loaded.source,
        loaded.name,
        c.n_layers,
        c.dim,
        c.vocab_size,
        loaded.range.len() >> 10,
        loaded.range.start
    );
}

/// Parses the embedded and the placed model once (at boot, after the heap); logs them.
pub fn init() {
    let intent = INTENT.call_once(|| match INTENT_FILE {
        Some(file) => parse(&file.0, "embedded"),
        None => Err("no model loaded: this kernel was built without kernel/models/intent.gguf \
             (`cargo xtask model train-intent`); boot with `cargo xtask qemu --model FILE.gguf`"
            .into()),
    });
    match intent {
        Ok(loaded) => log_model(loaded),
        Err(why) if INTENT_FILE.is_some() => log::error!("embedded intent model refused: {why}"),
        Err(_) => {}
    }
    match MODEL.call_once(load_placed) {
        Ok(loaded) => log_model(loaded),
        Err(why) if PLACED.get().is_some() => log::warn!("model refused: {why}"),
        Err(_) => {}
    }
}

/// The embedded intent model.
pub fn intent() -> Result<&'static Loaded, &'static str> {
    match INTENT.get() {
        Some(Ok(loaded)) => Ok(loaded),
        Some(Err(why)) => Err(why.as_str()),
        None => Err("the model service has not started"),
    }
}

/// The placed model, or why there is none.
pub fn placed() -> Result<&'static Loaded, &'static str> {
    match MODEL.get() {
        Some(Ok(loaded)) => Ok(loaded),
        Some(Err(why)) => Err(why.as_str()),
        None => Err("the model service has not started"),
    }
}

/// The model `llm_generate` uses: the placed one if the loader placed one (its error if it
/// was refused), else the embedded intent model; `llm_load` can choose.
pub fn get() -> Result<&'static Loaded, &'static str> {
    if PLACED.get().is_some() && !PREFER_INTENT.load(Ordering::Relaxed) {
        placed()
    } else {
        intent()
    }
}

/// Makes `name` ("intent" or "placed") the active model; returns it, or why not.
pub fn select(name: &str) -> Result<&'static Loaded, String> {
    match name {
        "intent" => {
            let loaded = intent()?;
            PREFER_INTENT.store(true, Ordering::Relaxed);
            Ok(loaded)
        }
        "placed" => {
            let loaded = placed()?;
            PREFER_INTENT.store(false, Ordering::Relaxed);
            Ok(loaded)
        }
        other => Err(format!("unknown model '{other}': choose 'intent' or 'placed'")),
    }
}

/// Counts generated tokens for the running tokens/s figure.
pub fn record_tokens(tokens: usize, micros: u64) {
    TOKENS.fetch_add(tokens as u64, Ordering::Relaxed);
    TOKEN_MICROS.fetch_add(micros, Ordering::Relaxed);
}

/// Tokens processed and the time spent, since boot.
pub fn token_stats() -> (u64, u64) {
    (TOKENS.load(Ordering::Relaxed), TOKEN_MICROS.load(Ordering::Relaxed))
}
