//! `cargo xtask test`: host unit tests of every crate, then the QEMU integration tests.

use crate::{board::Board, build, deps, qemu, util};
use anyhow::Result;

/// Run every test: host unit tests of all crates and the QEMU integration tests.
#[derive(clap::Args)]
pub struct Args {
    /// Only run tests whose name contains this string.
    filter: Option<String>,
}

/// Boards the QEMU tests boot.
const QEMU_BOARDS: [Board; 3] = [Board::Raspi3b, Board::Raspi4b, Board::Virt];

impl Args {
    pub fn run(self) -> Result<()> {
        deps::ensure_rust_target()?;
        for board in QEMU_BOARDS {
            deps::ensure_qemu(board.name())?;
        }
        let root = util::root();
        let images = root.join("target/images");
        for board in QEMU_BOARDS {
            let build = build::Args { board, release: false, test_hooks: true };
            let output = build.run()?;
            let mut args = qemu::machine_args(board, &output.image)?;
            args.extend(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"].map(String::from));
            std::fs::write(images.join(build.variant()).join("qemu-args.txt"), args.join("\n") + "\n")?;
        }
        let mut cargo = util::cargo();
        cargo
            .current_dir(&root)
            .args(["test", "--workspace", "--exclude", "kernel", "--exclude", "boot", "--no-fail-fast"])
            .env("KINGLY_TEST_IMAGES", &images)
            .env("KINGLY_REQUIRE_QEMU", "1");
        if let Some(filter) = &self.filter {
            cargo.args(["--", filter]);
        }
        util::run(&mut cargo)
    }
}
