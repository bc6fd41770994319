//! Installing what a fresh machine lacks: the Rust target and components, QEMU, and the
//! Python packages the tests use. Nothing is downloaded from outside the package registries.

use crate::util;
use anyhow::{bail, Context, Result};
use std::{path::PathBuf, process::Command};

/// Install what this machine lacks (Rust target and components, QEMU, test packages).
#[derive(clap::Args)]
pub struct Args {}

impl Args {
    /// Installs everything `cargo xtask test` needs.
    pub fn run(self) -> Result<()> {
        ensure_rust_target()?;
        // The installed tools' target (`cargo xtask wasm-tool build`, which the tests run).
        ensure_target(crate::wasm_tool::TARGET)?;
        for machine in ["raspi3b", "raspi4b", "virt"] {
            ensure_qemu(machine)?;
        }
        ensure_python_packages()?;
        ensure_mosquitto()?;
        eprintln!("setup complete");
        Ok(())
    }
}

fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Adds the `aarch64-unknown-none` target and the `rust-src`/`llvm-tools`/`clippy`/`rustfmt` components when
/// missing (automatic toolchain installs may be disabled, so `rust-toolchain.toml` alone
/// is not enough).
pub fn ensure_rust_target() -> Result<()> {
    let root = util::root();
    ensure_target("aarch64-unknown-none")?;
    let components = output(Command::new("rustup").current_dir(&root).args(["component", "list", "--installed"]))
        .unwrap_or_default();
    for component in ["rust-src", "llvm-tools", "clippy", "rustfmt"] {
        if !components.lines().any(|l| l.starts_with(component)) {
            util::run(Command::new("rustup").current_dir(&root).args(["component", "add", component]))?;
        }
    }
    Ok(())
}

/// Adds the Rust target `target` when it is missing (the kernel's, the installed tools'
/// `wasm32-unknown-unknown`, the NEON tests' `aarch64-unknown-linux-musl`).
pub fn ensure_target(target: &str) -> Result<()> {
    let root = util::root();
    let installed = output(Command::new("rustup").current_dir(&root).args(["target", "list", "--installed"]))
        .context("rustup not found: install Rust with rustup first")?;
    if !installed.lines().any(|l| l.trim() == target) {
        util::run(Command::new("rustup").current_dir(&root).args(["target", "add", target]))?;
    }
    Ok(())
}

/// Path of an LLVM tool from the `llvm-tools` component.
pub fn llvm_tool(name: &str) -> Result<PathBuf> {
    let root = util::root();
    let sysroot = output(Command::new("rustc").current_dir(&root).args(["--print", "sysroot"]))
        .context("rustc --print sysroot failed")?;
    let host = output(Command::new("rustc").current_dir(&root).args(["-vV"]))
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("host: ").map(str::to_string)))
        .context("cannot determine the host triple")?;
    let path = PathBuf::from(sysroot.trim()).join("lib/rustlib").join(host).join("bin").join(name);
    if !path.exists() {
        bail!("{} is missing: run `rustup component add llvm-tools`", path.display());
    }
    Ok(path)
}

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-aarch64";

fn qemu_has_machine(machine: &str) -> bool {
    output(Command::new(QEMU).args(["-machine", "help"]))
        .is_some_and(|list| list.lines().any(|l| l.split_whitespace().next() == Some(machine)))
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_some_and(|id| id.trim() == "0")
}

fn os_release(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}=")).map(|v| v.trim_matches('"').to_string()))
}

const INSTALL_HINT: &str = "sudo apt-get update && sudo apt-get install -y qemu-system-arm \
(on Debian 12 use bookworm-backports: QEMU 7.2 lacks raspi4b; see ../shared/docs/platform.md or the README)";

/// Makes sure `qemu-system-aarch64` with `machine` exists, installing it on Debian/Ubuntu when
/// running as root, otherwise explaining exactly how to install it.
pub fn ensure_qemu(machine: &str) -> Result<()> {
    if qemu_has_machine(machine) {
        return Ok(());
    }
    if !is_root() || !std::path::Path::new("/etc/debian_version").exists() {
        bail!("{QEMU} with machine '{machine}' not found. Install it with:\n  {INSTALL_HINT}");
    }
    eprintln!("{QEMU} with machine '{machine}' not found: installing QEMU");
    let codename = os_release("VERSION_CODENAME").unwrap_or_default();
    let mut install = Command::new("apt-get");
    install.env("DEBIAN_FRONTEND", "noninteractive").args(["install", "-y", "-q"]);
    if codename == "bookworm" {
        enable_backports()?;
        install.args(["-t", "bookworm-backports"]);
    }
    util::run(Command::new("apt-get").args(["update", "-q"]))?;
    util::run(install.args(["qemu-system-arm", "qemu-user"]))?;
    if !qemu_has_machine(machine) {
        bail!("installed QEMU still lacks machine '{machine}' (need QEMU 9.0 or newer)");
    }
    Ok(())
}

/// The MQTT broker the fleet commands and tests run (Mosquitto, from Debian's packages).
pub const MOSQUITTO: &str = "mosquitto";

