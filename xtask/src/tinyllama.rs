//! A TinyLlama-1.1B-shaped GGUF with seeded random weights and the real Llama 2 vocabulary,
//! for speed and memory measurements (`cargo xtask model tinyllama-random`, and the cached
//! files of `cargo xtask bench llm`). Real TinyLlama weights cannot be downloaded here.
//!
//! Shapes are TinyLlama's exactly (22 blocks, dim 2048, 32 heads, 4 KV heads, FFN 5632,
//! vocabulary 32000, context 2048, RMS eps 1e-5, RoPE base 10000); the vocabulary (tokens,
//! scores, types, BOS/EOS/UNK) is copied from `../shared/fixtures/gguf/llama-2-tiny-random.gguf`.
//! Every matrix, the embedding and the classifier included, is in the chosen format; the
//! norms are F32.
//!
//! Scale: matrix weights are uniform with standard deviation 0.02 (the usual initialisation
//! scale of Llama-family models), norm weights near 1. A normed input (RMS 1) then gives
//! projections of RMS ≈ 0.02·√2048 ≈ 0.9, so activations and logits stay finite and of
//! ordinary size through all 22 blocks, and generation behaves like a real model's.
//!
//! The file is streamed (declared tensor table, then each tensor generated, quantized and
//! written in slices of rows), so building the 1.17 GB Q8_0 file needs a few MB of memory.

use crate::util::{self, Progress};
use anyhow::{anyhow, bail, Context, Result};
use inference::{
    gguf::Gguf,
    quant::{quantize_q4_0, quantize_q4_k, quantize_q6_k, quantize_q8_0, DType},
    synthetic::{self, Role, Shape},
    writer::{padding, Meta, Writer},
};
use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

/// TinyLlama-1.1B's shape.
const SHAPE: Shape = Shape::TINYLLAMA;

/// Standard deviation of the matrix weights.
const WEIGHT_STD: f32 = 0.02;

/// The fixture the vocabulary comes from, relative to the repository root.
pub const VOCABULARY_FIXTURE: &str = "../shared/fixtures/gguf/llama-2-tiny-random.gguf";

/// Weight format of the matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Quant {
    /// 4-bit, 32-weight blocks (≈ 640 MB).
    #[value(name = "q4_0", alias = "q4-0")]
    Q4_0,
    /// 8-bit, 32-weight blocks (≈ 1.17 GB).
    #[value(name = "q8_0", alias = "q8-0")]
    Q8_0,
    /// llama.cpp's "Q4_K_M" mix: Q4_K, with Q6_K for the classifier and for the value and
    /// FFN-down matrices of the first and last eighth of the blocks and every third one
    /// between (≈ 670 MB).
    #[value(name = "q4_k_m", alias = "q4-k-m")]
    Q4KM,
}

impl Quant {
    /// The format of a tensor (norms stay F32).
    fn dtype(self, spec: &synthetic::Spec) -> DType {
        let more_bits = |layer: usize| {
            let n = SHAPE.layers;
            layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2
        };
        match (self, spec.role) {
            (_, Role::Norm | Role::Bias) => DType::F32,
            (Quant::Q4_0, _) => DType::Q4_0,
            (Quant::Q8_0, _) => DType::Q8_0,
            (Quant::Q4KM, Role::Classifier) => DType::Q6K,
            (Quant::Q4KM, Role::Value | Role::Down) if spec.layer.is_some_and(more_bits) => DType::Q6K,
            (Quant::Q4KM, _) => DType::Q4K,
        }
    }

    /// Lower-case name, as in file names.
    pub fn name(self) -> &'static str {
        match self {
            Quant::Q4_0 => "q4_0",
            Quant::Q8_0 => "q8_0",
            Quant::Q4KM => "q4_k_m",
        }
    }
}

/// Deterministic uniform numbers (xorshift64*), one stream per tensor.
struct Random(u64);

impl Random {
    fn new(seed: u64, stream: u64) -> Random {
        // splitmix64 of the pair, so neighbouring streams are unrelated and never zero.
        let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Random((z ^ (z >> 31)) | 1)
    }

