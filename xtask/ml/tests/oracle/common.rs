//! What every oracle comparison needs: fixtures, deterministic values, small random Llama
//! models written with the project's GGUF writer, and raw block bytes as candle tensors.

use candle_core::{
    quantized::{GgmlDType, QStorage, QTensor},
    Device,
};
use inference::{
    quant::{self, f32_to_f16, DType},
    writer::{Meta, Writer},
};
use std::borrow::Cow;

pub use testkit::{fixture, Rng};

/// `n` values uniform in −scale..scale.
pub fn values(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.unit() * scale).collect()
}

/// The candle type of one of ours.
pub fn ggml(dtype: DType) -> GgmlDType {
    match dtype {
        DType::F32 => GgmlDType::F32,
        DType::F16 => GgmlDType::F16,
        DType::Q4_0 => GgmlDType::Q4_0,
        DType::Q8_0 => GgmlDType::Q8_0,
        DType::Q4K => GgmlDType::Q4K,
        DType::Q6K => GgmlDType::Q6K,
    }
}

/// Raw block bytes (`rows × cols` weights of `dtype`) as a candle quantized tensor.
pub fn candle_qtensor(dtype: DType, rows: usize, cols: usize, bytes: &[u8]) -> QTensor {
    // candle reinterprets the bytes in place as its block structs, which need 2- or
    // 4-byte alignment: copy into a fresh (malloc-aligned) buffer. It must be borrowed:
    // candle 0.9's `from_data` keeps a slice into an owned `Cow` past dropping it.
    let aligned = bytes.to_vec();
    assert_eq!(aligned.as_ptr() as usize % 8, 0, "allocation not 8-aligned");
    let storage =
        QStorage::from_data(Cow::Borrowed(&aligned), &Device::Cpu, ggml(dtype)).expect("candle takes the bytes");
    QTensor::new(storage, (rows, cols)).expect("candle accepts the shape")
}

/// `values` encoded by the project's own quantizers.
pub fn encode(dtype: DType, values: &[f32]) -> Vec<u8> {
    match dtype {
        DType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F16 => values.iter().flat_map(|v| f32_to_f16(*v).to_le_bytes()).collect(),
        DType::Q8_0 => quant::quantize_q8_0(values),
        DType::Q4_0 => quant::quantize_q4_0(values),
        DType::Q4K => quant::quantize_q4_k(values),
        DType::Q6K => quant::quantize_q6_k(values),
    }
}

/// Shape of the random test Llama: every width a multiple of 256 so that K-quants apply,
/// grouped-query attention (8 heads over 2 KV heads), a non-default RoPE base.
pub mod shape {
    pub const DIM: usize = 256;
    pub const HIDDEN: usize = 512;
    pub const LAYERS: usize = 2;
    pub const HEADS: usize = 8;
    pub const KV_HEADS: usize = 2;
    pub const VOCAB: usize = 128;
    pub const CONTEXT: usize = 128;
    pub const ROPE_BASE: f32 = 5000.0;
    pub const EPS: f32 = 1e-5;
}

/// Weight formats of a random model.
#[derive(Clone, Copy, Debug)]
pub struct Formats {
    /// Token embedding.
    pub embedding: DType,
    /// Q, K, attention output, FFN gate and up.
    pub matrices: DType,
    /// V and FFN down (Q6_K in a "Q4_K_M" file).
    pub sensitive: DType,
    /// Separate classifier, or `None` for one tied to the embedding.
    pub output: Option<DType>,
    /// Make the separate classifier decisive: row `j` is the embedding of token
    /// `(j + 1) mod vocab` plus noise, so the model mostly predicts "the token before the
    /// current one" by a wide margin, and greedy choices are not decided by rounding.
    pub decisive: bool,
}

