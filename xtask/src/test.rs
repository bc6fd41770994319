//! `cargo xtask test`: host unit tests of every crate, then the QEMU integration tests.

use crate::{board::Board, build, deps, qemu, util};
use anyhow::{bail, Context, Result};

/// Run every test: host unit tests of all crates and the QEMU integration tests.
#[derive(clap::Args)]
pub struct Args {
    /// Only run tests whose name contains this string.
    filter: Option<String>,
    /// Also run the slow checks (`#[ignore]`d tests: retraining the committed intent model
    /// from its dataset, about 15 minutes on two cores).
    #[arg(long)]
    slow: bool,
}

/// Boards the QEMU tests boot.
const QEMU_BOARDS: [Board; 3] = [Board::Raspi3b, Board::Raspi4b, Board::Virt];

impl Args {
    pub fn run(self) -> Result<()> {
        deps::ensure_rust_target()?;
        let python = deps::ensure_python_packages()?;
        let mosquitto = deps::ensure_mosquitto()?;
        let root = util::root();
        let images = root.join("target/images");
        // The require rule (see `testkit`): under this command every missing prerequisite
        // fails its test. Only a fresh clone without ../shared skips the fixture tests.
        let shared = testkit::shared_dir().join("fixtures");
        let no_shared = !shared.is_dir();
        if no_shared {
            eprintln!("warning: {} is absent (a fresh clone): the fixture tests will be skipped", shared.display());
        }
        for board in QEMU_BOARDS {
            deps::ensure_qemu(board.name())?;
            let build = build::Args { board, release: false, test_hooks: true };
            let dir = images.join(build.variant());
            let args_file = dir.join("qemu-args.txt");
            let _ = std::fs::remove_file(&args_file);
            let output = build.run()?;
            let mut args = qemu::machine_args(board, &output.image)?;
            args.extend(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"].map(String::from));
            std::fs::write(&args_file, args.join("\n") + "\n")?;
        }
        // The example WebAssembly tools the QEMU tests install.
        for tool in ["blink", "lm75"] {
            crate::wasm_tool::build(tool, None)?;
        }
        let mut cargo = util::cargo();
        cargo
            .current_dir(&root)
            .args(["test", "--workspace", "--exclude", "kernel", "--exclude", "boot", "--no-fail-fast"])
            .env("KINGLY_TEST_IMAGES", &images)
            .env("KINGLY_REQUIRE", "1")
            .env("KINGLY_PYTHON", &python)
            .env("KINGLY_MOSQUITTO", &mosquitto)
            .env("KINGLY_XTASK", std::env::current_exe()?);
        if no_shared {
            cargo.env("KINGLY_NO_SHARED", "1");
        }
        cargo.arg("--");
        if let Some(filter) = &self.filter {
            cargo.arg(filter);
        }
        if self.slow {
            cargo.arg("--include-ignored");
        }
        let host = util::run(&mut cargo);
        let neon = self.neon_tests(&root, no_shared);
        if no_shared {
            eprintln!("warning: ../shared was absent: the fixture tests were skipped (CI always has it)");
        }
        host.and(neon)
    }

    /// The inference crate again for AArch64 under QEMU user-mode emulation as a
    /// Cortex-A53, so the NEON kernels run (and must equal the scalar ones) and an
    /// instruction those cores lack (SDOT, FP16 arithmetic) faults. A missing target or
    /// emulator is an error, not a skip.
    fn neon_tests(&self, root: &std::path::Path, no_shared: bool) -> Result<()> {
        const TARGET: &str = "aarch64-unknown-linux-musl";
        deps::ensure_target(TARGET).with_context(|| format!("the NEON kernel tests need the {TARGET} target"))?;
        if std::process::Command::new("qemu-aarch64").arg("--version").output().is_err() {
            bail!("the NEON kernel tests need qemu-aarch64 (package qemu-user; `cargo xtask setup` installs it)");
        }
        let mut cargo = util::cargo();
        cargo
            .current_dir(root)
            .args(["test", "--package", "inference", "--target", TARGET, "--lib", "--test", "fixtures"])
            .env("QEMU_CPU", "cortex-a53")
            .env("KINGLY_REQUIRE", "1");
        if no_shared {
            cargo.env("KINGLY_NO_SHARED", "1");
        }
        if let Some(filter) = &self.filter {
            cargo.args(["--", filter]);
        }
        util::run(&mut cargo)
    }
}
