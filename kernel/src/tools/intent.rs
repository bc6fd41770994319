//! `intent_parse`: plain language → a verified tool-call proposal, without running it.
//! `intent_run`: the same, then runs it — read-only tools at once, anything else only when
//! the client's user accepts it (MCP elicitation, when the client can be asked) or with
//! `confirm: true` (otherwise the proposal comes back with `needs_confirmation`).

use super::declare;
use crate::{
    decisions::Outcome,
    intent::{self, Status},
};
use alloc::{format, string::String, sync::Arc};
use mcp::{json, Annotations, CallError, Confirmation, Declaration, Server, ToolOutput, Value};

/// The proposal, held back: the client cannot be asked and did not send `confirm: true`.
fn needs_confirmation(decision: &intent::Decision, tool: &str, hints: Annotations) -> ToolOutput {
    intent::settle(decision, Outcome::Proposed, None);
    let out = json!({
        "status": "needs_confirmation", "tool": tool, "arguments": decision.arguments,
        "confidence": decision.confidence, "destructive": hints.destructive, "ran": false,
        "message": format!("{tool} changes the machine; call again with confirm: true to run it"),
    });
    ToolOutput::with_text(out, format!("needs confirmation: {tool} {}", decision.arguments))
}

fn run(ctx: &mut mcp::Ctx<'_>, args: &mcp::Map<String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    let text = args.get("text").and_then(Value::as_str).unwrap_or("");
    let confirmed = args.get("confirm").and_then(Value::as_bool).unwrap_or(false);
    let decision = intent::decide(text, &mut || ctx.is_cancelled())?;
    let (Some(tool), Status::Ready, Some(hints)) = (&decision.tool, &decision.status, decision.hints) else {
        let out = json!({"status": decision.status.as_str(), "tool": decision.tool, "confidence": decision.confidence, "message": decision.message, "answer": decision.answer, "ran": false, "decision": decision.id});
        return Ok(ToolOutput::with_text(out, format!("{}: {}", decision.status.as_str(), decision.message)));
    };
    if !hints.read_only && !confirmed {
        let question = format!("Run {tool} {} (understood from \"{text}\")?", json!(decision.arguments));
        match ctx.confirm(&question) {
            Confirmation::Accepted => {}
            Confirmation::Declined(why) => {
                intent::settle(&decision, Outcome::Declined, None);
                let out = json!({
                    "status": "declined", "tool": tool, "arguments": decision.arguments,
                    "confidence": decision.confidence, "destructive": hints.destructive, "ran": false,
                    "message": format!("{tool} was not run: {why}"),
                });
                return Ok(ToolOutput::with_text(out, format!("declined: {tool} {}", decision.arguments)));
            }
            Confirmation::Unavailable => return Ok(needs_confirmation(&decision, tool, hints)),
        }
    }
    let registry = intent::registry().ok_or("the tool registry is not ready")?;
    // A remote-style session: local-only tools (secrets) are never reachable this way.
    let mut session = Server::over(Arc::clone(registry));
    session.set_remote(true);
    let output = match session.call_tool_with(ctx, tool, &decision.arguments) {
        Ok(output) => output,
        Err(CallError::Failed(why)) => {
            intent::settle(&decision, Outcome::Failed, Some(&why));
            return Err(format!("{tool} failed: {why}").into());
        }
        Err(error) => {
            let why = format!("{tool}: {error}");
            intent::settle(&decision, Outcome::Failed, Some(&why));
            return Err(why.into());
        }
    };
    intent::settle(&decision, Outcome::Ran, None);
    let text = output.text.clone().unwrap_or_else(|| mcp::shell::render(&output.structured));
    let out = json!({
        "status": "ran", "tool": tool, "arguments": decision.arguments, "confidence": decision.confidence,
        "ran": true, "result": output.structured, "message": format!("ran {tool} {}", decision.arguments),
        "decision": decision.id,
    });
    Ok(ToolOutput::with_text(out, format!("-> {tool} {}\n{text}", decision.arguments)))
}

