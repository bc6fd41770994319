//! Deterministic fuzzing of everything that reads a GGUF file: 40 000 mutations of small
//! valid files (a whole model with a tokenizer, and a K-quant tensor table) must give
//! values or errors, never a panic. The same checks run under cargo-fuzz
//! (`inference/fuzz`, nightly); this test keeps them in `cargo xtask test`.
//! `KINGLY_FUZZ_RUNS` sets the number of mutations, `KINGLY_FUZZ_CORPUS` a directory to
//! write the seeds to (cargo-fuzz's starting corpus).

#[path = "support/exercise.rs"]
mod exercise;

use inference::{
    gguf::Gguf,
    quant::{self, f32_to_f16, DType},
    writer::{Meta, Writer},
};

use testkit::Rng;

fn floats(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.unit()).collect()
}

/// A one-layer Llama (dim 64, 4 heads over 2 KV heads) with every 32-block format and a
/// small vocabulary with control, byte and merge pieces.
fn model_seed() -> Vec<u8> {
    let mut rng = Rng::new(7);
    let (dim, hidden, kv) = (64usize, 96usize, 32usize);
    let mut pieces: Vec<String> = ["<unk>", "<s>", "</s>"].iter().map(|s| s.to_string()).collect();
    pieces.extend((0..16).map(|b| format!("<0x{:02X}>", b * 16)));
    pieces.extend(
        ["▁", "H", "e", "l", "o", "▁H", "ll", "llo", "▁Hello", "w", "ö", "r", "d", "日", "本"]
            .iter()
            .map(|s| s.to_string()),
    );
    let vocab = pieces.len();
    let scores: Vec<f32> = (0..vocab).map(|i| -(i as f32)).collect();
    let types: Vec<i32> = (0..vocab)
        .map(|i| match i {
            0 => 2,
            1 | 2 => 3,
            3..=18 => 6,
            _ => 1,
        })
        .collect();
    let mut w = Writer::new();
    w.meta("general.architecture", Meta::Str("llama".into()));
    w.meta("llama.context_length", Meta::U32(16));
    w.meta("llama.embedding_length", Meta::U32(dim as u32));
    w.meta("llama.block_count", Meta::U32(1));
    w.meta("llama.feed_forward_length", Meta::U32(hidden as u32));
    w.meta("llama.attention.head_count", Meta::U32(4));
    w.meta("llama.attention.head_count_kv", Meta::U32(2));
    w.meta("llama.rope.dimension_count", Meta::U32(16));
    w.meta("llama.attention.layer_norm_rms_epsilon", Meta::F32(1e-5));
    w.meta("tokenizer.ggml.model", Meta::Str("llama".into()));
    w.meta("tokenizer.ggml.tokens", Meta::Strings(pieces));
    w.meta("tokenizer.ggml.scores", Meta::F32s(scores));
    w.meta("tokenizer.ggml.token_type", Meta::I32s(types));
    w.meta("tokenizer.ggml.bos_token_id", Meta::U32(1));
    w.meta("tokenizer.ggml.add_bos_token", Meta::Bool(true));
    let mut add = |name: &str, dtype: DType, rows: usize, cols: usize| {
        let values = floats(&mut rng, rows * cols);
        let data = match dtype {
            DType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::F16 => values.iter().flat_map(|v| f32_to_f16(*v).to_le_bytes()).collect(),
            DType::Q8_0 => quant::quantize_q8_0(&values),
            _ => quant::quantize_q4_0(&values),
        };
        let dims: Vec<u64> = if rows == 1 { vec![cols as u64] } else { vec![cols as u64, rows as u64] };
        w.tensor(name, &dims, dtype, data);
    };
    add("token_embd.weight", DType::F16, vocab, dim);
    add("blk.0.attn_norm.weight", DType::F32, 1, dim);
    add("blk.0.attn_q.weight", DType::Q8_0, dim, dim);
    add("blk.0.attn_k.weight", DType::Q4_0, kv, dim);
    add("blk.0.attn_v.weight", DType::F16, kv, dim);
    add("blk.0.attn_output.weight", DType::F32, dim, dim);
    add("blk.0.ffn_norm.weight", DType::F32, 1, dim);
    add("blk.0.ffn_gate.weight", DType::Q4_0, hidden, dim);
    add("blk.0.ffn_up.weight", DType::Q8_0, hidden, dim);
    add("blk.0.ffn_down.weight", DType::Q8_0, dim, hidden);
    add("output_norm.weight", DType::F32, 1, dim);
    add("output.weight", DType::Q8_0, vocab, dim);
    w.to_bytes()
}

