//! The language models as a kernel service. Two sources, both parsed in place (weights are
//! borrowed, never copied):
//! - the **intent model**, embedded in the kernel image (`kernel/models/intent.gguf`, made
//!   by `cargo xtask model train-intent`): maps requests to tool calls ([`crate::intent`]),
//!   and is the generation model when nothing else is loaded;
//! - a **placed model** (e.g. TinyLlama) put in RAM by the loader (`cargo xtask qemu
//!   --model FILE.gguf`);
//! - a **card model**: a GGUF file read from the SD card's boot partition into RAM, in the
//!   background after boot (the `model` setting of `kingly.txt`, default `model.gguf`;
//!   MCP answers from the start, `llm_info` shows the progress) or by `llm_load`.
//!
//! `llm_generate` uses the active model: the placed one if there is one, else the card
//! model, else the intent model; `llm_load` switches.
//!
//! The loader leaves a 32-byte descriptor at [`descriptor_address`]: the magic
//! `KINGLYMD`, then the model's physical address and length (little-endian u64). The boot
//! code reserves that range before the heap is placed.

use crate::memory::physical_bytes;
use alloc::{format, string::String};
use core::ops::Range;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use inference::{
    gguf::Gguf,
    model::{memory_estimate, Config, Model, Weights},
    tokenizer::Tokenizer,
};
use spin::Once;

/// Why a model is not available or was refused. Only [`ModelError::NotStarted`] goes away
/// by itself; the others need another file, more memory, or a reboot.
#[derive(Clone, Debug)]
pub enum ModelError {
    /// The model service has not started yet.
    NotStarted,
    /// Nothing in that slot: how to put a model there.
    Absent(&'static str),
    /// The file is not a model this engine runs (corrupt, truncated, unsupported).
    File(inference::Error),
    /// A card file whose header promises more bytes than the file has.
    Truncated {
        /// The file on the card.
        file: String,
        /// Bytes its header describes.
        declared: usize,
        /// Bytes the file has.
        actual: usize,
    },
    /// Weights plus working memory do not fit in free memory.
    NoMemory {
        /// Bytes needed.
        needed: usize,
        /// Bytes free.
        free: usize,
        /// At this context length.
        context: usize,
    },
    /// The card could not be read.
    Storage(crate::storage::StorageError),
    /// Not a slot name.
    UnknownSlot(String),
    /// Another card model is loaded; one per boot (its weights stay in memory).
    CardTaken(String),
    /// A card model is being read; it is active once that finishes.
    Loading {
        /// The file being read.
        file: String,
        /// Percent read so far.
        percent: usize,
    },
}

impl core::fmt::Display for ModelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ModelError::NotStarted => write!(f, "the model service has not started"),
            ModelError::Absent(hint) => write!(f, "no model loaded: {hint}"),
            ModelError::File(error) => write!(f, "{error}"),
            ModelError::Truncated { file, declared, actual } => {
                write!(f, "{file} is truncated: its header describes {declared} bytes, the file has {actual}")
            }
            ModelError::NoMemory { needed, free, context } => write!(
                f,
                "model needs {} KiB (weights and working memory at context {context}) but only {} KiB are free",
                needed >> 10,
                free >> 10
            ),
            ModelError::Storage(error) => write!(f, "{error}"),
            ModelError::UnknownSlot(name) => write!(f, "unknown model '{name}': choose 'intent', 'placed' or 'card'"),
            ModelError::Loading { file, percent } => write!(
                f,
                "{file} is still loading from the SD card ({percent}%); try again when llm_info shows it \
                 (or `llm_load model=intent` to use the built-in model meanwhile)"
            ),
            ModelError::CardTaken(file) => {
                write!(
                    f,
                    "'{file}' is already loaded from the card; reboot to load another (its weights stay in memory)"
                )
            }
        }
    }
}

impl From<inference::Error> for ModelError {
    fn from(error: inference::Error) -> Self {
        ModelError::File(error)
    }
}

