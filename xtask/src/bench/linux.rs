//! The boot-time baseline: Debian's arm64 Linux kernel with a busybox-static initramfs whose
//! init prints a marker, booted on the same QEMU machine.
//!
//! The packages come from Debian through apt itself ([`crate::debian`]: private arm64
//! package lists, signed archive index), cached under `target/debian/` with their SHA-256
//! sums, verified on every reuse. Nothing is committed.

use crate::{board::Board, debian, util};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// What the initramfs's init prints once Linux has handed control to user space.
pub const MARKER: &str = "KINGLY-LINUX-INIT-REACHED";

/// A ready-to-boot Linux: kernel image, device trees, initramfs.
pub struct Linux {
    pub kernel: PathBuf,
    pub dtb_dir: PathBuf,
    pub initramfs: PathBuf,
    /// Package versions and SHA-256 sums, for the report.
    pub manifest: String,
}

/// Downloads (once) and unpacks the kernel and busybox packages, and writes the initramfs.
pub fn prepare() -> Result<Linux> {
    let kernel_package = debian::resolve("linux-image-arm64", "linux-image-")?;
    let kernel_root = debian::unpacked(&kernel_package)?;
    let busybox_root = debian::unpacked("busybox-static")?;
    let manifest = format!("{}\n{}\n", debian::record(&kernel_package)?, debian::record("busybox-static")?);
    let kernel = std::fs::read_dir(kernel_root.join("boot"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .context("no vmlinuz in the kernel package")?;
    let dtb_dir = std::fs::read_dir(kernel_root.join("usr/lib"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("linux-image-")))
        .context("no device trees in the kernel package")?;
    let busybox = std::fs::read(busybox_root.join("bin/busybox")).context("busybox-static binary")?;
    let dir = util::root().join("target/bench/linux");
    std::fs::create_dir_all(&dir)?;
    let initramfs = dir.join("initramfs.cpio");
    std::fs::write(&initramfs, initramfs_image(&busybox))?;
    Ok(Linux { kernel, dtb_dir, initramfs, manifest })
}

/// A newc cpio archive: /init (a busybox script printing the marker, then powering off),
/// /bin/busybox, and a /dev/console node (the kernel does not mount devtmpfs by itself).
pub fn initramfs_image(busybox: &[u8]) -> Vec<u8> {
    let init = format!("#!/bin/busybox sh\n/bin/busybox echo {MARKER}\n/bin/busybox poweroff -f\n");
    let mut archive = Vec::new();
    /// Path, mode, device (major, minor), contents.
    type Entry<'a> = (&'a str, u32, (u32, u32), &'a [u8]);
    let entries: [Entry; 6] = [
        ("dev", 0o040755, (0, 0), b""),
        ("dev/console", 0o020600, (5, 1), b""),
        ("bin", 0o040755, (0, 0), b""),
        ("bin/busybox", 0o100755, (0, 0), busybox),
        ("proc", 0o040755, (0, 0), b""),
        ("init", 0o100755, (0, 0), init.as_bytes()),
    ];
    for (ino, (name, mode, rdev, data)) in entries.iter().enumerate() {
        cpio_entry(&mut archive, ino as u32 + 1, name, *mode, *rdev, data);
    }
    cpio_entry(&mut archive, 0, "TRAILER!!!", 0, (0, 0), b"");
    archive
}

fn pad4(archive: &mut Vec<u8>) {
    while !archive.len().is_multiple_of(4) {
        archive.push(0);
    }
}

fn cpio_entry(archive: &mut Vec<u8>, ino: u32, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
    let nlink = if mode & 0o040000 != 0 { 2 } else { 1 };
    let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
    archive.extend_from_slice(b"070701");
    for field in fields {
        archive.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    archive.extend_from_slice(name.as_bytes());
    archive.push(0);
    pad4(archive);
    archive.extend_from_slice(data);
    pad4(archive);
}

/// QEMU arguments that boot this Linux on `board`'s machine with the console on stdio.
pub fn qemu_args(linux: &Linux, board: Board) -> Result<Vec<String>> {
    let Some(machine) = board.qemu_machine() else { bail!("{} has no QEMU machine", board.name()) };
    let mut args: Vec<String> = machine.iter().map(|s| s.to_string()).collect();
    args.extend(["-kernel".into(), linux.kernel.display().to_string()]);
    if let Some(dtb) = board.facts().linux_dtb {
        args.extend(["-dtb".into(), linux.dtb_dir.join(dtb).display().to_string()]);
    }
    args.extend(["-initrd".into(), linux.initramfs.display().to_string()]);
    args.extend(["-append".into(), "console=ttyAMA0 rdinit=/init".into()]);
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initramfs_is_newc_with_console_node_and_trailer() {
        let image = initramfs_image(b"ELF...");
        assert!(image.starts_with(b"070701"));
        assert_eq!(image.len() % 4, 0);
        let text = String::from_utf8_lossy(&image);
        assert!(text.contains("dev/console\0"));
        assert!(text.contains(MARKER));
        assert!(text.contains("TRAILER!!!\0"));
        // The console node: mode 020600, rdev 5:1.
        let at = text.find("dev/console").unwrap();
        let header = &text[at - 110 + 6..at];
        assert_eq!(&header[8..16], "00002180");
        assert_eq!(&header[72..80], "00000005");
        assert_eq!(&header[80..88], "00000001");
    }
}
