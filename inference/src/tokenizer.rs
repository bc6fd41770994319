//! SentencePiece BPE as Llama uses it, following llama.cpp's `llm_tokenizer_spm`:
//!
//! 1. Control and user-defined tokens written literally in the text (`</s>`, `<s>`) are
//!    split out first and become their ids.
//! 2. Each remaining fragment gets the dummy-prefix space when it starts the text or
//!    follows a special token (unless `tokenizer.ggml.add_space_prefix` is false), and its
//!    spaces become U+2581 (GGUF vocabularies) or stay spaces (llama2.c vocabularies).
//! 3. Starting from single characters, the adjacent pair whose concatenation is the
//!    highest-scoring vocabulary piece is merged (leftmost on ties) until none is left.
//!    Only normal (and user-defined, unused) pieces take part: as in SentencePiece, a merge
//!    never produces a control, unknown or byte piece.
//! 4. A symbol that is not a piece falls back to byte tokens `<0xNN>`; when the vocabulary
//!    lacks them, a run of such symbols becomes one `<unk>` (SentencePiece without byte
//!    fallback), which decodes as SentencePiece's " ⁇ ".
//!
//! Merging uses a heap of candidate pairs over a linked list of symbols (O(n log n)), so a
//! long prompt cannot stall the kernel. [`Decoder`] turns ids back into text as a stream,
//! holding back UTF-8 sequences split across byte tokens.

use crate::{error::Error, gguf::Gguf};
use alloc::{
    collections::{BTreeMap, BinaryHeap},
    format,
    string::String,
    vec,
    vec::Vec,
};
use core::cmp::Ordering;

/// SentencePiece's visible space.
const SPACE_MARK: &str = "\u{2581}";

/// How SentencePiece decodes an unknown token (its default `unk_surface`).
const UNKNOWN_SURFACE: &str = " \u{2047} ";

/// GGUF token types (`tokenizer.ggml.token_type`).
mod kind {
    pub const NORMAL: u8 = 1;
    pub const UNKNOWN: u8 = 2;
    pub const CONTROL: u8 = 3;
    pub const USER_DEFINED: u8 = 4;
    pub const BYTE: u8 = 6;
}

