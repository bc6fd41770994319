//! A SentencePiece-style BPE vocabulary learned from the dataset: `<unk>`, `<s>`, `</s>`,
//! the 256 byte tokens, every character of the corpus, then merges in order of frequency
//! (score = minus the merge's rank, so the project's tokenizer replays them in order).
//! Digits are never merged (numbers are copied digit by digit), and nothing merges across
//! a word boundary or the request/answer newline.

use std::collections::{BTreeMap, BTreeSet};

pub const SPACE: char = '\u{2581}';

pub struct Vocab {
    pub pieces: Vec<String>,
    pub scores: Vec<f32>,
    pub types: Vec<i32>,
}

/// Splits a training text the way the tokenizer sees it: dummy prefix, spaces as U+2581
/// starting each word, newlines as their own symbol.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push("\n".to_string());
        }
        for (j, word) in line.split(' ').enumerate() {
            if word.is_empty() {
                continue;
            }
            // The first word of the request gets the dummy prefix; the answer's first word
            // (right after the newline) does not.
            if i == 0 || j > 0 {
                out.push(format!("{SPACE}{word}"));
            } else {
                out.push(word.to_string());
            }
        }
    }
    out
}

fn mergeable(symbol: &str) -> bool {
    !symbol.chars().any(|c| c.is_ascii_digit() || c == '\n')
}

/// Learns `merges` merges from `texts`.
pub fn learn(texts: &[String], merges: usize) -> Vocab {
    let mut counts: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut chars: BTreeSet<char> = BTreeSet::new();
    for text in texts {
        for word in words(text) {
            chars.extend(word.chars());
            *counts.entry(word.chars().map(String::from).collect()).or_default() += 1;
        }
    }
    let mut pieces = vec!["<unk>".to_string(), "<s>".to_string(), "</s>".to_string()];
    let mut scores = vec![0.0f32; 3];
    let mut types = vec![2, 3, 3];
    for byte in 0..=255u8 {
        pieces.push(format!("<0x{byte:02X}>"));
        scores.push(0.0);
        types.push(6);
    }
    for c in &chars {
        if *c == '\n' {
            continue; // byte fallback <0x0A>
        }
        pieces.push(c.to_string());
        scores.push(-1e9);
        types.push(1);
    }
    let mut words: Vec<(Vec<String>, usize)> = counts.into_iter().collect();
    for rank in 0..merges {
        let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (symbols, count) in &words {
            for pair in symbols.windows(2) {
                if mergeable(&pair[0]) && mergeable(&pair[1]) {
                    *pairs.entry((pair[0].clone(), pair[1].clone())).or_default() += count;
                }
            }
        }
        // Most frequent; ties broken by the pair's text (BTreeMap order) for determinism.
        let Some(((a, b), count)) = pairs.into_iter().max_by(|x, y| x.1.cmp(&y.1).then(y.0.cmp(&x.0))) else { break };
        if count < 2 {
            break;
        }
        let joined = format!("{a}{b}");
        for (symbols, _) in words.iter_mut() {
            let mut i = 0;
            while i + 1 < symbols.len() {
                if symbols[i] == a && symbols[i + 1] == b {
                    symbols[i] = joined.clone();
                    symbols.remove(i + 1);
                }
                i += 1;
            }
        }
        if !pieces.contains(&joined) {
            pieces.push(joined);
            scores.push(-(rank as f32));
            types.push(1);
        }
    }
    Vocab { pieces, scores, types }
}
