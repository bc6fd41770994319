//! USB descriptors: checked views over the bytes a device sends.
//!
//! Spec: USB 2.0 chapter 9.6 (standard descriptors), chapter 11.23 (hub descriptor); CDC
//! 1.2 chapter 5.2.3 (functional descriptors) and ECM 1.2 chapter 5.4.
//!
//! Contract: every parser takes untrusted bytes and either returns a value or a
//! [`DescriptorError`]; it never panics and never reads past the slice. A length field
//! that points beyond the data, a descriptor shorter than its type requires, a zero
//! `bLength` (which would loop forever) or a value the spec forbids (a max packet size of
//! 0, endpoint number 0 in an endpoint descriptor) is an error. Once a [`Configuration`]
//! is checked, walking its interfaces and endpoints cannot fail.

use super::{Direction, TransferType};

/// Descriptor type codes (USB 2.0 table 9-5, CDC 1.2 table 12, USB 2.0 table 11-13).
pub mod kind {
    /// Device descriptor.
    pub const DEVICE: u8 = 1;
    /// Configuration descriptor.
    pub const CONFIGURATION: u8 = 2;
    /// String descriptor.
    pub const STRING: u8 = 3;
    /// Interface descriptor.
    pub const INTERFACE: u8 = 4;
    /// Endpoint descriptor.
    pub const ENDPOINT: u8 = 5;
    /// Class-specific interface descriptor (CDC functional descriptors).
    pub const CS_INTERFACE: u8 = 0x24;
    /// Hub descriptor.
    pub const HUB: u8 = 0x29;
}

/// Why a descriptor was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptorError {
    /// Fewer bytes than the descriptor needs.
    Truncated {
        /// Descriptor type expected.
        kind: u8,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// The type byte is not the one requested.
    WrongType {
        /// Type expected.
        expected: u8,
        /// Type found.
        found: u8,
    },
    /// A `bLength` of 0 or 1 inside a configuration (no progress possible).
    BadLength {
        /// Offset of the descriptor in the configuration.
        offset: usize,
        /// The `bLength` found.
        length: u8,
    },
    /// A descriptor's `bLength` reaches past the end of the configuration.
    Overrun {
        /// Offset of the descriptor.
        offset: usize,
        /// Its `bLength`.
        length: u8,
        /// Bytes left from the offset.
        left: usize,
    },
    /// `wTotalLength` smaller than the header or larger than what arrived.
    TotalLength {
        /// `wTotalLength` as sent.
        declared: u16,
        /// Bytes available.
        available: usize,
    },
    /// A control endpoint max packet size other than 8, 16, 32 or 64.
    MaxPacket0(u8),
    /// An endpoint descriptor with number 0 or a max packet size of 0 or above 1024.
    Endpoint {
        /// `bEndpointAddress`.
        address: u8,
        /// `wMaxPacketSize`.
        max_packet: u16,
    },
    /// An interface declares more endpoints than follow it.
    MissingEndpoints {
        /// Interface number.
        interface: u8,
        /// `bNumEndpoints`.
        declared: u8,
        /// Endpoint descriptors found.
        found: u8,
    },
    /// An endpoint descriptor before any interface descriptor.
    OrphanEndpoint {
        /// Offset in the configuration.
        offset: usize,
    },
    /// A string descriptor with an odd payload length.
    OddString(u8),
    /// A device with no configurations.
    NoConfigurations,
    /// A hub reporting 0 ports or more than [`MAX_HUB_PORTS`].
    HubPorts(u8),
}

impl core::fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Truncated { kind, needed, got } => {
                write!(f, "descriptor type {kind:#04x} truncated: {got} of {needed} bytes")
            }
            Self::WrongType { expected, found } => {
                write!(f, "expected descriptor type {expected:#04x}, got {found:#04x}")
            }
            Self::BadLength { offset, length } => write!(f, "descriptor at offset {offset} has bLength {length}"),
            Self::Overrun { offset, length, left } => {
                write!(f, "descriptor at offset {offset} claims {length} bytes, only {left} left")
            }
            Self::TotalLength { declared, available } => {
                write!(f, "configuration wTotalLength {declared} does not fit the {available} bytes received")
            }
            Self::MaxPacket0(size) => write!(f, "invalid control endpoint max packet size {size}"),
            Self::Endpoint { address, max_packet } => {
                write!(f, "invalid endpoint {address:#04x} (max packet {max_packet})")
            }
            Self::MissingEndpoints { interface, declared, found } => {
                write!(f, "interface {interface} declares {declared} endpoints, {found} follow")
            }
            Self::OrphanEndpoint { offset } => write!(f, "endpoint descriptor at offset {offset} outside an interface"),
            Self::OddString(length) => write!(f, "string descriptor with odd length {length}"),
            Self::NoConfigurations => f.write_str("device reports no configurations"),
            Self::HubPorts(ports) => write!(f, "hub reports {ports} ports (1..={MAX_HUB_PORTS} supported)"),
        }
    }
}

