//! USB host: the DWC2 controller, device enumeration, hubs and CDC-ECM networking.
//!
//! Spec to read first: USB 2.0 chapter 9 (device framework: standard requests, descriptors,
//! the address/configured states) and chapter 11.24 (hub requests).
//!
//! # Layers
//! - [`dwc2`]: the Synopsys DesignWare OTG core of the BCM283x, driven as a host through
//!   its channels; it implements [`Host`], the one seam the layers above use.
//! - This module: the shared types ([`Target`], [`Pipe`], [`SetupPacket`], [`Error`]), the
//!   standard requests and [`enumerate`], which walks the bus from the root port: reset,
//!   GET_DESCRIPTOR, SET_ADDRESS, strings, and for each hub its ports ([`hub`]).
//! - [`hub`] (hub class), [`cdc_ecm`] (Ethernet over USB) and [`smsc95xx`] (the Pi 3 B's
//!   LAN9514 Ethernet), both implementing [`crate::net::EthernetDevice`], are class drivers
//!   written against [`Host`] only, so they are tested on the host against simulated devices.
//!   Both move frames through [`bulk::BulkLink`] (armed receive, one transmit in flight,
//!   STALL recovery, failure counting); only their framing differs.
//! - [`descriptor`]: checked parsers for everything a device sends.
//!
//! # Limits
//! Devices present when [`enumerate`] runs are found; hot-plugging is not handled. Split
//! transactions (a full- or low-speed device behind a high-speed hub) are not implemented
//! and give [`Error::NeedsSplit`]; QEMU's hub is full speed like the devices behind it, and
//! the Pi 3's LAN9514 hub and its Ethernet are high speed, so neither needs them. No
//! isochronous transfers.

pub mod bulk;
pub mod cdc_ecm;
pub mod descriptor;
pub mod dwc2;
pub mod gadget;
pub mod hub;
pub mod smsc95xx;

use descriptor::{DescriptorError, DeviceDescriptor};

/// Bus speed of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    /// 1.5 Mbit/s.
    Low,
    /// 12 Mbit/s.
    Full,
    /// 480 Mbit/s.
    High,
}

impl Speed {
    /// A short name ("low", "full", "high").
    pub fn name(self) -> &'static str {
        match self {
            Speed::Low => "low",
            Speed::Full => "full",
            Speed::High => "high",
        }
    }
}

/// Transfer direction, seen from the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Host to device.
    Out,
    /// Device to host.
    In,
}

/// Endpoint transfer type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferType {
    /// Control (endpoint 0).
    Control,
    /// Isochronous (not supported by this stack).
    Isochronous,
    /// Bulk.
    Bulk,
    /// Interrupt.
    Interrupt,
}

/// How to reach a device's control endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Device address (0 before SET_ADDRESS).
    pub address: u8,
    /// Bus speed.
    pub speed: Speed,
    /// Endpoint 0 max packet size.
    pub max_packet0: u16,
}

/// A bulk or interrupt endpoint of an addressed device, with its data toggle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pipe {
    /// Device address.
    pub address: u8,
    /// Device speed.
    pub speed: Speed,
    /// Endpoint number (1-15).
    pub endpoint: u8,
    /// Direction.
    pub direction: Direction,
    /// Bulk or interrupt.
    pub kind: TransferType,
    /// Max packet size.
    pub max_packet: u16,
    /// Polling interval from the descriptor.
    pub interval: u8,
    /// The next packet uses DATA1 (toggles after every packet; DATA0 after SET_CONFIGURATION,
    /// SET_INTERFACE or CLEAR_FEATURE(ENDPOINT_HALT)).
    pub data1: bool,
}

impl Pipe {
    /// The pipe to `endpoint` of the device at `target`, starting at DATA0.
    pub fn new(target: &Target, endpoint: &descriptor::Endpoint) -> Self {
        Self {
            address: target.address,
            speed: target.speed,
            endpoint: endpoint.number,
            direction: endpoint.direction,
            kind: endpoint.kind,
            max_packet: endpoint.max_packet,
            interval: endpoint.interval,
            data1: false,
        }
    }

    /// `bEndpointAddress` (number, bit 7 set for IN).
    pub fn endpoint_address(&self) -> u8 {
        self.endpoint | if self.direction == Direction::In { 0x80 } else { 0 }
    }
}

