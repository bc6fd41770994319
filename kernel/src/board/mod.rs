//! Board descriptions: one module per board, selected by a `board-*` cargo feature.
//!
//! A board is data ([`BoardInfo`]): where RAM and devices are, which interrupt controller,
//! UART, timer and reset method it has, and how its secondary cores start. The DTB, when
//! present, refines RAM and reserved ranges at boot (see `dtb.rs`). Generic kernel code reads
//! `board::CURRENT` and never tests for a board by name.
//!
//! Adding a board: write `board/<name>.rs` with a `pub const BOARD: BoardInfo`, add the
//! feature in `kernel/Cargo.toml` and the `cfg` line below, and a variant to xtask's `Board`.

use drivers::gpio::PullLayout;
pub use header::HeaderPin;

#[cfg(feature = "board-pi3")]
mod pi3;
#[cfg(feature = "board-pi4")]
mod pi4;
#[cfg(feature = "board-raspi3b")]
mod raspi3b;
#[cfg(feature = "board-raspi4b")]
mod raspi4b;
#[cfg(feature = "board-virt")]
mod virt;
#[cfg(feature = "board-zero2w")]
mod zero2w;

mod bcm2711;
mod bcm2837;
pub mod header;

#[cfg(feature = "board-pi3")]
pub use pi3::BOARD as CURRENT;
#[cfg(feature = "board-pi4")]
pub use pi4::BOARD as CURRENT;
#[cfg(feature = "board-raspi3b")]
pub use raspi3b::BOARD as CURRENT;
#[cfg(feature = "board-raspi4b")]
pub use raspi4b::BOARD as CURRENT;
#[cfg(feature = "board-virt")]
pub use virt::BOARD as CURRENT;
#[cfg(feature = "board-zero2w")]
pub use zero2w::BOARD as CURRENT;

#[cfg(not(any(
    feature = "board-raspi3b",
    feature = "board-pi3",
    feature = "board-zero2w",
    feature = "board-raspi4b",
    feature = "board-pi4",
    feature = "board-virt"
)))]
compile_error!("select a board: build with `cargo xtask build --board <name>` (or --features board-<name>)");

/// The interrupt controller family and its registers.
#[derive(Clone, Copy, Debug)]
pub enum InterruptController {
    /// BCM2836/7 per-core local controller plus the BCM2835 controller for GPU interrupts.
    Bcm2836 {
        /// Local controller base (0x4000_0000 on the Pi 3).
        local: usize,
        /// BCM2835 ARM interrupt controller base.
        gpu: usize,
    },
    /// A GICv2 / GIC-400.
    Gic {
        /// Distributor base.
        distributor: usize,
        /// CPU interface base.
        cpu: usize,
        /// Interrupt id of the non-secure physical generic timer (a PPI, 30).
        timer: u32,
    },
}

/// An interrupt line of a peripheral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqLine {
    /// GPU interrupt number on the BCM2835 controller (e.g. 57 = PL011).
    Gpu(u32),
    /// GIC interrupt id (SPIs start at 32).
    Gic(u32),
}

/// How the secondary cores are started. (Each build is for one board, which constructs
/// only its own variant of this and of [`PowerControl`].)
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondaryStart {
    /// Firmware spin table at 0xe0/0xe8/0xf0 (Pi firmware, QEMU raspi machines).
    SpinTable,
    /// PSCI CPU_ON through HVC (QEMU virt).
    Psci,
}

/// How the machine is reset or powered off.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerControl {
    /// BCM2835 PM watchdog at this base for reset; halt for power-off.
    Watchdog(usize),
    /// PSCI SYSTEM_RESET / SYSTEM_OFF through HVC.
    Psci,
}

/// The SD card host controller of a board.
#[derive(Clone, Copy, Debug)]
pub struct SdHost {
    /// SDHCI register block.
    pub base: usize,
    /// Mailbox clock id of its base clock.
    pub clock: drivers::mailbox::Clock,
    /// Base clock to assume when the mailbox does not answer.
    pub default_clock_hz: u32,
    /// GPIO pins (first, count) to switch to ALT3 so the card is wired to this controller
    /// (BCM2837: the firmware may have given GPIO 48-53 to the other SD host), if any.
    pub pins: Option<(u32, u32)>,
}

