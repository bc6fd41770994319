//! Which files on the boot partition the kernel may write (the `fs_write` tool).
//!
//! The card is what the board boots from: a write that replaced the firmware, the kernel, a
//! device tree or `config.txt` could leave a board that no longer starts, and nobody at the
//! serial console could repair it from there. Those files, the overlays directory and model
//! files (hundreds of MB, not something to patch 64 KiB at a time) are refused; everything
//! else on the partition (the settings file, notes, logs) may be written.

/// Why `path` (components separated by `/`) may not be written, or `None` if it may.
/// Matching is case-insensitive, as FAT names are.
pub fn protection(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    let parts: alloc::vec::Vec<&str> = lower.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let (name, dirs) = parts.split_last()?;
    if dirs.first() == Some(&"overlays") {
        return Some("device-tree overlays are read by the firmware at boot");
    }
    let firmware = name.starts_with("bootcode")
        || (name.starts_with("start") && name.ends_with(".elf"))
        || (name.starts_with("fixup") && name.ends_with(".dat"))
        || matches!(*name, "config.txt" | "cmdline.txt" | "bootcfg.txt" | "autoboot.txt");
    if firmware {
        return Some("the Pi firmware reads it at boot");
    }
    if (name.starts_with("kernel") && name.ends_with(".img")) || name.ends_with(".dtb") || name.ends_with(".elf") {
        return Some("it is the kernel or a device tree the board boots");
    }
    if name.ends_with(".gguf") {
        return Some("model files are replaced whole on the host, not patched in place");
    }
    None
}

/// Whether `path` is the settings file (`/kingly.txt`, any case): it holds the network
/// token and names the model, so remote sessions may neither read nor write it.
pub fn is_settings(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let parts: alloc::vec::Vec<&str> = lower.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    parts.as_slice() == ["kingly.txt"]
}

/// Whether `path` is one of the kernel's own records on the card: the audit trail
/// (`AUDIT.LOG`), the last crash (`CRASH.TXT`) and the plain-language decisions
/// (`INTENTS.LOG`). The kernel writes them; a remote session may neither rewrite them (a
/// control token could otherwise erase its own trail) nor read them around the resources
/// that serve them with the right role.
pub fn is_kernel_record(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let parts: alloc::vec::Vec<&str> = lower.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    matches!(parts.as_slice(), ["audit.log"] | ["crash.txt"] | ["intents.log"])
}

/// Why `bytes` may not be written to any file: a GGUF model under another name (which the
/// settings could then name as the model) is refused like a `.gguf` file.
pub fn content_protection(bytes: &[u8]) -> Option<&'static str> {
    bytes.starts_with(b"GGUF").then_some("it is a GGUF model file; models are replaced whole on the host")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_settings_file_is_recognised_however_written() {
        for path in ["/kingly.txt", "KINGLY.TXT", "/./Kingly.Txt", "//kingly.txt"] {
            assert!(super::is_settings(path), "{path}");
        }
        for path in ["/notes.txt", "/dir/kingly.txt", "/kingly.txt.bak"] {
            assert!(!super::is_settings(path), "{path}");
        }
        for path in ["/AUDIT.LOG", "crash.txt", "/./Intents.Log"] {
            assert!(super::is_kernel_record(path), "{path}");
        }
        for path in ["/audit.log.old", "/logs/crash.txt", "/kingly.txt"] {
            assert!(!super::is_kernel_record(path), "{path}");
        }
        assert!(super::content_protection(b"GGUF\x03\0\0\0").is_some());
        assert!(super::content_protection(b"hello").is_none());
    }

    use super::*;

    #[test]
    fn boot_files_are_protected_and_others_are_not() {
        for path in [
            "/config.txt",
            "CONFIG.TXT",
            "/bootcode.bin",
            "/start4.elf",
            "/START.ELF",
            "/fixup_cd.dat",
            "/kernel8.img",
            "/KERNEL8.IMG",
            "/bcm2711-rpi-4-b.dtb",
            "/overlays/disable-bt.dtbo",
            "/overlays/README",
            "/model.gguf",
            "/cmdline.txt",
            "/./config.txt",
        ] {
            assert!(protection(path).is_some(), "{path} should be protected");
        }
        for path in ["/kingly.txt", "/notes.txt", "/logs/boot.log", "/data.bin", "/configs/x.txt", "/", ""] {
            assert_eq!(protection(path), None, "{path} should be writable");
        }
    }
}