impl core::error::Error for DescriptorError {}

/// Most downstream ports of a hub this driver handles (the status bitmap fits a `u16`).
pub const MAX_HUB_PORTS: u8 = 15;

/// Checks that `bytes` holds at least `needed` bytes of a descriptor of type `expected`
/// whose own `bLength` is at least `needed`.
fn check(bytes: &[u8], expected: u8, needed: usize) -> Result<(), DescriptorError> {
    if bytes.len() < 2 {
        return Err(DescriptorError::Truncated { kind: expected, needed, got: bytes.len() });
    }
    if bytes[1] != expected {
        return Err(DescriptorError::WrongType { expected, found: bytes[1] });
    }
    let length = bytes[0] as usize;
    if length < needed || bytes.len() < needed {
        return Err(DescriptorError::Truncated { kind: expected, needed, got: length.min(bytes.len()) });
    }
    Ok(())
}

fn le16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn valid_max_packet0(size: u8) -> Result<u8, DescriptorError> {
    match size {
        8 | 16 | 32 | 64 => Ok(size),
        _ => Err(DescriptorError::MaxPacket0(size)),
    }
}

/// The first 8 bytes of a device descriptor: enough to learn endpoint 0's packet size.
pub fn max_packet0_from_prefix(bytes: &[u8]) -> Result<u8, DescriptorError> {
    if bytes.len() < 8 {
        return Err(DescriptorError::Truncated { kind: kind::DEVICE, needed: 8, got: bytes.len() });
    }
    if bytes[1] != kind::DEVICE {
        return Err(DescriptorError::WrongType { expected: kind::DEVICE, found: bytes[1] });
    }
    if (bytes[0] as usize) < DeviceDescriptor::LENGTH {
        return Err(DescriptorError::Truncated {
            kind: kind::DEVICE,
            needed: DeviceDescriptor::LENGTH,
            got: bytes[0] as usize,
        });
    }
    valid_max_packet0(bytes[7])
}

/// A device descriptor (USB 2.0 table 9-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceDescriptor {
    /// `bcdUSB` (0x0200 = USB 2.0).
    pub usb_version: u16,
    /// `bDeviceClass` (0 = per interface, 9 = hub, 2 = communications).
    pub class: u8,
    /// `bDeviceSubClass`.
    pub subclass: u8,
    /// `bDeviceProtocol`.
    pub protocol: u8,
    /// `bMaxPacketSize0`.
    pub max_packet0: u8,
    /// `idVendor`.
    pub vendor: u16,
    /// `idProduct`.
    pub product: u16,
    /// `bcdDevice`.
    pub release: u16,
    /// `iManufacturer` string index (0 = none).
    pub manufacturer_string: u8,
    /// `iProduct` string index.
    pub product_string: u8,
    /// `iSerialNumber` string index.
    pub serial_string: u8,
    /// `bNumConfigurations`.
    pub configurations: u8,
}

impl DeviceDescriptor {
    /// Size of a device descriptor.
    pub const LENGTH: usize = 18;

    /// Parses and checks a device descriptor.
    pub fn parse(bytes: &[u8]) -> Result<Self, DescriptorError> {
        check(bytes, kind::DEVICE, Self::LENGTH)?;
        let descriptor = Self {
            usb_version: le16(bytes, 2),
            class: bytes[4],
            subclass: bytes[5],
            protocol: bytes[6],
            max_packet0: valid_max_packet0(bytes[7])?,
            vendor: le16(bytes, 8),
            product: le16(bytes, 10),
            release: le16(bytes, 12),
            manufacturer_string: bytes[14],
            product_string: bytes[15],
            serial_string: bytes[16],
            configurations: bytes[17],
        };
        if descriptor.configurations == 0 {
            return Err(DescriptorError::NoConfigurations);
        }
        Ok(descriptor)
    }
}

