//! `kingly-ml`: the project's host-side model work with candle (it needs `std`, so it stays
//! out of the kernel and out of `xtask` itself — `cargo xtask model train-intent` runs it).
//!
//! [`train_intent`] expands `intents.txt`, learns a BPE vocabulary from it, trains a small
//! Llama with candle on the CPU (fixed seed), writes it as GGUF with the project's writer,
//! and evaluates the file with the project's own engine on phrasings never trained on.

#[cfg(feature = "bench")]
pub mod bench;
pub mod bpe;
pub mod data;
pub mod net;
pub mod rng;

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use inference::{
    gguf::Gguf,
    model::{Config, Model, Weights},
    quant::{DType, Serial},
    tokenizer::Tokenizer,
    writer::{Meta, Writer},
};
use std::{io::Write, path::PathBuf, time::Instant};

/// What to train and where to write it.
pub struct Options {
    pub data: PathBuf,
    pub output: PathBuf,
    pub report: Option<PathBuf>,
    pub seed: u64,
    pub steps: usize,
    pub eval_only: bool,
    /// Decisions from a card to fold into the training data.
    pub decisions: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data: "xtask/ml/intents.txt".into(),
            output: "kernel/models/intent.gguf".into(),
            report: None,
            seed: 7,
            steps: 1800,
            eval_only: false,
            decisions: None,
        }
    }
}

/// Metadata keys recording how a model file was trained (to regenerate it).
pub const META_SEED: &str = "kingly.intent.seed";
/// See [`META_SEED`].
pub const META_STEPS: &str = "kingly.intent.steps";
/// A digest of everything the training consumed ([`inputs_digest`]): the expanded first
/// epoch, the held-out examples and the hyper-parameters. A committed model whose digest
/// differs from the one the committed dataset and trainer give was not made from them.
pub const META_INPUTS: &str = "kingly.intent.inputs";

const SHAPE_DIM: usize = 64;
const SHAPE_HIDDEN: usize = 192;
const SHAPE_LAYERS: usize = 3;
const SHAPE_HEADS: usize = 4;
const CONTEXT: usize = 96;
const MERGES: usize = 400;
const BATCH: usize = 64;
const PEAK_LR: f64 = 3e-3;
/// Samples of each training phrasing per epoch (see `data::training`).
const PER_PHRASE: usize = 6;

/// FNV-1a (64-bit) over the training inputs: every example of the first epoch and of the
/// held-out set (request and target), the seed, the step count and the hyper-parameters.
fn digest(train: &[data::Example], held_out: &[data::Example], seed: u64, steps: usize) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(
        format!("seed {seed} steps {steps} dim {SHAPE_DIM} hidden {SHAPE_HIDDEN} layers {SHAPE_LAYERS} heads {SHAPE_HEADS} context {CONTEXT} merges {MERGES} batch {BATCH} lr {PEAK_LR}\n")
            .as_bytes(),
    );
    for example in train.iter().chain(held_out) {
        feed(example.request.as_bytes());
        feed(b"\t");
        feed(example.target.as_bytes());
        feed(b"\n");
    }
    format!("{hash:016x}")
}

/// The [`META_INPUTS`] digest the trainer would record for `o` (without decisions): cheap,
/// it expands the dataset but trains nothing.
pub fn inputs_digest(o: &Options) -> Result<String> {
    if o.decisions.is_some() {
        bail!("a model trained with decisions cannot be regenerated from the repository alone");
    }
    let source = std::fs::read_to_string(&o.data).with_context(|| format!("reading {}", o.data.display()))?;
    let intents = data::parse(&source)?;
    let held_out = data::held_out(&intents, &mut rng::Rng::new(o.seed ^ 0x5eed));
    let train = data::training(&intents, PER_PHRASE, &mut rng::Rng::new(o.seed));
    Ok(digest(&train, &held_out, o.seed, o.steps))
}