/// A vocabulary with merge scores.
pub struct Tokenizer {
    pieces: Vec<String>,
    scores: Vec<f32>,
    kinds: Vec<u8>,
    /// Pieces that merging may produce and that text may map to (not control, unknown or
    /// byte pieces).
    lookup: BTreeMap<String, u32>,
    /// Tokens recognised literally in text (control and user-defined), longest first.
    specials: Vec<(String, u32)>,
    byte_tokens: [Option<u32>; 256],
    /// Beginning-of-sequence id.
    pub bos: u32,
    /// End-of-sequence id.
    pub eos: u32,
    /// Unknown-piece id (used when a byte has no `<0xNN>` token).
    pub unknown: u32,
    /// Whether prompts should start with BOS (`tokenizer.ggml.add_bos_token`, default true).
    pub add_bos: bool,
    /// Whether fragments get the dummy-prefix space (`tokenizer.ggml.add_space_prefix`).
    pub add_space_prefix: bool,
    /// How the vocabulary writes a space: U+2581 (GGUF) or " " (llama2.c).
    space: &'static str,
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

fn byte_of(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

impl Tokenizer {
    fn build(
        pieces: Vec<String>,
        scores: Vec<f32>,
        kinds: Vec<u8>,
        bos: u32,
        eos: u32,
        unknown: u32,
        space: &'static str,
    ) -> Result<Self, Error> {
        if pieces.is_empty() || pieces.len() != scores.len() || pieces.len() != kinds.len() {
            return Err(Error::Corrupt(format!(
                "{} tokens but {} scores and {} types",
                pieces.len(),
                scores.len(),
                kinds.len()
            )));
        }
        for (name, id) in [("BOS", bos), ("EOS", eos), ("unknown", unknown)] {
            if id as usize >= pieces.len() {
                return Err(Error::Corrupt(format!("{name} id {id} outside the vocabulary of {}", pieces.len())));
            }
        }
        let mut lookup = BTreeMap::new();
        let mut byte_tokens = [None; 256];
        let mut specials = Vec::new();
        for (id, piece) in pieces.iter().enumerate() {
            let id = id as u32;
            if !matches!(kinds[id as usize], kind::UNKNOWN | kind::CONTROL | kind::BYTE) {
                lookup.entry(piece.clone()).or_insert(id);
            }
            if let Some(byte) = byte_of(piece) {
                byte_tokens[byte as usize].get_or_insert(id);
            }
            if matches!(kinds[id as usize], kind::CONTROL | kind::USER_DEFINED) && !piece.is_empty() {
                specials.push((piece.clone(), id));
            }
        }
        specials.sort_by_key(|(piece, _)| core::cmp::Reverse(piece.len()));
        Ok(Tokenizer {
            pieces,
            scores,
            kinds,
            lookup,
            specials,
            byte_tokens,
            bos,
            eos,
            unknown,
            add_bos: true,
            add_space_prefix: true,
            space,
        })
    }

    /// The tokenizer stored in GGUF metadata (`tokenizer.ggml.*`).
    pub fn from_gguf(gguf: &Gguf<'_>) -> Result<Tokenizer, Error> {
        match gguf.get("tokenizer.ggml.model").and_then(|v| v.as_str()) {
            Some("llama") | None => {}
            Some(other) => {
                return Err(Error::Unsupported(format!("tokenizer model '{other}' (only llama/SentencePiece)")))
            }
        }
        let pieces: Vec<String> = gguf.strings("tokenizer.ggml.tokens")?.into_iter().map(String::from).collect();
        let scores = match gguf.get("tokenizer.ggml.scores") {
            Some(_) => gguf
                .floats("tokenizer.ggml.scores")
                .ok_or_else(|| Error::Corrupt("tokenizer.ggml.scores holds a non-number".into()))?,
            None => vec![0.0; pieces.len()],
        };
        let kinds = match gguf.get("tokenizer.ggml.token_type").and_then(|v| v.as_array()) {
            Some(items) => {
                items.iter().map(|v| v.as_u64().and_then(|k| u8::try_from(k).ok()).unwrap_or(kind::NORMAL)).collect()
            }
            None => vec![kind::NORMAL; pieces.len()],
        };
        let id = |key: &str, default: u32| -> Result<u32, Error> {
            match gguf.get(key) {
                None => Ok(default),
                Some(v) => v
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| Error::Corrupt(format!("{key} is not a token id"))),
            }
        };
        let flag =
            |key: &str| gguf.get(key).and_then(|v| if let crate::gguf::Value::Bool(b) = v { Some(*b) } else { None });
        let mut tokenizer = Self::build(
            pieces,
            scores,
            kinds,
            id("tokenizer.ggml.bos_token_id", 1)?,
            id("tokenizer.ggml.eos_token_id", 2)?,
            id("tokenizer.ggml.unknown_token_id", 0)?,
            SPACE_MARK,
        )?;
        tokenizer.add_bos = flag("tokenizer.ggml.add_bos_token").unwrap_or(true);
        tokenizer.add_space_prefix = flag("tokenizer.ggml.add_space_prefix").unwrap_or(true);
        Ok(tokenizer)
    }

    /// A llama2.c `tokenizer.bin`: i32 max length, then per token f32 score, i32 length,
    /// bytes. `vocab_size` comes from the checkpoint. Ids 0, 1, 2 are `<unk>`, BOS, EOS.
    pub fn from_llama2c(bytes: &[u8], vocab_size: usize) -> Result<Tokenizer, Error> {
        let mut pieces = Vec::with_capacity(vocab_size.min(1 << 20));
        let mut scores = Vec::with_capacity(vocab_size.min(1 << 20));
        for_each_llama2c_token(bytes, vocab_size, |score, text| {
            pieces.push(String::from_utf8_lossy(text).into_owned());
            scores.push(score);
        })?;
        let mut kinds = vec![kind::NORMAL; pieces.len()];
        for (id, k) in kinds.iter_mut().enumerate() {
            *k = match id {
                0 => kind::UNKNOWN,
                // Control, but not matched in text: llama2.c does not parse specials.
                1 | 2 => kind::NORMAL,
                _ if byte_of(&pieces[id]).is_some() => kind::BYTE,
                _ => kind::NORMAL,
            };
        }
        Self::build(pieces, scores, kinds, 1, 2, 0, " ")
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether the vocabulary is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The text of a token (as stored).
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(String::as_str)
    }

    /// The merge score of a token.
    pub fn score(&self, id: u32) -> Option<f32> {
        self.scores.get(id as usize).copied()
    }

    /// Encodes a prompt, with BOS first when the model asks for it ([`Self::add_bos`]).
    pub fn encode_prompt(&self, text: &str) -> Vec<u32> {
        self.encode(text, self.add_bos)
    }

    /// Encodes `text`, with BOS first if `bos`. Control tokens written in the text (e.g.
    /// `</s>`) become their ids.
    pub fn encode(&self, text: &str, bos: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if bos {
            out.push(self.bos);
        }
        let mut rest = text;
        let mut after_special = true;
        while !rest.is_empty() {
            let next_special = self
                .specials
                .iter()
                .filter_map(|(piece, id)| rest.find(piece.as_str()).map(|at| (at, piece.len(), *id)))
                .min_by_key(|&(at, len, _)| (at, core::cmp::Reverse(len)));
            let (plain, special) = match next_special {
                Some((at, len, id)) => (&rest[..at], Some((id, at + len))),
                None => (rest, None),
            };
            if !plain.is_empty() {
                self.encode_fragment(plain, after_special && self.add_space_prefix, &mut out);
            }
            match special {
                Some((id, end)) => {
                    out.push(id);
                    after_special = true;
                    rest = &rest[end..];
                }
                None => break,
            }
        }
        out
    }

    fn encode_fragment(&self, text: &str, dummy_prefix: bool, out: &mut Vec<u32>) {
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

    /// The bytes a token stands for: byte tokens their byte, control tokens nothing, the
    /// unknown token " ⁇ " (as SentencePiece), others their text with the space mark as a
    /// space.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(piece) = self.piece(id) else { return Vec::new() };
        match self.kinds.get(id as usize).copied() {
            Some(kind::CONTROL) => return Vec::new(),
            Some(kind::UNKNOWN) => return UNKNOWN_SURFACE.as_bytes().to_vec(),
            _ if id == self.bos || id == self.eos => return Vec::new(),
            _ => {}
        }
        if let Some(byte) = byte_of(piece) {
            return vec![byte];
        }
        piece.replace(SPACE_MARK, " ").into_bytes()
    }

    /// Decodes a whole sequence (dropping the dummy-prefix space at the start).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut decoder = Decoder::new();
        let mut text = String::new();
        for &id in ids {
            text.push_str(&decoder.push(self, id));
        }
        text.push_str(&decoder.finish());
        text
    }
}

