//! llama2.c checkpoints (`run.c` format): a header of seven i32 (dim, hidden_dim, n_layers,
//! n_heads, n_kv_heads, vocab_size — negative for an unshared classifier — seq_len), then
//! f32 weights. Read as borrowed F32 tensors, checked against the slice.

use crate::{
    error::Error,
    model::{Architecture, Config, Layer, Weights},
    quant::{DType, Tensor},
};
use alloc::{format, vec::Vec};

/// Parses a checkpoint into its shape and borrowed weights.
pub fn load<'a>(bytes: &'a [u8]) -> Result<(Config, Weights<'a>), Error> {
    let header = bytes.get(..28).ok_or(Error::Truncated { what: "llama2.c header", offset: 0 })?;
    let field = |i: usize| i32::from_le_bytes([header[i * 4], header[i * 4 + 1], header[i * 4 + 2], header[i * 4 + 3]]);
    let positive = |i: usize, name: &str| -> Result<usize, Error> {
        usize::try_from(field(i))
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| Error::Corrupt(format!("{name} = {}", field(i))))
    };
    let shared = field(5) > 0;
    let config = Config {
        architecture: Architecture::Llama,
        dim: positive(0, "dim")?,
        hidden_dim: positive(1, "hidden_dim")?,
        n_layers: positive(2, "n_layers")?,
        n_heads: positive(3, "n_heads")?,
        n_kv_heads: positive(4, "n_kv_heads")?,
        vocab_size: field(5).unsigned_abs() as usize,
        max_context: positive(6, "seq_len")?,
        rope_base: 10000.0,
        rope_scale: 1.0,
        rope_dim: field(0).unsigned_abs() as usize / field(3).unsigned_abs().max(1) as usize,
        norm_eps: 1e-5,
    };
    config.validate()?;
    let (dim, hidden, kv, layers) = (config.dim, config.hidden_dim, config.kv_dim(), config.n_layers);
    let mut at = 28usize;
    let mut take = |rows: usize, cols: usize, what: &'static str| -> Result<Tensor<'a>, Error> {
        let len = rows
            .checked_mul(cols)
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| Error::Corrupt(format!("{what} size")))?;
        let data = bytes.get(at..at.saturating_add(len)).ok_or(Error::Truncated { what, offset: at })?;
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
            qkv_bias: None,
        });
    }
    Ok((config, Weights { token_embd, layers: out, output_norm, output, rope_factors: Vec::new() }))
}

/// Rows `layer * n .. (layer + 1) * n` of a tensor holding all layers.
fn rows<'a>(t: &Tensor<'a>, layer: usize, n: usize) -> Result<Tensor<'a>, Error> {
    let bytes_per_row = t.cols * 4;
    let data = t
        .data
        .get(layer * n * bytes_per_row..(layer + 1) * n * bytes_per_row)
        .ok_or(Error::Truncated { what: "layer", offset: 0 })?;
    Tensor::new(DType::F32, n, t.cols, data)
}

/// Weight format for [`to_gguf`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quant {
    /// Keep f32.
    F32,
    /// Q8_0 for every matrix whose rows are whole 32-blocks.
    Q8_0,
    /// Q4_0 likewise.
    Q4_0,
}

