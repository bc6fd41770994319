//! The Llama forward pass, one token per call: embedding, then per block RMSNorm →
//! Q/K/V projections → rotary embeddings → grouped-query attention over the KV cache →
//! output projection + residual → RMSNorm → SwiGLU feed-forward + residual; then the final
//! norm and the classifier (the embedding matrix when the file has no `output.weight`).
//!
//! Two architectures share the pass, as in llama.cpp: `llama` (Llama 1-3, TinyLlama,
//! SmolLM2, Mistral-shaped files) and `qwen2` (Qwen2/2.5: Q/K/V biases). Their metadata keys
//! carry the architecture's name (`llama.*`, `qwen2.*`, see `docs/llm.md`). Rotary
//! embeddings rotate adjacent pairs for `llama` (llama.cpp's "normal" mode, which GGUF's
//! permuted Q/K weights and llama2.c checkpoints both use) and the two halves of each head
//! for `qwen2` ("neox" mode); Llama 3.1/3.2 files scale each rotated pair's frequency by
//! their `rope_freqs.weight` tensor, and `{arch}.rope.scaling.type = linear` divides every
//! frequency by `{arch}.rope.scaling.factor`. The matrix-vector products dominate run time;
//! they are split by rows through [`Parallel`].

use crate::{
    error::Error,
    gguf::Gguf,
    quant::{Parallel, Q8Activations, Tensor},
};
use alloc::{format, vec, vec::Vec};

/// Largest context a [`State`] is allowed to allocate (positions).
pub const MAX_CONTEXT: usize = 1 << 20;

/// Tokens one [`Model::forward_batch`] call processes together (prompts): each weight row
/// is then read from memory once per batch instead of once per token.
pub const MAX_BATCH: usize = 16;

/// Which pairs of a head's dimensions rotary embeddings rotate together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Dimensions `2i` and `2i + 1` (llama.cpp "normal": GGUF llama files, llama2.c).
    Adjacent,
    /// Dimensions `i` and `i + rope_dim / 2` (llama.cpp "neox": qwen2).
    Halves,
}

/// The architectures the forward pass runs (GGUF `general.architecture`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// Llama 1/2/3, TinyLlama, SmolLM2 and other files llama.cpp loads as `llama`.
    Llama,
    /// Qwen2 and Qwen2.5: Llama's blocks with biases on the Q, K and V projections.
    Qwen2,
}

impl Architecture {
    /// The GGUF name, which is also the prefix of its metadata keys.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
        }
    }

    /// How its rotary embeddings pair dimensions.
    pub fn rope_style(self) -> RopeStyle {
        match self {
            Architecture::Llama => RopeStyle::Adjacent,
            Architecture::Qwen2 => RopeStyle::Halves,
        }
    }

    fn from_name(name: &str) -> Option<Architecture> {
        [Architecture::Llama, Architecture::Qwen2].into_iter().find(|a| a.name() == name)
    }
}

/// Model shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Architecture (decides the rotary style and which tensors a block has).
    pub architecture: Architecture,
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
    /// Linear RoPE scaling: every frequency is divided by this (1 when the file sets none).
    pub rope_scale: f32,
    /// Dimensions of each head that rotary embeddings rotate (normally the head width).
    pub rope_dim: usize,
    /// RMSNorm epsilon.
    pub norm_eps: f32,
}

