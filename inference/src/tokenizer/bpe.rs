//! Byte-level BPE (GPT-2 style: SmolLM2, Llama 3, Qwen2), as GGUF stores it
//! (`tokenizer.ggml.model = gpt2`): tokens are strings over GPT-2's byte-to-unicode map
//! (bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF stand for themselves, the other 68 bytes for
//! U+0100 onwards, so a space is "Ġ"), and `tokenizer.ggml.merges` lists "left right"
//! pairs in rank order.
//!
//! A pre-tokenized piece ([`super::pretokenize`]) starts as one symbol per byte; the
//! adjacent pair of lowest merge rank is merged (leftmost on ties) until no pair has a
//! rank, as llama.cpp's `llm_tokenizer_bpe` and the `tokenizers` library do. A heap of
//! candidate pairs over a linked list of symbols keeps this O(n log n) for a long piece.

use super::pretokenize::PreTokenizer;
use crate::error::Error;
use alloc::{
    collections::{BTreeMap, BinaryHeap},
    format,
    string::String,
    vec::Vec,
};
use core::cmp::Ordering;

/// GPT-2's byte → character map.
fn byte_to_char(byte: u8) -> char {
    let printable = |b: u8| matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
    if printable(byte) {
        return byte as char;
    }
    // The others, in byte order, from U+0100.
    let rank = (0..byte).filter(|&b| !printable(b)).count() as u32;
    char::from_u32(0x100 + rank).unwrap_or('\u{fffd}')
}

/// The inverse map (`None` for characters no byte maps to).
fn char_to_byte(c: char) -> Option<u8> {
    let code = c as u32;
    if code < 0x100 && matches!(code, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff) {
        return Some(code as u8);
    }
    let rank = code.checked_sub(0x100)?;
    (0..=255u8).filter(|b| !matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff)).nth(rank as usize)
}

/// A byte-level BPE vocabulary.
pub struct Bpe {
    /// Token text → id, for every token.
    lookup: BTreeMap<String, u32>,
    /// (left id, right id) → (rank, merged id).
    merges: BTreeMap<(u32, u32), (u32, u32)>,
    /// The token of each single byte (its mapped character).
    byte_tokens: [Option<u32>; 256],
    /// How text is split before merging.
    pub pre: PreTokenizer,
}

/// A merge candidate (see the SentencePiece one in `spm.rs`): lowest rank first, then the
/// leftmost pair.
struct Candidate {
    rank: u32,
    left: usize,
    right: usize,
    merged: u32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other.rank.cmp(&self.rank).then_with(|| other.left.cmp(&self.left))
    }
}

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    prev: Option<usize>,
    next: Option<usize>,
    live: bool,
}

impl Bpe {
    /// Builds the vocabulary from the tokens and the merge list (`"left right"` per rank).
    /// Merges naming tokens the vocabulary lacks are an error, as in the `tokenizers`
    /// library.
    pub fn new(pieces: &[String], merges: &[&str], pre: PreTokenizer) -> Result<Bpe, Error> {
        let mut lookup = BTreeMap::new();
        for (id, piece) in pieces.iter().enumerate() {
            lookup.entry(piece.clone()).or_insert(id as u32);
        }
        let mut table = BTreeMap::new();
        for (rank, line) in merges.iter().enumerate() {
            let (left, right) = line
                .split_once(' ')
                .ok_or_else(|| Error::Corrupt(format!("merge {rank} ({line:?}) is not two tokens")))?;
            let id = |text: &str| {
                lookup.get(text).copied().ok_or_else(|| {
                    Error::Corrupt(format!("merge {rank} ({line:?}) names a token not in the vocabulary"))
                })
            };
            let merged = String::from(left) + right;
            table.entry((id(left)?, id(right)?)).or_insert((rank as u32, id(&merged)?));
        }
        let mut byte_tokens = [None; 256];
        for byte in 0..=255u8 {
            let mut text = String::new();
            text.push(byte_to_char(byte));
            byte_tokens[byte as usize] = lookup.get(&text).copied();
        }
        Ok(Bpe { lookup, merges: table, byte_tokens, pre })
    }

    /// Appends the ids of `text` (no special tokens in it) to `out`; bytes without a token
    /// become `unknown`.
    pub fn encode(&self, text: &str, unknown: u32, out: &mut Vec<u32>) {
        for piece in self.pre.split(text) {
            self.encode_piece(piece, unknown, out);
        }
    }