impl From<crate::storage::StorageError> for ModelError {
    fn from(error: crate::storage::StorageError) -> Self {
        ModelError::Storage(error)
    }
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

static INTENT: Once<Result<Loaded, ModelError>> = Once::new();
static MODEL: Once<Result<Loaded, ModelError>> = Once::new();
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
/// A card model being read: file, bytes done, bytes in all.
#[derive(Clone, Debug)]
pub struct Loading {
    /// The file on the card.
    pub file: String,
    /// Bytes read.
    pub done: usize,
    /// Bytes in the file.
    pub total: usize,
}

impl Loading {
    /// Percent read.
    pub fn percent(&self) -> usize {
        (self.done as u64 * 100 / self.total.max(1) as u64) as usize
    }
}

static LOADING: crate::sync::IrqMutex<Option<Loading>> = crate::sync::IrqMutex::new(None);

/// The card model being read, if one is.
pub fn loading() -> Option<Loading> {
    LOADING.lock().clone()
}

/// Clears [`LOADING`] however a load ends.
struct LoadingGuard;

impl Drop for LoadingGuard {
    fn drop(&mut self) {
        *LOADING.lock() = None;
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
fn parse(bytes: &'static [u8], source: &'static str) -> Result<Loaded, ModelError> {
    let gguf = Gguf::parse(bytes)?;
    let config = Config::from_gguf(&gguf)?;
    let context = context();
    let estimate = memory_estimate(&gguf, context)?;
    let runtime = config.runtime_bytes(context.min(config.max_context));
    let free = crate::memory::heap::stats().free;
    if runtime > free {
        return Err(ModelError::NoMemory { needed: runtime, free, context });
    }
    let weights = Weights::from_gguf(&gguf, &config)?;
    let tokenizer = Tokenizer::from_gguf(&gguf)?;
    let name = gguf.get("general.name").and_then(|v| v.as_str()).unwrap_or("unnamed").into();
    // Re-parse to keep an owned header alongside the model (both borrow `bytes`).
    let header = Gguf::parse(bytes)?;
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

fn load_placed() -> Result<Loaded, ModelError> {
    const HINT: &str = "boot with `cargo xtask qemu --model FILE.gguf`";
    let range = crate::placed::model().ok_or(ModelError::Absent(HINT))?;
    // SAFETY: the range was reserved from the heap at boot (`placed::probe`) and lies in
    // identity-mapped RAM that nothing writes.
    let bytes = unsafe { physical_bytes(range.start, range.len()) }.ok_or(ModelError::Absent(HINT))?;
    parse(bytes, "placed")
}

fn log_model(loaded: &Loaded) {
    if !template(loaded).recognised {
        log::warn!(
            "{} model '{}': unknown chat template, chat messages are laid out as plain text",
            loaded.source,
            loaded.name
        );
    }
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
        None => Err(ModelError::Absent(
            "this kernel was built without kernel/models/intent.gguf (`cargo xtask model train-intent`); \
             boot with `cargo xtask qemu --model FILE.gguf`",
        )),
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
pub fn intent() -> Result<&'static Loaded, ModelError> {
    match INTENT.get() {
        Some(Ok(loaded)) => Ok(loaded),
        Some(Err(why)) => Err(why.clone()),
        None => Err(ModelError::NotStarted),
    }
}

/// The placed model, or why there is none.
pub fn placed() -> Result<&'static Loaded, ModelError> {
    match MODEL.get() {
        Some(Ok(loaded)) => Ok(loaded),
        Some(Err(why)) => Err(why.clone()),
        None => Err(ModelError::NotStarted),
    }
}

/// The card model, or why there is none.
pub fn card() -> Result<&'static Loaded, ModelError> {
    CARD.get().ok_or(ModelError::Absent("none was read from the SD card (`llm_load model=card`)"))
}

/// The model in `slot`, or why there is none.
pub fn slot(slot: Slot) -> Result<&'static Loaded, ModelError> {
    match slot {
        Slot::Intent => intent(),
        Slot::Placed => placed(),
        Slot::Card => card(),
    }
}

/// The model `llm_generate` uses: the one `llm_load` chose, else the placed one if the
/// loader placed one (its error if it was refused), else the card's, else the embedded
/// intent model.
pub fn get() -> Result<&'static Loaded, ModelError> {
    match ACTIVE.load(Ordering::Relaxed) {
        0 => intent(),
        1 => placed(),
        2 => card(),
        _ if crate::placed::model().is_some() => placed(),
        _ if CARD.get().is_some() => card(),
        _ => intent(),
    }
}

/// The model `llm_generate` runs: [`get`], except that while the card model is still being
/// read (and no other was chosen) it is an error saying so, not a silent switch to the
/// small built-in model.
pub fn for_generation() -> Result<&'static Loaded, ModelError> {
    if ACTIVE.load(Ordering::Relaxed) == AUTO && crate::placed::model().is_none() {
        if let Some(loading) = loading() {
            return Err(ModelError::Loading { percent: loading.percent(), file: loading.file });
        }
    }
    get()
}

/// Makes the model in `name` ("intent", "placed" or "card") the active one; returns it, or
/// why not.
pub fn select(name: &str) -> Result<&'static Loaded, ModelError> {
    let chosen = Slot::from_name(name).ok_or_else(|| ModelError::UnknownSlot(name.into()))?;
    let loaded = slot(chosen)?;
    ACTIVE.store(chosen as u8, Ordering::Relaxed);
    Ok(loaded)
}

