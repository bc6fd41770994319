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
        let python = deps::ensure_python_packages()?;
        let root = util::root();
        let images = root.join("target/images");
        for board in QEMU_BOARDS {
            let build = build::Args { board, release: false, test_hooks: true };
            let dir = images.join(build.variant());
            let args_file = dir.join("qemu-args.txt");
            let unavailable = dir.join("unavailable.txt");
            let _ = std::fs::remove_file(&args_file);
            let _ = std::fs::remove_file(&unavailable);
            if let Err(error) = deps::ensure_qemu(board.name()) {
                // raspi4b needs QEMU 9.0+, which some distributions do not ship yet; its
                // tests are skipped with this reason instead of failing the whole run.
                if board == Board::Raspi4b && deps::qemu_available() {
                    eprintln!("warning: skipping the {} tests: {error:#}", board.name());
                    std::fs::create_dir_all(&dir)?;
                    std::fs::write(&unavailable, format!("{error:#}\n"))?;
                    continue;
                }
                return Err(error);
            }
            let output = build.run()?;
            let mut args = qemu::machine_args(board, &output.image)?;
            args.extend(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"].map(String::from));
            std::fs::write(&args_file, args.join("\n") + "\n")?;
        }
        let mut cargo = util::cargo();
        cargo
            .current_dir(&root)
            .args(["test", "--workspace", "--exclude", "kernel", "--exclude", "boot", "--no-fail-fast"])
            .env("KINGLY_TEST_IMAGES", &images)
            .env("KINGLY_REQUIRE_QEMU", "1")
            .env("KINGLY_PYTHON", &python)
            .env("KINGLY_XTASK", std::env::current_exe()?);
        if let Some(filter) = &self.filter {
            cargo.args(["--", filter]);
        }
        let host = util::run(&mut cargo);
        let neon = self.neon_tests(&root);
        host.and(neon)
    }

    /// The inference crate again for AArch64 under QEMU user-mode emulation as a
    /// Cortex-A53, so the NEON kernels run (and must equal the scalar ones) and an
    /// instruction those cores lack (SDOT, FP16 arithmetic) faults.
    fn neon_tests(&self, root: &std::path::Path) -> Result<()> {
        const TARGET: &str = "aarch64-unknown-linux-musl";
        let installed = std::process::Command::new("rustup")
            .current_dir(root)
            .args(["target", "list", "--installed"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == TARGET))
            .unwrap_or(false);
        if !installed {
            let added = std::process::Command::new("rustup").current_dir(root).args(["target", "add", TARGET]).status();
            if !added.is_ok_and(|s| s.success()) {
                eprintln!("warning: skipping the NEON kernel tests: `rustup target add {TARGET}` failed");
                return Ok(());
            }
        }
        if std::process::Command::new("qemu-aarch64").arg("--version").output().is_err() {
            eprintln!("warning: skipping the NEON kernel tests: qemu-aarch64 (package qemu-user) is not installed");
            return Ok(());
        }
        let mut cargo = util::cargo();
        cargo
            .current_dir(root)
            .args(["test", "--package", "inference", "--target", TARGET, "--lib", "--test", "fixtures"])
            .env("QEMU_CPU", "cortex-a53");
        if let Some(filter) = &self.filter {
            cargo.args(["--", filter]);
        }
        util::run(&mut cargo)
    }
}
