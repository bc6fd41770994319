//! `cargo xtask llm`: the project's own inference engine (the `inference` crate, the same
//! code the kernel runs) built for the host, with its products split over host threads
//! ([`crate::pool::Pool`]).

use crate::pool::Pool;
use anyhow::{anyhow, bail, Context, Result};
use inference::{
    chat::{Role, Template},
    generate::{generate, Control},
    gguf::Gguf,
    model::{memory_estimate, Config, Model, State, Weights, MAX_BATCH},
    sampler::{Sampler, Settings},
    tokenizer::Tokenizer,
};
use std::{io::Write, path::PathBuf, time::Instant};

/// Run the engine on the host: generate text or tokenize.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Generate text: the text on stdout, load time and tokens/s on stderr.
    Run {
        /// A llama GGUF file.
        #[arg(long)]
        model: PathBuf,
        /// The prompt (plain completion; with --chat, the user's message).
        #[arg(long)]
        prompt: String,
        /// Lay the prompt out as a chat turn in the model's format (from its chat template)
        /// and stop at the end of the answer.
        #[arg(long)]
        chat: bool,
        /// Tokens to generate at most.
        #[arg(long, default_value_t = 128)]
        max_tokens: usize,
        /// 0 = greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// Random seed (same seed, same text).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Context length to allocate.
        #[arg(long, default_value_t = 512)]
        context: usize,
        /// Threads for the matrix products (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Time a prompt of token ids and greedy generation; print one JSON line (tokens/s and
    /// this process's peak memory) — the engine's side of `cargo xtask bench llm`.
    Bench {
        /// A llama GGUF file.
        #[arg(long)]
        model: PathBuf,
        /// Prompt token ids, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        prompt: Vec<u32>,
        /// Tokens to generate.
        #[arg(long, default_value_t = 16)]
        gen_tokens: usize,
        /// Threads for the matrix products (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Context length to allocate (the KV cache is sized for it, so it sets memory).
        #[arg(long, default_value_t = 2048)]
        context: usize,
    },
    /// Print the token ids of TEXT as a JSON array.
    Tokenize {
        /// A GGUF file with tokenizer metadata.
        #[arg(long)]
        model: PathBuf,
        /// The text.
        text: String,
    },
}

/// Reads a model file into memory backed by transparent huge pages where the OS offers
/// them (`madvise(MADV_HUGEPAGE)`; ignored elsewhere). Every generated token streams all
/// weights from RAM, and with 4 KiB pages the hardware prefetchers stop at every page
/// boundary and the TLB misses every 4 KiB; 2 MiB pages remove both.
pub fn read_model(path: &std::path::Path) -> Result<memmap2::Mmap> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = usize::try_from(file.metadata()?.len()).context("model file too large")?;
    let mut memory = memmap2::MmapMut::map_anon(len.max(1)).context("allocating memory for the model")?;
    let _ = memory.advise(memmap2::Advice::HugePage);
    file.read_exact(&mut memory[..len]).with_context(|| format!("reading {}", path.display()))?;
    Ok(memory.make_read_only()?)
}

fn engine_error(error: inference::Error) -> anyhow::Error {
    anyhow!("{error}")
}

