//! Outcome tracking for plain-language control: every `ask` / `intent_parse` / `intent_run`
//! decision — the request, the proposal, its confidence, which model made it, whether it
//! came from the cache, whether the person confirmed or declined it, whether the tool
//! succeeded, how long deciding took — is kept in a ring (the resource
//! `kernel://decisions`) and appended as one JSON line to [`FILE`] on the card, bounded to
//! [`MAX_FILE`] bytes. The file comes back into the ring at boot, so the history survives a
//! reboot; `cargo xtask model train-intent --decisions FILE` folds the confirmed ones into
//! the training data.

use crate::sync::IrqMutex;
use alloc::{
    collections::VecDeque,
    string::{String, ToString},
    vec::Vec,
};
use mcp::{json, Value};

/// The decisions file on the card's boot partition (an 8.3 name: the kernel writes those).
pub const FILE: &str = "/INTENTS.LOG";

/// The file is rewritten from the ring when an append would make it larger than this.
pub const MAX_FILE: usize = 32 * 1024;

/// Decisions kept in memory (and in the file after a rewrite).
pub const RING: usize = 64;

/// Longest request or proposal kept, in bytes (longer ones are cut at a character).
const MAX_TEXT: usize = 200;

/// What became of a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No tool: the request was refused (unknown, unsure, invalid).
    Refused,
    /// No tool, but the chat model answered the question in words.
    Answered,
    /// A verified proposal handed back without running it (`intent_parse`, or `intent_run`
    /// waiting for `confirm`).
    Proposed,
    /// The person said no.
    Declined,
    /// It ran (at once for a read-only tool, after a yes for others) and succeeded.
    Ran,
    /// It ran and the tool answered with an error.
    Failed,
}

impl Outcome {
    /// The name in the resource and the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Refused => "refused",
            Outcome::Answered => "answered",
            Outcome::Proposed => "proposed",
            Outcome::Declined => "declined",
            Outcome::Ran => "ran",
            Outcome::Failed => "failed",
        }
    }

    fn from_name(name: &str) -> Option<Outcome> {
        [Outcome::Refused, Outcome::Answered, Outcome::Proposed, Outcome::Declined, Outcome::Ran, Outcome::Failed]
            .into_iter()
            .find(|o| o.as_str() == name)
    }
}

/// One decision and what became of it.
#[derive(Clone, Debug)]
pub struct Record {
    /// Number since the first decision on this card (continues across reboots).
    pub id: u64,
    /// The request as the person wrote it (cut to 200 bytes).
    pub request: String,
    /// The proposal with values (`tool {json}` or `none`).
    pub proposal: String,
    /// The model's own line, values as `#n`/`%n`/`@n`/`$n` references (for training).
    pub raw: String,
    /// Confidence of the proposal, 0..1.
    pub confidence: f32,
    /// Which model: "intent", "placed" or "card".
    pub model: String,
    /// Answered from the decision cache.
    pub cached: bool,
    /// The verifier's verdict ("ready", "unknown", ...).
    pub status: String,
    /// What became of it.
    pub outcome: Outcome,
    /// Time to decide, µs.
    pub latency_us: u64,
    /// The tool's error, for [`Outcome::Failed`].
    pub error: Option<String>,
}

impl Record {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "request": self.request, "proposal": self.proposal, "raw": self.raw,
            "confidence": (self.confidence * 1000.0 + 0.5) as u32 as f32 / 1000.0, "model": self.model, "cached": self.cached,
            "status": self.status, "outcome": self.outcome.as_str(), "latency_us": self.latency_us,
            "error": self.error,
        })
    }

    /// A record from one line of the file; `None` for anything malformed (the file is
    /// input like any other).
    fn from_json(line: &[u8]) -> Option<Record> {
        let value = mcp::parse_json(line).ok()?;
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(cut);
        Some(Record {
            id: value.get("id")?.as_u64()?,
            request: text("request")?,
            proposal: text("proposal")?,
            raw: text("raw").unwrap_or_default(),
            confidence: value.get("confidence").and_then(Value::as_f64).filter(|c| (0.0..=1.0).contains(c))? as f32,
            model: text("model").unwrap_or_default(),
            cached: value.get("cached").and_then(Value::as_bool).unwrap_or(false),
            status: text("status")?,
            outcome: Outcome::from_name(value.get("outcome")?.as_str()?)?,
            latency_us: value.get("latency_us").and_then(Value::as_u64).unwrap_or(0),
            error: text("error"),
        })
    }
}

