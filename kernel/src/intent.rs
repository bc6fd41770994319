//! Natural-language control: the intent model proposes a tool call, the kernel verifies it,
//! the caller executes it.
//!
//! A request ("how much memory is free?") goes through the embedded intent model
//! ([`crate::llm::intent`]) with the prompt format of [`inference::intent`] (shared with the
//! trainer, `cargo xtask model train-intent`), which yields a proposal text such as `memory_stats {}` or `none`, and a confidence. The kernel then
//! checks, in order: the model recognised the request; the confidence clears
//! [`THRESHOLD`]; the tool exists on this kernel; the arguments are a JSON object valid
//! against the tool's input schema; and for a tool that changes the machine, the confidence
//! clears the stricter [`logic::intent_gate::STRICT_THRESHOLD`] and the request names what
//! it changes ([`logic::intent_gate::names_subject`]): an out-of-domain request never yields
//! a state-changing proposal. Only then is the decision `Ready`, carrying the tool's
//! annotations so the caller can run read-only tools at once and ask before others.
//!
//! Decisions are cached by normalised request text (bounded, oldest evicted); hits and
//! misses are counted for `llm_info`.

use crate::sync::IrqMutex;
use alloc::{
    collections::VecDeque,
    format,
    string::{String, ToString},
    sync::Arc,
    vec::Vec,
};
use core::sync::atomic::{AtomicU64, Ordering};
use mcp::{Annotations, Registry, Server, Value};
use spin::Once;

/// Proposals below this confidence are not executed ([`logic::intent_gate::THRESHOLD`]).
pub const THRESHOLD: f32 = logic::intent_gate::THRESHOLD;

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

/// The registry whose tools the verifier checks proposals against and `intent_run` runs
/// them through.
static REGISTRY: Once<Arc<Registry>> = Once::new();

/// Records the registry (after registration); the verifier's catalog (names, input
/// schemas, annotations) is built from it on first use.
pub fn set_registry(server: &Server) {
    REGISTRY.call_once(|| Arc::clone(server.registry()));
}

/// The registry recorded by [`set_registry`].
pub fn registry() -> Option<&'static Arc<Registry>> {
    REGISTRY.get()
}

/// The tools a proposal may name (not the intent tools themselves, not local-only ones).
fn catalog() -> Option<&'static Vec<Entry>> {
    let registry = REGISTRY.get()?;
    Some(CATALOG.call_once(|| {
        registry
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
    }))
}

/// An installed tool (WebAssembly, `tool_install`) as the verifier sees it.
fn installed_entry(name: &str) -> Option<Entry> {
    let registry = REGISTRY.get()?;
    let tool = registry.installed().into_iter().find(|t| t.name() == name && !t.is_local_only())?;
    Some(Entry {
        name: tool.name().into(),
        title: tool.title_text().into(),
        schema: tool.schema().clone(),
        hints: tool.hints(),
    })
}

