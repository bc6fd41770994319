//! Deliberate failures and stress tests for the QEMU integration tests (feature
//! `test-hooks` only; never in a normal build).

use super::add;
use alloc::vec::Vec;
use mcp::{json, Annotations, Server, Tool, ToolOutput, Value};

/// Reads from an address outside every mapping.
fn fault() -> ! {
    let address = 0x1_0000_0000usize as *const u64;
    // SAFETY: none — this is the deliberate bad access the fault-report test needs; the
    // address is unmapped, so the read traps before anything is read.
    let value = unsafe { core::ptr::read_volatile(address) };
    panic!("read {value} from an unmapped address (should have faulted)");
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    frame[0] + recurse(depth + 1)
}

/// Allocation stress: many sizes, interleaved frees, contents verified.
fn heap_stress() -> Result<ToolOutput, mcp::ToolError> {
    let before = crate::memory::heap::stats().used;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut checked = 0usize;
    for round in 0..4000u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let size = 1 + (seed % 8192) as usize;
        if seed % 3 == 0 && !blocks.is_empty() {
            let index = (seed as usize / 7) % blocks.len();
            let block = blocks.swap_remove(index);
            if !block.iter().all(|&b| b == block[0]) {
                return Err(alloc::format!("heap test: FAILED, block contents corrupted at round {round}").into());
            }
            checked += 1;
        } else {
            blocks.push(alloc::vec![round as u8; size]);
        }
    }
    for block in &blocks {
        if !block.iter().all(|&b| b == block[0]) {
            return Err("heap test: FAILED, block contents corrupted".into());
        }
    }
    checked += blocks.len();
    drop(blocks);
    let after = crate::memory::heap::stats().used;
    let text = alloc::format!("heap test: ok, {checked} blocks verified, used before {before} after {after}");
    Ok(ToolOutput::with_text(json!({"blocks": checked, "used_before": before, "used_after": after}), text))
}

/// Registers the test tools.
pub fn register(server: &mut Server) {
    let crash = |name: &str, description: &str, run: fn() -> !| {
        Tool::new(name, move |_, _| run())
            .title(description)
            .description(description)
            
            .output_schema_text(r#"{"type": "object", "description": "never returns: the kernel stops"}"#)
            .annotations(Annotations::DESTRUCTIVE)
    };
    add(server, crash("test_fault", "Read an unmapped address (fault report test)", fault));
    add(server, crash("test_overflow", "Overflow the kernel stack into its guard page", || {
        panic!("recursion returned {}", recurse(0))
    }));
    add(server, crash("test_panic", "Panic", || panic!("panic requested from the console")));
    add(server, crash("test_oom", "Allocate more than the heap holds", || {
        let huge: Vec<u8> = Vec::with_capacity(usize::MAX / 4);
        panic!("allocated {} (should have failed)", huge.capacity())
    }));
    add(
        server,
        Tool::new("test_heap", |_, _| heap_stress())
            .title("Heap stress test")
            .description("Allocates and frees thousands of blocks, verifying their contents.")
            
            .output_schema_text(r#"{
                "type": "object",
                "properties": {"blocks": {"type": "integer"}, "used_before": {"type": "integer"}, "used_after": {"type": "integer"}},
                "required": ["blocks", "used_before", "used_after"]
            }"#)
            .annotations(Annotations::MUTATING),
    );
    add(
        server,
        Tool::new("test_echo", |_, args| {
            let text = args.get("text").and_then(Value::as_str).unwrap_or("");
            let sum = text.bytes().fold(0u32, |acc, b| acc.wrapping_mul(31).wrapping_add(b as u32));
            let out = alloc::format!("echo: {} bytes, checksum {sum:08x}", text.len());
            Ok(ToolOutput::with_text(json!({"bytes": text.len(), "checksum": alloc::format!("{sum:08x}")}), out))
        })
        .title("Echo")
        .description("Returns the length and a checksum of the text (console paste test).")
        .input_schema_text(r#"{
            "type": "object",
            "properties": {"text": {"type": "string", "maxLength": 65536}},
            "required": ["text"],
            "additionalProperties": false
        }"#)
        .output_schema_text(r#"{
            "type": "object",
            "properties": {"bytes": {"type": "integer"}, "checksum": {"type": "string"}},
            "required": ["bytes", "checksum"]
        }"#)
        .annotations(Annotations::READ_ONLY),
    );
}
