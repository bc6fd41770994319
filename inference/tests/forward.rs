//! The forward pass against an independent, straightforward f32 Llama written here with
//! naive loops, on small GGUF models with grouped-query attention, a non-default RoPE base,
//! separate or tied classifier, and every weight format (F32, F16, Q8_0, Q4_0, Q4_K, Q6_K).

use inference::{
    gguf::Gguf,
    model::{memory_estimate, Config, Model, State, Weights, MAX_BATCH},
    quant::{self, f32_to_f16, DType, Parallel, Serial},
    writer::{Meta, Writer},
};

const DIM: usize = 256;
const HIDDEN: usize = 512;
const LAYERS: usize = 2;
const HEADS: usize = 8;
const KV_HEADS: usize = 2;
const VOCAB: usize = 48;
const CONTEXT: usize = 32;
const ROPE_BASE: f32 = 5000.0;
const EPS: f32 = 1e-5;

fn values(rng: &mut testkit::Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.unit() * scale).collect()
}

fn encode(dtype: DType, values: &[f32]) -> Vec<u8> {
    match dtype {
        DType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F16 => values.iter().flat_map(|v| f32_to_f16(*v).to_le_bytes()).collect(),
        DType::Q8_0 => quant::quantize_q8_0(values),
        DType::Q4_0 => quant::quantize_q4_0(values),
        DType::Q4K => quant::quantize_q4_k(values),
        DType::Q6K => quant::quantize_q6_k(values),
    }
}

/// Formats per weight kind: (embedding, q, k, v, o, gate, up, down, output).
type Formats = [DType; 9];

fn model_file(formats: Formats, tied: bool) -> Vec<u8> {
    let mut rng = testkit::Rng::new(0x9e37_79b9_7f4a_7c15);
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
    let mut add = |w: &mut Writer, name: String, dtype: DType, rows: usize, cols: usize, scale: f32| {
        let values = values(&mut rng, rows * cols, scale);
        let dims: Vec<u64> = if rows == 1 { vec![cols as u64] } else { vec![cols as u64, rows as u64] };
        w.tensor(&name, &dims, dtype, encode(dtype, &values));
    };
    add(&mut w, "token_embd.weight".into(), formats[0], VOCAB, DIM, 1.0);
    for l in 0..LAYERS {
        let name = |part: &str| format!("blk.{l}.{part}.weight");
        add(&mut w, name("attn_norm"), DType::F32, 1, DIM, 1.0);
        add(&mut w, name("attn_q"), formats[1], DIM, DIM, 0.15);
        add(&mut w, name("attn_k"), formats[2], kv, DIM, 0.15);
        add(&mut w, name("attn_v"), formats[3], kv, DIM, 0.15);
        add(&mut w, name("attn_output"), formats[4], DIM, DIM, 0.1);
        add(&mut w, name("ffn_norm"), DType::F32, 1, DIM, 1.0);
        add(&mut w, name("ffn_gate"), formats[5], HIDDEN, DIM, 0.1);
        add(&mut w, name("ffn_up"), formats[6], HIDDEN, DIM, 0.1);
        add(&mut w, name("ffn_down"), formats[7], DIM, HIDDEN, 0.1);
    }
    add(&mut w, "output_norm.weight".into(), DType::F32, 1, DIM, 1.0);
    if !tied {
        add(&mut w, "output.weight".into(), formats[8], VOCAB, DIM, 0.2);
    }
    w.to_bytes()
}

/// A dequantized matrix: `rows` × `cols`.
struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

fn dense(gguf: &Gguf<'_>, name: &str) -> Matrix {
    let t = gguf.tensor(name).unwrap();
    let mut data = vec![0.0; t.rows * t.cols];
    for r in 0..t.rows {
        t.dequantize_row(r, &mut data[r * t.cols..(r + 1) * t.cols]);
    }
    Matrix { rows: t.rows, cols: t.cols, data }
}

fn matvec(m: &Matrix, x: &[f32]) -> Vec<f32> {
    (0..m.rows).map(|r| (0..m.cols).map(|c| m.data[r * m.cols + c] as f64 * x[c] as f64).sum::<f64>() as f32).collect()
}

fn rmsnorm(x: &[f32], w: &Matrix) -> Vec<f32> {
    let ms = x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>() / x.len() as f64;
    let scale = 1.0 / (ms + EPS as f64).sqrt();
    x.iter().zip(&w.data).map(|(v, w)| (*v as f64 * scale * *w as f64) as f32).collect()
}

