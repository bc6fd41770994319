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
    parse_with(text, true)
}

/// Parses an evaluation-only file (held-out `+` phrasings, no training lines).
pub fn parse_evaluation(text: &str) -> Result<Vec<Intent>> {
    parse_with(text, false)
}

fn parse_with(text: &str, training: bool) -> Result<Vec<Intent>> {
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
                let intent =
                    intents.last_mut().with_context(|| format!("line {}: phrasing before any '=' call", number + 1))?;
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
        if training && intent.train.is_empty() {
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
/// values, and the call with `#n` for the value's position among all the request's numbers
/// (a phrasing may hold literal numbers too: "write 1 to pin {pin}" answers with `#2`).
fn fill(phrase: &str, call: &str, rng: &mut Rng) -> (String, String, String) {
    let mut request = String::new();
    let mut answer = call.to_string();
    let mut target = call.to_string();
    let mut rest = phrase;
    for slot in slots(phrase) {
        let placeholder = format!("{{{slot}}}");
        let Some(at) = rest.find(&placeholder) else { break };
        request.push_str(&rest[..at]);
        rest = &rest[at + placeholder.len()..];
        let reference = inference::intent::entities(&inference::intent::normalise(&request)).len() + 1;
        let v = value(slot, rng);
        request.push_str(&v);
        answer = answer.replace(&placeholder, &v);
        // The marker the request's mask uses for this kind of value (inference::intent::mask).
        let marker = if v.contains('.') { '%' } else { '#' };
        target = target.replace(&placeholder, &format!("{marker}{reference}"));
    }
    request.push_str(rest);
    (request, answer, target)
}

const PREFIXES: [&str; 8] = ["please ", "can you ", "could you ", "hey ", "kingly ", "i want to ", "now ", "quickly "];
const SUFFIXES: [&str; 5] = [" please", " now", " thanks", "?", " for me"];

fn example(request: &str, answer: &str, target: &str) -> Example {
    Example { request: inference::intent::normalise(request), answer: answer.to_string(), target: target.to_string() }
}

/// Words that can be dropped or inserted without changing what a request means.
const FILLERS: [&str; 8] = ["the", "a", "me", "just", "please", "now", "all", "current"];

/// One meaning-preserving change, so the model learns words rather than exact strings: a
/// typo (two letters swapped or one dropped) in a word of five letters or more, a filler
/// word dropped, or a filler word inserted. Numbers are never touched.
fn noise(request: &str, rng: &mut Rng) -> String {
    let mut words: Vec<String> = request.split(' ').map(String::from).collect();
    match rng.range(0, 2) {
        0 => {
            let long: Vec<usize> = (0..words.len())
                .filter(|&i| words[i].len() >= 5 && words[i].bytes().all(|b| b.is_ascii_lowercase()))
                .collect();
            if !long.is_empty() {
                let w = long[rng.range(0, long.len() as u64 - 1) as usize];
                let mut letters: Vec<char> = words[w].chars().collect();
                let at = rng.range(1, letters.len() as u64 - 2) as usize;
                if rng.range(0, 1) == 0 {
                    letters.swap(at, at + 1);
                } else {
                    letters.remove(at);
                }
                words[w] = letters.into_iter().collect();
            }
        }
        1 => {
            let droppable: Vec<usize> = (0..words.len()).filter(|&i| FILLERS.contains(&words[i].as_str())).collect();
            if !droppable.is_empty() && words.len() > 2 {
                words.remove(droppable[rng.range(0, droppable.len() as u64 - 1) as usize]);
            }
        }
        _ => {
            let at = rng.range(0, words.len() as u64) as usize;
            words.insert(at, FILLERS[rng.range(0, FILLERS.len() as u64 - 1) as usize].to_string());
        }
    }
    words.join(" ")
}

/// Interchangeable wordings of this domain, applied to training requests so the model meets
/// more of the words people use. A group applies only to requests containing its context
/// word (if any), where all members mean the same. Revised after the first evaluations; the
/// held-out phrasings were never moved into training.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("", &["show", "display", "list", "print", "give me", "tell me", "let me see", "get me", "report"]),
    ("", &["what is", "what's", "whats"]),
    ("", &["machine", "system", "board", "computer", "device", "pi", "raspberry pi", "box"]),
    ("", &["cpu", "processor", "cpus", "cores"]),
    ("", &["memory", "ram"]),
    ("memory", &["free", "available", "left", "unused", "remaining"]),
    ("pin", &["turn on", "switch on", "enable", "activate", "power on"]),
    ("pin", &["turn off", "switch off", "disable", "deactivate", "power off"]),
    ("pin", &["read", "check", "get", "sample"]),
    ("gpio", &["turn on", "switch on", "enable", "activate"]),
    ("gpio", &["turn off", "switch off", "disable", "deactivate"]),
    ("gpio", &["read", "check", "get"]),
    ("", &["pin", "gpio", "gpio pin"]),
    ("", &["reboot", "restart", "reset"]),
    ("", &["network", "net", "networking"]),
    ("", &["log", "logs", "kernel log"]),
    ("", &["tasks", "processes", "jobs"]),
    ("", &["boot", "startup", "start up"]),
    ("", &["card", "sd card", "disk"]),
    ("", &["files", "file list"]),
    ("", &["random numbers", "random values", "random words"]),
    ("", &["fetch", "get", "read", "grab"]),
    ("", &["devices", "chips", "sensors"]),
    ("pin", &["set", "put", "make", "drive"]),
    ("", &["scan", "search", "look for devices on", "probe"]),
    ("", &["check if", "see if", "test if", "find out if"]),
    ("", &["answers", "responds to", "replies to"]),
    ("", &["running", "going on", "happening"]),
    ("", &["show", "describe", "tell me about"]),
];

/// Replaces one wording found in `request` by another of its group (whole words only).
fn synonym(request: &str, rng: &mut Rng) -> String {
    let padded = format!(" {request} ");
    let mut found: Vec<(&str, &[&str])> = Vec::new();
    for &(context, group) in SYNONYMS {
        if !context.is_empty() && !padded.contains(&format!(" {context} ")) {
            continue;
        }
        for &word in group {
            if padded.contains(&format!(" {word} ")) {
                found.push((word, group));
            }
        }
    }
    if found.is_empty() {
        return request.to_string();
    }
    let (word, group) = found[rng.range(0, found.len() as u64 - 1) as usize];
    let other = group[rng.range(0, group.len() as u64 - 1) as usize];
    padded.replacen(&format!(" {word} "), &format!(" {other} "), 1).trim().to_string()
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
                if intent.call != inference::intent::NONE && i % 2 == 1 {
                    request = synonym(&request, rng);
                }
                match i % 4 {
                    1 => request = format!("{}{request}", PREFIXES[rng.range(0, PREFIXES.len() as u64 - 1) as usize]),
                    2 => request.push_str(SUFFIXES[rng.range(0, SUFFIXES.len() as u64 - 1) as usize]),
                    3 => request = noise(&request, rng),
                    _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_references_count_the_literal_numbers_before_them() {
        let mut rng = Rng::new(1);
        let (request, answer, target) = fill("write 1 to pin {pin}", r#"gpio_write {"pin":{pin}}"#, &mut rng);
        let pin = request.rsplit(' ').next().unwrap_or_default();
        assert_eq!(answer, format!(r#"gpio_write {{"pin":{pin}}}"#));
        assert_eq!(target, r#"gpio_write {"pin":#2}"#);
        let (_, _, target) = fill(
            "read {length} bytes from address {address}",
            r#"i2c_read {"address":{address},"length":{length}}"#,
            &mut rng,
        );
        assert_eq!(target, r#"i2c_read {"address":#2,"length":#1}"#);
    }

    #[test]
    fn synonyms_replace_whole_words_within_their_context() {
        let mut rng = Rng::new(5);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..300 {
            seen.insert(synonym("turn on pin 17", &mut rng));
            let other = synonym("turn on the radio", &mut rng);
            assert!(!other.contains("activate"), "the pin group needs 'pin': {other}");
        }
        assert!(seen.contains("activate pin 17") && seen.contains("turn on gpio 17"), "{seen:?}");
        assert!(seen.iter().all(|s| s.ends_with("17")), "{seen:?}");
        assert_eq!(synonym("spinach", &mut rng), "spinach", "only whole words");
    }

    #[test]
    fn noise_keeps_numbers_and_changes_little() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let noisy = noise("please turn on the led on pin 17", &mut rng);
            assert!(noisy.contains("17"), "{noisy}");
            let words = noisy.split(' ').count();
            assert!((7..=9).contains(&words), "{noisy}");
        }
    }

    #[test]
    fn the_dataset_parses_and_every_intent_has_held_out_phrasings() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/intents.txt")).expect("dataset");
        let intents = parse(&text).expect("parses");
        assert!(intents.len() >= 20);
        for intent in &intents {
            assert!(!intent.held_out.is_empty(), "{} has no held-out phrasings", intent.call);
            for phrase in &intent.held_out {
                assert!(!intent.train.contains(phrase), "'{phrase}' is both trained on and held out");
            }
        }
    }
}
