//! A small Llama written with candle tensors, trainable with AdamW: the same architecture
//! and conventions as the project's engine (`inference::model`): RMSNorm, RoPE on adjacent
//! pairs with base 10000, multi-head causal attention, SwiGLU, output tied to the token
//! embeddings.

use crate::rng::Rng;
use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var, D};

/// Model shape.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub vocab: usize,
    pub dim: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub context: usize,
}

pub const NORM_EPS: f64 = 1e-5;
pub const ROPE_BASE: f64 = 10000.0;
/// Dropout rate while training (the small dataset is easy to memorise).
pub const DROPOUT: f64 = 0.1;

pub struct Layer {
    pub attn_norm: Var,
    pub wq: Var,
    pub wk: Var,
    pub wv: Var,
    pub wo: Var,
    pub ffn_norm: Var,
    pub w_gate: Var,
    pub w_up: Var,
    pub w_down: Var,
}

pub struct Llama {
    pub shape: Shape,
    pub embed: Var,
    pub layers: Vec<Layer>,
    pub norm: Var,
    cos: Tensor,
    sin: Tensor,
}

fn random(rng: &mut Rng, rows: usize, cols: usize, std: f64, device: &Device) -> Result<Var> {
    let data: Vec<f32> = (0..rows * cols).map(|_| (rng.normal() * std) as f32).collect();
    Ok(Var::from_tensor(&Tensor::from_vec(data, (rows, cols), device)?)?)
}

fn ones(n: usize, device: &Device) -> Result<Var> {
    Ok(Var::from_tensor(&Tensor::ones(n, DType::F32, device)?)?)
}

fn rms_norm(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let mean_square = x.sqr()?.mean_keepdim(D::Minus1)?;
    let scale = (mean_square + NORM_EPS)?.sqrt()?.recip()?;
    Ok(x.broadcast_mul(&scale)?.broadcast_mul(weight)?)
}

/// `x · wᵀ` for x (B, T, in) and w (out, in).
fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    Ok(x.broadcast_matmul(&w.t()?)?)
}

