//! Pre-tokenizers of byte-level BPE vocabularies: the regular expressions that split text
//! into pieces before BPE merges each piece on its own, written as hand-coded matchers (a
//! regex engine with Unicode classes is too heavy for the kernel). `tokenizer.ggml.pre`
//! names the one a model was trained with; llama.cpp's `llama-vocab.cpp` lists them:
//!
//! - `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//! - `smollm` (also StarCoder, Refact, ...): every `\p{N}` alone first, then `gpt2` on the
//!   rest (the `tokenizers` library's `Digits(individual_digits)` before `ByteLevel`).
//! - `llama-bpe` (Llama 3): `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//!   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
//! - `qwen2`: as `llama-bpe` with `\p{N}` one digit at a time.
//!
//! Alternatives are tried in order at each position and the first that matches wins, as in
//! a backtracking regex engine; `\s+(?!\S)` gives back the last whitespace character when
//! a non-space follows (it then starts the next piece, e.g. as the optional space of
//! ` ?\p{L}+`). `\p{L}` and `\p{N}` are Unicode general categories; `\s` is White_Space.
//! Every matcher advances by at least one character, so a split is linear in the text.

use alloc::vec::Vec;
use unicode_general_category::{get_general_category, GeneralCategory as G};

/// A pre-tokenizer, by its `tokenizer.ggml.pre` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2's pattern.
    Gpt2,
    /// Digits split one by one, then GPT-2's pattern (SmolLM, StarCoder).
    Smollm,
    /// Llama 3's pattern (numbers in runs of up to three digits).
    Llama3,
    /// Qwen2's pattern (Llama 3's with single digits).
    Qwen2,
}

impl PreTokenizer {
    /// The pre-tokenizer `tokenizer.ggml.pre` names, if this engine has it.
    pub fn from_name(name: &str) -> Option<PreTokenizer> {
        Some(match name {
            "gpt2" | "default" => PreTokenizer::Gpt2,
            "smollm" | "starcoder" | "refact" | "codeshell" => PreTokenizer::Smollm,
            "llama-bpe" | "llama3" | "llama-v3" => PreTokenizer::Llama3,
            "qwen2" | "stablelm2" => PreTokenizer::Qwen2,
            _ => return None,
        })
    }

    /// Splits `text` into the pieces BPE merges separately (each a non-empty slice; the
    /// pieces together are exactly `text`).
    pub fn split(self, text: &str) -> Vec<&str> {
        let mut pieces = Vec::new();
        match self {
            PreTokenizer::Gpt2 => split_with(text, gpt2, &mut pieces),
            PreTokenizer::Smollm => {
                let mut rest = text;
                while !rest.is_empty() {
                    // Every number character is a piece of its own.
                    match rest.char_indices().find(|&(_, c)| is_number(c)) {
                        Some((0, c)) => {
                            pieces.push(&rest[..c.len_utf8()]);
                            rest = &rest[c.len_utf8()..];
                        }
                        Some((at, _)) => {
                            split_with(&rest[..at], gpt2, &mut pieces);
                            rest = &rest[at..];
                        }
                        None => {
                            split_with(rest, gpt2, &mut pieces);
                            rest = "";
                        }
                    }
                }
            }
            PreTokenizer::Llama3 => split_with(text, |t| llama3(t, 3), &mut pieces),
            PreTokenizer::Qwen2 => split_with(text, |t| llama3(t, 1), &mut pieces),
        }
        pieces
    }
}

/// Applies `matcher` (the byte length of the piece at the start of its argument, at least
/// one character) until `text` is used up.
fn split_with<'a>(text: &'a str, matcher: impl Fn(&str) -> usize, pieces: &mut Vec<&'a str>) {
    let mut rest = text;
    while !rest.is_empty() {
        let len = matcher(rest).clamp(first_len(rest), rest.len());
        pieces.push(&rest[..len]);
        rest = &rest[len..];
    }
}

fn first_len(text: &str) -> usize {
    text.chars().next().map_or(0, char::len_utf8)
}

/// `\p{L}`: a letter (general categories Lu, Ll, Lt, Lm, Lo).
pub fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    matches!(
        get_general_category(c),
        G::UppercaseLetter | G::LowercaseLetter | G::TitlecaseLetter | G::ModifierLetter | G::OtherLetter
    )
}

/// `\p{N}`: a number (Nd, Nl, No).
pub fn is_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    matches!(get_general_category(c), G::DecimalNumber | G::LetterNumber | G::OtherNumber)
}

/// `\s`: Unicode White_Space.
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Neither whitespace, letter nor number (`[^\s\p{L}\p{N}]`).
fn is_other(c: char) -> bool {
    !is_space(c) && !is_letter(c) && !is_number(c)
}

/// Byte length of the longest prefix of `text` whose characters all satisfy `class`.
fn run(text: &str, class: impl Fn(char) -> bool) -> usize {
    text.char_indices().find(|&(_, c)| !class(c)).map_or(text.len(), |(at, _)| at)
}

/// `' ?X+'`: an optional leading space, then a non-empty run of `class`; the length, or 0.
fn optional_space_then(text: &str, class: impl Fn(char) -> bool) -> usize {
    let skip = usize::from(text.starts_with(' '));
    match run(&text[skip..], class) {
        0 => 0,
        n => skip + n,
    }
}