/// A window of virtio-mmio transports (QEMU virt).
#[derive(Clone, Copy, Debug)]
pub struct VirtioMmio {
    /// First slot's base.
    pub base: usize,
    /// Number of slots.
    pub slots: usize,
    /// Bytes between slots.
    pub stride: usize,
    /// GIC interrupt id of slot 0 (slot n interrupts at `first_irq + n`).
    pub first_irq: u32,
}

/// PWM0 and the clock manager that feeds it.
#[derive(Clone, Copy, Debug)]
pub struct PwmBlock {
    /// PWM0 base.
    pub base: usize,
    /// Clock-manager base (CM_PWMCTL/CM_PWMDIV inside it).
    pub clock_manager: usize,
    /// Crystal oscillator feeding the clock manager, in Hz.
    pub oscillator_hz: u32,
}

/// A hardware random number generator block.
#[derive(Clone, Copy, Debug)]
pub enum RngBlock {
    /// The BCM2835 RNG (Pi 3, Zero 2 W, QEMU raspi3b).
    Bcm2835(usize),
    /// The BCM2711's RNG200 (Pi 4).
    Rng200(usize),
}

/// Everything the kernel needs to know about a board.
#[derive(Clone, Copy, Debug)]
pub struct BoardInfo {
    /// Short name (`raspi3b`, `pi4`, ...), as given to `cargo xtask --board`.
    pub name: &'static str,
    /// Human description.
    pub description: &'static str,
    /// Whether this is an emulated QEMU machine (semihosting exit available).
    pub qemu: bool,
    /// Number of cores.
    pub cores: usize,
    /// Default RAM (start, end) when no DTB or mailbox answer refines it.
    pub ram: (usize, usize),
    /// Device windows to map as device memory.
    pub devices: &'static [(usize, usize)],
    /// Console PL011 base and its reference clock in Hz.
    pub uart: (usize, u32),
    /// Console UART interrupt.
    pub uart_irq: IrqLine,
    /// Mini UART (AUX) base, if any (the board tables record it; no driver uses it yet:
    /// the console is the PL011).
    #[allow(dead_code)]
    pub mini_uart: Option<usize>,
    /// GPIO base and pull-register layout, if any.
    pub gpio: Option<(usize, PullLayout)>,
    /// Mailbox base and the GPU bus alias of ARM RAM, if any.
    pub mailbox: Option<(usize, u32)>,
    /// Hardware RNG, if any.
    pub rng: Option<RngBlock>,
    /// BCM system timer base, if any (firmware time at entry).
    pub system_timer: Option<usize>,
    /// Interrupt controller.
    pub interrupts: InterruptController,
    /// How secondary cores start.
    pub secondary_start: SecondaryStart,
    /// Reset and power-off.
    pub power: PowerControl,
    /// Raise the ARM clock to its maximum through the mailbox at boot (real boards).
    pub raise_arm_clock: bool,
    /// Route GPIO 14/15 to the PL011 (ALT0) at boot (real boards, where the firmware may
    /// have given them to the mini UART).
    pub mux_console_pins: bool,
    /// SD card host controller, if any.
    pub sd: Option<SdHost>,
    /// virtio-mmio transports, if any.
    pub virtio_mmio: Option<VirtioMmio>,
    /// DWC2 USB host controller base, if driven (its DMA uses the bus alias in `mailbox`).
    pub usb: Option<usize>,
    /// DWC2 controller run as a USB device (the gadget: console and network over one
    /// cable), if the board's port for it is wired as one; never the same block as `usb`.
    pub usb_device: Option<usize>,
    /// GENET v5 Ethernet controller (the Pi 4's, with its PHY on the controller's MDIO bus).
    pub genet: Option<usize>,
    /// BSC (I2C) controller bases by bus number: 0 = BSC0 (GPIO 0/1, header pins 27/28,
    /// meant for HAT ID EEPROMs), 1 = BSC1 (GPIO 2/3, header pins 3/5).
    pub i2c: [Option<usize>; 2],
    /// SPI0 base, if any.
    pub spi: Option<usize>,
    /// PWM0 and its clock, if driven.
    pub pwm: Option<PwmBlock>,
    /// VPU core clock (feeds I2C and SPI dividers) when the mailbox cannot report it.
    pub core_clock_hz: u32,
    /// The 40-pin expansion header, if the board has one.
    pub header: Option<&'static [header::HeaderPin; 40]>,
    /// GPIOs the board itself uses (console, SD card, wireless): tools never reconfigure
    /// them.
    pub reserved_pins: &'static [(u8, &'static str)],
}
