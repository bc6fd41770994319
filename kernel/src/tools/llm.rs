//! Language-model tools: `llm_info`, `llm_load`, `llm_tokenize`, `llm_generate`.
//!
//! Generation runs on the console core, which splits every matrix-vector product over the
//! compute cores ([`crate::smp::pool`]); it streams the text so far as
//! `notifications/progress`, stops between tokens when the request is cancelled, and shows
//! up in `tasks_list` while it runs.

use super::declare;
use crate::{arch::cpu, llm};
use alloc::{format, string::String, vec::Vec};
use core::sync::atomic::{AtomicBool, Ordering};
use inference::{
    chat::Role,
    generate::{generate, Control, Finish},
    model::State,
    sampler::{Sampler, Settings},
};
use mcp::{json, Annotations, Declaration, Server, ToolOutput, Value};

fn info() -> Result<ToolOutput, mcp::ToolError> {
    let loaded = llm::get()?;
    let (tokens, micros) = llm::token_stats();
    let (hits, misses, entries) = crate::intent::cache_stats();
    let (kept, ran, declined) = crate::decisions::stats();
    let mut available: Vec<Value> = Vec::new();
    for (slot, model) in [("intent", llm::intent()), ("placed", llm::placed()), ("card", llm::card())] {
        match model {
            Ok(m) => available.push(json!({"slot": slot, "name": m.name, "bytes": m.range.len(), "active": core::ptr::eq(m, loaded), "file": m.name_on_card, "load_us": m.load_micros})),
            Err(llm::ModelError::Absent(_)) if slot != "intent" => {}
            Err(why) => available.push(json!({"slot": slot, "error": format!("{why}")})),
        }
    }
    let c = &loaded.model.config;
    let mut quants: Vec<String> = Vec::new();
    for tensor in &loaded.gguf.tensors {
        let name = format!("{:?}", tensor.dtype);
        if !quants.contains(&name) {
            quants.push(name);
        }
    }
    let params: u64 = loaded.gguf.tensors.iter().map(|t| t.dims.iter().product::<u64>()).sum();
    let out = json!({
        "name": loaded.name,
        "architecture": "llama",
        "quantization": quants,
        "parameters": params,
        "layers": c.n_layers,
        "dim": c.dim,
        "heads": c.n_heads,
        "kv_heads": c.n_kv_heads,
        "vocab": c.vocab_size,
        "max_context": c.max_context,
        "context": llm::context().min(c.max_context),
        "file_bytes": loaded.range.len(),
        "memory_estimate_bytes": loaded.estimate,
        "address": format!("{:#x}", loaded.range.start),
        "source": loaded.source,
        "models": available,
        "tokens_total": tokens,
        "tokens_per_second": if micros == 0 { 0.0 } else { tokens as f64 * 1e6 / micros as f64 },
        "cores": crate::smp::online_count(),
        "loading": llm::loading().map(|l| json!({"file": l.file, "percent": l.percent(), "bytes_done": l.done, "bytes_total": l.total})),
        "decision_cache": {
            "hits": hits,
            "misses": misses,
            "entries": entries,
            "hit_rate": if hits + misses == 0 { 0.0 } else { hits as f64 / (hits + misses) as f64 },
        },
        "decisions": {
            "kept": kept,
            "ran": ran,
            "declined": declined,
            "confirmed_share": if ran + declined == 0 { Value::Null } else { json!(ran as f64 / (ran + declined) as f64) },
        },
    });
    Ok(ToolOutput::new(out))
}

fn tokenize(args: &mcp::Map<String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    let loaded = llm::get()?;
    let text = args.get("text").and_then(Value::as_str).unwrap_or("");
    let ids =
        loaded.tokenizer.encode(text, args.get("bos").and_then(Value::as_bool).unwrap_or(loaded.tokenizer.add_bos));
    let pieces: Vec<&str> = ids.iter().map(|&id| loaded.tokenizer.piece(id).unwrap_or("?")).collect();
    Ok(ToolOutput::new(json!({"count": ids.len(), "ids": ids, "pieces": pieces})))
}

/// The prompt: `prompt` as is, or `messages` laid out in the model's chat format (from
/// its GGUF chat template: ChatML, Zephyr, Llama 3, Llama 2; plain otherwise), with the
/// template's default system message when the messages have none.
fn prompt_text(loaded: &llm::Loaded, args: &mcp::Map<String, Value>) -> Result<String, mcp::ToolError> {
    if let Some(prompt) = args.get("prompt").and_then(Value::as_str) {
        return Ok(prompt.into());
    }
    let Some(messages) = args.get("messages").and_then(Value::as_array) else {
        return Err("give either 'prompt' or 'messages'".into());
    };
    let mut turns: Vec<(Role, &str)> = Vec::new();
    for message in messages {
        let role = match message.get("role").and_then(Value::as_str) {
            Some("system") => Role::System,
            Some("assistant") => Role::Assistant,
            _ => Role::User,
        };
        turns.push((role, message.get("content").and_then(Value::as_str).unwrap_or("")));
    }
    Ok(llm::template(loaded).render(&turns))
}