fn tokenizer_meta(w: &mut Writer, vocab: &bpe::Vocab) {
    w.meta("tokenizer.ggml.model", Meta::Str("llama".into()));
    w.meta("tokenizer.ggml.tokens", Meta::Strings(vocab.pieces.clone()));
    w.meta("tokenizer.ggml.scores", Meta::F32s(vocab.scores.clone()));
    w.meta("tokenizer.ggml.token_type", Meta::I32s(vocab.types.clone()));
    w.meta("tokenizer.ggml.bos_token_id", Meta::U32(1));
    w.meta("tokenizer.ggml.eos_token_id", Meta::U32(2));
    w.meta("tokenizer.ggml.unknown_token_id", Meta::U32(0));
}

/// The project's tokenizer for a learned vocabulary (through a tokenizer-only GGUF).
fn tokenizer_of(vocab: &bpe::Vocab) -> Result<Tokenizer> {
    let mut w = Writer::new();
    tokenizer_meta(&mut w, vocab);
    let bytes = w.to_bytes();
    let gguf = Gguf::parse(&bytes).map_err(|e| anyhow!("{e}"))?;
    Tokenizer::from_gguf(&gguf).map_err(|e| anyhow!("{e}"))
}

/// Token ids of an example and where the answer starts.
fn encode(tokenizer: &Tokenizer, example: &data::Example) -> Result<(Vec<u32>, usize)> {
    let prompt = inference::intent::prompt(&example.request);
    let prompt_ids = tokenizer.encode(&prompt, true);
    let mut ids = tokenizer.encode(&format!("{prompt}{}", example.target), true);
    if ids[..prompt_ids.len()] != prompt_ids[..] {
        bail!("tokens of '{}' merge across the newline", example.request);
    }
    ids.push(tokenizer.eos);
    Ok((ids, prompt_ids.len()))
}

/// Token ids of the examples that fit the context, with where each answer starts.
fn encode_all(tokenizer: &Tokenizer, examples: &[data::Example]) -> Result<Vec<(Vec<u32>, usize)>> {
    let mut sequences = Vec::with_capacity(examples.len());
    for example in examples {
        let (ids, start) = encode(tokenizer, example)?;
        if ids.len() <= CONTEXT {
            sequences.push((ids, start));
        }
    }
    Ok(sequences)
}

fn matrix(var: &candle_core::Var) -> Result<(usize, usize, Vec<f32>)> {
    let t = var.as_tensor();
    let (rows, cols) = t.dims2()?;
    Ok((rows, cols, t.flatten_all()?.to_vec1::<f32>()?))
}