impl Config {
    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.dim / self.n_heads.max(1)
    }

    /// Width of all key (or value) heads together.
    pub fn kv_dim(&self) -> usize {
        self.head_dim() * self.n_kv_heads
    }

    /// Checks the shape is self-consistent and within the engine's limits.
    pub fn validate(&self) -> Result<(), Error> {
        let ok = self.dim > 0
            && self.n_heads > 0
            && self.n_kv_heads > 0
            && self.dim.is_multiple_of(self.n_heads)
            && self.n_heads.is_multiple_of(self.n_kv_heads)
            && self.head_dim().is_multiple_of(2)
            && self.rope_dim.is_multiple_of(2)
            && self.rope_dim <= self.head_dim()
            && self.n_layers > 0
            && self.vocab_size > 0
            && self.hidden_dim > 0
            && self.max_context > 0
            && self.dim <= 1 << 16
            && self.hidden_dim <= 1 << 18
            && self.n_layers <= 1024
            && self.vocab_size <= 1 << 20
            && self.rope_base.is_finite()
            && self.rope_base > 0.0
            && self.rope_scale.is_finite()
            && self.rope_scale > 0.0
            && self.norm_eps.is_finite()
            && self.norm_eps >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(Error::Corrupt(format!("inconsistent model shape {self:?}")))
        }
    }

    /// Bytes of KV cache, activations and logits for `context` positions (saturating).
    pub fn runtime_bytes(&self, context: usize) -> usize {
        let kv = 2usize
            .saturating_mul(self.n_layers)
            .saturating_mul(context)
            .saturating_mul(self.kv_dim())
            .saturating_mul(4);
        let batch = MAX_BATCH * (4 * self.dim + 3 * self.hidden_dim.max(self.dim) + 2 * self.kv_dim());
        let floats = batch + self.dim + self.rope_dim / 2 + MAX_BATCH * self.rope_dim + self.vocab_size;
        let scratch = floats.saturating_add(self.n_heads.saturating_mul(context)).saturating_mul(4);
        // Quantized activations: at most one i8 + two bytes of scale/sum per 16 inputs.
        let activations = MAX_BATCH * self.dim.max(self.hidden_dim) * 2;
        kv.saturating_add(scratch).saturating_add(activations)
    }

    /// Reads the shape from GGUF metadata (`llama.*` or `qwen2.*` keys).
    pub fn from_gguf(gguf: &Gguf<'_>) -> Result<Config, Error> {
        let architecture = match gguf.architecture() {
            Some(name) => Architecture::from_name(name)
                .ok_or_else(|| Error::Unsupported(format!("architecture '{name}' (supported: llama, qwen2)")))?,
            None => return Err(Error::Missing("metadata general.architecture".into())),
        };
        let prefix = architecture.name();
        let key = |name: &str| format!("{prefix}.{name}");
        let get = |name: &str| -> Result<usize, Error> {
            let key = key(name);
            let value = gguf.get_u64(&key)?;
            usize::try_from(value).map_err(|_| Error::Corrupt(format!("{key} = {value}")))
        };
        let optional = |name: &str| gguf.get(&key(name)).and_then(|v| v.as_u64()).and_then(|v| usize::try_from(v).ok());
        let float = |name: &str, default: f64| gguf.get(&key(name)).and_then(|v| v.as_f64()).unwrap_or(default) as f32;
        let rope_scale = match gguf.get(&key("rope.scaling.type")).and_then(|v| v.as_str()) {
            None | Some("none") => 1.0,
            // Llama 3's scaling is the `rope_freqs.weight` tensor; the type only names it.
            Some("llama3") => 1.0,
            Some("linear") => float("rope.scaling.factor", 1.0),
            Some(other) => {
                return Err(Error::Unsupported(format!("RoPE scaling '{other}' (supported: linear, llama3)")))
            }
        };
        let dim = get("embedding_length")?;
        let n_heads = get("attention.head_count")?;
        let vocab_size = match gguf.tensor_info("token_embd.weight") {
            Some(info) if info.dims.len() == 2 => usize::try_from(info.dims[1]).unwrap_or(usize::MAX),
            Some(_) => return Err(Error::Corrupt("token_embd.weight is not 2-D".into())),
            None => return Err(Error::Missing("tensor token_embd.weight".into())),
        };
        let config = Config {
            architecture,
            dim,
            hidden_dim: get("feed_forward_length")?,
            n_layers: get("block_count")?,
            n_heads,
            n_kv_heads: optional("attention.head_count_kv").unwrap_or(n_heads),
            vocab_size,
            max_context: get("context_length")?,
            rope_base: float("rope.freq_base", 10000.0),
            rope_scale,
            rope_dim: optional("rope.dimension_count").unwrap_or(dim / n_heads.max(1)),
            norm_eps: float("attention.layer_norm_rms_epsilon", 1e-5),
        };
        config.validate()?;
        Ok(config)
    }
}

