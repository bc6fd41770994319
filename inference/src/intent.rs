//! The intent model's input and output format, shared by the trainer (`cargo xtask model
//! train-intent`) and the kernel.
//!
//! A request is normalised ([`normalise`]: lower case, letters/digits/`'`/`.` only, single
//! spaces, at most [`MAX_REQUEST`] bytes); its numbers and addresses ([`entities`]) are
//! replaced by `#1`, `#2`, ... ([`mask`]) so the model never has to copy digits — it refers
//! to them — and a newline follows. The model answers with one line, `tool {json arguments}`
//! or `none`, and EOS; [`fill`] puts the request's values back:
//!
//! ```text
//! <s>how much memory is free\nmemory_stats {}</s>
//! <s>turn on pin #1\ngpio_write {"pin":#1,"value":true}</s>       "turn on pin 17"
//! <s>read #1 bytes from i2c address #2\ni2c_read {"address":#2,"length":#1}</s>
//! ```
//!
//! [`greedy`] decodes such an answer (for any prompt, also a big chat model's) and rates it
//! with the geometric mean of the chosen tokens' probabilities. An intent model file lists
//! the answers it was taught ([`ANSWERS_KEY`]); decoding restricted to them ([`Answers`])
//! cannot invent a tool or an argument shape.

use crate::{
    error::Error,
    gguf::Gguf,
    model::{Model, State},
    quant::Parallel,
    tokenizer::{Decoder, Tokenizer},
};
use alloc::{string::String, vec::Vec};

/// Longest request the model sees, in bytes, quoted text not counted (longer ones are cut
/// at a word boundary).
pub const MAX_REQUEST: usize = 160;

/// Longest quoted text a request may carry (file contents, a prompt), in bytes.
pub const MAX_QUOTED: usize = 2048;

/// Longest answer, in tokens.
pub const MAX_ANSWER: usize = 40;

/// The answer for a request that maps to no tool.
pub const NONE: &str = "none";

/// Whether `c` opens or closes quoted text (straight or typographic double quotes).
fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201c}' | '\u{201d}')
}

/// Lower case; letters, digits, `'`, `.`, `/` and `_` kept (IP addresses, "what's", file
/// names), every other character a space; single spaces; no trailing `.`; at most
/// [`MAX_REQUEST`] bytes. Text in double quotes is a value the user dictates (a file's
/// content, a prompt): it is kept as written between straight quotes (control characters
/// become spaces, at most [`MAX_QUOTED`] bytes) and does not count towards the limit; an
/// unclosed quote is dropped.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_REQUEST));
    let mut plain = 0usize;
    let mut space = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_quote(c) {
            let rest: String = chars.clone().take_while(|&c| !is_quote(c)).collect();
            let closed = chars.clone().nth(rest.chars().count()).is_some();
            if closed && !rest.is_empty() && rest.len() <= MAX_QUOTED {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push('"');
                out.extend(rest.chars().map(|c| if c.is_control() { ' ' } else { c }));
                out.push('"');
                space = true;
                for _ in 0..=rest.chars().count() {
                    chars.next();
                }
            } else {
                space = !out.is_empty();
            }
            continue;
        }
        for c in c.to_lowercase() {
            let keep = c.is_alphanumeric() || matches!(c, '\'' | '.' | '/' | '_');
            if !keep {
                space = !out.is_empty();
                continue;
            }
            if space {
                if plain + 1 >= MAX_REQUEST {
                    return finish(out);
                }
                out.push(' ');
                plain += 1;
                space = false;
            }
            if plain + c.len_utf8() > MAX_REQUEST {
                return finish(out);
            }
            out.push(c);
            plain += c.len_utf8();
        }
    }
    finish(out)
}

fn finish(mut out: String) -> String {
    while (out.ends_with('.') && !out.ends_with("\"")) || out.ends_with(' ') {
        out.pop();
    }
    split_units(&out)
}

/// Units written onto a number ("2000hz", "5v"): split off so the number is a value.
const UNITS: &[&str] = &["hz", "khz", "mhz", "ms", "us", "s", "v", "mv", "ma", "c", "kb", "mb", "gb", "k"];