/// Set while a generation runs: requests served during it (same or another client) may not
/// start a second one on top of it.
static GENERATING: AtomicBool = AtomicBool::new(false);

struct Busy;

impl Busy {
    fn take() -> Result<Busy, mcp::ToolError> {
        if GENERATING.swap(true, Ordering::Acquire) {
            return Err("a generation is already running; try again when it finishes (or cancel it)".into());
        }
        Ok(Busy)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        GENERATING.store(false, Ordering::Release);
    }
}

fn run(ctx: &mut mcp::Ctx<'_>, args: &mcp::Map<String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    let loaded = llm::for_generation()?;
    let _busy = Busy::take()?;
    let prompt = prompt_text(loaded, args)?;
    let prompt = prompt.as_str();
    let max_tokens = args.get("max_tokens").and_then(Value::as_u64).unwrap_or(64) as usize;
    let settings = Settings {
        temperature: args.get("temperature").and_then(Value::as_f64).unwrap_or(0.0) as f32,
        top_p: args.get("top_p").and_then(Value::as_f64).unwrap_or(0.95) as f32,
        seed: args.get("seed").and_then(Value::as_u64).unwrap_or(42),
        ..Settings::default()
    };
    let tokens = loaded.tokenizer.encode_prompt(prompt);
    // Working memory (KV cache and scratch) is allocated per generation: refuse instead of
    // running the heap dry, with a margin for the text and notifications.
    let config = &loaded.model.config;
    let context = llm::context().min(config.max_context);
    let need = config.runtime_bytes(context) + (256 << 10);
    let free = crate::memory::heap::stats().free;
    if need > free {
        return Err(format!(
            "not enough memory: '{}' needs {} KiB of working memory at context {context}, {} KiB are free",
            loaded.name,
            need >> 10,
            free >> 10
        )
        .into());
    }
    let mut state = State::new(config, llm::context());
    if tokens.len() + 1 >= state.context() {
        return Err(format!("the prompt has {} tokens; the context holds {}", tokens.len(), state.context()).into());
    }
    let mut sampler = Sampler::new(settings);
    let cores = args.get("cores").and_then(Value::as_u64).map_or(crate::MAX_CORES, |c| c as usize);
    // The other tasks (console, network, a second client) run between slices of each product.
    let pool = crate::executor::Yielding::new(crate::smp::pool::Pool::limit(cores));
    let task = crate::tasks::Task::start("llm_generate");
    let started = cpu::micros();
    let mut text = String::new();
    let mut count = 0usize;
    let output =
        generate(&loaded.model, &loaded.tokenizer, &mut state, &tokens, max_tokens, &mut sampler, &pool, |_, piece| {
            count += 1;
            text.push_str(piece);
            task.set_detail(&format!("{count}/{max_tokens} tokens, {} cores", cores.min(crate::smp::online_count())));
            ctx.progress(count as f64, Some(max_tokens as f64), Some(&text));
            if ctx.is_cancelled() {
                Control::Stop
            } else {
                Control::Continue
            }
        })
        .map_err(|e| format!("{e}"))?;
    let micros = cpu::micros().saturating_sub(started).max(1);
    llm::record_tokens(output.tokens.len() + output.prompt_tokens, micros);
    let finish = match output.finish {
        Finish::EndOfSequence => "end_of_sequence",
        Finish::Length => "max_tokens",
        Finish::Context => "context_full",
        Finish::Stopped => "cancelled",
    };
    let per_second = (output.tokens.len() + output.prompt_tokens) as f64 * 1e6 / micros as f64;
    Ok(ToolOutput::with_text(
        json!({
            "text": output.text,
            "prompt_tokens": output.prompt_tokens,
            "generated_tokens": output.tokens.len(),
            "finish": finish,
            "elapsed_us": micros,
            "tokens_per_second": per_second,
        }),
        output.text.clone(),
    ))
}

fn load(ctx: &mut mcp::Ctx<'_>, args: &mcp::Map<String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    let slot = args.get("model").and_then(Value::as_str).unwrap_or("");
    if slot == "card" {
        // Read it from the card first (if not yet), with progress notifications.
        let file = match args.get("file").and_then(Value::as_str) {
            Some(file) => String::from(file),
            None => {
                crate::storage::settings().model.ok_or("no file given and the settings name no model (model = none)")?
            }
        };
        let mut last = 0usize;
        let mut progress = |done: usize, total: usize| {
            if done == total || done - last >= total / 50 {
                last = done;
                ctx.progress(done as f64, Some(total as f64), Some(&format!("reading {file} from the SD card")));
            }
        };
        llm::load_from_card(&file, &mut progress)?;
    }
    let loaded = llm::select(slot)?;
    let c = &loaded.model.config;
    let text = format!(
        "active model: '{}' ({}, {} layers, dim {}, vocab {})",
        loaded.name, loaded.source, c.n_layers, c.dim, c.vocab_size
    );
    Ok(ToolOutput::with_text(json!({"name": loaded.name, "source": loaded.source, "bytes": loaded.range.len()}), text))
}

