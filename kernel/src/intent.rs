//! Natural-language control: the intent model proposes a tool call, the kernel verifies it,
//! the caller executes it.
//!
//! A request ("how much memory is free?") goes through the embedded intent model
//! ([`crate::llm::intent`]) with the prompt format of [`inference::intent`] (shared with the
//! trainer, `cargo xtask model train-intent`), which yields a proposal text such as `memory_stats {}` or `none`, and a confidence. The kernel then
//! checks, in order: the model recognised the request; the confidence clears
//! [`THRESHOLD`]; the tool exists on this kernel; the arguments are a JSON object valid
//! against the tool's input schema. Only then is the decision `Ready`, carrying the tool's
//! annotations so the caller can run read-only tools at once and ask before others.
//!
//! Decisions are cached by normalised request text (bounded, oldest evicted); hits and
//! misses are counted for `llm_info`.

use crate::sync::IrqMutex;
use alloc::{
    collections::VecDeque,
    format,
    string::{String, ToString},
    vec::Vec,
};
use core::sync::atomic::{AtomicU64, Ordering};
use mcp::{Annotations, Server, Value};
use spin::Once;

/// Proposals below this confidence are not executed (chosen from the held-out evaluation
/// in `kernel/models/intent.md`).
pub const THRESHOLD: f32 = 0.5;

/// Cached decisions.
const CACHE_ENTRIES: usize = 128;

/// A tool as the verifier sees it.
struct Entry {
    name: String,
    title: String,
    schema: Value,
    hints: Annotations,
}

static CATALOG: Once<Vec<Entry>> = Once::new();
static CACHE: IrqMutex<VecDeque<(String, Decision)>> = IrqMutex::new(VecDeque::new());
static HITS: AtomicU64 = AtomicU64::new(0);
/// The answers the intent model was taught (decoding is restricted to them).
static ANSWERS: Once<Option<inference::intent::Answers>> = Once::new();
static MISSES: AtomicU64 = AtomicU64::new(0);

/// Records the registry's tools (names, input schemas, annotations) for verification.
pub fn set_catalog(server: &Server) {
    CATALOG.call_once(|| {
        server
            .tools()
            .iter()
            .filter(|t| !t.name().starts_with("intent_"))
            .filter(|t| !t.is_local_only())
            .map(|t| Entry {
                name: t.name().into(),
                title: t.title_text().into(),
                schema: t.schema().clone(),
                hints: t.hints(),
            })
            .collect()
    });
}

/// The verdict on a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// A valid call of an existing tool.
    Ready,
    /// The model does not map the request to any tool.
    Unknown,
    /// The model's best guess is too uncertain to act on.
    LowConfidence,
    /// The proposed tool does not exist on this kernel (board or build).
    Unavailable,
    /// The proposed arguments are not valid for the tool.
    Invalid,
}

impl Status {
    /// Name used in tool output.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::Unknown => "unknown",
            Status::LowConfidence => "low_confidence",
            Status::Unavailable => "unavailable",
            Status::Invalid => "invalid",
        }
    }
}

/// What the kernel decided about a request.
#[derive(Clone, Debug)]
pub struct Decision {
    /// The model's raw proposal (`tool {json}` or `none`).
    pub proposal: String,
    /// The model's confidence in it (0..1).
    pub confidence: f32,
    /// Proposed tool, if any.
    pub tool: Option<String>,
    /// Proposed arguments (an object when valid).
    pub arguments: Value,
    /// The verdict.
    pub status: Status,
    /// Annotations of the proposed tool (when it exists).
    pub hints: Option<Annotations>,
    /// Human explanation of the verdict.
    pub message: String,
    /// Answered from the cache.
    pub cached: bool,
    /// Which model proposed it: "intent" (built in) or "placed" (the big model, with the
    /// assembled context, when the intent model did not know).
    pub model: &'static str,
}

/// What the model sees of a request, and the cache key ([`inference::intent::normalise`]).
pub fn normalise(text: &str) -> String {
    inference::intent::normalise(text)
}