/// A tensor table with the K-quant formats (not a whole model).
fn k_quant_seed() -> Vec<u8> {
    let mut rng = Rng::new(11);
    let mut w = Writer::new();
    w.meta("general.architecture", Meta::Str("llama".into()));
    w.meta("general.alignment", Meta::U32(64));
    w.tensor("a", &[256, 2], DType::Q4K, quant::quantize_q4_k(&floats(&mut rng, 512)));
    w.tensor("b", &[256], DType::Q6K, quant::quantize_q6_k(&floats(&mut rng, 256)));
    w.to_bytes()
}

const INTERESTING: [u64; 10] = [0, 1, 2, 3, 255, 0x7fff_ffff, 0xffff_ffff, 1 << 32, u64::MAX, u64::MAX / 2];

/// Applies one to four random mutations, mostly within the header, where the counts,
/// lengths, types and offsets are.
fn mutate(file: &[u8], header_end: usize, rng: &mut Rng) -> Vec<u8> {
    let mut m = file.to_vec();
    for _ in 0..rng.below(4) + 1 {
        let limit = if rng.below(5) == 0 { m.len() } else { header_end.min(m.len()) };
        let at = rng.below(limit + 1);
        match rng.below(7) {
            0 => m.truncate(at),
            1 if at < m.len() => m[at] = rng.byte(),
            2 => m.insert(at, rng.byte()),
            3 if at < m.len() => {
                m.remove(at);
            }
            4 => {
                let end = (at + rng.below(64)).min(m.len());
                let chunk = m[at..end].to_vec();
                m.splice(at..at, chunk);
            }
            5 if at + 8 <= m.len() => {
                let value = INTERESTING[rng.below(INTERESTING.len())];
                m[at..at + 8].copy_from_slice(&value.to_le_bytes());
            }
            _ if at + 4 <= m.len() => {
                let value = INTERESTING[rng.below(INTERESTING.len())] as u32;
                m[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            _ => {}
        }
    }
    m
}

#[test]
fn mutated_gguf_files_never_panic() {
    let seeds: Vec<(Vec<u8>, usize)> = [model_seed(), k_quant_seed()]
        .into_iter()
        .map(|bytes| {
            let header_end = Gguf::parse(&bytes).expect("seed parses").data_offset;
            exercise::gguf(&bytes);
            (bytes, header_end)
        })
        .collect();
    // KINGLY_FUZZ_CORPUS=inference/fuzz/corpus/gguf writes the seeds for cargo-fuzz.
    if let Some(dir) = std::env::var_os("KINGLY_FUZZ_CORPUS") {
        std::fs::create_dir_all(&dir).unwrap();
        for (i, (bytes, _)) in seeds.iter().enumerate() {
            std::fs::write(std::path::Path::new(&dir).join(format!("seed-{i}.gguf")), bytes).unwrap();
        }
    }
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    // KINGLY_FUZZ_RUNS=1000000 for a longer search.
    let runs = std::env::var("KINGLY_FUZZ_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(40_000);
    let mut reached = std::collections::BTreeMap::<exercise::Reached, usize>::new();
    for _ in 0..runs {
        let (seed, header_end) = &seeds[rng.below(seeds.len())];
        let input = mutate(seed, *header_end, &mut rng);
        *reached.entry(exercise::gguf(&input)).or_default() += 1;
    }
    eprintln!("{runs} mutated GGUF files, no panic; how far they got: {reached:?}");
    // Most mutations are refused, but enough must get through that the code after the
    // parser (tokenizer, shape, weights, forward step) is exercised on corrupt files too.
    for stage in [exercise::Reached::Parsed, exercise::Reached::Tokenizer, exercise::Reached::Forward] {
        assert!(reached.get(&stage).copied().unwrap_or(0) > runs / 200, "only {reached:?} got past the parser");
    }
}
