//! SentencePiece BPE as Llama uses it: dummy-prefix space, spaces as U+2581 (GGUF vocab) or
//! plain spaces (llama2.c vocab), greedy highest-score merges, byte fallback `<0xNN>`,
//! BOS/EOS, control tokens written literally in the text (`</s>`), and a streaming decoder
//! that holds back UTF-8 sequences split across tokens.

use crate::{error::Error, gguf::Gguf};
use alloc::{
    collections::BTreeMap,
    format,
    string::{String, ToString},
    vec::Vec,
};

/// SentencePiece's visible space.
const SPACE_MARK: &str = "\u{2581}";

/// A vocabulary with merge scores.
pub struct Tokenizer {
    pieces: Vec<String>,
    scores: Vec<f32>,
    lookup: BTreeMap<String, u32>,
    /// Control tokens recognised literally in text (`<s>`, `</s>`, chat markers).
    specials: Vec<(String, u32)>,
    byte_tokens: [Option<u32>; 256],
    /// Beginning-of-sequence id.
    pub bos: u32,
    /// End-of-sequence id.
    pub eos: u32,
    /// How the vocabulary writes a space: U+2581 (GGUF) or " " (llama2.c).
    space: &'static str,
}

impl Tokenizer {
    fn build(pieces: Vec<String>, scores: Vec<f32>, types: Option<Vec<u32>>, bos: u32, eos: u32, space: &'static str) -> Result<Self, Error> {
        if pieces.is_empty() || pieces.len() != scores.len() {
            return Err(Error::Corrupt(format!("{} tokens but {} scores", pieces.len(), scores.len())));
        }
        if bos as usize >= pieces.len() || eos as usize >= pieces.len() {
            return Err(Error::Corrupt("BOS/EOS id outside the vocabulary".into()));
        }
        let mut lookup = BTreeMap::new();
        let mut byte_tokens = [None; 256];
        let mut specials = Vec::new();
        for (id, piece) in pieces.iter().enumerate() {
            lookup.entry(piece.clone()).or_insert(id as u32);
            if let Some(hex) = piece.strip_prefix("<0x").and_then(|p| p.strip_suffix('>')) {
                if let Ok(byte) = u8::from_str_radix(hex, 16) {
                    byte_tokens[byte as usize] = Some(id as u32);
                }
            }
            // GGUF token types: 3 = control. Only control tokens are matched in text.
            if types.as_ref().and_then(|t| t.get(id)) == Some(&3) && !piece.is_empty() {
                specials.push((piece.clone(), id as u32));
            }
        }
        specials.sort_by_key(|(piece, _)| core::cmp::Reverse(piece.len()));
        Ok(Tokenizer { pieces, scores, lookup, specials, byte_tokens, bos, eos, space })
    }

    /// The tokenizer stored in GGUF metadata (`tokenizer.ggml.*`).
    pub fn from_gguf(gguf: &Gguf<'_>) -> Result<Tokenizer, Error> {
        match gguf.get("tokenizer.ggml.model").and_then(|v| v.as_str()) {
            Some("llama") | None => {}
            Some(other) => return Err(Error::Unsupported(format!("tokenizer model '{other}' (only llama/SentencePiece)"))),
        }
        let pieces: Vec<String> = gguf.strings("tokenizer.ggml.tokens")?.into_iter().map(String::from).collect();
        let scores = gguf.floats("tokenizer.ggml.scores").unwrap_or_else(|| alloc::vec![0.0; pieces.len()]);
        let types = gguf
            .get("tokenizer.ggml.token_type")
            .and_then(|v| v.as_array())
            .map(|items| items.iter().map(|v| v.as_u64().unwrap_or(1) as u32).collect());
        let id = |key: &str, default: u32| gguf.get(key).and_then(|v| v.as_u64()).map_or(default, |v| v as u32);
        Self::build(pieces, scores, types, id("tokenizer.ggml.bos_token_id", 1), id("tokenizer.ggml.eos_token_id", 2), SPACE_MARK)
    }

