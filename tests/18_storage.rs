//! The SD card: images made by `cargo xtask image` attached to QEMU's SD slot (the kernel
//! itself is passed with -kernel, as QEMU runs no GPU firmware): the tools see the card's
//! real files, the model on the card loads at boot and generates, and a broken card, a
//! missing or truncated model, bad settings or no card at all give clear answers while the
//! kernel keeps serving. Files the kernel writes are on the card after a reboot and read
//! the same with an independent FAT implementation; boot files are never written. The
//! image builder is deterministic.

use kingly_tests::{root, xtask, Machine, Qmp};
use testkit::fixture;

/// Standard padded base64 from the `base64` crate: an implementation independent of the
/// kernel's `formats::base64`.
fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
use serde_json::json;
use std::path::{Path, PathBuf};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kingly-storage-{}-{name}", std::process::id()))
}

/// `cargo xtask image` for `board` with the test kernel of `qemu_board` on the card.
fn image(xtask: &Path, board: &str, qemu_board: &str, extra: &[&str], name: &str) -> PathBuf {
    let output = temp(name);
    kingly_tests::card_image(xtask, board, qemu_board, extra, &output);
    output
}

fn stories_model() -> Option<PathBuf> {
    let (model, vocab) = (fixture("llama2c/stories260K.bin")?, fixture("llama2c/tok512.bin")?);
    let gguf = inference::llama2c::to_gguf(&model, &vocab, inference::llama2c::Quant::Q8_0).expect("converts");
    let path = temp(&format!("stories-{:?}.gguf", std::thread::current().id()));
    std::fs::write(&path, gguf).expect("write model");
    Some(path)
}

fn drive(path: &Path) -> String {
    format!("if=sd,format=raw,file={}", path.display())
}

