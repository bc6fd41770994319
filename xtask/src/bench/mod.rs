//! `cargo xtask bench`: measured figures, each next to a peer measured in the same run.
//!
//! Machines are shared and noisy, so every figure is a median (with percentiles) over many
//! samples, and comparisons are ratios of medians taken in the same run.

mod boot;
mod fleet;
mod linux;
mod llm_host;
mod llm_qemu;
mod mcp;
mod net;
mod stats;
mod svg;

use anyhow::Result;
use std::time::Instant;

pub use mcp::serve_stdio as serve_mcp_stdio;

/// Measure performance next to a peer measured in the same run.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// MCP round trips in process (vs a getppid syscall) with allocations per request, the
    /// typed call path, stdio servers over a pipe (vs rmcp and the Python SDK), and the UART.
    Mcp {
        /// Batches per figure (more: steadier medians, longer runs).
        #[arg(long, default_value_t = 200)]
        batches: usize,
        /// Only the in-process figures (seconds; no pipes, no QEMU).
        #[arg(long)]
        in_process: bool,
    },
    /// Boot stages and time to the first MCP answer, against Linux on the same QEMU machine.
    Boot(boot::Args),
    /// Tokens/s of the engine on the host against candle's quantized_llama on the same files
    /// (stories260K, TinyLlama-shaped Q8_0/Q4_0; 1 and all threads) and peak memory;
    /// `--qemu`: in the kernel on QEMU raspi3b, 1 vs 4 cores, intent latency and ping
    /// latency during generation.
    Llm {
        /// Measure inside the kernel on QEMU raspi3b.
        #[arg(long)]
        qemu: bool,
        /// `--qemu`: generations per figure.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// `--qemu`: tokens per generation.
        #[arg(long, default_value_t = 64)]
        tokens: u64,
        /// `--qemu`: also this GGUF model (placed in guest RAM, e.g. a TinyLlama-shaped file
        /// from `cargo xtask model tinyllama-random`), with at most 8 tokens and 2 runs per
        /// figure since big models run at well under a token per second in QEMU.
        #[arg(long)]
        model: Option<std::path::PathBuf>,
        /// Host: rounds (each runs every model once per engine and thread count).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Host: one round of short prompts and generations (about a minute).
        #[arg(long)]
        quick: bool,
    },
    /// MCP over HTTP: requests/s and p50/p99 of ping and a small tool call from concurrent
    /// clients, kernel in QEMU vs the official Python SDK's server on the host.
    Net {
        /// Boards to measure (QEMU machines with a network device).
        #[arg(long, value_enum, value_delimiter = ',', default_values_t = [crate::board::Board::Virt, crate::board::Board::Raspi3b])]
        boards: Vec<crate::board::Board>,
        /// Interleaved runs per figure.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Seconds per run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// MCP over MQTT: tools/call round trips through Mosquitto vs over HTTP to the same guest,
    /// and how fast a gateway finds the boards (`cargo xtask fleet` against `qemu --fleet`).
    Fleet {
        /// Guests on the broker.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=16))]
        boards: u8,
        /// Rounds (each: a fresh gateway finds the boards, then the calls).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Calls per round and transport.
        #[arg(long, default_value_t = 200)]
        calls: usize,
    },
}

/// Median and p99 of per-operation nanoseconds over batches.
pub struct Figure {
    pub p50: f64,
    pub p99: f64,
}

/// Runs `op` `per_batch` times per batch and returns the per-operation median and p99.
pub fn measure(batches: usize, per_batch: usize, mut op: impl FnMut()) -> Figure {
    for _ in 0..per_batch {
        op(); // warm up
    }
    let samples: Vec<f64> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                op();
            }
            start.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    let summary = stats::Summary::of(&samples);
    Figure { p50: summary.median, p99: stats::percentile(&samples, 0.99) }
}

impl Args {
    pub fn run(self) -> Result<()> {
        if cfg!(debug_assertions) && std::env::var_os("KINGLY_BENCH_SMOKE").is_none() {
            // Figures from an unoptimised xtask would measure the compiler, not the code:
            // rerun this command from a release build. (KINGLY_BENCH_SMOKE skips this for
            // the smoke test, which checks the procedure, not the figures.)
            eprintln!("rebuilding xtask with optimisations for benchmarking...");
            let mut cargo = crate::util::cargo();
            cargo.current_dir(crate::util::root()).args(["run", "--release", "--quiet", "--package", "xtask", "--"]);
            cargo.args(std::env::args().skip(1));
            return crate::util::run(&mut cargo);
        }
        match self.what {
            What::Mcp { batches, in_process } => mcp::run(batches.max(10), in_process),
            What::Boot(args) => args.run(),
            What::Llm { qemu: true, runs, tokens, model, .. } => {
                llm_qemu::run(runs.max(1), tokens.max(1), model.as_deref())
            }
            What::Llm { qemu: false, rounds, quick, .. } => {
                llm_host::run(llm_host::Options { rounds: if quick { 1 } else { rounds.max(1) }, quick })
            }
            What::Net { boards, rounds, clients, seconds } => {
                net::run(&boards, rounds.max(1), clients.max(1), seconds.max(0.5))
            }
            What::Fleet { boards, rounds, calls } => fleet::run(boards, rounds.max(1), calls.max(10)),
        }
    }
}