fn export(
    model: &net::Llama,
    vocab: &bpe::Vocab,
    answers: &[String],
    domain: &[String],
    seed: u64,
    steps: usize,
    inputs: &str,
) -> Result<Vec<u8>> {
    let s = model.shape;
    let mut w = Writer::new();
    w.meta("general.architecture", Meta::Str("llama".into()));
    w.meta("general.name", Meta::Str("kingly-intent".into()));
    w.meta(
        "general.description",
        Meta::Str(format!(
            "Kingly OS intent model: request -> tool call. cargo xtask model train-intent, seed {seed}, {steps} steps"
        )),
    );
    w.meta(META_SEED, Meta::Str(seed.to_string()));
    w.meta(META_STEPS, Meta::U32(steps as u32));
    w.meta(META_INPUTS, Meta::Str(inputs.to_string()));
    w.meta(inference::intent::ANSWERS_KEY, Meta::Strings(answers.to_vec()));
    w.meta(inference::intent::DOMAIN_KEY, Meta::Strings(domain.to_vec()));
    w.meta("llama.context_length", Meta::U32(s.context as u32));
    w.meta("llama.embedding_length", Meta::U32(s.dim as u32));
    w.meta("llama.block_count", Meta::U32(s.layers as u32));
    w.meta("llama.feed_forward_length", Meta::U32(s.hidden as u32));
    w.meta("llama.attention.head_count", Meta::U32(s.heads as u32));
    w.meta("llama.attention.head_count_kv", Meta::U32(s.heads as u32));
    w.meta("llama.rope.dimension_count", Meta::U32((s.dim / s.heads) as u32));
    w.meta("llama.rope.freq_base", Meta::F32(net::ROPE_BASE as f32));
    w.meta("llama.attention.layer_norm_rms_epsilon", Meta::F32(net::NORM_EPS as f32));
    tokenizer_meta(&mut w, vocab);
    let f32_tensor = |w: &mut Writer, name: &str, var: &candle_core::Var| -> Result<()> {
        let t = var.as_tensor();
        let data = t.flatten_all()?.to_vec1::<f32>()?;
        let dims: Vec<u64> = t.dims().iter().rev().map(|&d| d as u64).collect();
        w.tensor(name, &dims, DType::F32, data.iter().flat_map(|v| v.to_le_bytes()).collect());
        Ok(())
    };
    let q8_tensor = |w: &mut Writer, name: &str, var: &candle_core::Var| -> Result<()> {
        let (rows, cols, data) = matrix(var)?;
        w.tensor(name, &[cols as u64, rows as u64], DType::Q8_0, inference::quant::quantize_q8_0(&data));
        Ok(())
    };
    f32_tensor(&mut w, "token_embd.weight", &model.embed)?;
    for (i, l) in model.layers.iter().enumerate() {
        f32_tensor(&mut w, &format!("blk.{i}.attn_norm.weight"), &l.attn_norm)?;
        q8_tensor(&mut w, &format!("blk.{i}.attn_q.weight"), &l.wq)?;
        q8_tensor(&mut w, &format!("blk.{i}.attn_k.weight"), &l.wk)?;
        q8_tensor(&mut w, &format!("blk.{i}.attn_v.weight"), &l.wv)?;
        q8_tensor(&mut w, &format!("blk.{i}.attn_output.weight"), &l.wo)?;
        f32_tensor(&mut w, &format!("blk.{i}.ffn_norm.weight"), &l.ffn_norm)?;
        q8_tensor(&mut w, &format!("blk.{i}.ffn_gate.weight"), &l.w_gate)?;
        q8_tensor(&mut w, &format!("blk.{i}.ffn_up.weight"), &l.w_up)?;
        q8_tensor(&mut w, &format!("blk.{i}.ffn_down.weight"), &l.w_down)?;
    }
    f32_tensor(&mut w, "output_norm.weight", &model.norm)?;
    Ok(w.to_bytes())
}

/// Accuracy figures of one evaluation.
pub struct Evaluation {
    pub total: usize,
    pub correct: usize,
    none_total: usize,
    none_correct: usize,
    said_none: usize,
    right_confidence: Vec<f32>,
    wrong_confidence: Vec<f32>,
    mistakes: Vec<(String, String, String, f32)>,
    /// (confidence, right) of every answer, for the calibration error.
    calibration: Vec<(f32, bool)>,
    /// Requests that should be refused which the model answered with a state-changing
    /// tool, before and after the kernel's gate.
    state_changing_raw: usize,
    state_changing_gated: usize,
    /// Decisions as the kernel makes them (thresholds and gate applied) that are right.
    pub gated_correct: usize,
    gated_none_correct: usize,
    /// Right proposals the kernel's gate turns down (request, proposal, confidence).
    gated_away: Vec<(String, String, f32)>,
}

impl Evaluation {
    /// Right decisions (after the kernel's thresholds and gate) on requests a tool answers.
    pub fn in_domain(&self) -> (usize, usize) {
        (self.gated_correct - self.gated_none_correct, self.total - self.none_total)
    }

    /// Requests that should be refused, and how many the kernel refuses.
    pub fn refused(&self) -> (usize, usize) {
        (self.gated_none_correct, self.none_total)
    }

