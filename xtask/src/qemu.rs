//! `cargo xtask qemu`: boot the kernel in QEMU with the console on this terminal.

use crate::{board::Board, build, deps, util};
use anyhow::{bail, Result};
use std::{path::Path, process::Command};

/// Boot the kernel in QEMU with the console on this terminal.
#[derive(clap::Args)]
pub struct Args {
    /// Board to emulate (real boards run on their closest QEMU machine).
    #[arg(long, value_enum, default_value = "raspi3b")]
    board: Board,
    /// Optimised kernel build.
    #[arg(long)]
    release: bool,
}

/// QEMU arguments (after the binary) that boot `image` on `board` with semihosting, no
/// display, and no console wiring (the caller adds `-nographic` or `-serial stdio`).
pub fn machine_args(board: Board, image: &Path) -> Result<Vec<String>> {
    let Some(machine) = board.emulated_by().qemu_machine() else {
        bail!("board {} has no QEMU machine", board.name());
    };
    let mut args: Vec<String> = machine.iter().map(|s| s.to_string()).collect();
    args.extend(["-kernel".into(), image.display().to_string(), "-semihosting".into()]);
    Ok(args)
}

impl Args {
    pub fn run(self) -> Result<()> {
        let qemu_board = self.board.emulated_by();
        if qemu_board != self.board {
            eprintln!("note: {} is a real board; booting its image on QEMU {}", self.board.name(), qemu_board.name());
        }
        deps::ensure_qemu(qemu_board.name())?;
        let output = build::Args { board: self.board, release: self.release, test_hooks: false }.run()?;
        let mut qemu = Command::new(deps::QEMU);
        qemu.args(machine_args(self.board, &output.image)?).arg("-nographic");
        eprintln!("booting {} in QEMU — quit with Ctrl-A then X (or type `power_off`)", qemu_board.name());
        util::echo(&qemu);
        let status = qemu.status()?;
        if !status.success() {
            bail!("QEMU exited with {status}");
        }
        Ok(())
    }
}
