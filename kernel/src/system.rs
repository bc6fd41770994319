//! Facts about the machine gathered at boot (mailbox, DTB, memory map), and power control.

use crate::{
    arch::{cache, cpu},
    board::{PowerControl, CURRENT},
    dtb::DtbSummary,
    memory::MemoryMap,
    platform,
};
use drivers::mailbox::{Clock, DmaCoherence, Message, Tag};
use spin::Once;

/// Facts reported by `system_info`.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Board revision code from the firmware.
    pub board_revision: Option<u32>,
    /// Board serial number.
    pub serial: Option<u64>,
    /// Firmware revision (a build timestamp).
    pub firmware_revision: Option<u32>,
    /// ARM memory (base, size) as the firmware reports it.
    pub arm_memory: Option<(u32, u32)>,
    /// ARM clock now and maximum, in Hz.
    pub arm_clock: Option<(u32, u32)>,
    /// VPU core clock (feeds the I2C and SPI dividers), in Hz.
    pub core_clock: Option<u32>,
    /// DTB summary, if one was passed.
    pub dtb: Option<DtbSummary>,
    /// Total RAM in the memory map.
    pub ram_bytes: usize,
    /// The memory map.
    pub memory_map: MemoryMap,
}

static FACTS: Once<Facts> = Once::new();

/// Cache maintenance and GPU bus addresses for memory a VideoCore-side master reads or
/// writes by DMA (the mailbox, the DWC2 USB controller).
pub struct Coherence {
    /// The bus alias of ARM RAM (0xC000_0000 on the BCM2837: L2-coherent, uncached).
    pub bus_alias: u32,
}

impl DmaCoherence for Coherence {
    fn clean(&self, addr: usize, len: usize) {
        cache::clean(addr, len);
    }
    fn invalidate(&self, addr: usize, len: usize) {
        cache::clean_invalidate(addr, len);
    }
    fn bus_address(&self, addr: usize) -> u32 {
        (addr as u32 & 0x3fff_ffff) | self.bus_alias
    }
}

/// Cache maintenance for a bus master that uses ARM physical addresses as they are (the
/// BCM2711's GENET, below 4 GiB).
pub struct PhysicalCoherence;

impl DmaCoherence for PhysicalCoherence {
    fn clean(&self, addr: usize, len: usize) {
        cache::clean(addr, len);
    }
    fn invalidate(&self, addr: usize, len: usize) {
        cache::clean_invalidate(addr, len);
    }
    fn bus_address(&self, addr: usize) -> u32 {
        addr as u32
    }
}

fn query(tag: Tag, input: &[u32], words: usize) -> Option<[u32; 2]> {
    let platform = platform::get()?;
    let mailbox = platform.mailbox.as_ref()?;
    let (_, bus_alias) = CURRENT.mailbox?;
    let mut message = Message::new();
    match mailbox.property(&Coherence { bus_alias }, &mut message, tag, input, words) {
        Ok(values) => Some([values.first().copied().unwrap_or(0), values.get(1).copied().unwrap_or(0)]),
        Err(error) => {
            log::warn!("mailbox {tag:?}: {error}");
            None
        }
    }
}

/// The board's Ethernet MAC address from the firmware, or (when the firmware gives none)
/// the Raspberry Pi convention: B8:27:EB and the low 24 bits of the serial number.
pub fn board_mac() -> Option<[u8; 6]> {
    CURRENT.mailbox?;
    let from_firmware = query(Tag::BoardMac, &[], 2).map(|v| {
        let (a, b) = (v[0].to_le_bytes(), v[1].to_le_bytes());
        [a[0], a[1], a[2], a[3], b[0], b[1]]
    });
    match from_firmware {
        Some(mac) if mac[0] & 1 == 0 && mac != [0; 6] => Some(mac),
        _ => {
            let serial = query(Tag::BoardSerial, &[], 2)?[0];
            let s = serial.to_be_bytes();
            Some([0xb8, 0x27, 0xeb, s[1], s[2], s[3]])
        }
    }
}

/// Asks the firmware to power a device on and wait until it is (property device ids: 3 is
/// the USB host controller). Circle and USPi do this before touching the DWC2 core; the
/// firmware usually leaves it on. `false` when the firmware refused or is absent.
pub fn power_on(device: u32) -> bool {
    CURRENT.mailbox.is_some() && query(Tag::SetPowerState, &[device, 0b11], 2).is_some_and(|v| v[1] & 1 != 0)
}

