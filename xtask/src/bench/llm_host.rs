//! `cargo xtask bench llm`: the project's engine on the host against candle's
//! `quantized_llama` and llama.cpp (llama-cpp-python, CPU only) on the same GGUF files and
//! token ids, one thread and all threads, prompt and generation tokens/s, ratios of
//! medians; peak memory of each engine per case.
//!
//! Each measurement is a fresh process that loads the model and prints one JSON line:
//! `xtask llm bench` for the engine, `kingly-ml bench-candle` for candle (so xtask never
//! links candle), `llamacpp_bench.py` in llama.cpp's virtual environment for llama.cpp. A
//! file a peer cannot load shows as "n/a" for that peer instead of stopping the run. candle is built with `-C target-cpu=native` into its own target directory,
//! because it picks its AVX2 kernels at compile time; the engine detects AVX2 at run time.
//! Runs of the two engines alternate (and swap order every round), so machine load affects
//! both alike; every figure is the median over the rounds.
//!
//! Prompts are processed as each engine does it: candle in one batched call, the engine in
//! batches of `inference::model::MAX_BATCH` tokens. Generation is greedy for both.

use super::stats::percentile;
use crate::{pool::Pool, tinyllama, util};
use anyhow::{anyhow, bail, Context, Result};
use inference::{gguf::Gguf, llama2c, tokenizer::Tokenizer};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The engine's limit for TinyLlama-shaped Q4_0 at a full 2048-token context.
const MEMORY_LIMIT_MIB: f64 = 900.0;

/// Text the prompts are cut from (repeated as needed).
const PROMPT_TEXT: &str = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree and wanted to play with it. ";

/// How big a run is.
pub struct Options {
    /// Rounds (each runs every case once per engine).
    pub rounds: usize,
    /// Smaller prompts and generations.
    pub quick: bool,
}

struct Case {
    label: String,
    file: PathBuf,
    prompt: Vec<u32>,
    gen: usize,
    context: usize,
}

/// The engines, in table order.
const ENGINES: [&str; 3] = ["ours", "candle", "llama.cpp"];

/// One engine's medians for one case and thread count.
#[derive(Default)]
struct Samples {
    prompt: Vec<f64>,
    gen: Vec<f64>,
    peak_kib: Vec<f64>,
    /// Why the engine could not run this case (a peer that does not load the file).
    failed: Option<String>,
}

fn bench_dir() -> PathBuf {
    util::root().join("target/bench")
}

/// stories260K imported to GGUF (cached in target/bench).
fn stories(quant: llama2c::Quant, name: &str) -> Result<PathBuf> {
    let path = bench_dir().join(format!("stories260K-{name}.gguf"));
    if !path.exists() {
        let fixtures = util::root().join("../shared/fixtures/llama2c");
        let read = |file: &str| {
            let path = fixtures.join(file);
            std::fs::read(&path).with_context(|| {
                format!("reading {} (the fixtures are in ../shared, outside the repository)", path.display())
            })
        };
        let bytes =
            llama2c::to_gguf(&read("stories260K.bin")?, &read("tok512.bin")?, quant).map_err(|e| anyhow!("{e}"))?;
        std::fs::create_dir_all(bench_dir())?;
        std::fs::write(&path, bytes)?;
    }
    Ok(path)
}

/// The TinyLlama-shaped random model (made once, then cached in target/bench).
fn tinyllama(quant: tinyllama::Quant) -> Result<PathBuf> {
    let path = bench_dir().join(format!("tinyllama-random-{}.gguf", quant.name()));
    if !path.exists() {
        eprintln!("making {} (cached for later runs)", path.display());
        tinyllama::write(&path, quant, 1)?;
    }
    Ok(path)
}

/// `tokens` prompt ids (BOS first) of the fixed text in `model`'s vocabulary.
fn prompt(model: &Path, tokens: usize) -> Result<Vec<u32>> {
    // Only the header is needed for the vocabulary: read a prefix large enough for it.
    let mut bytes = Vec::new();
    let file = std::fs::File::open(model).with_context(|| format!("opening {}", model.display()))?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, 16 << 20), &mut bytes)
        .with_context(|| format!("reading {}", model.display()))?;
    let gguf = Gguf::parse_header(&bytes).map_err(|e| anyhow!("{}: {e}", model.display()))?;
    let tokenizer = Tokenizer::from_gguf(&gguf).map_err(|e| anyhow!("{e}"))?;
    let mut ids = tokenizer.encode(&PROMPT_TEXT.repeat(1 + tokens / 8), true);
    ids.truncate(tokens);
    Ok(ids)
}

