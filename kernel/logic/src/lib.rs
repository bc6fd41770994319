//! Kernel logic with no hardware in it, so it compiles and is tested on the host.
//!
//! - [`memory_map`]: the machine's memory map (RAM and device windows, reserved ranges, the
//!   heap's range) and the kernel image layout (page permissions, stack guard pages).
//! - [`line_editor`]: the serial console's line editor (history, cursor keys, completion,
//!   the switch to raw JSON-RPC lines) as a byte-at-a-time state machine.
//! - [`crash_record`]: the format of the panic/fault report kept across a reset.
//! - [`intent_gate`]: the stricter bar for plain-language proposals that change the machine.
//! - [`gpio_args`]: the GPIO tools' typed arguments, checked against their schemas.
//! - [`phrasing`]: which installed tool a request means, by its manifest's example phrasings.
//!
//! The kernel crate wires these to the hardware; nothing here touches a register.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod crash_record;
pub mod gpio_args;
pub mod intent_gate;
pub mod line_editor;
pub mod memory_map;
pub mod phrasing;
