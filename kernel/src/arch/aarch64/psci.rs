//! PSCI calls through HVC (QEMU virt). Reference: ARM DEN 0022 (PSCI 1.1).

const SYSTEM_OFF: u64 = 0x8400_0008;
const SYSTEM_RESET: u64 = 0x8400_0009;

fn call(function: u64) {
    // SAFETY: PSCI SYSTEM_OFF/SYSTEM_RESET take no arguments and do not return on success;
    // on failure they return an error code in x0, which we ignore (the caller halts).
    unsafe { core::arch::asm!("hvc #0", inout("x0") function => _, options(nostack)) };
}

/// Powers the machine off.
pub fn system_off() {
    call(SYSTEM_OFF);
}

/// Resets the machine.
pub fn system_reset() {
    call(SYSTEM_RESET);
}