/// The 8-byte SETUP packet of a control transfer (USB 2.0 table 9-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupPacket {
    /// `bmRequestType`: direction (bit 7), type (6:5), recipient (4:0).
    pub request_type: u8,
    /// `bRequest`.
    pub request: u8,
    /// `wValue`.
    pub value: u16,
    /// `wIndex`.
    pub index: u16,
    /// `wLength`: bytes in the data stage.
    pub length: u16,
}

/// Standard request codes (USB 2.0 table 9-4).
pub mod request {
    /// GET_STATUS.
    pub const GET_STATUS: u8 = 0;
    /// CLEAR_FEATURE.
    pub const CLEAR_FEATURE: u8 = 1;
    /// SET_FEATURE.
    pub const SET_FEATURE: u8 = 3;
    /// SET_ADDRESS.
    pub const SET_ADDRESS: u8 = 5;
    /// GET_DESCRIPTOR.
    pub const GET_DESCRIPTOR: u8 = 6;
    /// SET_CONFIGURATION.
    pub const SET_CONFIGURATION: u8 = 9;
    /// SET_INTERFACE.
    pub const SET_INTERFACE: u8 = 11;
}

impl SetupPacket {
    /// GET_DESCRIPTOR for a device-level descriptor (`kind` from [`descriptor::kind`]).
    pub fn get_descriptor(kind: u8, index: u8, language: u16, length: u16) -> Self {
        Self {
            request_type: 0x80,
            request: request::GET_DESCRIPTOR,
            value: (kind as u16) << 8 | index as u16,
            index: language,
            length,
        }
    }

    /// SET_ADDRESS.
    pub fn set_address(address: u8) -> Self {
        Self { request_type: 0x00, request: request::SET_ADDRESS, value: address as u16, index: 0, length: 0 }
    }

    /// SET_CONFIGURATION.
    pub fn set_configuration(value: u8) -> Self {
        Self { request_type: 0x00, request: request::SET_CONFIGURATION, value: value as u16, index: 0, length: 0 }
    }

    /// SET_INTERFACE (select an alternate setting).
    pub fn set_interface(interface: u8, alternate: u8) -> Self {
        Self {
            request_type: 0x01,
            request: request::SET_INTERFACE,
            value: alternate as u16,
            index: interface as u16,
            length: 0,
        }
    }

    /// CLEAR_FEATURE(ENDPOINT_HALT) for the endpoint `address` (bit 7 = IN).
    pub fn clear_halt(address: u8) -> Self {
        Self { request_type: 0x02, request: request::CLEAR_FEATURE, value: 0, index: address as u16, length: 0 }
    }

    /// Whether the data stage goes device to host.
    pub fn is_in(&self) -> bool {
        self.request_type & 0x80 != 0
    }

    /// The packet as sent on the bus (little endian).
    pub fn bytes(&self) -> [u8; 8] {
        let [v0, v1] = self.value.to_le_bytes();
        let [i0, i1] = self.index.to_le_bytes();
        let [l0, l1] = self.length.to_le_bytes();
        [self.request_type, self.request, v0, v1, i0, i1, l0, l1]
    }
}

/// A step of controller bring-up that can time out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControllerStep {
    /// Waiting for the AHB master to go idle before a core reset.
    AhbIdle,
    /// The core soft reset.
    CoreReset,
    /// A transmit or receive FIFO flush.
    FifoFlush,
    /// Halting a host channel.
    ChannelHalt,
    /// The root port did not enable after its reset.
    PortEnable,
}