    /// Uniform in −1..1.
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// The vocabulary metadata of the fixture, checked to be the 32000-token Llama 2 one.
fn vocabulary(writer: &mut Writer, root: &Path) -> Result<()> {
    let path = root.join(VOCABULARY_FIXTURE);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "the Llama 2 vocabulary comes from {} (outside the repository, in ../shared); it is not there",
            path.display()
        )
    })?;
    let gguf = Gguf::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let tokens: Vec<String> =
        gguf.strings("tokenizer.ggml.tokens").map_err(|e| anyhow!("{e}"))?.into_iter().map(String::from).collect();
    if tokens.len() != SHAPE.vocab {
        bail!("{} has {} tokens, expected the {} of Llama 2", path.display(), tokens.len(), SHAPE.vocab);
    }
    let scores = gguf.floats("tokenizer.ggml.scores").context("the fixture has no tokenizer.ggml.scores")?;
    let types: Vec<i32> = gguf
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.as_array())
        .context("the fixture has no tokenizer.ggml.token_type")?
        .iter()
        .map(|v| v.as_f64().map(|t| t as i32).context("a token type is not a number"))
        .collect::<Result<_>>()?;
    if scores.len() != SHAPE.vocab || types.len() != SHAPE.vocab {
        bail!("{}: {} scores and {} token types for {} tokens", path.display(), scores.len(), types.len(), SHAPE.vocab);
    }
    let id = |key: &str| -> Result<Meta> {
        let value = gguf.get_u64(key).map_err(|e| anyhow!("{e}"))?;
        Ok(Meta::U32(u32::try_from(value).with_context(|| format!("{key} = {value}"))?))
    };
    writer.meta("tokenizer.ggml.model", Meta::Str("llama".into()));
    writer.meta("tokenizer.ggml.tokens", Meta::Strings(tokens));
    writer.meta("tokenizer.ggml.scores", Meta::F32s(scores));
    writer.meta("tokenizer.ggml.token_type", Meta::I32s(types));
    for key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"] {
        writer.meta(key, id(key)?);
    }
    Ok(())
}

fn header(quant: Quant, seed: u64, specs: &[synthetic::Spec]) -> Result<Writer> {
    let mut w = Writer::new();
    synthetic::metadata(&mut w, &SHAPE);
    w.meta("general.name", Meta::Str(format!("TinyLlama-1.1B-shaped random weights ({}, seed {seed})", quant.name())));
    vocabulary(&mut w, &util::root())?;
    for spec in specs {
        w.declare(&spec.name, &spec.dims(), quant.dtype(spec))
            .with_context(|| format!("{} is not whole blocks", spec.name))?;
    }
    Ok(w)
}

