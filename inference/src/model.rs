//! The Llama forward pass: RMSNorm, rotary embeddings, grouped-query attention with a KV
//! cache, SwiGLU feed-forward, tied or separate output matrix. One token per call.

use crate::{
    error::Error,
    gguf::Gguf,
    quant::{Parallel, Tensor},
};
use alloc::{format, vec, vec::Vec};

/// Model shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Embedding width.
    pub dim: usize,
    /// Feed-forward width.
    pub hidden_dim: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_heads`).
    pub n_kv_heads: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Context length the model was trained with.
    pub max_context: usize,
    /// RoPE base frequency.
    pub rope_base: f32,
    /// RMSNorm epsilon.
    pub norm_eps: f32,
}

impl Config {
    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.dim / self.n_heads
    }

    /// Width of all key (or value) heads together.
    pub fn kv_dim(&self) -> usize {
        self.head_dim() * self.n_kv_heads
    }

    /// Checks the shape is self-consistent.
    pub fn validate(&self) -> Result<(), Error> {
        let ok = self.dim > 0
            && self.n_heads > 0
            && self.n_kv_heads > 0
            && self.dim % self.n_heads == 0
            && self.n_heads % self.n_kv_heads == 0
            && self.head_dim() % 2 == 0
            && self.n_layers > 0
            && self.vocab_size > 0
            && self.hidden_dim > 0
            && self.dim <= 1 << 16
            && self.hidden_dim <= 1 << 18
            && self.n_layers <= 1024
            && self.vocab_size <= 1 << 20;
        if ok {
            Ok(())
        } else {
            Err(Error::Corrupt(format!("inconsistent model shape {self:?}")))
        }
    }

    /// Bytes of KV cache, activations and logits for `context` positions.
    pub fn runtime_bytes(&self, context: usize) -> usize {
        let kv = 2 * self.n_layers * context * self.kv_dim() * 4;
        let scratch = (5 * self.dim + 3 * self.hidden_dim + self.kv_dim() * 2 + self.n_heads * context + self.vocab_size) * 4;
        kv + scratch
    }

    /// Reads the shape from GGUF llama metadata.
    pub fn from_gguf(gguf: &Gguf<'_>) -> Result<Config, Error> {
        match gguf.architecture() {
            Some("llama") => {}
            Some(other) => return Err(Error::Unsupported(format!("architecture '{other}' (only llama)"))),
            None => return Err(Error::Missing("metadata general.architecture".into())),
        }
        let get = |key: &str| -> Result<usize, Error> { Ok(gguf.get_u64(key)? as usize) };
        let n_heads = get("llama.attention.head_count")?;
        let vocab_size = match gguf.tensor_info("token_embd.weight") {
            Some(info) if info.dims.len() == 2 => info.dims[1] as usize,
            _ => return Err(Error::Missing("tensor token_embd.weight".into())),
        };
        let config = Config {
            dim: get("llama.embedding_length")?,
            hidden_dim: get("llama.feed_forward_length")?,
            n_layers: get("llama.block_count")?,
            n_heads,
            n_kv_heads: gguf.get("llama.attention.head_count_kv").and_then(|v| v.as_u64()).map_or(n_heads, |v| v as usize),
            vocab_size,
            max_context: get("llama.context_length")?,
            rope_base: gguf.get("llama.rope.freq_base").and_then(|v| v.as_f64()).unwrap_or(10000.0) as f32,
            norm_eps: gguf.get("llama.attention.layer_norm_rms_epsilon").and_then(|v| v.as_f64()).unwrap_or(1e-5) as f32,
        };
        config.validate()?;
        Ok(config)
    }
}

/// One transformer block's weights.
pub struct Layer<'a> {
    /// Attention RMSNorm weights (1 × dim).
    pub attn_norm: Tensor<'a>,
    /// Query projection (dim × dim).
    pub wq: Tensor<'a>,
    /// Key projection (kv_dim × dim).
    pub wk: Tensor<'a>,
    /// Value projection (kv_dim × dim).
    pub wv: Tensor<'a>,
    /// Attention output (dim × dim).
    pub wo: Tensor<'a>,
    /// FFN RMSNorm weights (1 × dim).
    pub ffn_norm: Tensor<'a>,
    /// Gate (hidden × dim).
    pub w_gate: Tensor<'a>,
    /// Down (dim × hidden).
    pub w_down: Tensor<'a>,
    /// Up (hidden × dim).
    pub w_up: Tensor<'a>,
}

/// All weights, borrowed from the model file.
pub struct Weights<'a> {
    /// Token embeddings (vocab × dim).
    pub token_embd: Tensor<'a>,
    /// Blocks.
    pub layers: Vec<Layer<'a>>,
    /// Final RMSNorm (1 × dim).
    pub output_norm: Tensor<'a>,
    /// Classifier (vocab × dim): `token_embd` when tied.
    pub output: Tensor<'a>,
}

fn expect_shape(t: Tensor<'_>, rows: usize, cols: usize, name: &str) -> Result<(), Error> {
    if t.rows == rows && t.cols == cols {
        Ok(())
    } else {
        Err(Error::Corrupt(format!("{name} is {}×{}, expected {rows}×{cols}", t.rows, t.cols)))
    }
}

impl<'a> Weights<'a> {
    /// Borrows the weights of a GGUF llama model.
    pub fn from_gguf(gguf: &Gguf<'a>, config: &Config) -> Result<Weights<'a>, Error> {
        let (dim, hidden, kv) = (config.dim, config.hidden_dim, config.kv_dim());
        let tensor = |name: &str, rows: usize, cols: usize| -> Result<Tensor<'a>, Error> {
            let t = gguf.tensor(name)?;
            expect_shape(t, rows, cols, name)?;
            Ok(t)
        };
        let mut layers = Vec::with_capacity(config.n_layers);
        for l in 0..config.n_layers {
            let name = |part: &str| format!("blk.{l}.{part}.weight");
            layers.push(Layer {
                attn_norm: tensor(&name("attn_norm"), 1, dim)?,
                wq: tensor(&name("attn_q"), dim, dim)?,
                wk: tensor(&name("attn_k"), kv, dim)?,
                wv: tensor(&name("attn_v"), kv, dim)?,
                wo: tensor(&name("attn_output"), dim, dim)?,
                ffn_norm: tensor(&name("ffn_norm"), 1, dim)?,
                w_gate: tensor(&name("ffn_gate"), hidden, dim)?,
                w_down: tensor(&name("ffn_down"), dim, hidden)?,
                w_up: tensor(&name("ffn_up"), hidden, dim)?,
            });
        }
        let token_embd = tensor("token_embd.weight", config.vocab_size, dim)?;
        let output = match gguf.tensor_info("output.weight") {
            Some(_) => tensor("output.weight", config.vocab_size, dim)?,
            None => token_embd,
        };
        Ok(Weights { token_embd, layers, output_norm: tensor("output_norm.weight", 1, dim)?, output })
    }
}

/// Per-sequence state: KV cache and scratch buffers, sized for `context` positions.
pub struct State {
    context: usize,
    x: Vec<f32>,
    xb: Vec<f32>,
    xb2: Vec<f32>,
    hb: Vec<f32>,
    hb2: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    /// Logits of the last forward pass.
    pub logits: Vec<f32>,
    key_cache: Vec<f32>,
    value_cache: Vec<f32>,
    norm: Vec<f32>,
}

impl State {
    /// Allocates state for `context` positions (capped at the model's maximum).
    pub fn new(config: &Config, context: usize) -> State {
        let context = context.clamp(1, config.max_context.max(1));
        let kv = config.kv_dim();
        State {
            context,
            x: vec![0.0; config.dim],
            xb: vec![0.0; config.dim],
            xb2: vec![0.0; config.dim],
            hb: vec![0.0; config.hidden_dim],
            hb2: vec![0.0; config.hidden_dim],
            q: vec![0.0; config.dim],
            k: vec![0.0; kv],
            v: vec![0.0; kv],
            att: vec![0.0; config.n_heads * context],
            logits: vec![0.0; config.vocab_size],
            key_cache: vec![0.0; config.n_layers * context * kv],
            value_cache: vec![0.0; config.n_layers * context * kv],
            norm: vec![0.0; config.dim],
        }
    }

    /// Positions this state can hold.
    pub fn context(&self) -> usize {
        self.context
    }
}

fn rmsnorm(out: &mut [f32], x: &[f32], weight: &Tensor<'_>, scratch: &mut [f32], eps: f32) {
    weight.dequantize_row(0, scratch);
    let ss = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32 + eps;
    let scale = 1.0 / libm::sqrtf(ss);
    for ((o, v), w) in out.iter_mut().zip(x).zip(scratch.iter()) {
        *o = w * (v * scale);
    }
}

fn softmax(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = libm::expf(*v - max);
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// A model ready to run: shape and borrowed weights.
pub struct Model<'a> {
    /// Shape.
    pub config: Config,
    /// Weights.
    pub weights: Weights<'a>,
}

impl<'a> Model<'a> {
    /// Runs one token at `position`; leaves the next-token logits in `state.logits`.
    pub fn forward(&self, state: &mut State, token: usize, position: usize, parallel: &dyn Parallel) -> Result<(), Error> {
        let c = &self.config;
        if token >= c.vocab_size {
            return Err(Error::Corrupt(format!("token {token} outside the vocabulary of {}", c.vocab_size)));
        }
        if position >= state.context {
            return Err(Error::Unsupported(format!("position {position} beyond the context of {}", state.context)));
        }
        let (dim, kv_dim, head_dim) = (c.dim, c.kv_dim(), c.head_dim());
        let group = c.n_heads / c.n_kv_heads;
        let w = &self.weights;
        w.token_embd.dequantize_row(token, &mut state.x);

        for (l, layer) in w.layers.iter().enumerate() {
            rmsnorm(&mut state.xb, &state.x, &layer.attn_norm, &mut state.norm, c.norm_eps);
            layer.wq.matvec(&state.xb, &mut state.q, parallel);
            layer.wk.matvec(&state.xb, &mut state.k, parallel);
            layer.wv.matvec(&state.xb, &mut state.v, parallel);

            // Rotary embeddings on adjacent pairs (GGUF's permuted layout, as llama2.c).
            for i in (0..dim).step_by(2) {
                let pair = (i % head_dim) as f32;
                let freq = 1.0 / libm::powf(c.rope_base, pair / head_dim as f32);
                let (sin, cos) = libm::sincosf(position as f32 * freq);
                let rotate = |v: &mut [f32]| {
                    let (a, b) = (v[i], v[i + 1]);
                    v[i] = a * cos - b * sin;
                    v[i + 1] = a * sin + b * cos;
                };
                rotate(&mut state.q);
                if i < kv_dim {
                    rotate(&mut state.k);
                }
            }

            let layer_base = l * state.context * kv_dim;
            let at = layer_base + position * kv_dim;
            state.key_cache[at..at + kv_dim].copy_from_slice(&state.k);
            state.value_cache[at..at + kv_dim].copy_from_slice(&state.v);

            let scale = 1.0 / libm::sqrtf(head_dim as f32);
            for h in 0..c.n_heads {
                let q = &state.q[h * head_dim..(h + 1) * head_dim];
                let kv_head = h / group;
                let att = &mut state.att[h * state.context..h * state.context + position + 1];
                for (t, score) in att.iter_mut().enumerate() {
                    let k = &state.key_cache[layer_base + t * kv_dim + kv_head * head_dim..][..head_dim];
                    *score = q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale;
                }
                softmax(att);
                let out = &mut state.xb[h * head_dim..(h + 1) * head_dim];
                out.fill(0.0);
                for (t, &a) in att.iter().enumerate() {
                    let v = &state.value_cache[layer_base + t * kv_dim + kv_head * head_dim..][..head_dim];
                    for (o, x) in out.iter_mut().zip(v) {
                        *o += a * x;
                    }
                }
            }
            layer.wo.matvec(&state.xb, &mut state.xb2, parallel);
            for (x, d) in state.x.iter_mut().zip(&state.xb2) {
                *x += d;
            }

            rmsnorm(&mut state.xb, &state.x, &layer.ffn_norm, &mut state.norm, c.norm_eps);
            layer.w_gate.matvec(&state.xb, &mut state.hb, parallel);
            layer.w_up.matvec(&state.xb, &mut state.hb2, parallel);
            for (g, u) in state.hb.iter_mut().zip(&state.hb2) {
                let silu = *g / (1.0 + libm::expf(-*g));
                *g = silu * u;
            }
            layer.w_down.matvec(&state.hb, &mut state.xb, parallel);
            for (x, d) in state.x.iter_mut().zip(&state.xb) {
                *x += d;
            }
        }
        let x = state.x.clone();
        rmsnorm(&mut state.x, &x, &w.output_norm, &mut state.norm, c.norm_eps);
        w.output.matvec(&state.x, &mut state.logits, parallel);
        Ok(())
    }
}

/// Memory a GGUF model needs at `context` positions: weights (which must be in RAM) plus
/// KV cache and scratch. Computable from the header alone, before loading.
pub fn memory_estimate(gguf: &Gguf<'_>, context: usize) -> Result<usize, Error> {
    let config = Config::from_gguf(gguf)?;
    Ok(gguf.weight_bytes() + config.runtime_bytes(context.min(config.max_context)))
}
