//! `cargo xtask build`: the kernel ELF and the raw `kernel8.img` for a board.

use crate::{board::Board, deps, util};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Build the kernel ELF and raw kernel8.img for a board.
#[derive(clap::Args, Clone)]
// Flattened into other commands (qemu, symbolize): no argument group of its own, whose
// name would clash with theirs.
#[group(skip)]
pub struct Args {
    /// Board to build for.
    #[arg(long, value_enum, default_value = "raspi3b")]
    pub board: Board,
    /// Optimised build (LTO, no debug assertions).
    #[arg(long)]
    pub release: bool,
    /// Include the test-only console commands and exit QEMU on a crash (used by the tests).
    #[arg(long)]
    pub test_hooks: bool,
}

/// What a build produced.
pub struct Output {
    /// The ELF with symbols (for debuggers and `xtask symbolize`).
    pub elf: PathBuf,
    /// The raw image the firmware or QEMU loads.
    pub image: PathBuf,
}

impl Args {
    /// A short name for this variant, used for output directories.
    pub fn variant(&self) -> String {
        let mut name = self.board.name().to_string();
        if self.test_hooks {
            name.push_str("-test");
        }
        if self.release {
            name.push_str("-release");
        }
        name
    }

    /// Builds and returns the artefact paths.
    pub fn run(&self) -> Result<Output> {
        deps::ensure_rust_target()?;
        let root = util::root();
        let target_dir = root.join("target/kernel").join(self.variant());
        let mut features = format!("board-{}", self.board.name());
        if self.test_hooks {
            features.push_str(",test-hooks");
        }
        let mut cargo = util::cargo();
        cargo
            .current_dir(&root)
            .args(["build", "--package", "kernel", "--target", "aarch64-unknown-none", "--features", &features])
            .arg("--target-dir")
            .arg(&target_dir);
        if self.release {
            cargo.arg("--release");
        }
        util::run(&mut cargo)?;
        let profile = if self.release { "release" } else { "debug" };
        let elf = target_dir.join("aarch64-unknown-none").join(profile).join("kernel");
        let out_dir = root.join("target/images").join(self.variant());
        std::fs::create_dir_all(&out_dir)?;
        let image = out_dir.join("kernel8.img");
        let mut objcopy = std::process::Command::new(deps::llvm_tool("llvm-objcopy")?);
        objcopy.args(["-O", "binary"]).arg(&elf).arg(&image);
        util::run(&mut objcopy)?;
        let output = Output { elf: out_dir.join("kernel.elf"), image };
        std::fs::copy(&elf, &output.elf).context("copying the ELF")?;
        let size = std::fs::metadata(&output.image)?.len();
        eprintln!(
            "kernel image: {} ({} KiB), symbols in {}",
            output.image.display(),
            size.div_ceil(1024),
            output.elf.display()
        );
        Ok(output)
    }
}
