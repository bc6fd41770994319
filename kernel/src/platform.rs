//! The board's devices, created once from [`crate::board::CURRENT`] after the MMU maps them.

use crate::board::{BoardInfo, InterruptController, RngBlock, CURRENT};
use drivers::{
    gpio::{Function, Gpio, Pull},
    i2c::Bsc,
    intc::{bcm2835::Bcm2835Intc, bcm2836_local::LocalIntc, gicv2::Gic},
    mailbox::Mailbox,
    pl011::Pl011,
    pwm::Pwm,
    rng::Rng,
    rng200::{self, Rng200},
    spi::Spi,
    system_timer::SystemTimer,
    watchdog::Watchdog,
};
use spin::{Mutex, Once};

/// Interrupt controller drivers.
pub enum Interrupts {
    /// BCM2836 local controller + BCM2835 GPU interrupt controller.
    Bcm2836 {
        /// Per-core local controller.
        local: LocalIntc,
        /// GPU peripheral interrupts.
        gpu: Bcm2835Intc,
    },
    /// GICv2.
    Gic {
        /// The controller.
        gic: Gic,
        /// Timer interrupt id.
        timer: u32,
    },
}

/// All device drivers of the board.
pub struct Platform {
    /// Console PL011.
    pub uart: Pl011,
    /// Interrupt controller(s).
    pub interrupts: Interrupts,
    /// VideoCore mailbox.
    pub mailbox: Option<Mailbox>,
    /// Hardware RNG.
    pub rng: Option<HwRng>,
    /// Watchdog (reset).
    pub watchdog: Option<Watchdog>,
    /// GPIO.
    pub gpio: Option<Gpio>,
    /// I2C (BSC) controllers by bus number. Locked per transaction; a tool configures the
    /// bus clock and claims its pins on first use (`tools::i2c`).
    pub i2c: [Option<Mutex<Bsc>>; 2],
    /// SPI0.
    pub spi: Option<Mutex<Spi>>,
    /// PWM0 and its clock.
    pub pwm: Option<Mutex<Pwm>>,
}

/// The board's hardware random number generator.
pub enum HwRng {
    /// The BCM2835 RNG, started at boot.
    Bcm2835(Rng),
    /// The RNG200, started on first use (its warm-up takes a while).
    Rng200 {
        /// The driver.
        rng: Rng200,
        /// The outcome of its start.
        ready: Once<Result<(), rng200::Error>>,
    },
}

impl HwRng {
    /// Its name, for `rng_read` and the token message.
    pub fn name(&self) -> &'static str {
        match self {
            HwRng::Bcm2835(_) => "bcm2835-rng",
            HwRng::Rng200 { .. } => "rng200",
        }
    }

    /// The next random word, or why there is none.
    pub fn next_u32(&self) -> Result<u32, &'static str> {
        match self {
            HwRng::Bcm2835(rng) => rng.next_u32().map_err(|_| "bcm2835-rng"),
            HwRng::Rng200 { rng, ready } => {
                ready.call_once(|| rng.init()).map_err(|_| "rng200")?;
                rng.next_u32().map_err(|_| "rng200")
            }
        }
    }
}

static PLATFORM: Once<Platform> = Once::new();

/// The console UART of the board without any locking or initialisation, for the fault and
/// panic paths (which may run before [`init`] or while a lock is held).
pub fn emergency_uart() -> Pl011 {
    // SAFETY: the board's PL011 address is a device register block; it is mapped (or the MMU
    // is still off, and physical addresses are used directly). Concurrent writes to the data
    // register only interleave characters.
    unsafe { Pl011::new(CURRENT.uart.0) }
}

/// The system timer value (µs since SoC reset) read directly, for use at kernel entry.
pub fn early_system_timer_micros() -> Option<u64> {
    // SAFETY: the board's system-timer block is a device; reading its counters has no side effects.
    CURRENT.system_timer.map(|base| unsafe { SystemTimer::new(base) }.micros())
}

fn create(board: &BoardInfo) -> Platform {
    // SAFETY: every address below comes from the board description, names the device the
    // driver expects, is mapped as device memory by `mmu::init`, and each driver is created
    // exactly once (inside `PLATFORM.call_once`).
    unsafe {
        Platform {
            uart: Pl011::new(board.uart.0),
            interrupts: match board.interrupts {
                InterruptController::Bcm2836 { local, gpu } => {
                    Interrupts::Bcm2836 { local: LocalIntc::new(local), gpu: Bcm2835Intc::new(gpu) }
                }
                InterruptController::Gic { distributor, cpu, timer } => {
                    Interrupts::Gic { gic: Gic::new(distributor, cpu), timer }
                }
            },
            mailbox: board.mailbox.map(|(base, _)| Mailbox::new(base)),
            rng: board.rng.map(|block| match block {
                RngBlock::Bcm2835(base) => HwRng::Bcm2835(Rng::new(base)),
                RngBlock::Rng200(base) => {
                    HwRng::Rng200 { rng: Rng200::new(base, crate::arch::cpu::micros), ready: Once::new() }
                }
            }),
            watchdog: match board.power {
                crate::board::PowerControl::Watchdog(base) => Some(Watchdog::new(base)),
                crate::board::PowerControl::Psci => None,
            },
            gpio: board.gpio.map(|(base, layout)| Gpio::new(base, layout)),
            i2c: board.i2c.map(|bus| bus.map(|base| Mutex::new(Bsc::new(base, crate::arch::cpu::micros)))),
            spi: board.spi.map(|base| Mutex::new(Spi::new(base, crate::arch::cpu::micros))),
            pwm: board.pwm.map(|block| {
                Mutex::new(Pwm::new(block.base, block.clock_manager, block.oscillator_hz, crate::arch::cpu::micros))
            }),
        }
    }
}