    /// State-changing decisions (after the gate) on requests that should be refused.
    pub fn state_changing(&self) -> usize {
        self.state_changing_gated
    }
}

fn share(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// What the kernel does with a proposal (`kernel/src/intent.rs`, `verify`): below
/// `THRESHOLD` it refuses; a tool that is not read-only needs the stricter threshold and a
/// request that names what it changes. Returns the decision: the proposal or `none`.
fn gate<'a>(request: &str, proposal: &'a str, confidence: f32, registry: &[data::Registered]) -> &'a str {
    let Some((tool, _)) = inference::intent::split(proposal) else { return "none" };
    let Some(entry) = registry.iter().find(|t| t.name == tool) else { return "none" };
    if confidence < logic::intent_gate::THRESHOLD {
        return "none";
    }
    if !entry.read_only && logic::intent_gate::changing(request, tool, &entry.title, confidence).is_err() {
        return "none";
    }
    proposal
}

/// Expected calibration error over ten confidence bins: how far the stated confidence is
/// from the share of right answers, weighted by how many answers fall in each bin.
fn calibration_error(points: &[(f32, bool)]) -> f64 {
    let mut bins = [(0usize, 0f64, 0usize); 10];
    for &(confidence, right) in points {
        let bin = ((confidence.clamp(0.0, 1.0) * 10.0) as usize).min(9);
        bins[bin].0 += 1;
        bins[bin].1 += confidence as f64;
        bins[bin].2 += right as usize;
    }
    let total = points.len().max(1) as f64;
    bins.iter()
        .filter(|b| b.0 > 0)
        .map(|&(n, sum, right)| (n as f64 / total) * (sum / n as f64 - right as f64 / n as f64).abs())
        .sum()
}

/// Runs the project's engine on `examples` from the GGUF file's bytes.
pub fn evaluate(bytes: &[u8], examples: &[data::Example]) -> Result<Evaluation> {
    let gguf = Gguf::parse(bytes).map_err(|e| anyhow!("{e}"))?;
    let config = Config::from_gguf(&gguf).map_err(|e| anyhow!("{e}"))?;
    let weights = Weights::from_gguf(&gguf, &config).map_err(|e| anyhow!("{e}"))?;
    let tokenizer = Tokenizer::from_gguf(&gguf).map_err(|e| anyhow!("{e}"))?;
    let answers = inference::intent::Answers::from_gguf(&gguf, &tokenizer);
    let model = Model { config, weights };
    let registry = data::registry()?;
    let mut e = Evaluation {
        total: 0,
        correct: 0,
        none_total: 0,
        none_correct: 0,
        said_none: 0,
        right_confidence: vec![],
        wrong_confidence: vec![],
        mistakes: vec![],
        calibration: vec![],
        state_changing_raw: 0,
        state_changing_gated: 0,
        gated_correct: 0,
        gated_none_correct: 0,
        gated_away: vec![],
    };
    let changes_state = |answer: &str| {
        inference::intent::split(answer)
            .and_then(|(tool, _)| registry.iter().find(|t| t.name == tool))
            .is_some_and(|t| !t.read_only)
    };
    for example in examples {
        let proposal = inference::intent::propose(&model, &tokenizer, &example.request, answers.as_ref(), &Serial)
            .map_err(|e| anyhow!("{e}"))?;
        let right = proposal.text == example.answer;
        let decision = gate(&example.request, &proposal.text, proposal.confidence, &registry);
        e.total += 1;
        e.correct += right as usize;
        e.gated_correct += (decision == example.answer) as usize;
        if right && decision != example.answer {
            e.gated_away.push((example.request.clone(), proposal.text.clone(), proposal.confidence));
        }
        e.calibration.push((proposal.confidence, right));
        if example.answer == "none" {
            e.none_total += 1;
            e.none_correct += right as usize;
            e.gated_none_correct += (decision == "none") as usize;
            e.state_changing_raw += changes_state(&proposal.text) as usize;
            e.state_changing_gated += changes_state(decision) as usize;
        }
        e.said_none += (proposal.text == "none") as usize;
        if right {
            e.right_confidence.push(proposal.confidence);
        } else {
            e.wrong_confidence.push(proposal.confidence);
            e.mistakes.push((
                example.request.clone(),
                example.answer.clone(),
                proposal.text.clone(),
                proposal.confidence,
            ));
        }
    }
    Ok(e)
}