#[test]
fn the_card_from_the_image_builder_serves_its_files_and_its_model() {
    let Some(xtask) = xtask() else { return };
    let Some(model) = stories_model() else { return };
    let card = image(&xtask, "pi3", "raspi3b", &["--model", model.to_str().unwrap()], "pi3.img");
    let drive = drive(&card);
    let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive]).expect("boots");
    // The model loads in the background after the prompt, with a progress line.
    vm.expect("loading model.gguf from the SD card: 100%");
    vm.expect("read model.gguf from the card");
    vm.expect("\n");
    let boot = vm.transcript();
    vm.initialize("storage-test");

    let info = vm.tool_result("storage_info", json!({}));
    let out = &info["structuredContent"];
    assert_eq!(out["present"], true, "{info}");
    assert_eq!(out["capacity_bytes"], 64 << 20, "{info}");
    let partition = &out["partitions"][0];
    assert_eq!(
        (partition["type_name"].as_str(), partition["bootable"].as_bool(), partition["start_block"].as_u64()),
        (Some("FAT32"), Some(true), Some(2048)),
        "{info}"
    );
    assert_eq!(out["settings"]["model"], "model.gguf", "{info}");

    let listing = vm.tool_result("fs_list", json!({"path": "/"}));
    let names: Vec<&str> = listing["structuredContent"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    for expected in [
        "config.txt",
        "kingly.txt",
        "kernel8.img",
        "bootcode.bin",
        "start.elf",
        "fixup.dat",
        "bcm2710-rpi-3-b.dtb",
        "model.gguf",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let size = |name: &str| {
        listing["structuredContent"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["size"].clone())
    };
    assert_eq!(size("model.gguf"), Some(json!(std::fs::metadata(&model).unwrap().len())));

    // Text comes back as text, byte for byte what the builder wrote.
    let config = vm.tool_result("fs_read", json!({"path": "/CONFIG.TXT"}));
    let expected = std::fs::read_to_string(root().join("firmware/config.txt")).unwrap();
    assert_eq!(config["structuredContent"]["content"], expected.as_str(), "{config}");
    assert_eq!(config["structuredContent"]["encoding"], "text");
    // Binary comes back as base64; an offset and a length select a window.
    let window = vm.tool_result("fs_read", json!({"path": "/model.gguf", "offset": 0, "length": 6}));
    assert_eq!(window["structuredContent"]["content"], "R0dVRgMA", "'GGUF' + version 3: {window}");
    assert_eq!(window["structuredContent"]["eof"], false);

    // The model read from the card at boot generates the known story.
    let llm = vm.tool_result("llm_info", json!({}));
    assert_eq!(llm["structuredContent"]["source"], "card", "{llm}");
    let story = vm.tool_result("llm_generate", json!({"prompt": "Once upon a time", "max_tokens": 12}));
    let text = story["structuredContent"]["text"].as_str().unwrap_or("");
    assert!(text.starts_with(", there was a little girl named Lily"), "{story}");

    // Errors name the problem; the kernel keeps serving.
    let missing = vm.tool_result("fs_read", json!({"path": "/no/such.txt"}));
    assert_eq!(missing["isError"], true, "{missing}");
    assert!(missing["content"][0]["text"].as_str().unwrap_or("").contains("no such file"), "{missing}");
    let past = vm.tool_result("fs_read", json!({"path": "/config.txt", "offset": 1_000_000}));
    assert_eq!(past["isError"], true, "{past}");
    let directory = vm.tool_result("fs_read", json!({"path": "/"}));
    assert_eq!(directory["isError"], true, "{directory}");
    let other = vm.tool_result("llm_load", json!({"confirm": true, "model": "card", "file": "missing.gguf"}));
    assert_eq!(other["isError"], true, "{other}");
    vm.ping();
    let load_line = boot.lines().find(|l| l.contains("read model.gguf from the card")).unwrap_or("").to_string();
    eprintln!("model load from the emulated card: {load_line}");
    let _ = std::fs::remove_file(&card);
}

#[test]
fn raspi4b_reads_its_card_too() {
    let Some(xtask) = xtask() else { return };
    let card = image(&xtask, "pi4", "raspi4b", &[], "pi4.img");
    let drive = drive(&card);
    let Some(mut vm) = Machine::boot_to_prompt_with("raspi4b", &["-drive", &drive]) else { return };
    vm.initialize("storage-test");
    let listing = vm.tool_result("fs_list", json!({}));
    let names: Vec<&str> = listing["structuredContent"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        names.contains(&"start4.elf") && names.contains(&"bcm2711-rpi-4-b.dtb") && names.contains(&"kernel8.img"),
        "{names:?}"
    );
    let settings = vm.tool_result("fs_read", json!({"path": "/kingly.txt"}));
    assert!(settings["structuredContent"]["content"].as_str().unwrap_or("").contains("model = none"), "{settings}");
    let _ = std::fs::remove_file(&card);
}

#[test]
fn virt_reads_and_writes_a_card_image_over_virtio_blk() {
    let Some(xtask) = xtask() else { return };
    let Some(model) = stories_model() else { return };
    let card = image(&xtask, "zero2w", "virt", &["--model", model.to_str().unwrap()], "virt.img");
    let drive = format!("if=none,id=card,format=raw,file={}", card.display());
    let Some(mut vm) =
        Machine::boot_to_prompt_with("virt", &["-drive", &drive, "-device", "virtio-blk-device,drive=card"])
    else {
        return;
    };
    vm.expect("loading model.gguf from the SD card: 100%");
    vm.expect("read model.gguf from the card");
    vm.expect("\n");
    vm.initialize("storage-test");
    let info = vm.tool_result("storage_info", json!({}));
    let out = &info["structuredContent"];
    assert_eq!(
        (out["present"].as_bool(), out["device"].as_str(), out["capacity_bytes"].as_u64()),
        (Some(true), Some("virtio-blk"), Some(64 << 20)),
        "{info}"
    );
    assert_eq!(out["partitions"][0]["type_name"], "FAT32", "{info}");
    let listing = vm.tool_result("fs_list", json!({}));
    let names: Vec<&str> = listing["structuredContent"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.contains(&"model.gguf") && names.contains(&"kingly.txt"), "{names:?}");
    let llm = vm.tool_result("llm_info", json!({}));
    assert_eq!(llm["structuredContent"]["source"], "card", "{llm}");
    let story = vm.tool_result("llm_generate", json!({"prompt": "Once upon a time", "max_tokens": 12}));
    assert!(
        story["structuredContent"]["text"].as_str().unwrap_or("").starts_with(", there was a little girl named Lily"),
        "{story}"
    );
    let written = vm
        .tool_result("fs_write", json!({"confirm": true, "path": "/VIRT.TXT", "content": "written over virtio-blk\n"}));
    assert_eq!(written["structuredContent"]["size"], 24, "{written}");
    drop(vm);
    assert_eq!(host_read(&card, "VIRT.TXT"), b"written over virtio-blk\n");
    let _ = std::fs::remove_file(&card);
}

#[test]
fn a_card_pulled_out_while_running_gives_errors_not_a_hang() {
    let Some(xtask) = xtask() else { return };
    let card = image(&xtask, "zero2w", "raspi3b", &[], "pulled.img");
    let drive_arg = format!("if=sd,format=raw,file={},id=card", card.display());
    let (socket, qmp_arg) = Qmp::argument("storage");
    let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive_arg, "-qmp", &qmp_arg]).expect("boots");
    let mut qmp = Qmp::connect(&socket);
    let _ = std::fs::remove_file(&socket);
    vm.initialize("storage-test");
    let before = vm.tool_result("fs_read", json!({"path": "/config.txt"}));
    assert_eq!(before["isError"], false, "{before}");

    qmp.execute(json!({"execute": "eject", "arguments": {"device": "card", "force": true}}));
    let started = std::time::Instant::now();
    for (tool, arguments) in [
        ("fs_list", json!({})),
        ("fs_read", json!({"path": "/config.txt"})),
        ("fs_write", json!({"confirm": true, "path": "/NOTES.TXT", "content": "x"})),
    ] {
        let reply = vm.tool_result(tool, arguments);
        assert_eq!(reply["isError"], true, "{tool} without the card: {reply}");
        let text = reply["content"][0]["text"].as_str().unwrap_or("");
        eprintln!("{tool} after the card was pulled: {}", text.trim_end());
        assert!(text.contains("SD") || text.contains("card"), "{tool}: the error names the card: {text}");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "errors come from deadlines, not hangs: {:?}",
        started.elapsed()
    );
    vm.ping();
    let info = vm.tool_result("system_info", json!({}));
    assert_eq!(info["isError"], false, "{info}");
    let _ = std::fs::remove_file(&card);
}