/// Walks a llama2.c `tokenizer.bin`, calling `f(score, bytes)` for each of `vocab_size`
/// tokens.
fn for_each_llama2c_token(bytes: &[u8], vocab_size: usize, mut f: impl FnMut(f32, &[u8])) -> Result<(), Error> {
    let mut at = 4usize;
    if bytes.len() < at {
        return Err(Error::Truncated { what: "llama2.c tokenizer header", offset: 0 });
    }
    for _ in 0..vocab_size {
        let head = bytes.get(at..at.saturating_add(8)).ok_or(Error::Truncated { what: "token", offset: at })?;
        let score = f32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let len = i32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let len = usize::try_from(len).map_err(|_| Error::Corrupt(format!("token length {len} at byte {}", at + 4)))?;
        at += 8;
        let text = bytes.get(at..at.saturating_add(len)).ok_or(Error::Truncated { what: "token text", offset: at })?;
        at += len;
        f(score, text);
    }
    Ok(())
}

/// The scores of a llama2.c `tokenizer.bin` (for conversion to GGUF).
pub fn llama2c_scores(bytes: &[u8], vocab_size: usize) -> Result<Vec<f32>, Error> {
    let mut scores = Vec::with_capacity(vocab_size.min(1 << 20));
    for_each_llama2c_token(bytes, vocab_size, |score, _| scores.push(score))?;
    Ok(scores)
}

/// Streaming decoder: returns text as soon as it forms complete UTF-8, holding back a
/// sequence split across byte tokens.
#[derive(Default)]
pub struct Decoder {
    pending: Vec<u8>,
    at_start: bool,
}