/// Builds `kingly-ml` with candle's compile-time SIMD and returns the binary.
fn candle_binary() -> Result<PathBuf> {
    let target = util::root().join("target/candle-native");
    let mut cargo = util::cargo();
    cargo
        .current_dir(util::root())
        .args(["build", "--release", "--quiet", "--package", "kingly-ml", "--features", "bench"])
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-C target-cpu=native");
    util::run(&mut cargo)?;
    Ok(target.join("release/kingly-ml"))
}

/// Runs one measurement process and parses its JSON line.
fn measure(mut command: Command) -> Result<Value> {
    command.env_remove("CANDLE_DEQUANTIZE_ALL");
    let output = command.output().with_context(|| format!("starting {:?}", command.get_program()))?;
    if !output.status.success() {
        util::echo(&command);
        bail!(
            "{:?} failed with {}: {}",
            command.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).context("no JSON line in the output")?;
    Ok(serde_json::from_str(line)?)
}

fn ours(case: &Case, threads: usize) -> Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["llm", "bench"]);
    case_args(&mut command, case, threads);
    Ok(command)
}

/// The arguments `xtask llm bench` and `llamacpp_bench.py` share: model, prompt ids,
/// generation length, threads, context.
fn case_args(command: &mut Command, case: &Case, threads: usize) {
    command.arg("--model").arg(&case.file);
    command.arg("--prompt").arg(case.prompt.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
    command.args([
        "--gen-tokens",
        &case.gen.to_string(),
        "--threads",
        &threads.to_string(),
        "--context",
        &case.context.to_string(),
    ]);
}

fn theirs(binary: &Path, case: &Case, threads: usize) -> Command {
    let mut command = Command::new(binary);
    command.args(["bench-candle", "--model"]).arg(&case.file);
    command.arg("--prompt").arg(case.prompt.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
    command.args(["--gen-tokens", &case.gen.to_string()]).env("RAYON_NUM_THREADS", threads.to_string());
    command
}

fn llama_cpp(python: &Path, script: &Path, case: &Case, threads: usize) -> Command {
    let mut command = Command::new(python);
    command.arg(script);
    case_args(&mut command, case, threads);
    command
}

fn record(samples: &mut Samples, value: &Value) -> Result<()> {
    let field = |key: &str| value[key].as_f64().with_context(|| format!("no {key} in {value}"));
    samples.prompt.push(field("prompt_tokens_per_s")?);
    samples.gen.push(field("gen_tokens_per_s")?);
    samples.peak_kib.push(field("peak_rss_kib")?);
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    percentile(v, 0.5)
}

/// The 1-minute load average (other users of a shared machine show up here).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

/// Runs the whole benchmark and prints the table.
pub fn run(options: Options) -> Result<()> {
    let load_before = load_average();
    let all = Pool::default_threads();
    let (tiny_prompt, tiny_gen, story_prompt, story_gen) =
        if options.quick { (8, 8, 32, 64) } else { (32, 16, 64, 256) };
    eprintln!("preparing models in {}", bench_dir().display());
    let mut cases = Vec::new();
    for (quant, name) in [(llama2c::Quant::F32, "f32"), (llama2c::Quant::Q8_0, "q8_0")] {
        let file = stories(quant, name)?;
        cases.push(Case {
            label: format!("stories260K {}", name.to_uppercase()),
            prompt: prompt(&file, story_prompt)?,
            file,
            gen: story_gen,
            context: 512,
        });
    }
    let smollm2 = util::root().join("../shared/fixtures/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if smollm2.is_file() {
        let (prompt_len, gen) = if options.quick { (32, 32) } else { (64, 128) };
        cases.push(Case {
            label: "SmolLM2-135M Q4_1".into(),
            prompt: prompt(&smollm2, prompt_len)?,
            file: smollm2,
            gen,
            context: 512,
        });
    } else {
        eprintln!("warning: {} is absent: no SmolLM2 case", smollm2.display());
    }
    for quant in [tinyllama::Quant::Q8_0, tinyllama::Quant::Q4_0, tinyllama::Quant::Q4KM] {
        let file = tinyllama(quant)?;
        let label = format!("TinyLlama-shape {}", quant.name().to_uppercase());
        cases.push(Case { label, prompt: prompt(&file, tiny_prompt)?, file, gen: tiny_gen, context: 2048 });
    }
    let candle = candle_binary()?;
    let llama_python = crate::deps::ensure_llama_cpp()?;
    let llama_script = bench_dir().join("llamacpp_bench.py");
    std::fs::create_dir_all(bench_dir())?;
    std::fs::write(&llama_script, include_str!("llamacpp_bench.py"))?;
    let threads: Vec<usize> = if all > 1 { vec![1, all] } else { vec![1] };

    // results[case][threads][engine]
    let mut results: Vec<Vec<[Samples; 3]>> =
        cases.iter().map(|_| threads.iter().map(|_| Default::default()).collect()).collect();
    let total = options.rounds * cases.len() * threads.len() * ENGINES.len();
    let mut progress = util::Progress::items("bench llm: runs", total as u64);
    for round in 0..options.rounds {
        for (c, case) in cases.iter().enumerate() {
            for (t, &n) in threads.iter().enumerate() {
                // Rotate which engine goes first, so none always gets a cold cache.
                for k in 0..ENGINES.len() {
                    let engine = (round + c + t + k) % ENGINES.len();
                    let samples = &mut results[c][t][engine];
                    let command = match engine {
                        0 => ours(case, n)?,
                        1 => theirs(&candle, case, n),
                        _ => llama_cpp(&llama_python, &llama_script, case, n),
                    };
                    if samples.failed.is_none() {
                        let outcome = measure(command).and_then(|value| record(samples, &value));
                        match outcome {
                            Ok(()) => {}
                            // Ours must run everything; a peer that cannot load a file is noted.
                            Err(e) if engine == 0 => {
                                return Err(e.context(format!("{} ({n} threads), ours", case.label)))
                            }
                            Err(e) => {
                                let why = format!("{e:#}");
                                eprintln!("{} cannot run {} ({n} threads): {why}", ENGINES[engine], case.label);
                                samples.failed = Some(why);
                            }
                        }
                    }
                    progress.advance(1);
                }
            }
        }
    }
    progress.finish();

    println!();
    println!("Host LLM inference: this engine (inference/, AVX2 detected at run time) vs candle 0.9 quantized_llama (target-cpu=native) vs llama.cpp (llama-cpp-python, GGML_NATIVE, CPU)");
    println!("medians of {} round(s), runs interleaved; prompt = {} / {} tokens, generation = {} / {} tokens (stories260K / TinyLlama-shape)", options.rounds, story_prompt, tiny_prompt, story_gen, tiny_gen);
    println!(
        "{all} cores; load average {load_before} before, {} after (other work on the machine slows every engine alike)",
        load_average()
    );
    println!();
    println!(
        "| model | threads | prompt tok/s ours | candle | llama.cpp | ours/candle | ours/llama.cpp | generation tok/s ours | candle | llama.cpp | ours/candle | ours/llama.cpp | peak MiB ours / candle / llama.cpp |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let figure = |s: &Samples, f: fn(&Samples) -> &Vec<f64>| (s.failed.is_none()).then(|| median(f(s)));
    let show = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "n/a".into(),
    };
    for (c, case) in cases.iter().enumerate() {
        for (t, &n) in threads.iter().enumerate() {
            let [mine, cand, llama] = &results[c][t];
            let p: Vec<Option<f64>> = [mine, cand, llama].iter().map(|s| figure(s, |s| &s.prompt)).collect();
            let g: Vec<Option<f64>> = [mine, cand, llama].iter().map(|s| figure(s, |s| &s.gen)).collect();
            let m: Vec<String> =
                [mine, cand, llama].iter().map(|s| show(figure(s, |s| &s.peak_kib).map(|k| k / 1024.0))).collect();
            println!(
                "| {} | {n} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                case.label,
                show(p[0]),
                show(p[1]),
                show(p[2]),
                ratio(p[0], p[1]),
                ratio(p[0], p[2]),
                show(g[0]),
                show(g[1]),
                show(g[2]),
                ratio(g[0], g[1]),
                ratio(g[0], g[2]),
                m.join(" / ")
            );
        }
    }
    let q4 = cases
        .iter()
        .position(|c| c.label.ends_with("Q4_0") && c.label.starts_with("TinyLlama"))
        .context("no Q4_0 case")?;
    let [mine, theirs, _] = &results[q4][threads.len() - 1];
    let (ours_mib, theirs_mib) = (median(&mine.peak_kib) / 1024.0, median(&theirs.peak_kib) / 1024.0);
    println!();
    println!(
        "peak memory (VmHWM), TinyLlama-shape Q4_0: ours {ours_mib:.0} MiB with the KV cache of a full 2048-token context committed (limit {MEMORY_LIMIT_MIB:.0}); candle {theirs_mib:.0} MiB after {} positions (its cache grows as it goes)",
        cases[q4].prompt.len() + cases[q4].gen
    );
    if ours_mib >= MEMORY_LIMIT_MIB {
        bail!("peak memory {ours_mib:.0} MiB is over the {MEMORY_LIMIT_MIB:.0} MiB limit");
    }
    Ok(())
}
