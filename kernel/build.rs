//! Picks the linker script for the selected board (load address differs on `virt`), and
//! embeds the intent model when `models/intent.gguf` exists (cfg `intent_model`).
use std::{env, path::PathBuf};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../linker");
    let script = if env::var_os("CARGO_FEATURE_BOARD_VIRT").is_some() { "virt.ld" } else { "raspi.ld" };
    if env::var("TARGET").map(|t| t.starts_with("aarch64-unknown-none")).unwrap_or(false) {
        println!("cargo:rustc-link-arg-bins=-L{}", root.display());
        println!("cargo:rustc-link-arg-bins=-T{}", root.join(script).display());
    }
    println!("cargo:rustc-check-cfg=cfg(intent_model)");
    let model = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("models/intent.gguf");
    if model.exists() {
        println!("cargo:rustc-cfg=intent_model");
    }
    println!("cargo:rerun-if-changed=models");
    println!("cargo:rerun-if-changed=../linker");
    println!("cargo:rerun-if-changed=build.rs");
}