/// The 9-byte header of a configuration descriptor (USB 2.0 table 9-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigurationHeader {
    /// `wTotalLength`: the configuration with all its interface and endpoint descriptors.
    pub total_length: u16,
    /// `bNumInterfaces`.
    pub interfaces: u8,
    /// `bConfigurationValue` (the argument of SET_CONFIGURATION).
    pub value: u8,
    /// `iConfiguration` string index.
    pub string: u8,
    /// `bmAttributes`.
    pub attributes: u8,
    /// `bMaxPower` in 2 mA units.
    pub max_power: u8,
}

impl ConfigurationHeader {
    /// Size of the header.
    pub const LENGTH: usize = 9;

    /// Parses the header (the first 9 bytes are enough).
    pub fn parse(bytes: &[u8]) -> Result<Self, DescriptorError> {
        check(bytes, kind::CONFIGURATION, Self::LENGTH)?;
        let header = Self {
            total_length: le16(bytes, 2),
            interfaces: bytes[4],
            value: bytes[5],
            string: bytes[6],
            attributes: bytes[7],
            max_power: bytes[8],
        };
        if (header.total_length as usize) < Self::LENGTH {
            return Err(DescriptorError::TotalLength { declared: header.total_length, available: bytes.len() });
        }
        Ok(header)
    }
}

/// One descriptor inside a configuration: its type and all its bytes (`bLength` of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raw<'a> {
    /// `bDescriptorType`.
    pub kind: u8,
    /// The descriptor, `bLength` bytes including the two header bytes.
    pub bytes: &'a [u8],
}

/// An interface descriptor (USB 2.0 table 9-12) with the descriptors that follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface<'a> {
    /// `bInterfaceNumber`.
    pub number: u8,
    /// `bAlternateSetting`.
    pub alternate: u8,
    /// `bNumEndpoints`.
    pub endpoint_count: u8,
    /// `bInterfaceClass`.
    pub class: u8,
    /// `bInterfaceSubClass`.
    pub subclass: u8,
    /// `bInterfaceProtocol`.
    pub protocol: u8,
    /// `iInterface` string index.
    pub string: u8,
    /// Every descriptor after this interface descriptor up to the next one (class-specific
    /// and endpoint descriptors), already checked to be well formed.
    body: &'a [u8],
}

impl<'a> Interface<'a> {
    /// The class-specific and other non-endpoint descriptors of this interface.
    pub fn extra(&self) -> impl Iterator<Item = Raw<'a>> + 'a {
        Walk { bytes: self.body, at: 0 }.filter_map(Result::ok).filter(|raw| raw.kind != kind::ENDPOINT)
    }

    /// The endpoints of this interface.
    pub fn endpoints(&self) -> impl Iterator<Item = Endpoint> + 'a {
        Walk { bytes: self.body, at: 0 }
            .filter_map(Result::ok)
            .filter(|raw| raw.kind == kind::ENDPOINT)
            .filter_map(|raw| Endpoint::parse(raw.bytes).ok())
    }
}

/// An endpoint descriptor (USB 2.0 table 9-13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Endpoint number (1-15).
    pub number: u8,
    /// Direction.
    pub direction: Direction,
    /// Transfer type.
    pub kind: TransferType,
    /// Max packet size in bytes (bits 10:0 of `wMaxPacketSize`).
    pub max_packet: u16,
    /// `bInterval` (frames, or a power of two of microframes at high speed).
    pub interval: u8,
}

impl Endpoint {
    /// Size of an endpoint descriptor.
    pub const LENGTH: usize = 7;

    /// Parses and checks an endpoint descriptor.
    pub fn parse(bytes: &[u8]) -> Result<Self, DescriptorError> {
        check(bytes, kind::ENDPOINT, Self::LENGTH)?;
        let address = bytes[2];
        let max_packet = le16(bytes, 4) & 0x7ff;
        let number = address & 0x0f;
        if number == 0 || max_packet == 0 || max_packet > 1024 || address & 0x70 != 0 {
            return Err(DescriptorError::Endpoint { address, max_packet: le16(bytes, 4) });
        }
        Ok(Self {
            number,
            direction: if address & 0x80 != 0 { Direction::In } else { Direction::Out },
            kind: match bytes[3] & 0x03 {
                0 => TransferType::Control,
                1 => TransferType::Isochronous,
                2 => TransferType::Bulk,
                _ => TransferType::Interrupt,
            },
            max_packet,
            interval: bytes[6],
        })
    }
}