/// Rotates pairs (2i, 2i+1) of each head by pos · base^(−2i/head_dim), in f64.
fn rope(v: &mut [f32], pos: usize) {
    let head_dim = DIM / HEADS;
    for head in v.chunks_mut(head_dim) {
        for i in (0..head_dim).step_by(2) {
            let theta = pos as f64 * (ROPE_BASE as f64).powf(-(i as f64) / head_dim as f64);
            let (a, b) = (head[i] as f64, head[i + 1] as f64);
            head[i] = (a * theta.cos() - b * theta.sin()) as f32;
            head[i + 1] = (a * theta.sin() + b * theta.cos()) as f32;
        }
    }
}

/// Logits after each token of `tokens`, computed the obvious way.
fn reference_logits(gguf: &Gguf<'_>, tokens: &[usize]) -> Vec<Vec<f32>> {
    let head_dim = DIM / HEADS;
    let embed = dense(gguf, "token_embd.weight");
    let output = if gguf.tensor_info("output.weight").is_some() {
        dense(gguf, "output.weight")
    } else {
        dense(gguf, "token_embd.weight")
    };
    let mut keys: Vec<Vec<Vec<f32>>> = vec![Vec::new(); LAYERS];
    let mut values: Vec<Vec<Vec<f32>>> = vec![Vec::new(); LAYERS];
    let mut all = Vec::new();
    for (pos, &token) in tokens.iter().enumerate() {
        let mut x = embed.data[token * DIM..(token + 1) * DIM].to_vec();
        for l in 0..LAYERS {
            let w = |part: &str| dense(gguf, &format!("blk.{l}.{part}.weight"));
            let h = rmsnorm(&x, &w("attn_norm"));
            let mut q = matvec(&w("attn_q"), &h);
            let mut k = matvec(&w("attn_k"), &h);
            let v = matvec(&w("attn_v"), &h);
            rope(&mut q, pos);
            rope(&mut k, pos);
            keys[l].push(k);
            values[l].push(v);
            let mut attended = vec![0.0f32; DIM];
            for head in 0..HEADS {
                let kv_head = head * KV_HEADS / HEADS;
                let qh = &q[head * head_dim..(head + 1) * head_dim];
                let scores: Vec<f64> = (0..=pos)
                    .map(|t| {
                        let kh = &keys[l][t][kv_head * head_dim..(kv_head + 1) * head_dim];
                        qh.iter().zip(kh).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() / (head_dim as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                for i in 0..head_dim {
                    attended[head * head_dim + i] = (0..=pos)
                        .map(|t| exps[t] / total * values[l][t][kv_head * head_dim + i] as f64)
                        .sum::<f64>() as f32;
                }
            }
            let o = matvec(&w("attn_output"), &attended);
            for (a, b) in x.iter_mut().zip(&o) {
                *a += b;
            }
            let h = rmsnorm(&x, &w("ffn_norm"));
            let gate = matvec(&w("ffn_gate"), &h);
            let up = matvec(&w("ffn_up"), &h);
            let act: Vec<f32> = gate
                .iter()
                .zip(&up)
                .map(|(g, u)| (*g as f64 / (1.0 + (-*g as f64).exp()) * *u as f64) as f32)
                .collect();
            let down = matvec(&w("ffn_down"), &act);
            for (a, b) in x.iter_mut().zip(&down) {
                *a += b;
            }
        }
        let h = rmsnorm(&x, &dense(gguf, "output_norm.weight"));
        all.push(matvec(&output, &h));
    }
    all
}

/// Splits rows across real threads, as the kernel's compute pool will.
struct Threads(usize);

impl Parallel for Threads {
    fn for_each_chunk(&self, out: &mut [f32], f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        let chunk = out.len().div_ceil(self.0).max(1);
        std::thread::scope(|s| {
            for (i, part) in out.chunks_mut(chunk).enumerate() {
                s.spawn(move || f(i * chunk, part));
            }
        });
    }
}

fn check(formats: Formats, tied: bool, tolerance: f32, parallel: &dyn Parallel) {
    let file = model_file(formats, tied);
    let gguf = Gguf::parse(&file).unwrap();
    let config = Config::from_gguf(&gguf).unwrap();
    assert_eq!((config.n_kv_heads, config.rope_base, config.vocab_size), (KV_HEADS, ROPE_BASE, VOCAB));
    let model = Model { weights: Weights::from_gguf(&gguf, &config).unwrap(), config };
    let tokens = [1usize, 7, 30, 7, 45, 2, 19, 19, 0, 33, 12, 40];
    let expected = reference_logits(&gguf, &tokens);
    let mut state = State::new(&model.config, CONTEXT);
    for (pos, &token) in tokens.iter().enumerate() {
        model.forward(&mut state, token, pos, parallel).unwrap();
        let scale = expected[pos].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = state.logits.iter().zip(&expected[pos]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(
            worst <= tolerance * scale,
            "{formats:?} tied={tied} position {pos}: off by {worst} (logits up to {scale})"
        );
    }
}

#[test]
fn f32_forward_matches_the_naive_reference() {
    check([DType::F32; 9], false, 1e-4, &Serial);
    check([DType::F32; 9], true, 1e-4, &Threads(3));
}

#[test]
fn quantized_forward_matches_the_naive_reference_on_the_same_weights() {
    use DType::*;
    // Only the on-the-fly 8-bit activations separate engine and reference here.
    check([F16, Q4K, Q6K, Q8_0, Q4_0, Q4K, Q6K, Q4K, Q6K], false, 0.03, &Serial);
    check([Q8_0, Q4_0, Q8_0, Q6K, Q4K, Q8_0, Q4_0, Q6K, Q8_0], true, 0.03, &Threads(2));
}

#[test]
fn memory_estimate_comes_from_the_header_alone() {
    let file = model_file([DType::Q4K; 9], false);
    let full = Gguf::parse(&file).unwrap();
    let header = Gguf::parse_header(&file[..full.data_offset]).unwrap();
    assert_eq!(header.file_size(), file.len());
    let config = Config::from_gguf(&header).unwrap();
    let estimate = memory_estimate(&header, CONTEXT).unwrap();
    assert_eq!(estimate, memory_estimate(&full, CONTEXT).unwrap());
    let kv_cache = 2 * LAYERS * CONTEXT * config.kv_dim() * 4;
    assert!(estimate >= full.weight_bytes() + kv_cache, "{estimate}");
    // Besides weights and KV cache: per-token buffers for a prompt batch, then small scratch.
    let widest = config.hidden_dim.max(config.dim);
    let batch = MAX_BATCH * (4 * (4 * config.dim + 3 * widest + 2 * config.kv_dim()) + 2 * widest);
    assert!(estimate < full.weight_bytes() + kv_cache + batch + 64 * 1024, "{estimate}");
    // A longer context costs more, capped at the model's maximum.
    assert!(memory_estimate(&header, 8).unwrap() < estimate);
    assert_eq!(memory_estimate(&header, 1 << 30).unwrap(), estimate);
}

/// A prompt run in batches (crossing a batch boundary, with a partial last batch) leaves
/// the same logits, bit for bit, as running it one token at a time; so does the position
/// after it, which reads the batch-written KV cache.
#[test]
fn batched_prompt_equals_token_by_token_bit_for_bit() {
    let file = model_file(
        [
            DType::Q8_0,
            DType::Q4_0,
            DType::Q4K,
            DType::Q6K,
            DType::Q8_0,
            DType::F32,
            DType::Q4_0,
            DType::Q8_0,
            DType::Q6K,
        ],
        false,
    );
    let gguf = Gguf::parse(&file).unwrap();
    let config = Config::from_gguf(&gguf).unwrap();
    let model = Model { weights: Weights::from_gguf(&gguf, &config).unwrap(), config };
    let prompt: Vec<u32> = (0..MAX_BATCH as u32 + 5).map(|i| (i * 7 + 3) % VOCAB as u32).collect();
    let mut single = State::new(&model.config, CONTEXT);
    for (pos, &token) in prompt.iter().enumerate() {
        model.forward(&mut single, token as usize, pos, &Serial).unwrap();
    }
    let mut batched = State::new(&model.config, CONTEXT);
    for (i, batch) in prompt.chunks(MAX_BATCH).enumerate() {
        model.forward_batch(&mut batched, batch, i * MAX_BATCH, &Threads(3)).unwrap();
    }
    let bits = |s: &State| s.logits.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&single), bits(&batched));
    model.forward(&mut single, 5, prompt.len(), &Serial).unwrap();
    model.forward(&mut batched, 5, prompt.len(), &Serial).unwrap();
    assert_eq!(bits(&single), bits(&batched));
    // Bad batches are errors.
    assert!(model.forward_batch(&mut batched, &[], 0, &Serial).is_err());
    assert!(model.forward_batch(&mut batched, &[1; MAX_BATCH + 1], 0, &Serial).is_err());
    assert!(model.forward_batch(&mut batched, &[1, VOCAB as u32], 0, &Serial).is_err());
    assert!(model.forward_batch(&mut batched, &[1, 2], CONTEXT - 1, &Serial).is_err());
}
