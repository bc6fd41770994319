//! Picks the linker script for the selected board (load address differs on `virt`).
use std::{env, path::PathBuf};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../linker");
    let script = if env::var_os("CARGO_FEATURE_BOARD_VIRT").is_some() { "virt.ld" } else { "raspi.ld" };
    if env::var("TARGET").map(|t| t.starts_with("aarch64-unknown-none")).unwrap_or(false) {
        println!("cargo:rustc-link-arg-bins=-L{}", root.display());
        println!("cargo:rustc-link-arg-bins=-T{}", root.join(script).display());
    }
    println!("cargo:rerun-if-changed=../linker");
    println!("cargo:rerun-if-changed=build.rs");
}