/// The model's answers (with values filled in) for `examples`, in order.
pub fn proposals(bytes: &[u8], examples: &[data::Example]) -> Result<Vec<String>> {
    let gguf = Gguf::parse(bytes).map_err(|e| anyhow!("{e}"))?;
    let config = Config::from_gguf(&gguf).map_err(|e| anyhow!("{e}"))?;
    let weights = Weights::from_gguf(&gguf, &config).map_err(|e| anyhow!("{e}"))?;
    let tokenizer = Tokenizer::from_gguf(&gguf).map_err(|e| anyhow!("{e}"))?;
    let answers = inference::intent::Answers::from_gguf(&gguf, &tokenizer);
    let model = Model { config, weights };
    examples
        .iter()
        .map(|e| {
            inference::intent::propose(&model, &tokenizer, &e.request, answers.as_ref(), &Serial)
                .map(|p| p.text)
                .map_err(|e| anyhow!("{e}"))
        })
        .collect()
}

/// Every phrasing never trained on: the dataset's held-out ones and the independent sets.
pub fn evaluation_examples(o: &Options) -> Result<Vec<data::Example>> {
    let mut examples = held_out_examples(o)?;
    for (_, set) in independent_examples(o)? {
        examples.extend(set);
    }
    Ok(examples)
}

/// The dataset's held-out phrasings, expanded as the trainer evaluates them.
pub fn held_out_examples(o: &Options) -> Result<Vec<data::Example>> {
    let source = std::fs::read_to_string(&o.data).with_context(|| format!("reading {}", o.data.display()))?;
    let intents = data::parse(&source)?;
    Ok(data::held_out(&intents, &mut rng::Rng::new(o.seed ^ 0x5eed)))
}

/// The independent evaluation sets beside the dataset, with their report labels: the first
/// written by a helper who saw neither the dataset nor the model; the second, the tools
/// added later and refusals, written the same way.
const INDEPENDENT_SETS: [(&str, &str); 2] =
    [("independent set", "intents-independent.txt"), ("second independent set", "intents-independent-2.txt")];

/// The independent evaluation sets beside the dataset that exist, by file name.
pub fn independent_examples(o: &Options) -> Result<Vec<(&'static str, Vec<data::Example>)>> {
    let mut sets = Vec::new();
    for (_, name) in INDEPENDENT_SETS {
        if let Some(intents) = independent_intents(o, name)? {
            sets.push((name, independent_examples_of(o, &intents)));
        }
    }
    Ok(sets)
}

fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f32>() / v.len() as f32
    }
}

/// The first line of [`report`].
fn report_line(e: &Evaluation, what: &str) -> String {
    report(e, what).lines().next().map(|l| format!("{l}\n")).unwrap_or_default()
}

