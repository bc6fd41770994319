//! `kingly-ml bench-candle`: candle's `quantized_llama` on a GGUF file, timed the way
//! `cargo xtask bench llm` times the project's engine, printed as one JSON line.
//!
//! The prompt (token ids) is processed the way candle's own examples do it — one batched
//! forward call — then `gen` tokens are generated greedily one forward call each. Peak
//! memory is this process's `VmHWM` after the run. `cargo xtask bench llm` runs this binary
//! built with `-C target-cpu=native` (candle selects its AVX2 kernels at compile time) and
//! with `CANDLE_DEQUANTIZE_ALL` unset, so candle runs at its normal speed.

use anyhow::{bail, Context, Result};
use candle_core::{quantized::gguf_file, Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use std::{path::PathBuf, time::Instant};

/// What to run.
pub struct BenchOptions {
    pub model: PathBuf,
    pub prompt: Vec<u32>,
    pub gen: usize,
}

/// `VmHWM` (peak resident set) of this process in KiB, from `/proc/self/status`.
pub fn peak_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc/self/status")?;
    line.split_whitespace().nth(1).context("VmHWM has no value")?.parse().context("VmHWM value")
}

fn argmax(logits: &Tensor) -> Result<u32> {
    let values = logits.squeeze(0)?.to_vec1::<f32>()?;
    let (best, _) = values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) });
    Ok(best as u32)
}

/// Loads the model, runs prompt and generation, and returns the JSON line.
pub fn bench_candle(o: &BenchOptions) -> Result<String> {
    if std::env::var_os("CANDLE_DEQUANTIZE_ALL").is_some() {
        bail!("CANDLE_DEQUANTIZE_ALL is set: candle would run in f32, not at its normal speed");
    }
    if o.prompt.is_empty() {
        bail!("the prompt needs at least one token");
    }
    let device = Device::Cpu;
    let started = Instant::now();
    let mut file = std::fs::File::open(&o.model).with_context(|| format!("opening {}", o.model.display()))?;
    let content = gguf_file::Content::read(&mut file).with_context(|| format!("reading {}", o.model.display()))?;
    let mut model = ModelWeights::from_gguf(content, &mut file, &device)?;
    let load = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let input = Tensor::new(o.prompt.as_slice(), &device)?.unsqueeze(0)?;
    let mut next = argmax(&model.forward(&input, 0)?)?;
    let prompt_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut generated = Vec::with_capacity(o.gen);
    for i in 0..o.gen {
        let input = Tensor::new(&[next], &device)?.unsqueeze(0)?;
        next = argmax(&model.forward(&input, o.prompt.len() + i)?)?;
        generated.push(next);
    }
    let gen_seconds = started.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"engine\":\"candle\",\"load_ms\":{:.1},\"prompt_tokens\":{},\"prompt_tokens_per_s\":{:.3},\"gen_tokens\":{},\"gen_tokens_per_s\":{:.3},\"peak_rss_kib\":{},\"tokens\":{:?}}}",
        load * 1e3,
        o.prompt.len(),
        o.prompt.len() as f64 / prompt_seconds.max(1e-9),
        o.gen,
        o.gen as f64 / gen_seconds.max(1e-9),
        peak_rss_kib()?,
        generated
    ))
}