/// `text` with every word outside quotes that is a number glued to a unit in [`UNITS`]
/// split in two ("2000hz" → "2000 hz"); ordinals such as "2nd" stay words.
fn split_units(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut quoted = false;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let starts_quote = !quoted && word.starts_with('"');
        if quoted || starts_quote {
            out.push_str(word);
            let closes = if starts_quote { word.len() > 1 && word.ends_with('"') } else { word.ends_with('"') };
            quoted = !closes;
            continue;
        }
        let digits = word.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && digits < word.len() && UNITS.contains(&&word[digits..]) {
            out.push_str(&word[..digits]);
            out.push(' ');
            out.push_str(&word[digits..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

/// At most this many values of a request are referred to (`#1`..`#9`).
pub const MAX_ENTITIES: usize = 9;

/// The values of a normalised request, in order, each a whole word: numbers (`17`,
/// `0x48`), dotted numbers (`10.0.2.2`), file names (`config.txt`, `/overlays/readme`) and
/// quoted text (`"hello world"`, quotes included). A trailing dot is not part of a value;
/// digits glued to letters ("2nd", "i2c") are words, not values.
pub fn entities(request: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = request;
    let mut offset = 0;
    while !rest.is_empty() && out.len() < MAX_ENTITIES {
        let word_end = if let Some(inner) = rest.strip_prefix('"') {
            inner.find('"').map_or(rest.len(), |at| at + 2)
        } else {
            rest.find(' ').unwrap_or(rest.len())
        };
        let word = &request[offset..offset + word_end];
        let value = word.trim_end_matches('.');
        if !value.is_empty() && kind(value).is_some() {
            out.push(value);
        }
        let step = (word_end + 1).min(rest.len());
        offset += step;
        rest = &rest[step..];
    }
    out
}

/// What kind of value a word is: its marker in a masked request, or `None` for a word.
fn kind(word: &str) -> Option<char> {
    let bytes = word.as_bytes();
    if word.len() >= 2 && word.starts_with('"') && word.ends_with('"') {
        return Some('$');
    }
    if bytes[0].is_ascii_digit() {
        if let Some(hex) = word.strip_prefix("0x") {
            return (!hex.is_empty() && hex.len() <= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some('#');
        }
        if bytes.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
            return Some(if word.contains('.') { '%' } else { '#' });
        }
    }
    let letter = bytes.iter().any(u8::is_ascii_alphabetic);
    let dotted = bytes.windows(2).any(|w| w[0] == b'.' && w[1].is_ascii_alphanumeric());
    let pathlike = bytes[0] == b'/' && bytes.len() > 1;
    let plain = bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'_'));
    (plain && letter && (dotted || pathlike)).then_some('@')
}

/// The marker of an entity in a masked request: `#` for a whole number (decimal or `0x`
/// hex), `%` for a dotted one (an IPv4 address, a version), `@` for a file name, `$` for
/// quoted text — so the model can tell a pin from a host from a file.
pub fn marker(entity: &str) -> char {
    if entity.is_empty() {
        '#'
    } else {
        kind(entity).unwrap_or('#')
    }
}

/// The request with its [`entities`] replaced by `#1`, `#2`, ... (`%n`, `@n`, `$n` by kind).
pub fn mask(request: &str) -> String {
    let mut out = String::with_capacity(request.len());
    let mut rest = request;
    for (n, entity) in entities(request).into_iter().enumerate() {
        // Entities are sub-slices of `request`, in order.
        let at = entity.as_ptr() as usize - rest.as_ptr() as usize;
        out.push_str(&rest[..at]);
        out.push(marker(entity));
        out.push(char::from(b'1' + n as u8));
        rest = &rest[at + entity.len()..];
    }
    out.push_str(rest);
    out
}

/// A value as it goes into an answer's JSON: hex numbers in decimal, quoted text without
/// its quotes and escaped for a JSON string.
fn json_value(value: &str, out: &mut String) {
    match marker(value) {
        '#' => match value.strip_prefix("0x").map(|hex| u64::from_str_radix(hex, 16)) {
            Some(Ok(number)) => {
                use core::fmt::Write;
                let _ = write!(out, "{number}");
            }
            _ => out.push_str(value),
        },
        '$' => {
            for c in value[1..value.len() - 1].chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 => out.push(' '),
                    c => out.push(c),
                }
            }
        }
        _ => out.push_str(value),
    }
}