/// `text` cut to [`MAX_TEXT`] bytes at a character boundary.
pub fn cut(text: &str) -> String {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    String::from(&text[..end])
}

struct Log {
    records: VecDeque<Record>,
    next_id: u64,
}

static LOG: IrqMutex<Log> = IrqMutex::new(Log { records: VecDeque::new(), next_id: 1 });

/// Reads the card's decisions back into the ring (the boot task, after the card is up).
/// A missing file is normal; malformed lines are skipped.
pub fn load() {
    let Ok(size) = crate::storage::file_size(FILE) else { return };
    let offset = (size as usize).saturating_sub(MAX_FILE) as u32;
    let bytes = match crate::storage::read(FILE, offset, MAX_FILE) {
        Ok((bytes, _)) => bytes,
        Err(why) => {
            log::warn!("{FILE}: {why}");
            return;
        }
    };
    let mut skipped = 0;
    let mut log = LOG.lock();
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match Record::from_json(line) {
            Some(record) => {
                log.next_id = log.next_id.max(record.id + 1);
                // A line is written when its decision settles; the last one of an id wins.
                log.records.retain(|r| r.id != record.id);
                if log.records.len() >= RING {
                    log.records.pop_front();
                }
                log.records.push_back(record);
            }
            None => skipped += 1,
        }
    }
    let count = log.records.len();
    drop(log);
    if skipped > 0 {
        log::warn!("{FILE}: {skipped} malformed lines skipped");
    }
    log::info!("{count} earlier decisions read from {FILE}");
}

/// Starts a record (its `id` is assigned here); returns the id. Nothing is written to the
/// card until [`settle`].
pub fn open(mut record: Record) -> u64 {
    let mut log = LOG.lock();
    record.id = log.next_id;
    log.next_id += 1;
    if log.records.len() >= RING {
        log.records.pop_front();
    }
    let id = record.id;
    log.records.push_back(record);
    id
}

/// Records what became of decision `id` and appends it to the card.
pub fn settle(id: u64, outcome: Outcome, error: Option<&str>) {
    let line = {
        let mut log = LOG.lock();
        let Some(record) = log.records.iter_mut().find(|r| r.id == id) else { return };
        record.outcome = outcome;
        record.error = error.map(cut);
        record.to_json().to_string()
    };
    append(&line);
}

/// Appends one line to [`FILE`]; rewrites the file from the ring when it would grow past
/// [`MAX_FILE`]. Without a card the ring alone keeps the history.
fn append(line: &str) {
    crate::storage::append_bounded(FILE, line, MAX_FILE, || {
        let mut all = String::new();
        for record in &LOG.lock().records {
            all.push_str(&record.to_json().to_string());
            all.push('\n');
        }
        all
    });
}

/// Counts for `llm_info`: (decisions, proposals confirmed (ran or failed after being
/// proposed), proposals declined).
pub fn stats() -> (usize, usize, usize) {
    let log = LOG.lock();
    let ran = log.records.iter().filter(|r| matches!(r.outcome, Outcome::Ran | Outcome::Failed)).count();
    let declined = log.records.iter().filter(|r| r.outcome == Outcome::Declined).count();
    (log.records.len(), ran, declined)
}

/// The resource `kernel://decisions`: the records, oldest first, and the counts.
pub fn resource() -> String {
    let log = LOG.lock();
    let records: Vec<Value> = log.records.iter().map(Record::to_json).collect();
    let count = |o: Outcome| log.records.iter().filter(|r| r.outcome == o).count();
    let (ran, failed, declined) = (count(Outcome::Ran), count(Outcome::Failed), count(Outcome::Declined));
    let out = json!({
        "file": FILE,
        "kept": RING,
        "counts": {
            "refused": count(Outcome::Refused), "answered": count(Outcome::Answered),
            "proposed": count(Outcome::Proposed), "declined": declined, "ran": ran, "failed": failed,
        },
        "confirmed_share": if ran + failed + declined == 0 { Value::Null } else { json!((ran + failed) as f64 / (ran + failed + declined) as f64) },
        "decisions": records,
    });
    out.to_string()
}
