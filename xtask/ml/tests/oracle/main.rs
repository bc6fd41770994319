//! The inference engine checked against independent implementations: candle's quantized
//! blocks and kernels, candle-transformers' `quantized_llama` and `llama2_c` models, and
//! the SentencePiece and `tokenizers` libraries. One test binary, so candle is linked once.
//!
//! `cargo test -p kingly-ml --test oracle -- --nocapture` prints the measured errors.

mod architectures;
mod bpe;
mod common;
mod forward;
mod llama2c;
mod quant;
mod tokenizer;
