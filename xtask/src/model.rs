//! `cargo xtask model`: making model files (GGUF) the engine and the kernel read.

use anyhow::{anyhow, Context, Result};
use inference::llama2c::{self, Quant};
use std::path::PathBuf;

/// Make model files: import llama2.c checkpoints to GGUF.
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
}

impl Args {
    pub fn run(self) -> Result<()> {
        match self.command {
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
