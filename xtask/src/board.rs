//! The boards Kingly OS builds for, and every host-side fact about each in one table
//! ([`FACTS`]): its QEMU machine, guest RAM, card slot, network device, the firmware and
//! device trees a card needs, the Linux device tree of the boot benchmark.
//!
//! Adding a board: a variant here and its row in [`FACTS`], `kernel/src/board/<name>.rs`
//! (the SoC's defaults plus what differs), and the `board-<name>` feature with its `cfg`
//! lines in `kernel/Cargo.toml` and `kernel/src/board/mod.rs`. The test
//! `every_board_is_complete` fails while any of these is missing.

use clap::ValueEnum;

/// A target board.
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

/// Where a board's card (or the disk in its place) is attached in QEMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardSlot {
    /// The SD host (`-drive if=sd`).
    Sd,
    /// A virtio-blk device.
    VirtioBlk,
}

/// Host-side facts about one board.
pub struct Facts {
    /// The board.
    pub board: Board,
    /// The name used in features, paths and messages.
    pub name: &'static str,
    /// The QEMU board that runs this board's kernel (itself for emulated boards).
    pub emulated_by: Board,
    /// QEMU machine options (emulated boards only).
    pub qemu_machine: Option<&'static [&'static str]>,
    /// Guest RAM (start, end) as the QEMU machine configures it (the Pi boards' top 64 MiB
    /// belong to the GPU).
    pub qemu_ram: (u64, u64),
    /// Where the card goes in QEMU.
    pub card_slot: CardSlot,
    /// The QEMU network device `--net` attaches, if the kernel drives one there.
    pub qemu_nic: Option<&'static str>,
    /// Whether the kernel's network adapter is on USB (so `net.usb = on` is needed).
    pub usb_network: bool,
    /// Firmware and device trees on its card: (package file, name on the card). Empty for
    /// boards that do not boot from a card.
    pub firmware: &'static [(&'static str, &'static str)],
    /// The device tree Linux boots with in the boot benchmark, if any.
    pub linux_dtb: Option<&'static str>,
}

const BCM2837_FIRMWARE: &[(&str, &str)] = &[
    ("raspi-firmware:bootcode.bin", "bootcode.bin"),
    ("raspi-firmware:start.elf", "start.elf"),
    ("raspi-firmware:fixup.dat", "fixup.dat"),
    ("linux-image:broadcom/bcm2837-rpi-3-b.dtb", "bcm2710-rpi-3-b.dtb"),
    ("linux-image:broadcom/bcm2837-rpi-3-b-plus.dtb", "bcm2710-rpi-3-b-plus.dtb"),
    ("linux-image:broadcom/bcm2837-rpi-zero-2-w.dtb", "bcm2710-rpi-zero-2-w.dtb"),
];

const BCM2711_FIRMWARE: &[(&str, &str)] = &[
    ("raspi-firmware:start4.elf", "start4.elf"),
    ("raspi-firmware:fixup4.dat", "fixup4.dat"),
    ("linux-image:broadcom/bcm2711-rpi-4-b.dtb", "bcm2711-rpi-4-b.dtb"),
];

const PI_RAM: (u64, u64) = (0, 0x3c00_0000);

/// One row per board.
pub const FACTS: [Facts; 6] = [
    Facts {
        board: Board::Raspi3b,
        name: "raspi3b",
        emulated_by: Board::Raspi3b,
        qemu_machine: Some(&["-M", "raspi3b"]),
        qemu_ram: PI_RAM,
        card_slot: CardSlot::Sd,
        qemu_nic: Some("usb-net,netdev=n0"),
        usb_network: true,
        firmware: BCM2837_FIRMWARE,
        linux_dtb: Some("broadcom/bcm2837-rpi-3-b.dtb"),
    },
    Facts {
        board: Board::Raspi4b,
        name: "raspi4b",
        emulated_by: Board::Raspi4b,
        qemu_machine: Some(&["-M", "raspi4b"]),
        qemu_ram: PI_RAM,
        card_slot: CardSlot::Sd,
        qemu_nic: None,
        usb_network: false,
        firmware: BCM2711_FIRMWARE,
        linux_dtb: Some("broadcom/bcm2711-rpi-4-b.dtb"),
    },
    Facts {
        board: Board::Virt,
        name: "virt",
        emulated_by: Board::Virt,
        // virtio-rng: the kernel's strong random source on virt (tokens, session ids).
        qemu_machine: Some(&[
            "-M",
            "virt",
            "-cpu",
            "cortex-a53",
            "-smp",
            "4",
            "-m",
            "1G",
            "-device",
            "virtio-rng-device",
        ]),
        qemu_ram: (0x4000_0000, 0x8000_0000),
        card_slot: CardSlot::VirtioBlk,
        qemu_nic: Some("virtio-net-device,netdev=n0"),
        usb_network: false,
        firmware: &[],
        linux_dtb: None,
    },
    Facts {
        board: Board::Pi3,
        name: "pi3",
        emulated_by: Board::Raspi3b,
        qemu_machine: None,
        qemu_ram: PI_RAM,
        card_slot: CardSlot::Sd,
        qemu_nic: None,
        // The Pi 3 B's Ethernet (LAN9514) is on USB.
        usb_network: true,
        firmware: BCM2837_FIRMWARE,
        linux_dtb: None,
    },
    Facts {
        board: Board::Zero2w,
        name: "zero2w",
        emulated_by: Board::Raspi3b,
        qemu_machine: None,
        qemu_ram: PI_RAM,
        card_slot: CardSlot::Sd,
        qemu_nic: None,
        usb_network: false,
        firmware: BCM2837_FIRMWARE,
        linux_dtb: None,
    },
    Facts {
        board: Board::Pi4,
        name: "pi4",
        emulated_by: Board::Raspi4b,
        qemu_machine: None,
        qemu_ram: PI_RAM,
        card_slot: CardSlot::Sd,
        qemu_nic: None,
        usb_network: false,
        firmware: BCM2711_FIRMWARE,
        linux_dtb: None,
    },
];