/// USB errors. `Timeout`, `Transaction` and `Stall` on a bulk endpoint can clear after a
/// retry (the class driver clears a halt); the controller and descriptor errors mean the
/// device or controller is unusable as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Nothing is connected to the root port.
    NoDevice,
    /// The register block does not identify as a DWC2 core (its GSNPSID value).
    NotDwc2(u32),
    /// The core was built without internal DMA (its GHWCFG2 architecture field), the only
    /// mode this driver (and QEMU's model) supports.
    NoDma(u32),
    /// The DMA region handed in is smaller than needed.
    DmaRegion {
        /// Usable bytes (after 64-byte alignment).
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A controller step did not finish in time.
    Controller(ControllerStep),
    /// A transfer got no answer in time (device gone, or it keeps NAKing).
    Timeout {
        /// Device address.
        address: u8,
        /// Endpoint number.
        endpoint: u8,
    },
    /// The device answered STALL: the request is not supported or the endpoint is halted.
    Stall {
        /// Device address.
        address: u8,
        /// Endpoint number.
        endpoint: u8,
    },
    /// A bus error (CRC, bit stuffing, no handshake, babble, data toggle, AHB error).
    Transaction {
        /// Device address.
        address: u8,
        /// Endpoint number.
        endpoint: u8,
        /// The channel's interrupt flags (HCINT).
        flags: u32,
    },
    /// A transfer longer than the controller's buffer for it.
    TooLong {
        /// Bytes requested.
        len: usize,
        /// Most the buffer holds.
        max: usize,
    },
    /// A descriptor failed its checks.
    Descriptor(DescriptorError),
    /// The device answered with fewer bytes than the request needs.
    ShortReply {
        /// Bytes needed.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// A full- or low-speed device behind a high-speed hub (split transactions needed).
    NeedsSplit {
        /// Hub address.
        hub: u8,
        /// Hub port.
        port: u8,
    },
    /// More devices than [`MAX_DEVICES`], or hubs nested deeper than [`MAX_TIERS`].
    TooManyDevices,
    /// A hub port that did not come out of reset enabled.
    HubPort {
        /// Hub address.
        hub: u8,
        /// Port number (1-based).
        port: u8,
        /// wPortStatus after the reset.
        status: u16,
    },
    /// An asynchronous slot number the controller does not have.
    NoSlot(usize),
    /// A transfer was started on a slot that is still busy.
    SlotBusy(usize),
    /// A slot was polled with no transfer started.
    SlotIdle(usize),
    /// The device has no CDC-ECM function with bulk endpoints.
    NotEcm,
    /// The iMACAddress string is not 12 hex digits of a unicast address (or a MAC address
    /// given to a NIC is not unicast).
    MacAddress,
    /// A NIC chip did not complete a step of its bring-up.
    Chip(&'static str),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::NoDevice => f.write_str("no USB device connected to the root port"),
            Self::NotDwc2(id) => {
                write!(f, "no DWC2 USB controller answers at this address (id {id:#010x}; powered off?)")
            }
            Self::NoDma(arch) => write!(f, "DWC2 core without internal DMA (architecture {arch})"),
            Self::DmaRegion { len, needed } => write!(f, "USB DMA region too small: {len} of {needed} bytes"),
            Self::Controller(step) => write!(f, "USB controller did not finish {step:?}"),
            Self::Timeout { address, endpoint } => write!(f, "USB device {address} endpoint {endpoint} did not answer"),
            Self::Stall { address, endpoint } => write!(f, "USB device {address} endpoint {endpoint} stalled"),
            Self::Transaction { address, endpoint, flags } => {
                write!(f, "USB transfer to device {address} endpoint {endpoint} failed (flags {flags:#x})")
            }
            Self::TooLong { len, max } => write!(f, "USB transfer of {len} bytes exceeds the {max}-byte buffer"),
            Self::Descriptor(error) => write!(f, "bad USB descriptor: {error}"),
            Self::ShortReply { expected, got } => write!(f, "USB device sent {got} of {expected} bytes"),
            Self::NeedsSplit { hub, port } => {
                write!(f, "full/low-speed device on high-speed hub {hub} port {port} needs split transactions (not supported)")
            }
            Self::TooManyDevices => write!(f, "more than {MAX_DEVICES} USB devices or {MAX_TIERS} hub tiers"),
            Self::HubPort { hub, port, status } => {
                write!(f, "hub {hub} port {port} did not enable after reset (status {status:#06x})")
            }
            Self::NoSlot(slot) => write!(f, "USB transfer slot {slot} does not exist"),
            Self::SlotBusy(slot) => write!(f, "USB transfer slot {slot} is busy"),
            Self::SlotIdle(slot) => write!(f, "USB transfer slot {slot} has no transfer"),
            Self::NotEcm => f.write_str("USB device has no CDC-ECM interface with bulk endpoints"),
            Self::MacAddress => f.write_str("USB NIC reports an invalid MAC address string"),
            Self::Chip(what) => f.write_str(what),
        }
    }
}

impl core::error::Error for Error {}

impl From<DescriptorError> for Error {
    fn from(error: DescriptorError) -> Self {
        Error::Descriptor(error)
    }
}

