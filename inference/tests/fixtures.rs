//! End-to-end checks against real model files this project did not produce
//! (`../shared/fixtures`, see its README). Skipped with a message when absent.

use inference::{
    generate::{generate, Control, Finish},
    gguf::Gguf,
    llama2c,
    model::{memory_estimate, Config, Model, State, Weights},
    quant::{DType, Serial},
    sampler::{Sampler, Settings},
    tokenizer::Tokenizer,
};

fn fixture(path: &str) -> Option<Vec<u8>> {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/").to_string() + path;
    match std::fs::read(&full) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            eprintln!("skipping: {full} not present (../shared/fixtures is outside the repository)");
            None
        }
    }
}

#[test]
fn stories260k_greedy_text_is_the_known_story() {
    let (Some(model_bytes), Some(tok_bytes)) = (fixture("llama2c/stories260K.bin"), fixture("llama2c/tok512.bin")) else { return };
    let (config, weights) = llama2c::load(&model_bytes).expect("checkpoint loads");
    assert_eq!((config.dim, config.hidden_dim, config.n_layers, config.n_heads, config.n_kv_heads, config.vocab_size), (64, 172, 5, 8, 4, 512));
    let tokenizer = Tokenizer::from_llama2c(&tok_bytes, config.vocab_size).expect("tokenizer loads");
    let model = Model { config, weights };
    let mut state = State::new(&model.config, 256);
    let mut sampler = Sampler::new(Settings::default());
    let mut streamed = String::new();
    let out = generate(&model, &tokenizer, &mut state, &[tokenizer.bos], 60, &mut sampler, &Serial, |_, text| {
        streamed.push_str(text);
        Control::Continue
    })
    .expect("generation runs");
    assert!(
        out.text.starts_with("Once upon a time, there was a little girl named Lily"),
        "unexpected greedy text: {:?}",
        out.text
    );
    assert_eq!(streamed, out.text, "streamed pieces must add up to the text");
    // The prompt path: encoding and continuing a prompt gives the same story.
    let prompt = tokenizer.encode("Once upon a time", true);
    let mut state = State::new(&model.config, 256);
    let mut sampler = Sampler::new(Settings::default());
    let cont = generate(&model, &tokenizer, &mut state, &prompt, 8, &mut sampler, &Serial, |_, _| Control::Continue).unwrap();
    assert!(cont.text.starts_with(", there was a little girl"), "{:?}", cont.text);
    // Cancellation after three tokens.
    let mut state = State::new(&model.config, 256);
    let mut count = 0;
    let stopped = generate(&model, &tokenizer, &mut state, &[tokenizer.bos], 50, &mut Sampler::new(Settings::default()), &Serial, |_, _| {
        count += 1;
        if count == 3 { Control::Stop } else { Control::Continue }
    })
    .unwrap();
    assert_eq!((stopped.finish, stopped.tokens.len()), (Finish::Stopped, 3));
}

#[test]
fn stories260k_quantized_to_q8_0_stays_on_the_story() {
    // Re-quantize every 2-D weight to Q8_0 and check greedy text still starts the same:
    // exercises the integer kernels on a real model.
    let (Some(model_bytes), Some(tok_bytes)) = (fixture("llama2c/stories260K.bin"), fixture("llama2c/tok512.bin")) else { return };
    let (config, weights) = llama2c::load(&model_bytes).unwrap();
    let tokenizer = Tokenizer::from_llama2c(&tok_bytes, config.vocab_size).unwrap();
    let to_f32 = |t: &inference::quant::Tensor<'_>| -> Vec<f32> {
        let mut all = vec![0.0; t.rows * t.cols];
        for r in 0..t.rows {
            t.dequantize_row(r, &mut all[r * t.cols..(r + 1) * t.cols]);
        }
        all
    };
    let mut buffers: Vec<Vec<u8>> = Vec::new();
    let mut shapes = Vec::new();
    for layer in &weights.layers {
        for t in [&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.w_gate, &layer.w_up] {
            buffers.push(inference::quant::quantize_q8_0(&to_f32(t)));
            shapes.push((t.rows, t.cols));
        }
    }
    let mut layers = Vec::new();
    let mut i = 0;
    for layer in &weights.layers {
        let q = |i: usize| inference::quant::Tensor::new(DType::Q8_0, shapes[i].0, shapes[i].1, &buffers[i]).unwrap();
        layers.push(inference::model::Layer {
            attn_norm: layer.attn_norm,
            wq: q(i),
            wk: q(i + 1),
            wv: q(i + 2),
            wo: q(i + 3),
            ffn_norm: layer.ffn_norm,
            w_gate: q(i + 4),
            w_down: layer.w_down, // 172 columns: not whole 32-blocks, stays F32
            w_up: q(i + 5),
        });
        i += 6;
    }
    let model = Model { config, weights: Weights { layers, ..weights } };
    let mut state = State::new(&model.config, 128);
    let out = generate(&model, &tokenizer, &mut state, &[tokenizer.bos], 12, &mut Sampler::new(Settings::default()), &Serial, |_, _| Control::Continue).unwrap();
    assert!(out.text.starts_with("Once upon a time"), "{:?}", out.text);
}

