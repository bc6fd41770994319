//! Byte-level BPE against the `tokenizers` library (PyPI, pinned in tests/requirements.txt)
//! built from the same vocabulary and merges: SmolLM2's real 49152-token vocabulary
//! (`../shared/fixtures/smollm2`), with its own pre-tokenizer (`smollm`) and with the other
//! three the engine has (`gpt2`, `llama-bpe`, `qwen2`), so each hand-written splitter is
//! checked against the library's regular expressions. The Python side is `bpe_ids.py`.

use crate::{
    common::fixture,
    tokenizer::{cases, python_ids},
};
use inference::{
    gguf::Gguf,
    tokenizer::{pretokenize::PreTokenizer, Tokenizer},
    writer::{Meta, Writer},
};

const SMOLLM2: &str = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The file's vocabulary as the Python script reads it, with `pre` as the pre-tokenizer.
fn vocabulary_json(gguf: &Gguf<'_>, pre: &str) -> Vec<u8> {
    let tokens = gguf.strings("tokenizer.ggml.tokens").unwrap();
    let merges = gguf.strings("tokenizer.ggml.merges").unwrap();
    let types = gguf.get("tokenizer.ggml.token_type").unwrap().as_array().unwrap();
    let specials: Vec<&str> =
        tokens.iter().zip(types).filter(|(_, t)| matches!(t.as_u64(), Some(3 | 4))).map(|(token, _)| *token).collect();
    serde_json::json!({"tokens": tokens, "merges": merges, "specials": specials, "pre": pre}).to_string().into_bytes()
}

/// SmolLM2's tokenizer metadata with `tokenizer.ggml.pre` set to `pre` (no weights).
fn with_pre(gguf: &Gguf<'_>, pre: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.meta("tokenizer.ggml.model", Meta::Str("gpt2".into()));
    w.meta("tokenizer.ggml.pre", Meta::Str(pre.into()));
    let strings = |key: &str| gguf.strings(key).unwrap().into_iter().map(String::from).collect::<Vec<_>>();
    w.meta("tokenizer.ggml.tokens", Meta::Strings(strings("tokenizer.ggml.tokens")));
    w.meta("tokenizer.ggml.merges", Meta::Strings(strings("tokenizer.ggml.merges")));
    let types = gguf.get("tokenizer.ggml.token_type").unwrap().as_array().unwrap();
    w.meta("tokenizer.ggml.token_type", Meta::I32s(types.iter().map(|t| t.as_u64().unwrap() as i32).collect()));
    for key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"] {
        w.meta(key, Meta::U32(gguf.get_u64(key).unwrap() as u32));
    }
    w.to_bytes()
}

/// The shared cases, the chat markup, and 2,000 random strings over an alphabet that
/// mixes what the pre-tokenizers treat differently.
fn all_cases() -> Vec<String> {
    let mut all = cases();
    all.extend(
        [
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
            "text<|endoftext|>more<|im_end|>",
            "<|im_start|><|im_start|>",
            "<|im_start",
            "I'M HERE, YOU'LL SEE; they'D've 'tis",
            "12345678901234567890",
            "x=1,y=22,z=333,w=4444",
            "\r\n\r\n  \n\t\n",
            "  !!  ??\n\n",
            "١٢٣ ٤٥٦ (Arabic-Indic digits) Ⅻ ½ ²",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let alphabet: Vec<char> = "aAzZ é日本🦙1٣²½ \t\n\r'.,!?-_(){}<>|\u{a0}\u{2003}ÅßΩж\u{301}".chars().collect();
    let mut rng = testkit::Rng::new(0xb9e);
    for _ in 0..2000 {
        let len = rng.below(24);
        all.push((0..len).map(|_| *rng.pick(&alphabet).unwrap()).collect());
    }
    all
}

/// Our ids and decodings against the library's; returns the mismatches (`None` without
/// Python).
fn mismatches(gguf_bytes: &[u8], pre: &str, cases: &[String]) -> Option<Vec<String>> {
    let gguf = Gguf::parse(gguf_bytes).unwrap();
    let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
    let expected = python_ids("bpe_ids.py", &vocabulary_json(&gguf, pre), cases)?;
    let mut failures = Vec::new();
    for (text, (ids, decoded)) in cases.iter().zip(&expected) {
        let ours = tokenizer.encode(text, false);
        if &ours != ids {
            let pieces: Vec<&str> = ours.iter().map(|&id| tokenizer.piece(id).unwrap_or("?")).collect();
            failures.push(format!("{text:?}:\n    ours     {ours:?} {pieces:?}\n    expected {ids:?}"));
        }
        let our_text = tokenizer.decode(ids);
        if &our_text != decoded {
            failures.push(format!("decoding {ids:?}: ours {our_text:?}, tokenizers {decoded:?}"));
        }
    }
    Some(failures)
}

#[test]
fn smollm2_ids_equal_the_tokenizers_library_for_every_pre_tokenizer() {
    let Some(bytes) = fixture(SMOLLM2) else { return };
    let gguf = Gguf::parse(&bytes).unwrap();
    let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
    assert_eq!((tokenizer.len(), tokenizer.bos, tokenizer.eos, tokenizer.add_bos), (49152, 1, 2, false));
    assert_eq!(tokenizer.eot, Some(2), "<|im_end|> ends a turn");
    let cases = all_cases();
    for pre in ["smollm", "gpt2", "llama-bpe", "qwen2"] {
        assert!(PreTokenizer::from_name(pre).is_some());
        let file = if pre == "smollm" { bytes.clone() } else { with_pre(&gguf, pre) };
        let python_pre = match pre {
            "llama-bpe" => "llama3",
            other => other,
        };
        let Some(failures) = mismatches(&file, python_pre, &cases) else { return };
        eprintln!(
            "{pre} pre-tokenizer on SmolLM2's vocabulary: {} of {} cases equal",
            cases.len() - failures.len(),
            cases.len()
        );
        assert!(
            failures.is_empty(),
            "{pre}: {} mismatches:\n{}",
            failures.len(),
            failures[..failures.len().min(20)].join("\n")
        );
    }
}

#[test]
fn an_unknown_pre_tokenizer_is_an_error() {
    let Some(bytes) = fixture(SMOLLM2) else { return };
    let gguf = Gguf::parse(&bytes).unwrap();
    let file = with_pre(&gguf, "some-future-model");
    match Tokenizer::from_gguf(&Gguf::parse(&file).unwrap()) {
        Err(inference::error::Error::Unsupported(why)) => assert!(why.contains("some-future-model"), "{why}"),
        other => panic!("expected an unsupported pre-tokenizer, got {:?}", other.map(|t| t.len())),
    }
}