/// What a class driver needs from a host controller. Blocking calls end at a deadline;
/// slot transfers (numbered `0..slots()`, each with a channel of its own) run in the
/// background and are polled, so a NIC never blocks.
pub trait Host {
    /// A control transfer: SETUP, then the data stage into or out of `data` (its first
    /// `setup.length` bytes, direction from [`SetupPacket::is_in`]), then the status
    /// stage. Returns the data-stage bytes transferred.
    fn control(&mut self, target: &Target, setup: &SetupPacket, data: &mut [u8]) -> Result<usize, Error>;

    /// One interrupt IN transaction of up to `buffer.len()` bytes: `Ok(None)` when the
    /// device NAKs (nothing to report). Updates the pipe's toggle.
    fn interrupt_in(&mut self, pipe: &mut Pipe, buffer: &mut [u8]) -> Result<Option<usize>, Error>;

    /// Number of background transfer slots.
    fn slots(&self) -> usize;

    /// Starts a bulk transfer on `slot`: OUT sends `out`; IN receives up to `in_length`
    /// bytes (the transfer ends at a short packet).
    fn start(&mut self, slot: usize, pipe: &Pipe, out: &[u8], in_length: usize) -> Result<(), Error>;

    /// Polls `slot`: `Ok(None)` while the transfer runs; when it is done, the byte count
    /// (IN data copied into `buffer`, which must hold it) and the pipe's updated toggle.
    /// After `Ok(Some)` or an error the slot is free.
    fn poll(&mut self, slot: usize, pipe: &mut Pipe, buffer: &mut [u8]) -> Result<Option<usize>, Error>;

    /// Microseconds on a monotonic clock.
    fn now_us(&self) -> u64;

    /// Waits `ms` milliseconds (bus timing: reset lengths, recovery intervals).
    fn delay_ms(&mut self, ms: u32);
}

/// Most devices [`enumerate`] records (hubs included).
pub const MAX_DEVICES: usize = 16;

/// Most hub tiers below the root port (USB 2.0 allows five hubs in a chain).
pub const MAX_TIERS: usize = 5;

/// Where a device is plugged in: the root port (1), then one port number per hub.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortPath {
    ports: [u8; MAX_TIERS + 1],
    depth: u8,
}

impl PortPath {
    /// The root port.
    pub fn root() -> Self {
        Self { ports: [1, 0, 0, 0, 0, 0], depth: 1 }
    }

    /// The path of `port` on the hub at this path, or `None` past [`MAX_TIERS`].
    pub fn child(&self, port: u8) -> Option<Self> {
        let mut path = *self;
        *path.ports.get_mut(self.depth as usize)? = port;
        path.depth += 1;
        Some(path)
    }

    /// Port numbers from the root.
    pub fn ports(&self) -> &[u8] {
        &self.ports[..self.depth as usize]
    }
}

impl core::fmt::Display for PortPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, port) in self.ports().iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{port}")?;
        }
        Ok(())
    }
}

/// A short ASCII string from a string descriptor (longer ones are cut).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; 32],
    len: u8,
}

impl Name {
    /// The text ("" when the device has none).
    pub fn as_str(&self) -> &str {
        // `descriptor::decode_string` writes printable ASCII only.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

/// A device found by [`enumerate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Assigned address.
    pub address: u8,
    /// Bus speed.
    pub speed: Speed,
    /// Where it is plugged in.
    pub path: PortPath,
    /// Address of the hub it is plugged into (`None` on the root port).
    pub parent: Option<u8>,
    /// Its device descriptor.
    pub descriptor: DeviceDescriptor,
    /// Manufacturer string.
    pub manufacturer: Name,
    /// Product string.
    pub product: Name,
    /// Language id used for strings (0 when the device has no strings).
    pub language: u16,
    /// Hub facts, when the device is a hub.
    pub hub: Option<hub::HubInfo>,
}

impl DeviceInfo {
    /// How to reach its control endpoint.
    pub fn target(&self) -> Target {
        Target { address: self.address, speed: self.speed, max_packet0: self.descriptor.max_packet0 as u16 }
    }
}

/// A port where a device was seen but could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortFailure {
    /// Where.
    pub path: PortPath,
    /// Why.
    pub error: Error,
}