/// A contraction at the start of `text` (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`),
/// letters compared case-insensitively when `any_case`; its length, or 0.
fn contraction(text: &str, any_case: bool) -> usize {
    let Some(after) = text.strip_prefix('\'') else { return 0 };
    let lower = |c: char| if any_case { c.to_ascii_lowercase() } else { c };
    let mut chars = after.chars().map(lower);
    match (chars.next(), chars.next()) {
        (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => 3,
        (Some('s' | 't' | 'm' | 'd'), _) => 2,
        _ => 0,
    }
}

/// `\s+(?!\S)|\s+` at the start of `text` (which starts with whitespace): the whole run
/// at the end of the text or before more whitespace, otherwise the run without its last
/// character (unless that leaves nothing).
fn trailing_space(text: &str) -> usize {
    let len = run(text, is_space);
    if len == text.len() {
        return len;
    }
    let last = text[..len].chars().next_back().map_or(0, char::len_utf8);
    if len > last {
        len - last
    } else {
        len
    }
}

/// GPT-2's pattern: the length of the piece at the start of `text`.
fn gpt2(text: &str) -> usize {
    let n = contraction(text, false);
    if n > 0 {
        return n;
    }
    for class in [is_letter as fn(char) -> bool, is_number, is_other] {
        let n = optional_space_then(text, class);
        if n > 0 {
            return n;
        }
    }
    trailing_space(text)
}

/// Llama 3's pattern (numbers in runs of at most `digits`): the length of the piece at the
/// start of `text`.
fn llama3(text: &str, digits: usize) -> usize {
    let n = contraction(text, true);
    if n > 0 {
        return n;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    let mut chars = text.chars();
    if let Some(first) = chars.next() {
        let skip =
            if first != '\r' && first != '\n' && !is_letter(first) && !is_number(first) { first.len_utf8() } else { 0 };
        let letters = run(&text[skip..], is_letter);
        if letters > 0 {
            return skip + letters;
        }
    }
    // \p{N}{1,digits}
    let numbers: usize = text.chars().take(digits).take_while(|&c| is_number(c)).map(char::len_utf8).sum();
    if numbers > 0 {
        return numbers;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    let others = optional_space_then(text, is_other);
    if others > 0 {
        return others + run(&text[others..], |c| c == '\r' || c == '\n');
    }
    // `\s*[\r\n]+`: up to the last line break of the whitespace run.
    let spaces = run(text, is_space);
    if let Some((at, c)) = text[..spaces].char_indices().rfind(|&(_, c)| c == '\r' || c == '\n') {
        return at + c.len_utf8();
    }
    trailing_space(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(p: PreTokenizer, text: &str) -> Vec<&str> {
        p.split(text)
    }

    #[test]
    fn gpt2_pieces() {
        let p = PreTokenizer::Gpt2;
        assert_eq!(split(p, "Hello world"), ["Hello", " world"]);
        assert_eq!(
            split(p, "I'm here, they've 123 cats!!"),
            ["I", "'m", " here", ",", " they", "'ve", " 123", " cats", "!!"]
        );
        assert_eq!(split(p, "a  b"), ["a", " ", " b"]);
        assert_eq!(split(p, "a\n\nb"), ["a", "\n", "\n", "b"], "a lone whitespace before a letter stays alone");
        assert_eq!(split(p, "end   "), ["end", "   "]);
        assert_eq!(split(p, " 's"), [" '", "s"]);
        assert_eq!(split(p, "héllo wörld"), ["héllo", " wörld"]);
        assert_eq!(split(p, "🦙 ok"), ["🦙", " ok"]);
        assert_eq!(split(p, "x\t\ty"), ["x", "\t", "\t", "y"], "only a space joins the next word");
        assert_eq!(split(p, ""), Vec::<&str>::new());
    }

    #[test]
    fn smollm_splits_every_digit() {
        let p = PreTokenizer::Smollm;
        assert_eq!(split(p, "In 2024 we"), ["In", " ", "2", "0", "2", "4", " we"]);
        assert_eq!(split(p, "x²y"), ["x", "²", "y"], "² is a number (No)");
        assert_eq!(split(p, "a1b"), ["a", "1", "b"]);
    }

    #[test]
    fn llama3_and_qwen2_pieces() {
        let p = PreTokenizer::Llama3;
        assert_eq!(split(p, "Hello world"), ["Hello", " world"]);
        assert_eq!(split(p, "I'M 12345 ok"), ["I", "'M", " ", "123", "45", " ok"]);
        assert_eq!(split(p, "(hello)"), ["(hello", ")"]);
        assert_eq!(split(p, "a\n\n  b"), ["a", "\n\n", " ", " b"]);
        assert_eq!(split(p, "x !!\n\ny"), ["x", " !!\n\n", "y"]);
        assert_eq!(split(p, "\tword"), ["\tword"]);
        assert_eq!(split(PreTokenizer::Qwen2, "12345"), ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn pieces_cover_random_text_exactly() {
        let mut rng = testkit::Rng::new(5);
        let alphabet: Vec<char> = "ab Zé1²\n\r\t '.!🦙日本 ".chars().collect();
        for _ in 0..5000 {
            let text: alloc::string::String =
                (0..rng.below(40)).map(|_| *rng.pick(&alphabet).unwrap_or(&'a')).collect();
            for p in [PreTokenizer::Gpt2, PreTokenizer::Smollm, PreTokenizer::Llama3, PreTokenizer::Qwen2] {
                let pieces = p.split(&text);
                assert!(pieces.iter().all(|piece| !piece.is_empty()), "{p:?} {text:?}");
                assert_eq!(pieces.concat(), text, "{p:?}");
            }
        }
    }
}
