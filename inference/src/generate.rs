//! Generation: prompt in, tokens streamed through a callback that may stop early.

use crate::{
    error::Error,
    model::{Model, State, MAX_BATCH},
    quant::Parallel,
    sampler::Sampler,
    tokenizer::{Decoder, Tokenizer},
};
use alloc::{string::String, vec::Vec};

/// What the per-token callback tells the generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep going.
    Continue,
    /// Stop now (cancellation).
    Stop,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The model produced end-of-sequence.
    EndOfSequence,
    /// `max_tokens` reached.
    Length,
    /// The context is full.
    Context,
    /// The callback asked to stop.
    Stopped,
}

/// The result of a generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// Generated text.
    pub text: String,
    /// Generated token ids.
    pub tokens: Vec<u32>,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Why it ended.
    pub finish: Finish,
}

/// Runs the prompt, then samples up to `max_tokens`, calling `on_token(id, text)` after
/// each generated token (text may be empty while a UTF-8 sequence is incomplete).
#[allow(clippy::too_many_arguments)]
pub fn generate(
    model: &Model<'_>,
    tokenizer: &Tokenizer,
    state: &mut State,
    prompt: &[u32],
    max_tokens: usize,
    sampler: &mut Sampler,
    parallel: &dyn Parallel,
    mut on_token: impl FnMut(u32, &str) -> Control,
) -> Result<Output, Error> {
    if prompt.is_empty() {
        return Err(Error::Unsupported("empty prompt (it needs at least BOS)".into()));
    }
    if prompt.len() >= state.context() {
        return Err(Error::Unsupported("prompt longer than the context".into()));
    }
    let mut history: Vec<u32> = prompt.to_vec();
    // The space-stripping at the start of a text applies only when nothing but BOS came
    // before: a continuation keeps its leading space.
    let mut decoder = if prompt.last() == Some(&tokenizer.bos) { Decoder::new() } else { Decoder::continuing() };
    let mut output =
        Output { text: String::new(), tokens: Vec::new(), prompt_tokens: prompt.len(), finish: Finish::Length };
    // The prompt in batches: each weight row is read once per batch (same results).
    for (i, batch) in prompt.chunks(MAX_BATCH).enumerate() {
        model.forward_batch(state, batch, i * MAX_BATCH, parallel)?;
    }
    for position in prompt.len()..prompt.len().saturating_add(max_tokens) {
        let next = sampler.sample(&mut state.logits, &history);
        if tokenizer.is_stop(next) {
            output.finish = Finish::EndOfSequence;
            break;
        }
        history.push(next);
        output.tokens.push(next);
        let piece = decoder.push(tokenizer, next);
        output.text.push_str(&piece);
        if on_token(next, &piece) == Control::Stop {
            output.finish = Finish::Stopped;
            break;
        }
        if position >= state.context() {
            output.finish = Finish::Context;
            break;
        }
        model.forward(state, next as usize, position, parallel)?;
    }
    output.text.push_str(&decoder.finish());
    Ok(output)
}
