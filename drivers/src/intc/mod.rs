//! Interrupt controllers.
//!
//! - [`bcm2836_local`]: the per-core "local" controller of the BCM2836/7 (timers, mailboxes,
//!   GPU interrupt routing), at 0x4000_0000 on the Pi 3.
//! - [`bcm2835`]: the ARM-side controller for GPU peripheral interrupts (UART, ...).
//! - [`gicv2`]: the ARM GIC-400 / GICv2 (Pi 4, QEMU virt).

pub mod bcm2835;
pub mod bcm2836_local;
pub mod gicv2;
