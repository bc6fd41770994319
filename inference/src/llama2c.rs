//! llama2.c checkpoints (`run.c` format): a header of seven i32 (dim, hidden_dim, n_layers,
//! n_heads, n_kv_heads, vocab_size — negative for an unshared classifier — seq_len), then
//! f32 weights. Read as borrowed F32 tensors, checked against the slice.

use crate::{
    error::Error,
    model::{Config, Layer, Weights},
    quant::{DType, Tensor},
};
use alloc::{format, vec::Vec};

/// Parses a checkpoint into its shape and borrowed weights.
pub fn load<'a>(bytes: &'a [u8]) -> Result<(Config, Weights<'a>), Error> {
    let header = bytes.get(..28).ok_or(Error::Truncated { what: "llama2.c header", offset: 0 })?;
    let field = |i: usize| i32::from_le_bytes([header[i * 4], header[i * 4 + 1], header[i * 4 + 2], header[i * 4 + 3]]);
    let positive = |i: usize, name: &str| -> Result<usize, Error> {
        usize::try_from(field(i)).ok().filter(|&v| v > 0).ok_or_else(|| Error::Corrupt(format!("{name} = {}", field(i))))
    };
    let shared = field(5) > 0;
    let config = Config {
        dim: positive(0, "dim")?,
        hidden_dim: positive(1, "hidden_dim")?,
        n_layers: positive(2, "n_layers")?,
        n_heads: positive(3, "n_heads")?,
        n_kv_heads: positive(4, "n_kv_heads")?,
        vocab_size: field(5).unsigned_abs() as usize,
        max_context: positive(6, "seq_len")?,
        rope_base: 10000.0,
        norm_eps: 1e-5,
    };
    config.validate()?;
    let (dim, hidden, kv, layers) = (config.dim, config.hidden_dim, config.kv_dim(), config.n_layers);
    let mut at = 28usize;
    let mut take = |rows: usize, cols: usize, what: &'static str| -> Result<Tensor<'a>, Error> {
        let len = rows.checked_mul(cols).and_then(|n| n.checked_mul(4)).ok_or_else(|| Error::Corrupt(format!("{what} size")))?;
        let data = bytes.get(at..at + len).ok_or(Error::Truncated { what, offset: at })?;
        at += len;
        Tensor::new(DType::F32, rows, cols, data)
    };
    let token_embd = take(config.vocab_size, dim, "token embeddings")?;
    // llama2.c stores each weight kind for all layers together.
    let attn_norm = take(layers, dim, "attention norms")?;
    let wq = take(layers * dim, dim, "wq")?;
    let wk = take(layers * kv, dim, "wk")?;
    let wv = take(layers * kv, dim, "wv")?;
    let wo = take(layers * dim, dim, "wo")?;
    let ffn_norm = take(layers, dim, "ffn norms")?;
    let w1 = take(layers * hidden, dim, "w1")?;
    let w2 = take(layers * dim, hidden, "w2")?;
    let w3 = take(layers * hidden, dim, "w3")?;
    let output_norm = take(1, dim, "final norm")?;
    let head = dim / config.n_heads;
    // Precomputed RoPE tables (unused: computed on the fly), then an optional classifier.
    take(config.max_context, head, "rope tables")?;
    let output = if shared { token_embd } else { take(config.vocab_size, dim, "classifier")? };
    let mut out = Vec::with_capacity(layers);
    for l in 0..layers {
        out.push(Layer {
            attn_norm: rows(&attn_norm, l, 1)?,
            wq: rows(&wq, l, dim)?,
            wk: rows(&wk, l, kv)?,
            wv: rows(&wv, l, kv)?,
            wo: rows(&wo, l, dim)?,
            ffn_norm: rows(&ffn_norm, l, 1)?,
            w_gate: rows(&w1, l, hidden)?,
            w_down: rows(&w2, l, dim)?,
            w_up: rows(&w3, l, hidden)?,
        });
    }
    Ok((config, Weights { token_embd, layers: out, output_norm, output }))
}

/// Rows `layer * n .. (layer + 1) * n` of a tensor holding all layers.
fn rows<'a>(t: &Tensor<'a>, layer: usize, n: usize) -> Result<Tensor<'a>, Error> {
    let bytes_per_row = t.cols * 4;
    let data = t.data.get(layer * n * bytes_per_row..(layer + 1) * n * bytes_per_row).ok_or(Error::Truncated { what: "layer", offset: 0 })?;
    Tensor::new(DType::F32, n, t.cols, data)
}