/// Creates and initialises the drivers. Call once, after the MMU is on.
pub fn init() -> &'static Platform {
    PLATFORM.call_once(|| {
        let platform = create(&CURRENT);
        if CURRENT.mux_console_pins {
            if let Some(gpio) = &platform.gpio {
                for pin in [14, 15] {
                    let _ = gpio.set_function(pin, Function::Alt0);
                    let _ = gpio.set_pull(pin, Pull::None, || crate::arch::cpu::spin_for_micros(2));
                }
            }
        }
        platform.uart.init(CURRENT.uart.1, 115_200);
        if let Some(HwRng::Bcm2835(rng)) = &platform.rng {
            rng.init();
        }
        platform
    })
}

/// The SD host controller at `base` (from the board's [`crate::board::SdHost`]), created
/// once by the storage module, which owns it from then on.
pub fn sd_host(base: usize, base_clock: u32) -> drivers::sdhci::Sdhci {
    fn now() -> u64 {
        crate::arch::cpu::micros()
    }
    // SAFETY: `base` is the board's SDHCI block, mapped as device memory by `mmu::init`;
    // the storage module calls this once and keeps the only driver instance.
    unsafe { drivers::sdhci::Sdhci::new(base, base_clock, now) }
}

/// The virtio-mmio transport of the first device of `kind`, and its interrupt line. Slots
/// are identified by reading their magic and device id first: a transport, once dropped,
/// resets its device, so none is made for a device that is not wanted.
pub fn virtio_transport(
    kind: virtio_drivers::transport::DeviceType,
) -> Option<(virtio_drivers::transport::mmio::MmioTransport<'static>, crate::board::IrqLine)> {
    use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
    const MAGIC: u32 = 0x7472_6976; // "virt"
    let window = CURRENT.virtio_mmio?;
    for slot in 0..window.slots {
        let base = window.base + slot * window.stride;
        // SAFETY: `base` is a virtio-mmio slot of the board's window, mapped as device memory
        // by `mmu::init`; reading its magic (offset 0) and device id (offset 8) has no effect.
        let (magic, device) = unsafe {
            (core::ptr::read_volatile(base as *const u32), core::ptr::read_volatile((base + 8) as *const u32))
        };
        if magic != MAGIC || device != kind as u32 {
            continue;
        }
        let header = core::ptr::NonNull::new(base as *mut VirtIOHeader)?;
        // SAFETY: as above; this is the only transport made for this slot.
        let transport = unsafe { MmioTransport::new(header, window.stride) }.ok()?;
        return Some((transport, crate::board::IrqLine::Gic(window.first_irq + slot as u32)));
    }
    None
}

/// The DWC2 USB host controller at `base` (the board's `usb`), created once by the USB
/// module, which owns it from then on. `dma` becomes the controller's DMA memory for good.
pub fn usb_host(
    base: usize,
    dma: &'static mut [u8],
    coherence: &'static (dyn drivers::mailbox::DmaCoherence + Sync),
) -> Result<drivers::usb::dwc2::Dwc2, drivers::usb::Error> {
    // SAFETY: `base` is the board's DWC2 block, mapped as device memory by `mmu::init`; the
    // USB module calls this once and keeps the only driver instance. `dma` is heap RAM
    // (identity mapped, below 1 GiB on the BCM2837) that `coherence` translates to the GPU
    // bus alias the controller's DMA uses; the `'static` borrow hands it over exclusively.
    unsafe { drivers::usb::dwc2::Dwc2::new(base, dma, coherence, crate::arch::cpu::micros) }
}

/// The DWC2 controller at `base` (the board's `usb_device`) in device mode, created once by
/// the gadget module, which owns it from then on. `dma` becomes its DMA memory for good.
pub fn usb_device(
    base: usize,
    dma: &'static mut [u8],
    coherence: &'static (dyn drivers::mailbox::DmaCoherence + Sync),
) -> Result<drivers::usb::dwc2::device::Dwc2Device, drivers::usb::Error> {
    // SAFETY: `base` is the board's DWC2 block, mapped as device memory by `mmu::init`; the
    // gadget module calls this once and keeps the only driver instance, and a board lists
    // the block as `usb_device` only when the host driver (`usb`) does not use it. `dma` is
    // heap RAM that `coherence` translates to the bus alias; the `'static` borrow hands it
    // over exclusively.
    unsafe { drivers::usb::dwc2::device::Dwc2Device::new(base, dma, coherence, crate::arch::cpu::micros) }
}

/// The GENET Ethernet controller at `base` (the board's `genet`), created once by the
/// network module, which owns it from then on. `dma` becomes its buffers for good.
pub fn genet(
    base: usize,
    dma: &'static mut [u8],
    coherence: &'static (dyn drivers::mailbox::DmaCoherence + Sync),
) -> Result<drivers::net::genet::Genet, drivers::net::genet::Error> {
    // SAFETY: `base` is the board's GENET block, mapped as device memory by `mmu::init`
    // (the BCM2711's device window); the network module calls this once and keeps the only
    // driver instance. `dma` is heap RAM below 4 GiB that `coherence` gives the controller
    // by its physical address; the `'static` borrow hands it over exclusively.
    unsafe { drivers::net::genet::Genet::new(base, dma, coherence, crate::arch::cpu::micros) }
}

/// The platform; `None` before [`init`].
pub fn get() -> Option<&'static Platform> {
    PLATFORM.get()
}
