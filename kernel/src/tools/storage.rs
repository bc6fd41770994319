//! Storage tools: `storage_info`, `fs_list`, `fs_read`, `fs_write` — the SD card and the files on its
//! FAT boot partition ([`crate::storage`]).
//!
//! Usage: `storage_info` reports the card (or why there is none: that is state, not an
//! error); `fs_list path=/` lists a directory; `fs_read path=/config.txt` returns up to
//! 64 KiB of a file from `offset`, as text when it is UTF-8 (or `encoding=text` asked), else
//! base64; `fs_write path=/notes.txt content=hello [mode=append] [encoding=base64]` writes
//! up to 64 KiB (destructive: the shell asks first; boot files are refused). Paths are
//! `/`-separated, case-insensitive, long or 8.3 names.
//!
//! Errors (`isError` results): no usable card, no such path, a directory where a file was
//! expected, an offset past the end, a protected file, a new name that is not 8.3, bad
//! base64, a card error during the transfer.

use super::declare;
use crate::storage::{self, StorageError};
use alloc::{
    format,
    string::{String, ToString},
    vec::Vec,
};
use core::fmt::Write;
use mcp::{json, Annotations, Declaration, Server, ToolOutput, Value};

fn storage_info() -> ToolOutput {
    let settings = storage::settings();
    let settings_json = json!({
        "file": formats::settings::FILE_NAME,
        "model": settings.model,
        "context": settings.context,
        "baud": settings.baud,
    });
    let card = match storage::card() {
        Ok(card) => card,
        Err(error) => {
            let why = match error {
                StorageError::NoCard(why) => format!("{why}"),
                other => format!("{other}"),
            };
            let text = format!("no SD card: {why}\n");
            return ToolOutput::with_text(json!({"present": false, "error": why, "settings": settings_json}), text);
        }
    };
    let capacity = card.blocks * drivers::block::BLOCK_SIZE as u64;
    let mut text = String::new();
    let mut out = json!({"present": true, "device": card.device, "capacity_bytes": capacity, "blocks": card.blocks, "settings": settings_json});
    match &card.sd {
        Some(sd) => {
            let info = &sd.info;
            let product: String =
                info.product.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '?' }).collect();
            let _ = writeln!(
                text,
                "card:       {} MiB ({} blocks), {}, product '{product}', manufacturer {:#04x}, serial {:08x}",
                capacity >> 20,
                card.blocks,
                if info.high_capacity { "SDHC/SDXC" } else { "SDSC" },
                info.manufacturer,
                info.serial
            );
            let _ = writeln!(
                text,
                "controller: SDHCI spec {} vendor {:#x}, base clock {} MHz",
                sd.controller_version.0,
                sd.controller_version.1,
                sd.base_clock / 1_000_000
            );
            out["high_capacity"] = json!(info.high_capacity);
            out["product"] = json!(product);
            out["manufacturer"] = json!(info.manufacturer);
            out["serial"] = json!(format!("{:08x}", info.serial));
            out["controller_version"] = json!(sd.controller_version.0);
        }
        None => {
            let _ = writeln!(text, "disk:       {} MiB ({} blocks), {}", capacity >> 20, card.blocks, card.device);
        }
    }
    let (partitions, partition_error) = match &card.partitions {
        Ok(table) => {
            let rows: Vec<Value> = table
                .iter()
                .flatten()
                .map(|p| {
                    let _ = writeln!(
                        text,
                        "partition {}: {} (type {:#04x}){}, blocks {}..{}, {} MiB",
                        p.index + 1,
                        p.kind_name(),
                        p.kind,
                        if p.bootable { ", bootable" } else { "" },
                        p.start,
                        p.start as u64 + p.blocks as u64,
                        (p.blocks as u64 * 512) >> 20
                    );
                    json!({"index": p.index + 1, "type": p.kind, "type_name": p.kind_name(), "bootable": p.bootable,
                           "start_block": p.start, "blocks": p.blocks, "bytes": p.blocks as u64 * 512})
                })
                .collect();
            (rows, None)
        }
        Err(why) => {
            let _ = writeln!(text, "partition table: {why}");
            (Vec::new(), Some(format!("{why}")))
        }
    };
    out["partitions"] = json!(partitions);
    out["partition_error"] = json!(partition_error);
    ToolOutput::with_text(out, text)
}