/// Queries the firmware, raises the ARM clock on real boards, and stores the facts.
pub fn init(map: &MemoryMap, dtb: Option<DtbSummary>) {
    let mut facts = Facts { dtb, ram_bytes: map.ram_bytes(), memory_map: map.clone(), ..Facts::default() };
    if CURRENT.mailbox.is_some() {
        facts.board_revision = query(Tag::BoardRevision, &[], 1).map(|v| v[0]);
        facts.serial = query(Tag::BoardSerial, &[], 2).map(|v| ((v[1] as u64) << 32) | v[0] as u64);
        facts.firmware_revision = query(Tag::FirmwareRevision, &[], 1).map(|v| v[0]);
        facts.arm_memory = query(Tag::ArmMemory, &[], 2).map(|v| (v[0], v[1]));
        let max = query(Tag::MaxClockRate, &[Clock::Arm as u32], 2).map(|v| v[1]);
        if CURRENT.raise_arm_clock {
            if let Some(max) = max {
                let _ = query(Tag::SetClockRate, &[Clock::Arm as u32, max, 0], 3);
            }
        }
        let now = query(Tag::ClockRate, &[Clock::Arm as u32], 2).map(|v| v[1]);
        facts.arm_clock = now.zip(max);
        facts.core_clock = query(Tag::ClockRate, &[Clock::Core as u32], 2).map(|v| v[1]).filter(|&hz| hz != 0);
    }
    FACTS.call_once(|| facts);
}

/// The current rate of a firmware clock, in Hz (`None` without a mailbox or an answer).
pub fn clock_rate(clock: Clock) -> Option<u32> {
    CURRENT.mailbox?;
    query(Tag::ClockRate, &[clock as u32], 2).map(|v| v[1])
}

/// The facts (empty before [`init`]).
pub fn facts() -> Facts {
    FACTS.get().cloned().unwrap_or_default()
}

/// The VPU core clock in Hz: the firmware's answer, or the board's nominal value.
pub fn core_clock_hz() -> u32 {
    FACTS.get().and_then(|facts| facts.core_clock).unwrap_or(CURRENT.core_clock_hz)
}

/// Resets the machine (watchdog on Pi boards, PSCI on virt).
pub fn reboot() -> ! {
    log::warn!("rebooting");
    reset()
}

/// Resets the machine at once, without logging (the panic handler's way out).
pub fn reset() -> ! {
    match CURRENT.power {
        PowerControl::Watchdog(_) => {
            if let Some(watchdog) = crate::watchdog::device() {
                watchdog.reset_after(10);
            }
        }
        PowerControl::Psci => crate::arch::psci::system_reset(),
    }
    cpu::halt()
}

/// Powers off: QEMU exits (semihosting / PSCI), a real board halts.
pub fn power_off(code: u32) -> ! {
    log::warn!("powering off");
    crate::watchdog::disarm();
    if CURRENT.qemu {
        crate::arch::semihosting::exit(code);
    }
    if CURRENT.power == PowerControl::Psci {
        crate::arch::psci::system_off();
    }
    cpu::halt()
}

/// A power action requested by a tool; it runs after the tool's answer has been sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PowerAction {
    /// Reset the machine.
    Reboot = 1,
    /// Power off (QEMU: exit 0).
    Off = 2,
}

static PENDING: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// Schedules `action` for when the current request has been answered.
pub fn request(action: PowerAction) {
    PENDING.store(action as u8, core::sync::atomic::Ordering::SeqCst);
}

/// Whether a power action waits for the current answer to go out.
pub fn has_pending() -> bool {
    PENDING.load(core::sync::atomic::Ordering::SeqCst) != 0
}

/// Carries out a pending power action, if any (called by the transports after replying).
pub fn run_pending() {
    match PENDING.load(core::sync::atomic::Ordering::SeqCst) {
        1 => {
            crate::console::flush();
            reboot()
        }
        2 => {
            crate::console::flush();
            power_off(0)
        }
        _ => {}
    }
}

/// Set once the boot task has brought up the card, the models and the network.
static SERVICES_UP: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Records that the card, the models and the network are up (the boot task, once).
pub fn mark_services_up() {
    SERVICES_UP.store(true, core::sync::atomic::Ordering::Release);
}

/// Whether the card, the models and the network are up.
pub fn services_up() -> bool {
    SERVICES_UP.load(core::sync::atomic::Ordering::Acquire)
}

/// Waits (letting the boot task run) until the services are up. MCP answers from the
/// first instant; a tool call that arrives in the first few milliseconds waits here
/// instead of being told that the card or the models have not started.
pub async fn services() {
    while !services_up() {
        crate::executor::yield_now().await;
    }
}