impl Llama {
    pub fn new(shape: Shape, seed: u64, device: &Device) -> Result<Llama> {
        let mut rng = Rng::new(seed);
        let (d, h) = (shape.dim, shape.hidden);
        let std = 0.02;
        // Output projections scaled down with depth (GPT-2 style) for stable starts.
        let out_std = std / (2.0 * shape.layers as f64).sqrt();
        let mut layers = Vec::new();
        for _ in 0..shape.layers {
            layers.push(Layer {
                attn_norm: ones(d, device)?,
                wq: random(&mut rng, d, d, std, device)?,
                wk: random(&mut rng, d, d, std, device)?,
                wv: random(&mut rng, d, d, std, device)?,
                wo: random(&mut rng, d, d, out_std, device)?,
                ffn_norm: ones(d, device)?,
                w_gate: random(&mut rng, h, d, std, device)?,
                w_up: random(&mut rng, h, d, std, device)?,
                w_down: random(&mut rng, d, h, out_std, device)?,
            });
        }
        let embed = random(&mut rng, shape.vocab, d, std, device)?;
        let head_dim = d / shape.heads;
        let pairs = head_dim / 2;
        let mut cos = Vec::with_capacity(shape.context * pairs);
        let mut sin = Vec::with_capacity(shape.context * pairs);
        for position in 0..shape.context {
            for i in 0..pairs {
                // Same as inference::model: 1 / base^(2i / head_dim), computed in f32.
                let frequency = 1.0f32 / (ROPE_BASE as f32).powf((2 * i) as f32 / head_dim as f32);
                let angle = position as f32 * frequency;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok(Llama {
            shape,
            embed,
            layers,
            norm: ones(d, device)?,
            cos: Tensor::from_vec(cos, (shape.context, pairs), device)?,
            sin: Tensor::from_vec(sin, (shape.context, pairs), device)?,
        })
    }

    /// Every trainable tensor.
    pub fn vars(&self) -> Vec<Var> {
        let mut vars = vec![self.embed.clone(), self.norm.clone()];
        for l in &self.layers {
            vars.extend(
                [&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down]
                    .map(|v| v.clone()),
            );
        }
        vars
    }

    /// Rotates adjacent pairs of (B, H, T, head_dim) by position.
    fn rope(&self, x: &Tensor, t: usize) -> Result<Tensor> {
        let (b, h, _, hd) = x.dims4()?;
        let pairs = x.reshape((b, h, t, hd / 2, 2))?;
        let a = pairs.narrow(4, 0, 1)?.squeeze(4)?;
        let c = pairs.narrow(4, 1, 1)?.squeeze(4)?;
        let cos = self.cos.narrow(0, 0, t)?;
        let sin = self.sin.narrow(0, 0, t)?;
        let first = (a.broadcast_mul(&cos)? - c.broadcast_mul(&sin)?)?;
        let second = (a.broadcast_mul(&sin)? + c.broadcast_mul(&cos)?)?;
        Ok(Tensor::stack(&[first, second], 4)?.reshape((b, h, t, hd))?)
    }

    /// Logits (B, T, vocab) for token ids (B, T). With `dropout` (training), the
    /// embeddings and each residual branch are dropped at rate [`DROPOUT`] with masks from
    /// the seeded generator (candle's own dropout draws from an unseeded one).
    pub fn forward(&self, tokens: &Tensor, mut dropout: Option<&mut Rng>) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        let s = self.shape;
        let hd = s.dim / s.heads;
        let mut drop = |x: Tensor| -> Result<Tensor> {
            let Some(rng) = dropout.as_deref_mut() else { return Ok(x) };
            let keep = 1.0 / (1.0 - DROPOUT);
            let mask: Vec<f32> =
                (0..x.elem_count()).map(|_| if rng.unit() < DROPOUT { 0.0 } else { keep as f32 }).collect();
            Ok((x.clone() * Tensor::from_vec(mask, x.shape(), x.device())?)?)
        };
        let mut x = drop(self.embed.as_tensor().index_select(&tokens.flatten_all()?, 0)?.reshape((b, t, s.dim))?)?;
        let mask: Vec<f32> =
            (0..t).flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
        let mask = Tensor::from_vec(mask, (t, t), tokens.device())?;
        let scale = 1.0 / (hd as f64).sqrt();
        for l in &self.layers {
            let h = rms_norm(&x, l.attn_norm.as_tensor())?;
            let heads = |w: &Var| -> Result<Tensor> {
                Ok(linear(&h, w.as_tensor())?.reshape((b, t, s.heads, hd))?.transpose(1, 2)?.contiguous()?)
            };
            let q = self.rope(&heads(&l.wq)?, t)?;
            let k = self.rope(&heads(&l.wk)?, t)?;
            let v = heads(&l.wv)?;
            let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&mask)?;
            let weights = candle_nn::ops::softmax_last_dim(&scores)?;
            let attended = weights.matmul(&v)?.transpose(1, 2)?.reshape((b, t, s.dim))?;
            x = (x + drop(linear(&attended, l.wo.as_tensor())?)?)?;
            let h = rms_norm(&x, l.ffn_norm.as_tensor())?;
            let gate = candle_nn::ops::silu(&linear(&h, l.w_gate.as_tensor())?)?;
            let up = linear(&h, l.w_up.as_tensor())?;
            x = (x + drop(linear(&(gate * up)?, l.w_down.as_tensor())?)?)?;
        }
        let x = rms_norm(&x, self.norm.as_tensor())?;
        linear(&x, self.embed.as_tensor())
    }

    /// Mean cross-entropy of `targets` (B, T) where `mask` (B, T) is 1, with dropout.
    pub fn loss(&self, tokens: &Tensor, targets: &Tensor, mask: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let logits = self.forward(tokens, Some(rng))?;
        let (b, t, v) = logits.dims3()?;
        let log_probs = candle_nn::ops::log_softmax(&logits.reshape((b * t, v))?, D::Minus1)?;
        let picked = log_probs.gather(&targets.reshape((b * t, 1))?, 1)?.squeeze(1)?;
        let mask = mask.reshape(b * t)?;
        let total = (picked * &mask)?.sum_all()?;
        Ok((total.neg()? / mask.sum_all()?.to_scalar::<f32>()? as f64)?)
    }
}