fn fs_list(args: &mcp::Map<String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    let path = args.get("path").and_then(Value::as_str).unwrap_or("/");
    let entries = storage::list(path)?;
    let mut text = String::new();
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            let _ = writeln!(
                text,
                "{:>10}  {}{}",
                if e.directory { String::from("<dir>") } else { format!("{}", e.size) },
                e.name,
                if e.directory { "/" } else { "" }
            );
            json!({"name": e.name, "short_name": e.short_name, "size": e.size, "directory": e.directory})
        })
        .collect();
    let truncated = entries.len() >= storage::MAX_ENTRIES;
    Ok(ToolOutput::with_text(json!({"path": path, "entries": rows, "truncated": truncated}), text))
}

/// The settings file holds the network token, and the kernel's records (audit trail, crash,
/// decisions) are the kernel's to write: only the local console reads or writes them.
fn local_only_settings(ctx: &mcp::Ctx<'_>, path: &str) -> Result<(), mcp::ToolError> {
    if ctx.is_remote() && formats::boot_files::is_settings(path) {
        return Err("kingly.txt holds the network token and the model setting: it can be read and written only \
                    from the serial console, not over the network"
            .into());
    }
    if ctx.is_remote() && formats::boot_files::is_kernel_record(path) {
        return Err("the kernel's own records (AUDIT.LOG, CRASH.TXT, INTENTS.LOG) are read and written only from \
                    the serial console; over the network read kernel://audit, kernel://crash/last or \
                    kernel://decisions"
            .into());
    }
    Ok(())
}

