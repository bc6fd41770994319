//! Tokenizers of the model files people run: SentencePiece BPE (Llama 2, TinyLlama,
//! llama2.c models; [`spm`]) and byte-level BPE with a pre-tokenizer (SmolLM2, Llama 3,
//! Qwen2; [`bpe`], [`pretokenize`]), chosen by GGUF's `tokenizer.ggml.model` (`llama` or
//! `gpt2`). An unknown model or pre-tokenizer is an error, not a guess.
//!
//! Common to both: control and user-defined tokens written literally in the text (`</s>`,
//! `<|im_start|>`) are split out first and become their ids (chat templates need them);
//! the text between them goes to the model's own encoder. [`Decoder`] turns ids back into
//! text as a stream, holding back UTF-8 sequences split across tokens.

pub mod bpe;
pub mod pretokenize;
pub mod spm;

use crate::{error::Error, gguf::Gguf};
use alloc::{collections::BTreeMap, format, string::String, vec, vec::Vec};
use bpe::Bpe;
use pretokenize::PreTokenizer;
use spm::Spm;

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

/// How the text between special tokens becomes ids.
enum Model {
    /// SentencePiece BPE.
    Spm(Spm),
    /// Byte-level BPE.
    Bpe(Bpe),
}

/// A vocabulary and how to encode text with it.
pub struct Tokenizer {
    pieces: Vec<String>,
    kinds: Vec<u8>,
    /// Tokens recognised literally in text (control and user-defined), longest first.
    specials: Vec<(String, u32)>,
    model: Model,
    /// Beginning-of-sequence id.
    pub bos: u32,
    /// End-of-sequence id.
    pub eos: u32,
    /// End-of-turn id of chat models, if the file names one (`tokenizer.ggml.eot_token_id`)
    /// or the vocabulary has a known one (`<|im_end|>`, `<|eot_id|>`, `<|end|>`).
    pub eot: Option<u32>,
    /// Unknown-piece id (used when a byte has no token).
    pub unknown: u32,
    /// Whether prompts should start with BOS (`tokenizer.ggml.add_bos_token`; default true
    /// for SentencePiece, false for byte-level BPE).
    pub add_bos: bool,
}