/// Converts a llama2.c checkpoint and its `tokenizer.bin` to a GGUF llama model (spaces in
/// the vocabulary become U+2581, byte pieces get the byte token type).
pub fn to_gguf(checkpoint: &[u8], tokenizer: &[u8], quant: Quant) -> Result<Vec<u8>, Error> {
    use crate::writer::{Meta, Writer};
    use alloc::string::{String, ToString};
    let (config, weights) = load(checkpoint)?;
    let vocab = crate::tokenizer::Tokenizer::from_llama2c(tokenizer, config.vocab_size)?;
    let mut w = Writer::new();
    w.meta("general.architecture", Meta::Str("llama".into()));
    w.meta("general.name", Meta::Str("llama2.c import".into()));
    w.meta("llama.context_length", Meta::U32(config.max_context as u32));
    w.meta("llama.embedding_length", Meta::U32(config.dim as u32));
    w.meta("llama.block_count", Meta::U32(config.n_layers as u32));
    w.meta("llama.feed_forward_length", Meta::U32(config.hidden_dim as u32));
    w.meta("llama.attention.head_count", Meta::U32(config.n_heads as u32));
    w.meta("llama.attention.head_count_kv", Meta::U32(config.n_kv_heads as u32));
    w.meta("llama.rope.dimension_count", Meta::U32(config.head_dim() as u32));
    w.meta("llama.attention.layer_norm_rms_epsilon", Meta::F32(config.norm_eps));
    w.meta("tokenizer.ggml.model", Meta::Str("llama".into()));
    let mut pieces = Vec::with_capacity(vocab.len());
    let mut scores = Vec::with_capacity(vocab.len());
    let mut types = Vec::with_capacity(vocab.len());
    let score_of = crate::tokenizer::llama2c_scores(tokenizer, config.vocab_size)?;
    for id in 0..vocab.len() as u32 {
        let piece = vocab.piece(id).unwrap_or("");
        let is_byte = piece.starts_with("<0x") && piece.ends_with('>') && piece.len() == 6;
        types.push(match id {
            0 => 2,
            1 | 2 => 3,
            _ if is_byte => 6,
            _ => 1,
        });
        pieces.push(if is_byte { piece.to_string() } else { piece.replace(' ', "\u{2581}") });
        scores.push(score_of[id as usize]);
    }
    w.meta("tokenizer.ggml.tokens", Meta::Strings(pieces));
    w.meta("tokenizer.ggml.scores", Meta::F32s(scores));
    w.meta("tokenizer.ggml.token_type", Meta::I32s(types));
    w.meta("tokenizer.ggml.bos_token_id", Meta::U32(1));
    w.meta("tokenizer.ggml.eos_token_id", Meta::U32(2));
    w.meta("tokenizer.ggml.unknown_token_id", Meta::U32(0));
    let encode = |t: &Tensor<'_>, allow_quant: bool| -> (DType, Vec<u8>) {
        let quantizable = allow_quant && t.cols.is_multiple_of(32);
        match quant {
            Quant::F32 => (DType::F32, t.data.to_vec()),
            _ if !quantizable => (DType::F32, t.data.to_vec()),
            Quant::Q8_0 | Quant::Q4_0 => {
                let mut all = alloc::vec![0.0f32; t.rows * t.cols];
                for r in 0..t.rows {
                    t.dequantize_row(r, &mut all[r * t.cols..(r + 1) * t.cols]);
                }
                if quant == Quant::Q8_0 {
                    (DType::Q8_0, crate::quant::quantize_q8_0(&all))
                } else {
                    (DType::Q4_0, crate::quant::quantize_q4_0(&all))
                }
            }
        }
    };
    let mut add = |name: String, t: &Tensor<'_>, allow_quant: bool| {
        let (dtype, data) = encode(t, allow_quant);
        let dims: Vec<u64> =
            if t.rows == 1 { alloc::vec![t.cols as u64] } else { alloc::vec![t.cols as u64, t.rows as u64] };
        w.tensor(&name, &dims, dtype, data);
    };
    add("token_embd.weight".into(), &weights.token_embd, false);
    for (l, layer) in weights.layers.iter().enumerate() {
        add(format!("blk.{l}.attn_norm.weight"), &layer.attn_norm, false);
        add(format!("blk.{l}.attn_q.weight"), &layer.wq, true);
        add(format!("blk.{l}.attn_k.weight"), &layer.wk, true);
        add(format!("blk.{l}.attn_v.weight"), &layer.wv, true);
        add(format!("blk.{l}.attn_output.weight"), &layer.wo, true);
        add(format!("blk.{l}.ffn_norm.weight"), &layer.ffn_norm, false);
        add(format!("blk.{l}.ffn_gate.weight"), &layer.w_gate, true);
        add(format!("blk.{l}.ffn_down.weight"), &layer.w_down, true);
        add(format!("blk.{l}.ffn_up.weight"), &layer.w_up, true);
    }
    add("output_norm.weight".into(), &weights.output_norm, false);
    if !core::ptr::eq(weights.output.data, weights.token_embd.data) {
        add("output.weight".into(), &weights.output, true);
    }
    Ok(w.to_bytes())
}
