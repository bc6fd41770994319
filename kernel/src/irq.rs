//! Interrupt routing and dispatch for the board's controller.

use crate::{
    arch::cpu,
    board::{IrqLine, CURRENT},
    platform::{self, Interrupts},
};

/// The SGI used to wake another core (GIC boards).
const WAKE_SGI: u32 = 1;

/// Most device interrupt handlers besides the console's.
const MAX_HANDLERS: usize = 8;

/// An interrupt line and the function that handles it.
type Handler = (IrqLine, fn());

/// Device interrupt handlers registered after boot (e.g. the network device).
static HANDLERS: crate::sync::IrqMutex<[Option<Handler>; MAX_HANDLERS]> =
    crate::sync::IrqMutex::new([None; MAX_HANDLERS]);

/// Routes `line` to core 0 and calls `handler` (in interrupt context) when it fires.
pub fn register(line: IrqLine, handler: fn()) {
    {
        let mut handlers = HANDLERS.lock();
        let Some(free) = handlers.iter_mut().find(|h| h.is_none()) else {
            log::error!("no room for the handler of interrupt {line:?}");
            return;
        };
        *free = Some((line, handler));
    }
    let Some(platform) = platform::get() else { return };
    match (&platform.interrupts, line) {
        (Interrupts::Bcm2836 { gpu, .. }, IrqLine::Gpu(number)) => gpu.enable(number),
        (Interrupts::Gic { gic, .. }, IrqLine::Gic(id)) => gic.enable(id),
        _ => log::error!("interrupt {line:?} does not belong to this board's controller"),
    }
}

/// Calls the registered handler of `line`, if any; returns whether there was one.
fn run_handler(line: IrqLine) -> bool {
    let handler = HANDLERS.lock().iter().flatten().find(|(l, _)| *l == line).map(|(_, h)| *h);
    match handler {
        Some(handler) => {
            handler();
            true
        }
        None => false,
    }
}

/// Sets up the controller on the boot core: shared routing (console UART to core 0), then
/// this core's own lines ([`init_core`]).
pub fn init() {
    let Some(platform) = platform::get() else { return };
    match &platform.interrupts {
        Interrupts::Bcm2836 { local, gpu } => {
            gpu.disable_all();
            local.route_gpu_to(0);
            if let IrqLine::Gpu(line) = CURRENT.uart_irq {
                gpu.enable(line);
            }
        }
        Interrupts::Gic { gic, .. } => {
            gic.init_distributor();
            if let IrqLine::Gic(id) = CURRENT.uart_irq {
                gic.enable(id);
            }
        }
    }
    init_core(cpu::core_id());
}

/// Enables the calling core's timer and wake-up interrupts (each core, for itself: GIC
/// CPU interfaces and private interrupts are banked per core).
pub fn init_core(core: usize) {
    let Some(platform) = platform::get() else { return };
    match &platform.interrupts {
        Interrupts::Bcm2836 { local, .. } => {
            local.enable_timer(core);
            local.enable_mailboxes(core);
        }
        Interrupts::Gic { gic, timer } => {
            gic.init_cpu_interface();
            gic.enable(*timer);
            gic.enable(WAKE_SGI);
        }
    }
}

/// Interrupts `core` so it leaves `wfi` and re-checks its work.
pub fn send_ipi(core: usize) {
    let Some(platform) = platform::get() else { return };
    match &platform.interrupts {
        Interrupts::Bcm2836 { local, .. } => local.signal(core, 0, 1),
        Interrupts::Gic { gic, .. } => gic.send_sgi(WAKE_SGI, 1 << core),
    }
}

/// Handles every pending interrupt of this core (called from the IRQ vector).
pub fn dispatch() {
    let Some(platform) = platform::get() else { return };
    match &platform.interrupts {
        Interrupts::Bcm2836 { local, gpu } => {
            let core = cpu::core_id();
            let pending = local.pending(core);
            if pending.timer {
                crate::timer::on_tick();
            }
            if pending.mailboxes & 1 != 0 {
                local.take_mailbox(core, 0);
                crate::smp::on_ipi();
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
                } else if id < 16 {
                    crate::smp::on_ipi();
                } else if CURRENT.uart_irq == IrqLine::Gic(id) {
                    crate::console::on_uart_interrupt();
                } else {
                    run_handler(IrqLine::Gic(id));
                }
                gic.end_of_interrupt(iar);
            }
        }
    }
}