#[test]
fn broken_cards_and_files_give_clear_errors() {
    let Some(xtask) = xtask() else { return };
    // Bad settings: warnings naming the lines, defaults used.
    let settings = temp("kingly.txt");
    std::fs::write(&settings, "context = 99999\nmodel = missing.gguf\nwhat\n").unwrap();
    let card = image(&xtask, "pi3", "raspi3b", &["--settings", settings.to_str().unwrap()], "settings.img");
    let drive_arg = drive(&card);
    let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive_arg]).expect("boots");
    let boot = vm.transcript();
    assert!(boot.contains("kingly.txt line 1: context"), "{boot}");
    assert!(boot.contains("kingly.txt line 3"), "{boot}");
    assert!(boot.contains("no missing.gguf on the card"), "a missing model is reported: {boot}");
    vm.initialize("storage-test");
    let llm = vm.tool_result("llm_info", json!({}));
    assert_eq!(llm["structuredContent"]["source"], "embedded", "{llm}");
    drop(vm);

    // A corrupt partition table: the card is there, its table is not usable.
    let mut bytes = std::fs::read(&card).unwrap();
    bytes[510] = 0;
    std::fs::write(&card, &bytes).unwrap();
    let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive_arg]).expect("boots");
    vm.initialize("storage-test");
    let info = vm.tool_result("storage_info", json!({}));
    assert_eq!(info["structuredContent"]["present"], true, "{info}");
    assert!(info["structuredContent"]["partition_error"].as_str().unwrap_or("").contains("signature"), "{info}");
    let listing = vm.tool_result("fs_list", json!({}));
    assert_eq!(listing["isError"], true, "{listing}");
    assert!(listing["content"][0]["text"].as_str().unwrap_or("").contains("no usable SD card"), "{listing}");
    vm.ping();
    drop(vm);

    // A truncated model: refused at boot with the reason, the kernel runs on its own model.
    if let Some(model) = stories_model() {
        let full = std::fs::read(&model).unwrap();
        std::fs::write(&model, &full[..full.len() / 2]).unwrap();
        let card = image(&xtask, "pi3", "raspi3b", &["--model", model.to_str().unwrap()], "truncated.img");
        let drive_arg = drive(&card);
        let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive_arg]).expect("boots");
        let refused = vm.expect("card model refused");
        let boot = vm.expect("\n");
        assert!(boot.contains("truncated"), "{refused}{boot}");
        vm.initialize("storage-test");
        let llm = vm.tool_result("llm_info", json!({}));
        assert_eq!(llm["structuredContent"]["source"], "embedded", "{llm}");
        let _ = std::fs::remove_file(&card);
    }
    let _ = std::fs::remove_file(&card);
}

