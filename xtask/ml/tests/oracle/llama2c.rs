//! stories260K against candle-transformers' `llama2_c` model. The checkpoint is read here
//! with a reader of its own (candle's `llama2_c_weights` assumes as many KV heads as
//! heads and fails on this 4-KV-head model), the tensors go to candle's model by name, and
//! candle's tokens are decoded with a decoder of its own too: nothing of `inference` is on
//! candle's side.

use crate::common::{fixture, max_abs_diff};
use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama2_c::{Cache, Config, Llama};
use inference::{
    model::{Model, State},
    quant::Serial,
};
use std::collections::HashMap;

/// llama2.c's `run stories260K.bin -z tok512.bin -t 0 -n 200` (the same reference text
/// `inference/tests/fixtures.rs` holds).
const LLAMA2C_GREEDY_200: &str = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\nLily didn't want to help her mom, so she";

/// run.c's checkpoint layout, read into candle tensors under the names `llama2_c` wants.
fn candle_llama(bytes: &[u8]) -> (Config, Llama, Cache) {
    let header: Vec<i32> = bytes[..28].chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap())).collect();
    let [dim, hidden, layers, heads, kv_heads, vocab, seq_len] = header[..] else { unreachable!() };
    let (dim, hidden, layers, heads, kv_heads, seq_len) =
        (dim as usize, hidden as usize, layers as usize, heads as usize, kv_heads as usize, seq_len as usize);
    let (shared, vocab) = (vocab > 0, vocab.unsigned_abs() as usize);
    let (head, kv_dim) = (dim / heads, dim / heads * kv_heads);
    let floats: Vec<f32> = bytes[28..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let mut at = 0;
    let mut take = |shape: &[usize]| {
        let n: usize = shape.iter().product();
        let t = Tensor::from_vec(floats[at..at + n].to_vec(), shape, &Device::Cpu).unwrap();
        at += n;
        t
    };
    let embedding = take(&[vocab, dim]);
    let attn_norm = take(&[layers, dim]);
    let wq = take(&[layers, dim, dim]);
    let wk = take(&[layers, kv_dim, dim]);
    let wv = take(&[layers, kv_dim, dim]);
    let wo = take(&[layers, dim, dim]);
    let ffn_norm = take(&[layers, dim]);
    let w1 = take(&[layers, hidden, dim]);
    let w2 = take(&[layers, dim, hidden]);
    let w3 = take(&[layers, hidden, dim]);
    let final_norm = take(&[dim]);
    // The checkpoint's own RoPE tables, which candle's cache uses when present.
    let freq_real = take(&[seq_len, head / 2]);
    let freq_imag = take(&[seq_len, head / 2]);
    let classifier = if shared { embedding.clone() } else { take(&[vocab, dim]) };
    let mut ws = HashMap::new();
    ws.insert("rot.freq_cis_real".to_string(), freq_real);
    ws.insert("rot.freq_cis_imag".to_string(), freq_imag);
    ws.insert("model.embed_tokens.weight".to_string(), embedding);
    ws.insert("lm_head.weight".to_string(), classifier);
    ws.insert("model.norm.weight".to_string(), final_norm);
    for l in 0..layers {
        let p = |name: &str| format!("model.layers.{l}.{name}.weight");
        ws.insert(p("self_attn.q_proj"), wq.i(l).unwrap());
        ws.insert(p("self_attn.k_proj"), wk.i(l).unwrap());
        ws.insert(p("self_attn.v_proj"), wv.i(l).unwrap());
        ws.insert(p("self_attn.o_proj"), wo.i(l).unwrap());
        ws.insert(p("mlp.gate_proj"), w1.i(l).unwrap());
        ws.insert(p("mlp.down_proj"), w2.i(l).unwrap());
        ws.insert(p("mlp.up_proj"), w3.i(l).unwrap());
        ws.insert(p("input_layernorm"), attn_norm.i(l).unwrap());
        ws.insert(p("post_attention_layernorm"), ffn_norm.i(l).unwrap());
    }
    let config = Config {
        dim,
        hidden_dim: hidden,
        n_layers: layers,
        n_heads: heads,
        n_kv_heads: kv_heads,
        vocab_size: vocab,
        seq_len,
        norm_eps: 1e-5,
    };
    let vb = VarBuilder::from_tensors(ws, DType::F32, &Device::Cpu);
    let cache = Cache::new(true, &config, vb.pp("rot")).unwrap();
    let model = Llama::load(vb, config.clone()).unwrap();
    (config, model, cache)
}

/// llama2.c's `decode`: the piece's text, the leading space dropped after BOS, `<0xNN>`
/// pieces as their byte.
fn decode(tokenizer: &[u8], vocab: usize, ids: &[u32]) -> String {
    let mut pieces = Vec::new();
    let mut at = 4;
    for _ in 0..vocab {
        let len = i32::from_le_bytes(tokenizer[at + 4..at + 8].try_into().unwrap()) as usize;
        pieces.push(tokenizer[at + 8..at + 8 + len].to_vec());
        at += 8 + len;
    }
    let mut out = Vec::new();
    let mut previous = 1;
    for &id in ids {
        let mut piece = &pieces[id as usize][..];
        if previous == 1 && piece.first() == Some(&b' ') {
            piece = &piece[1..];
        }
        let text = std::str::from_utf8(piece).unwrap_or("");
        match text.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')).and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) => out.push(byte),
            None => out.extend_from_slice(piece),
        }
        previous = id;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn argmax(v: &[f32]) -> u32 {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0
        as u32
}

#[test]
fn stories260k_greedy_matches_candle_llama2_c() {
    let (Some(checkpoint), Some(tokenizer)) = (fixture("llama2c/stories260K.bin"), fixture("llama2c/tok512.bin"))
    else {
        return;
    };
    let (config, candle, mut cache) = candle_llama(&checkpoint);
    let (our_config, weights) = inference::llama2c::load(&checkpoint).unwrap();
    let ours = Model { config: our_config, weights };
    let mut state = State::new(&ours.config, config.seq_len);
    let (mut ours_next, mut candle_next) = (1u32, 1u32);
    let (mut ours_ids, mut candle_ids, mut worst) = (Vec::new(), Vec::new(), 0.0f32);
    for position in 0..200 {
        ours.forward(&mut state, ours_next as usize, position, &Serial).unwrap();
        let input = Tensor::new(&[[candle_next]], &Device::Cpu).unwrap();
        let logits: Vec<f32> =
            candle.forward(&input, position, &mut cache).unwrap().i((0, 0)).unwrap().to_vec1().unwrap();
        worst = worst.max(max_abs_diff(&state.logits, &logits).0);
        ours_next = argmax(&state.logits);
        candle_next = argmax(&logits);
        ours_ids.push(ours_next);
        candle_ids.push(candle_next);
    }
    eprintln!("stories260K vs candle llama2_c: 200 greedy tokens, max |logit difference| {worst:.2e}");
    assert_eq!(ours_ids, candle_ids, "greedy tokens differ from candle's llama2_c");
    assert!(worst < 1e-3, "logits differ by {worst}");
    let text = decode(&tokenizer, config.vocab_size, &candle_ids);
    assert_eq!(text, LLAMA2C_GREEDY_200, "candle's story differs from llama2.c's");
    assert!(text
        .starts_with("Once upon a time, there was a little girl named Lily. She loved to play outside in the park."));
}
