// Kingly OS entry point. See lib.rs for the sequence.

.equ SPSR_EL1H_MASKED, 0x3c5          // EL1h, D, A, I, F masked
.equ SPSR_EL2H_MASKED, 0x3c9          // EL2h, all masked
.equ HCR_EL2_RW,       (1 << 31)      // EL1 is AArch64
.equ SCR_EL3_VALUE,    0x5b1          // RW, HCE, SMD, RES1 bits 4-5, NS
.equ CNTHCTL_EL1_ACCESS, 0x3          // EL1PCTEN | EL1PCEN
.equ SCTLR_EL1_RESET,  0x30d00800     // RES1 bits, MMU and caches off, little endian
.equ CPACR_FPEN,       (3 << 20)      // no FP/SIMD traps at EL1/EL0

.section .text.boot, "ax"
.global _start
_start:
    mrs     x19, cntpct_el0           // boot timeline zero
    mov     x20, x0                   // DTB pointer (or ATAG pointer / 0)
    mrs     x1, mpidr_el1
    and     x1, x1, #0xff
    cbnz    x1, __secondary_park      // only the boot core continues

    // Secondary cores stay where the firmware holds them (the spin table's `wfe` loop on
    // the Pi and QEMU raspi machines, powered off under PSCI on virt) until the kernel
    // starts them at `__secondary_entry` (kernel/src/smp.rs), a few milliseconds later.
    bl      __drop_to_el1

    // Zero .bss (16-byte aligned by the linker script).
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
2:  cmp     x1, x2
    b.hs    3f
    stp     xzr, xzr, [x1], #16
    b       2b
3:
    // Core 0 stacks: SP_EL1 = exception stack top, SP_EL0 = kernel stack top.
    ldr     x1, =__stacks_start
    ldr     x2, =__core_slot_size
    add     x3, x1, x2
    mov     sp, x3
    ldr     x2, =__page_size
    ldr     x3, =__stack_size
    add     x1, x1, x2
    add     x1, x1, x3
    msr     sp_el0, x1
    msr     spsel, #0

    ldr     x1, =__exception_vectors
    msr     vbar_el1, x1
    isb

    mov     x0, x20
    mov     x1, x19
    bl      kernel_main
4:  wfi
    b       4b

// Secondary cores enter here once the kernel starts them (spin table: at EL2 or EL3 with
// the MMU off; PSCI CPU_ON: at EL1). Same sequence as the boot core, on the core's own
// stacks, then `secondary_main(core)`.
.global __secondary_entry
__secondary_entry:
    mrs     x19, mpidr_el1
    and     x19, x19, #0xff
    bl      __drop_to_el1
    // Slot of core n: __stacks_start + n * __core_slot_size = [guard][stack][guard][exc].
    ldr     x1, =__stacks_start
    ldr     x2, =__core_slot_size
    madd    x1, x19, x2, x1
    add     x3, x1, x2
    mov     sp, x3
    ldr     x2, =__page_size
    ldr     x3, =__stack_size
    add     x1, x1, x2
    add     x1, x1, x3
    msr     sp_el0, x1
    msr     spsel, #0
    ldr     x1, =__exception_vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    bl      secondary_main
1:  wfi
    b       1b

// Drops from EL3 or EL2 to EL1h with interrupts masked; returns at EL1 (x30 preserved).
// Clobbers x1, x2.
__drop_to_el1:
    mrs     x1, CurrentEL
    lsr     x1, x1, #2
    cmp     x1, #3
    b.ne    1f
    ldr     x2, =SCR_EL3_VALUE
    msr     scr_el3, x2
    mov     x2, #SPSR_EL2H_MASKED
    msr     spsr_el3, x2
    adr     x2, 1f
    msr     elr_el3, x2
    eret
1:  mrs     x1, CurrentEL
    lsr     x1, x1, #2
    cmp     x1, #2
    b.ne    2f
    mov     x2, #CNTHCTL_EL1_ACCESS
    msr     cnthctl_el2, x2
    msr     cntvoff_el2, xzr
    ldr     x2, =HCR_EL2_RW
    msr     hcr_el2, x2
    ldr     x2, =SCTLR_EL1_RESET
    msr     sctlr_el1, x2
    mov     x2, #SPSR_EL1H_MASKED
    msr     spsr_el2, x2
    adr     x2, 2f
    msr     elr_el2, x2
    eret
2:  mov     x2, #CPACR_FPEN
    msr     cpacr_el1, x2
    isb
    ret

// A secondary core that entered at `_start` (only when every core runs the image, e.g. an
// ELF booted at EL3 — not a supported boot mode) sleeps for good.
__secondary_park:
    wfi
    b       __secondary_park
