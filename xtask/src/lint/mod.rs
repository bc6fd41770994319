//! `cargo xtask lint`: the gates CI runs before the tests.
//!
//! - `cargo fmt --all --check` against `rustfmt.toml`;
//! - clippy with `-D warnings` on every host crate (all targets: libraries, tests, benches);
//! - clippy with `-D warnings` on the kernel and `boot` for every board, with and without
//!   the test hooks, so code that only one board compiles is linted too.
//!
//! - the kernel's modules import one way, with no loop ([`layers`]).
//!
//! The kernel's lints (`clippy::undocumented_unsafe_blocks`, `unsafe_op_in_unsafe_fn`) are
//! declared in its crate roots; this command is what makes them hold.

pub mod layers;

use crate::{board::Board, deps, util};
use anyhow::{bail, Result};
use clap::ValueEnum;

/// Check formatting and run clippy on every crate and every board (`-D warnings`).
#[derive(clap::Args)]
pub struct Args {
    /// Only the kernel for this board (default: every board).
    #[arg(long, value_enum)]
    board: Option<Board>,
}

impl Args {
    pub fn run(self) -> Result<()> {
        deps::ensure_rust_target()?;
        let root = util::root();
        let mut failed = Vec::new();
        let mut fmt = util::cargo();
        fmt.current_dir(&root).args(["fmt", "--all", "--check"]);
        if util::run(&mut fmt).is_err() {
            failed.push("rustfmt (run `cargo fmt --all`)".to_string());
        }
        let mut host = util::cargo();
        host.current_dir(&root).args([
            "clippy",
            "--workspace",
            "--exclude",
            "kernel",
            "--exclude",
            "boot",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]);
        if util::run(&mut host).is_err() {
            failed.push("clippy on the host crates".to_string());
        }
        let boards = match self.board {
            Some(board) => vec![board],
            None => Board::value_variants().to_vec(),
        };
        // One target directory for every board: the dependencies are the same for all of
        // them, only the kernel crate is checked again.
        let target_dir = root.join("target/kernel/clippy");
        for board in boards {
            for hooks in ["", ",test-hooks"] {
                let features = format!("board-{}{hooks}", board.name());
                let mut kernel = util::cargo();
                kernel
                    .current_dir(&root)
                    .args(["clippy", "--package", "kernel", "--package", "boot", "--target", "aarch64-unknown-none"])
                    .args(["--features", &features])
                    .arg("--target-dir")
                    .arg(&target_dir)
                    .args(["--", "-D", "warnings"]);
                if util::run(&mut kernel).is_err() {
                    failed.push(format!("clippy on the kernel for {features}"));
                }
            }
        }
        let graph = layers::graph(&root.join("kernel/src"))?;
        for cycle in layers::cycles(&graph) {
            failed.push(format!("kernel modules import each other in a loop: {}", cycle.join(", ")));
        }
        if !failed.is_empty() {
            bail!("lint failed: {}", failed.join("; "));
        }
        eprintln!("lint: formatting and clippy clean on the host crates and every board");
        Ok(())
    }
}
