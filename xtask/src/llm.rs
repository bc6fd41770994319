//! `cargo xtask llm`: the project's own inference engine (the `inference` crate, the same
//! code the kernel runs) built for the host, with its products split over host threads
//! ([`crate::pool::Pool`]).

use crate::pool::Pool;
use anyhow::{anyhow, bail, Context, Result};
use inference::{
    generate::{generate, Control},
    gguf::Gguf,
    model::{memory_estimate, Config, Model, State, Weights},
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
        /// The prompt (plain completion).
        #[arg(long)]
        prompt: String,
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
    /// Print the token ids of TEXT as a JSON array.
    Tokenize {
        /// A GGUF file with tokenizer metadata.
        #[arg(long)]
        model: PathBuf,
        /// The text.
        text: String,
    },
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
                println!("{}", serde_json::to_string(&tokenizer.encode(&text, true))?);
                Ok(())
            }
            Command::Run { model, prompt, max_tokens, temperature, seed, context, threads } => {
                let pool = Pool::new(threads.unwrap_or_else(Pool::default_threads))?;
                let start = Instant::now();
                let bytes = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
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
                let tokens = tokenizer.encode(&prompt, true);
                if tokens.len() >= state.context() {
                    bail!("the prompt has {} tokens; the context holds {}", tokens.len(), state.context());
                }
                let mut sampler = Sampler::new(Settings { temperature, seed, ..Settings::default() });
                let started = Instant::now();
                let mut first_token = None;
                let mut stdout = std::io::stdout().lock();
                let out = generate(&model, &tokenizer, &mut state, &tokens, max_tokens, &mut sampler, &pool, |_, piece| {
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

