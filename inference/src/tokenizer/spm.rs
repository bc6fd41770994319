//! SentencePiece BPE as Llama uses it, following llama.cpp's `llm_tokenizer_spm`:
//!
//! 1. Each fragment (text between special tokens) gets the dummy-prefix space when it
//!    starts the text or follows a special token (unless `tokenizer.ggml.add_space_prefix`
//!    is false), and its spaces become U+2581 (GGUF vocabularies) or stay spaces (llama2.c
//!    vocabularies).
//! 2. Starting from single characters, the adjacent pair whose concatenation is the
//!    highest-scoring vocabulary piece is merged (leftmost on ties) until none is left.
//!    Only normal (and user-defined, unused) pieces take part: as in SentencePiece, a merge
//!    never produces a control, unknown or byte piece.
//! 3. A symbol that is not a piece falls back to byte tokens `<0xNN>`; when the vocabulary
//!    lacks them, a run of such symbols becomes one `<unk>` (SentencePiece without byte
//!    fallback), which decodes as SentencePiece's " ⁇ ".
//!
//! Merging uses a heap of candidate pairs over a linked list of symbols (O(n log n)), so a
//! long prompt cannot stall the kernel.

use alloc::{
    collections::{BTreeMap, BinaryHeap},
    string::String,
    vec::Vec,
};
use core::cmp::Ordering;

/// A SentencePiece vocabulary's merge data.
pub struct Spm {
    /// Merge scores by id.
    pub scores: Vec<f32>,
    /// Pieces that merging may produce and that text may map to (not control, unknown or
    /// byte pieces).
    pub lookup: BTreeMap<String, u32>,
    /// The `<0xNN>` token of each byte, where the vocabulary has one.
    pub byte_tokens: [Option<u32>; 256],
    /// Whether fragments get the dummy-prefix space (`tokenizer.ggml.add_space_prefix`).
    pub add_space_prefix: bool,
    /// How the vocabulary writes a space: U+2581 (GGUF) or " " (llama2.c).
    pub space: &'static str,
    /// The unknown token.
    pub unknown: u32,
}

/// A merge candidate: symbols `left` and `right` (adjacent when pushed) whose texts
/// together (`len` bytes) form a piece with `score`.
struct Candidate {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
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
    /// Highest score first; on ties the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.left.cmp(&self.left))
    }
}

/// A span of the normalized text in the merge list (`len` 0 once merged away).
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Spm {
    /// Appends the ids of one fragment (no special tokens in it) to `out`, with the
    /// dummy-prefix space first when `dummy_prefix`.
    pub fn encode_fragment(&self, text: &str, dummy_prefix: bool, out: &mut Vec<u32>) {
        let mut normalized = String::with_capacity(text.len() + 3);
        if dummy_prefix {
            normalized.push_str(self.space);
        }
        for c in text.chars() {
            if c == ' ' {
                normalized.push_str(self.space);
            } else {
                normalized.push(c);
            }
        }
        // One symbol per character, linked in order.
        let mut symbols: Vec<Symbol> = Vec::with_capacity(normalized.len());
        for (start, c) in normalized.char_indices() {
            let index = symbols.len();
            symbols.push(Symbol { start, len: c.len_utf8(), prev: index.checked_sub(1), next: Some(index + 1) });
        }
        if let Some(last) = symbols.last_mut() {
            last.next = None;
        }
        let mut heap = BinaryHeap::new();
        for left in 0..symbols.len().saturating_sub(1) {
            self.push_candidate(&normalized, &symbols, left, left + 1, &mut heap);
        }
        while let Some(candidate) = heap.pop() {
            let (left, right) = (symbols[candidate.left], symbols[candidate.right]);
            // Stale: one side was merged since this pair was pushed.
            if left.len == 0
                || right.len == 0
                || left.len + right.len != candidate.len
                || left.next != Some(candidate.right)
            {
                continue;
            }
            symbols[candidate.left].len += right.len;
            symbols[candidate.left].next = right.next;
            symbols[candidate.right].len = 0;
            if let Some(next) = right.next {
                symbols[next].prev = Some(candidate.left);
                self.push_candidate(&normalized, &symbols, candidate.left, next, &mut heap);
            }
            if let Some(prev) = left.prev {
                self.push_candidate(&normalized, &symbols, prev, candidate.left, &mut heap);
            }
        }
        let mut at = if symbols.is_empty() { None } else { Some(0) };
        let mut after_unknown = false;
        while let Some(i) = at {
            let symbol = symbols[i];
            let text = &normalized[symbol.start..symbol.start + symbol.len];
            if let Some(&id) = self.lookup.get(text) {
                out.push(id);
                after_unknown = false;
            } else if text.bytes().all(|byte| self.byte_tokens[byte as usize].is_some()) {
                out.extend(text.bytes().filter_map(|byte| self.byte_tokens[byte as usize]));
                after_unknown = false;
            } else {
                // SentencePiece merges a run of unknown symbols into one unknown token.
                if !after_unknown {
                    out.push(self.unknown);
                }
                after_unknown = true;
            }
            at = symbol.next;
        }
    }

    fn push_candidate(
        &self,
        text: &str,
        symbols: &[Symbol],
        left: usize,
        right: usize,
        heap: &mut BinaryHeap<Candidate>,
    ) {
        let (l, r) = (symbols[left], symbols[right]);
        let joined = &text[l.start..r.start + r.len];
        if let Some(&id) = self.lookup.get(joined) {
            heap.push(Candidate { score: self.scores[id as usize], left, right, len: joined.len() });
        }
    }
}