impl Board {
    /// This board's row of [`FACTS`].
    pub fn facts(self) -> &'static Facts {
        FACTS.iter().find(|f| f.board == self).unwrap_or_else(|| unreachable!("every board has a row (tested)"))
    }

    /// The name used in features, paths and messages.
    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// The QEMU machine and its fixed options, or `None` for real boards.
    pub fn qemu_machine(self) -> Option<&'static [&'static str]> {
        self.facts().qemu_machine
    }

    /// Guest RAM (start, end) of the QEMU machine that runs this board's kernel.
    pub fn qemu_ram(self) -> (u64, u64) {
        self.emulated_by().facts().qemu_ram
    }

    /// For a real board, the QEMU board that emulates the closest hardware.
    pub fn emulated_by(self) -> Board {
        self.facts().emulated_by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every board has its row, its kernel board file, its feature and its `cfg` lines, and
    /// every kernel board file has an xtask board: a half-added board fails here.
    #[test]
    fn every_board_is_complete() {
        let root = crate::util::root();
        let kernel_toml = std::fs::read_to_string(root.join("kernel/Cargo.toml")).unwrap();
        let board_mod = std::fs::read_to_string(root.join("kernel/src/board/mod.rs")).unwrap();
        for &board in Board::value_variants() {
            let rows = FACTS.iter().filter(|f| f.board == board).count();
            assert_eq!(rows, 1, "{board:?} needs exactly one row in FACTS");
            let facts = board.facts();
            let name = facts.name;
            assert_eq!(board.to_possible_value().map(|v| v.get_name().to_string()), Some(name.to_string()));
            let file = root.join(format!("kernel/src/board/{name}.rs"));
            let text = std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("{} is missing", file.display()));
            assert!(text.contains(&format!("name: \"{name}\"")), "{} names another board", file.display());
            assert!(kernel_toml.contains(&format!("board-{name} = []")), "kernel/Cargo.toml lacks board-{name}");
            for line in [
                format!("#[cfg(feature = \"board-{name}\")]\nmod {name};"),
                format!("pub use {name}::BOARD as CURRENT;"),
            ] {
                assert!(board_mod.contains(&line), "kernel/src/board/mod.rs lacks `{line}`");
            }
            assert!(board_mod.contains(&format!("feature = \"board-{name}\"")), "compile_error! list lacks {name}");
            let emulator = facts.emulated_by.facts();
            assert!(
                emulator.qemu_machine.is_some(),
                "{name} is emulated by {}, which has no QEMU machine",
                emulator.name
            );
            assert_eq!(
                facts.qemu_machine.is_some(),
                facts.emulated_by == board,
                "{name}: emulated boards emulate themselves"
            );
            if facts.card_slot == CardSlot::Sd {
                assert!(!facts.firmware.is_empty(), "{name} boots from a card but lists no firmware");
            }
        }
        for entry in std::fs::read_dir(root.join("kernel/src/board")).unwrap() {
            let file = entry.unwrap().file_name().to_string_lossy().to_string();
            let text = std::fs::read_to_string(root.join("kernel/src/board").join(&file)).unwrap();
            if text.contains("pub const BOARD: BoardInfo = BoardInfo {") {
                let name = file.trim_end_matches(".rs");
                assert!(FACTS.iter().any(|f| f.name == name), "kernel board {name} has no xtask board");
            }
        }
    }
}