    /// A llama2.c `tokenizer.bin`: i32 max length, then per token f32 score, i32 length,
    /// bytes. `vocab_size` comes from the checkpoint.
    pub fn from_llama2c(bytes: &[u8], vocab_size: usize) -> Result<Tokenizer, Error> {
        let mut at = 4usize;
        let mut pieces = Vec::with_capacity(vocab_size);
        let mut scores = Vec::with_capacity(vocab_size);
        for _ in 0..vocab_size {
            let head = bytes.get(at..at + 8).ok_or(Error::Truncated { what: "token", offset: at })?;
            let score = f32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let len = i32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            let len = usize::try_from(len).map_err(|_| Error::Corrupt(format!("token length {len}")))?;
            at += 8;
            let text = bytes.get(at..at + len).ok_or(Error::Truncated { what: "token text", offset: at })?;
            at += len;
            pieces.push(String::from_utf8_lossy(text).into_owned());
            scores.push(score);
        }
        Self::build(pieces, scores, None, 1, 2, " ")
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

    /// Encodes `text`, with BOS first if `bos`. Control tokens written in the text (e.g.
    /// `</s>`) become their ids.
    pub fn encode(&self, text: &str, bos: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if bos {
            out.push(self.bos);
        }
        let mut rest = text;
        let mut first = true;
        while !rest.is_empty() {
            let next_special = self
                .specials
                .iter()
                .filter_map(|(piece, id)| rest.find(piece.as_str()).map(|at| (at, piece.len(), *id)))
                .min_by_key(|(at, len, _)| (*at, core::cmp::Reverse(*len)));
            let (plain, special) = match next_special {
                Some((at, len, id)) => (&rest[..at], Some((id, at + len))),
                None => (rest, None),
            };
            if !plain.is_empty() {
                self.encode_plain(plain, first, &mut out);
            }
            first = false;
            match special {
                Some((id, end)) => {
                    out.push(id);
                    rest = &rest[end..];
                }
                None => break,
            }
        }
        out
    }

    fn encode_plain(&self, text: &str, dummy_prefix: bool, out: &mut Vec<u32>) {
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
        let mut tokens: Vec<u32> = Vec::with_capacity(normalized.len());
        let mut buffer = [0u8; 4];
        for c in normalized.chars() {
            match self.lookup.get(c.encode_utf8(&mut buffer) as &str) {
                Some(&id) => tokens.push(id),
                None => {
                    for &byte in c.encode_utf8(&mut buffer).as_bytes() {
                        // Unknown bytes map to <unk> (id 0) when the vocabulary lacks them.
                        tokens.push(self.byte_tokens[byte as usize].unwrap_or(0));
                    }
                }
            }
        }
        // Greedy merges: repeatedly merge the adjacent pair whose concatenation has the
        // best score.
        let mut merged = String::new();
        loop {
            let mut best: Option<(f32, usize, u32)> = None;
            for i in 0..tokens.len().saturating_sub(1) {
                merged.clear();
                merged.push_str(&self.pieces[tokens[i] as usize]);
                merged.push_str(&self.pieces[tokens[i + 1] as usize]);
                if let Some(&id) = self.lookup.get(merged.as_str()) {
                    let score = self.scores[id as usize];
                    if best.is_none_or(|(s, _, _)| score > s) {
                        best = Some((score, i, id));
                    }
                }
            }
            let Some((_, i, id)) = best else { break };
            tokens[i] = id;
            tokens.remove(i + 1);
        }
        out.extend(tokens);
    }

    /// The bytes a token stands for (byte tokens become their byte; the space mark a space).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(piece) = self.piece(id) else { return Vec::new() };
        if let Some(hex) = piece.strip_prefix("<0x").and_then(|p| p.strip_suffix('>')) {
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                return alloc::vec![byte];
            }
        }
        if id == self.bos || id == self.eos {
            return Vec::new();
        }
        piece.replace(SPACE_MARK, " ").into_bytes()
    }

    /// Decodes a whole sequence (dropping the dummy-prefix space after BOS).
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

/// The scores of a llama2.c `tokenizer.bin` (for conversion to GGUF).
pub fn llama2c_scores(bytes: &[u8], vocab_size: usize) -> Result<Vec<f32>, Error> {
    let mut at = 4usize;
    let mut scores = Vec::with_capacity(vocab_size);
    for _ in 0..vocab_size {
        let head = bytes.get(at..at + 8).ok_or(Error::Truncated { what: "token", offset: at })?;
        scores.push(f32::from_le_bytes([head[0], head[1], head[2], head[3]]));
        let len = i32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        at += 8 + usize::try_from(len).map_err(|_| Error::Corrupt(format!("token length {len}")))?;
    }
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

    /// Adds a token; returns the text it completes.
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> String {
        if id == tokenizer.bos {
            self.at_start = true;
            return String::new();
        }
        let mut bytes = tokenizer.token_bytes(id);
        if self.at_start && bytes.first() == Some(&b' ') {
            bytes.remove(0);
        }
        if !bytes.is_empty() {
            self.at_start = false;
        }
        self.pending.extend_from_slice(&bytes);
        let valid = match core::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            // An invalid sequence (not merely incomplete): emit it lossily.
            Err(_) => self.pending.len(),
        };
        let text = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
        self.pending.drain(..valid);
        text
    }

    /// Flushes whatever is held back (lossily).
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).to_string();
        self.pending.clear();
        text
    }
}