pub fn report(e: &Evaluation, what: &str) -> String {
    let in_domain = e.in_domain();
    let mut text = format!(
        "{what}: {}/{} exact ({:.1}%); `none` recall {}/{}, precision {}/{}; mean confidence right {:.2}, wrong {:.2}\n",
        e.correct,
        e.total,
        100.0 * e.correct as f64 / e.total.max(1) as f64,
        e.none_correct,
        e.none_total,
        e.none_correct,
        e.said_none,
        mean(&e.right_confidence),
        mean(&e.wrong_confidence)
    );
    text.push_str(&format!(
        "  calibration error (ECE, 10 bins) {:.3}; after the kernel's thresholds and gate: {}/{} right ({:.1}%), \
         `none` {}/{} refused ({:.1}%); state-changing answers to requests that should be refused: {} from the \
         model, {} after the gate; in-domain {}/{} right ({:.1}%)\n",
        calibration_error(&e.calibration),
        e.gated_correct,
        e.total,
        100.0 * e.gated_correct as f64 / e.total.max(1) as f64,
        e.gated_none_correct,
        e.none_total,
        100.0 * e.gated_none_correct as f64 / e.none_total.max(1) as f64,
        e.state_changing_raw,
        e.state_changing_gated,
        in_domain.0,
        in_domain.1,
        share(in_domain.0, in_domain.1),
    ));
    for (request, expected, got, confidence) in e.mistakes.iter().take(40) {
        text.push_str(&format!("  - \"{request}\": expected `{expected}`, got `{got}` ({confidence:.2})\n"));
    }
    for (request, proposal, confidence) in e.gated_away.iter().take(8) {
        text.push_str(&format!("  - gate refused the right `{proposal}` for \"{request}\" ({confidence:.2})\n"));
    }
    text
}

/// An independent set's intents (file `name` beside the dataset), if the file exists.
fn independent_intents(o: &Options, name: &str) -> Result<Option<Vec<data::Intent>>> {
    let path = o.data.with_file_name(name);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    Ok(Some(data::parse_evaluation(&text).with_context(|| format!("parsing {}", path.display()))?))
}

/// An independent set's phrasings expanded like the held-out ones.
fn independent_examples_of(o: &Options, intents: &[data::Intent]) -> Vec<data::Example> {
    data::held_out(intents, &mut rng::Rng::new(o.seed ^ 0x1d3))
}

