//! `cargo xtask model`: making model files (GGUF) the engine and the kernel read.

use crate::{tinyllama, util};
use anyhow::{anyhow, Context, Result};
use inference::llama2c::{self, Quant};
use std::path::PathBuf;

/// Make model files: import llama2.c checkpoints to GGUF, train the intent model, make a
/// TinyLlama-shaped random model.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum QuantArg {
    F32,
    Q8_0,
    Q4_0,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Convert a llama2.c checkpoint and tokenizer to a GGUF llama model.
    ImportLlama2c {
        /// llama2.c checkpoint (e.g. stories260K.bin).
        #[arg(long)]
        checkpoint: PathBuf,
        /// llama2.c tokenizer (e.g. tok512.bin).
        #[arg(long)]
        tokenizer: PathBuf,
        /// Output GGUF file.
        #[arg(short, long)]
        output: PathBuf,
        /// Weight format of the matrices.
        #[arg(long, value_enum, default_value = "q8-0")]
        quant: QuantArg,
    },
    /// Write a GGUF with TinyLlama-1.1B's exact shapes, seeded random weights of realistic
    /// scale and the real Llama 2 vocabulary (from ../shared/fixtures), for speed and memory
    /// measurements.
    TinyllamaRandom {
        /// Output GGUF file.
        #[arg(short, long)]
        output: PathBuf,
        /// Weight format of the matrices.
        #[arg(long, value_enum, default_value = "q4_0")]
        quant: tinyllama::Quant,
        /// Seed of the weights (same seed, same file).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Train the kernel's intent model (request -> tool call) with candle on the CPU from
    /// xtask/ml/intents.txt, write it as GGUF and evaluate it with the project's engine on
    /// held-out phrasings. Deterministic for a seed.
    TrainIntent {
        /// Output GGUF (the kernel embeds kernel/models/intent.gguf).
        #[arg(short, long, default_value = "kernel/models/intent.gguf")]
        output: PathBuf,
        /// Evaluation report (markdown).
        #[arg(long, default_value = "kernel/models/intent.md")]
        report: PathBuf,
        /// Dataset.
        #[arg(long, default_value = "xtask/ml/intents.txt")]
        data: PathBuf,
        /// Seed of the dataset expansion, initial weights and batch order.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Optimizer steps.
        #[arg(long, default_value_t = 1800)]
        steps: usize,
        /// Only evaluate the existing output file on the held-out phrasings.
        #[arg(long)]
        eval_only: bool,
        /// Decisions from a card (`INTENTS.LOG`, JSON lines): the requests whose proposals
        /// ran are added to the training data (held-out phrasings are never added); the
        /// held-out accuracy of the existing model is printed before training.
        #[arg(long)]
        decisions: Option<PathBuf>,
    },
}

impl Args {
    pub fn run(self) -> Result<()> {
        match self.command {
            Command::TinyllamaRandom { output, quant, seed } => tinyllama::write(&output, quant, seed),
            Command::TrainIntent { output, report, data, seed, steps, eval_only, decisions } => {
                // candle lives in its own crate so that `cargo xtask qemu` never builds it.
                let mut cargo = util::cargo();
                cargo.current_dir(util::root()).args([
                    "run",
                    "--release",
                    "--quiet",
                    "--package",
                    "kingly-ml",
                    "--",
                    "train-intent",
                ]);
                cargo.arg("--data").arg(&data).arg("-o").arg(&output).args([
                    "--seed",
                    &seed.to_string(),
                    "--steps",
                    &steps.to_string(),
                ]);
                if let Some(decisions) = &decisions {
                    cargo.arg("--decisions").arg(decisions);
                }
                if eval_only {
                    cargo.arg("--eval-only");
                } else {
                    cargo.arg("--report").arg(&report);
                }
                util::run(&mut cargo)
            }
            Command::ImportLlama2c { checkpoint, tokenizer, output, quant } => {
                let model = std::fs::read(&checkpoint).with_context(|| format!("reading {}", checkpoint.display()))?;
                let vocab = std::fs::read(&tokenizer).with_context(|| format!("reading {}", tokenizer.display()))?;
                let quant = match quant {
                    QuantArg::F32 => Quant::F32,
                    QuantArg::Q8_0 => Quant::Q8_0,
                    QuantArg::Q4_0 => Quant::Q4_0,
                };
                let bytes = llama2c::to_gguf(&model, &vocab, quant).map_err(|e| anyhow!("{e}"))?;
                std::fs::write(&output, &bytes)?;
                eprintln!("wrote {} ({} KiB, {quant:?})", output.display(), bytes.len().div_ceil(1024));
                Ok(())
            }
        }
    }
}