fn byte_of(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// The ids a tokenizer needs besides its pieces.
struct Ids {
    bos: u32,
    eos: u32,
    unknown: u32,
}

impl Tokenizer {
    /// Checks the vocabulary and collects what both models share.
    fn check(pieces: &[String], kinds: &[u8], ids: &Ids) -> Result<Vec<(String, u32)>, Error> {
        if pieces.is_empty() || pieces.len() != kinds.len() {
            return Err(Error::Corrupt(format!("{} tokens but {} types", pieces.len(), kinds.len())));
        }
        for (name, id) in [("BOS", ids.bos), ("EOS", ids.eos), ("unknown", ids.unknown)] {
            if id as usize >= pieces.len() {
                return Err(Error::Corrupt(format!("{name} id {id} outside the vocabulary of {}", pieces.len())));
            }
        }
        let mut specials: Vec<(String, u32)> = pieces
            .iter()
            .zip(kinds)
            .enumerate()
            .filter(|(_, (piece, &k))| matches!(k, kind::CONTROL | kind::USER_DEFINED) && !piece.is_empty())
            .map(|(id, (piece, _))| (piece.clone(), id as u32))
            .collect();
        specials.sort_by_key(|(piece, _)| core::cmp::Reverse(piece.len()));
        Ok(specials)
    }

    /// A SentencePiece tokenizer.
    fn spm(
        pieces: Vec<String>,
        scores: Vec<f32>,
        kinds: Vec<u8>,
        ids: Ids,
        space: &'static str,
    ) -> Result<Self, Error> {
        if scores.len() != pieces.len() {
            return Err(Error::Corrupt(format!("{} tokens but {} scores", pieces.len(), scores.len())));
        }
        let specials = Self::check(&pieces, &kinds, &ids)?;
        let mut lookup = BTreeMap::new();
        let mut byte_tokens = [None; 256];
        for (id, piece) in pieces.iter().enumerate() {
            let id = id as u32;
            if !matches!(kinds[id as usize], kind::UNKNOWN | kind::CONTROL | kind::BYTE) {
                lookup.entry(piece.clone()).or_insert(id);
            }
            if let Some(byte) = byte_of(piece) {
                byte_tokens[byte as usize].get_or_insert(id);
            }
        }
        let model = Spm { scores, lookup, byte_tokens, add_space_prefix: true, space, unknown: ids.unknown };
        let eot = None;
        Ok(Tokenizer {
            pieces,
            kinds,
            specials,
            model: Model::Spm(model),
            bos: ids.bos,
            eos: ids.eos,
            eot,
            unknown: ids.unknown,
            add_bos: true,
        })
    }

    /// The tokenizer stored in GGUF metadata (`tokenizer.ggml.*`).
    pub fn from_gguf(gguf: &Gguf<'_>) -> Result<Tokenizer, Error> {
        let model = gguf.get("tokenizer.ggml.model").and_then(|v| v.as_str());
        let pieces: Vec<String> = gguf.strings("tokenizer.ggml.tokens")?.into_iter().map(String::from).collect();
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
        let ids = Ids {
            bos: id("tokenizer.ggml.bos_token_id", 1)?,
            eos: id("tokenizer.ggml.eos_token_id", 2)?,
            unknown: id("tokenizer.ggml.unknown_token_id", 0)?,
        };
        let mut tokenizer = match model {
            Some("llama") | None => {
                let scores = match gguf.get("tokenizer.ggml.scores") {
                    Some(_) => gguf
                        .floats("tokenizer.ggml.scores")
                        .ok_or_else(|| Error::Corrupt("tokenizer.ggml.scores holds a non-number".into()))?,
                    None => vec![0.0; pieces.len()],
                };
                let mut tokenizer = Self::spm(pieces, scores, kinds, ids, SPACE_MARK)?;
                if let Model::Spm(spm) = &mut tokenizer.model {
                    spm.add_space_prefix = flag("tokenizer.ggml.add_space_prefix").unwrap_or(true);
                }
                tokenizer.add_bos = flag("tokenizer.ggml.add_bos_token").unwrap_or(true);
                tokenizer
            }
            Some("gpt2") => {
                let pre_name = gguf.get("tokenizer.ggml.pre").and_then(|v| v.as_str()).unwrap_or("default");
                let pre = PreTokenizer::from_name(pre_name).ok_or_else(|| {
                    Error::Unsupported(format!(
                        "pre-tokenizer '{pre_name}' (supported: gpt2, smollm, llama-bpe, qwen2 and their aliases)"
                    ))
                })?;
                let merges = gguf.strings("tokenizer.ggml.merges")?;
                let specials = Self::check(&pieces, &kinds, &ids)?;
                let bpe = Bpe::new(&pieces, &merges, pre)?;
                Tokenizer {
                    pieces,
                    kinds,
                    specials,
                    model: Model::Bpe(bpe),
                    bos: ids.bos,
                    eos: ids.eos,
                    eot: None,
                    unknown: ids.unknown,
                    add_bos: flag("tokenizer.ggml.add_bos_token").unwrap_or(false),
                }
            }
            Some(other) => {
                return Err(Error::Unsupported(format!(
                    "tokenizer model '{other}' (supported: llama/SentencePiece, gpt2/byte-level BPE)"
                )))
            }
        };
        tokenizer.eot = match gguf.get("tokenizer.ggml.eot_token_id") {
            Some(_) => Some(id("tokenizer.ggml.eot_token_id", 0)?).filter(|&t| (t as usize) < tokenizer.len()),
            None => ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"]
                .iter()
                .find_map(|marker| tokenizer.specials.iter().find(|(piece, _)| piece == marker).map(|(_, id)| *id)),
        };
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
        Self::spm(pieces, scores, kinds, Ids { bos: 1, eos: 2, unknown: 0 }, " ")
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

    /// The merge score of a token (SentencePiece vocabularies; byte-level BPE has ranks).
    pub fn score(&self, id: u32) -> Option<f32> {
        match &self.model {
            Model::Spm(spm) => spm.scores.get(id as usize).copied(),
            Model::Bpe(_) => None,
        }
    }

    /// Whether generation stops at `id`: end of sequence or end of turn.
    pub fn is_stop(&self, id: u32) -> bool {
        id == self.eos || Some(id) == self.eot
    }

    /// Whether this is a byte-level BPE vocabulary (no dummy-prefix space).
    pub fn is_byte_level(&self) -> bool {
        matches!(self.model, Model::Bpe(_))
    }

    /// Encodes a prompt, with BOS first when the model asks for it ([`Self::add_bos`]).
    pub fn encode_prompt(&self, text: &str) -> Vec<u32> {
        self.encode(text, self.add_bos)
    }

    /// Encodes `text`, with BOS first if `bos`. Control and user-defined tokens written in
    /// the text (e.g. `</s>`, `<|im_start|>`) become their ids.
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
                match &self.model {
                    Model::Spm(spm) => spm.encode_fragment(plain, after_special && spm.add_space_prefix, &mut out),
                    Model::Bpe(bpe) => bpe.encode(plain, self.unknown, &mut out),
                }
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

    /// The bytes a token stands for: control tokens nothing; SentencePiece byte tokens
    /// their byte, the unknown token " ⁇ " (as SentencePiece), others their text with the
    /// space mark as a space; byte-level tokens the bytes their characters map back to.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(piece) = self.piece(id) else { return Vec::new() };
        match self.kinds.get(id as usize).copied() {
            Some(kind::CONTROL) => return Vec::new(),
            Some(kind::UNKNOWN) if !self.is_byte_level() => return UNKNOWN_SURFACE.as_bytes().to_vec(),
            _ if id == self.bos || id == self.eos => return Vec::new(),
            _ => {}
        }
        match &self.model {
            Model::Bpe(_) if self.kinds.get(id as usize) == Some(&kind::USER_DEFINED) => piece.as_bytes().to_vec(),
            Model::Bpe(_) => bpe::token_bytes(piece),
            Model::Spm(_) => match byte_of(piece) {
                Some(byte) => vec![byte],
                None => piece.replace(SPACE_MARK, " ").into_bytes(),
            },
        }
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
        // Only the first token's space is the dummy prefix (as SentencePiece and llama2.c;
        // byte-level vocabularies have none).
        if core::mem::take(&mut self.at_start) && !tokenizer.is_byte_level() && bytes.first() == Some(&b' ') {
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
        Tokenizer::spm(pieces, scores, kinds, Ids { bos: 1, eos: 2, unknown: 0 }, SPACE_MARK).unwrap()
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
        Tokenizer::spm(
            pieces,
            all.iter().map(|e| e.1).collect(),
            all.iter().map(|e| e.2).collect(),
            Ids { bos: 1, eos: 2, unknown: 0 },
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
        let t = Tokenizer::spm(pieces, scores, kinds, Ids { bos: 1, eos: 2, unknown: 0 }, SPACE_MARK).unwrap();
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