#[test]
fn gguf_from_llama_cpp_parses_and_runs() {
    let Some(bytes) = fixture("gguf/llama-2-tiny-random.gguf") else { return };
    let gguf = Gguf::parse(&bytes).expect("parses");
    assert_eq!(gguf.version, 3);
    assert_eq!(gguf.architecture(), Some("llama"));
    assert_eq!(gguf.strings("tokenizer.ggml.tokens").unwrap().len(), 32000);
    assert!(gguf.tensors.iter().any(|t| t.dtype == DType::F16));
    let config = Config::from_gguf(&gguf).expect("llama shape");
    assert_eq!(config.vocab_size, 32000);
    let weights = Weights::from_gguf(&gguf, &config).expect("weights");
    let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
    let model = Model { config, weights };
    let mut state = State::new(&model.config, 32);
    let prompt = tokenizer.encode("Hello", true);
    let out = generate(&model, &tokenizer, &mut state, &prompt, 4, &mut Sampler::new(Settings::default()), &Serial, |_, _| Control::Continue).unwrap();
    assert!(state.logits.iter().all(|l| l.is_finite()));
    assert!(out.tokens.len() <= 4);
    let estimate = memory_estimate(&gguf, 2048).unwrap();
    assert!(estimate > gguf.weight_bytes(), "estimate includes the KV cache");
}

#[test]
fn llama2_tokenizer_matches_sentencepiece() {
    let Some(bytes) = fixture("gguf/llama-2-tiny-random.gguf") else { return };
    let gguf = Gguf::parse(&bytes).unwrap();
    let t = Tokenizer::from_gguf(&gguf).unwrap();
    // Reference ids from SentencePiece with the Llama 2 model.
    assert_eq!(t.encode("Hello world", true), [1, 15043, 3186]);
    assert_eq!(t.encode("Hello, world!", true), [1, 15043, 29892, 3186, 29991]);
    assert_eq!(t.encode("", true), [1]);
    // Byte fallback for a character outside the vocabulary, and decoding it back.
    let llama = t.encode("🦙", false);
    assert_eq!(llama, [29871, 243, 162, 169, 156]);
    assert_eq!(t.decode(&llama), " 🦙".trim_start().to_string().replace("🦙", "🦙"));
    // Control tokens written in the text.
    let chat = t.encode("<|user|>\nHi</s>", true);
    assert_eq!(*chat.last().unwrap(), 2, "{chat:?}");
    for text in ["Hello world", "Ünïcødé text, with  two spaces", "tab\tand\nnewline", "数学"] {
        assert_eq!(t.decode(&t.encode(text, true)), text, "round trip of {text:?}");
    }
}

#[test]
fn corrupt_and_truncated_gguf_files_are_errors_not_panics() {
    let Some(bytes) = fixture("gguf/llama-2-tiny-random.gguf") else { return };
    // Truncation at many offsets (every offset in the header region, then strided).
    let header_end = 200_000.min(bytes.len());
    let mut offsets: Vec<usize> = (0..4096).collect();
    offsets.extend((4096..header_end).step_by(997));
    offsets.extend((header_end..bytes.len()).step_by(65_537));
    for cut in offsets {
        assert!(Gguf::parse(&bytes[..cut]).is_err(), "truncated at {cut} parsed");
    }
    // Byte flips in the header: must not panic (errors or a changed but valid file).
    let mut state = 0x1234_5678u32;
    let mut copy = bytes.clone();
    for _ in 0..3000 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let at = (state as usize) % 4096.min(copy.len());
        copy[at] = (state >> 8) as u8;
        if let Ok(gguf) = Gguf::parse(&copy) {
            if let Ok(config) = Config::from_gguf(&gguf) {
                let _ = Weights::from_gguf(&gguf, &config);
                let _ = Tokenizer::from_gguf(&gguf);
            }
        }
        copy[at] = bytes[at];
    }
    assert!(Gguf::parse(b"GGUF").is_err());
    assert!(Gguf::parse(b"NOPE\x03\0\0\0").is_err());
}

#[test]
fn stories260k_imported_to_gguf_generates_the_same_story() {
    let (Some(model_bytes), Some(tok_bytes)) = (fixture("llama2c/stories260K.bin"), fixture("llama2c/tok512.bin")) else { return };
    for (quant, tokens) in [(llama2c::Quant::F32, 40), (llama2c::Quant::Q8_0, 16)] {
        let file = llama2c::to_gguf(&model_bytes, &tok_bytes, quant).expect("converts");
        let gguf = Gguf::parse(&file).expect("our GGUF parses");
        let config = Config::from_gguf(&gguf).unwrap();
        let model = Model { weights: Weights::from_gguf(&gguf, &config).unwrap(), config };
        let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
        assert_eq!(tokenizer.encode("Once upon a time", true), {
            let t2 = Tokenizer::from_llama2c(&tok_bytes, 512).unwrap();
            t2.encode("Once upon a time", true)
        });
        let mut state = State::new(&model.config, 256);
        let out = generate(&model, &tokenizer, &mut state, &[1], tokens, &mut Sampler::new(Settings::default()), &Serial, |_, _| Control::Continue).unwrap();
        assert!(out.text.starts_with("Once upon a time, there was a little girl"), "{quant:?}: {:?}", out.text);
    }
}
