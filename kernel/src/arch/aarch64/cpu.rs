//! CPU primitives: generic counter, interrupt masking, sleeping, core identity.

use aarch64_cpu::{
    asm,
    registers::{
        CurrentEL, ReadWriteable, Readable, Writeable, CNTFRQ_EL0, CNTPCT_EL0, CNTP_CTL_EL0, CNTP_TVAL_EL0, DAIF,
        MPIDR_EL1,
    },
};

/// Generic counter value (ticks since machine start).
#[inline]
pub fn counter() -> u64 {
    asm::barrier::isb(asm::barrier::SY);
    CNTPCT_EL0.get()
}

/// Generic counter frequency in Hz, as programmed by the firmware (read at run time: QEMU
/// reports 62.5 MHz, a Pi 3 19.2 MHz, a Pi 4 54 MHz).
#[inline]
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// Converts counter ticks to microseconds.
pub fn ticks_to_micros(ticks: u64) -> u64 {
    (ticks as u128 * 1_000_000 / counter_frequency() as u128) as u64
}

/// Microseconds since the machine started counting.
pub fn micros() -> u64 {
    ticks_to_micros(counter())
}

/// Busy-waits for `micros` microseconds.
pub fn spin_for_micros(micros: u64) {
    let end = counter() + micros * counter_frequency() / 1_000_000;
    while counter() < end {
        core::hint::spin_loop();
    }
}

/// The calling core's number (MPIDR Aff0).
#[inline]
pub fn core_id() -> usize {
    (MPIDR_EL1.get() & 0xff) as usize
}

/// The current exception level (1 once the kernel runs).
pub fn exception_level() -> u8 {
    CurrentEL.read(CurrentEL::EL) as u8
}

/// Unmasks IRQs on this core.
#[inline]
pub fn enable_interrupts() {
    DAIF.write(DAIF::D::Masked + DAIF::A::Unmasked + DAIF::I::Unmasked + DAIF::F::Masked);
}

/// Sleeps until an interrupt arrives unless `ready()` already holds, without losing a
/// wake-up: the check runs with IRQs masked, `wfi` still wakes on the pending interrupt,
/// and unmasking afterwards lets the handler run.
pub fn sleep_unless(ready: impl Fn() -> bool) {
    let saved = DAIF.get();
    DAIF.modify(DAIF::I::Masked);
    if !ready() {
        asm::wfi();
    }
    DAIF.set(saved);
}

/// Arms this core's non-secure physical timer to fire after `ticks` counter ticks.
pub fn arm_timer(ticks: u64) {
    CNTP_TVAL_EL0.set(ticks.min(u32::MAX as u64));
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
}

/// Stops the core for good (interrupts masked, `wfi` forever).
pub fn halt() -> ! {
    DAIF.write(DAIF::D::Masked + DAIF::A::Masked + DAIF::I::Masked + DAIF::F::Masked);
    loop {
        asm::wfi();
    }
}

/// Current frame pointer (x29), for backtraces.
#[inline(always)]
pub fn frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads a register; no memory or flags are touched.
    unsafe { core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags)) };
    fp
}

/// Masks IRQs and returns the previous DAIF value for [`restore_interrupts`].
#[inline]
pub fn mask_interrupts() -> u64 {
    let saved = DAIF.get();
    DAIF.modify(DAIF::I::Masked);
    saved
}

/// Restores a DAIF value saved by [`mask_interrupts`].
#[inline]
pub fn restore_interrupts(saved: u64) {
    DAIF.set(saved);
}
