//! The architectures beside plain Llama, each against an independent implementation on
//! random-weight files of the test shape:
//! - qwen2 (Q/K/V biases, "neox" rotary pairs) against candle-transformers'
//!   `quantized_qwen2` on the same GGUF bytes, logits over a fixed text and greedy tokens;
//! - Llama 3.1/3.2 rotary scaling (`rope_freqs.weight`, written with llama.cpp's converter
//!   formula) against candle-transformers' full-precision `llama`, which computes the scaled
//!   frequencies itself from the Hugging Face `rope_scaling` config, on the weights
//!   un-permuted back to the Hugging Face layout.

use crate::{
    common::{random_model, shape, Formats},
    forward::{compare, distinct, f, relative, tolerance, Continuation, Engine, Ours, PROMPT, STEPS, TEXT},
};
use candle_core::{quantized::gguf_file, DType as CandleDType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{
    llama::{Cache, Config as LlamaConfig, Llama, Llama3RopeConfig, Llama3RopeType},
    quantized_qwen2,
};
use inference::{gguf::Gguf, model::Architecture, quant::DType};
use std::{collections::HashMap, io::Cursor};

/// candle-transformers' quantized Qwen2.
struct CandleQwen2(quantized_qwen2::ModelWeights);

impl CandleQwen2 {
    fn new(bytes: &[u8]) -> Self {
        let mut cursor = Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut cursor).expect("candle reads the GGUF");
        let model = quantized_qwen2::ModelWeights::from_gguf(content, &mut cursor, &Device::Cpu);
        CandleQwen2(model.expect("candle loads the qwen2 model"))
    }
}

