//! `kingly-ml train-intent`: see the library docs; `cargo xtask model train-intent` runs it.

use anyhow::{bail, Context, Result};
use kingly_ml::{train_intent, Options};

fn options() -> Result<Options> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    if command != "train-intent" {
        bail!("usage: kingly-ml train-intent --data intents.txt -o intent.gguf [--report R.md] [--seed S] [--steps N] [--eval-only]");
    }
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
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

fn main() -> Result<()> {
    let options = options()?;
    train_intent(&options)?;
    Ok(())
}