/// The installed tool whose manifest's example phrasings `request` says
/// ([`logic::phrasing`]): the proposal `name {}` and the match's score as its confidence.
/// The intent model was trained before the tool existed, so this is how `ask` reaches it.
fn installed_example(request: &str) -> Option<(String, f32)> {
    let installed = REGISTRY.get()?.installed();
    let (name, score) = logic::phrasing::best(
        request,
        installed.iter().filter(|t| !t.is_local_only()).map(|t| (t.name(), t.example_phrasings())),
    )?;
    Some((format!("{name} {{}}"), score))
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
    /// Which model proposed it: "intent" (built in), "installed" (an installed tool's example
    /// phrasings, [`logic::phrasing`]), or the chat model's source ("placed",
    /// "card") when the intent model did not know.
    pub model: &'static str,
    /// The model's own line, values as references (what a training example needs).
    pub raw: String,
    /// For a question without a tool: the chat model's answer in words (never run).
    pub answer: Option<String>,
    /// Its number in `kernel://decisions` ([`crate::decisions`]).
    pub id: u64,
    /// Its decision-cache key.
    key: String,
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

/// Decides what to do about `text` (from the cache when seen before). `cancelled()` is
/// asked between the chat model's tokens (see [`ask_chat_model`]). Every decision is
/// recorded ([`crate::decisions`]); a refusal is settled at once, a proposal when the
/// caller reports what became of it ([`settle`]).
pub fn decide(text: &str, cancelled: &mut dyn FnMut() -> bool) -> Result<Decision, IntentError> {
    let started = crate::arch::cpu::micros();
    let request = normalise(text);
    if request.is_empty() {
        return Err(IntentError::Empty);
    }
    // What the second tier would say depends on which chat model is active: the key names it.
    let chat = chat_model();
    // ... and on which tools are installed (an installed tool's examples may answer it).
    let generation = REGISTRY.get().map_or(0, |r| r.generation());
    let key = format!("{}\u{0}{generation}\u{0}{request}", chat.map_or("", |m| m.name.as_str()));
    let hit = CACHE.lock().iter().find(|(k, _)| *k == key).map(|(_, d)| d.clone());
    let decision = if let Some(mut decision) = hit {
        HITS.fetch_add(1, Ordering::Relaxed);
        decision.cached = true;
        decision
    } else {
        MISSES.fetch_add(1, Ordering::Relaxed);
        let mut decision = match installed_example(&request) {
            Some((proposal, score)) => {
                let mut decision = verify(&request, proposal, score);
                decision.model = "installed";
                decision
            }
            None => {
                let (proposal, raw, confidence) = propose(&request)?;
                let mut decision = verify(&request, proposal, confidence);
                decision.raw = raw;
                decision
            }
        };
        decision.key = key;
        let mut keep = true;
        if decision.status != Status::Ready {
            if let Some(model) = chat {
                match ask_chat_model(model, &request, cancelled) {
                    Tier::Answered(mut better) => {
                        better.key = decision.key.clone();
                        decision = *better;
                    }
                    Tier::Busy => {}
                    Tier::Stopped(why) => {
                        // Not cached: the same request may get its answer next time.
                        decision.message = format!("{} ({why})", decision.message);
                        keep = false;
                    }
                }
            }
        }
        // Refusals and read-only proposals are cached at once; a proposal that changes the
        // machine only once it has been confirmed and has run ([`settle`]).
        if keep && (decision.status != Status::Ready || decision.hints.is_some_and(|h| h.read_only)) {
            remember(&decision);
        }
        decision
    };
    Ok(record(decision, text, started))
}

/// Puts a decision in the cache (bounded, oldest evicted).
fn remember(decision: &Decision) {
    let mut cache = CACHE.lock();
    if cache.iter().any(|(k, _)| *k == decision.key) {
        return;
    }
    if cache.len() >= CACHE_ENTRIES {
        cache.pop_front();
    }
    cache.push_back((decision.key.clone(), decision.clone()));
}

/// Opens the decision's record; a refusal (or a plain answer) is settled at once.
fn record(mut decision: Decision, text: &str, started: u64) -> Decision {
    let record = crate::decisions::Record {
        id: 0,
        request: crate::decisions::cut(text.trim()),
        proposal: crate::decisions::cut(&decision.proposal),
        raw: crate::decisions::cut(&decision.raw),
        confidence: decision.confidence,
        model: decision.model.into(),
        cached: decision.cached,
        status: decision.status.as_str().into(),
        outcome: crate::decisions::Outcome::Proposed,
        latency_us: crate::arch::cpu::micros().saturating_sub(started),
        error: None,
    };
    decision.id = crate::decisions::open(record);
    if decision.status != Status::Ready {
        let outcome = if decision.answer.is_some() {
            crate::decisions::Outcome::Answered
        } else {
            crate::decisions::Outcome::Refused
        };
        crate::decisions::settle(decision.id, outcome, None);
    }
    decision
}

/// Reports what became of a proposal: it is recorded, and the cache learns from it — a
/// proposal that ran is cached, one that was declined or failed never is (and leaves the
/// cache if it came from there).
pub fn settle(decision: &Decision, outcome: crate::decisions::Outcome, error: Option<&str>) {
    crate::decisions::settle(decision.id, outcome, error);
    match outcome {
        crate::decisions::Outcome::Ran => remember(decision),
        crate::decisions::Outcome::Declined | crate::decisions::Outcome::Failed => {
            CACHE.lock().retain(|(k, _)| *k != decision.key);
        }
        _ => {}
    }
}

/// Runs the intent model on a normalised request: the proposal with values, the model's
/// own line, the confidence.
fn propose(request: &str) -> Result<(String, String, f32), IntentError> {
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
    Ok((proposal.text, proposal.raw, proposal.confidence))
}

/// Checks a proposal for `request` against the catalog (see the module docs for the order).
fn verify(request: &str, proposal: String, confidence: f32) -> Decision {
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
        raw: String::new(),
        answer: None,
        id: 0,
        key: String::new(),
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
    let installed;
    let entry = match catalog().and_then(|c| c.iter().find(|e| e.name == tool)) {
        Some(entry) => entry,
        None => match installed_entry(tool) {
            Some(entry) => {
                installed = entry;
                &installed
            }
            None => {
                decision.status = Status::Unavailable;
                decision.message =
                    format!("that needs the tool '{tool}', which this kernel does not have on this board");
                return decision;
            }
        },
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
    if !entry.hints.read_only {
        // A call that changes the machine needs more: a higher confidence, and a request that
        // names what it changes (`logic::intent_gate`).
        match logic::intent_gate::changing(request, tool, &entry.title, confidence) {
            Ok(()) => {}
            Err(logic::intent_gate::Refusal::Unsure) => {
                decision.status = Status::LowConfidence;
                decision.message = format!(
                    "not sure enough to change the machine (best guess `{proposal}`, confidence {confidence:.2}); \
                     say it with the tool's words, e.g. 'help {tool}'"
                );
                return decision;
            }
            Err(logic::intent_gate::Refusal::Unnamed) => {
                decision.status = Status::Unknown;
                decision.message = format!(
                    "I don't know a tool for that (the nearest, {tool}, changes the machine and the request does \
                     not name what it would change)"
                );
                return decision;
            }
        }
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
    let rules = "Answer with one line: a tool and its JSON arguments, like memory_stats {}; if no tool fits, answer \
                 in plain words.\n";
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
    let mut ranked: Vec<(usize, &Entry)> = catalog()
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

/// The active model when it is a chat model (from the card or the loader, with a chat
/// template): the second tier of [`decide`].
fn chat_model() -> Option<&'static crate::llm::Loaded> {
    let loaded = crate::llm::get().ok().filter(|m| m.source != "embedded")?;
    let template = crate::llm::template(loaded);
    (template.recognised && template.format != inference::chat::Format::Plain).then_some(loaded)
}

/// Longest a chat model may think about one request.
pub const CHAT_BUDGET_MICROS: u64 = 60_000_000;

/// Set while the chat model answers a request: a request served meanwhile (the tasks run
/// between its steps) does not start a second answer on top of it.
static CHAT_BUSY: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// What the second tier came to.
enum Tier {
    /// The chat model's proposal, verified.
    Answered(alloc::boxed::Box<Decision>),
    /// Already answering another request.
    Busy,
    /// Cancelled or out of time (why).
    Stopped(&'static str),
}

/// When the intent model does not know, the active chat model gets the request with
/// [`context`]; its answer is verified like the intent model's. It runs inside the caller's
/// task on the boot core, and between slices of every product the other tasks run
/// ([`crate::executor::Yielding`]), so the console and the network keep answering; after
/// every token `cancelled()` and the time budget ([`CHAT_BUDGET_MICROS`]) are checked.
fn ask_chat_model(loaded: &'static crate::llm::Loaded, request: &str, cancelled: &mut dyn FnMut() -> bool) -> Tier {
    if CHAT_BUSY.swap(true, Ordering::Acquire) {
        return Tier::Busy;
    }
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            CHAT_BUSY.store(false, Ordering::Release);
        }
    }
    let _release = Release;
    let (system, _, _) = context(request, &loaded.tokenizer, CONTEXT_BUDGET);
    let prompt = crate::llm::template(loaded)
        .format
        .render(&[(inference::chat::Role::System, &system), (inference::chat::Role::User, request)]);
    let tokens = loaded.tokenizer.encode_prompt(&prompt);
    let task = crate::tasks::Task::start("ask (chat model)");
    let parallel = crate::executor::Yielding::new(crate::smp::pool::Pool::ALL);
    let deadline = crate::arch::cpu::micros().saturating_add(CHAT_BUDGET_MICROS);
    let mut stopped = None;
    let mut done = 0usize;
    let mut go_on = || {
        done += 1;
        task.set_detail(&format!("{done}/{} prompt tokens", tokens.len()));
        if cancelled() {
            stopped = Some("cancelled");
        } else if crate::arch::cpu::micros() > deadline {
            stopped = Some("the chat model ran out of time");
        }
        if stopped.is_some() {
            parallel.stop();
        }
        stopped.is_none()
    };
    let answer =
        inference::intent::greedy_with(&loaded.model, &loaded.tokenizer, &tokens, 48, None, &parallel, &mut go_on);
    if let Some(why) = stopped {
        return Tier::Stopped(why);
    }
    let Ok(Some(answer)) = answer else { return Tier::Stopped("the chat model failed") };
    // A line that starts with a tool's name is a proposal, verified like the intent
    // model's; anything else is an answer in words, shown and never run.
    let line = answer.text.trim().trim_matches('`').trim();
    let first = line.split(|c: char| c.is_whitespace() || c == '{').next().unwrap_or("");
    let names_tool = catalog().is_some_and(|c| c.iter().any(|e| e.name == first));
    let mut decision = if names_tool {
        verify(request, String::from(line), answer.confidence)
    } else {
        let mut decision = verify(request, String::from(inference::intent::NONE), answer.confidence);
        if !line.is_empty() && !line.eq_ignore_ascii_case(inference::intent::NONE) {
            decision.message = format!("no tool does that; {} says: {line}", loaded.name);
            decision.answer = Some(String::from(line));
        }
        decision
    };
    decision.raw = String::from(line);
    decision.model = loaded.source;
    Tier::Answered(alloc::boxed::Box::new(decision))
}

/// Decision-cache hits and misses since boot.
pub fn cache_stats() -> (u64, u64, usize) {
    (HITS.load(Ordering::Relaxed), MISSES.load(Ordering::Relaxed), CACHE.lock().len())
}
