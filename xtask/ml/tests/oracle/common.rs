//! What every oracle comparison needs: fixtures, deterministic values, small random Llama
//! models written with the project's GGUF writer, and raw block bytes as candle tensors.

use candle_core::{
    quantized::{GgmlDType, QStorage, QTensor},
    Device,
};
use inference::{
    model::Architecture,
    quant::{self, DType},
    synthetic::{self, Role},
    writer::Writer,
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
        DType::Q4_1 => GgmlDType::Q4_1,
        DType::Q5_0 => GgmlDType::Q5_0,
        DType::Q5_1 => GgmlDType::Q5_1,
        DType::Q8_0 => GgmlDType::Q8_0,
        DType::Q4K => GgmlDType::Q4K,
        DType::Q5K => GgmlDType::Q5K,
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
    quant::quantize(dtype, values)
}

/// Shape of the random test Llama: every width a multiple of 256 so that K-quants apply,
/// grouped-query attention (8 heads over 2 KV heads), a non-default RoPE base.
pub mod shape {
    use inference::synthetic::Shape;

    pub const SHAPE: Shape = Shape {
        dim: 256,
        hidden: 512,
        layers: 2,
        heads: 8,
        kv_heads: 2,
        vocab: 128,
        context: 128,
        rope_base: 5000.0,
        eps: 1e-5,
    };
    pub const DIM: usize = SHAPE.dim;
    pub const VOCAB: usize = SHAPE.vocab;
    pub const CONTEXT: usize = SHAPE.context;
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
    random_model(Architecture::Llama, formats, seed, |_| {})
}

/// [`random_llama`] for `architecture` (qwen2: with Q/K/V biases); `extra` may add
/// metadata or tensors before the bytes are laid out.
pub fn random_model(
    architecture: Architecture,
    formats: Formats,
    seed: u64,
    extra: impl FnOnce(&mut Writer),
) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut w = Writer::new();
    synthetic::metadata_of(&mut w, architecture, &shape::SHAPE);
    let embedding = values(&mut rng, shape::VOCAB * shape::DIM, 1.0);
    let output_noise = values(&mut rng, shape::VOCAB * shape::DIM, 0.3);
    for spec in synthetic::tensors_of(architecture, &shape::SHAPE, formats.output.is_none()) {
        // (format, scale, offset) of the uniform values.
        let (dtype, scale, offset) = match spec.role {
            Role::Embedding => {
                w.tensor(&spec.name, &spec.dims(), formats.embedding, encode(formats.embedding, &embedding));
                continue;
            }
            Role::Classifier if formats.decisive => {
                let dtype = formats.output.unwrap_or(DType::F32);
                let (vocab, dim) = (spec.rows, spec.cols);
                let rows: Vec<f32> = (0..vocab * dim)
                    .map(|i| embedding[((i / dim + 1) % vocab) * dim + i % dim] + output_noise[i])
                    .collect();
                w.tensor(&spec.name, &spec.dims(), dtype, encode(dtype, &rows));
                continue;
            }
            Role::Classifier => (formats.output.unwrap_or(DType::F32), 0.5, 0.0),
            Role::Norm => (DType::F32, 0.3, 1.0),
            Role::Bias => (DType::F32, 0.2, 0.0),
            Role::Query | Role::Key => (formats.matrices, 0.06, 0.0),
            Role::Value => (formats.sensitive, 0.1, 0.0),
            Role::AttentionOutput => (formats.matrices, 0.2, 0.0),
            Role::Gate | Role::Up => (formats.matrices, 0.1, 0.0),
            Role::Down => (formats.sensitive, 0.15, 0.0),
        };
        let values: Vec<f32> = values(&mut rng, spec.rows * spec.cols, scale).into_iter().map(|v| v + offset).collect();
        w.tensor(&spec.name, &spec.dims(), dtype, encode(dtype, &values));
    }
    extra(&mut w);
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