impl Args {
    pub fn run(self) -> Result<()> {
        match self.command {
            Command::Tokenize { model, text } => {
                let bytes = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
                let gguf = Gguf::parse(&bytes).map_err(engine_error)?;
                let tokenizer = Tokenizer::from_gguf(&gguf).map_err(engine_error)?;
                println!("{}", serde_json::to_string(&tokenizer.encode_prompt(&text))?);
                Ok(())
            }
            Command::Bench { model, prompt, gen_tokens, threads, context } => {
                println!(
                    "{}",
                    bench(&model, &prompt, gen_tokens, threads.unwrap_or_else(Pool::default_threads), context)?
                );
                Ok(())
            }
            Command::Run { model, prompt, chat, max_tokens, temperature, seed, context, threads } => {
                let pool = Pool::new(threads.unwrap_or_else(Pool::default_threads))?;
                let start = Instant::now();
                let bytes = read_model(&model)?;
                let gguf = Gguf::parse(&bytes).map_err(engine_error)?;
                let config = Config::from_gguf(&gguf).map_err(engine_error)?;
                let weights = Weights::from_gguf(&gguf, &config).map_err(engine_error)?;
                let tokenizer = Tokenizer::from_gguf(&gguf).map_err(engine_error)?;
                let needed = memory_estimate(&gguf, context).map_err(engine_error)?;
                let model = Model { config, weights };
                let mut state = State::new(&model.config, context);
                let load = start.elapsed();
                eprintln!(
                    "loaded {} layers, dim {}, vocab {} in {:.1} ms ({} MiB with a {}-token context); {} thread(s)",
                    config.n_layers,
                    config.dim,
                    config.vocab_size,
                    load.as_secs_f64() * 1e3,
                    needed >> 20,
                    state.context(),
                    pool.threads()
                );
                let text = if chat {
                    let template = gguf.get("tokenizer.chat_template").and_then(|v| v.as_str());
                    let template = Template::from_gguf_template(template);
                    if !template.recognised {
                        eprintln!("warning: unknown chat template; plain completion");
                    }
                    template.render(&[(Role::User, &prompt)])
                } else {
                    prompt
                };
                let tokens = tokenizer.encode_prompt(&text);
                if tokens.len() >= state.context() {
                    bail!("the prompt has {} tokens; the context holds {}", tokens.len(), state.context());
                }
                let mut sampler = Sampler::new(Settings { temperature, seed, ..Settings::default() });
                let started = Instant::now();
                let mut first_token = None;
                let mut stdout = std::io::stdout().lock();
                let out =
                    generate(&model, &tokenizer, &mut state, &tokens, max_tokens, &mut sampler, &pool, |_, piece| {
                        first_token.get_or_insert_with(Instant::now);
                        let _ = stdout.write_all(piece.as_bytes());
                        let _ = stdout.flush();
                        Control::Continue
                    })
                    .map_err(engine_error)?;
                println!();
                let total = started.elapsed().as_secs_f64();
                let prompt_time = first_token.map_or(total, |t| t.duration_since(started).as_secs_f64());
                let generated = out.tokens.len().saturating_sub(1) as f64;
                eprintln!(
                    "prompt: {} tokens in {:.1} ms ({:.1} tok/s); generation: {} tokens, {:.1} tok/s; finish: {:?}",
                    out.prompt_tokens,
                    prompt_time * 1e3,
                    out.prompt_tokens as f64 / prompt_time.max(1e-9),
                    out.tokens.len(),
                    generated / (total - prompt_time).max(1e-9),
                    out.finish
                );
                Ok(())
            }
        }
    }
}

/// `VmHWM` (peak resident set) of this process in KiB, from `/proc/self/status`.
pub fn peak_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc/self/status")?;
    line.split_whitespace().nth(1).context("VmHWM has no value")?.parse().context("VmHWM value")
}

fn argmax(logits: &[f32]) -> u32 {
    let (best, _) = logits
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) });
    best as u32
}

/// Loads `model`, runs `prompt` (in batches, as `generate` does), then `gen` greedy tokens; returns the JSON
/// line that `cargo xtask bench llm` reads (the same fields as `kingly-ml bench-candle`).
fn bench(model: &std::path::Path, prompt: &[u32], gen: usize, threads: usize, context: usize) -> Result<String> {
    let pool = Pool::new(threads)?;
    let started = Instant::now();
    let bytes = read_model(model)?;
    let gguf = Gguf::parse(&bytes).map_err(engine_error)?;
    let config = Config::from_gguf(&gguf).map_err(engine_error)?;
    let weights = Weights::from_gguf(&gguf, &config).map_err(engine_error)?;
    let model = Model { config, weights };
    let mut state = State::new(&model.config, context);
    // The peak then includes a full context's KV cache, not just the positions used.
    state.commit_memory();
    if prompt.is_empty() || prompt.len() + gen > state.context() {
        bail!("{} prompt + {gen} generated tokens do not fit a context of {}", prompt.len(), state.context());
    }
    let load = started.elapsed().as_secs_f64();

    let started = Instant::now();
    // As `generate` does it: the prompt in batches that read each weight row once.
    for (i, batch) in prompt.chunks(MAX_BATCH).enumerate() {
        model.forward_batch(&mut state, batch, i * MAX_BATCH, &pool).map_err(engine_error)?;
    }
    let mut next = argmax(&state.logits);
    let prompt_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut generated = Vec::with_capacity(gen);
    for i in 0..gen {
        model.forward(&mut state, next as usize, prompt.len() + i, &pool).map_err(engine_error)?;
        next = argmax(&state.logits);
        generated.push(next);
    }
    let gen_seconds = started.elapsed().as_secs_f64();
    if state.logits.iter().any(|v| !v.is_finite()) {
        bail!("the logits are not finite");
    }
    Ok(format!(
        "{{\"engine\":\"kingly\",\"load_ms\":{:.1},\"prompt_tokens\":{},\"prompt_tokens_per_s\":{:.3},\"gen_tokens\":{},\"gen_tokens_per_s\":{:.3},\"peak_rss_kib\":{},\"tokens\":{:?}}}",
        load * 1e3,
        prompt.len(),
        prompt.len() as f64 / prompt_seconds.max(1e-9),
        gen,
        gen as f64 / gen_seconds.max(1e-9),
        peak_rss_kib()?,
        generated
    ))
}
