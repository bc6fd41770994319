//! Any bytes given to the GGUF reader, and a parsed file given to everything that reads
//! one (shape, weights, tokenizer, one forward step, memory estimate), give values or
//! errors and never panic. The checks are shared with the deterministic mutation test
//! (`inference/tests/fuzz_gguf.rs`).
#![no_main]

#[path = "../../tests/support/exercise.rs"]
mod exercise;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exercise::gguf(data);
});