fn parse(ctx: &mut mcp::Ctx<'_>, args: &mcp::Map<String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    let text = args.get("text").and_then(Value::as_str).unwrap_or("");
    let decision = intent::decide(text, &mut || ctx.is_cancelled())?;
    if decision.status == Status::Ready {
        intent::settle(&decision, Outcome::Proposed, None);
    }
    let hints = decision.hints;
    let mut out = json!({
        "status": decision.status.as_str(),
        "tool": decision.tool,
        "arguments": decision.arguments,
        "confidence": decision.confidence,
        "proposal": decision.proposal,
        "read_only": hints.map(|h| h.read_only),
        "destructive": hints.map(|h| h.destructive),
        "needs_confirmation": decision.status == Status::Ready && hints.is_some_and(|h| !h.read_only),
        "message": decision.message,
        "cached": decision.cached,
        "model": decision.model,
        "answer": decision.answer,
        "decision": decision.id,
    });
    if args.get("explain").and_then(Value::as_bool) == Some(true) {
        let loaded = crate::llm::get()?;
        let budget = args.get("budget").and_then(Value::as_u64).map_or(intent::CONTEXT_BUDGET, |b| b as usize);
        let (context, tokens, tools) = intent::context(&intent::normalise(text), &loaded.tokenizer, budget);
        out["context"] = json!({"text": context, "tokens": tokens, "budget": budget, "tools_listed": tools, "tokenizer_of": loaded.name});
    }
    let text = format!("{}: {} (confidence {:.2})", decision.status.as_str(), decision.message, decision.confidence);
    Ok(ToolOutput::with_text(out, text))
}

/// Registers the group.
pub fn register(server: &mut Server) {
    declare(
        server,
        &const {
            Declaration::new("intent_run", run)
            .title("Do what a request says")
            .description("Understands a plain-language request like intent_parse, then runs the proposed tool: read-only tools at once; tools that change the machine only after the client's user accepts them (MCP elicitation; status declined otherwise) or, for a client that cannot be asked, with confirm=true (otherwise the proposal is returned with status needs_confirmation). Unknown or uncertain requests are not guessed.")
            .input_schema_text(r#"{"type":"object","properties":{"text":{"type":"string","minLength":1,"maxLength":512},"confirm":{"type":"boolean","default":false,"description":"run a proposal that changes the machine"}},"required":["text"],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"status":{"enum":["ran","needs_confirmation","declined","unknown","low_confidence","unavailable","invalid"]},"tool":{"type":["string","null"]},"arguments":{},"confidence":{"type":"number"},"destructive":{"type":"boolean"},"ran":{"type":"boolean"},"result":{},"message":{"type":"string"},"answer":{"type":["string","null"],"description":"a chat model's answer in words when no tool fits"},"decision":{"type":"integer","description":"its number in kernel://decisions"}},"required":["status","ran","message"]}"#)
            .annotations(Annotations { read_only: false, destructive: true, idempotent: false, open_world: false })
            .confirms_itself()
        },
    );
    declare(
        server,
        &const {
            Declaration::new("intent_parse", parse)
            .title("Understand a request")
            .description("Turns a plain-language request into a proposed tool call with the built-in intent model, verified against the tool's input schema, with a confidence. Does not run it: status 'ready' means the call is valid; 'unknown', 'low_confidence', 'unavailable' and 'invalid' say why not.")
            .input_schema_text(r#"{"type":"object","properties":{"text":{"type":"string","minLength":1,"maxLength":512},"explain":{"type":"boolean","default":false,"description":"also return the context a chat model would get for this request (tool list and state within the token budget)"},"budget":{"type":"integer","minimum":64,"maximum":2048,"default":384}},"required":["text"],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"model":{"enum":["intent","placed","card"]},"context":{"type":"object","properties":{"text":{"type":"string"},"tokens":{"type":"integer"},"budget":{"type":"integer"},"tools_listed":{"type":"integer"},"tokenizer_of":{"type":"string"}}},"status":{"enum":["ready","unknown","low_confidence","unavailable","invalid"]},"tool":{"type":["string","null"]},"arguments":{},"confidence":{"type":"number"},"proposal":{"type":"string"},"read_only":{"type":["boolean","null"]},"destructive":{"type":["boolean","null"]},"needs_confirmation":{"type":"boolean"},"message":{"type":"string"},"cached":{"type":"boolean"},"answer":{"type":["string","null"],"description":"a chat model's answer in words when no tool fits (never run)"},"decision":{"type":"integer","description":"its number in kernel://decisions"}},"required":["status","tool","confidence","proposal","message"]}"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    let resource = mcp::Resource::new("kernel://decisions", "decisions", |_, _| Ok(crate::decisions::resource()))
        .title("Plain-language decisions")
        .description(
            "Every ask / intent_parse / intent_run decision (request, proposal, confidence, model, cache hit, \
             outcome: refused, answered, proposed, declined, ran or failed, latency), newest last; kept on the \
             card in INTENTS.LOG across reboots.",
        );
    if let Err(error) = server.add_resource(resource) {
        log::error!("resource not registered: {error}");
    }
}
