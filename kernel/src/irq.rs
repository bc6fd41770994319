//! Interrupt routing and dispatch for the board's controller.
//!
//! Services register what they handle instead of this module naming them: device lines
//! (the console UART, a NIC) with [`register`], each core's timer tick and wake-up
//! interrupt with [`set_local_handlers`].

use crate::{
    arch::cpu,
    board::IrqLine,
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

/// The per-core interrupts' handlers: the timer tick and the inter-processor wake-up.
#[derive(Clone, Copy)]
pub struct LocalHandlers {
    /// The core's timer fired.
    pub tick: fn(),
    /// Another core asked this one to wake up.
    pub wake: fn(),
}

static LOCAL: spin::Once<LocalHandlers> = spin::Once::new();

/// Registers the per-core handlers (once, before interrupts are enabled).
pub fn set_local_handlers(handlers: LocalHandlers) {
    LOCAL.call_once(|| handlers);
}

fn tick() {
    if let Some(local) = LOCAL.get() {
        (local.tick)();
    }
}

fn wake() {
    if let Some(local) = LOCAL.get() {
        (local.wake)();
    }
}

/// The registered handlers of device lines, copied out so none runs under the lock.
fn handlers() -> [Option<Handler>; MAX_HANDLERS] {
    *HANDLERS.lock()
}

/// Calls the registered handler of `line`, if any.
fn run_handler(line: IrqLine) {
    if let Some((_, handler)) = handlers().iter().flatten().find(|(l, _)| *l == line) {
        handler();
    }
}

/// Sets up the controller on the boot core (shared routing: device interrupts go to core
/// 0), then this core's own lines ([`init_core`]). Devices are enabled as they register.
pub fn init() {
    let Some(platform) = platform::get() else { return };
    match &platform.interrupts {
        Interrupts::Bcm2836 { local, gpu } => {
            gpu.disable_all();
            local.route_gpu_to(0);
        }
        Interrupts::Gic { gic, .. } => gic.init_distributor(),
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
                tick();
            }
            if pending.mailboxes & 1 != 0 {
                local.take_mailbox(core, 0);
                wake();
            }
            if pending.gpu {
                for (line, handler) in handlers().iter().flatten() {
                    if matches!(line, IrqLine::Gpu(number) if gpu.is_pending(*number)) {
                        handler();
                    }
                }
            }
        }
        Interrupts::Gic { gic, timer } => {
            while let Some(iar) = gic.acknowledge() {
                let id = iar & 0x3ff;
                if id == *timer {
                    tick();
                } else if id < 16 {
                    wake();
                } else {
                    run_handler(IrqLine::Gic(id));
                }
                gic.end_of_interrupt(iar);
            }
        }
    }
}