/// Reads `file` from the SD card and makes it the card model. The memory it needs (file
/// plus working memory at the default context) is checked against free memory first.
/// One card model per boot: its weights are borrowed for the kernel's lifetime.
/// `progress(done, total)` reports the bytes read.
pub fn load_from_card(file: &str, progress: &mut dyn FnMut(usize, usize)) -> Result<&'static Loaded, ModelError> {
    if let Some(loaded) = CARD.get() {
        return match loaded.name_on_card.as_deref() {
            Some(name) if name == file => Ok(loaded),
            other => Err(ModelError::CardTaken(other.unwrap_or("?").into())),
        };
    }
    let path = format!("/{file}");
    let _loading = {
        let mut loading = LOADING.lock();
        if let Some(busy) = loading.as_ref() {
            return Err(ModelError::Loading { file: busy.file.clone(), percent: busy.percent() });
        }
        *loading = Some(Loading { file: file.into(), done: 0, total: 0 });
        LoadingGuard
    };
    // Judge the file by its header before reading hundreds of megabytes of it: a GGUF, a
    // Llama, and weights plus working memory that fit in free memory.
    // The header is read in pieces until it parses (its vocabulary is most of it), with
    // `progress` between pieces so a background load lets the other tasks run.
    const PIECE: usize = 256 << 10;
    let mut head: alloc::vec::Vec<u8> = alloc::vec::Vec::new();
    let (header, size) = loop {
        let (piece, size) = crate::storage::read(&path, head.len() as u32, PIECE)?;
        let size = size as usize;
        head.extend_from_slice(&piece);
        progress(0, size);
        match Gguf::parse_header(&head) {
            Ok(_) => break (Gguf::parse_header(&head)?, size),
            Err(_) if !piece.is_empty() && head.len() < HEADER_BYTES.min(size) => continue,
            Err(error) => return Err(error.into()),
        }
    };
    if header.file_size() > size {
        return Err(ModelError::Truncated { file: file.into(), declared: header.file_size(), actual: size });
    }
    let context = context();
    let needed = memory_estimate(&header, context)?.max(size);
    let free = crate::memory::heap::stats().free;
    if needed > free {
        return Err(ModelError::NoMemory { needed, free, context });
    }
    let started = crate::arch::cpu::micros();
    let mut track = |done: usize, total: usize| {
        if let Some(loading) = LOADING.lock().as_mut() {
            (loading.done, loading.total) = (done, total);
        }
        progress(done, total);
    };
    let bytes = crate::storage::read_to_static(&path, &mut track)?;
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

/// At boot: the card model to read, from the settings (`model`, default `model.gguf`),
/// when a card is present, the file is there and the loader placed no model. A missing file
/// is not an error (logged).
pub fn card_model_to_load() -> Option<String> {
    if crate::placed::model().is_some() || crate::storage::card().is_err() {
        return None;
    }
    let file = crate::storage::settings().model?;
    match crate::storage::file_size(&format!("/{file}")) {
        Err(crate::storage::StorageError::NotFound(_)) => {
            log::info!("no {file} on the card: no card model");
            None
        }
        Err(error) => {
            log::warn!("card model {file}: {error}");
            None
        }
        Ok(_) => Some(file),
    }
}

/// The boot's background task: reads `file` from the card and makes it the card model. MCP
/// answers meanwhile: between steps of the read the other tasks run. Progress is a log
/// line every 10 % (on the console, or as MCP log notifications once a client speaks there)
/// and in `llm_info`. A refused file is logged and the kernel runs on.
pub async fn load_card_model_in_background(file: String) {
    // The console and the network get a turn before the card is read.
    crate::executor::yield_now().await;
    let started = crate::arch::cpu::micros();
    let mut shown = None;
    let mut progress = |done: usize, total: usize| {
        let percent = done * 100 / total.max(1);
        if shown.is_none_or(|last| percent >= last + 10 || (percent == 100 && last != 100)) {
            shown = Some(percent);
            let seconds = crate::arch::cpu::micros().saturating_sub(started).max(1) as f64 / 1e6;
            log::info!(
                "loading {file} from the SD card: {percent:3}% ({} of {} KiB, {:.1} MiB/s)",
                done >> 10,
                total >> 10,
                done as f64 / seconds / (1 << 20) as f64
            );
        }
        crate::executor::run_others();
    };
    if let Err(why) = load_from_card(&file, &mut progress) {
        log::warn!("card model refused: {why}");
    }
}

/// The chat template of `loaded` (plain completion when it has none or an unknown one).
pub fn template(loaded: &Loaded) -> inference::chat::Template {
    inference::chat::Template::from_gguf_template(loaded.gguf.get("tokenizer.chat_template").and_then(|v| v.as_str()))
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
