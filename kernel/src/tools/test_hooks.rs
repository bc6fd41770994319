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

/// Writes over the kernel's own code: `.text` is mapped read-only, so this must fault.
fn write_text() -> ! {
    let code = write_text as *const () as *mut u32;
    // SAFETY: none — the deliberate write the W^X test needs; the page is read-only, so the
    // store traps before anything changes.
    unsafe { core::ptr::write_volatile(code, 0xd503_201f) };
    panic!("wrote to .text at {code:p} (should have faulted)");
}

/// `ret` as an AArch64 instruction word.
const RET: u32 = 0xd65f_03c0;

/// Jumps into `code` (a `ret` placed in writable memory): data pages are never executable,
/// so the fetch must fault.
fn execute(code: *const u32, what: &str) -> ! {
    // SAFETY: none — the deliberate jump the W^X test needs; `code` points at a valid `ret`,
    // but its page is mapped execute-never, so the instruction fetch traps.
    let function: extern "C" fn() = unsafe { core::mem::transmute(code) };
    function();
    panic!("executed {what} at {code:p} (should have faulted)");
}

fn execute_heap() -> ! {
    let code = alloc::boxed::Box::new([RET; 4]);
    execute(code.as_ptr(), "the heap")
}

fn execute_stack() -> ! {
    let code = core::hint::black_box([RET; 4]);
    execute(code.as_ptr(), "the stack")
}

/// Recurses until the stack guard page faults — the point of the stack-overflow test.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    frame[0] + recurse(depth + 1)
}

