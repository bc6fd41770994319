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

const CPU_ON: u64 = 0xC400_0003;

/// Starts core `mpidr` at physical address `entry` (at EL1, MMU off, x0 = `context`).
/// Returns PSCI's status (0 = success, negative = error, e.g. -4 ALREADY_ON).
pub fn cpu_on(mpidr: u64, entry: usize, context: u64) -> i64 {
    let status: i64;
    // SAFETY: PSCI CPU_ON (SMC32/64 calling convention through HVC on QEMU virt) only reads
    // its three arguments and returns a status in x0; the started core runs `entry`, which
    // the kernel provides and which sets up its own stack.
    unsafe {
        core::arch::asm!(
            "hvc #0",
            inout("x0") CPU_ON => status,
            inout("x1") mpidr => _,
            inout("x2") entry => _,
            inout("x3") context => _,
            options(nostack),
        )
    };
    status
}
