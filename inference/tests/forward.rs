//! The forward pass against an independent, straightforward f32 Llama written here with
//! naive loops, on small GGUF models with grouped-query attention, a non-default RoPE base,
//! separate or tied classifier, and every weight format (F32, F16, Q8_0, Q4_0, Q4_K, Q6_K).

use inference::{
    gguf::Gguf,
    model::{memory_estimate, Config, Model, State, Weights, MAX_BATCH},
    quant::{self, DType, Parallel, Serial},
    synthetic::{self, Role, Shape},
    writer::Writer,
};

const SHAPE: Shape = Shape {
    dim: 256,
    hidden: 512,
    layers: 2,
    heads: 8,
    kv_heads: 2,
    vocab: 48,
    context: 32,
    rope_base: 5000.0,
    eps: 1e-5,
};
const DIM: usize = SHAPE.dim;
const LAYERS: usize = SHAPE.layers;
const HEADS: usize = SHAPE.heads;
const KV_HEADS: usize = SHAPE.kv_heads;
const VOCAB: usize = SHAPE.vocab;
const CONTEXT: usize = SHAPE.context;
const ROPE_BASE: f32 = SHAPE.rope_base;
const EPS: f32 = SHAPE.eps;

fn values(rng: &mut testkit::Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.unit() * scale).collect()
}

/// Formats per weight kind: (embedding, q, k, v, o, gate, up, down, output).
type Formats = [DType; 9];

fn model_file(formats: Formats, tied: bool) -> Vec<u8> {
    let mut rng = testkit::Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut w = Writer::new();
    synthetic::metadata(&mut w, &SHAPE);
    for spec in synthetic::tensors(&SHAPE, tied) {
        let (dtype, scale) = match spec.role {
            Role::Embedding => (formats[0], 1.0),
            Role::Norm => (DType::F32, 1.0),
            Role::Query => (formats[1], 0.15),
            Role::Key => (formats[2], 0.15),
            Role::Value => (formats[3], 0.15),
            Role::AttentionOutput => (formats[4], 0.1),
            Role::Gate => (formats[5], 0.1),
            Role::Up => (formats[6], 0.1),
            Role::Down => (formats[7], 0.1),
            Role::Classifier => (formats[8], 0.2),
            Role::Bias => (DType::F32, 0.1),
        };
        let values = values(&mut rng, spec.rows * spec.cols, scale);
        w.tensor(&spec.name, &spec.dims(), dtype, quant::quantize(dtype, &values));
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