/// Walks the descriptors of a byte range, checking each `bLength`.
struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Walk<'a> {
    type Item = Result<Raw<'a>, DescriptorError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.at..)?;
        if rest.is_empty() {
            return None;
        }
        let offset = self.at;
        let length = rest[0];
        if length < 2 {
            self.at = self.bytes.len();
            return Some(Err(DescriptorError::BadLength { offset, length }));
        }
        if length as usize > rest.len() {
            self.at = self.bytes.len();
            return Some(Err(DescriptorError::Overrun { offset, length, left: rest.len() }));
        }
        self.at += length as usize;
        Some(Ok(Raw { kind: rest[1], bytes: &rest[..length as usize] }))
    }
}

/// A checked configuration: the header plus every descriptor up to `wTotalLength`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Configuration<'a> {
    /// The header.
    pub header: ConfigurationHeader,
    bytes: &'a [u8],
}

impl<'a> Configuration<'a> {
    /// Checks a whole configuration: the header, every descriptor's length, every
    /// interface and endpoint descriptor, and that each interface's endpoints follow it.
    /// Bytes after `wTotalLength` are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DescriptorError> {
        let header = ConfigurationHeader::parse(bytes)?;
        let total = header.total_length as usize;
        if total > bytes.len() {
            return Err(DescriptorError::TotalLength { declared: header.total_length, available: bytes.len() });
        }
        let bytes = &bytes[..total];
        // The header's own bLength may exceed 9; the walk starts after it.
        let start = bytes[0] as usize;
        if start > total {
            return Err(DescriptorError::Overrun { offset: 0, length: bytes[0], left: total });
        }
        let mut open: Option<(u8, u8, u8)> = None; // (interface, declared, found)
        let close = |open: Option<(u8, u8, u8)>| match open {
            Some((interface, declared, found)) if found < declared => {
                Err(DescriptorError::MissingEndpoints { interface, declared, found })
            }
            _ => Ok(()),
        };
        for item in (Walk { bytes, at: start }) {
            let raw = item?;
            let offset = raw.bytes.as_ptr() as usize - bytes.as_ptr() as usize;
            match raw.kind {
                kind::INTERFACE => {
                    close(open)?;
                    check(raw.bytes, kind::INTERFACE, 9)?;
                    open = Some((raw.bytes[2], raw.bytes[4], 0));
                }
                kind::ENDPOINT => {
                    Endpoint::parse(raw.bytes)?;
                    match open.as_mut() {
                        Some((_, _, found)) => *found = found.saturating_add(1),
                        None => return Err(DescriptorError::OrphanEndpoint { offset }),
                    }
                }
                _ => {}
            }
        }
        close(open)?;
        Ok(Self { header, bytes: &bytes[start..] })
    }

    /// Every interface descriptor (each alternate setting separately), in order.
    pub fn interfaces(&self) -> impl Iterator<Item = Interface<'a>> + 'a {
        let bytes = self.bytes;
        let mut walk = Walk { bytes, at: 0 }.filter_map(Result::ok).peekable();
        core::iter::from_fn(move || {
            let descriptor = loop {
                let raw = walk.next()?;
                if raw.kind == kind::INTERFACE {
                    break raw.bytes;
                }
            };
            let body_start = descriptor.as_ptr() as usize - bytes.as_ptr() as usize + descriptor.len();
            let mut body_end = body_start;
            while let Some(next) = walk.peek() {
                if next.kind == kind::INTERFACE {
                    break;
                }
                body_end += next.bytes.len();
                walk.next();
            }
            Some(Interface {
                number: descriptor[2],
                alternate: descriptor[3],
                endpoint_count: descriptor[4],
                class: descriptor[5],
                subclass: descriptor[6],
                protocol: descriptor[7],
                string: descriptor[8],
                body: &bytes[body_start..body_end],
            })
        })
    }
}

