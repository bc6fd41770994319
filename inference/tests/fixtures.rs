//! End-to-end checks against real model files this project did not produce
//! (`../shared/fixtures`, see its README); a missing one follows `testkit`'s require rule.

use inference::{
    generate::{generate, Control, Finish},
    gguf::Gguf,
    llama2c,
    model::{memory_estimate, Config, Model, State, Weights},
    quant::{DType, Serial},
    sampler::{Sampler, Settings},
    tokenizer::Tokenizer,
};

use testkit::fixture;

/// llama2.c's `run stories260K.bin -z tok512.bin -t 0 -n 200` output (run.c built from
/// karpathy/llama2.c and run on this fixture; its trailing newline is run.c's own).
const LLAMA2C_GREEDY_200: &str = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\nLily didn't want to help her mom, so she";

#[test]
fn stories260k_greedy_text_matches_llama2c_byte_for_byte() {
    let (Some(model_bytes), Some(tok_bytes)) = (fixture("llama2c/stories260K.bin"), fixture("llama2c/tok512.bin"))
    else {
        return;
    };
    let (config, weights) = llama2c::load(&model_bytes).expect("checkpoint loads");
    assert_eq!(
        (config.dim, config.hidden_dim, config.n_layers, config.n_heads, config.n_kv_heads, config.vocab_size),
        (64, 172, 5, 8, 4, 512)
    );
    let tokenizer = Tokenizer::from_llama2c(&tok_bytes, config.vocab_size).expect("tokenizer loads");
    let model = Model { config, weights };
    let mut state = State::new(&model.config, 512);
    let mut sampler = Sampler::new(Settings::default());
    let mut streamed = String::new();
    let out = generate(&model, &tokenizer, &mut state, &[tokenizer.bos], 200, &mut sampler, &Serial, |_, text| {
        streamed.push_str(text);
        Control::Continue
    })
    .expect("generation runs");
    assert_eq!(out.text, LLAMA2C_GREEDY_200);
    assert_eq!((out.tokens.len(), out.finish), (200, Finish::Length));
    assert_eq!(streamed, out.text, "streamed pieces must add up to the text");
    // The prompt path: encoding and continuing a prompt gives the same story.
    let prompt = tokenizer.encode("Once upon a time", true);
    let mut state = State::new(&model.config, 256);
    let mut sampler = Sampler::new(Settings::default());
    let cont = generate(&model, &tokenizer, &mut state, &prompt, 100, &mut sampler, &Serial, |_, _| Control::Continue)
        .unwrap();
    let continued = format!("Once upon a time{}", cont.text);
    assert!(LLAMA2C_GREEDY_200.starts_with(&continued), "{continued:?}");
    // A continuation keeps its leading space.
    let prompt = tokenizer.encode("Once upon a time, there was", true);
    let mut state = State::new(&model.config, 64);
    let cont = generate(
        &model,
        &tokenizer,
        &mut state,
        &prompt,
        8,
        &mut Sampler::new(Settings::default()),
        &Serial,
        |_, _| Control::Continue,
    )
    .unwrap();
    assert!(cont.text.starts_with(" a little girl"), "{:?}", cont.text);
    // A full context ends generation: positions 1..9 take generated tokens, the tenth is
    // sampled from the last position's logits.
    let mut state = State::new(&model.config, 10);
    let full = generate(
        &model,
        &tokenizer,
        &mut state,
        &[tokenizer.bos],
        100,
        &mut Sampler::new(Settings::default()),
        &Serial,
        |_, _| Control::Continue,
    )
    .unwrap();
    assert_eq!((full.finish, full.tokens.len()), (Finish::Context, 10));
    assert!(LLAMA2C_GREEDY_200.starts_with(&full.text));
    // Cancellation after three tokens.
    let mut state = State::new(&model.config, 256);
    let mut count = 0;
    let stopped = generate(
        &model,
        &tokenizer,
        &mut state,
        &[tokenizer.bos],
        50,
        &mut Sampler::new(Settings::default()),
        &Serial,
        |_, _| {
            count += 1;
            if count == 3 {
                Control::Stop
            } else {
                Control::Continue
            }
        },
    )
    .unwrap();
    assert_eq!((stopped.finish, stopped.tokens.len()), (Finish::Stopped, 3));
}

