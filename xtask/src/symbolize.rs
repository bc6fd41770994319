//! `cargo xtask symbolize`: addresses from a fault report → functions and source lines.

use crate::{deps, util};
use anyhow::Result;
use std::process::Command;

/// Turn addresses from a fault report into function names and source lines.
#[derive(clap::Args)]
pub struct Args {
    /// The build whose image produced the addresses.
    #[command(flatten)]
    build: crate::build::Args,
    /// Addresses (hex, e.g. 0x80a3c).
    addresses: Vec<String>,
}

impl Args {
    pub fn run(self) -> Result<()> {
        let variant = self.build.variant();
        let elf = util::root().join("target/images").join(variant).join("kernel.elf");
        let mut command = Command::new(deps::llvm_tool("llvm-addr2line")?);
        command.args(["-f", "-C", "-p", "-e"]).arg(elf).args(&self.addresses);
        util::run(&mut command)
    }
}
