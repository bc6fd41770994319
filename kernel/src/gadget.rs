//! The USB gadget: on boards whose DWC2 port can be a USB device (the Zero 2 W's data port,
//! the Pi 4's USB-C port; the board's `usb_device`), one cable to a computer gives it a serial
//! port carrying this console and a network adapter (CDC-NCM) with a DHCP server and mDNS on
//! its link (see `net`). Switched by `usb.gadget` in `kingly.txt`.
//!
//! A task polls the controller every millisecond: console input typed on the host goes into
//! the console's receive ring (the same one the UART fills), console output is mirrored to
//! the host through a bounded queue that drops its oldest bytes when nobody reads, and
//! network frames wake the network task, which takes them through [`ethernet`].
//!
//! Only the simulated controller has run this code (`drivers/src/usb/gadget`); QEMU has no
//! device-mode DWC2. On a real board a controller that never comes out of reset fails
//! bring-up after its deadline with a log line, and the boot goes on without the gadget.

use crate::{board::CURRENT, platform, sync::IrqMutex};
use alloc::{collections::VecDeque, format, string::String, vec::Vec};
use core::sync::atomic::{AtomicBool, Ordering};
use drivers::{
    net::{Counters, EthernetDevice, NetError, MAX_FRAME},
    usb::{
        dwc2::device::{Dwc2Device, DEVICE_DMA_BYTES},
        gadget::{
            acm,
            composite::{Gadget, State},
            descriptors::{link_macs, Identity},
            Controller,
        },
        Speed,
    },
};
use spin::{Mutex, Once};

static GADGET: Mutex<Option<Gadget<Dwc2Device>>> = Mutex::new(None);
static STARTED: Once<Result<(), String>> = Once::new();
static COHERENCE: Once<crate::system::Coherence> = Once::new();
/// Console output waiting for the gadget task (filled from any context, IRQs masked).
static OUTPUT: IrqMutex<Option<VecDeque<u8>>> = IrqMutex::new(None);
/// Set when frames arrived for the network stack.
static FRAMES: AtomicBool = AtomicBool::new(false);
/// Who to tell when frames arrive (the network task's wake-up, registered by `net`).
static ON_FRAMES: Once<fn()> = Once::new();

/// How often the task polls the controller.
const POLL_US: u64 = 1_000;

/// Why the gadget is not running.
fn bring_up() -> Result<(), String> {
    let base = CURRENT.usb_device.ok_or_else(|| String::from("this board has no USB device port"))?;
    if !crate::storage::settings().usb_gadget {
        return Err(String::from("off in the settings (usb.gadget = off)"));
    }
    let (_, bus_alias) = CURRENT.mailbox.ok_or_else(|| String::from("no GPU bus alias for USB DMA"))?;
    if !crate::system::power_on(3) {
        log::warn!("USB gadget: the firmware did not confirm powering the USB controller on");
    }
    let coherence = COHERENCE.call_once(|| crate::system::Coherence { bus_alias });
    let dma: &'static mut [u8] = Vec::leak(alloc::vec![0u8; DEVICE_DMA_BYTES]);
    let mut controller =
        platform::usb_device(base, dma, coherence).map_err(|error| format!("no DWC2 controller: {error}"))?;
    controller.init().map_err(|error| format!("{error}"))?;
    controller.connect(true);
    let serial = crate::system::facts().serial.unwrap_or(0);
    let (host_mac, _) = link_macs(serial);
    let identity = Identity { product: CURRENT.description, serial, host_mac };
    *OUTPUT.lock() = Some(VecDeque::with_capacity(acm::TX_RING));
    *GADGET.lock() = Some(Gadget::new(controller, identity));
    crate::console::set_mirror(mirror);
    crate::executor::spawn("usb-gadget", task());
    Ok(())
}

/// Brings the gadget up once (on boards with a device port and `usb.gadget = on`); the
/// outcome is logged and kept for [`status`].
pub fn init() {
    let outcome = STARTED.call_once(bring_up);
    match outcome {
        Ok(()) => log::info!("USB gadget: serial console and network on the {} port", port_name()),
        Err(why) if CURRENT.usb_device.is_some() => log::warn!("USB gadget not started: {why}"),
        Err(_) => {}
    }
}

/// The port the gadget runs on, in the words of the board's silkscreen.
fn port_name() -> &'static str {
    match CURRENT.name {
        "pi4" => "USB-C",
        _ => "USB data",
    }
}

/// Console output, mirrored to the host (called by the console for every write).
fn mirror(bytes: &[u8]) {
    let Some(mut output) = OUTPUT.try_lock() else { return };
    if let Some(queue) = output.as_mut() {
        acm::push_dropping_oldest(queue, bytes, acm::TX_RING);
    }
}