#[test]
fn stories260k_quantized_to_q8_0_stays_on_the_story() {
    // Re-quantize every 2-D weight to Q8_0 and check greedy text still starts the same:
    // exercises the integer kernels on a real model.
    let (Some(model_bytes), Some(tok_bytes)) = (fixture("llama2c/stories260K.bin"), fixture("llama2c/tok512.bin"))
    else {
        return;
    };
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
            qkv_bias: None,
        });
        i += 6;
    }
    let model = Model { config, weights: Weights { layers, ..weights } };
    let mut state = State::new(&model.config, 128);
    let out = generate(
        &model,
        &tokenizer,
        &mut state,
        &[tokenizer.bos],
        12,
        &mut Sampler::new(Settings::default()),
        &Serial,
        |_, _| Control::Continue,
    )
    .unwrap();
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
    let out = generate(
        &model,
        &tokenizer,
        &mut state,
        &prompt,
        4,
        &mut Sampler::new(Settings::default()),
        &Serial,
        |_, _| Control::Continue,
    )
    .unwrap();
    assert!(state.logits.iter().all(|l| l.is_finite()));
    assert!(out.tokens.len() <= 4);
    let estimate = memory_estimate(&gguf, 2048).unwrap();
    assert!(estimate > gguf.weight_bytes(), "estimate includes the KV cache");
}

/// Ids from the `sentencepiece` Python package (0.2.x) running a BPE `ModelProto` built from
/// this fixture's vocabulary (pieces, scores, types; byte fallback, dummy prefix, identity
/// normalizer, as Llama 2's `tokenizer.model`), with BOS prepended.
const SENTENCEPIECE_IDS: &[(&str, &[u32])] = &[
    ("Hello world", &[1, 15043, 3186]),
    ("Hello, world!", &[1, 15043, 29892, 3186, 29991]),
    ("", &[1]),
    (" leading space", &[1, 29871, 8236, 2913]),
    ("trailing space ", &[1, 25053, 2913, 29871]),
    ("two  spaces", &[1, 1023, 29871, 8162]),
    ("tab\tand\nnewline", &[1, 4434, 12, 392, 13, 1482, 1220]),
    ("Ünïcødé text", &[1, 7189, 29876, 30085, 29883, 30077, 29881, 29948, 1426]),
    ("数学", &[1, 29871, 30354, 30415]),
    ("🦙 llama", &[1, 29871, 243, 162, 169, 156, 11148, 3304]),
    (
        "The quick brown fox jumps over the lazy dog.",
        &[1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203, 29889],
    ),
    ("I'm sure you'd've done it", &[1, 306, 29915, 29885, 1854, 366, 29915, 29881, 29915, 345, 2309, 372]),
    (
        "1234567890 3.14159",
        &[
            1, 29871, 29896, 29906, 29941, 29946, 29945, 29953, 29955, 29947, 29929, 29900, 29871, 29941, 29889, 29896,
            29946, 29896, 29945, 29929,
        ],
    ),
    ("<unk>?", &[1, 529, 2960, 29958, 29973]),
    ("naïve café résumé", &[1, 1055, 30085, 345, 274, 28059, 6896, 398, 29948]),
    ("Once upon a time", &[1, 9038, 2501, 263, 931]),
    ("\n\n\n", &[1, 29871, 13, 13, 13]),
    ("  ", &[1, 1678]),
    ("x = f(y) + g[z]; // comment", &[1, 921, 353, 285, 29898, 29891, 29897, 718, 330, 29961, 29920, 1385, 849, 3440]),
    ("Привет, мир", &[1, 7203, 7616, 29892, 4157, 29927]),
    ("こんにちは世界", &[1, 29871, 30589, 30389, 30353, 30644, 30449, 30793, 30967]),
    ("a b", &[1, 263, 30081, 29890]),
];