/// The file `name` in the root of the image's FAT partition (at block 2048), read by the
/// `fatfs` crate — not the kernel's FAT code.
fn host_read(card: &Path, name: &str) -> Vec<u8> {
    use std::io::Read;
    let bytes = std::fs::read(card).expect("card image");
    let partition = std::io::Cursor::new(bytes[2048 * 512..].to_vec());
    let fs = fatfs::FileSystem::new(partition, fatfs::FsOptions::new()).expect("the card's FAT is readable by fatfs");
    let mut file = fs.root_dir().open_file(name).unwrap_or_else(|e| panic!("{name} on the card: {e}"));
    let mut out = Vec::new();
    file.read_to_end(&mut out).expect("read");
    out
}

#[test]
fn writes_reach_the_card_and_boot_files_are_refused() {
    let Some(xtask) = xtask() else { return };
    let card = image(&xtask, "zero2w", "raspi3b", &[], "write.img");
    let drive_arg = drive(&card);
    let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive_arg]).expect("boots");
    vm.initialize("storage-test");

    let first =
        vm.tool_result("fs_write", json!({"confirm": true, "path": "/NOTES.TXT", "content": "hello from kingly\n"}));
    assert_eq!(first["structuredContent"]["size"], 18, "{first}");
    let second = vm.tool_result(
        "fs_write",
        json!({"confirm": true, "path": "/notes.txt", "content": "second line\n", "mode": "append"}),
    );
    assert_eq!(second["structuredContent"]["size"], 30, "{second}");
    let back = vm.tool_result("fs_read", json!({"path": "/notes.txt"}));
    assert_eq!(back["structuredContent"]["content"], "hello from kingly\nsecond line\n", "{back}");
    // Binary, across many blocks and clusters, as base64.
    let data: Vec<u8> = (0..40_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let encoded = base64_standard(&data);
    let binary = vm.tool_result(
        "fs_write",
        json!({"confirm": true, "path": "/DATA.BIN", "content": encoded, "encoding": "base64"}),
    );
    assert_eq!(binary["structuredContent"]["written"], 40_000, "{binary}");
    let read = vm
        .tool_result("fs_read", json!({"path": "/data.bin", "offset": 30_000, "length": 10_000, "encoding": "base64"}));
    assert_eq!(read["structuredContent"]["content"], base64_standard(&data[30_000..]).as_str());
    // The settings file is writable: the next boot uses it.
    let settings = vm.tool_result(
        "fs_write",
        json!({"confirm": true, "path": "/kingly.txt", "content": "context = 256\nmodel = none\n"}),
    );
    assert_eq!(settings["isError"], false, "{settings}");

    // Refused before the card is touched, with the reason.
    for path in
        ["/config.txt", "/KERNEL8.IMG", "/bootcode.bin", "/bcm2710-rpi-zero-2-w.dtb", "/overlays/x.dtbo", "/model.gguf"]
    {
        let refused = vm.tool_result("fs_write", json!({"confirm": true, "path": path, "content": "x"}));
        assert_eq!(refused["isError"], true, "{path}: {refused}");
        assert!(refused["content"][0]["text"].as_str().unwrap_or("").contains("protected"), "{path}: {refused}");
    }
    let long = vm.tool_result("fs_write", json!({"confirm": true, "path": "/a-long-file-name.text", "content": "x"}));
    assert!(long["content"][0]["text"].as_str().unwrap_or("").contains("8.3"), "{long}");
    let bad = vm.tool_result(
        "fs_write",
        json!({"confirm": true, "path": "/B.BIN", "content": "not base64!", "encoding": "base64"}),
    );
    assert_eq!(bad["isError"], true, "{bad}");
    let missing_dir = vm.tool_result("fs_write", json!({"confirm": true, "path": "/no/dir/F.TXT", "content": "x"}));
    assert!(missing_dir["content"][0]["text"].as_str().unwrap_or("").contains("no such file"), "{missing_dir}");
    // Over the 64 KiB message limit: refused before it is parsed, so the answer has no id.
    let request = json!({"jsonrpc": "2.0", "id": 17, "method": "tools/call",
        "params": {"name": "fs_write", "arguments": {"path": "/BIG.TXT", "content": "x".repeat(90_000)}}});
    let mut too_big = vm.rpc(&request.to_string());
    while too_big.get("id").is_none() {
        too_big = vm.next_json(true);
    }
    assert!(
        too_big.get("error").is_some() || too_big["result"]["isError"] == true,
        "over 64 KiB is refused: {}",
        &too_big.to_string()[..200.min(too_big.to_string().len())]
    );
    vm.ping();
    drop(vm);

    // After a reboot the kernel reads what it wrote, and uses the new settings.
    let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive_arg]).expect("boots again");
    vm.initialize("storage-test");
    let back = vm.tool_result("fs_read", json!({"path": "/NOTES.TXT"}));
    assert_eq!(back["structuredContent"]["content"], "hello from kingly\nsecond line\n", "{back}");
    let info = vm.tool_result("storage_info", json!({}));
    assert_eq!(info["structuredContent"]["settings"]["context"], 256, "{info}");
    drop(vm);

    // An independent FAT implementation sees the same files; the boot files are untouched.
    assert_eq!(host_read(&card, "NOTES.TXT"), b"hello from kingly\nsecond line\n");
    assert_eq!(host_read(&card, "DATA.BIN"), data);
    assert_eq!(host_read(&card, "config.txt"), std::fs::read(root().join("firmware/config.txt")).unwrap());
    let _ = std::fs::remove_file(&card);
}

