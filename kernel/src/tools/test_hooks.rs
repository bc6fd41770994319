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

/// A random matrix-vector product on the compute pool and on this core alone: the results
/// must be bit-identical (each row is computed the same way wherever it runs).
fn compute(args: &mcp::Map<alloc::string::String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    use crate::{arch::cpu, smp};
    use inference::quant::{self, DType, Serial, Tensor};
    let rows = args.get("rows").and_then(Value::as_u64).unwrap_or(1024) as usize;
    let cols = args.get("cols").and_then(Value::as_u64).unwrap_or(512) as usize;
    let dtype = match args.get("dtype").and_then(Value::as_str).unwrap_or("q8_0") {
        "f32" => DType::F32,
        "q4_0" => DType::Q4_0,
        "q4_k" => DType::Q4K,
        "q6_k" => DType::Q6K,
        _ => DType::Q8_0,
    };
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let weights: Vec<f32> = (0..rows * cols).map(|_| random()).collect();
    let x: Vec<f32> = (0..cols).map(|_| random()).collect();
    let data = match dtype {
        DType::F32 => weights.iter().flat_map(|w| w.to_le_bytes()).collect(),
        DType::Q4_0 => quant::quantize_q4_0(&weights),
        DType::Q4K => quant::quantize_q4_k(&weights),
        DType::Q6K => quant::quantize_q6_k(&weights),
        _ => quant::quantize_q8_0(&weights),
    };
    let tensor = Tensor::new(dtype, rows, cols, &data).map_err(|e| alloc::format!("{e}"))?;
    let jobs_before: Vec<u64> = (0..crate::MAX_CORES).map(|c| smp::stats(c).jobs.load(core::sync::atomic::Ordering::Relaxed)).collect();
    let mut parallel = alloc::vec![0f32; rows];
    let started = cpu::micros();
    tensor.matvec(&x, &mut parallel, &smp::pool::Pool::ALL);
    let pool_us = cpu::micros() - started;
    let cores_used = (0..crate::MAX_CORES)
        .filter(|&c| smp::stats(c).jobs.load(core::sync::atomic::Ordering::Relaxed) > jobs_before[c])
        .count();
    let mut serial = alloc::vec![0f32; rows];
    let started = cpu::micros();
    tensor.matvec(&x, &mut serial, &Serial);
    let serial_us = cpu::micros() - started;
    let equal = parallel.iter().zip(&serial).all(|(a, b)| a.to_bits() == b.to_bits());
    let text = alloc::format!(
        "compute {rows}x{cols} {dtype:?}: {} on {cores_used} cores ({pool_us} us) vs one core ({serial_us} us)",
        if equal { "identical" } else { "DIFFERENT" }
    );
    Ok(ToolOutput::with_text(
        json!({"equal": equal, "rows": rows, "cores_used": cores_used, "pool_us": pool_us, "serial_us": serial_us}),
        text,
    ))
}

/// Panics inside a compute job on core `core` (crash report names that core).
fn core_panic(args: &mcp::Map<alloc::string::String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    use inference::quant::Parallel;
    let target = args.get("core").and_then(Value::as_u64).unwrap_or(1) as usize;
    if !crate::smp::is_online(target) || target == crate::arch::cpu::core_id() {
        return Err(alloc::format!("core {target} is not an online compute core").into());
    }
    let mut out = alloc::vec![0f32; 4096];
    crate::smp::pool::Pool::ALL.for_each_chunk(&mut out, &|_, _| {
        if crate::arch::cpu::core_id() == target {
            panic!("panic requested in a compute job");
        }
    });
    Err(alloc::format!("core {target} got no compute job").into())
}

/// Memory held by `test_hold` until released.
static HELD: spin::Mutex<Vec<Vec<u8>>> = spin::Mutex::new(Vec::new());

