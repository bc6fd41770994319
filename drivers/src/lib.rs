//! MMIO device drivers for the Raspberry Pi SoCs and QEMU's `virt` board.
//!
//! # Code organization
//! - [`mmio`]: the one place a register-block pointer is dereferenced ([`mmio::Mmio`]).
//! - One module per device: [`pl011`], [`mini_uart`], [`gpio`], [`mailbox`], [`rng`],
//!   [`watchdog`], [`system_timer`], and the interrupt controllers under [`intc`].
//! - Buses for makers: [`i2c`] (BSC), [`spi`] (SPI0), [`pwm`] (PWM0 and its clock), each
//!   implementing the embedded-hal 1.0 traits (as [`gpio`] pins do) so ecosystem device
//!   drivers run on them unchanged. Their waits end at a [`deadline::Deadline`] computed
//!   from a microsecond clock the kernel passes in: a dead bus is an error, never a hang.
//!
//! - Seams the kernel's subsystems use: [`block`] (storage: the SD host in [`sdhci`]) and
//!   [`net`] (network interface controllers).
//!
//! Drivers know nothing about boards, MCP or the kernel: the board module in `kernel/`
//! supplies base addresses and clocks. Every register block is declared once with
//! `tock-registers` (`register_structs!` / `register_bitfields!`), so driver logic writes named
//! fields, never masks or offsets. Datasheets: "BCM2835 ARM Peripherals" (also valid for the
//! BCM2837 with base 0x3F00_0000), "BCM2711 ARM Peripherals", "Quad-A7 control"
//! (BCM2836 local interrupt controller), ARM PL011 TRM (DDI 0183), ARM GICv2 spec (IHI 0048B).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks, missing_docs)]

// The USB gadget's functions queue frames and console bytes in heap buffers; everything else
// works in fixed memory.
extern crate alloc;

pub mod block;
pub mod deadline;
pub mod gpio;
pub mod i2c;
pub mod intc;
pub mod mailbox;
pub mod mini_uart;
pub mod mmio;
pub mod net;
pub mod pl011;
pub mod pwm;
pub mod rng;
pub mod rng200;
pub mod sdhci;
pub mod spi;
pub mod system_timer;
pub mod usb;
pub mod watchdog;

/// Spin-wait budget used by drivers that poll a status bit: large enough for real hardware at
/// low clock, small enough that a dead device turns into an error instead of a hang.
pub const POLL_LIMIT: u32 = 10_000_000;
