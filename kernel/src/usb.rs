//! USB: brings up the DWC2 host controller once, enumerates the bus, owns the USB NIC.
//!
//! Bring-up runs on first use ([`init`]), not at boot: the controller reset, root-port
//! reset and hub-port resets take about half a second of bus timing, and a board without a
//! USB device should not pay for it. The outcome — the device tree, or why there is none —
//! is kept for the kernel's lifetime (devices plugged in later are not seen).
//!
//! The NIC — CDC-ECM (QEMU's `usb-net`, or a USB Ethernet adapter with CDC-ECM on a Pi 3)
//! or the Pi 3 B's own LAN9514 (`drivers::usb::smsc95xx`, untested on real hardware) —
//! lives behind a lock; [`ethernet`] hands out a handle implementing
//! [`EthernetDevice`] for the network stack, and the `test_usb` hook uses the same handle.
//!
//! DMA: the controller's buffers are a heap block handed to the driver for good; the GPU
//! bus alias of ARM RAM (the board's `mailbox` alias, 0xC000_0000 on the BCM2837)
//! translates addresses, and [`crate::arch::cache`] keeps them coherent on real hardware.
//!
//! Real boards (untested): bring-up first asks the firmware to power the USB controller
//! (mailbox "set power state", device 3, as Circle and USPi do; QEMU acknowledges it).
#![cfg_attr(not(feature = "test-hooks"), allow(dead_code))]

use crate::{board::CURRENT, platform};
use alloc::{format, string::String, vec::Vec};
use drivers::{
    net::{Counters, EthernetDevice, NetError},
    usb::{
        self,
        cdc_ecm::{self, CdcEcm, EcmFunction},
        dwc2::{ControllerInfo, Dwc2, DMA_REGION_BYTES},
        smsc95xx::{self, Smsc95xx},
        DeviceInfo, Error as UsbError,
    },
};
use spin::{Mutex, Once};

/// The NIC found on the bus.
#[derive(Clone, Copy, Debug)]
pub struct Nic {
    /// USB address of the device.
    pub address: u8,
    /// The driver's name ("usb-cdc-ecm", "usb-lan9514").
    pub name: &'static str,
    /// A CDC-ECM NIC's function (configuration, interfaces, endpoints).
    pub function: Option<EcmFunction>,
    /// MAC address (CDC-ECM: its iMACAddress string; LAN9514: the board's).
    pub mac: [u8; 6],
    /// Whether a CDC-ECM NIC accepted SET_ETHERNET_PACKET_FILTER (optional for devices).
    pub filter_accepted: bool,
}

/// The NIC drivers, each owning the controller.
enum UsbNic {
    Ecm(CdcEcm<Dwc2>),
    Lan9514(Smsc95xx<Dwc2>),
}

impl UsbNic {
    fn device(&mut self) -> &mut dyn EthernetDevice {
        match self {
            UsbNic::Ecm(nic) => nic,
            UsbNic::Lan9514(nic) => nic,
        }
    }
}

/// Why USB did not come up.
#[derive(Clone, Debug)]
pub enum BringUpError {
    /// The board has no DWC2 host controller the kernel drives.
    NoController,
    /// No GPU bus alias to translate DMA addresses with.
    NoBusAlias,
    /// The controller or its root port failed.
    Controller(UsbError),
    /// Reading the devices on the bus failed.
    Enumeration(UsbError),
}

impl core::fmt::Display for BringUpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BringUpError::NoController => write!(f, "this board has no USB host controller"),
            BringUpError::NoBusAlias => write!(f, "no GPU bus alias for USB DMA on this board"),
            BringUpError::Controller(error) => write!(f, "{}", Describe(*error)),
            BringUpError::Enumeration(error) => write!(f, "enumeration failed: {}", Describe(*error)),
        }
    }
}

/// Why there is no usable USB network adapter.
#[derive(Clone, Debug)]
pub enum NicError {
    /// No device on the bus is one.
    Absent,
    /// A device that is one failed to start or to answer.
    Failed {
        /// Its address.
        device: u8,
        /// Which kind of adapter.
        kind: &'static str,
        /// What failed.
        error: UsbError,
    },
    /// A LAN9514 without bulk endpoints.
    NoEndpoints(u8),
    /// A LAN9514, but the firmware gave no MAC address.
    NoMac,
}

impl core::fmt::Display for NicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NicError::Absent => write!(f, "no CDC-ECM network device on the bus"),
            NicError::Failed { device, kind, error } => write!(f, "{kind} device {device}: {}", Describe(*error)),
            NicError::NoEndpoints(device) => write!(f, "LAN9514 device {device} has no bulk endpoints"),
            NicError::NoMac => write!(f, "LAN9514 found, but the firmware gave no MAC address"),
        }
    }
}

/// A USB error in words a user of this kernel acts on.
struct Describe(UsbError);

impl core::fmt::Display for Describe {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            UsbError::NoDevice => write!(f, "no device: nothing is connected to the USB root port"),
            other => write!(f, "{other}"),
        }
    }
}

/// What bring-up found.
#[derive(Clone, Debug)]
pub struct Usb {
    /// The controller.
    pub controller: ControllerInfo,
    /// Every device, hubs first.
    pub devices: Vec<DeviceInfo>,
    /// Ports whose device failed to come up: (port path, reason).
    pub failures: Vec<(String, String)>,
    /// The NIC, or why none is usable.
    pub nic: Result<Nic, NicError>,
    /// Bring-up time in microseconds.
    pub elapsed_us: u64,
}

