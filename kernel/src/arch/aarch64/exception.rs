//! What `boot/src/vectors.s` hands over on an exception: the saved registers, the kind of
//! exception, and the syndrome decoded for the fault report. (The entry function itself,
//! `kernel_exception`, is in `main.rs`: it dispatches to kernel services above this layer.)
//!
//! Reference: ARM ARM D1.10 (exception entry) and D17.2.40 (ESR_EL1 encodings).

use core::fmt;

/// Register state saved by `vectors.s`. The layout must match the assembly.
#[repr(C)]
pub struct ExceptionFrame {
    /// x0..x30.
    pub x: [u64; 31],
    /// Stack pointer of the interrupted code.
    pub sp: u64,
    /// Return address (ELR_EL1).
    pub elr: u64,
    /// Saved program status (SPSR_EL1).
    pub spsr: u64,
    /// Exception syndrome (ESR_EL1).
    pub esr: u64,
    /// Fault address (FAR_EL1).
    pub far: u64,
    /// q0..q31.
    pub q: [u128; 32],
    /// FPCR and FPSR.
    pub fp_control: [u64; 2],
    _pad: [u64; 2],
}

const _: () = assert!(core::mem::size_of::<ExceptionFrame>() == boot::EXCEPTION_FRAME_SIZE);

/// Where an exception came from and what kind it is (the vector slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// 0 current EL with SP_EL0, 1 current EL with SP_ELx, 2 lower EL AArch64, 3 AArch32.
    pub origin: u8,
    /// 0 synchronous, 1 IRQ, 2 FIQ, 3 SError.
    pub class: u8,
}

impl Kind {
    /// From the vector's code: bits 0-1 the class, bits 2-3 the origin (see `vectors.s`).
    pub fn from_vector(code: u64) -> Kind {
        Kind { origin: ((code >> 2) & 3) as u8, class: (code & 3) as u8 }
    }

    /// An interrupt request (the only exception the kernel returns from).
    pub fn is_irq(&self) -> bool {
        self.class == 1
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = ["synchronous exception", "IRQ", "FIQ", "SError"][self.class as usize & 3];
        let origin =
            ["EL1 (kernel stack)", "EL1 (exception stack)", "EL0 AArch64", "EL0 AArch32"][self.origin as usize & 3];
        write!(f, "{class} from {origin}")
    }
}

/// Human-readable decoding of an ESR value.
pub struct Syndrome(pub u64);

impl Syndrome {
    /// Exception class.
    pub fn class(&self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }

    fn fault_status(&self) -> &'static str {
        match self.0 & 0x3f {
            0b000000 => "address size fault level 0",
            0b000001 => "address size fault level 1",
            0b000010 => "address size fault level 2",
            0b000011 => "address size fault level 3",
            0b000100 => "translation fault level 0",
            0b000101 => "translation fault level 1",
            0b000110 => "translation fault level 2",
            0b000111 => "translation fault level 3",
            0b001001 => "access flag fault level 1",
            0b001010 => "access flag fault level 2",
            0b001011 => "access flag fault level 3",
            0b001101 => "permission fault level 1",
            0b001110 => "permission fault level 2",
            0b001111 => "permission fault level 3",
            0b010000 => "synchronous external abort",
            0b100001 => "alignment fault",
            0b110000 => "TLB conflict abort",
            _ => "other fault",
        }
    }
}

impl fmt::Display for Syndrome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ec = self.class();
        match ec {
            0x00 => write!(f, "unknown reason (undefined instruction?)"),
            0x01 => write!(f, "trapped WFI/WFE"),
            0x07 => write!(f, "FP/SIMD access trapped"),
            0x0e => write!(f, "illegal execution state"),
            0x15 => write!(f, "SVC instruction"),
            0x18 => write!(f, "trapped system register access"),
            0x20 | 0x21 => write!(f, "instruction abort, {}", self.fault_status()),
            0x22 => write!(f, "PC alignment fault"),
            0x24 | 0x25 => {
                let access = if self.0 & (1 << 6) != 0 { "write" } else { "read" };
                write!(f, "data abort, {} ({access})", self.fault_status())
            }
            0x26 => write!(f, "SP alignment fault"),
            0x2c => write!(f, "floating-point exception"),
            0x2f => write!(f, "SError interrupt"),
            0x30 | 0x31 => write!(f, "breakpoint"),
            0x32 | 0x33 => write!(f, "software step"),
            0x34 | 0x35 => write!(f, "watchpoint"),
            0x3c => write!(f, "BRK instruction"),
            _ => write!(f, "exception class {ec:#04x}"),
        }
    }
}
