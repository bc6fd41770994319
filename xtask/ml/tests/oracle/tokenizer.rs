//! The tokenizer against the SentencePiece library (PyPI `sentencepiece`, pinned in
//! tests/requirements.txt) on the real 32000-piece Llama 2 vocabulary of
//! `../shared/fixtures/gguf/llama-2-tiny-random.gguf`.
//!
//! SentencePiece needs a `.model` file, a serialized `ModelProto` (sentencepiece_model.proto);
//! [`model_proto`] writes one from the GGUF vocabulary: the pieces with their scores and
//! types, and Llama's trainer and normalizer settings (BPE, byte fallback, identity
//! normalization, dummy prefix, no whitespace collapsing). The Python side is
//! `sentencepiece_ids.py`; its interpreter comes from `KINGLY_PYTHON`, which
//! `cargo xtask test` sets to its virtual environment. Under a plain `cargo test` without
//! it the comparison is skipped with a message.

use crate::common::fixture;
use inference::{
    gguf::Gguf,
    tokenizer::Tokenizer,
    writer::{Meta, Writer},
};
use std::{path::PathBuf, process::Command};

/// Protocol-buffer encoding, just what `ModelProto` needs.
mod protobuf {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn int(out: &mut Vec<u8>, field: u32, v: i64) {
        varint(out, (field as u64) << 3);
        varint(out, v as u64);
    }

    pub fn float(out: &mut Vec<u8>, field: u32, v: f32) {
        varint(out, (field as u64) << 3 | 5);
        out.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
        varint(out, (field as u64) << 3 | 2);
        varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }
}

/// A SentencePiece `ModelProto` for the GGUF's vocabulary. Field numbers are from
/// sentencepiece_model.proto.
fn model_proto(gguf: &Gguf<'_>) -> Vec<u8> {
    use protobuf::{bytes, float, int};
    let pieces = gguf.strings("tokenizer.ggml.tokens").unwrap();
    let scores = gguf.floats("tokenizer.ggml.scores").unwrap();
    let types: Vec<i64> = gguf
        .get("tokenizer.ggml.token_type")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as i64)
        .collect();
    let id = |key: &str| gguf.get(key).and_then(|v| v.as_u64()).unwrap() as i64;
    let mut out = Vec::new();
    for ((piece, score), kind) in pieces.iter().zip(&scores).zip(&types) {
        // SentencePiece { piece = 1; score = 2; type = 3 } — GGUF token types use the
        // same numbers (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte).
        let mut p = Vec::new();
        bytes(&mut p, 1, piece.as_bytes());
        float(&mut p, 2, *score);
        int(&mut p, 3, *kind);
        bytes(&mut out, 1, &p);
    }
    // TrainerSpec: model_type = 3 (BPE = 2), vocab_size = 4, byte_fallback = 35 (when
    // the vocabulary has byte pieces), unk/bos/eos/pad ids = 40..43.
    let mut trainer = Vec::new();
    int(&mut trainer, 3, 2);
    int(&mut trainer, 4, pieces.len() as i64);
    int(&mut trainer, 35, types.contains(&6) as i64);
    int(&mut trainer, 40, id("tokenizer.ggml.unknown_token_id"));
    int(&mut trainer, 41, id("tokenizer.ggml.bos_token_id"));
    int(&mut trainer, 42, id("tokenizer.ggml.eos_token_id"));
    int(&mut trainer, 43, -1);
    bytes(&mut out, 2, &trainer);
    // NormalizerSpec: name = 1, add_dummy_prefix = 3, remove_extra_whitespaces = 4,
    // escape_whitespaces = 5 — Llama's tokenizer.model values.
    let add_prefix = !matches!(gguf.get("tokenizer.ggml.add_space_prefix"), Some(inference::gguf::Value::Bool(false)));
    let mut normalizer = Vec::new();
    bytes(&mut normalizer, 1, b"identity");
    int(&mut normalizer, 3, add_prefix as i64);
    int(&mut normalizer, 4, 0);
    int(&mut normalizer, 5, 1);
    bytes(&mut out, 3, &normalizer);
    out
}

