//! The boards Kingly OS builds for, and how each maps to a QEMU machine.

use clap::ValueEnum;

/// A target board. Adding one: a variant here, `kernel/src/board/<name>.rs`, and the
/// `board-<name>` feature in `kernel/Cargo.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Board {
    /// QEMU raspi3b (emulated Raspberry Pi 3B) — the default.
    Raspi3b,
    /// QEMU raspi4b (emulated Raspberry Pi 4B).
    Raspi4b,
    /// QEMU virt (generic ARM64 machine with virtio).
    Virt,
    /// Real Raspberry Pi 3 Model B/B+.
    Pi3,
    /// Real Raspberry Pi Zero 2 W.
    Zero2w,
    /// Real Raspberry Pi 4 Model B.
    Pi4,
}

impl Board {
    /// The name used in features, paths and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Raspi3b => "raspi3b",
            Self::Raspi4b => "raspi4b",
            Self::Virt => "virt",
            Self::Pi3 => "pi3",
            Self::Zero2w => "zero2w",
            Self::Pi4 => "pi4",
        }
    }

    /// The QEMU machine and its fixed options, or `None` for real boards.
    pub fn qemu_machine(self) -> Option<&'static [&'static str]> {
        match self {
            Self::Raspi3b => Some(&["-M", "raspi3b"]),
            Self::Raspi4b => Some(&["-M", "raspi4b"]),
            Self::Virt => Some(&["-M", "virt", "-cpu", "cortex-a53", "-smp", "4", "-m", "1G"]),
            Self::Pi3 | Self::Zero2w | Self::Pi4 => None,
        }
    }

    /// Guest RAM (start, end) of the QEMU machine, as `qemu_machine` configures it (the
    /// Pi boards' top 64 MiB belong to the GPU).
    pub fn qemu_ram(self) -> (u64, u64) {
        match self.emulated_by() {
            Self::Virt => (0x4000_0000, 0x8000_0000),
            _ => (0, 0x3c00_0000),
        }
    }

    /// For a real board, the QEMU board that emulates the closest hardware.
    pub fn emulated_by(self) -> Board {
        match self {
            Self::Pi3 | Self::Zero2w => Self::Raspi3b,
            Self::Pi4 => Self::Raspi4b,
            other => other,
        }
    }
}