/// A random Llama as GGUF bytes (with the metadata keys candle's `quantized_llama` needs).
/// Weight scales are chosen so that activations stay O(1) and the logits spread over
/// several units: greedy choices are then decided by margins far above rounding.
pub fn random_llama(formats: Formats, seed: u64) -> Vec<u8> {
    use shape::*;
    let mut rng = Rng::new(seed);
    let mut w = Writer::new();
    w.meta("general.architecture", Meta::Str("llama".into()));
    w.meta("llama.context_length", Meta::U32(CONTEXT as u32));
    w.meta("llama.embedding_length", Meta::U32(DIM as u32));
    w.meta("llama.block_count", Meta::U32(LAYERS as u32));
    w.meta("llama.feed_forward_length", Meta::U32(HIDDEN as u32));
    w.meta("llama.attention.head_count", Meta::U32(HEADS as u32));
    w.meta("llama.attention.head_count_kv", Meta::U32(KV_HEADS as u32));
    w.meta("llama.rope.dimension_count", Meta::U32((DIM / HEADS) as u32));
    w.meta("llama.rope.freq_base", Meta::F32(ROPE_BASE));
    w.meta("llama.attention.layer_norm_rms_epsilon", Meta::F32(EPS));
    let kv = DIM / HEADS * KV_HEADS;
    let embedding = values(&mut rng, VOCAB * DIM, 1.0);
    let output_noise = values(&mut rng, VOCAB * DIM, 0.3);
    w.tensor(
        "token_embd.weight",
        &[DIM as u64, VOCAB as u64],
        formats.embedding,
        encode(formats.embedding, &embedding),
    );
    let mut add = |w: &mut Writer, name: String, dtype: DType, rows: usize, cols: usize, scale: f32, offset: f32| {
        let values: Vec<f32> = values(&mut rng, rows * cols, scale).into_iter().map(|v| v + offset).collect();
        let dims: Vec<u64> = if rows == 1 { vec![cols as u64] } else { vec![cols as u64, rows as u64] };
        w.tensor(&name, &dims, dtype, encode(dtype, &values));
    };
    for l in 0..LAYERS {
        let name = |part: &str| format!("blk.{l}.{part}.weight");
        add(&mut w, name("attn_norm"), DType::F32, 1, DIM, 0.3, 1.0);
        add(&mut w, name("attn_q"), formats.matrices, DIM, DIM, 0.06, 0.0);
        add(&mut w, name("attn_k"), formats.matrices, kv, DIM, 0.06, 0.0);
        add(&mut w, name("attn_v"), formats.sensitive, kv, DIM, 0.1, 0.0);
        add(&mut w, name("attn_output"), formats.matrices, DIM, DIM, 0.2, 0.0);
        add(&mut w, name("ffn_norm"), DType::F32, 1, DIM, 0.3, 1.0);
        add(&mut w, name("ffn_gate"), formats.matrices, HIDDEN, DIM, 0.1, 0.0);
        add(&mut w, name("ffn_up"), formats.matrices, HIDDEN, DIM, 0.1, 0.0);
        add(&mut w, name("ffn_down"), formats.sensitive, DIM, HIDDEN, 0.15, 0.0);
    }
    add(&mut w, "output_norm.weight".into(), DType::F32, 1, DIM, 0.3, 1.0);
    match formats.output {
        Some(dtype) if formats.decisive => {
            let rows: Vec<f32> = (0..VOCAB * DIM)
                .map(|i| embedding[((i / DIM + 1) % VOCAB) * DIM + i % DIM] + output_noise[i])
                .collect();
            w.tensor("output.weight", &[DIM as u64, VOCAB as u64], dtype, encode(dtype, &rows));
        }
        Some(dtype) => add(&mut w, "output.weight".into(), dtype, VOCAB, DIM, 0.5, 0.0),
        None => {}
    }
    w.to_bytes()
}

/// Largest absolute difference between two slices, and where.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> (f32, usize) {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .enumerate()
        .fold((0.0, 0), |(m, at), (i, (x, y))| if (x - y).abs() > m { ((x - y).abs(), i) } else { (m, at) })
}
