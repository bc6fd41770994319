//! `kingly-ml`: candle-side work that `cargo xtask` runs as a separate process (so xtask
//! never links candle): `train-intent` (`cargo xtask model train-intent`) and
//! `bench-candle` (`cargo xtask bench llm`).

use anyhow::{bail, Context, Result};
#[cfg(feature = "bench")]
use kingly_ml::bench::{bench_candle, BenchOptions};
use kingly_ml::{train_intent, Options};

const USAGE: &str = "usage: kingly-ml train-intent --data intents.txt -o intent.gguf [--report R.md] [--seed S] [--steps N] [--eval-only] [--decisions INTENTS.LOG]\n       kingly-ml bench-candle --model F.gguf --prompt 1,2,3 --gen-tokens M";

fn train_options(mut args: impl Iterator<Item = String>) -> Result<Options> {
    let mut o = Options::default();
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => o.data = value()?.into(),
            "-o" | "--output" => o.output = value()?.into(),
            "--report" => o.report = Some(value()?.into()),
            "--seed" => o.seed = value()?.parse()?,
            "--steps" => o.steps = value()?.parse()?,
            "--eval-only" => o.eval_only = true,
            "--decisions" => o.decisions = Some(value()?.into()),
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    Ok(o)
}

#[cfg(feature = "bench")]
fn bench_options(mut args: impl Iterator<Item = String>) -> Result<BenchOptions> {
    let (mut model, mut prompt, mut gen) = (None, Vec::new(), 16);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => model = Some(value()?.into()),
            "--prompt" => {
                prompt = value()?
                    .split(',')
                    .map(|t| t.trim().parse::<u32>().with_context(|| format!("token id '{t}'")))
                    .collect::<Result<_>>()?
            }
            "--gen-tokens" => gen = value()?.parse()?,
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    Ok(BenchOptions { model: model.context("--model is required")?, prompt, gen })
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("train-intent") => {
            train_intent(&train_options(args)?)?;
        }
        #[cfg(feature = "bench")]
        Some("bench-candle") => println!("{}", bench_candle(&bench_options(args)?)?),
        #[cfg(not(feature = "bench"))]
        Some("bench-candle") => bail!("bench-candle needs `--features bench` (cargo xtask bench llm builds it so)"),
        _ => bail!("{USAGE}"),
    }
    Ok(())
}
