//! ARM semihosting, used only on QEMU boards to end the emulator with an exit code.
//!
//! Reference: ARM "Semihosting for AArch32 and AArch64", SYS_EXIT_EXTENDED (0x20) with
//! reason ADP_Stopped_ApplicationExit. Requires QEMU's `-semihosting`; on real hardware the
//! `hlt` instruction would trap, so callers check the board first.

const SYS_EXIT_EXTENDED: u64 = 0x20;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

/// Ends QEMU with `code` as its process exit status.
pub fn exit(code: u32) -> ! {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, code as u64];
    // SAFETY: the semihosting call reads the two-word parameter block, which lives on this
    // stack frame for the duration of the call; under QEMU with -semihosting it does not
    // return. If it does (no semihosting), we halt below.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            in("x0") SYS_EXIT_EXTENDED,
            in("x1") block.as_ptr(),
            options(nostack)
        );
    }
    super::cpu::halt()
}