/// Everything [`enumerate`] found.
#[derive(Clone, Debug, Default)]
pub struct DeviceTree {
    devices: [Option<DeviceInfo>; MAX_DEVICES],
    failures: [Option<PortFailure>; 4],
    /// Addresses handed out so far (a device that failed after SET_ADDRESS keeps its
    /// address, so this can exceed the device count).
    addresses: u8,
}

impl DeviceTree {
    /// The devices, in enumeration order (hubs before the devices behind them).
    pub fn devices(&self) -> impl Iterator<Item = &DeviceInfo> {
        self.devices.iter().flatten()
    }

    /// Ports with a device that failed to come up (the first few).
    pub fn failures(&self) -> impl Iterator<Item = &PortFailure> {
        self.failures.iter().flatten()
    }

    fn allocate_address(&mut self) -> Option<u8> {
        // Leave room for every device even when some failed after addressing.
        if self.addresses as usize >= 2 * MAX_DEVICES {
            return None;
        }
        self.addresses += 1;
        Some(self.addresses)
    }

    fn add(&mut self, device: DeviceInfo) -> Result<(), Error> {
        let slot = self.devices.iter_mut().find(|d| d.is_none()).ok_or(Error::TooManyDevices)?;
        *slot = Some(device);
        Ok(())
    }

    fn set_hub_info(&mut self, address: u8, info: hub::HubInfo) {
        if let Some(device) = self.devices.iter_mut().flatten().find(|d| d.address == address) {
            device.hub = Some(info);
        }
    }

    fn fail(&mut self, path: PortPath, error: Error) {
        if let Some(slot) = self.failures.iter_mut().find(|f| f.is_none()) {
            *slot = Some(PortFailure { path, error });
        }
    }
}

/// How long a device may take to recover after SET_ADDRESS (USB 2.0 9.2.6.3 allows 2 ms;
/// some devices need more).
const SET_ADDRESS_RECOVERY_MS: u32 = 10;

/// Enumerates the device on the root port (already reset, at `speed`) and, through hubs,
/// everything behind it. The root device failing is an error; a device behind a hub that
/// fails is recorded in [`DeviceTree::failures`] and the rest carries on.
pub fn enumerate(host: &mut impl Host, speed: Speed) -> Result<DeviceTree, Error> {
    let mut tree = DeviceTree::default();
    attach(host, &mut tree, speed, PortPath::root(), None)?;
    Ok(tree)
}

/// Brings up the device just reset at `path` (address 0) and records it; recurses into
/// hubs.
pub(crate) fn attach(
    host: &mut impl Host,
    tree: &mut DeviceTree,
    speed: Speed,
    path: PortPath,
    parent: Option<u8>,
) -> Result<(), Error> {
    let address = tree.allocate_address().ok_or(Error::TooManyDevices)?;
    let mut device = address_device(host, speed, address)?;
    device.path = path;
    device.parent = parent;
    if device.descriptor.class == hub::CLASS {
        let (info, status_pipe) = hub::configure(host, &device)?;
        device.hub = Some(info);
        tree.add(device)?;
        hub::enumerate_ports(host, tree, &device, info, status_pipe)?;
    } else {
        tree.add(device)?;
    }
    Ok(())
}

/// Default address → addressed device with its descriptor and strings.
fn address_device(host: &mut impl Host, speed: Speed, address: u8) -> Result<DeviceInfo, Error> {
    // A high-speed endpoint 0 is always 64 bytes; for the others read only 8 bytes first,
    // which any valid max packet size can carry in one packet.
    let initial = if speed == Speed::High { 64 } else { 8 };
    let mut target = Target { address: 0, speed, max_packet0: initial };
    let mut prefix = [0u8; 8];
    let got = host.control(&target, &SetupPacket::get_descriptor(descriptor::kind::DEVICE, 0, 0, 8), &mut prefix)?;
    if got < 8 {
        return Err(Error::ShortReply { expected: 8, got });
    }
    target.max_packet0 = descriptor::max_packet0_from_prefix(&prefix)? as u16;

    host.control(&target, &SetupPacket::set_address(address), &mut [])?;
    host.delay_ms(SET_ADDRESS_RECOVERY_MS);
    target.address = address;

    let mut bytes = [0u8; DeviceDescriptor::LENGTH];
    let length = DeviceDescriptor::LENGTH as u16;
    let got =
        host.control(&target, &SetupPacket::get_descriptor(descriptor::kind::DEVICE, 0, 0, length), &mut bytes)?;
    let descriptor = DeviceDescriptor::parse(&bytes[..got])?;

    let mut device = DeviceInfo {
        address,
        speed,
        path: PortPath::root(),
        parent: None,
        descriptor,
        manufacturer: Name::default(),
        product: Name::default(),
        language: 0,
        hub: None,
    };
    // Strings are informational: a device without (or with broken) strings still works.
    if descriptor.manufacturer_string != 0 || descriptor.product_string != 0 {
        if let Ok(Some(language)) = read_language(host, &target) {
            device.language = language;
            device.manufacturer =
                read_name(host, &target, descriptor.manufacturer_string, language).unwrap_or_default();
            device.product = read_name(host, &target, descriptor.product_string, language).unwrap_or_default();
        }
    }
    Ok(device)
}

