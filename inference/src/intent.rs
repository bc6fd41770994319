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
//! with the geometric mean of the chosen tokens' probabilities.

use crate::{
    error::Error,
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

/// The request with its [`entities`] replaced by `#1`, `#2`, ...
pub fn mask(request: &str) -> String {
    let mut out = String::with_capacity(request.len());
    let mut rest = request;
    for (n, entity) in entities(request).into_iter().enumerate() {
        // Entities are sub-slices of `request`, in order.
        let at = entity.as_ptr() as usize - rest.as_ptr() as usize;
        out.push_str(&rest[..at]);
        out.push('#');
        out.push(char::from(b'1' + n as u8));
        rest = &rest[at + entity.len()..];
    }
    out.push_str(rest);
    out
}

/// Replaces `#1`..`#9` in a model answer by the request's values; a reference to a value
/// the request does not have stays as it is (and will not parse as JSON).
pub fn fill(answer: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(answer.len() + 16);
    let mut chars = answer.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '#' {
            if let Some(&digit @ '1'..='9') = chars.peek() {
                if let Some(value) = values.get(digit as usize - '1' as usize) {
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
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    /// The answer line (`tool {json}` or `none`), trimmed, with the request's values filled
    /// in.
    pub text: String,
    /// The model's own line (with `#n` references).
    pub raw: String,
    /// Geometric mean of the chosen tokens' probabilities (EOS included), 0..=1.
    pub confidence: f32,
}

/// Greedy decoding of `prompt` (BOS is added) until EOS, a newline or `max_tokens`.
pub fn greedy(
    model: &Model<'_>,
    tokenizer: &Tokenizer,
    prompt: &str,
    max_tokens: usize,
    parallel: &dyn Parallel,
) -> Result<Proposal, Error> {
    let tokens = tokenizer.encode(prompt, true);
    let mut state = State::new(&model.config, tokens.len() + max_tokens + 1);
    if tokens.len() + 1 >= state.context() {
        return Err(Error::Unsupported("the request is longer than the model's context".into()));
    }
    for (position, &token) in tokens.iter().enumerate() {
        model.forward(&mut state, token as usize, position, parallel)?;
    }
    let mut decoder = Decoder::continuing();
    let mut text = String::new();
    let mut log_probability = 0.0f32;
    let mut chosen = 0usize;
    for position in tokens.len()..tokens.len() + max_tokens {
        let logits = &state.logits;
        let mut best = 0;
        for (i, &logit) in logits.iter().enumerate() {
            if logit > logits[best] {
                best = i;
            }
        }
        let top = logits[best];
        let sum: f32 = logits.iter().map(|&l| libm::expf(l - top)).sum();
        log_probability -= libm::logf(sum.max(1.0));
        chosen += 1;
        if best as u32 == tokenizer.eos {
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
    }
    text.push_str(&decoder.finish());
    let confidence = libm::expf(log_probability / chosen.max(1) as f32);
    let text = String::from(text.trim());
    Ok(Proposal { raw: text.clone(), text, confidence })
}

/// The intent model's answer for `request`, with the request's values filled in.
pub fn propose(model: &Model<'_>, tokenizer: &Tokenizer, request: &str, parallel: &dyn Parallel) -> Result<Proposal, Error> {
    let mut proposal = greedy(model, tokenizer, &prompt(request), MAX_ANSWER, parallel)?;
    let normalised = normalise(request);
    proposal.text = fill(&proposal.raw, &entities(&normalised));
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
        assert_eq!(mask(&request), "read #1 bytes from i2c address #2 then ping #3");
        assert_eq!(prompt("turn on pin 17"), "turn on pin #1\n");
        assert_eq!(entities("the 2nd pin"), Vec::<&str>::new());
        assert_eq!(fill(r#"i2c_read {"address":#2,"length":#1}"#, &["6", "72"]), r#"i2c_read {"address":72,"length":6}"#);
        assert_eq!(fill(r##"net_ping {"host":"#1"}"##, &["10.0.2.2"]), r#"net_ping {"host":"10.0.2.2"}"#);
        assert_eq!(fill(r#"gpio_read {"pin":#2}"#, &["4"]), r#"gpio_read {"pin":#2}"#, "a missing value stays a reference");
        assert_eq!(fill("a #0 #x #", &[]), "a #0 #x #");
        let many = "1 2 3 4 5 6 7 8 9 10 11";
        assert_eq!(entities(many).len(), MAX_ENTITIES);
        assert!(mask(many).ends_with("#9 10 11"), "{}", mask(many));
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