/// Why no decision could be made (a refusal is a decision, not an error).
#[derive(Debug)]
pub enum IntentError {
    /// The request has no words.
    Empty,
    /// The intent model is not available.
    Model(crate::llm::ModelError),
    /// The intent model failed to run.
    Run(inference::Error),
}

impl core::fmt::Display for IntentError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IntentError::Empty => write!(f, "say what you want the machine to do, e.g. 'ask how much memory is free'"),
            IntentError::Model(error) => write!(f, "intent model: {error}"),
            IntentError::Run(error) => write!(f, "intent model: {error}"),
        }
    }
}

/// Decides what to do about `text` (from the cache when seen before).
pub fn decide(text: &str) -> Result<Decision, IntentError> {
    let key = normalise(text);
    if key.is_empty() {
        return Err(IntentError::Empty);
    }
    if let Some((_, hit)) = CACHE.lock().iter().find(|(k, _)| *k == key) {
        HITS.fetch_add(1, Ordering::Relaxed);
        let mut decision = hit.clone();
        decision.cached = true;
        return Ok(decision);
    }
    MISSES.fetch_add(1, Ordering::Relaxed);
    let (proposal, confidence) = propose(&key)?;
    let mut decision = verify(proposal, confidence);
    if decision.status != Status::Ready {
        if let Some(better) = ask_placed_model(&key) {
            decision = better;
        }
    }
    let mut cache = CACHE.lock();
    if cache.len() >= CACHE_ENTRIES {
        cache.pop_front();
    }
    cache.push_back((key, decision.clone()));
    Ok(decision)
}

/// Runs the intent model on a normalised request.
fn propose(request: &str) -> Result<(String, f32), IntentError> {
    let model = crate::llm::intent().map_err(IntentError::Model)?;
    let answers = ANSWERS.call_once(|| inference::intent::Answers::from_gguf(&model.gguf, &model.tokenizer));
    let proposal = inference::intent::propose(
        &model.model,
        &model.tokenizer,
        request,
        answers.as_ref(),
        &crate::smp::pool::Pool::ALL,
    )
    .map_err(IntentError::Run)?;
    Ok((proposal.text, proposal.confidence))
}

/// Checks a proposal against the catalog (see the module docs for the order).
fn verify(proposal: String, confidence: f32) -> Decision {
    let mut decision = Decision {
        proposal: proposal.clone(),
        confidence,
        tool: None,
        arguments: Value::Object(mcp::Map::new()),
        status: Status::Unknown,
        hints: None,
        message: String::new(),
        cached: false,
        model: "intent",
    };
    let Some((tool, arguments)) = inference::intent::split(&proposal) else {
        decision.message = "I don't know a tool for that. Type 'tools' to see what this machine can do.".into();
        return decision;
    };
    decision.tool = Some(tool.to_string());
    let parsed = mcp::parse_json(arguments.as_bytes());
    if let Ok(value) = &parsed {
        decision.arguments = value.clone();
    }
    if confidence < THRESHOLD {
        decision.status = Status::LowConfidence;
        decision.message =
            format!("not sure what you mean (best guess `{proposal}`, confidence {confidence:.2}); try rephrasing");
        return decision;
    }
    let Some(entry) = CATALOG.get().and_then(|c| c.iter().find(|e| e.name == tool)) else {
        decision.status = Status::Unavailable;
        decision.message = format!("that needs the tool '{tool}', which this kernel does not have on this board");
        return decision;
    };
    decision.hints = Some(entry.hints);
    let value = match parsed {
        Ok(value @ Value::Object(_)) => value,
        _ => {
            decision.status = Status::Invalid;
            decision.message = format!("the model proposed malformed arguments for {tool}: {arguments}");
            return decision;
        }
    };
    if let Err(why) = mcp::schema::validate(&entry.schema, &value) {
        decision.status = Status::Invalid;
        decision.message = format!("the proposed call {tool} {arguments} is not valid: {why}");
        return decision;
    }
    decision.status = Status::Ready;
    decision.message = format!("{tool} {arguments}");
    decision
}

/// Tokens of context the big model gets for a request.
pub const CONTEXT_BUDGET: usize = 384;