/// Strings covering what a tokenizer has to get right.
pub fn cases() -> Vec<String> {
    let mut cases: Vec<String> = [
        "",
        " ",
        "  ",
        "   ",
        "Hello world",
        " Hello world",
        "Hello world ",
        "Hello  world",
        "  leading and trailing  ",
        "a                    b",
        "hello\tworld",
        "tabs\t\tand\t spaces \t",
        "line one\nline two",
        "\n",
        "\n\n\n",
        "trailing newline\n",
        "windows\r\nline ends",
        "Hello, world! How are you? (Fine); ok: yes... \"quoted\" 'single' [x] {y}",
        "don't can't won't it's",
        "C++ and C# and F#, 50% off -- 3-4 people; a/b\\c @user #tag $5 ^_^ ~ `code`",
        "1234567890",
        "3.14159 and 2,718,281 and 1e-5 and 0x1F",
        "year 2024, 12:30pm, +1-555-0100",
        "café naïve résumé Ångström",
        "über Straße Ærøskøbing",
        "e\u{301} (combining acute) vs é",
        "日本語のテキストを分割する",
        "中文分词测试，标点符号。",
        "한국어 텍스트",
        "Привет, мир! Ελληνικά",
        "مرحبا بالعالم",
        "emoji 🦀🚀👍🏽 and 👨‍👩‍👧 family",
        "mixed: Ünïcödé ✓ → ∞ ≠ ½ ©",
        "\u{2581}already marked\u{2581}",
        "a < b > c and <0x41> and <unk> and <s",
        "zero\u{200b}width and nbsp\u{a0}here",
        "\u{7f}\u{1}control\u{1b}[0m",
        "antidisestablishmentarianism pneumonoultramicroscopic",
        "fn main() { println!(\"{}\", x + 1); }",
        "    indented code\n        deeper",
        "The quick brown fox jumps over the lazy dog.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Long text: a few kilobytes of mixed prose.
    let paragraph = "Once upon a time, in a land far away, there lived a kingly old cat named Órla. \
                     She counted 1,024 stars each night — and sometimes 2048! — while the wind sang «chansons» \
                     through the 木々. ";
    cases.push(paragraph.repeat(24));
    cases.push(" ".repeat(70) + "spaces" + &"\n".repeat(5));
    cases
}

/// SentencePiece's ids and decoded text for each case, or `None` without `KINGLY_PYTHON`.
fn sentencepiece(proto: &[u8], cases: &[String]) -> Option<Vec<(Vec<u32>, String)>> {
    python_ids("sentencepiece_ids.py", proto, cases)
}

/// Runs `tests/oracle/<script> MODEL CASES` with the test Python (`KINGLY_PYTHON`): MODEL
/// holds `model`, CASES one hex-encoded case per line; the script prints ids and the hex
/// of its decoding per case. `None` (require rule) without Python.
pub fn python_ids(script: &str, model: &[u8], cases: &[String]) -> Option<Vec<(Vec<u32>, String)>> {
    let python = testkit::env_path("KINGLY_PYTHON")?;
    // One directory per call: the tests run in parallel threads of one process.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kingly-oracle-tokenizer-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (model_file, input) = (dir.join("model"), dir.join("cases.txt"));
    std::fs::write(&model_file, model).unwrap();
    let hex: String = cases.iter().map(|c| c.bytes().map(|b| format!("{b:02x}")).collect::<String>() + "\n").collect();
    std::fs::write(&input, hex).unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oracle").join(script);
    let out = Command::new(&python).arg(path).arg(&model_file).arg(&input).output().expect("KINGLY_PYTHON runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{script} failed (are tests/requirements.txt's packages installed in {python:?}?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<(Vec<u32>, String)> = text
        .lines()
        .map(|line| {
            let (ids, decoded) = line.split_once('\t').unwrap();
            let ids = ids.split_whitespace().map(|i| i.parse().unwrap()).collect();
            let bytes: Vec<u8> =
                (0..decoded.len()).step_by(2).map(|i| u8::from_str_radix(&decoded[i..i + 2], 16).unwrap()).collect();
            (ids, String::from_utf8(bytes).unwrap())
        })
        .collect();
    assert_eq!(rows.len(), cases.len(), "one answer per case");
    Some(rows)
}

/// Our ids and decodings of `cases` against SentencePiece's for the vocabulary of `gguf`;
/// returns the mismatches, or `None` when Python is not available.
fn mismatches(gguf: &Gguf<'_>, cases: &[String]) -> Option<Vec<String>> {
    let tokenizer = Tokenizer::from_gguf(gguf).unwrap();
    let expected = sentencepiece(&model_proto(gguf), cases)?;
    let mut failures = Vec::new();
    for (text, (ids, decoded)) in cases.iter().zip(&expected) {
        let ours = tokenizer.encode(text, false);
        if &ours != ids {
            failures.push(format!("{text:?}:\n    ours     {ours:?}\n    expected {ids:?}"));
        }
        let our_text = tokenizer.decode(ids);
        if &our_text != decoded {
            failures.push(format!("decoding {ids:?}: ours {our_text:?}, sentencepiece {decoded:?}"));
        }
    }
    Some(failures)
}

#[test]
fn llama_vocabulary_ids_equal_sentencepiece() {
    let Some(bytes) = fixture("gguf/llama-2-tiny-random.gguf") else { return };
    let gguf = Gguf::parse(&bytes).unwrap();
    let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
    assert_eq!(tokenizer.len(), 32000);
    let cases = cases();
    let Some(failures) = mismatches(&gguf, &cases) else { return };
    eprintln!(
        "Llama 2 vocabulary vs sentencepiece: {} of {} cases equal (ids and decoding)",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    // A control token written in the text is its id (llama.cpp's parse-special behaviour,
    // which SentencePiece does not have): around it, the plain fragments tokenize as
    // SentencePiece tokenizes them alone.
    let halves = sentencepiece(&model_proto(&gguf), &["Hello".into(), "world".into()]).unwrap();
    let with_special = tokenizer.encode("Hello</s>world", true);
    let expected: Vec<u32> = [vec![1], halves[0].0.clone(), vec![2], halves[1].0.clone()].concat();
    assert_eq!(with_special, expected);
}

#[test]
fn stories260k_vocabulary_ids_equal_sentencepiece() {
    // tok512 imported to GGUF, as `cargo xtask model import-llama2c` does.
    let (Some(model), Some(tokenizer)) = (fixture("llama2c/stories260K.bin"), fixture("llama2c/tok512.bin")) else {
        return;
    };
    let bytes = inference::llama2c::to_gguf(&model, &tokenizer, inference::llama2c::Quant::F32).unwrap();
    let gguf = Gguf::parse(&bytes).unwrap();
    let cases = cases();
    let Some(failures) = mismatches(&gguf, &cases) else { return };
    eprintln!(
        "stories260K's 512-piece vocabulary vs sentencepiece: {} of {} cases equal",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn vocabulary_without_byte_pieces_equals_sentencepiece() {
    // No byte fallback: characters outside the vocabulary become <unk>, one per run
    // (the tokenizer gave one per byte before this comparison).
    let mut pieces: Vec<String> = ["<unk>", "<s>", "</s>", "\u{2581}"].iter().map(|s| s.to_string()).collect();
    pieces.extend(('a'..='z').map(String::from));
    pieces.extend(
        ["th", "he", "the", "\u{2581}the", "\u{2581}a", "an", "\u{2581}an", "in", "ing", "é", "ö"]
            .iter()
            .map(|s| s.to_string()),
    );
    let scores: Vec<f32> = (0..pieces.len()).map(|i| if i < 30 { 0.0 } else { -(i as f32) }).collect();
    let types: Vec<i32> = (0..pieces.len())
        .map(|i| match i {
            0 => 2,
            1 | 2 => 3,
            _ => 1,
        })
        .collect();
    let mut w = Writer::new();
    w.meta("tokenizer.ggml.model", Meta::Str("llama".into()));
    w.meta("tokenizer.ggml.tokens", Meta::Strings(pieces));
    w.meta("tokenizer.ggml.scores", Meta::F32s(scores));
    w.meta("tokenizer.ggml.token_type", Meta::I32s(types));
    w.meta("tokenizer.ggml.bos_token_id", Meta::U32(1));
    w.meta("tokenizer.ggml.eos_token_id", Meta::U32(2));
    w.meta("tokenizer.ggml.unknown_token_id", Meta::U32(0));
    let bytes = w.to_bytes();
    let gguf = Gguf::parse(&bytes).unwrap();
    let cases = cases();
    let Some(failures) = mismatches(&gguf, &cases) else { return };
    eprintln!(
        "a vocabulary without byte pieces vs sentencepiece: {} of {} cases equal",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