/// One transformer block's weights (`dim × n` means `dim` rows of `n` weights).
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
    /// Biases added to the Q, K and V projections (qwen2; `None` for llama).
    pub qkv_bias: Option<[Tensor<'a>; 3]>,
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
    /// Llama 3.1/3.2 `rope_freqs.weight` (rope_dim / 2): each rotated pair's frequency is
    /// divided by its factor. Empty when the file has none.
    pub rope_factors: Vec<f32>,
}

fn expect_shape<'a>(t: Tensor<'a>, rows: usize, cols: usize, name: &str) -> Result<Tensor<'a>, Error> {
    if t.rows == rows && t.cols == cols {
        Ok(t)
    } else {
        Err(Error::Corrupt(format!("{name} is {}×{}, expected {rows}×{cols}", t.rows, t.cols)))
    }
}

impl<'a> Weights<'a> {
    /// Borrows the weights of a GGUF llama model, checking every shape against `config`.
    pub fn from_gguf(gguf: &Gguf<'a>, config: &Config) -> Result<Weights<'a>, Error> {
        let (dim, hidden, kv) = (config.dim, config.hidden_dim, config.kv_dim());
        let tensor = |name: &str, rows: usize, cols: usize| expect_shape(gguf.tensor(name)?, rows, cols, name);
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
                qkv_bias: match config.architecture {
                    Architecture::Llama => None,
                    Architecture::Qwen2 => {
                        let bias = |part: &str, width: usize| {
                            let name = format!("blk.{l}.{part}.bias");
                            expect_shape(gguf.tensor(&name)?, 1, width, &name)
                        };
                        Some([bias("attn_q", dim)?, bias("attn_k", kv)?, bias("attn_v", kv)?])
                    }
                },
            });
        }
        let token_embd = tensor("token_embd.weight", config.vocab_size, dim)?;
        let output = match gguf.tensor_info("output.weight") {
            Some(_) => tensor("output.weight", config.vocab_size, dim)?,
            None => token_embd,
        };
        let rope_factors = match gguf.tensor_info("rope_freqs.weight") {
            None => Vec::new(),
            Some(_) => {
                let pairs = config.rope_dim / 2;
                let factors = expect_shape(gguf.tensor("rope_freqs.weight")?, 1, pairs, "rope_freqs.weight")?;
                let mut values = vec![0.0; pairs];
                factors.dequantize_row(0, &mut values);
                if values.iter().any(|f| !f.is_finite() || *f <= 0.0) {
                    return Err(Error::Corrupt(
                        "rope_freqs.weight holds a factor that is not a positive number".into(),
                    ));
                }
                values
            }
        };
        Ok(Weights { token_embd, layers, output_norm: tensor("output_norm.weight", 1, dim)?, output, rope_factors })
    }
}

/// Per-sequence state: KV cache and scratch buffers, sized for `context` positions. The
/// per-token buffers hold up to [`MAX_BATCH`] tokens, token-major (`batch × width`).
pub struct State {
    context: usize,
    /// Residual stream (batch × dim).
    x: Vec<f32>,
    /// Normed input of a sub-layer, then attention output (batch × dim).
    xb: Vec<f32>,
    /// Sub-layer output before the residual add (batch × dim).
    xb2: Vec<f32>,
    /// FFN gate, then SwiGLU output (batch × hidden_dim).
    hb: Vec<f32>,
    /// FFN up projection (batch × hidden_dim).
    hb2: Vec<f32>,
    /// Query (batch × dim).
    q: Vec<f32>,
    /// Key and value of the current positions (batch × kv_dim each).
    k: Vec<f32>,
    v: Vec<f32>,
    /// Batched products before they are split per token (max(hidden_dim, dim) × batch).
    products: Vec<f32>,
    /// Attention scores (n_heads × context).
    att: Vec<f32>,
    /// Logits of the last forward pass (vocab_size).
    pub logits: Vec<f32>,
    /// Keys and values (n_layers × context × kv_dim each).
    key_cache: Vec<f32>,
    value_cache: Vec<f32>,
    /// Dequantized norm weights (dim).
    norm: Vec<f32>,
    /// RoPE inverse frequency of each rotated pair (rope_dim / 2).
    inverse_frequency: Vec<f32>,
    /// (sin, cos) of each rotated pair at each position of the batch (batch × rope_dim / 2):
    /// computed once per batch, shared by every layer, head, query and key.
    rotations: Vec<(f32, f32)>,
    /// Quantized activations of each token of a batch, reused by every product.
    activations: Vec<Q8Activations>,
}

