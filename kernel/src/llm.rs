//! The language models as a kernel service. Two sources, both parsed in place (weights are
//! borrowed, never copied):
//! - the **intent model**, embedded in the kernel image (`kernel/models/intent.gguf`, made
//!   by `cargo xtask model train-intent`): maps requests to tool calls ([`crate::intent`]),
//!   and is the generation model when nothing else is loaded;
//! - a **placed model** (e.g. TinyLlama) put in RAM by the loader (`cargo xtask qemu
//!   --model FILE.gguf`);
//! - a **card model**: a GGUF file read from the SD card's boot partition into RAM, at boot
//!   (the `model` setting of `kingly.txt`, default `model.gguf`) or by `llm_load`.
//!
//! `llm_generate` uses the active model: the placed one if there is one, else the card
//! model, else the intent model; `llm_load` switches.
//!
//! The loader leaves a 32-byte descriptor at [`descriptor_address`]: the magic
//! `KINGLYMD`, then the model's physical address and length (little-endian u64). The boot
//! code reserves that range before the heap is placed.

use crate::memory::physical_bytes;
use alloc::{
    format,
    string::{String, ToString},
};
use core::ops::Range;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use inference::{
    gguf::Gguf,
    model::{memory_estimate, Config, Model, Weights},
    tokenizer::Tokenizer,
};
use spin::Once;

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
    /// Where it came from: "embedded", "placed" or "card".
    pub source: &'static str,
    /// The file name on the SD card (card models).
    pub name_on_card: Option<String>,
    /// How long reading it from the card took, in µs (card models).
    pub load_micros: u64,
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
static CARD: Once<Loaded> = Once::new();
/// The slot `llm_load` chose ([`Slot`] as u8); `AUTO` = the best one available.
static ACTIVE: AtomicU8 = AtomicU8::new(AUTO);
const AUTO: u8 = u8::MAX;

/// Where a model comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Slot {
    /// Built into the image.
    Intent = 0,
    /// Put in RAM by the loader.
    Placed = 1,
    /// Read from the SD card.
    Card = 2,
}

impl Slot {
    /// From its name.
    pub fn from_name(name: &str) -> Option<Slot> {
        match name {
            "intent" => Some(Slot::Intent),
            "placed" => Some(Slot::Placed),
            "card" => Some(Slot::Card),
            _ => None,
        }
    }
}
static TOKENS: AtomicU64 = AtomicU64::new(0);
static TOKEN_MICROS: AtomicU64 = AtomicU64::new(0);

/// Bytes read to judge a card model before loading it (the header with a 32000-token
/// vocabulary is about 1 MB).
const HEADER_BYTES: usize = 4 << 20;

/// The context length the tools allocate: the settings' `context` (default 512).
pub fn context() -> usize {
    crate::storage::settings().context
}