/// Largest string descriptor (bLength is one byte).
const STRING_MAX: usize = 255;

fn read_language(host: &mut impl Host, target: &Target) -> Result<Option<u16>, Error> {
    let mut bytes = [0u8; STRING_MAX];
    let setup = SetupPacket::get_descriptor(descriptor::kind::STRING, 0, 0, STRING_MAX as u16);
    let got = host.control(target, &setup, &mut bytes)?;
    Ok(descriptor::first_language(&bytes[..got])?)
}

/// Reads string `index` as ASCII into `out`; returns its length.
pub fn read_string(
    host: &mut impl Host,
    target: &Target,
    index: u8,
    language: u16,
    out: &mut [u8],
) -> Result<usize, Error> {
    let mut bytes = [0u8; STRING_MAX];
    let setup = SetupPacket::get_descriptor(descriptor::kind::STRING, index, language, STRING_MAX as u16);
    let got = host.control(target, &setup, &mut bytes)?;
    Ok(descriptor::decode_string(&bytes[..got], out)?)
}

fn read_name(host: &mut impl Host, target: &Target, index: u8, language: u16) -> Result<Name, Error> {
    let mut name = Name::default();
    if index != 0 {
        name.len = read_string(host, target, index, language, &mut name.bytes)? as u8;
    }
    Ok(name)
}

/// Reads configuration `index` (0-based) into `buffer`; returns its checked length. A
/// configuration larger than `buffer` is an error.
pub fn read_configuration(host: &mut impl Host, target: &Target, index: u8, buffer: &mut [u8]) -> Result<usize, Error> {
    let mut header = [0u8; descriptor::ConfigurationHeader::LENGTH];
    let setup = SetupPacket::get_descriptor(descriptor::kind::CONFIGURATION, index, 0, header.len() as u16);
    let got = host.control(target, &setup, &mut header)?;
    let total = descriptor::ConfigurationHeader::parse(&header[..got])?.total_length as usize;
    if total > buffer.len() {
        return Err(Error::TooLong { len: total, max: buffer.len() });
    }
    let setup = SetupPacket::get_descriptor(descriptor::kind::CONFIGURATION, index, 0, total as u16);
    let got = host.control(target, &setup, &mut buffer[..total])?;
    descriptor::Configuration::parse(&buffer[..got])?;
    Ok(got)
}

#[cfg(test)]
pub(crate) mod sim;

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::format;

    #[test]
    fn setup_packets_are_little_endian() {
        let setup = SetupPacket::get_descriptor(descriptor::kind::STRING, 3, 0x0409, 255);
        assert_eq!(setup.bytes(), [0x80, 6, 3, 3, 0x09, 0x04, 255, 0]);
        assert!(setup.is_in());
        assert_eq!(SetupPacket::set_address(5).bytes(), [0, 5, 5, 0, 0, 0, 0, 0]);
        assert!(!SetupPacket::set_interface(1, 1).is_in());
        assert_eq!(SetupPacket::clear_halt(0x82).bytes(), [2, 1, 0, 0, 0x82, 0, 0, 0]);
    }

    #[test]
    fn port_paths_print_dotted_and_stop_at_the_tier_limit() {
        let root = PortPath::root();
        assert_eq!(format!("{root}"), "1");
        let child = root.child(2).and_then(|p| p.child(7)).expect("in range");
        assert_eq!(format!("{child}"), "1.2.7");
        let mut deep = root;
        for _ in 0..MAX_TIERS {
            deep = deep.child(1).expect("within the limit");
        }
        assert_eq!(deep.child(1), None);
    }
}