    fn encode_piece(&self, piece: &str, unknown: u32, out: &mut Vec<u32>) {
        // Llama 3's tokenizer takes a piece that is a token as a whole without merging
        // (`ignore_merges`); the others merge every piece, which can end elsewhere.
        if self.pre == PreTokenizer::Llama3 {
            let mapped: String = piece.bytes().map(byte_to_char).collect();
            if let Some(&id) = self.lookup.get(&mapped) {
                out.push(id);
                return;
            }
        }
        let mut symbols: Vec<Symbol> = piece
            .bytes()
            .enumerate()
            .map(|(i, byte)| Symbol {
                id: self.byte_tokens[byte as usize].unwrap_or(unknown),
                prev: i.checked_sub(1),
                next: Some(i + 1),
                live: true,
            })
            .collect();
        if let Some(last) = symbols.last_mut() {
            last.next = None;
        }
        let mut heap = BinaryHeap::new();
        for left in 0..symbols.len().saturating_sub(1) {
            self.push(&symbols, left, left + 1, &mut heap);
        }
        while let Some(candidate) = heap.pop() {
            let (left, right) = (symbols[candidate.left], symbols[candidate.right]);
            // Stale: one side merged since, or no longer neighbours.
            if !left.live || !right.live || left.next != Some(candidate.right) {
                continue;
            }
            if self.merges.get(&(left.id, right.id)).map(|&(_, merged)| merged) != Some(candidate.merged) {
                continue;
            }
            symbols[candidate.left].id = candidate.merged;
            symbols[candidate.left].next = right.next;
            symbols[candidate.right].live = false;
            if let Some(next) = right.next {
                symbols[next].prev = Some(candidate.left);
                self.push(&symbols, candidate.left, next, &mut heap);
            }
            if let Some(prev) = left.prev {
                self.push(&symbols, prev, candidate.left, &mut heap);
            }
        }
        let mut at = if symbols.is_empty() { None } else { Some(0) };
        while let Some(i) = at {
            out.push(symbols[i].id);
            at = symbols[i].next;
        }
    }

    fn push(&self, symbols: &[Symbol], left: usize, right: usize, heap: &mut BinaryHeap<Candidate>) {
        if let Some(&(rank, merged)) = self.merges.get(&(symbols[left].id, symbols[right].id)) {
            heap.push(Candidate { rank, left, right, merged });
        }
    }
}

/// The bytes a byte-level token text stands for (characters outside the byte map, which
/// no trained token contains, are kept as their UTF-8).
pub fn token_bytes(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match char_to_byte(c) {
            Some(byte) => out.push(byte),
            None => {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{string::ToString, vec};

    #[test]
    fn the_byte_map_is_gpt2s_and_inverts() {
        assert_eq!(byte_to_char(b' '), '\u{120}');
        assert_eq!(byte_to_char(b'\n'), '\u{10a}');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(byte_to_char(0xad), '\u{143}');
        assert_eq!(byte_to_char(0), '\u{100}');
        for byte in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(byte)), Some(byte));
        }
        assert_eq!(char_to_byte('\u{144}'), None);
        assert_eq!(token_bytes("Ġhello"), b" hello");
    }

    fn toy() -> (Vec<String>, Bpe) {
        let mut pieces: Vec<String> = (0..=255u8).map(|b| byte_to_char(b).to_string()).collect();
        for extra in ["he", "ll", "hell", "hello", "Ġh", "Ġhello", "lo"] {
            pieces.push(extra.to_string());
        }
        // Ranks: "h e" < "l l" < "he ll" < "hell o" < "Ġ h" < "Ġh ello"... "l o" last.
        let merges = ["h e", "l l", "he ll", "hell o", "Ġ h", "l o"];
        let bpe = Bpe::new(&pieces, &merges, PreTokenizer::Gpt2).unwrap();
        (pieces, bpe)
    }

    fn id(pieces: &[String], text: &str) -> u32 {
        pieces.iter().position(|p| p == text).unwrap() as u32
    }

    #[test]
    fn merges_go_by_rank_not_length() {
        let (pieces, bpe) = toy();
        let mut out = vec![];
        bpe.encode("hello hellx", 0, &mut out);
        // "hello" is a token as a whole. In " hellx", "h e" (rank 0) is merged before
        // "Ġ h" (rank 4) could be, and "Ġ he" is no merge: Ġ stays alone.
        assert_eq!(out, [id(&pieces, "hello"), id(&pieces, "Ġ"), id(&pieces, "hell"), id(&pieces, "x")]);
        // "llo": "l l" (rank 1) beats "l o" (rank 5).
        out.clear();
        bpe.encode("llo", 0, &mut out);
        assert_eq!(out, [id(&pieces, "ll"), id(&pieces, "o")]);
    }

    #[test]
    fn bad_merges_are_errors() {
        let pieces: Vec<String> = vec!["a".into(), "b".into()];
        assert!(Bpe::new(&pieces, &["a b"], PreTokenizer::Gpt2).is_err(), "ab is not a token");
        assert!(Bpe::new(&pieces, &["ab"], PreTokenizer::Gpt2).is_err(), "one token");
        assert!(Bpe::new(&pieces, &["a c"], PreTokenizer::Gpt2).is_err());
    }

    #[test]
    fn a_long_piece_is_merged_quickly() {
        let (_, bpe) = toy();
        let text = "l".repeat(100_000);
        let mut out = vec![];
        bpe.encode(&text, 0, &mut out);
        assert_eq!(out.len(), 50_000);
    }
}