/// Registers what the gadget calls when frames arrive (the network task's wake-up).
pub fn on_frames(wake: fn()) {
    ON_FRAMES.call_once(|| wake);
}

fn wake_network() {
    if let Some(wake) = ON_FRAMES.get() {
        wake();
    }
}

/// One round: controller events, console both ways, frames.
fn poll_once() {
    let mut pending = Vec::new();
    if let Some(mut output) = OUTPUT.try_lock() {
        if let Some(queue) = output.as_mut() {
            pending.extend(queue.drain(..));
        }
    }
    let mut typed = [0u8; 512];
    let (n, frames) = {
        let mut guard = GADGET.lock();
        let Some(gadget) = guard.as_mut() else { return };
        if !pending.is_empty() {
            gadget.acm.write(&pending);
        }
        gadget.poll();
        (gadget.acm.read(&mut typed), gadget.ncm.has_frames())
    };
    if n > 0 {
        crate::console::push_input(&typed[..n]);
    }
    if frames && !FRAMES.swap(true, Ordering::AcqRel) {
        wake_network();
    }
}

async fn task() {
    loop {
        poll_once();
        let ticks = POLL_US * crate::arch::cpu::counter_frequency() / 1_000_000;
        crate::executor::sleep_until(crate::arch::cpu::counter() + ticks).await;
    }
}

/// The gadget's network function as a NIC, if the gadget runs.
pub fn ethernet() -> Option<GadgetEthernet> {
    let guard = GADGET.lock();
    let gadget = guard.as_ref()?;
    Some(GadgetEthernet { mac: gadget.ncm.mac_address() })
}

/// A handle on the network function: each call locks the gadget briefly.
#[derive(Clone, Copy, Debug)]
pub struct GadgetEthernet {
    mac: [u8; 6],
}

impl EthernetDevice for GadgetEthernet {
    fn name(&self) -> &'static str {
        "usb-gadget-ncm"
    }

    fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        GADGET.lock().as_ref().is_some_and(|g| g.ncm.active())
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetError> {
        let mut guard = GADGET.lock();
        let Some(gadget) = guard.as_mut() else { return Err(NetError::Device("USB gadget not started")) };
        let frame = gadget.ncm.receive();
        if !gadget.ncm.has_frames() {
            FRAMES.store(false, Ordering::Release);
        }
        match frame {
            Some(frame) if frame.len() <= buffer.len().min(MAX_FRAME) => {
                buffer[..frame.len()].copy_from_slice(&frame);
                Ok(Some(frame.len()))
            }
            Some(_) => Err(NetError::Size),
            None => Ok(None),
        }
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        let mut guard = GADGET.lock();
        let Some(gadget) = guard.as_mut() else { return Err(NetError::Device("USB gadget not started")) };
        gadget.ncm.transmit(frame)?;
        // Start the transfer now rather than at the next poll.
        gadget.service();
        Ok(())
    }

    fn counters(&self) -> Counters {
        GADGET.lock().as_ref().map_or_else(Counters::default, |g| g.ncm.counters())
    }
}

/// How the gadget stands, for `net_status`.
#[derive(Clone, Debug)]
pub struct Status {
    /// "detached", "default", "addressed" or "configured".
    pub state: &'static str,
    /// "high" or "full" once enumerated.
    pub speed: &'static str,
    /// A program on the host has the serial port open (DTR).
    pub serial_open: bool,
    /// The host runs the network interface.
    pub network_up: bool,
    /// NTBs refused from the host.
    pub bad_blocks: u64,
    /// Bus resets and unplugs seen.
    pub resets: u32,
    /// Unplugs seen.
    pub disconnects: u32,
}

/// The gadget's status: `Ok(None)` on boards without a device port, `Err` with the reason
/// it is not running.
pub fn status() -> Result<Option<Status>, String> {
    match STARTED.get() {
        None if CURRENT.usb_device.is_none() => return Ok(None),
        None => return Err(String::from("not started yet")),
        Some(Err(why)) => return Err(why.clone()),
        Some(Ok(())) => {}
    }
    let guard = GADGET.lock();
    let Some(gadget) = guard.as_ref() else { return Err(String::from("not started")) };
    let stats = gadget.stats();
    Ok(Some(Status {
        state: match gadget.state() {
            State::Detached => "detached",
            State::Default => "default",
            State::Addressed => "addressed",
            State::Configured => "configured",
        },
        speed: match gadget.speed() {
            Speed::High => "high",
            Speed::Full => "full",
            Speed::Low => "low",
        },
        serial_open: gadget.acm.open(),
        network_up: gadget.ncm.active(),
        bad_blocks: gadget.ncm.bad_blocks,
        resets: stats.resets,
        disconnects: stats.disconnects,
    }))
}