#[test]
fn llama2_tokenizer_matches_sentencepiece() {
    let Some(bytes) = fixture("gguf/llama-2-tiny-random.gguf") else { return };
    let gguf = Gguf::parse(&bytes).unwrap();
    let t = Tokenizer::from_gguf(&gguf).unwrap();
    assert_eq!((t.len(), t.bos, t.eos, t.unknown, t.add_bos), (32000, 1, 2, 0, true));
    for (text, ids) in SENTENCEPIECE_IDS {
        assert_eq!(t.encode(text, true), *ids, "encoding {text:?}");
        assert_eq!(t.decode(ids), *text, "decoding {text:?}");
    }
    // Control tokens written in the text become their ids (llama.cpp's parse_special), and
    // the text after them gets the dummy prefix again.
    assert_eq!(t.encode("Hi</s>Hi", true), [1, 6324, 2, 6324]);
    let chat = t.encode(&inference::chat::zephyr(&[(inference::chat::Role::User, "Hi")]), true);
    assert_eq!(chat.iter().filter(|&&id| id == 2).count(), 1, "{chat:?}");
    // Streaming: the llama emoji arrives as four byte tokens and comes out whole.
    let ids = t.encode("🦙", false);
    let mut decoder = inference::tokenizer::Decoder::new();
    let pieces: Vec<String> = ids.iter().map(|&id| decoder.push(&t, id)).collect();
    assert_eq!(pieces.concat(), "🦙");
    assert_eq!(pieces.last().map(String::as_str), Some("🦙"), "held back until complete: {pieces:?}");
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
    // Byte flips in the first 4 KiB (header, metadata, start of the vocabulary) and the
    // last 2 KiB of the header (tensor infos): errors or a changed but valid file, never a
    // panic, also in the shape, weight and tokenizer readers behind the parser.
    let data_offset = Gguf::parse(&bytes).unwrap().data_offset;
    let regions = [0..4096.min(data_offset), data_offset.saturating_sub(2048)..data_offset];
    let mut rng = testkit::Rng::new(0x1234_5678);
    let mut copy = bytes.clone();
    for round in 0..1500 {
        let region = &regions[round % 2];
        let at = region.start + rng.below(region.len());
        copy[at] = rng.byte();
        if let Ok(gguf) = Gguf::parse(&copy) {
            if let Ok(config) = Config::from_gguf(&gguf) {
                if let Ok(weights) = Weights::from_gguf(&gguf, &config) {
                    let model = Model { config, weights };
                    let _ = model.forward(&mut State::new(&model.config, 4), 1, 0, &Serial);
                }
            }
            // Building the 32000-token vocabulary is the slow part: every tenth round.
            if round % 10 == 0 {
                if let Ok(tokenizer) = Tokenizer::from_gguf(&gguf) {
                    let _ = tokenizer.decode(&tokenizer.encode("Hello <s> wörld</s>", true));
                }
            }
        }
        copy[at] = bytes[at];
    }
    assert!(Gguf::parse(b"GGUF").is_err());
    assert!(Gguf::parse(b"NOPE\x03\0\0\0").is_err());
}

#[test]
fn stories260k_imported_to_gguf_generates_the_same_story() {
    let (Some(model_bytes), Some(tok_bytes)) = (fixture("llama2c/stories260K.bin"), fixture("llama2c/tok512.bin"))
    else {
        return;
    };
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
        let out = generate(
            &model,
            &tokenizer,
            &mut state,
            &[1],
            tokens,
            &mut Sampler::new(Settings::default()),
            &Serial,
            |_, _| Control::Continue,
        )
        .unwrap();
        assert!(out.text.starts_with("Once upon a time, there was a little girl"), "{quant:?}: {:?}", out.text);
    }
}

#[test]
fn truncated_or_corrupt_llama2c_checkpoints_are_errors() {
    let Some(bytes) = fixture("llama2c/stories260K.bin") else { return };
    for cut in (0..bytes.len()).step_by(4099).chain([0, 27, 28, bytes.len() - 1]) {
        assert!(llama2c::load(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    for (field, value) in [(0, 0i32), (3, 7), (4, 3), (2, -1), (5, 0), (6, 0), (0, i32::MAX)] {
        let mut copy = bytes.clone();
        copy[field * 4..field * 4 + 4].copy_from_slice(&value.to_le_bytes());
        assert!(llama2c::load(&copy).is_err(), "header field {field} = {value}");
    }
}
