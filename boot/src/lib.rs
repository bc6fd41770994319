//! AArch64 entry assembly and exception vectors.
//!
//! `entry.s` is the first code that runs. On the boot core it
//! 1. records the counter value at entry (the boot timeline's zero) and the DTB pointer from x0,
//! 2. leaves the secondary cores where the firmware holds them (the kernel starts them at
//!    `__secondary_entry` within milliseconds: spin table or PSCI CPU_ON, see kernel/src/smp.rs),
//! 3. drops from EL3/EL2 to EL1 (64-bit EL1, timer access for EL1, FP/SIMD enabled),
//! 4. zeroes `.bss`, sets SP_EL0 to the core's kernel stack and SP_EL1 to its exception
//!    stack (so a kernel-stack overflow into the guard page is reported from a clean stack),
//! 5. installs the vector table and calls `kernel_main(dtb, entry_counter)`.
//!
//! `vectors.s` saves the full register state (general, ELR, SPSR, FP/SIMD) into an
//! `ExceptionFrame` on SP_EL1 and calls `kernel_exception(frame, kind)`; the layout is
//! mirrored by `kernel::arch::aarch64::exception::ExceptionFrame`.
//!
//! `__secondary_entry` repeats steps 3-5 for a started secondary core on its own stacks and
//! calls `secondary_main(core)`.
#![no_std]

core::arch::global_asm!(include_str!("entry.s"));
core::arch::global_asm!(include_str!("vectors.s"));

/// Size in bytes of the frame `vectors.s` pushes (general registers, ELR, SPSR, SP, FP/SIMD).
pub const EXCEPTION_FRAME_SIZE: usize = 832;
