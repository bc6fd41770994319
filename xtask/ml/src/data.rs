//! The intent dataset: `intents.txt` (tool-call templates with training and held-out
//! phrasings) expanded into (request, answer) pairs with seeded slot values.

use crate::rng::Rng;
use anyhow::{bail, Context, Result};

/// One intent: the call template and its phrasings.
pub struct Intent {
    /// `tool {json}` with `{slot}` placeholders, or `none`.
    pub call: String,
    /// Phrasings used for training.
    pub train: Vec<String>,
    /// Phrasings only evaluated.
    pub held_out: Vec<String>,
}

/// A request, the call it means (with its values), and the line the model must write
/// (values as `#n` references to the request's numbers, see `inference::intent`).
#[derive(Clone, Debug)]
pub struct Example {
    pub request: String,
    pub answer: String,
    pub target: String,
}

/// Parses the dataset file.
pub fn parse(text: &str) -> Result<Vec<Intent>> {
    let mut intents: Vec<Intent> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, rest) = line.split_at(1);
        let rest = rest.trim().to_string();
        match kind {
            "=" => intents.push(Intent { call: rest, train: Vec::new(), held_out: Vec::new() }),
            "-" | "+" => {
                let intent = intents.last_mut().with_context(|| format!("line {}: phrasing before any '=' call", number + 1))?;
                if kind == "-" {
                    intent.train.push(rest);
                } else {
                    intent.held_out.push(rest);
                }
            }
            _ => bail!("line {}: expected '=', '-' or '+': {line}", number + 1),
        }
    }
    for intent in &intents {
        if intent.train.is_empty() {
            bail!("intent '{}' has no training phrasings", intent.call);
        }
        for phrase in intent.train.iter().chain(&intent.held_out) {
            for slot in slots(phrase) {
                if !intent.call.contains(&format!("{{{slot}}}")) && intent.call != inference::intent::NONE {
                    bail!("'{phrase}' fills {{{slot}}}, which '{}' does not use", intent.call);
                }
            }
        }
    }
    Ok(intents)
}

fn slots(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else { break };
        let name = &rest[start + 1..start + len];
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase()) {
            out.push(name);
        }
        rest = &rest[start + len + 1..];
    }
    out
}

/// A random value for a slot, as text.
fn value(slot: &str, rng: &mut Rng) -> String {
    match slot {
        "pin" => rng.range(2, 27).to_string(),
        "lines" => rng.range(1, 200).to_string(),
        "count" => rng.range(1, 64).to_string(),
        "bus" => rng.range(0, 1).to_string(),
        "address" => rng.range(3, 119).to_string(),
        "length" => rng.range(1, 32).to_string(),
        "ip" => match rng.range(0, 3) {
            0 => format!("10.0.{}.{}", rng.range(0, 9), rng.range(1, 254)),
            1 => format!("192.168.{}.{}", rng.range(0, 255), rng.range(1, 254)),
            2 => format!("{}.{}.{}.{}", rng.range(1, 223), rng.range(0, 255), rng.range(0, 255), rng.range(1, 254)),
            _ => format!("172.{}.{}.{}", rng.range(16, 31), rng.range(0, 255), rng.range(1, 254)),
        },
        _ => "0".into(),
    }
}

/// Fills a phrasing's slots with random values; returns the request, the call with the
/// values, and the call with `#n` for the n-th value of the request.
fn fill(phrase: &str, call: &str, rng: &mut Rng) -> (String, String, String) {
    let mut request = phrase.to_string();
    let mut answer = call.to_string();
    let mut target = call.to_string();
    for (n, slot) in slots(phrase).into_iter().enumerate() {
        let v = value(slot, rng);
        let placeholder = format!("{{{slot}}}");
        request = request.replacen(&placeholder, &v, 1);
        answer = answer.replace(&placeholder, &v);
        target = target.replace(&placeholder, &format!("#{}", n + 1));
    }
    (request, answer, target)
}

const PREFIXES: [&str; 8] = ["please ", "can you ", "could you ", "hey ", "kingly ", "i want to ", "now ", "quickly "];
const SUFFIXES: [&str; 5] = [" please", " now", " thanks", "?", " for me"];

fn example(request: &str, answer: &str, target: &str) -> Example {
    Example { request: inference::intent::normalise(request), answer: answer.to_string(), target: target.to_string() }
}

/// Random letter strings: requests that mean nothing.
fn gibberish(rng: &mut Rng) -> String {
    let words = rng.range(1, 4);
    let mut text = String::new();
    for w in 0..words {
        if w > 0 {
            text.push(' ');
        }
        for _ in 0..rng.range(2, 9) {
            text.push((b'a' + rng.range(0, 25) as u8) as char);
        }
    }
    text
}

/// Training examples: every training phrasing `per_phrase` times (slot values and
/// politeness varied), plus gibberish as `none`; shuffled.
pub fn training(intents: &[Intent], per_phrase: usize, rng: &mut Rng) -> Vec<Example> {
    let mut out = Vec::new();
    for intent in intents {
        let answer_template = if intent.call == "none" { "none".to_string() } else { intent.call.clone() };
        // Intents with few phrasings get more samples each, so classes stay balanced.
        let repeats = (per_phrase * 12 / intent.train.len().max(1)).clamp(per_phrase, per_phrase * 4);
        for phrase in &intent.train {
            for i in 0..repeats {
                let (mut request, answer, target) = fill(phrase, &answer_template, rng);
                if i % 3 == 1 {
                    request = format!("{}{request}", PREFIXES[rng.range(0, PREFIXES.len() as u64 - 1) as usize]);
                } else if i % 3 == 2 {
                    request.push_str(SUFFIXES[rng.range(0, SUFFIXES.len() as u64 - 1) as usize]);
                }
                out.push(example(&request, &answer, &target));
            }
        }
    }
    for _ in 0..per_phrase * 40 {
        let text = gibberish(rng);
        out.push(example(&text, "none", "none"));
    }
    out.retain(|e| !e.request.is_empty());
    rng.shuffle(&mut out);
    out
}

/// Held-out examples: every held-out phrasing with three slot fillings (once if no slots),
/// plus fresh gibberish; fixed seed, independent of training.
pub fn held_out(intents: &[Intent], rng: &mut Rng) -> Vec<Example> {
    let mut out = Vec::new();
    for intent in intents {
        for phrase in &intent.held_out {
            let times = if slots(phrase).is_empty() { 1 } else { 3 };
            for _ in 0..times {
                let (request, answer, target) = fill(phrase, &intent.call, rng);
                out.push(example(&request, &answer, &target));
            }
        }
    }
    for _ in 0..10 {
        let text = gibberish(rng);
        out.push(example(&text, "none", "none"));
    }
    out
}
