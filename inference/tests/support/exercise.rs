//! Everything a kernel does with an untrusted GGUF file, for the fuzz target
//! (`inference/fuzz`) and the deterministic mutation test (`tests/fuzz_gguf.rs`).

use inference::{
    gguf::Gguf,
    model::{memory_estimate, Config, Model, State, Weights},
    quant::{Q8Activations, Serial},
    tokenizer::Tokenizer,
};

/// How far [`gguf`] got with an input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reached {
    /// The bytes were refused as GGUF.
    #[default]
    Nothing,
    /// The file parsed.
    Parsed,
    /// Its tokenizer loaded too.
    Tokenizer,
    /// Shape and weights loaded and a forward step ran.
    Forward,
}

/// Parses `bytes` as GGUF and, when that succeeds, reads shape, weights and tokenizer,
/// runs one forward step and tokenizes a little text. Panics only on a bug.
pub fn gguf(bytes: &[u8]) -> Reached {
    if let Ok(header) = Gguf::parse_header(bytes) {
        let _ = memory_estimate(&header, 64);
        let _ = header.file_size();
    }
    let Ok(gguf) = Gguf::parse(bytes) else { return Reached::Nothing };
    let mut reached = Reached::Parsed;
    for key in ["general.name", "tokenizer.ggml.tokens", "llama.context_length"] {
        let _ = gguf.describe(key);
    }
    // Every tensor as a view: decode its first row and take one dot product with it
    // (work and memory proportional to the tensor's bytes in the file).
    for info in &gguf.tensors {
        let Ok(t) = gguf.tensor(info.name) else { continue };
        let mut row = vec![0.0f32; t.cols];
        t.dequantize_row(0, &mut row);
        let mut activations = Q8Activations::new();
        activations.prepare(t.dtype, &row);
        let _ = t.row_dot(0, &row, &activations);
    }
    if let Ok(tokenizer) = Tokenizer::from_gguf(&gguf) {
        let ids = tokenizer.encode("Hello wörld</s> 日本 \u{1f980}\n<s>", true);
        let _ = tokenizer.decode(&ids);
        let every: Vec<u32> = (0..tokenizer.len().min(600) as u32).collect();
        let _ = tokenizer.decode(&every);
        reached = Reached::Tokenizer;
    }
    let Ok(config) = Config::from_gguf(&gguf) else { return reached };
    let Ok(weights) = Weights::from_gguf(&gguf, &config) else { return reached };
    // The shape was checked against tensors present in `bytes`, so one step's work is
    // bounded by the input size; the KV cache is for a few positions only.
    let model = Model { config, weights };
    let mut state = State::new(&model.config, 4);
    for (position, token) in [0usize, model.config.vocab_size - 1].into_iter().enumerate() {
        let _ = model.forward(&mut state, token, position, &Serial);
    }
    let _ = model.forward(&mut state, model.config.vocab_size, 2, &Serial);
    Reached::Forward
}