impl State {
    /// Allocates state for `context` positions (clamped to 1..=the model's maximum and
    /// [`MAX_CONTEXT`]). Check [`Config::runtime_bytes`] against free memory first.
    pub fn new(config: &Config, context: usize) -> State {
        let context = context.clamp(1, config.max_context.clamp(1, MAX_CONTEXT));
        let kv = config.kv_dim();
        let inverse_frequency = (0..config.rope_dim / 2)
            .map(|i| 1.0 / libm::powf(config.rope_base, (2 * i) as f32 / config.rope_dim as f32) / config.rope_scale)
            .collect();
        State {
            context,
            x: vec![0.0; MAX_BATCH * config.dim],
            xb: vec![0.0; MAX_BATCH * config.dim],
            xb2: vec![0.0; MAX_BATCH * config.dim],
            hb: vec![0.0; MAX_BATCH * config.hidden_dim],
            hb2: vec![0.0; MAX_BATCH * config.hidden_dim],
            q: vec![0.0; MAX_BATCH * config.dim],
            k: vec![0.0; MAX_BATCH * kv],
            v: vec![0.0; MAX_BATCH * kv],
            products: vec![0.0; MAX_BATCH * config.hidden_dim.max(config.dim)],
            att: vec![0.0; config.n_heads * context],
            logits: vec![0.0; config.vocab_size],
            key_cache: vec![0.0; config.n_layers * context * kv],
            value_cache: vec![0.0; config.n_layers * context * kv],
            norm: vec![0.0; config.dim],
            inverse_frequency,
            rotations: vec![(0.0, 0.0); MAX_BATCH * (config.rope_dim / 2)],
            activations: vec![Q8Activations::new(); MAX_BATCH],
        }
    }

    /// Positions this state can hold.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Writes every buffer once. Hosts that commit memory lazily (Linux maps zeroed
    /// allocations on first write) then hold the whole KV cache at once, so a measured peak
    /// is that of a full context; the kernel has no lazy allocation and needs no call.
    pub fn commit_memory(&mut self) {
        for buffer in [&mut self.key_cache, &mut self.value_cache, &mut self.att, &mut self.logits] {
            buffer.fill(0.0);
        }
    }
}

/// `out = x / rms(x) · weight`.
fn rmsnorm(out: &mut [f32], x: &[f32], weight: &Tensor<'_>, scratch: &mut [f32], eps: f32) {
    weight.dequantize_row(0, scratch);
    let mean_square = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let scale = 1.0 / libm::sqrtf(mean_square + eps);
    for ((o, v), w) in out.iter_mut().zip(x).zip(scratch.iter()) {
        *o = w * (v * scale);
    }
}

/// Fills `table` with the (sin, cos) of each rotated pair's angle at `position`:
/// `position × inverse_frequency[pair] / factor[pair]` (no factor: none divides).
fn rotation_table(table: &mut [(f32, f32)], inverse_frequency: &[f32], factors: &[f32], position: usize) {
    for (i, (slot, &frequency)) in table.iter_mut().zip(inverse_frequency).enumerate() {
        let frequency = factors.get(i).map_or(frequency, |factor| frequency / factor);
        *slot = libm::sincosf(position as f32 * frequency);
    }
}

/// Rotates the pairs of the first `rope_dim` (= 2 × `table.len()`) dimensions of every head
/// by the angles of `table` ([`rotation_table`]): adjacent pairs or the two halves.
fn rope(v: &mut [f32], head_dim: usize, table: &[(f32, f32)], style: RopeStyle) {
    let half = table.len();
    for head in v.chunks_exact_mut(head_dim) {
        for (i, &(sin, cos)) in table.iter().enumerate() {
            let (a, b) = match style {
                RopeStyle::Adjacent => (2 * i, 2 * i + 1),
                RopeStyle::Halves => (i, i + half),
            };
            let (x, y) = (head[a], head[b]);
            head[a] = x * cos - y * sin;
            head[b] = x * sin + y * cos;
        }
    }
}