static COHERENCE: Once<crate::system::Coherence> = Once::new();
static STATE: Once<Result<Usb, BringUpError>> = Once::new();
static NIC: Mutex<Option<UsbNic>> = Mutex::new(None);

fn bring_up() -> Result<Usb, BringUpError> {
    let started = crate::arch::cpu::micros();
    let base = CURRENT.usb.ok_or(BringUpError::NoController)?;
    let (_, bus_alias) = CURRENT.mailbox.ok_or(BringUpError::NoBusAlias)?;
    if !crate::system::power_on(3) {
        log::warn!("USB: the firmware did not confirm powering the USB controller on");
    }
    let coherence = COHERENCE.call_once(|| crate::system::Coherence { bus_alias });
    let dma: &'static mut [u8] = Vec::leak(alloc::vec![0u8; DMA_REGION_BYTES]);
    let mut host = platform::usb_host(base, dma, coherence).map_err(BringUpError::Controller)?;
    host.init().map_err(BringUpError::Controller)?;
    let speed = host.reset_root_port().map_err(BringUpError::Controller)?;
    let tree = usb::enumerate(&mut host, speed).map_err(BringUpError::Enumeration)?;
    let devices: Vec<DeviceInfo> = tree.devices().copied().collect();
    let failures = tree.failures().map(|f| (format!("{}", f.path), format!("{}", Describe(f.error)))).collect();

    let mut nic = Err(NicError::Absent);
    for device in &devices {
        match cdc_ecm::probe(&mut host, device) {
            Ok(Some(function)) => {
                let controller = host.info();
                nic = match CdcEcm::open(host, device, &function) {
                    Ok(opened) => {
                        let found = Nic {
                            address: device.address,
                            name: opened.name(),
                            function: Some(function),
                            mac: opened.mac_address(),
                            filter_accepted: opened.filter_accepted(),
                        };
                        *NIC.lock() = Some(UsbNic::Ecm(opened));
                        Ok(found)
                    }
                    Err(error) => Err(NicError::Failed { device: device.address, kind: "CDC-ECM", error }),
                };
                let elapsed_us = crate::arch::cpu::micros() - started;
                return Ok(Usb { controller, devices, failures, nic, elapsed_us });
            }
            Ok(None) => {}
            Err(error) => nic = Err(NicError::Failed { device: device.address, kind: "USB", error }),
        }
    }
    // The Pi 3 B's own Ethernet: a LAN9514 behind its hub (untested on real hardware).
    if let Some(device) = devices.iter().find(|d| smsc95xx::matches(d)) {
        let controller = host.info();
        let failed = |error| NicError::Failed { device: device.address, kind: "LAN9514", error };
        nic = match (smsc95xx::probe(&mut host, device), crate::system::board_mac()) {
            (Ok(Some(function)), Some(mac)) => match Smsc95xx::open(host, device, &function, mac) {
                Ok(opened) => {
                    log::info!("USB: LAN9514 Ethernet (chip {:#06x}) at device {}", opened.chip_id(), device.address);
                    let found = Nic {
                        address: device.address,
                        name: opened.name(),
                        function: None,
                        mac,
                        filter_accepted: true,
                    };
                    *NIC.lock() = Some(UsbNic::Lan9514(opened));
                    Ok(found)
                }
                Err(error) => Err(failed(error)),
            },
            (Ok(None), _) => Err(NicError::NoEndpoints(device.address)),
            (Err(error), _) => Err(failed(error)),
            (_, None) => Err(NicError::NoMac),
        };
        let elapsed_us = crate::arch::cpu::micros() - started;
        return Ok(Usb { controller, devices, failures, nic, elapsed_us });
    }
    let elapsed_us = crate::arch::cpu::micros() - started;
    Ok(Usb { controller: host.info(), devices, failures, nic, elapsed_us })
}

/// Brings USB up on the first call and returns what it found (or why there is nothing).
pub fn init() -> Result<&'static Usb, BringUpError> {
    STATE.call_once(bring_up).as_ref().map_err(Clone::clone)
}

/// A handle on the USB NIC: each call locks the NIC for its duration. `Send`, so the
/// network stack can own it.
#[derive(Clone, Copy, Debug)]
pub struct UsbEthernet {
    mac: [u8; 6],
    name: &'static str,
}

/// The USB NIC, bringing USB up first if needed; `None` when there is none (the reason is
/// in [`init`]'s result).
pub fn ethernet() -> Option<UsbEthernet> {
    let nic = init().ok()?.nic.as_ref().ok()?;
    Some(UsbEthernet { mac: nic.mac, name: nic.name })
}

fn with_nic<R>(default: R, f: impl FnOnce(&mut dyn EthernetDevice) -> R) -> R {
    match NIC.lock().as_mut() {
        Some(nic) => f(nic.device()),
        None => default,
    }
}

impl EthernetDevice for UsbEthernet {
    fn name(&self) -> &'static str {
        self.name
    }

    fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        with_nic(false, |nic| nic.link_up())
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetError> {
        with_nic(Err(NetError::Device("USB NIC not started")), |nic| nic.receive(buffer))
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        with_nic(Err(NetError::Device("USB NIC not started")), |nic| nic.transmit(frame))
    }

    fn counters(&self) -> Counters {
        with_nic(Counters::default(), |nic| nic.counters())
    }
}
