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

/// Longest request the model sees, in bytes (longer ones are cut at a word boundary).
pub const MAX_REQUEST: usize = 160;

/// Longest answer, in tokens.
pub const MAX_ANSWER: usize = 40;

/// The answer for a request that maps to no tool.
pub const NONE: &str = "none";

/// Lower case; letters, digits, `'` and `.` kept (IP addresses, "what's"), every other
/// character a space; single spaces; no trailing `.`; at most [`MAX_REQUEST`] bytes.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_REQUEST));
    let mut space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let keep = c.is_alphanumeric() || c == '\'' || c == '.';
        if !keep {
            space = !out.is_empty();
            continue;
        }
        if space {
            if out.len() + 1 >= MAX_REQUEST {
                break;
            }
            out.push(' ');
            space = false;
        }
        if out.len() + c.len_utf8() > MAX_REQUEST {
            break;
        }
        out.push(c);
    }
    while out.ends_with('.') || out.ends_with(' ') {
        out.pop();
    }
    out
}

/// At most this many values of a request are referred to (`#1`..`#9`).
pub const MAX_ENTITIES: usize = 9;

/// The numbers of a normalised request, in order: maximal runs of digits and dots that start
/// with a digit (`17`, `10.0.2.2`), without a trailing dot.
pub fn entities(request: &str) -> Vec<&str> {
    let bytes = request.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() && out.len() < MAX_ENTITIES {
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if bytes[i].is_ascii_digit() && starts_word {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let mut end = i;
            while end > start && bytes[end - 1] == b'.' {
                end -= 1;
            }
            // Digits glued to letters ("2nd", "i2c") are words, not values.
            if i == bytes.len() || !bytes[i].is_ascii_alphabetic() {
                out.push(&request[start..end]);
            }
        }
        i += 1;
    }
    out
}

/// The marker of an entity in a masked request: `#` for a whole number, `%` for a dotted
/// one (an IPv4 address, a version), so the model can tell a pin from a host.
fn marker(entity: &str) -> char {
    if entity.contains('.') {
        '%'
    } else {
        '#'
    }
}

/// The request with its [`entities`] replaced by `#1`, `#2`, ... (`%n` for dotted values).
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

/// Replaces `#1`..`#9` (and `%1`..`%9`) in a model answer by the request's values; a
/// reference to a value the request does not have, or of the other kind, stays as it is (and
/// will not parse as JSON).
pub fn fill(answer: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(answer.len() + 16);
    let mut chars = answer.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '#' || c == '%' {
            if let Some(&digit @ '1'..='9') = chars.peek() {
                if let Some(value) = values.get(digit as usize - '1' as usize).filter(|v| marker(v) == c) {
                    chars.next();
                    out.push_str(value);
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

/// The answers a model may give, as token sequences (each ending with EOS). Decoding
/// restricted to them ([`greedy`] with `Some(answers)`) can only produce one of these lines:
/// never a tool or argument shape the model was not taught, whatever the request.
#[derive(Clone, Debug, Default)]
pub struct Answers {
    sequences: Vec<Vec<u32>>,
    /// The references (`#n`/`%n`) each answer uses, as (marker, n).
    references: Vec<Vec<(char, usize)>>,
}

/// The `#n`/`%n` references of an answer line.
fn references(line: &str) -> Vec<(char, usize)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    for i in 0..bytes.len().saturating_sub(1) {
        if (bytes[i] == b'#' || bytes[i] == b'%') && (b'1'..=b'9').contains(&bytes[i + 1]) {
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
        Answers { sequences, references: refs }
    }

    /// The answers a request with these values can take: every `#n` names a whole number
    /// and every `%n` a dotted value the request has. A call cannot refer to a value the
    /// user did not give.
    pub fn for_values(&self, values: &[&str]) -> Answers {
        let fits =
            |refs: &Vec<(char, usize)>| refs.iter().all(|&(m, n)| values.get(n - 1).is_some_and(|v| marker(v) == m));
        let keep: Vec<usize> = (0..self.sequences.len()).filter(|&i| fits(&self.references[i])).collect();
        Answers {
            sequences: keep.iter().map(|&i| self.sequences[i].clone()).collect(),
            references: keep.iter().map(|&i| self.references[i].clone()).collect(),
        }
    }

    /// The answers recorded in a model file ([`ANSWERS_KEY`]), if any.
    pub fn from_gguf(gguf: &Gguf<'_>, tokenizer: &Tokenizer) -> Option<Answers> {
        let lines: Vec<&str> = gguf.get(ANSWERS_KEY)?.as_array()?.iter().filter_map(|v| v.as_str()).collect();
        let answers = Answers::new(tokenizer, &lines);
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
    let values = entities(&normalised);
    let answers = answers.map(|a| a.for_values(&values));
    let mut proposal = greedy(model, tokenizer, &prompt(request), MAX_ANSWER, answers.as_ref(), parallel)?;
    proposal.text = fill(&proposal.raw, &values);
    Ok(proposal)
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
    fn references_are_found_in_answer_lines() {
        assert_eq!(references(r#"i2c_read {"address":#2,"length":#1}"#), [('#', 2), ('#', 1)]);
        assert_eq!(references(r#"net_ping {"host":"%1"}"#), [('%', 1)]);
        assert_eq!(references("memory_stats {}"), []);
        assert_eq!(references("#"), []);
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