/// The system message for a chat model: how to answer, the machine's state, and the tools
/// most related to `request` (by shared words), as many as fit in `budget` tokens of
/// `tokenizer`. Returns the message, its token count and how many tools it lists.
pub fn context(request: &str, tokenizer: &inference::tokenizer::Tokenizer, budget: usize) -> (String, usize, usize) {
    let heap = crate::memory::heap::stats();
    let rules = "Answer with one line: a tool name and its JSON arguments, like memory_stats {}. Answer none if no tool fits.\n";
    let state = format!(
        "You control a {} running Kingly OS. State: {} cores online, {} MiB heap free, up {} s.\n",
        crate::board::CURRENT.description,
        crate::smp::online_count(),
        heap.free >> 20,
        crate::arch::cpu::micros() / 1_000_000
    );
    // The rules always go in (cut to the budget if they alone exceed it); the state and the
    // tool lines only while they fit.
    let rule_tokens = tokenizer.encode(rules, false);
    if rule_tokens.len() >= budget {
        let cut = &rule_tokens[..budget];
        return (tokenizer.decode(cut), cut.len(), 0);
    }
    let mut text = String::from(rules);
    let mut used = rule_tokens.len();
    let state_tokens = tokenizer.encode(&state, false).len();
    if used + state_tokens < budget {
        text.insert_str(0, &state);
        used += state_tokens;
    }
    let header = tokenizer.encode("Tools:\n", false).len();
    if used + header < budget {
        text.push_str("Tools:\n");
        used += header;
    }
    let words: Vec<&str> = request.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() >= 3).collect();
    let mut ranked: Vec<(usize, &Entry)> = CATALOG
        .get()
        .map(|c| {
            c.iter()
                .map(|e| {
                    let haystack = format!("{} {}", e.name.replace('_', " "), e.title.to_lowercase());
                    (words.iter().filter(|w| haystack.contains(**w)).count(), e)
                })
                .collect()
        })
        .unwrap_or_default();
    // Most related first; ties keep registration order.
    ranked.sort_by_key(|entry| core::cmp::Reverse(entry.0));
    let mut listed = 0;
    for (_, entry) in ranked {
        let mut line = format!("- {}", entry.name);
        if let Some(properties) = entry.schema.get("properties").and_then(Value::as_object) {
            let arguments: Vec<String> =
                properties.iter().map(|(k, v)| format!("{k}: {}", mcp::schema::type_name(v))).collect();
            if !arguments.is_empty() {
                line.push_str(&format!(" {{{}}}", arguments.join(", ")));
            }
        }
        line.push_str(&format!(": {}\n", entry.title));
        let cost = tokenizer.encode(&line, false).len();
        if used + cost > budget {
            break;
        }
        text.push_str(&line);
        used += cost;
        listed += 1;
    }
    (text, used, listed)
}

/// When the intent model does not know, a big chat model (if one is placed and active)
/// gets the request with [`context`]; its answer is verified like the intent model's.
fn ask_placed_model(request: &str) -> Option<Decision> {
    let loaded = crate::llm::get().ok().filter(|m| m.source == "placed")?;
    let template = loaded.gguf.get("tokenizer.chat_template").and_then(|v| v.as_str());
    let format = inference::chat::Format::from_template(template);
    if format != inference::chat::Format::Zephyr {
        return None; // not a chat model: it would only continue the text
    }
    let (system, _, _) = context(request, &loaded.tokenizer, CONTEXT_BUDGET);
    let prompt = format.render(&[(inference::chat::Role::System, &system), (inference::chat::Role::User, request)]);
    let answer =
        inference::intent::greedy(&loaded.model, &loaded.tokenizer, &prompt, 48, None, &crate::smp::pool::Pool::ALL)
            .ok()?;
    let (proposal, confidence) = (answer.text, answer.confidence);
    let mut decision = verify(proposal, confidence);
    decision.model = "placed";
    Some(decision)
}

/// Decision-cache hits and misses since boot.
pub fn cache_stats() -> (u64, u64, usize) {
    (HITS.load(Ordering::Relaxed), MISSES.load(Ordering::Relaxed), CACHE.lock().len())
}
