//! Interrupt routing and dispatch for the board's controller.

use crate::{
    arch::cpu,
    board::{IrqLine, CURRENT},
    platform::{self, Interrupts},
};

/// Enables the boot core's timer and console interrupts in the controller.
pub fn init() {
    let Some(platform) = platform::get() else { return };
    match &platform.interrupts {
        Interrupts::Bcm2836 { local, gpu } => {
            gpu.disable_all();
            local.route_gpu_to(0);
            local.enable_timer(0);
            if let IrqLine::Gpu(line) = CURRENT.uart_irq {
                gpu.enable(line);
            }
        }
        Interrupts::Gic { gic, timer } => {
            gic.init_distributor();
            gic.init_cpu_interface();
            gic.enable(*timer);
            if let IrqLine::Gic(id) = CURRENT.uart_irq {
                gic.enable(id);
            }
        }
    }
}

/// Handles every pending interrupt of this core (called from the IRQ vector).
pub fn dispatch() {
    let Some(platform) = platform::get() else { return };
    match &platform.interrupts {
        Interrupts::Bcm2836 { local, gpu } => {
            let pending = local.pending(cpu::core_id());
            if pending.timer {
                crate::timer::on_tick();
            }
            if pending.gpu {
                if let IrqLine::Gpu(line) = CURRENT.uart_irq {
                    if gpu.is_pending(line) {
                        crate::console::on_uart_interrupt();
                    }
                }
            }
        }
        Interrupts::Gic { gic, timer } => {
            while let Some(iar) = gic.acknowledge() {
                let id = iar & 0x3ff;
                if id == *timer {
                    crate::timer::on_tick();
                } else if CURRENT.uart_irq == IrqLine::Gic(id) {
                    crate::console::on_uart_interrupt();
                }
                gic.end_of_interrupt(iar);
            }
        }
    }
}