/// The bytes of one tensor, `rows_per_slice` rows at a time, handed to `sink`.
fn generate(
    spec: &synthetic::Spec,
    dtype: DType,
    random: &mut Random,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let rows_per_slice = (1 << 18) / spec.cols.max(1) + 1;
    let mut values = Vec::with_capacity(rows_per_slice * spec.cols);
    let amplitude = WEIGHT_STD * 3f32.sqrt(); // uniform on ±a has std a/√3
    let mut row = 0;
    while row < spec.rows {
        let rows = rows_per_slice.min(spec.rows - row);
        values.clear();
        match spec.role {
            Role::Norm => values.extend((0..rows * spec.cols).map(|_| 1.0 + 0.1 * random.next())),
            _ => values.extend((0..rows * spec.cols).map(|_| amplitude * random.next())),
        }
        let bytes = match dtype {
            DType::Q4_0 => quantize_q4_0(&values),
            DType::Q8_0 => quantize_q8_0(&values),
            DType::Q4K => quantize_q4_k(&values),
            DType::Q6K => quantize_q6_k(&values),
            _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        sink(&bytes)?;
        row += rows;
    }
    Ok(())
}

/// Writes the model to `output` (through a temporary file renamed at the end, so a file at
/// `output` is always complete), with a progress bar on stderr.
pub fn write(output: &Path, quant: Quant, seed: u64) -> Result<()> {
    let specs = synthetic::tensors(&SHAPE, false);
    let writer = header(quant, seed, &specs)?;
    let header = writer.header();
    let total: u64 = specs
        .iter()
        .map(|s| {
            let bytes = quant.dtype(s).bytes_for(s.rows * s.cols).unwrap_or(0);
            (bytes + padding(bytes)) as u64
        })
        .sum::<u64>()
        + header.len() as u64;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = PathBuf::from(format!("{}.partial", output.display()));
    let file = std::fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut progress = Progress::new(&format!("writing {}", output.display()), total);
    out.write_all(&header)?;
    progress.advance(header.len() as u64);
    for (index, spec) in specs.iter().enumerate() {
        let mut random = Random::new(seed, index as u64);
        let mut written = 0usize;
        generate(spec, quant.dtype(spec), &mut random, |bytes| {
            out.write_all(bytes)?;
            written += bytes.len();
            progress.advance(bytes.len() as u64);
            Ok(())
        })?;
        out.write_all(&vec![0u8; padding(written)])?;
        progress.advance(padding(written) as u64);
    }
    out.flush()?;
    drop(out);
    progress.finish();
    std::fs::rename(&partial, output)
        .with_context(|| format!("renaming {} to {}", partial.display(), output.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_streams_are_uniform_and_distinct() {
        let mut a = Random::new(1, 0);
        let values: Vec<f32> = (0..100_000).map(|_| a.next()).collect();
        assert!(values.iter().all(|v| (-1.0..1.0).contains(v)));
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / values.len() as f32;
        assert!(mean.abs() < 0.01 && (variance - 1.0 / 3.0).abs() < 0.01, "mean {mean}, variance {variance}");
        let mut b = Random::new(1, 1);
        assert_ne!(values[0], b.next());
    }

    /// The header alone (tensor table and metadata, no weights) reads back as TinyLlama:
    /// shape, the copied vocabulary, and a memory estimate under 900 MB at full context.
    #[test]
    fn header_reads_back_as_tinyllama_with_the_real_vocabulary() {
        if testkit::fixture_path("gguf/llama-2-tiny-random.gguf").is_none() {
            return;
        }
        for quant in [Quant::Q4_0, Quant::Q8_0, Quant::Q4KM] {
            let specs = synthetic::tensors(&SHAPE, false);
            let bytes = header(quant, 1, &specs).unwrap().header();
            let gguf = Gguf::parse_header(&bytes).unwrap();
            let config = inference::model::Config::from_gguf(&gguf).unwrap();
            assert_eq!(
                (
                    config.n_layers,
                    config.dim,
                    config.n_heads,
                    config.n_kv_heads,
                    config.hidden_dim,
                    config.vocab_size,
                    config.max_context
                ),
                (22, 2048, 32, 4, 5632, 32000, 2048)
            );
            assert_eq!((config.rope_base, config.norm_eps, config.rope_dim), (10000.0, 1e-5, 64));
            let tokenizer = inference::tokenizer::Tokenizer::from_gguf(&gguf).unwrap();
            assert_eq!((tokenizer.bos, tokenizer.eos), (1, 2));
            // "Hello" in the Llama 2 vocabulary: BOS, ▁Hello.
            assert_eq!(tokenizer.encode("Hello", true), [1, 15043]);
            let needed = inference::model::memory_estimate(&gguf, 2048).unwrap();
            if quant == Quant::Q4_0 {
                assert!(needed < 900 << 20, "{} MiB", needed >> 20);
            }
        }
    }

    #[test]
    fn shapes_are_tinyllamas() {
        let specs = synthetic::tensors(&SHAPE, false);
        assert_eq!(specs.len(), 2 + SHAPE.layers * 9 + 1);
        // Q4_K_M: Q6_K for the classifier and for V/down in 10 of the 22 blocks (0, 1, 4, 7,
        // 10, 13, 16, 19, 20, 21: llama.cpp's `use_more_bits`).
        let q6k = specs.iter().filter(|s| Quant::Q4KM.dtype(s) == DType::Q6K).count();
        assert_eq!(q6k, 1 + 2 * 10, "{q6k}");
        let weights: usize = specs.iter().map(|s| s.rows * s.cols).sum();
        // 1.1 billion parameters (embedding and classifier separate, as in TinyLlama).
        assert!((1_090_000_000..1_110_000_000).contains(&weights), "{weights}");
        assert_eq!(SHAPE.kv_dim(), 256);
    }
}