/// Holds (or with 0, releases) heap memory, leaving `leave_kib` free.
fn hold(args: &mcp::Map<alloc::string::String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    let leave = args.get("leave_kib").and_then(Value::as_u64).unwrap_or(0) as usize * 1024;
    let mut held = HELD.lock();
    if leave == 0 {
        held.clear();
    } else {
        // In 1 MiB pieces (a fragmented heap may not have one huge block), then 16 KiB.
        for piece in [1usize << 20, 16 << 10] {
            while crate::memory::heap::stats().free > leave + piece + 4096 {
                held.push(alloc::vec![0u8; piece]);
            }
        }
    }
    let free = crate::memory::heap::stats().free;
    let bytes: usize = held.iter().map(Vec::len).sum();
    let text = alloc::format!("holding {} KiB, {} KiB free", bytes >> 10, free >> 10);
    Ok(ToolOutput::with_text(json!({"held_bytes": bytes, "free_bytes": free}), text))
}

/// Runs the real I2C driver, with the kernel's clock, against a register window where no
/// controller answers (QEMU's unimplemented "bcm2835-spis" block reads as zeros), standing in
/// for a dead or stuck bus: the transfer must end at its deadline with an error.
fn i2c_stall() -> Result<ToolOutput, mcp::ToolError> {
    const BSC1_OFFSET: usize = 0x80_4000;
    const SPI_SLAVE_OFFSET: usize = 0x21_4000;
    let bsc1 = crate::board::CURRENT.i2c[1].ok_or("this board has no I2C")?;
    let dead = bsc1 - BSC1_OFFSET + SPI_SLAVE_OFFSET;
    // SAFETY: the window is inside the board's device mapping; on QEMU nothing is there but
    // an unimplemented-device stub (reads 0, ignores writes), so no real device is touched,
    // and this driver instance is the only user.
    let mut bsc = unsafe { drivers::i2c::Bsc::new(dead, crate::arch::cpu::micros) };
    let started = crate::arch::cpu::micros();
    let result = bsc.write_bytes(0x48, &[0]);
    let elapsed = crate::arch::cpu::micros() - started;
    match result {
        Err(error) => Err(alloc::format!("{error} (after {elapsed} us)").into()),
        Ok(()) => Ok(ToolOutput::new(json!({"elapsed_us": elapsed}))),
    }
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
        Tool::new("test_compute", |_, args| compute(args))
            .title("Compute pool check")
            .description("A random matrix-vector product on all cores and on one core; reports whether the results are bit-identical.")
            .input_schema_text(r#"{"type":"object","properties":{"rows":{"type":"integer","minimum":1,"maximum":16384},"cols":{"type":"integer","minimum":256,"maximum":4096,"multipleOf":256},"dtype":{"enum":["f32","q8_0","q4_0","q4_k","q6_k"]}},"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"equal":{"type":"boolean"},"rows":{"type":"integer"},"cores_used":{"type":"integer"},"pool_us":{"type":"integer"},"serial_us":{"type":"integer"}},"required":["equal","cores_used"]}"#)
            .annotations(Annotations::READ_ONLY),
    );
    add(
        server,
        Tool::new("test_core_panic", |_, args| core_panic(args))
            .title("Panic on a compute core")
            .description("Panics inside a compute job on the given core (crash report test).")
            .input_schema_text(r#"{"type":"object","properties":{"core":{"type":"integer","minimum":1,"maximum":3}},"required":["core"],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type": "object", "description": "never returns: the kernel stops"}"#)
            .annotations(Annotations::DESTRUCTIVE),
    );
    add(
        server,
        Tool::new("test_hold", |_, args| hold(args))
            .title("Hold heap memory")
            .description("Allocates heap memory until about leave_kib KiB are free (0: release it), to test refusals when memory runs short.")
            .input_schema_text(r#"{"type":"object","properties":{"leave_kib":{"type":"integer","minimum":0}},"required":["leave_kib"],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"held_bytes":{"type":"integer"},"free_bytes":{"type":"integer"}},"required":["held_bytes","free_bytes"]}"#)
            .annotations(Annotations::MUTATING),
    );
    add(
        server,
        Tool::new("test_i2c_stall", |_, _| i2c_stall())
            .title("I2C on a dead controller")
            .description("Runs an I2C write on a register window where no controller answers; it must fail at its deadline.")
            .output_schema_text(r#"{"type":"object","properties":{"elapsed_us":{"type":"integer"}},"required":["elapsed_us"]}"#)
            .annotations(Annotations::MUTATING),
    );
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