/// Decodes a string descriptor (UTF-16LE) into `out` as ASCII: characters outside
/// printable ASCII become `?`. Returns the number of bytes written (at most `out.len()`;
/// longer strings are cut).
pub fn decode_string(bytes: &[u8], out: &mut [u8]) -> Result<usize, DescriptorError> {
    let payload = string_payload(bytes)?;
    let mut written = 0;
    for unit in payload.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])) {
        if written == out.len() {
            break;
        }
        out[written] = match unit {
            0x20..=0x7e => unit as u8,
            _ => b'?',
        };
        written += 1;
    }
    Ok(written)
}

/// The first language id of string descriptor 0 (the LANGID table), if any.
pub fn first_language(bytes: &[u8]) -> Result<Option<u16>, DescriptorError> {
    let payload = string_payload(bytes)?;
    Ok(payload.chunks_exact(2).next().map(|pair| u16::from_le_bytes([pair[0], pair[1]])))
}

fn string_payload(bytes: &[u8]) -> Result<&[u8], DescriptorError> {
    check(bytes, kind::STRING, 2)?;
    let length = bytes[0];
    if !length.is_multiple_of(2) {
        return Err(DescriptorError::OddString(length));
    }
    // `check` guaranteed 2 bytes; the payload must be all present.
    bytes.get(2..length as usize).ok_or(DescriptorError::Truncated {
        kind: kind::STRING,
        needed: length as usize,
        got: bytes.len(),
    })
}

/// A hub descriptor (USB 2.0 table 11-13), the fields this driver uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubDescriptor {
    /// `bNbrPorts`.
    pub ports: u8,
    /// `wHubCharacteristics`.
    pub characteristics: u16,
    /// `bPwrOn2PwrGood`: time from power-on to power-good, in 2 ms units.
    pub power_on_to_good_2ms: u8,
}

impl HubDescriptor {
    /// Minimum size of a hub descriptor (for up to 7 ports).
    pub const MIN_LENGTH: usize = 7;