impl Engine for CandleQwen2 {
    fn feed(&mut self, tokens: &[u32], position: usize) -> Vec<f32> {
        let input = Tensor::new(tokens, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits = self.0.forward(&input, position).expect("candle forward");
        logits.squeeze(0).unwrap().to_vec1().unwrap()
    }
}

fn qwen2_cases(decisive: bool) -> Vec<(&'static str, Formats)> {
    vec![
        ("F32 tied", f(DType::F32, DType::F32, DType::F32, None, decisive)),
        ("Q8_0 separate", f(DType::Q8_0, DType::Q8_0, DType::Q8_0, Some(DType::Q8_0), decisive)),
        ("Q4_0 tied", f(DType::Q8_0, DType::Q4_0, DType::Q4_0, None, decisive)),
        ("Q4_1/Q5_1 separate", f(DType::Q8_0, DType::Q4_1, DType::Q5_1, Some(DType::Q8_0), decisive)),
        ("Q4_K_M-like (Q4_K/Q6_K)", f(DType::Q4K, DType::Q4K, DType::Q6K, Some(DType::Q6K), decisive)),
    ]
}

#[test]
fn random_qwen2_matches_candle_quantized_qwen2() {
    eprintln!("qwen2: logits over a fixed text, then {STEPS} greedy tokens, max |ours − candle| / max |logit|:");
    for (seed, ((name, formats), (_, decisive))) in qwen2_cases(false).into_iter().zip(qwen2_cases(true)).enumerate() {
        let bytes = random_model(Architecture::Qwen2, formats, 0x0e3e_2000 + seed as u64, |_| {});
        let gguf = Gguf::parse(&bytes).unwrap();
        let mut ours = Ours::new(&gguf, shape::CONTEXT);
        assert_eq!(ours.model.config.architecture, Architecture::Qwen2);
        let tolerance = tolerance(formats.matrices);
        let forced =
            compare(name, &mut ours, &mut CandleQwen2::new(&bytes), &PROMPT, Continuation::Forced(&TEXT), tolerance);

        let bytes = random_model(Architecture::Qwen2, decisive, 0x0e3e_3000 + seed as u64, |_| {});
        let gguf = Gguf::parse(&bytes).unwrap();
        let greedy = compare(
            name,
            &mut Ours::new(&gguf, shape::CONTEXT),
            &mut CandleQwen2::new(&bytes),
            &PROMPT,
            Continuation::Greedy(STEPS),
            tolerance,
        );
        eprintln!(
            "  {name}: fixed text median {:.1e} worst {:.1e}; greedy identical ({} distinct tokens), worst {:.1e} (tolerance {tolerance:.0e})",
            forced.median(),
            forced.max(),
            distinct(&greedy.tokens),
            greedy.max()
        );
    }
}

/// qwen2 blocks need their biases: a qwen2 shape over tensors without them is refused
/// with the missing tensor's name, not run as a llama.
#[test]
fn qwen2_weights_without_biases_are_refused() {
    let formats = f(DType::F32, DType::F32, DType::F32, None, false);
    let qwen2 = random_model(Architecture::Qwen2, formats, 5, |_| {});
    let llama = random_model(Architecture::Llama, formats, 5, |_| {});
    let config = inference::model::Config::from_gguf(&Gguf::parse(&qwen2).unwrap()).unwrap();
    let weights = inference::model::Weights::from_gguf(&Gguf::parse(&llama).unwrap(), &config);
    let error = weights.err().expect("qwen2 blocks without biases must not load").to_string();
    assert!(error.contains("blk.0.attn_q.bias"), "{error}");
}

/// Llama 3's rotary scaling as its Hugging Face config states it, with the original context
/// shrunk to the test's 33 positions so that all three regimes (unscaled, interpolated,
/// divided by `factor`) change the logits.
const LLAMA3_ROPE: Llama3RopeConfig = Llama3RopeConfig {
    factor: 8.0,
    low_freq_factor: 1.0,
    high_freq_factor: 4.0,
    original_max_position_embeddings: 32,
    rope_type: Llama3RopeType::Llama3,
};

/// `rope_freqs.weight` as llama.cpp's converter writes it for a Llama 3.1+ model.
fn llama3_rope_factors(head_dim: usize, base: f32, r: &Llama3RopeConfig) -> Vec<f32> {
    let old_context = r.original_max_position_embeddings as f32;
    let (low_wavelength, high_wavelength) = (old_context / r.low_freq_factor, old_context / r.high_freq_factor);
    (0..head_dim)
        .step_by(2)
        .map(|i| {
            let frequency = 1.0 / base.powf(i as f32 / head_dim as f32);
            let wavelength = 2.0 * std::f32::consts::PI / frequency;
            if wavelength < high_wavelength {
                1.0
            } else if wavelength > low_wavelength {
                r.factor
            } else {
                let smooth = (old_context / wavelength - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
                1.0 / ((1.0 - smooth) / r.factor + smooth)
            }
        })
        .collect()
}

/// candle-transformers' full-precision Llama with its own Llama 3 rotary scaling.
struct CandleLlama {
    model: Llama,
    cache: Cache,
}

impl CandleLlama {
    /// Loads the F32 GGUF `bytes` into the Hugging Face layout: GGUF's Q and K rows are
    /// permuted for adjacent-pair rotation (llama.cpp's converter: row `h·d + 2j + s` holds
    /// Hugging Face row `h·d + s·d/2 + j`); candle rotates halves, so undo it.
    fn new(bytes: &[u8], tied: bool) -> Self {
        let s = shape::SHAPE;
        let mut cursor = Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut cursor).expect("candle reads the GGUF");
        let mut tensor = |name: &str| {
            let t = content.tensor(&mut cursor, name, &Device::Cpu).expect(name);
            t.dequantize(&Device::Cpu).unwrap()
        };
        let head_dim = s.dim / s.heads;
        let unpermute = |t: Tensor, heads: usize| {
            let cols = t.dim(1).unwrap();
            t.reshape((heads, head_dim / 2, 2, cols))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
                .reshape((heads * head_dim, cols))
                .unwrap()
        };
        let mut map = HashMap::new();
        map.insert("model.embed_tokens.weight".to_string(), tensor("token_embd.weight"));
        map.insert("model.norm.weight".to_string(), tensor("output_norm.weight"));
        if !tied {
            map.insert("lm_head.weight".to_string(), tensor("output.weight"));
        }
        for l in 0..s.layers {
            let ours = |part: &str| format!("blk.{l}.{part}.weight");
            let theirs = |part: &str| format!("model.layers.{l}.{part}.weight");
            map.insert(theirs("input_layernorm"), tensor(&ours("attn_norm")));
            map.insert(theirs("self_attn.q_proj"), unpermute(tensor(&ours("attn_q")), s.heads));
            map.insert(theirs("self_attn.k_proj"), unpermute(tensor(&ours("attn_k")), s.kv_heads));
            map.insert(theirs("self_attn.v_proj"), tensor(&ours("attn_v")));
            map.insert(theirs("self_attn.o_proj"), tensor(&ours("attn_output")));
            map.insert(theirs("post_attention_layernorm"), tensor(&ours("ffn_norm")));
            map.insert(theirs("mlp.gate_proj"), tensor(&ours("ffn_gate")));
            map.insert(theirs("mlp.up_proj"), tensor(&ours("ffn_up")));
            map.insert(theirs("mlp.down_proj"), tensor(&ours("ffn_down")));
        }
        let config = LlamaConfig {
            hidden_size: s.dim,
            intermediate_size: s.hidden,
            vocab_size: s.vocab,
            num_hidden_layers: s.layers,
            num_attention_heads: s.heads,
            num_key_value_heads: s.kv_heads,
            use_flash_attn: false,
            rms_norm_eps: s.eps as f64,
            rope_theta: s.rope_base,
            bos_token_id: None,
            eos_token_id: None,
            rope_scaling: Some(LLAMA3_ROPE),
            max_position_embeddings: s.context,
            tie_word_embeddings: tied,
        };
        let vb = VarBuilder::from_tensors(map, CandleDType::F32, &Device::Cpu);
        let model = Llama::load(vb, &config).expect("candle loads the llama");
        let cache = Cache::new(true, CandleDType::F32, &config, &Device::Cpu).unwrap();
        CandleLlama { model, cache }
    }
}

impl Engine for CandleLlama {
    fn feed(&mut self, tokens: &[u32], position: usize) -> Vec<f32> {
        let input = Tensor::new(tokens, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits = self.model.forward(&input, position, &mut self.cache).expect("candle forward");
        logits.squeeze(0).unwrap().to_vec1().unwrap()
    }
}

#[test]
fn llama3_rope_freqs_match_candle_llama3_scaling() {
    let s = shape::SHAPE;
    let factors = llama3_rope_factors(s.dim / s.heads, s.rope_base, &LLAMA3_ROPE);
    let scaled = factors.iter().filter(|&&f| f != 1.0).count();
    assert!(scaled > 2 && scaled < factors.len(), "every regime exercised: {factors:?}");
    let add_factors = |w: &mut inference::writer::Writer| {
        let data = factors.iter().flat_map(|v| v.to_le_bytes()).collect();
        w.tensor("rope_freqs.weight", &[factors.len() as u64], DType::F32, data);
    };
    eprintln!("Llama 3 rotary scaling (rope_freqs.weight) vs candle's llama, max |ours − candle| / max |logit|:");
    for (seed, tied) in [(1u64, true), (2, false)] {
        let formats = f(DType::F32, DType::F32, DType::F32, (!tied).then_some(DType::F32), false);
        let bytes = random_model(Architecture::Llama, formats, 0x11a3_0000 + seed, add_factors);
        let gguf = Gguf::parse(&bytes).unwrap();
        let mut ours = Ours::new(&gguf, shape::CONTEXT);
        assert_eq!(ours.model.weights.rope_factors, factors);
        let name = if tied { "tied" } else { "separate" };
        let m = compare(
            name,
            &mut ours,
            &mut CandleLlama::new(&bytes, tied),
            &PROMPT,
            Continuation::Forced(&TEXT),
            tolerance(DType::F32),
        );
        // The same weights without the factors must be far off: the comparison can fail.
        let mut unscaled = Ours::new(&gguf, shape::CONTEXT);
        unscaled.model.weights.rope_factors.clear();
        let mut candle = CandleLlama::new(&bytes, tied);
        let mut worst: f32 = 0.0;
        let (a, b) = (unscaled.feed(&PROMPT, 0), candle.feed(&PROMPT, 0));
        worst = worst.max(relative(&a, &b));
        for (i, &t) in TEXT.iter().enumerate() {
            worst = worst.max(relative(&unscaled.feed(&[t], PROMPT.len() + i), &candle.feed(&[t], PROMPT.len() + i)));
        }
        eprintln!("  {name}: median {:.1e}, worst {:.1e}; without the factors worst {worst:.1e}", m.median(), m.max());
        assert!(worst > 100.0 * tolerance(DType::F32), "without rope_freqs the logits should differ: {worst}");
    }
}