/// `x += bias` for each of a batch's rows.
fn add_bias(x: &mut [f32], bias: &Tensor<'_>, scratch: &mut [f32]) {
    let scratch = &mut scratch[..bias.cols];
    bias.dequantize_row(0, scratch);
    for row in x.chunks_exact_mut(bias.cols) {
        for (v, b) in row.iter_mut().zip(scratch.iter()) {
            *v += b;
        }
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

/// Grouped-query attention of query `q` (n_heads × head_dim) over positions `0..=position`
/// of one layer's caches (context × kv_dim), written to `out` (dim).
#[allow(clippy::too_many_arguments)]
fn attention(
    c: &Config,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    att: &mut [f32],
    context: usize,
    position: usize,
    out: &mut [f32],
) {
    let (head_dim, kv_dim) = (c.head_dim(), c.kv_dim());
    let group = c.n_heads / c.n_kv_heads;
    let scale = 1.0 / libm::sqrtf(head_dim as f32);
    for (h, (q, out)) in q.chunks_exact(head_dim).zip(out.chunks_exact_mut(head_dim)).enumerate() {
        let kv_offset = (h / group) * head_dim;
        let scores = &mut att[h * context..h * context + position + 1];
        for (t, score) in scores.iter_mut().enumerate() {
            let k = &keys[t * kv_dim + kv_offset..][..head_dim];
            *score = q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale;
        }
        softmax(scores);
        out.fill(0.0);
        for (t, &weight) in scores.iter().enumerate() {
            let v = &values[t * kv_dim + kv_offset..][..head_dim];
            for (o, x) in out.iter_mut().zip(v) {
                *o += weight * x;
            }
        }
    }
}

/// `gate = silu(gate) · up`.
fn swiglu(gate: &mut [f32], up: &[f32]) {
    for (g, u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + libm::expf(-*g)) * u;
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
    /// `state` must have been made for this model's config.
    pub fn forward(
        &self,
        state: &mut State,
        token: usize,
        position: usize,
        parallel: &dyn Parallel,
    ) -> Result<(), Error> {
        let token = u32::try_from(token).unwrap_or(u32::MAX);
        self.forward_batch(state, &[token], position, parallel)
    }

    /// Runs `tokens` (1..=[`MAX_BATCH`]) at positions `start..start + tokens.len()` — a
    /// piece of a prompt — and leaves the logits after the last one in `state.logits`.
    /// Each token's arithmetic is exactly that of [`Model::forward`] one token at a time
    /// (same products, same order), so the results are bit-identical; only the weights are
    /// read once per batch.
    pub fn forward_batch(
        &self,
        state: &mut State,
        tokens: &[u32],
        start: usize,
        parallel: &dyn Parallel,
    ) -> Result<(), Error> {
        let c = &self.config;
        let n = tokens.len();
        if n == 0 || n > MAX_BATCH {
            return Err(Error::Unsupported(format!("a batch of {n} tokens (1 to {MAX_BATCH})")));
        }
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(Error::Corrupt(format!("token {token} outside the vocabulary of {}", c.vocab_size)));
        }
        let last = start.saturating_add(n - 1);
        if last >= state.context {
            return Err(Error::Unsupported(format!("position {last} beyond the context of {}", state.context)));
        }
        let (dim, kv_dim, hidden, head_dim) = (c.dim, c.kv_dim(), c.hidden_dim, c.head_dim());
        let s = state;
        let w = &self.weights;
        for (x, &token) in s.x.chunks_exact_mut(dim).zip(tokens) {
            w.token_embd.dequantize_row(token as usize, x);
        }
        // `product(tensor, input, output)`: the batch's products of one weight matrix.
        macro_rules! product {
            ($t:expr, $input:ident, $output:ident, $width:expr) => {
                $t.matmul_with(
                    &s.$input[..n * $t.cols],
                    n,
                    &mut s.activations,
                    &mut s.products,
                    &mut s.$output[..n * $width],
                    parallel,
                )
            };
        }

        // The rotary angles of the batch's positions, once for every layer.
        let (pairs, style) = (s.inverse_frequency.len(), c.architecture.rope_style());
        for (b, table) in s.rotations.chunks_exact_mut(pairs.max(1)).take(n).enumerate() {
            rotation_table(table, &s.inverse_frequency, &w.rope_factors, start + b);
        }
        for (l, layer) in w.layers.iter().enumerate() {
            // Attention.
            for b in 0..n {
                rmsnorm(
                    &mut s.xb[b * dim..(b + 1) * dim],
                    &s.x[b * dim..(b + 1) * dim],
                    &layer.attn_norm,
                    &mut s.norm,
                    c.norm_eps,
                );
            }
            product!(layer.wq, xb, q, dim);
            product!(layer.wk, xb, k, kv_dim);
            product!(layer.wv, xb, v, kv_dim);
            if let Some([bq, bk, bv]) = &layer.qkv_bias {
                add_bias(&mut s.q[..n * dim], bq, &mut s.norm);
                add_bias(&mut s.k[..n * kv_dim], bk, &mut s.norm);
                add_bias(&mut s.v[..n * kv_dim], bv, &mut s.norm);
            }
            let layer_cache = l * s.context * kv_dim..(l + 1) * s.context * kv_dim;
            for b in 0..n {
                let table = &s.rotations[b * pairs..(b + 1) * pairs];
                rope(&mut s.q[b * dim..(b + 1) * dim], head_dim, table, style);
                rope(&mut s.k[b * kv_dim..(b + 1) * kv_dim], head_dim, table, style);
                let at = layer_cache.start + (start + b) * kv_dim;
                s.key_cache[at..at + kv_dim].copy_from_slice(&s.k[b * kv_dim..(b + 1) * kv_dim]);
                s.value_cache[at..at + kv_dim].copy_from_slice(&s.v[b * kv_dim..(b + 1) * kv_dim]);
            }
            let (keys, values) = (&s.key_cache[layer_cache.clone()], &s.value_cache[layer_cache]);
            for b in 0..n {
                // Causal: token b sees positions 0..=start + b only.
                let (q, out) = (&s.q[b * dim..(b + 1) * dim], &mut s.xb[b * dim..(b + 1) * dim]);
                attention(c, q, keys, values, &mut s.att, s.context, start + b, out);
            }
            product!(layer.wo, xb, xb2, dim);
            for (x, d) in s.x[..n * dim].iter_mut().zip(&s.xb2) {
                *x += d;
            }

            // Feed-forward.
            for b in 0..n {
                rmsnorm(
                    &mut s.xb[b * dim..(b + 1) * dim],
                    &s.x[b * dim..(b + 1) * dim],
                    &layer.ffn_norm,
                    &mut s.norm,
                    c.norm_eps,
                );
            }
            product!(layer.w_gate, xb, hb, hidden);
            product!(layer.w_up, xb, hb2, hidden);
            swiglu(&mut s.hb[..n * hidden], &s.hb2);
            product!(layer.w_down, hb, xb2, dim);
            for (x, d) in s.x[..n * dim].iter_mut().zip(&s.xb2) {
                *x += d;
            }
        }
        // Only the last token's logits are needed.
        let x_last = &s.x[(n - 1) * dim..n * dim];
        rmsnorm(&mut s.xb[..dim], x_last, &w.output_norm, &mut s.norm, c.norm_eps);
        w.output.matvec_with(&s.xb[..dim], &mut s.activations[0], &mut s.logits, parallel);
        Ok(())
    }
}

/// Memory a GGUF model needs at `context` positions: tensor data (which must be in RAM)
/// plus KV cache and scratch. Works on a header-only parse ([`Gguf::parse_header`]), so a
/// caller can refuse a model before reading its weights.
pub fn memory_estimate(gguf: &Gguf<'_>, context: usize) -> Result<usize, Error> {
    let config = Config::from_gguf(gguf)?;
    Ok(gguf.weight_bytes().saturating_add(config.runtime_bytes(context.clamp(1, config.max_context.min(MAX_CONTEXT)))))
}