/// A phrasing as the overlap check compares it: lower case, letters, digits, slots and
/// single spaces.
fn normalized(phrase: &str) -> String {
    let kept: String = phrase
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '{' | '}' | ' ' | '_'))
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An independent set cut down to the phrasings the dataset does not also hold (its writer
/// never saw the dataset, yet common commands such as "reboot" are in both): accuracy on
/// these is accuracy on requests never trained on. Returns the examples, the set's
/// phrasings and how many of them the dataset shares.
pub fn unseen_part(o: &Options, name: &str) -> Result<Option<(Vec<data::Example>, usize, usize)>> {
    let Some(mut intents) = independent_intents(o, name)? else { return Ok(None) };
    let source = std::fs::read_to_string(&o.data).with_context(|| format!("reading {}", o.data.display()))?;
    let dataset: std::collections::HashSet<String> =
        data::parse(&source)?.iter().flat_map(|i| i.train.iter().chain(&i.held_out)).map(|p| normalized(p)).collect();
    let total: usize = intents.iter().map(|i| i.held_out.len()).sum();
    for intent in &mut intents {
        intent.held_out.retain(|p| !dataset.contains(&normalized(p)));
    }
    let shared = total - intents.iter().map(|i| i.held_out.len()).sum::<usize>();
    Ok(Some((independent_examples_of(o, &intents), total, shared)))
}

/// The report lines of the independent sets: each whole, then its part the dataset does not share.
fn independent_reports(o: &Options, bytes: &[u8]) -> Result<String> {
    let mut text = String::new();
    for (label, name) in INDEPENDENT_SETS {
        let Some(intents) = independent_intents(o, name)? else { continue };
        let set = independent_examples_of(o, &intents);
        text.push_str(&report(&evaluate(bytes, &set)?, &format!("{label} ({name})")));
        if let Some((unseen, total, shared)) = unseen_part(o, name)? {
            let what = format!(
                "  {label}, only the {} of {total} phrasings the dataset does not also hold ({shared} shared)",
                total - shared
            );
            let e = evaluate(bytes, &unseen)?;
            text.push_str(&report_line(&e, &what));
            let (right, of) = e.in_domain();
            let (refused, refusals) = e.refused();
            text.push_str(&format!(
                "    after the gate: {}/{} right ({:.1}%), in-domain {right}/{of} ({:.1}%), `none` {refused}/{refusals} \
                 refused, state-changing answers to refusals {}\n",
                e.gated_correct,
                e.total,
                share(e.gated_correct, e.total),
                share(right, of),
                e.state_changing()
            ));
        }
    }
    Ok(text)
}

/// Trains (or with `eval_only`, evaluates) the intent model; returns the held-out figures.
pub fn train_intent(o: &Options) -> Result<Evaluation> {
    let source = std::fs::read_to_string(&o.data).with_context(|| format!("reading {}", o.data.display()))?;
    let intents = data::parse(&source)?;
    let mut rng = rng::Rng::new(o.seed);
    let held_out = data::held_out(&intents, &mut rng::Rng::new(o.seed ^ 0x5eed));
    let confirmed = match &o.decisions {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let mut never = evaluation_examples(o)?;
            never.extend(held_out.iter().cloned());
            let (examples, report) = data::confirmed_decisions(&text, &intents, &never);
            eprintln!("{report}");
            if let Ok(bytes) = std::fs::read(&o.output) {
                print!("{}", report_line(&evaluate(&bytes, &held_out)?, "before, held-out phrasings"));
            }
            examples
        }
        None => Vec::new(),
    };
    let training = |rng: &mut rng::Rng| {
        let mut examples = data::training(&intents, PER_PHRASE, rng);
        // Every confirmed decision four times per epoch, like a phrasing of a small intent.
        if !confirmed.is_empty() {
            for _ in 0..4 {
                examples.extend(confirmed.iter().cloned());
            }
            rng.shuffle(&mut examples);
        }
        examples
    };
    let train = training(&mut rng);
    if o.eval_only {
        let bytes = std::fs::read(&o.output).with_context(|| format!("reading {}", o.output.display()))?;
        let e = evaluate(&bytes, &held_out)?;
        print!("{}", report(&e, "held-out phrasings"));
        print!("{}", independent_reports(o, &bytes)?);
        return Ok(e);
    }
    let started = Instant::now();
    let texts: Vec<String> =
        train.iter().map(|e| format!("{}{}", inference::intent::prompt(&e.request), e.target)).collect();
    let vocab = bpe::learn(&texts, MERGES);
    let tokenizer = tokenizer_of(&vocab)?;
    let mut sequences = encode_all(&tokenizer, &train)?;
    let mut answers: Vec<String> = train.iter().map(|e| e.target.clone()).collect();
    answers.sort();
    answers.dedup();
    eprintln!(
        "{} intents, {} training examples ({} tokens max), {} held out; vocabulary {} tokens",
        intents.len(),
        sequences.len(),
        sequences.iter().map(|s| s.0.len()).max().unwrap_or(0),
        held_out.len(),
        vocab.pieces.len()
    );
    let device = Device::Cpu;
    let shape = net::Shape {
        vocab: vocab.pieces.len(),
        dim: SHAPE_DIM,
        hidden: SHAPE_HIDDEN,
        layers: SHAPE_LAYERS,
        heads: SHAPE_HEADS,
        context: CONTEXT,
    };
    let model = net::Llama::new(shape, o.seed, &device)?;
    let peak = PEAK_LR;
    let mut optimizer = AdamW::new(model.vars(), ParamsAdamW { lr: peak, weight_decay: 0.01, ..Default::default() })?;
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    let mut cursor = order.len();
    let mut smoothed = f32::NAN;
    for step in 0..o.steps {
        // Warm-up, then cosine decay to a tenth.
        let lr = if step < 100 {
            peak * (step + 1) as f64 / 100.0
        } else {
            let progress = (step - 100) as f64 / (o.steps.saturating_sub(100)).max(1) as f64;
            peak * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
        };
        optimizer.set_learning_rate(lr);
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            if cursor == order.len() {
                if step > 0 {
                    // Every epoch sees freshly drawn values, politeness, synonyms and noise.
                    sequences = encode_all(&tokenizer, &training(&mut rng))?;
                    order = (0..sequences.len()).collect();
                }
                rng.shuffle(&mut order);
                cursor = 0;
            }
            batch.push(sequences[order[cursor]].clone());
            cursor += 1;
        }
        let t = batch.iter().map(|(ids, _)| ids.len() - 1).max().unwrap_or(1);
        let mut inputs = vec![0u32; BATCH * t];
        let mut targets = vec![0u32; BATCH * t];
        let mut mask = vec![0f32; BATCH * t];
        for (b, (ids, start)) in batch.iter().enumerate() {
            for i in 0..ids.len() - 1 {
                inputs[b * t + i] = ids[i];
                targets[b * t + i] = ids[i + 1];
                // Learn the answer (and its EOS) only: position i predicts token i+1.
                if i + 1 >= *start {
                    mask[b * t + i] = 1.0;
                }
            }
        }
        let inputs = Tensor::from_vec(inputs, (BATCH, t), &device)?;
        let targets = Tensor::from_vec(targets, (BATCH, t), &device)?;
        let mask = Tensor::from_vec(mask, (BATCH, t), &device)?;
        let loss = model.loss(&inputs, &targets, &mask, &mut rng)?;
        optimizer.backward_step(&loss)?;
        let value = loss.to_scalar::<f32>()?;
        smoothed = if smoothed.is_nan() { value } else { 0.95 * smoothed + 0.05 * value };
        if step % 10 == 0 || step + 1 == o.steps {
            let done = (step + 1) as f64 / o.steps as f64;
            let bar = "#".repeat((done * 30.0) as usize);
            eprint!(
                "\r[{bar:<30}] step {}/{} loss {smoothed:.3} lr {lr:.1e} {:.0}s ",
                step + 1,
                o.steps,
                started.elapsed().as_secs_f64()
            );
            std::io::stderr().flush().ok();
        }
    }
    eprintln!();
    let inputs = digest(&train, &held_out, o.seed, o.steps);
    let bytes = export(&model, &vocab, &answers, &data::domain_words(&intents), o.seed, o.steps, &inputs)?;
    if let Some(dir) = o.output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&o.output, &bytes)?;
    let training_time = started.elapsed().as_secs_f64();
    eprintln!("wrote {} ({} KiB) after {training_time:.0} s", o.output.display(), bytes.len().div_ceil(1024));
    let held = evaluate(&bytes, &held_out)?;
    let sample: Vec<data::Example> = train.iter().take(300).cloned().collect();
    let seen = evaluate(&bytes, &sample)?;
    let mut summary = format!("{}{}", report(&held, "held-out phrasings"), report(&seen, "training sample"));
    summary.push_str(&independent_reports(o, &bytes)?);
    print!("{summary}");
    if let Some(path) = &o.report {
        let text = format!(
            "# The intent model\n\nMade by `cargo xtask model train-intent` (seed {}, {} steps, {:.0} s on the build machine's CPU with candle).\n\
             Shape: {} layers, dim {}, {} heads, FFN {}, context {}, vocabulary {} (BPE learned from the dataset, digits unmerged); \
             matrices Q8_0, embeddings and norms F32; {} KiB.\n\
             Dataset: `xtask/ml/intents.txt`, {} intents, {} training examples; the held-out phrasings (`+` lines) are never trained on.\n\n\
             Evaluated with the project's engine (`inference::intent::propose`, greedy):\n\n```\n{summary}```\n",
            o.seed,
            o.steps,
            training_time,
            shape.layers,
            shape.dim,
            shape.heads,
            shape.hidden,
            shape.context,
            shape.vocab,
            bytes.len().div_ceil(1024),
            intents.len(),
            sequences.len()
        );
        std::fs::write(path, text)?;
    }
    Ok(held)
}