/// Allocation stress: many sizes, interleaved frees, contents verified.
fn heap_stress() -> Result<ToolOutput, mcp::ToolError> {
    let before = crate::memory::heap::stats().used;
    let mut rng = testkit::Rng::new(0x2545_f491_4f6c_dd1d);
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut checked = 0usize;
    for round in 0..4000u32 {
        let seed = rng.next_u64();
        let size = 1 + (seed % 8192) as usize;
        if seed.is_multiple_of(3) && !blocks.is_empty() {
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
    let mut rng = testkit::Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut random = move || rng.unit() * 0.5;
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
    let jobs_before: Vec<u64> =
        (0..crate::MAX_CORES).map(|c| smp::stats(c).jobs.load(core::sync::atomic::Ordering::Relaxed)).collect();
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

/// Runs `job` inside a compute job on the core named by the `core` argument (the other
/// cores' parts do nothing): the crash tests of the compute pool.
fn on_compute_core(args: &mcp::Map<alloc::string::String, Value>, job: fn()) -> Result<ToolOutput, mcp::ToolError> {
    use inference::quant::Parallel;
    let target = args.get("core").and_then(Value::as_u64).unwrap_or(1) as usize;
    if !crate::smp::is_online(target) || target == crate::arch::cpu::core_id() {
        return Err(alloc::format!("core {target} is not an online compute core").into());
    }
    let mut out = alloc::vec![0f32; 4096];
    crate::smp::pool::Pool::ALL.for_each_chunk(&mut out, &|_, _| {
        if crate::arch::cpu::core_id() == target {
            job();
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

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
fn mac_text(mac: &[u8]) -> alloc::string::String {
    let mut text = alloc::string::String::new();
    for (i, byte) in mac.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        text.push_str(&alloc::format!("{byte:02x}"));
    }
    text
}

/// QEMU user networking: the guest address and the gateway asked for in `test_usb`.
const GUEST_IP: [u8; 4] = [10, 0, 2, 15];
const GATEWAY_IP: [u8; 4] = [10, 0, 2, 2];

/// A broadcast ARP request "who has `GATEWAY_IP`, tell `GUEST_IP`" from `mac`, padded to the
/// 60-byte Ethernet minimum.
fn arp_request(mac: [u8; 6]) -> [u8; 60] {
    let mut frame = [0u8; 60];
    frame[0..6].fill(0xff);
    frame[6..12].copy_from_slice(&mac);
    frame[12..14].copy_from_slice(&[0x08, 0x06]);
    frame[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    frame[22..28].copy_from_slice(&mac);
    frame[28..32].copy_from_slice(&GUEST_IP);
    frame[38..42].copy_from_slice(&GATEWAY_IP);
    frame
}

/// The sender MAC of an ARP reply from `GATEWAY_IP` to `GUEST_IP` at `mac`, if `frame` is one.
fn arp_reply_sender(frame: &[u8], mac: [u8; 6]) -> Option<[u8; 6]> {
    let arp = frame.get(14..42)?;
    let is_reply = frame[12..14] == [0x08, 0x06] && arp[0..8] == [0, 1, 0x08, 0x00, 6, 4, 0, 2];
    if !is_reply || arp[14..18] != GATEWAY_IP || arp[18..24] != mac || arp[24..28] != GUEST_IP {
        return None;
    }
    arp[8..14].try_into().ok()
}

/// Brings USB up (once), lists the device tree, and exchanges raw frames with QEMU's user
/// network through the CDC-ECM NIC: a broadcast ARP request for the gateway, then the
/// reply, within a deadline. With `frames` > 0 it then sends that many full-size frames
/// (broadcast, local experimental EtherType 0x88b5, which the gateway ignores) and reports
/// the transmit rate.
fn usb_test(args: &mcp::Map<alloc::string::String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    use drivers::net::{EthernetDevice, NetError, MAX_FRAME};
    let usb = crate::usb::init().map_err(|why| alloc::format!("USB: {why}"))?;
    let mut text = alloc::format!(
        "USB controller id {:#010x}, {} channels, up in {} ms\n",
        usb.controller.id,
        usb.controller.channels,
        usb.elapsed_us / 1000
    );
    let mut devices = Vec::new();
    for device in &usb.devices {
        let d = &device.descriptor;
        text.push_str(&alloc::format!(
            "  port {} address {} {:04x}:{:04x} class {} {} speed \"{}\" \"{}\"",
            device.path,
            device.address,
            d.vendor,
            d.product,
            d.class,
            device.speed.name(),
            device.manufacturer.as_str(),
            device.product.as_str()
        ));
        let hub = device.hub.map(
            |hub| json!({"ports": hub.ports, "connected": hub.connected, "changes_at_start": hub.changes_at_start}),
        );
        if let Some(hub) = device.hub {
            text.push_str(&alloc::format!(" hub: {} ports, connected {:#06x}", hub.ports, hub.connected));
        }
        text.push('\n');
        devices.push(json!({
            "port": alloc::format!("{}", device.path),
            "address": device.address,
            "vendor": alloc::format!("{:04x}", d.vendor),
            "product": alloc::format!("{:04x}", d.product),
            "class": d.class,
            "speed": device.speed.name(),
            "manufacturer": device.manufacturer.as_str(),
            "product_name": device.product.as_str(),
            "configurations": d.configurations,
            "hub": hub,
        }));
    }
    let failures: Vec<Value> = usb.failures.iter().map(|(port, why)| json!({"port": port, "error": why})).collect();
    for (port, why) in &usb.failures {
        text.push_str(&alloc::format!("  port {port}: {why}\n"));
    }
    let nic = match &usb.nic {
        Ok(nic) => nic,
        Err(why) => return Err(alloc::format!("{text}network: {why}").into()),
    };
    let mut ethernet = crate::usb::ethernet().ok_or("USB NIC vanished")?;
    let mac = ethernet.mac_address();
    let f = nic.function.as_ref().ok_or("the USB NIC is not CDC-ECM")?;
    text.push_str(&alloc::format!(
        "NIC: device {} configuration {} data interface {} alt {}, bulk in {} out {}, MAC {}\n",
        nic.address,
        f.configuration,
        f.data_interface,
        f.data_alternate,
        f.bulk_in.number,
        f.bulk_out.number,
        mac_text(&mac)
    ));

    // Send the request (retrying while a previous frame is still in flight), then wait
    // for the reply, skipping any other frame.
    let started = crate::arch::cpu::micros();
    let deadline = started + 3_000_000;
    let request = arp_request(mac);
    loop {
        match ethernet.transmit(&request) {
            Ok(()) => break,
            Err(NetError::Busy) if crate::arch::cpu::micros() < deadline => {}
            Err(error) => return Err(alloc::format!("{text}transmit failed: {error}").into()),
        }
    }
    let mut buffer = [0u8; MAX_FRAME];
    let mut frames = 0u32;
    let gateway = loop {
        match ethernet.receive(&mut buffer) {
            Ok(Some(length)) => {
                frames += 1;
                if let Some(sender) = arp_reply_sender(&buffer[..length], mac) {
                    break sender;
                }
            }
            Ok(None) | Err(NetError::Busy) => {}
            Err(error) => return Err(alloc::format!("{text}receive failed: {error}").into()),
        }
        if crate::arch::cpu::micros() > deadline {
            return Err(alloc::format!("{text}no ARP reply from 10.0.2.2 within 3 s ({frames} other frames)").into());
        }
    };
    let elapsed = crate::arch::cpu::micros() - started;
    text.push_str(&alloc::format!("ARP: 10.0.2.2 is at {} ({elapsed} us)", mac_text(&gateway)));

    let burst = args.get("frames").and_then(Value::as_u64).unwrap_or(0);
    let mut frame = [0u8; MAX_FRAME];
    frame[0..6].fill(0xff);
    frame[6..12].copy_from_slice(&mac);
    frame[12..14].copy_from_slice(&[0x88, 0xb5]);
    let before = ethernet.counters().tx_frames;
    let burst_started = crate::arch::cpu::micros();
    let burst_deadline = burst_started + 30_000_000;
    for sent in 0..burst {
        frame[14..22].copy_from_slice(&sent.to_be_bytes());
        loop {
            match ethernet.transmit(&frame) {
                Ok(()) => break,
                Err(NetError::Busy) if crate::arch::cpu::micros() < burst_deadline => {
                    let _ = ethernet.receive(&mut buffer);
                }
                Err(error) => return Err(alloc::format!("{text}\nburst frame {sent}: {error}").into()),
            }
        }
    }
    // Wait for the last frame to leave (receive collects finished transmits).
    while ethernet.counters().tx_frames < before + burst && crate::arch::cpu::micros() < burst_deadline {
        let _ = ethernet.receive(&mut buffer);
    }
    let burst_us = crate::arch::cpu::micros() - burst_started;
    let burst_sent = ethernet.counters().tx_frames - before;
    let rate = (burst_sent * MAX_FRAME as u64 * 1_000_000).checked_div(burst_us).unwrap_or(0) / 1024;
    if burst > 0 {
        text.push_str(&alloc::format!(
            "\nburst: {burst_sent} frames of {MAX_FRAME} bytes in {burst_us} us ({rate} KiB/s)"
        ));
    }
    let counters = ethernet.counters();
    Ok(ToolOutput::with_text(
        json!({
            "controller": {"id": alloc::format!("{:#010x}", usb.controller.id), "channels": usb.controller.channels, "slots": usb.controller.slots},
            "bring_up_us": usb.elapsed_us,
            "devices": devices,
            "failures": failures,
            "nic": {
                "name": ethernet.name(),
                "address": nic.address,
                "mac": mac_text(&mac),
                "configuration": f.configuration,
                "data_interface": f.data_interface,
                "data_alternate": f.data_alternate,
                "max_segment": f.max_segment,
                "filter_accepted": nic.filter_accepted,
                "link_up": ethernet.link_up(),
            },
            "arp": {"gateway_ip": "10.0.2.2", "gateway_mac": mac_text(&gateway), "elapsed_us": elapsed, "frames_seen": frames},
            "burst": {"frames": burst_sent, "elapsed_us": burst_us, "kib_per_s": rate},
            "counters": {"rx_frames": counters.rx_frames, "tx_frames": counters.tx_frames, "dropped": counters.dropped},
        }),
        text,
    ))
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
    add(
        server,
        crash("test_overflow", "Overflow the kernel stack into its guard page", || {
            panic!("recursion returned {}", recurse(0))
        }),
    );
    add(server, crash("test_panic", "Panic", || panic!("panic requested from the console")));
    add(server, crash("test_write_text", "Write to the kernel's code (W^X test)", write_text));
    add(server, crash("test_exec_heap", "Execute an instruction placed on the heap (W^X test)", execute_heap));
    add(server, crash("test_exec_stack", "Execute an instruction placed on the stack (W^X test)", execute_stack));
    add(
        server,
        crash("test_panic_reset", "Panic and take the reset path a release build takes (crash record test)", || {
            crate::crash::reset_in_tests();
            panic!("panic requested with a reset")
        }),
    );
    add(
        server,
        crash("test_oom", "Allocate more than the heap holds", || {
            let huge: Vec<u8> = Vec::with_capacity(usize::MAX / 4);
            panic!("allocated {} (should have failed)", huge.capacity())
        }),
    );
    add(
        server,
        Tool::new("test_compute", |_, args| compute(args))
            .title("Compute pool check")
            .description("A random matrix-vector product on all cores and on one core; reports whether the results are bit-identical.")
            .input_schema_text(r#"{"type":"object","properties":{"rows":{"type":"integer","minimum":1,"maximum":16384},"cols":{"type":"integer","minimum":256,"maximum":4096,"multipleOf":256},"dtype":{"enum":["f32","q8_0","q4_0","q4_k","q6_k"]}},"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"equal":{"type":"boolean"},"rows":{"type":"integer"},"cores_used":{"type":"integer"},"pool_us":{"type":"integer"},"serial_us":{"type":"integer"}},"required":["equal","cores_used"]}"#)
            .annotations(Annotations::READ_ONLY),
    );
    let on_core = |name: &str, description: &str, job: fn()| {
        Tool::new(name, move |_, args| on_compute_core(args, job))
            .title(description)
            .description(description)
            .input_schema_text(r#"{"type":"object","properties":{"core":{"type":"integer","minimum":1,"maximum":3}},"required":["core"],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type": "object", "description": "never returns: the kernel stops"}"#)
            .annotations(Annotations::DESTRUCTIVE)
    };
    add(
        server,
        on_core("test_core_panic", "Panic inside a compute job on the given core (crash report test)", || {
            panic!("panic requested in a compute job")
        }),
    );
    add(
        server,
        on_core("test_core_hang", "Loop forever inside a compute job on the given core (job deadline test)", || loop {
            core::hint::spin_loop();
        }),
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
            .description(
                "Runs an I2C write on a register window where no controller answers; it must fail at its deadline.",
            )
            .output_schema_text(
                r#"{"type":"object","properties":{"elapsed_us":{"type":"integer"}},"required":["elapsed_us"]}"#,
            )
            .annotations(Annotations::MUTATING),
    );
    add(
        server,
        Tool::new("test_usb", |_, args| usb_test(args))
            .title("USB bring-up and NIC check")
            .description("Brings up the USB host (once), lists the device tree, and sends a broadcast ARP request for 10.0.2.2 through the CDC-ECM NIC, waiting for the reply; then optionally a burst of full-size frames to measure the transmit rate.")
            .input_schema_text(r#"{"type":"object","properties":{"frames":{"type":"integer","minimum":0,"maximum":1000}},"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"devices":{"type":"array"},"nic":{"type":"object"},"arp":{"type":"object"}},"required":["devices","nic","arp"]}"#)
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
        .input_schema_text(
            r#"{
            "type": "object",
            "properties": {"text": {"type": "string", "maxLength": 65536}},
            "required": ["text"],
            "additionalProperties": false
        }"#,
        )
        .output_schema_text(
            r#"{
            "type": "object",
            "properties": {"bytes": {"type": "integer"}, "checksum": {"type": "string"}},
            "required": ["bytes", "checksum"]
        }"#,
        )
        .annotations(Annotations::READ_ONLY),
    );
}