impl Decoder {
    /// A decoder at the start of a sequence.
    pub fn new() -> Self {
        Decoder { pending: Vec::new(), at_start: true }
    }

    /// A decoder continuing a text (the next token's leading space is kept).
    pub fn continuing() -> Self {
        Decoder { pending: Vec::new(), at_start: false }
    }

    /// Adds a token; returns the text it completes (possibly empty).
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> String {
        if id == tokenizer.bos {
            self.at_start = true;
            return String::new();
        }
        let mut bytes = tokenizer.token_bytes(id);
        // Only the first token's space is the dummy prefix (as SentencePiece and llama2.c).
        if core::mem::take(&mut self.at_start) && bytes.first() == Some(&b' ') {
            bytes.remove(0);
        }
        self.pending.extend_from_slice(&bytes);
        let valid = match core::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // Incomplete at the end: hold the tail back.
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            // Invalid (not merely incomplete): emit it lossily.
            Err(_) => self.pending.len(),
        };
        let text = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
        self.pending.drain(..valid);
        text
    }

    /// Flushes whatever is held back (lossily).
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    /// A toy vocabulary: bytes, a few merges, and control tokens.
    fn toy() -> Tokenizer {
        let mut pieces: Vec<String> = ["<unk>", "<s>", "</s>"].iter().map(|s| s.to_string()).collect();
        let mut kinds = vec![kind::UNKNOWN, kind::CONTROL, kind::CONTROL];
        for b in 0..=255u8 {
            pieces.push(format!("<0x{b:02X}>"));
            kinds.push(kind::BYTE);
        }
        for (piece, _) in [("▁", 0), ("a", 0), ("b", 0), ("ab", 0), ("▁ab", 0), ("é", 0), ("bb", 0)] {
            pieces.push(piece.to_string());
            kinds.push(kind::NORMAL);
        }
        let scores = pieces
            .iter()
            .map(|p| if p.chars().count() > 1 && !p.starts_with('<') { p.len() as f32 } else { 0.0 })
            .collect();
        Tokenizer::build(pieces, scores, kinds, 1, 2, 0, SPACE_MARK).unwrap()
    }

    fn id(t: &Tokenizer, piece: &str) -> u32 {
        t.pieces.iter().position(|p| p == piece).unwrap() as u32
    }

    /// A vocabulary without byte tokens; the expected ids below are what SentencePiece
    /// 0.2.3 (without byte fallback) gives for the same pieces, scores and types.
    fn without_bytes() -> Tokenizer {
        let entries = [
            ("<unk>", 0.0, kind::UNKNOWN),
            ("<s>", 0.0, kind::CONTROL),
            ("</s>", 0.0, kind::CONTROL),
            ("▁", 0.0, kind::NORMAL),
        ];
        let more = [
            ("a", 0.0, kind::NORMAL),
            ("b", 0.0, kind::NORMAL),
            ("ab", -1.0, kind::NORMAL),
            ("▁ab", -2.0, kind::NORMAL),
            ("é", 0.0, kind::NORMAL),
        ];
        let all: Vec<(&str, f32, u8)> = entries.into_iter().chain(more).collect();
        let pieces = all.iter().map(|e| e.0.to_string()).collect();
        Tokenizer::build(
            pieces,
            all.iter().map(|e| e.1).collect(),
            all.iter().map(|e| e.2).collect(),
            1,
            2,
            0,
            SPACE_MARK,
        )
        .unwrap()
    }

    #[test]
    fn a_run_of_unknown_characters_is_one_unknown_token() {
        let t = without_bytes();
        // Before the fix each byte became <unk>: "日本" gave six of them.
        assert_eq!(t.encode("日本", false), [3, 0]);
        assert_eq!(t.encode("a日本b", false), [3, 4, 0, 5]);
        assert_eq!(t.encode("xyz ab", false), [3, 0, 7]);
        assert_eq!(t.encode("a ß日 b", false), [3, 4, 3, 0, 3, 5]);
        assert_eq!(t.encode("aé", false), [3, 4, 8]);
        assert_eq!(t.decode(&[3, 4, 0, 5]), "a \u{2047} b");
    }

    #[test]
    fn merges_never_produce_control_unknown_or_byte_pieces() {
        // "<unk" + ">" would spell the unknown token and "<0x4" + "1>" a byte token;
        // SentencePiece keeps both as the normal pieces.
        let mut pieces: Vec<String> = [
            "<unk>", "<s>", "</s>", "▁", "<unk", ">", "<0x4", "1>", "<", "u", "n", "k", "0", "x", "4", "1", "<u",
            "<un", "<0", "<0x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut kinds = vec![kind::UNKNOWN, kind::CONTROL, kind::CONTROL];
        kinds.extend(core::iter::repeat_n(kind::NORMAL, pieces.len() - 3));
        pieces.push("<0x41>".into());
        kinds.push(kind::BYTE);
        let scores = pieces.iter().map(|p| p.len() as f32).collect();
        let t = Tokenizer::build(pieces, scores, kinds, 1, 2, 0, SPACE_MARK).unwrap();
        assert_eq!(t.encode("<unk>", false), [id(&t, "▁"), id(&t, "<unk"), id(&t, ">")]);
        assert_eq!(t.encode("<0x41>", false), [id(&t, "▁"), id(&t, "<0x4"), id(&t, "1>")]);
    }

    #[test]
    fn merges_prefix_bytes_and_specials() {
        let t = toy();
        assert_eq!(t.encode("ab", true), [1, id(&t, "▁ab")]);
        // "abb": ▁ab (score 4) beats bb (2) once ab (2) merged first? Highest first: "▁a"
        // is no piece, "ab" (2) and "bb" (2) tie → leftmost "ab", then "▁ab".
        assert_eq!(t.encode("abb", false), [id(&t, "▁ab"), id(&t, "b")]);
        // Byte fallback for a character outside the vocabulary.
        assert_eq!(t.encode("ß", false), [id(&t, "▁"), id(&t, "<0xC3>"), id(&t, "<0x9F>")]);
        // Specials in the text; the dummy prefix follows each of them.
        assert_eq!(t.encode("a</s>b", false), [id(&t, "▁"), id(&t, "a"), 2, id(&t, "▁"), id(&t, "b")]);
        assert_eq!(t.encode("", true), [1]);
        assert_eq!(t.encode("", false), []);
    }

    #[test]
    fn streaming_decoder_holds_back_split_utf8() {
        let t = toy();
        let ids = t.encode("ß é", true);
        let mut decoder = Decoder::new();
        let pieces: Vec<String> = ids.iter().map(|&i| decoder.push(&t, i)).collect();
        // BOS, ▁ (the dummy prefix), 0xC3 (held back), 0x9F (completes ß), ▁, é.
        assert_eq!(pieces, ["", "", "", "ß", " ", "é"]);
        assert_eq!(t.decode(&ids), "ß é");
        // Only the first space is the dummy prefix.
        assert_eq!(t.decode(&t.encode(" ab", true)), " ab");
        let mut decoder = Decoder::new();
        assert_eq!(decoder.push(&t, id(&t, "<0xC3>")), "");
        assert_eq!(decoder.finish(), "\u{FFFD}");
    }

    #[test]
    fn long_inputs_stay_fast_and_linear() {
        let t = toy();
        let text = "ab ".repeat(20_000);
        let ids = t.encode(&text, false);
        assert_eq!(ids.len(), 20_001);
        assert_eq!(t.decode(&ids), text);
    }

    #[test]
    fn llama2c_vocabulary_is_checked() {
        let mut file = 16i32.to_le_bytes().to_vec();
        for piece in ["<unk>", "<s>", "</s>", " a"] {
            file.extend_from_slice(&1.0f32.to_le_bytes());
            file.extend_from_slice(&(piece.len() as i32).to_le_bytes());
            file.extend_from_slice(piece.as_bytes());
        }
        let t = Tokenizer::from_llama2c(&file, 4).unwrap();
        assert_eq!(t.encode("a", true), [1, 3]);
        assert!(Tokenizer::from_llama2c(&file, 5).is_err());
        for cut in 0..file.len() {
            assert!(Tokenizer::from_llama2c(&file[..cut], 4).is_err());
        }
        let mut negative = file.clone();
        negative[8..12].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(Tokenizer::from_llama2c(&negative, 4).is_err());
    }
}
