//! ARM Generic Interrupt Controller v2 (GIC-400 on the BCM2711, GICv2 on QEMU virt).
//!
//! Reference: ARM IHI 0048B. Interrupt ids: 0..15 SGIs (inter-processor), 16..31 PPIs
//! (per-core, e.g. the generic timer on 30), 32.. SPIs (shared peripherals). The kernel runs
//! in the non-secure world, so everything is group 1 from its point of view.

use crate::mmio::Mmio;
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_structs,
    registers::{ReadOnly, ReadWrite, WriteOnly},
};

register_structs! {
    /// Distributor.
    pub DistributorRegisters {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => _reserved0),
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        (0x180 => icenabler: [ReadWrite<u32>; 32]),
        (0x200 => _reserved1),
        (0x400 => ipriorityr: [ReadWrite<u32>; 255]),
        (0x7fc => _reserved2),
        (0x800 => itargetsr: [ReadWrite<u32>; 255]),
        (0xbfc => _reserved3),
        (0xf00 => sgir: WriteOnly<u32>),
        (0xf04 => @END),
    }
}

register_structs! {
    /// CPU interface.
    pub CpuRegisters {
        (0x00 => ctlr: ReadWrite<u32>),
        (0x04 => pmr: ReadWrite<u32>),
        (0x08 => bpr: ReadWrite<u32>),
        (0x0c => iar: ReadOnly<u32>),
        (0x10 => eoir: WriteOnly<u32>),
        (0x14 => @END),
    }
}

/// Interrupt id the CPU interface returns when nothing is pending.
pub const SPURIOUS: u32 = 1023;

/// A GICv2.
pub struct Gic {
    distributor: Mmio<DistributorRegisters>,
    cpu: Mmio<CpuRegisters>,
}

impl Gic {
    /// Creates the driver.
    ///
    /// # Safety
    /// Both addresses must be the mapped distributor and CPU interface of one GICv2, owned
    /// by this driver.
    pub const unsafe fn new(distributor: usize, cpu: usize) -> Self {
        // SAFETY: forwarded from the caller's contract.
        unsafe { Self { distributor: Mmio::new(distributor), cpu: Mmio::new(cpu) } }
    }

    /// Number of interrupt lines the distributor implements.
    pub fn lines(&self) -> u32 {
        ((self.distributor.typer.get() & 0x1f) + 1) * 32
    }

    /// Enables the distributor (boot core only).
    pub fn init_distributor(&self) {
        let lines = self.lines().min(1020);
        self.distributor.ctlr.set(0);
        for bank in 1..(lines / 32) as usize {
            if let Some(register) = self.distributor.icenabler.get(bank) {
                register.set(u32::MAX);
            }
        }
        self.distributor.ctlr.set(1);
    }

    /// Enables this core's CPU interface with all priorities unmasked (each core).
    pub fn init_cpu_interface(&self) {
        self.cpu.pmr.set(0xff);
        self.cpu.bpr.set(0);
        self.cpu.ctlr.set(1);
    }

    /// Enables interrupt `id` with middle priority, targeted at CPU 0 if it is an SPI.
    pub fn enable(&self, id: u32) {
        let index = (id / 4) as usize;
        let shift = (id % 4) * 8;
        if let Some(priority) = self.distributor.ipriorityr.get(index) {
            priority.set((priority.get() & !(0xff << shift)) | (0xa0 << shift));
        }
        if id >= 32 {
            if let Some(target) = self.distributor.itargetsr.get(index) {
                target.set((target.get() & !(0xff << shift)) | (0x01 << shift));
            }
        }
        if let Some(register) = self.distributor.isenabler.get((id / 32) as usize) {
            register.set(1 << (id % 32));
        }
    }

    /// Acknowledges the highest-priority pending interrupt; `None` if spurious.
    pub fn acknowledge(&self) -> Option<u32> {
        let iar = self.cpu.iar.get();
        let id = iar & 0x3ff;
        if id >= SPURIOUS {
            None
        } else {
            Some(iar)
        }
    }

    /// Signals end of interrupt for a value returned by [`Gic::acknowledge`].
    pub fn end_of_interrupt(&self, iar: u32) {
        self.cpu.eoir.set(iar);
    }

    /// Sends software-generated interrupt `sgi` (0..15) to the cores in `target_mask`.
    pub fn send_sgi(&self, sgi: u32, target_mask: u8) {
        self.distributor.sgir.set(((target_mask as u32) << 16) | (sgi & 0xf));
    }
}
