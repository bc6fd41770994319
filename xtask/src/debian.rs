//! Debian arm64 packages fetched through apt itself, for files the project may not commit:
//! the Raspberry Pi firmware (`raspi-firmware`), the arm64 Linux kernel (device trees, and
//! the boot benchmark's baseline), busybox.
//!
//! apt runs with a private package-list and cache directory for arm64 under `target/`, so the
//! system's apt state is untouched, and it checks every package against the signed archive
//! index. Unpacked packages are cached by name; callers pin what they take out of them by
//! SHA-256.

use crate::util;
use anyhow::{bail, Context, Result};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Options that point apt at the private state under `dir`: arm64, its own lists, cache
/// and sources.
fn options(dir: &Path) -> Vec<String> {
    vec![
        format!("Dir::State::Lists={}", dir.join("lists").display()),
        format!("Dir::Cache={}", dir.join("cache").display()),
        "APT::Architecture=arm64".into(),
        "APT::Architectures=arm64".into(),
        "Dir::Etc::SourceList=/dev/null".into(),
        format!("Dir::Etc::SourceParts={}", dir.join("sources.list.d").display()),
    ]
}

/// apt-get with private state under `dir` and arm64 as the architecture.
pub fn apt(dir: &Path) -> Command {
    let mut command = Command::new("apt-get");
    for option in options(dir).into_iter().chain(["Debug::NoLocking=1".into(), "APT::Sandbox::User=root".into()]) {
        command.arg("-o").arg(option);
    }
    command.arg("-q");
    command
}

fn apt_cache(dir: &Path) -> Command {
    let mut command = Command::new("apt-cache");
    for option in options(dir) {
        command.arg("-o").arg(option);
    }
    command
}

/// The machine's Debian sources with the `non-free-firmware` component added (the
/// Raspberry Pi firmware lives there), written into the private sources directory. The
/// archive addresses come from the machine's own configuration.
fn write_sources(dir: &Path) -> Result<()> {
    let target = dir.join("sources.list.d");
    std::fs::create_dir_all(&target)?;
    let mut written = 0;
    let deb822 = Path::new("/etc/apt/sources.list.d/debian.sources");
    if let Ok(text) = std::fs::read_to_string(deb822) {
        let text: Vec<String> = text
            .lines()
            .map(|line| match line.strip_prefix("Components:") {
                Some(components) if !components.contains("non-free-firmware") => {
                    format!("Components:{components} non-free-firmware")
                }
                _ => line.to_string(),
            })
            .collect();
        std::fs::write(target.join("debian.sources"), text.join("\n") + "\n")?;
        written += 1;
    }
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("deb "))
            .map(|l| if l.contains("non-free-firmware") { l.to_string() } else { format!("{l} non-free-firmware") })
            .collect();
        if !lines.is_empty() {
            std::fs::write(target.join("debian.list"), lines.join("\n") + "\n")?;
            written += 1;
        }
    }
    if written == 0 {
        bail!("no Debian apt sources found (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)");
    }
    Ok(())
}

/// SHA-256 of a file, as lower-case hex.
pub fn sha256(path: &Path) -> Result<String> {
    let out = Command::new("sha256sum").arg(path).output().context("sha256sum")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().map(str::to_string).context("sha256sum printed nothing")
}

/// The private apt directory.
pub fn dir() -> PathBuf {
    util::root().join("target/debian")
}

/// Holds an exclusive lock on the private apt directory: several `cargo xtask image` runs
/// (the storage tests start them in parallel) must not update lists or unpack at once.
fn lock() -> Result<std::fs::File> {
    let dir = dir();
    std::fs::create_dir_all(&dir)?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(".lock"))?;
    file.lock().context("locking target/debian")?;
    Ok(file)
}

/// Refreshes the arm64 package lists once per machine (they live under `target/debian`).
pub fn update_lists() -> Result<PathBuf> {
    let _lock = lock()?;
    update_lists_locked()
}

fn update_lists_locked() -> Result<PathBuf> {
    let dir = dir();
    let marker = dir.join("lists/.updated");
    if !marker.exists() {
        for sub in ["lists/partial", "cache/archives/partial", "debs"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        write_sources(&dir)?;
        util::run(apt(&dir).arg("update"))
            .context("apt-get update for arm64 package lists (needs root and the network)")?;
        std::fs::write(&marker, "")?;
    }
    Ok(dir)
}

/// The concrete package a virtual or meta package (e.g. `linux-image-arm64`) depends on
/// with the given name prefix.
pub fn resolve(meta: &str, prefix: &str) -> Result<String> {
    let dir = update_lists()?;
    let out = apt_cache(&dir).args(["depends", meta]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Depends: ").filter(|p| p.starts_with(prefix)))
        .map(str::to_string)
        .with_context(|| format!("cannot resolve {meta} to a {prefix}* package"))
}

/// Downloads `package` (once) and unpacks it; returns the directory it was unpacked into.
pub fn unpacked(package: &str) -> Result<PathBuf> {
    let _lock = lock()?;
    let dir = update_lists_locked()?;
    let root = dir.join("root").join(package);
    let debs = dir.join("debs").join(package);
    if let Ok(record) = std::fs::read_to_string(root.join(".complete")) {
        // Re-check the cached package against the sum recorded when apt fetched it.
        let (sum, name) = record.trim().split_once("  ").context("corrupt package record")?;
        if sha256(&debs.join(name))? != sum {
            bail!(
                "{} no longer matches its recorded SHA-256; delete {} to fetch it again",
                debs.join(name).display(),
                debs.display()
            );
        }
        return Ok(root);
    }
    std::fs::create_dir_all(&debs)?;
    eprintln!("fetching Debian's {package} (arm64, once)");
    util::run(apt(&dir).current_dir(&debs).args(["download", package]))?;
    let deb = std::fs::read_dir(&debs)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .with_context(|| format!("apt downloaded no .deb for {package}"))?;
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    util::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    let name = deb.file_name().unwrap_or_default().to_string_lossy().to_string();
    std::fs::write(root.join(".complete"), format!("{}  {name}\n", sha256(&deb)?))?;
    Ok(root)
}

/// The `sha256  file.deb` record of an unpacked package.
pub fn record(package: &str) -> Result<String> {
    Ok(std::fs::read_to_string(dir().join("root").join(package).join(".complete"))?.trim().to_string())
}