/// Replaces `#1`..`#9` (and `%n`, `@n`, `$n`) in a model answer by the request's values; a
/// reference to a value the request does not have, or of another kind, stays as it is (and
/// will not parse as JSON or will fail the tool's schema).
pub fn fill(answer: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(answer.len() + 16);
    let mut chars = answer.chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, '#' | '%' | '@' | '$') {
            if let Some(&digit @ '1'..='9') = chars.peek() {
                if let Some(value) = values.get(digit as usize - '1' as usize).filter(|v| marker(v) == c) {
                    chars.next();
                    json_value(value, &mut out);
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// The model's input for a request: normalised, values masked, and a newline.
pub fn prompt(request: &str) -> String {
    let mut text = mask(&normalise(request));
    text.push('\n');
    text
}

/// A decoded answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Proposal {
    /// The answer line (`tool {json}` or `none`), trimmed, with the request's values filled
    /// in.
    pub text: String,
    /// The model's own line (with `#n` references).
    pub raw: String,
    /// Geometric mean of the chosen tokens' probabilities (EOS included), 0..=1.
    pub confidence: f32,
}

/// Metadata key of the answers an intent model may give (string array of answer lines with
/// `#n` references, `none` included), written by the trainer.
pub const ANSWERS_KEY: &str = "kingly.intent.answers";

/// Metadata key of the words of the model's domain (string array): every word of its
/// training phrasings for a tool call, less [`STOP_WORDS`], written by the trainer.
pub const DOMAIN_KEY: &str = "kingly.intent.domain";

/// Words that say nothing about what a request is about (questions, pronouns, politeness,
/// generic verbs): never domain words.
pub const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "is",
    "it",
    "its",
    "it's",
    "are",
    "was",
    "be",
    "been",
    "what",
    "what's",
    "whats",
    "how",
    "why",
    "who",
    "when",
    "where",
    "which",
    "do",
    "does",
    "did",
    "i",
    "i'm",
    "you",
    "me",
    "my",
    "we",
    "us",
    "our",
    "your",
    "please",
    "can",
    "could",
    "would",
    "will",
    "should",
    "to",
    "of",
    "in",
    "at",
    "for",
    "with",
    "and",
    "or",
    "this",
    "that",
    "there",
    "so",
    "just",
    "some",
    "any",
    "all",
    "tell",
    "give",
    "show",
    "get",
    "let",
    "see",
    "know",
    "want",
    "need",
    "like",
    "much",
    "many",
    "right",
    "thanks",
    "thank",
    "hey",
    "hi",
    "yo",
    "ok",
    "okay",
    "go",
    "make",
    "have",
    "has",
    "about",
    "from",
    "by",
    "if",
    "not",
    "no",
    "yes",
    "kingly",
    "now",
    "quickly",
    "for",
    "then",
    "up",
    "am",
    "im",
    "be",
    "very",
    "really",
    "also",
    "too",
    "again",
    "here",
    "out",
    "into",
    "as",
    "than",
    "them",
    "they",
    "he",
    "she",
    "his",
    "her",
    "their",
    "one",
    "thing",
    "something",
    "anything",
    "look",
    "looking",
    "doing",
];

/// Whether `word` is one edit (insertion, deletion, substitution, or two neighbours swapped)
/// from `known`: a typo of it. Only words of six letters or more, with the right first
/// letter, are taken as typos ("mount" is not a typo of "count").
fn one_edit(word: &str, known: &str) -> bool {
    let (a, b) = (word.as_bytes(), known.as_bytes());
    if a.len() < 6 || b.len() < 6 || a.len().abs_diff(b.len()) > 1 || a[0] != b[0] {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    if ra.is_empty() || rb.is_empty() {
        return ra.len() + rb.len() <= 1;
    }
    ra[1..] == rb[1..]
        || ra[1..] == *rb
        || *ra == rb[1..]
        || (ra.len() >= 2 && rb.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
}

/// Whether a normalised request has a word of the model's domain (`domain`, sorted), or a
/// typo of one. Values (numbers, files, quoted text) and [`STOP_WORDS`] do not count.
pub fn in_domain(request: &str, domain: &[String]) -> bool {
    let values = entities(request);
    // A file name or an address is only ever an argument of a tool.
    if values.iter().any(|v| matches!(marker(v), '@' | '%')) {
        return true;
    }
    request.split(' ').filter(|w| !w.is_empty() && !STOP_WORDS.contains(w)).any(|word| {
        if values.iter().any(|v| v.contains(word)) || word.starts_with('"') {
            return false;
        }
        domain.binary_search_by(|d| d.as_str().cmp(word)).is_ok() || domain.iter().any(|d| one_edit(word, d))
    })
}

/// The answers a model may give, as token sequences (each ending with EOS). Decoding
/// restricted to them ([`greedy`] with `Some(answers)`) can only produce one of these lines:
/// never a tool or argument shape the model was not taught, whatever the request.
#[derive(Clone, Debug, Default)]
pub struct Answers {
    /// The words of the model's domain, sorted ([`DOMAIN_KEY`]); empty: not recorded.
    pub domain: Vec<String>,
    sequences: Vec<Vec<u32>>,
    /// The references (`#n`/`%n`) each answer uses, as (marker, n).
    references: Vec<Vec<(char, usize)>>,
}

/// The `#n`/`%n` references of an answer line.
fn references(line: &str) -> Vec<(char, usize)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    for i in 0..bytes.len().saturating_sub(1) {
        if matches!(bytes[i], b'#' | b'%' | b'@' | b'$') && (b'1'..=b'9').contains(&bytes[i + 1]) {
            out.push((bytes[i] as char, (bytes[i + 1] - b'0') as usize));
        }
    }
    out
}

impl Answers {
    /// Tokenizes answer lines the way they follow a request's newline.
    pub fn new(tokenizer: &Tokenizer, lines: &[&str]) -> Answers {
        let prefix = tokenizer.encode("x\n", false);
        let mut sequences: Vec<Vec<u32>> = Vec::with_capacity(lines.len());
        let mut refs: Vec<Vec<(char, usize)>> = Vec::with_capacity(lines.len());
        for line in lines {
            let mut line_prompt = String::from("x\n");
            line_prompt.push_str(line);
            let tokens = tokenizer.encode(&line_prompt, false);
            // Merges never cross the newline in intent vocabularies; a line whose tokens
            // would is skipped rather than mis-tokenized.
            if tokens.len() <= prefix.len() || tokens[..prefix.len()] != prefix[..] {
                continue;
            }
            let mut sequence = tokens[prefix.len()..].to_vec();
            sequence.push(tokenizer.eos);
            if !sequences.contains(&sequence) {
                sequences.push(sequence);
                refs.push(references(line));
            }
        }
        Answers { domain: Vec::new(), sequences, references: refs }
    }

    /// The answers a request with these values can take: every `#n` names a whole number
    /// and every `%n` a dotted value the request has. A call cannot refer to a value the
    /// user did not give.
    pub fn for_values(&self, values: &[&str]) -> Answers {
        let fits =
            |refs: &Vec<(char, usize)>| refs.iter().all(|&(m, n)| values.get(n - 1).is_some_and(|v| marker(v) == m));
        let keep: Vec<usize> = (0..self.sequences.len()).filter(|&i| fits(&self.references[i])).collect();
        Answers {
            domain: self.domain.clone(),
            sequences: keep.iter().map(|&i| self.sequences[i].clone()).collect(),
            references: keep.iter().map(|&i| self.references[i].clone()).collect(),
        }
    }

    /// The answers recorded in a model file ([`ANSWERS_KEY`]), if any.
    pub fn from_gguf(gguf: &Gguf<'_>, tokenizer: &Tokenizer) -> Option<Answers> {
        let lines: Vec<&str> = gguf.get(ANSWERS_KEY)?.as_array()?.iter().filter_map(|v| v.as_str()).collect();
        let mut answers = Answers::new(tokenizer, &lines);
        if let Some(words) = gguf.get(DOMAIN_KEY).and_then(|v| v.as_array()) {
            answers.domain = words.iter().filter_map(|v| v.as_str()).map(String::from).collect();
            answers.domain.sort_unstable();
        }
        (!answers.sequences.is_empty()).then_some(answers)
    }

    /// Number of distinct answers.
    pub fn len(&self) -> usize {
        self.sequences.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }

    /// Whether `token` may follow `prefix` in some answer.
    fn allows(&self, prefix: &[u32], token: u32) -> bool {
        self.sequences
            .iter()
            .any(|s| s.len() > prefix.len() && s[..prefix.len()] == prefix[..] && s[prefix.len()] == token)
    }
}

/// Greedy decoding of `prompt` (BOS is added) until EOS, a newline or `max_tokens`. With
/// `answers`, each step takes the most likely token that continues one of them.
pub fn greedy(
    model: &Model<'_>,
    tokenizer: &Tokenizer,
    prompt: &str,
    max_tokens: usize,
    answers: Option<&Answers>,
    parallel: &dyn Parallel,
) -> Result<Proposal, Error> {
    greedy_with(model, tokenizer, &tokenizer.encode(prompt, true), max_tokens, answers, parallel, &mut || true)
        .map(|p| p.unwrap_or_default())
}

/// [`greedy`] over prompt token ids, asking `go_on()` after every token it runs (prompt
/// and answer): `None` when it said no (cancelled, out of time).
pub fn greedy_with(
    model: &Model<'_>,
    tokenizer: &Tokenizer,
    tokens: &[u32],
    max_tokens: usize,
    answers: Option<&Answers>,
    parallel: &dyn Parallel,
    go_on: &mut dyn FnMut() -> bool,
) -> Result<Option<Proposal>, Error> {
    let mut state = State::new(&model.config, tokens.len() + max_tokens + 1);
    if tokens.len() + 1 >= state.context() {
        return Err(Error::Unsupported("the request is longer than the model's context".into()));
    }
    for (position, &token) in tokens.iter().enumerate() {
        model.forward(&mut state, token as usize, position, parallel)?;
        if !go_on() {
            return Ok(None);
        }
    }
    let mut decoder = Decoder::continuing();
    let mut text = String::new();
    let mut chosen_tokens: Vec<u32> = Vec::new();
    let mut log_probability = 0.0f32;
    for position in tokens.len()..tokens.len() + max_tokens {
        let logits = &state.logits;
        let mut best: Option<usize> = None;
        for (i, &logit) in logits.iter().enumerate() {
            if best.is_some_and(|b| logits[b] >= logit) {
                continue;
            }
            if answers.is_none_or(|a| a.allows(&chosen_tokens, i as u32)) {
                best = Some(i);
            }
        }
        let Some(best) = best else { break };
        // Probabilities over the whole vocabulary: what the constraint excluded still
        // lowers the confidence.
        let top = logits.iter().fold(f32::MIN, |m, &l| m.max(l));
        let sum: f32 = logits.iter().map(|&l| libm::expf(l - top)).sum();
        log_probability += logits[best] - top - libm::logf(sum.max(1.0));
        chosen_tokens.push(best as u32);
        if tokenizer.is_stop(best as u32) {
            break;
        }
        let piece = decoder.push(tokenizer, best as u32);
        if let Some((line, _)) = piece.split_once('\n') {
            text.push_str(line);
            break;
        }
        text.push_str(&piece);
        if position + 1 >= state.context() {
            break;
        }
        model.forward(&mut state, best, position, parallel)?;
        if !go_on() {
            return Ok(None);
        }
    }
    text.push_str(&decoder.finish());
    let confidence = libm::expf(log_probability / chosen_tokens.len().max(1) as f32);
    let text = String::from(text.trim());
    Ok(Some(Proposal { raw: text.clone(), text, confidence }))
}

/// The intent model's answer for `request`, with the request's values filled in; restricted
/// to `answers` when given.
pub fn propose(
    model: &Model<'_>,
    tokenizer: &Tokenizer,
    request: &str,
    answers: Option<&Answers>,
    parallel: &dyn Parallel,
) -> Result<Proposal, Error> {
    let normalised = normalise(request);
    // A request without one word of the model's domain is about something else: refused
    // before the model runs (the model has never seen most such words, so its guess would
    // be noise).
    if answers.is_some_and(|a| !a.domain.is_empty() && !in_domain(&normalised, &a.domain)) {
        return Ok(Proposal { text: String::from(NONE), raw: String::from(NONE), confidence: 1.0 });
    }
    let values = entities(&normalised);
    let answers = answers.map(|a| a.for_values(&values));
    let mut proposal = greedy(model, tokenizer, &prompt(request), MAX_ANSWER, answers.as_ref(), parallel)?;
    proposal.raw = rebind(&proposal.raw, &normalised);
    proposal.text = fill(&proposal.raw, &values);
    Ok(proposal)
}

/// An argument, the words just before its number, weaker such words, words just after it.
type Cue = (&'static str, &'static [&'static str], &'static [&'static str], &'static [&'static str]);

/// Words that mark a number as the value of an argument: (argument, words just before the
/// number, weaker such words, words just after it). "pin 17", "50 percent", "440 hz",
/// "register 0xd0", "2 bytes", "device 0x76" (weaker: "at 0x76", "to 0x76").
const CUES: &[Cue] = &[
    ("pin", &["pin", "pins", "gpio", "gpios", "bcm"], &[], &[]),
    ("frequency_hz", &["frequency", "freq"], &[], &["hz", "hertz", "khz"]),
    ("duty_percent", &["duty", "cycle", "brightness", "speed"], &[], &["percent", "pct", "duty"]),
    ("address", &["address", "addr", "device", "chip", "i2c", "sensor"], &["at", "to", "from"], &[]),
    ("write", &["register", "reg", "registers"], &[], &[]),
    ("length", &["length", "len"], &["read", "get", "fetch", "dump"], &["bytes", "byte"]),
    ("count", &["count"], &[], &["words", "numbers", "values", "random"]),
    ("lines", &["last"], &[], &["lines", "line"]),
];

/// How strongly the words around value `n` (0-based) of `request` say it is `key`: a cue
/// right before or after it counts 2 (a weak one 1), a cue a word further 1.
fn cue_score(key: &str, words: &[&str], positions: &[usize], n: usize) -> u32 {
    let Some(&(_, before, weak, after)) = CUES.iter().find(|(k, _, _, _)| *k == key) else { return 0 };
    let Some(&at) = positions.get(n) else { return 0 };
    let word = |i: Option<usize>| i.and_then(|i| words.get(i)).copied().unwrap_or("");
    let previous = word(at.checked_sub(1));
    let mut score = if before.contains(&previous) { 2 } else { u32::from(weak.contains(&previous)) };
    score += u32::from(before.contains(&word(at.checked_sub(2))));
    if after.contains(&word(at.checked_add(1))) {
        score += 2;
    } else if after.contains(&word(at.checked_add(2))) {
        score += 1;
    }
    score
}

/// The answer's whole-number references with the argument each fills: `"pin":#2` gives
/// ("pin", position of `#2`); an element of an array gets its array's key when the array
/// has one element and an empty key (no cues) otherwise.
fn referenced_keys(answer: &str) -> Vec<(String, usize)> {
    let bytes = answer.as_bytes();
    let mut out = Vec::new();
    for i in 0..bytes.len().saturating_sub(1) {
        if bytes[i] != b'#' || !(b'1'..=b'9').contains(&bytes[i + 1]) {
            continue;
        }
        let before = &answer[..i];
        let single = before.ends_with('[') && answer[i + 2..].starts_with(']');
        let key = match before.trim_end_matches('[').strip_suffix("\":") {
            Some(head) if !before.ends_with('[') || single => {
                head.rsplit('"').next().map(String::from).unwrap_or_default()
            }
            _ => String::new(),
        };
        out.push((key, i));
    }
    out
}

/// Puts the values of a model answer where the request's words say they belong: when the
/// answer takes several whole numbers ("pin", "frequency_hz", "duty_percent") and another
/// assignment of the same references fits the cue words around them ([`CUES`]) strictly
/// better, that one is used. A small model tells *which* call is meant far better than which
/// number is which; this makes the second as reliable as the words are.
pub fn rebind(answer: &str, request: &str) -> String {
    let slots = referenced_keys(answer);
    if slots.len() < 2 || slots.len() > 5 || slots.iter().all(|(k, _)| k.is_empty()) {
        return String::from(answer);
    }
    // Word positions of the request's values.
    let words: Vec<&str> = request.split(' ').collect();
    let values = entities(request);
    let mut positions = Vec::with_capacity(values.len());
    let mut offset = 0;
    let mut index = 0;
    for value in &values {
        let at = value.as_ptr() as usize - request.as_ptr() as usize;
        while index < words.len() && offset + words[index].len() < at + 1 {
            offset += words[index].len() + 1;
            index += 1;
        }
        positions.push(index);
    }
    let current: Vec<usize> = slots.iter().map(|&(_, at)| (answer.as_bytes()[at + 1] - b'1') as usize).collect();
    let score = |assignment: &[usize]| -> u32 {
        slots.iter().zip(assignment).map(|((key, _), &n)| cue_score(key, &words, &positions, n)).sum()
    };
    let mut best = current.clone();
    let mut best_score = score(&current);
    // Every ordering of the referenced values (at most 5! = 120).
    let mut order = current.clone();
    order.sort_unstable();
    loop {
        let candidate_score = score(&order);
        if candidate_score > best_score {
            best_score = candidate_score;
            best = order.clone();
        }
        if !next_permutation(&mut order) {
            break;
        }
    }
    if best == current {
        return String::from(answer);
    }
    let mut out = String::from(answer);
    for (&(_, at), &n) in slots.iter().zip(&best) {
        out.replace_range(at + 1..at + 2, &String::from(char::from(b'1' + n as u8)));
    }
    out
}

/// The next lexicographic permutation; `false` after the last.
fn next_permutation(items: &mut [usize]) -> bool {
    let Some(i) = (1..items.len()).rev().find(|&i| items[i - 1] < items[i]) else { return false };
    let Some(j) = (i..items.len()).rev().find(|&j| items[j] > items[i - 1]) else { return false };
    items.swap(i - 1, j);
    items[i..].reverse();
    true
}

/// `tool {json}` → `(tool, json)`; a bare `tool` → `(tool, "{}")`; `none` or text that does
/// not start with a tool name (lower-case letters, digits, `_`) → `None`.
pub fn split(answer: &str) -> Option<(&str, &str)> {
    let answer = answer.trim();
    let (tool, arguments) = match answer.split_once(' ') {
        Some((tool, arguments)) => (tool, arguments.trim()),
        None => (answer, "{}"),
    };
    let valid = !tool.is_empty()
        && tool != NONE
        && tool.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && tool.as_bytes()[0].is_ascii_lowercase();
    valid.then_some((tool, arguments))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn requests_are_normalised() {
        assert_eq!(normalise("  How much MEMORY is free?  "), "how much memory is free");
        assert_eq!(normalise("Ping 10.0.2.2."), "ping 10.0.2.2");
        assert_eq!(normalise("what's up!!"), "what's up");
        assert_eq!(normalise("turn\ton   pin\n17"), "turn on pin 17");
        assert_eq!(normalise("?!"), "");
        let long = "word ".repeat(100);
        let cut = normalise(&long);
        assert!(cut.len() <= MAX_REQUEST && cut.ends_with("word"), "{cut}");
        assert_eq!(prompt("Hi"), "hi\n");
    }

    #[test]
    fn values_are_masked_and_filled_back() {
        let request = normalise("Read 6 bytes from I2C address 72, then ping 10.0.2.2.");
        assert_eq!(entities(&request), ["6", "72", "10.0.2.2"]);
        assert_eq!(mask(&request), "read #1 bytes from i2c address #2 then ping %3");
        assert_eq!(prompt("turn on pin 17"), "turn on pin #1\n");
        assert_eq!(entities("the 2nd pin"), Vec::<&str>::new());
        assert_eq!(
            fill(r#"i2c_read {"address":#2,"length":#1}"#, &["6", "72"]),
            r#"i2c_read {"address":72,"length":6}"#
        );
        assert_eq!(fill(r#"net_ping {"host":"%1"}"#, &["10.0.2.2"]), r#"net_ping {"host":"10.0.2.2"}"#);
        assert_eq!(
            fill(r#"gpio_read {"pin":#1}"#, &["10.0.2.2"]),
            r#"gpio_read {"pin":#1}"#,
            "a dotted value is not a pin"
        );
        assert_eq!(
            fill(r#"gpio_read {"pin":#2}"#, &["4"]),
            r#"gpio_read {"pin":#2}"#,
            "a missing value stays a reference"
        );
        assert_eq!(fill("a #0 #x #", &[]), "a #0 #x #");
        let many = "1 2 3 4 5 6 7 8 9 10 11";
        assert_eq!(entities(many).len(), MAX_ENTITIES);
        assert!(mask(many).ends_with("#9 10 11"), "{}", mask(many));
    }

    #[test]
    fn files_hex_numbers_and_quoted_text_are_values() {
        let request = normalise(r#"Write "Hello, World!" to /data/Notes.TXT please"#);
        assert_eq!(request, r#"write "Hello, World!" to /data/notes.txt please"#);
        assert_eq!(entities(&request), [r#""Hello, World!""#, "/data/notes.txt"]);
        assert_eq!(mask(&request), "write $1 to @2 please");
        assert_eq!(
            fill(r#"fs_write {"path":"@2","content":"$1"}"#, &entities(&request)),
            r#"fs_write {"path":"/data/notes.txt","content":"Hello, World!"}"#
        );
        let request = normalise("send 0x9F 0 255 over spi");
        assert_eq!(mask(&request), "send #1 #2 #3 over spi");
        assert_eq!(
            fill("spi_transfer {\"data\":[#1,#2,#3]}", &entities(&request)),
            r#"spi_transfer {"data":[159,0,255]}"#
        );
        assert_eq!(mask(&normalise("cat config.txt.")), "cat @1");
        assert_eq!(mask(&normalise("what's 0xzz or 0x or i2c or 2nd")), "what's 0xzz or 0x or i2c or 2nd");
        // Quotes: typographic ones too; a backslash or quote inside is escaped for JSON;
        // an unclosed quote is dropped; quoted text does not count towards the limit.
        let request = normalise("say \u{201c}a\\b\u{201d}");
        assert_eq!(fill(r#"{"t":"$1"}"#, &entities(&request)), r#"{"t":"a\\b"}"#);
        assert_eq!(normalise(r#"say "unclosed"#), "say unclosed");
        let long = format!("write \"{}\" to a.txt", "x".repeat(1000));
        assert_eq!(mask(&normalise(&long)), "write $1 to @2");
        assert_eq!(normalise(&normalise(&long)), normalise(&long), "idempotent");
        assert_eq!(normalise(r#""Hi." ok."#), r#""Hi." ok"#);
    }

    #[test]
    fn values_are_put_where_the_words_say() {
        let pwm = r#"pwm_set {"pin":#1,"frequency_hz":1000,"duty_percent":#2}"#;
        let request = normalise("put 60 percent pwm on pin 19");
        assert_eq!(rebind(pwm, &request), r#"pwm_set {"pin":#2,"frequency_hz":1000,"duty_percent":#1}"#);
        assert_eq!(rebind(pwm, &normalise("pin 19 at 60 percent")), pwm, "already right");
        let full = r#"pwm_set {"pin":#1,"frequency_hz":#2,"duty_percent":#3}"#;
        let request = normalise("run the fan on pin 13 at 40 with a frequency of 25000 hz");
        assert_eq!(
            fill(&rebind(full, &request), &entities(&request)),
            r#"pwm_set {"pin":13,"frequency_hz":25000,"duty_percent":40}"#
        );
        let request = normalise("set pin 12 to 2000Hz duty 25%");
        assert_eq!(request, "set pin 12 to 2000 hz duty 25");
        assert_eq!(
            fill(&rebind(full, &request), &entities(&request)),
            r#"pwm_set {"pin":12,"frequency_hz":2000,"duty_percent":25}"#
        );
        let read = r#"i2c_write_read {"address":#1,"write":[#2],"length":#3}"#;
        let request = normalise("i2c read reg 0xd0 from 0x76 length 1");
        assert_eq!(
            fill(&rebind(read, &request), &entities(&request)),
            r#"i2c_write_read {"address":118,"write":[208],"length":1}"#
        );
        let set = r#"i2c_write {"address":#3,"data":[#1,#2]}"#;
        let request = normalise("set register 0xaa of the i2c device at 35 to 22");
        assert_eq!(fill(&rebind(set, &request), &entities(&request)), r#"i2c_write {"address":35,"data":[170,22]}"#);
        // Data bytes keep their order; without cues nothing moves.
        let write = r#"i2c_write {"address":#3,"data":[#1,#2]}"#;
        assert_eq!(rebind(write, &normalise("write 1 2 to device 3")), write);
        assert_eq!(rebind("memory_stats {}", "how much memory"), "memory_stats {}");
    }

    #[test]
    fn requests_outside_the_domain_are_recognised() {
        let mut domain: Vec<String> =
            ["memory", "pin", "temperature", "reboot", "hot"].iter().map(|w| String::from(*w)).collect();
        domain.sort();
        assert!(in_domain("how much memory is free", &domain));
        assert!(in_domain("how much memroy is free", &domain), "a typo of a domain word");
        assert!(in_domain("what's the tempreature", &domain));
        assert!(in_domain("what's the temprature", &domain));
        assert!(!in_domain("how tall is mount everest", &domain));
        assert!(!in_domain("what day is it tomorrow", &domain));
        assert!(!in_domain("write \"memory pin\" to 17", &domain), "values are not words of the request");
        assert!(!in_domain("", &domain));
        assert!(one_edit("reboto", "reboot") && one_edit("rebboot", "reboot") && !one_edit("pint", "pin"));
        assert!(!one_edit("mount", "count") && !one_edit("bemory", "memory"));
        assert!(in_domain("show me notes.txt", &domain) && in_domain("is 10.0.0.1 up", &domain));
    }

    #[test]
    fn references_are_found_in_answer_lines() {
        assert_eq!(references(r#"i2c_read {"address":#2,"length":#1}"#), [('#', 2), ('#', 1)]);
        assert_eq!(references(r#"net_ping {"host":"%1"}"#), [('%', 1)]);
        assert_eq!(references("memory_stats {}"), []);
        assert_eq!(references("#"), []);
        assert_eq!(references(r#"fs_write {"path":"@2","content":"$1"}"#), [('@', 2), ('$', 1)]);
    }

    #[test]
    fn answers_split_into_tool_and_arguments() {
        assert_eq!(split("memory_stats {}"), Some(("memory_stats", "{}")));
        assert_eq!(split(r#"gpio_write {"pin":17,"value":true}"#), Some(("gpio_write", r#"{"pin":17,"value":true}"#)));
        assert_eq!(split("system_info"), Some(("system_info", "{}")));
        assert_eq!(split("none"), None);
        assert_eq!(split(""), None);
        assert_eq!(split("Memory {}"), None);
        assert_eq!(split("9lives {}"), None);
        assert_eq!(split("{\"pin\":1}"), None);
    }
}
