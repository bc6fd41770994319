//! The tensor list and metadata of a Llama-family GGUF of a given shape, for files with
//! made-up weights: test models, the oracle comparisons with candle, and
//! `cargo xtask model tinyllama-random`. Each caller chooses the weight format and values per
//! [`Role`]; the names, shapes and order of the tensors and the metadata keys are here once.

use crate::{
    model::Architecture,
    writer::{Meta, Writer},
};
use alloc::{format, string::String, vec, vec::Vec};

/// The hyper-parameters of a model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Embedding width.
    pub dim: usize,
    /// Feed-forward width.
    pub hidden: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Context length.
    pub context: usize,
    /// RoPE base frequency.
    pub rope_base: f32,
    /// RMSNorm epsilon.
    pub eps: f32,
}

impl Shape {
    /// TinyLlama-1.1B.
    pub const TINYLLAMA: Shape = Shape {
        dim: 2048,
        hidden: 5632,
        layers: 22,
        heads: 32,
        kv_heads: 4,
        vocab: 32000,
        context: 2048,
        rope_base: 10000.0,
        eps: 1e-5,
    };

    /// Width of the key and value projections.
    pub fn kv_dim(&self) -> usize {
        self.dim / self.heads * self.kv_heads
    }
}

/// What a tensor is for (so a caller picks its format and values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `token_embd`: vocab × dim.
    Embedding,
    /// An RMSNorm weight vector.
    Norm,
    /// Query projection.
    Query,
    /// Key projection.
    Key,
    /// Value projection.
    Value,
    /// Attention output projection.
    AttentionOutput,
    /// FFN gate.
    Gate,
    /// FFN up.
    Up,
    /// FFN down.
    Down,
    /// The separate classifier (`output`): vocab × dim.
    Classifier,
    /// A bias vector added to the Q, K or V projection (qwen2).
    Bias,
}

/// One tensor: name, rows × columns (columns are the fastest-varying dimension), role.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// GGUF tensor name.
    pub name: String,
    /// Rows (1 for a vector).
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// What it is for.
    pub role: Role,
    /// The block it belongs to, if any.
    pub layer: Option<usize>,
}

impl Spec {
    /// GGUF dimensions, fastest-varying first.
    pub fn dims(&self) -> Vec<u64> {
        if self.rows == 1 {
            vec![self.cols as u64]
        } else {
            vec![self.cols as u64, self.rows as u64]
        }
    }
}

/// The tensors of a Llama of `shape` in the order llama.cpp's converter writes them; with
/// `tied`, no separate classifier (the embedding is reused).
pub fn tensors(shape: &Shape, tied: bool) -> Vec<Spec> {
    tensors_of(Architecture::Llama, shape, tied)
}

/// [`tensors`] for `architecture`: qwen2 blocks also have Q, K and V biases.
pub fn tensors_of(architecture: Architecture, shape: &Shape, tied: bool) -> Vec<Spec> {
    let spec = |name: String, rows, cols, role| Spec { name, rows, cols, role, layer: None };
    let (dim, kv) = (shape.dim, shape.kv_dim());
    let mut specs = vec![spec("token_embd.weight".into(), shape.vocab, dim, Role::Embedding)];
    for l in 0..shape.layers {
        let spec = |name: String, rows, cols, role| Spec { name, rows, cols, role, layer: Some(l) };
        let name = |part: &str| format!("blk.{l}.{part}.weight");
        specs.push(spec(name("attn_norm"), 1, dim, Role::Norm));
        specs.push(spec(name("attn_q"), dim, dim, Role::Query));
        specs.push(spec(name("attn_k"), kv, dim, Role::Key));
        specs.push(spec(name("attn_v"), kv, dim, Role::Value));
        if architecture == Architecture::Qwen2 {
            let bias = |part: &str| format!("blk.{l}.{part}.bias");
            specs.push(spec(bias("attn_q"), 1, dim, Role::Bias));
            specs.push(spec(bias("attn_k"), 1, kv, Role::Bias));
            specs.push(spec(bias("attn_v"), 1, kv, Role::Bias));
        }
        specs.push(spec(name("attn_output"), dim, dim, Role::AttentionOutput));
        specs.push(spec(name("ffn_norm"), 1, dim, Role::Norm));
        specs.push(spec(name("ffn_gate"), shape.hidden, dim, Role::Gate));
        specs.push(spec(name("ffn_up"), shape.hidden, dim, Role::Up));
        specs.push(spec(name("ffn_down"), dim, shape.hidden, Role::Down));
    }
    specs.push(spec("output_norm.weight".into(), 1, dim, Role::Norm));
    if !tied {
        specs.push(spec("output.weight".into(), shape.vocab, dim, Role::Classifier));
    }
    specs
}

/// Writes the architecture metadata of `shape` (the keys llama.cpp and candle read).
pub fn metadata(writer: &mut Writer, shape: &Shape) {
    metadata_of(writer, Architecture::Llama, shape);
}

/// [`metadata`] for `architecture` (its name prefixes the keys).
pub fn metadata_of(writer: &mut Writer, architecture: Architecture, shape: &Shape) {
    let u32_of = |n: usize| Meta::U32(n as u32);
    let arch = architecture.name();
    writer.meta("general.architecture", Meta::Str(arch.into()));
    writer.meta(&format!("{arch}.context_length"), u32_of(shape.context));
    writer.meta(&format!("{arch}.embedding_length"), u32_of(shape.dim));
    writer.meta(&format!("{arch}.block_count"), u32_of(shape.layers));
    writer.meta(&format!("{arch}.feed_forward_length"), u32_of(shape.hidden));
    writer.meta(&format!("{arch}.attention.head_count"), u32_of(shape.heads));
    writer.meta(&format!("{arch}.attention.head_count_kv"), u32_of(shape.kv_heads));
    writer.meta(&format!("{arch}.rope.dimension_count"), u32_of(shape.dim / shape.heads));
    writer.meta(&format!("{arch}.rope.freq_base"), Meta::F32(shape.rope_base));
    writer.meta(&format!("{arch}.attention.layer_norm_rms_epsilon"), Meta::F32(shape.eps));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{gguf::Gguf, model::Config, quant::DType};

    #[test]
    fn a_written_header_reads_back_as_the_shape() {
        let shape = Shape { dim: 64, hidden: 96, layers: 2, heads: 4, kv_heads: 2, vocab: 32, ..Shape::TINYLLAMA };
        let mut writer = Writer::new();
        metadata(&mut writer, &shape);
        let specs = tensors(&shape, false);
        assert_eq!(specs.len(), 1 + 9 * 2 + 2);
        for spec in &specs {
            writer.declare(&spec.name, &spec.dims(), DType::F32).expect("whole blocks");
        }
        let bytes = writer.header();
        let gguf = Gguf::parse_header(&bytes).expect("parses");
        let config = Config::from_gguf(&gguf).expect("a llama");
        assert_eq!(
            (config.dim, config.hidden_dim, config.n_layers, config.n_heads, config.n_kv_heads, config.vocab_size),
            (64, 96, 2, 4, 2, 32)
        );
        assert_eq!(tensors(&shape, true).len(), specs.len() - 1);
    }
}