/// Registers the group.
pub fn register(server: &mut Server) {
    declare(
        server,
        &const {
            Declaration::new("llm_info", |_, _| info())
            .title("Language model information")
            .description("The loaded model: name, quantization, parameters, layers, context, memory; an error when no model is loaded.")
            .output_schema_text(r#"{"type":"object","properties":{"name":{"type":"string"},"architecture":{"type":"string"},"quantization":{"type":"array","items":{"type":"string"}},"parameters":{"type":"integer"},"layers":{"type":"integer"},"dim":{"type":"integer"},"heads":{"type":"integer"},"kv_heads":{"type":"integer"},"vocab":{"type":"integer"},"max_context":{"type":"integer"},"context":{"type":"integer"},"file_bytes":{"type":"integer"},"memory_estimate_bytes":{"type":"integer"},"address":{"type":"string"},"source":{"enum":["embedded","placed","card"]},"models":{"type":"array","items":{"type":"object","properties":{"slot":{"type":"string"},"name":{"type":"string"},"bytes":{"type":"integer"},"active":{"type":"boolean"},"error":{"type":"string"},"file":{"type":["string","null"]},"load_us":{"type":"integer"}},"required":["slot"]}},"tokens_total":{"type":"integer"},"tokens_per_second":{"type":"number"},"cores":{"type":"integer"},"loading":{"type":["object","null"],"description":"a card model being read in the background","properties":{"file":{"type":"string"},"percent":{"type":"integer"},"bytes_done":{"type":"integer"},"bytes_total":{"type":"integer"}}},"decision_cache":{"type":"object","properties":{"hits":{"type":"integer"},"misses":{"type":"integer"},"entries":{"type":"integer"},"hit_rate":{"type":"number"}}},"decisions":{"type":"object","description":"plain-language decisions kept (kernel://decisions): ran, declined, and the share of proposals that ran rather than being declined","properties":{"kept":{"type":"integer"},"ran":{"type":"integer"},"declined":{"type":"integer"},"confirmed_share":{"type":["number","null"]}}}},"required":["name","parameters","layers","vocab","context","source"]}"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("llm_load", load)
            .title("Switch the language model")
            .description("Makes 'intent' (the small model built into the kernel), 'placed' (the model the loader put in RAM) or 'card' (a GGUF file on the SD card, read into RAM with progress notifications; default file from kingly.txt) the model llm_generate uses. Refused with the reason if that model is absent, corrupt or does not fit in memory.")
            .input_schema_text(r#"{"type":"object","properties":{"model":{"enum":["intent","placed","card"]},"file":{"type":"string","minLength":1,"maxLength":255,"description":"file on the card's boot partition (model=card)"}},"required":["model"],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"name":{"type":"string"},"source":{"type":"string"},"bytes":{"type":"integer"}},"required":["name","source"]}"#)
            .annotations(Annotations { read_only: false, destructive: true, idempotent: true, open_world: false })
        },
    );
    declare(
        server,
        &const {
            Declaration::new("llm_tokenize", |_, args| tokenize(args))
            .title("Tokenize text")
            .description("The model's token ids (and pieces) for a text, with BOS first when the model asks for it (its add_bos_token) unless bos says otherwise.")
            .input_schema_text(r#"{"type":"object","properties":{"text":{"type":"string","maxLength":16384},"bos":{"type":"boolean","description":"put BOS first (default: as the model's tokenizer says)"}},"required":["text"],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"count":{"type":"integer"},"ids":{"type":"array","items":{"type":"integer"}},"pieces":{"type":"array","items":{"type":"string"}}},"required":["count","ids"]}"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("llm_generate", run)
            .title("Generate text")
            .description("Continues a prompt (or answers chat messages) with the active model. Streams the text so far as progress notifications when the request has a progress token; greedy at temperature 0; same seed, same text.")
            .input_schema_text(r#"{"type":"object","properties":{"prompt":{"type":"string","maxLength":8192},"messages":{"type":"array","maxItems":32,"items":{"type":"object","properties":{"role":{"enum":["system","user","assistant"]},"content":{"type":"string","maxLength":8192}},"required":["role","content"],"additionalProperties":false},"description":"chat turns, laid out in the model's chat format (instead of prompt)"},"max_tokens":{"type":"integer","minimum":1,"maximum":1024,"default":64},"temperature":{"type":"number","minimum":0,"maximum":2,"default":0},"top_p":{"type":"number","minimum":0,"maximum":1,"default":0.95},"seed":{"type":"integer","minimum":0,"default":42},"cores":{"type":"integer","minimum":1,"maximum":4,"description":"cores to spread the work over (default: all)"}},"anyOf":[{"required":["prompt"]},{"required":["messages"]}],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"text":{"type":"string"},"prompt_tokens":{"type":"integer"},"generated_tokens":{"type":"integer"},"finish":{"enum":["end_of_sequence","max_tokens","context_full","cancelled"]},"elapsed_us":{"type":"integer"},"tokens_per_second":{"type":"number"}},"required":["text","generated_tokens","finish"]}"#)
            .annotations(Annotations { read_only: true, destructive: false, idempotent: false, open_world: false })
        },
    );
}