/// Parses a model file and checks it fits in the free heap at the default context.
fn parse(bytes: &'static [u8], source: &'static str) -> Result<Loaded, String> {
    let gguf = Gguf::parse(bytes).map_err(|e| format!("{e}"))?;
    let config = Config::from_gguf(&gguf).map_err(|e| format!("{e}"))?;
    let context = context();
    let estimate = memory_estimate(&gguf, context).map_err(|e| format!("{e}"))?;
    let runtime = config.runtime_bytes(context.min(config.max_context));
    let free = crate::memory::heap::stats().free;
    if runtime > free {
        return Err(format!(
            "model needs {} KiB of working memory at context {context} but only {} KiB are free",
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
    Ok(Loaded {
        gguf: header,
        model: Model { config, weights },
        tokenizer,
        range,
        estimate,
        name,
        source,
        name_on_card: None,
        load_micros: 0,
    })
}

fn load_placed() -> Result<Loaded, String> {
    let Some(range) = crate::placed::model() else {
        return Err("no model loaded: boot with `cargo xtask qemu --model FILE.gguf`".into());
    };
    // SAFETY: the range was reserved from the heap at boot (`placed::probe`) and lies in
    // identity-mapped RAM that nothing writes.
    let bytes = unsafe { physical_bytes(range.start, range.len()) }.ok_or("model range wraps around")?;
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
        Err(why) if crate::placed::model().is_some() => log::warn!("model refused: {why}"),
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

/// The card model, or why there is none.
pub fn card() -> Result<&'static Loaded, &'static str> {
    CARD.get().ok_or("no model was loaded from the SD card")
}

/// The model in `slot`, or why there is none.
pub fn slot(slot: Slot) -> Result<&'static Loaded, &'static str> {
    match slot {
        Slot::Intent => intent(),
        Slot::Placed => placed(),
        Slot::Card => card(),
    }
}

/// The model `llm_generate` uses: the one `llm_load` chose, else the placed one if the
/// loader placed one (its error if it was refused), else the card's, else the embedded
/// intent model.
pub fn get() -> Result<&'static Loaded, &'static str> {
    match ACTIVE.load(Ordering::Relaxed) {
        0 => intent(),
        1 => placed(),
        2 => card(),
        _ if crate::placed::model().is_some() => placed(),
        _ if CARD.get().is_some() => card(),
        _ => intent(),
    }
}

/// Makes the model in `name` ("intent", "placed" or "card") the active one; returns it, or
/// why not.
pub fn select(name: &str) -> Result<&'static Loaded, String> {
    let Some(chosen) = Slot::from_name(name) else {
        return Err(format!("unknown model '{name}': choose 'intent', 'placed' or 'card'"));
    };
    let loaded = slot(chosen)?;
    ACTIVE.store(chosen as u8, Ordering::Relaxed);
    Ok(loaded)
}

/// Reads `file` from the SD card and makes it the card model. The memory it needs (file
/// plus working memory at the default context) is checked against free memory first.
/// One card model per boot: its weights are borrowed for the kernel's lifetime.
/// `progress(done, total)` reports the bytes read.
pub fn load_from_card(file: &str, progress: &mut dyn FnMut(usize, usize)) -> Result<&'static Loaded, String> {
    if let Some(loaded) = CARD.get() {
        return if loaded.name_on_card.as_deref() == Some(file) {
            Ok(loaded)
        } else {
            Err(format!(
                "'{}' is already loaded from the card; reboot to load another (its weights stay in memory)",
                loaded.name_on_card.as_deref().unwrap_or("?")
            ))
        };
    }
    let path = format!("/{file}");
    // Judge the file by its header before reading hundreds of megabytes of it: a GGUF, a
    // Llama, and weights plus working memory that fit in free memory.
    let (head, size) = crate::storage::read(&path, 0, HEADER_BYTES).map_err(|e| e.to_string())?;
    let size = size as usize;
    let header = Gguf::parse_header(&head).map_err(|e| format!("{file}: {e}"))?;
    if header.file_size() > size {
        return Err(format!(
            "{file} is truncated: its header describes {} bytes, the file has {size}",
            header.file_size()
        ));
    }
    let context = context();
    let needed = memory_estimate(&header, context).map_err(|e| format!("{file}: {e}"))?.max(size);
    let free = crate::memory::heap::stats().free;
    if needed > free {
        return Err(format!(
            "{file} needs {} KiB (weights and working memory at context {context}) but only {} KiB are free",
            needed >> 10,
            free >> 10
        ));
    }
    let started = crate::arch::cpu::micros();
    let bytes = crate::storage::read_to_static(&path, progress).map_err(|e| e.to_string())?;
    let micros = crate::arch::cpu::micros().saturating_sub(started).max(1);
    let mut loaded = parse(bytes, "card")?;
    loaded.name_on_card = Some(file.into());
    loaded.load_micros = micros;
    let loaded = CARD.call_once(|| loaded);
    log_model(loaded);
    log::info!(
        "read {file} from the card: {} KiB in {} ms ({} KiB/s)",
        size >> 10,
        micros / 1000,
        (size as u64 * 1_000_000 / micros) >> 10
    );
    Ok(loaded)
}

/// At boot: loads the card model named by the settings (`model`, default `model.gguf`)
/// when a card is present and the loader placed no model, with a progress line on the
/// console. A missing file is not an error; a refused one is logged and the kernel runs on.
pub fn load_card_model_at_boot() {
    if crate::placed::model().is_some() || crate::storage::card().is_err() {
        return;
    }
    let Some(file) = crate::storage::settings().model else { return };
    match crate::storage::file_size(&format!("/{file}")) {
        Err(crate::storage::StorageError::NotFound(_)) => {
            log::info!("no {file} on the card: no card model");
            return;
        }
        Err(error) => {
            log::warn!("card model {file}: {error}");
            return;
        }
        Ok(_) => {}
    }
    let started = crate::arch::cpu::micros();
    let mut last = 0u64;
    let mut progress = |done: usize, total: usize| {
        let now = crate::arch::cpu::micros();
        if now.saturating_sub(last) < 250_000 && done < total {
            return;
        }
        last = now;
        let seconds = now.saturating_sub(started).max(1) as f64 / 1e6;
        crate::print!(
            "\rloading {file} from the SD card: {:3}% ({} of {} KiB, {:.1} MiB/s)",
            done * 100 / total.max(1),
            done >> 10,
            total >> 10,
            done as f64 / seconds / (1 << 20) as f64
        );
    };
    let result = load_from_card(&file, &mut progress);
    if last != 0 {
        crate::println!();
    }
    if let Err(why) = result {
        log::warn!("card model refused: {why}");
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