/// Mosquitto, installed from Debian's packages when missing (as QEMU is). Returns its path.
pub fn ensure_mosquitto() -> Result<PathBuf> {
    let find = || {
        ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    if !is_root() || !std::path::Path::new("/etc/debian_version").exists() {
        bail!("{MOSQUITTO} (the MQTT broker) not found. Install it with:\n  sudo apt-get install -y mosquitto");
    }
    eprintln!("{MOSQUITTO} not found: installing it");
    util::run(Command::new("apt-get").args(["update", "-q"]))?;
    util::run(
        Command::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive").args(["install", "-y", "-q", MOSQUITTO]),
    )?;
    find().context("mosquitto was installed but is not in /usr/sbin")
}

/// Adds a bookworm-backports source derived from the system's own Debian source (so no
/// mirror address is written here), with `main non-free-firmware` components.
fn enable_backports() -> Result<()> {
    let target = std::path::Path::new("/etc/apt/sources.list.d/kingly-backports.sources");
    if target.exists() {
        return Ok(());
    }
    let deb822 = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let stanza: Vec<String> = deb822
        .split("\n\n")
        .next()
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| {
            if l.starts_with("Suites:") {
                "Suites: bookworm-backports".to_string()
            } else if l.starts_with("Components:") {
                "Components: main non-free-firmware".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    let text = if stanza.iter().any(|l| l.starts_with("URIs:")) {
        stanza.join("\n") + "\n"
    } else {
        // One-line format: reuse the first `deb` line's URI.
        let list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
        let uri = list
            .lines()
            .find_map(|l| l.strip_prefix("deb ").and_then(|r| r.split_whitespace().find(|w| w.contains("://"))))
            .context("cannot find a Debian source to derive bookworm-backports from")?;
        format!("Types: deb\nURIs: {uri}\nSuites: bookworm-backports\nComponents: main non-free-firmware\n")
    };
    eprintln!("adding {}", target.display());
    std::fs::write(target, text)?;
    Ok(())
}

/// The virtual environment with the Python packages the tests use
/// (`tests/requirements.txt`), created and filled when missing or outdated. Returns its
/// Python interpreter.
pub fn ensure_python_packages() -> Result<PathBuf> {
    let root = util::root();
    let venv = root.join("target/venv");
    let python = venv.join("bin/python");
    let requirements = root.join("tests/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).context("reading tests/requirements.txt")?;
    let stamp = venv.join("kingly-requirements.txt");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    let system_python = ["python3", "python"]
        .into_iter()
        .find(|p| output(Command::new(p).arg("--version")).is_some())
        .context("Python 3 not found: install python3")?;
    if !python.exists() {
        let created = Command::new(system_python).args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success());
        if !created {
            if is_root() && std::path::Path::new("/etc/debian_version").exists() {
                util::run(Command::new("apt-get").args(["update", "-q"]))?;
                util::run(Command::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive").args([
                    "install",
                    "-y",
                    "-q",
                    "python3-venv",
                ]))?;
                let _ = std::fs::remove_dir_all(&venv);
                util::run(Command::new(system_python).args(["-m", "venv"]).arg(&venv))?;
            } else {
                bail!("cannot create a Python virtual environment. Install it with:\n  sudo apt-get install -y python3-venv");
            }
        }
    }
    eprintln!("installing the test's Python packages into {}", venv.display());
    util::run(
        Command::new(&python).args(["-m", "pip", "install", "--progress-bar", "on", "-q", "-r"]).arg(&requirements),
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

/// llama-cpp-python, the llama.cpp peer of `cargo xtask bench llm`: built once from PyPI's
/// source package into `target/llamacpp-venv`, CPU only, for this machine's instruction set
/// (GGML_NATIVE) with the AMX paths off (they crashed on Q8_0 on this machine kind). Needs
/// a C++ compiler (installed from Debian's packages when missing); the build takes minutes.
pub fn ensure_llama_cpp() -> Result<PathBuf> {
    const VERSION: &str = "0.3.36";
    let venv = util::root().join("target/llamacpp-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("kingly-llamacpp.txt");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(VERSION) {
        return Ok(python);
    }
    ensure_python_packages()?; // python3-venv
    if output(Command::new("c++").arg("--version")).is_none() {
        if is_root() && std::path::Path::new("/etc/debian_version").exists() {
            util::run(Command::new("apt-get").args(["update", "-q"]))?;
            util::run(
                Command::new("apt-get")
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .args(["install", "-y", "-q", "g++", "make"]),
            )?;
        } else {
            bail!("building llama.cpp needs a C++ compiler:\n  sudo apt-get install -y g++ make");
        }
    }
    if !python.exists() {
        util::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    eprintln!(
        "building llama.cpp (llama-cpp-python {VERSION}, CPU only) into {}: once, several minutes",
        venv.display()
    );
    util::run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--progress-bar", "on", "-v", "numpy"])
            .arg(format!("llama-cpp-python=={VERSION}"))
            .env(
                "CMAKE_ARGS",
                "-DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_CUDA=OFF \
                 -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DLLAMA_CURL=OFF",
            )
            .env("FORCE_CMAKE", "1"),
    )?;
    std::fs::write(&stamp, VERSION)?;
    Ok(python)
}