    /// Parses and checks a hub descriptor.
    pub fn parse(bytes: &[u8]) -> Result<Self, DescriptorError> {
        check(bytes, kind::HUB, Self::MIN_LENGTH)?;
        let ports = bytes[2];
        if ports == 0 || ports > MAX_HUB_PORTS {
            return Err(DescriptorError::HubPorts(ports));
        }
        Ok(Self { ports, characteristics: le16(bytes, 3), power_on_to_good_2ms: bytes[5] })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    extern crate std;

    use super::*;
    use std::{format, vec::Vec};

    /// QEMU usb-net's CDC-ECM configuration (value 1), as `hw/usb/dev-network.c` builds it.
    pub const ECM_CONFIG: &[u8] = &[
        9, 2, 80, 0, 2, 1, 7, 0xc0, 0x32, // configuration: 80 bytes, 2 interfaces, value 1
        9, 4, 0, 0, 1, 2, 6, 0, 5, // interface 0: CDC, Ethernet control model, 1 endpoint
        5, 0x24, 0x00, 0x10, 0x01, // header functional descriptor, CDC 1.10
        5, 0x24, 0x06, 0, 1, // union: master 0, slave 1
        13, 0x24, 0x0f, 3, 0, 0, 0, 0, 0xea, 0x05, 0, 0, 0, // Ethernet: iMACAddress 3, 1514
        7, 5, 0x81, 3, 16, 0, 32, // interrupt IN 1, 16 bytes, 32 ms
        9, 4, 1, 0, 0, 0x0a, 0, 0, 0, // interface 1 alt 0: data, no endpoints
        9, 4, 1, 1, 2, 0x0a, 0, 0, 4, // interface 1 alt 1: data, 2 endpoints
        7, 5, 0x82, 2, 64, 0, 0, // bulk IN 2
        7, 5, 0x02, 2, 64, 0, 0, // bulk OUT 2
    ];

    /// QEMU's hub device descriptor.
    pub const HUB_DEVICE: &[u8] = &[18, 1, 0x10, 0x01, 9, 0, 0, 8, 0x09, 0x04, 0xaa, 0x55, 0x01, 0x01, 1, 2, 3, 1];

    #[test]
    fn parses_the_qemu_ecm_configuration() {
        let config = Configuration::parse(ECM_CONFIG).expect("valid");
        assert_eq!(config.header.value, 1);
        assert_eq!(config.header.interfaces, 2);
        let interfaces: Vec<_> = config.interfaces().collect();
        assert_eq!(interfaces.len(), 3);
        assert_eq!((interfaces[0].class, interfaces[0].subclass), (2, 6));
        assert_eq!(interfaces[0].extra().count(), 3);
        let notify: Vec<_> = interfaces[0].endpoints().collect();
        assert_eq!(notify.len(), 1);
        assert_eq!(notify[0].kind, TransferType::Interrupt);
        assert_eq!(
            (notify[0].number, notify[0].direction, notify[0].max_packet, notify[0].interval),
            (1, Direction::In, 16, 32)
        );
        assert_eq!((interfaces[1].number, interfaces[1].alternate, interfaces[1].endpoints().count()), (1, 0, 0));
        let bulk: Vec<_> = interfaces[2].endpoints().collect();
        assert_eq!(bulk.len(), 2);
        assert!(bulk.iter().all(|e| e.kind == TransferType::Bulk && e.max_packet == 64 && e.number == 2));
        assert_eq!(bulk[0].direction, Direction::In);
        assert_eq!(bulk[1].direction, Direction::Out);
    }

    #[test]
    fn parses_device_descriptors_and_their_prefix() {
        let device = DeviceDescriptor::parse(HUB_DEVICE).expect("valid");
        assert_eq!((device.vendor, device.product, device.class, device.max_packet0), (0x0409, 0x55aa, 9, 8));
        assert_eq!(max_packet0_from_prefix(&HUB_DEVICE[..8]), Ok(8));
        let mut bad = HUB_DEVICE.to_vec();
        bad[7] = 12;
        assert_eq!(DeviceDescriptor::parse(&bad), Err(DescriptorError::MaxPacket0(12)));
        assert_eq!(max_packet0_from_prefix(&bad[..8]), Err(DescriptorError::MaxPacket0(12)));
        bad[7] = 8;
        bad[17] = 0;
        assert_eq!(DeviceDescriptor::parse(&bad), Err(DescriptorError::NoConfigurations));
        assert!(matches!(DeviceDescriptor::parse(&HUB_DEVICE[..17]), Err(DescriptorError::Truncated { .. })));
        assert!(matches!(max_packet0_from_prefix(&HUB_DEVICE[..7]), Err(DescriptorError::Truncated { .. })));
    }

    #[test]
    fn rejects_broken_configurations() {
        // Zero bLength inside the configuration would never advance.
        let mut zero = ECM_CONFIG.to_vec();
        zero[9] = 0;
        assert_eq!(Configuration::parse(&zero), Err(DescriptorError::BadLength { offset: 9, length: 0 }));
        // An interface that declares 3 endpoints but has 2.
        let mut missing = ECM_CONFIG.to_vec();
        missing[61] = 3;
        assert_eq!(
            Configuration::parse(&missing),
            Err(DescriptorError::MissingEndpoints { interface: 1, declared: 3, found: 2 })
        );
        // wTotalLength longer than what arrived.
        assert!(matches!(Configuration::parse(&ECM_CONFIG[..79]), Err(DescriptorError::TotalLength { .. })));
        // The last descriptor reaching past wTotalLength.
        let mut overrun = ECM_CONFIG.to_vec();
        overrun[2] = 78;
        assert!(matches!(Configuration::parse(&overrun), Err(DescriptorError::Overrun { .. })));
        // Endpoint 0 in an endpoint descriptor, and a zero max packet size.
        let mut ep0 = ECM_CONFIG.to_vec();
        ep0[68] = 0x80;
        assert!(matches!(Configuration::parse(&ep0), Err(DescriptorError::Endpoint { .. })));
        let mut mps0 = ECM_CONFIG.to_vec();
        mps0[70] = 0;
        assert!(matches!(Configuration::parse(&mps0), Err(DescriptorError::Endpoint { .. })));
        // An endpoint before any interface.
        let orphan = [9, 2, 16, 0, 1, 1, 0, 0x80, 0, 7, 5, 0x81, 3, 8, 0, 1];
        assert_eq!(Configuration::parse(&orphan), Err(DescriptorError::OrphanEndpoint { offset: 9 }));
    }

    #[test]
    fn decodes_strings_and_languages() {
        let product = [10, 3, b'Q', 0, b'E', 0, b'M', 0, 0xe9, 0];
        let mut out = [0u8; 8];
        assert_eq!(decode_string(&product, &mut out), Ok(4));
        assert_eq!(&out[..4], b"QEM?");
        let mut short = [0u8; 2];
        assert_eq!(decode_string(&product, &mut short), Ok(2));
        assert_eq!(first_language(&[4, 3, 0x09, 0x04]), Ok(Some(0x0409)));
        assert_eq!(first_language(&[2, 3]), Ok(None));
        assert_eq!(decode_string(&[5, 3, 0, 0, 0], &mut out), Err(DescriptorError::OddString(5)));
        assert!(matches!(decode_string(&[8, 3, b'a', 0], &mut out), Err(DescriptorError::Truncated { .. })));
        assert!(matches!(decode_string(&[8, 4, b'a', 0], &mut out), Err(DescriptorError::WrongType { .. })));
    }

    #[test]
    fn parses_hub_descriptors() {
        let qemu = [11, 0x29, 8, 0x0a, 0, 1, 0, 0, 0, 0xff, 0xff];
        let hub = HubDescriptor::parse(&qemu).expect("valid");
        assert_eq!((hub.ports, hub.characteristics, hub.power_on_to_good_2ms), (8, 0x0a, 1));
        let mut none = qemu;
        none[2] = 0;
        assert_eq!(HubDescriptor::parse(&none), Err(DescriptorError::HubPorts(0)));
        none[2] = 16;
        assert_eq!(HubDescriptor::parse(&none), Err(DescriptorError::HubPorts(16)));
        assert!(matches!(HubDescriptor::parse(&qemu[..6]), Err(DescriptorError::Truncated { .. })));
    }

    /// Uses every accessor of a parsed configuration (none may panic).
    fn exercise(config: &Configuration<'_>) -> usize {
        let mut seen = 0;
        for interface in config.interfaces() {
            seen += interface.extra().map(|raw| raw.bytes.len()).sum::<usize>();
            seen += interface.endpoints().map(|e| e.max_packet as usize).sum::<usize>();
        }
        seen
    }

    #[test]
    fn mutated_descriptors_give_errors_not_panics() {
        let mut rng = testkit::Rng::new(0x5eed_1234_abcd_0001);
        let mut accepted = 0;
        let mut rejected = 0;
        for round in 0..20_000 {
            let mut bytes = ECM_CONFIG.to_vec();
            match round % 4 {
                // Flip random bytes.
                0 | 1 => {
                    for _ in 0..1 + rng.next_u64() % 4 {
                        let at = (rng.next_u64() as usize) % bytes.len();
                        bytes[at] = rng.next_u64() as u8;
                    }
                }
                // Truncate anywhere.
                2 => bytes.truncate((rng.next_u64() as usize) % (bytes.len() + 1)),
                // Pure noise with a plausible header.
                _ => {
                    let len = (rng.next_u64() % 96) as usize;
                    bytes = (0..len).map(|_| rng.next_u64() as u8).collect();
                    if len >= 4 {
                        bytes[1] = kind::CONFIGURATION;
                        bytes[2] = len as u8;
                        bytes[3] = 0;
                    }
                }
            }
            match Configuration::parse(&bytes) {
                Ok(config) => {
                    accepted += 1;
                    exercise(&config);
                }
                Err(error) => {
                    rejected += 1;
                    let _ = format!("{error}");
                }
            }
            let _ = DeviceDescriptor::parse(&bytes);
            let _ = max_packet0_from_prefix(&bytes);
            let _ = HubDescriptor::parse(&bytes);
            let _ = decode_string(&bytes, &mut [0u8; 16]);
            let _ = first_language(&bytes);
            let _ = Endpoint::parse(&bytes);
        }
        assert!(accepted > 100 && rejected > 1000, "accepted {accepted}, rejected {rejected}");
    }

    #[test]
    fn every_truncation_of_a_valid_configuration_is_an_error() {
        for len in 0..ECM_CONFIG.len() {
            assert!(Configuration::parse(&ECM_CONFIG[..len]).is_err(), "accepted {len} bytes");
        }
    }
}