fn fs_read(ctx: &mut mcp::Ctx<'_>, args: &mcp::Map<String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    let path = args.get("path").and_then(Value::as_str).unwrap_or("");
    local_only_settings(ctx, path)?;
    let offset = args.get("offset").and_then(Value::as_u64).unwrap_or(0);
    let length = args.get("length").and_then(Value::as_u64).unwrap_or(4096) as usize;
    let encoding = args.get("encoding").and_then(Value::as_str).unwrap_or("auto");
    let offset = u32::try_from(offset).map_err(|_| "offset is past any FAT file's end")?;
    let (bytes, size) = storage::read(path, offset, length.min(storage::MAX_READ))?;
    let eof = offset as u64 + bytes.len() as u64 >= size as u64;
    // Text is UTF-8 without control characters other than tab and line breaks.
    let text = core::str::from_utf8(&bytes)
        .ok()
        .filter(|t| !t.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')));
    let (encoding, content) = match (encoding, text.ok_or(())) {
        ("base64", _) => ("base64", formats::base64::encode(&bytes)),
        (_, Ok(text)) => ("text", String::from(text)),
        ("text", Err(_)) => ("text", String::from_utf8_lossy(&bytes).into_owned()),
        (_, Err(_)) => ("base64", formats::base64::encode(&bytes)),
    };
    let text = if encoding == "text" {
        content.clone()
    } else {
        format!("{} bytes of binary data (base64):\n{content}\n", bytes.len())
    };
    let out = json!({"path": path, "size": size, "offset": offset, "length": bytes.len(), "eof": eof, "encoding": encoding, "content": content});
    Ok(ToolOutput::with_text(out, text))
}

fn fs_write(ctx: &mut mcp::Ctx<'_>, args: &mcp::Map<String, Value>) -> Result<ToolOutput, mcp::ToolError> {
    let path = args.get("path").and_then(Value::as_str).unwrap_or("");
    local_only_settings(ctx, path)?;
    let content = args.get("content").and_then(Value::as_str).unwrap_or("");
    let append = args.get("mode").and_then(Value::as_str) == Some("append");
    let bytes = match args.get("encoding").and_then(Value::as_str).unwrap_or("text") {
        "base64" => formats::base64::decode(content).map_err(|e| mcp::ToolError::from(e.to_string()))?,
        _ => content.as_bytes().to_vec(),
    };
    let size = storage::write(path, &bytes, append)?;
    let verb = if append { "appended" } else { "wrote" };
    let text = format!("{verb} {} bytes to {path} (now {size} bytes)\n", bytes.len());
    Ok(ToolOutput::with_text(
        json!({"path": path, "written": bytes.len(), "size": size, "mode": if append { "append" } else { "replace" }}),
        text,
    ))
}

/// Registers the group.
pub fn register(server: &mut Server) {
    declare(
        server,
        &const {
            Declaration::new("storage_info", |_, _| Ok(storage_info()))
            .title("SD card information")
            .description("The SD card (on QEMU virt: the virtio-blk disk in its place): capacity, type, identification, its partitions (or why the partition table is unusable), and the settings read from kingly.txt. Without a card, present=false and the reason.")
            .output_schema_text(r#"{"type":"object","properties":{"present":{"type":"boolean"},"error":{"type":"string"},"device":{"enum":["sd","virtio-blk"]},"capacity_bytes":{"type":"integer"},"blocks":{"type":"integer"},"high_capacity":{"type":"boolean"},"product":{"type":"string"},"manufacturer":{"type":"integer"},"serial":{"type":"string"},"controller_version":{"type":"integer"},"partitions":{"type":"array","items":{"type":"object","properties":{"index":{"type":"integer"},"type":{"type":"integer"},"type_name":{"type":"string"},"bootable":{"type":"boolean"},"start_block":{"type":"integer"},"blocks":{"type":"integer"},"bytes":{"type":"integer"}}}},"partition_error":{"type":["string","null"]},"settings":{"type":"object"}},"required":["present","settings"]}"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("fs_list", |_, args| fs_list(args))
            .title("List files on the card")
            .description("Lists a directory of the SD card's FAT boot partition (long names where present, sizes, directories), at most 256 entries.")
            .input_schema_text(r#"{"type":"object","properties":{"path":{"type":"string","minLength":1,"maxLength":255,"default":"/","description":"directory, e.g. / or /overlays"}},"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"path":{"type":"string"},"entries":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"short_name":{"type":"string"},"size":{"type":"integer"},"directory":{"type":"boolean"}},"required":["name","size","directory"]}},"truncated":{"type":"boolean"}},"required":["path","entries"]}"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("fs_read", fs_read)
            .title("Read a file on the card")
            .description("Reads up to 64 KiB of a file on the SD card's boot partition from an offset: as text when it is UTF-8, otherwise base64 (or as asked with encoding).")
            .input_schema_text(r#"{"type":"object","properties":{"path":{"type":"string","minLength":1,"maxLength":255},"offset":{"type":"integer","minimum":0,"default":0},"length":{"type":"integer","minimum":1,"maximum":65536,"default":4096},"encoding":{"enum":["auto","text","base64"],"default":"auto"}},"required":["path"],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"path":{"type":"string"},"size":{"type":"integer"},"offset":{"type":"integer"},"length":{"type":"integer"},"eof":{"type":"boolean"},"encoding":{"enum":["text","base64"]},"content":{"type":"string"}},"required":["path","size","length","encoding","content"]}"#)
            .annotations(Annotations::READ_ONLY)
        },
    );
    declare(
        server,
        &const {
            Declaration::new("fs_write", fs_write)
            .title("Write a file on the card")
            .description("Writes up to 64 KiB to a file on the SD card's boot partition (the settings file kingly.txt, notes, logs), replacing its contents or appending; a new file needs an 8.3 name. Refuses the firmware, the kernel, device trees, config.txt, overlays and models, so a write cannot stop the board from booting.")
            .input_schema_text(r#"{"type":"object","properties":{"path":{"type":"string","minLength":1,"maxLength":255},"content":{"type":"string","maxLength":87384,"description":"the bytes to write: text, or base64 with encoding=base64"},"encoding":{"enum":["text","base64"],"default":"text"},"mode":{"enum":["replace","append"],"default":"replace"}},"required":["path","content"],"additionalProperties":false}"#)
            .output_schema_text(r#"{"type":"object","properties":{"path":{"type":"string"},"written":{"type":"integer"},"size":{"type":"integer"},"mode":{"enum":["replace","append"]}},"required":["path","written","size","mode"]}"#)
            .annotations(Annotations::DESTRUCTIVE)
        },
    );
}
