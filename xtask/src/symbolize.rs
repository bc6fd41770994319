//! `cargo xtask symbolize`: addresses from a fault report → functions and source lines.

use crate::{board::Board, deps, util};
use anyhow::Result;
use std::process::Command;

/// Turn addresses from a fault report into function names and source lines.
#[derive(clap::Args)]
pub struct Args {
    /// Board whose last build produced the addresses.
    #[arg(long, value_enum, default_value = "raspi3b")]
    board: Board,
    /// The image was a release build.
    #[arg(long)]
    release: bool,
    /// The image was a test build.
    #[arg(long)]
    test_hooks: bool,
    /// Addresses (hex, e.g. 0x80a3c).
    addresses: Vec<String>,
}

impl Args {
    pub fn run(self) -> Result<()> {
        let variant =
            crate::build::Args { board: self.board, release: self.release, test_hooks: self.test_hooks }.variant();
        let elf = util::root().join("target/images").join(variant).join("kernel.elf");
        let mut command = Command::new(deps::llvm_tool("llvm-addr2line")?);
        command.args(["-f", "-C", "-p", "-e"]).arg(elf).args(&self.addresses);
        util::run(&mut command)
    }
}