/// `kernel://decisions` as JSON.
fn decisions(vm: &mut Machine) -> serde_json::Value {
    let read =
        vm.request(json!({"jsonrpc": "2.0", "method": "resources/read", "params": {"uri": "kernel://decisions"}}));
    let text = read["result"]["contents"][0]["text"].as_str().unwrap_or_else(|| panic!("{read}"));
    serde_json::from_str(text).expect("the resource is JSON")
}

#[test]
fn plain_language_decisions_are_kept_on_the_card_across_a_reboot() {
    let Some(xtask) = xtask() else { return };
    let card = image(&xtask, "zero2w", "raspi3b", &[], "decisions.img");
    let drive_arg = drive(&card);
    let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive_arg]).expect("boots");
    // Declined at the console.
    vm.send_line("ask reboot the machine please");
    vm.expect("Run it? [y/N] ");
    vm.send_line("n");
    vm.expect("cancelled");
    vm.expect(kingly_tests::PROMPT);
    vm.initialize("decisions-test");
    let ran = vm.ok("intent_run", json!({"text": "how much memory is free"}));
    assert_eq!(ran["status"], "ran", "{ran}");
    let refused = vm.ok("intent_parse", json!({"text": "what is the capital of france"}));
    assert_ne!(refused["status"], "ready", "{refused}");
    let failed = vm.call_tool("intent_run", json!({"text": "read nosuch.txt"}));
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    let seen = decisions(&mut vm);
    let outcomes: Vec<&str> =
        seen["decisions"].as_array().unwrap().iter().filter_map(|d| d["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["declined", "ran", "refused", "failed"], "{seen}");
    let first = &seen["decisions"][0];
    assert_eq!(first["proposal"], "power_reboot {}", "{seen}");
    assert!(first["latency_us"].as_u64().unwrap() > 0, "{seen}");
    let info = vm.ok("llm_info", json!({}));
    let share = info["decisions"]["confirmed_share"].as_f64().unwrap_or(0.0);
    assert!((share - 2.0 / 3.0).abs() < 1e-6, "two ran (one failed), one declined: {info}");
    // A declined proposal is not cached: asking again runs the model again.
    let again = vm.ok("intent_parse", json!({"text": "reboot the machine please"}));
    assert_eq!(again["cached"], false, "{again}");
    drop(vm);

    let mut vm = Machine::boot_to_prompt_with("raspi3b", &["-drive", &drive_arg]).expect("boots again");
    assert!(vm.transcript().contains("earlier decisions read from /INTENTS.LOG"), "{}", vm.transcript());
    vm.initialize("decisions-test");
    let back = decisions(&mut vm);
    let requests: Vec<&str> =
        back["decisions"].as_array().unwrap().iter().filter_map(|d| d["request"].as_str()).collect();
    assert_eq!(
        requests,
        [
            "reboot the machine please",
            "how much memory is free",
            "what is the capital of france",
            "read nosuch.txt",
            "reboot the machine please"
        ],
        "{back}"
    );
    drop(vm);
    // The file on the card is JSON lines an independent FAT reader sees.
    let file = String::from_utf8(host_read(&card, "INTENTS.LOG")).expect("UTF-8");
    assert_eq!(file.lines().count(), 5, "{file}");
    for line in file.lines() {
        let _: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
    }
    let _ = std::fs::remove_file(&card);
}

#[test]
fn without_a_card_the_tools_say_so() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.initialize("storage-test");
    let info = vm.tool_result("storage_info", json!({}));
    assert_eq!(info["structuredContent"]["present"], false, "{info}");
    assert!(info["structuredContent"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{info}");
    let listing = vm.tool_result("fs_list", json!({}));
    assert_eq!(listing["isError"], true, "{listing}");
    let read = vm.tool_result("fs_read", json!({"path": "/config.txt"}));
    assert_eq!(read["isError"], true, "{read}");
    let write = vm.tool_result("fs_write", json!({"confirm": true, "path": "/NOTES.TXT", "content": "x"}));
    assert_eq!(write["isError"], true, "{write}");
    vm.ping();
}

#[test]
fn the_image_builder_is_deterministic() {
    let Some(xtask) = xtask() else { return };
    let first = std::fs::read(image(&xtask, "zero2w", "raspi3b", &[], "a.img")).unwrap();
    let second = std::fs::read(image(&xtask, "zero2w", "raspi3b", &[], "b.img")).unwrap();
    assert_eq!(first.len(), second.len());
    assert!(first == second, "two builds from the same inputs differ");
    assert_eq!(&first[510..512], &[0x55, 0xAA]);
    let _ = std::fs::remove_file(temp("a.img"));
    let _ = std::fs::remove_file(temp("b.img"));
}
