//! CDC-ECM: Ethernet frames over a pair of USB bulk endpoints.
//!
//! Specs: USB CDC 1.2 (functional descriptors: header, union) and the ECM 1.2 subclass
//! (Ethernet networking functional descriptor, SET_ETHERNET_PACKET_FILTER, the
//! NETWORK_CONNECTION and CONNECTION_SPEED_CHANGE notifications).
//!
//! A CDC-ECM function is a communication interface (class 2, subclass 6) whose union
//! descriptor names a data interface (class 0x0A); the data interface's alternate setting
//! 0 has no endpoints and the one with a bulk IN and a bulk OUT endpoint carries the
//! frames, one frame per transfer, ended by a short packet. The MAC address is the string
//! descriptor named by iMACAddress, 12 hex digits.
//!
//! QEMU's `usb-net` offers two configurations: RNDIS (value 2, listed first) and CDC-ECM
//! (value 1); [`probe`] reads each and picks the one with an ECM function.
//! SET_ETHERNET_PACKET_FILTER is optional for a device (QEMU 10 accepts it, older QEMU and
//! some adapters stall it), so a stall is ignored. QEMU's notification endpoint always
//! NAKs in ECM mode, so the link counts as up until a notification says otherwise.
//!
//! Frames whose length is a multiple of the bulk OUT max packet size would need a
//! zero-length packet to end the transfer; like Linux's usbnet, the driver instead appends
//! one padding byte (the receiver's IP layer ignores trailing bytes).

use super::{
    bulk::{self, BulkLink},
    descriptor::{Configuration, Endpoint},
    DeviceInfo, Direction, Error, Host, Pipe, SetupPacket, TransferType,
};
use crate::net::{Counters, EthernetDevice, NetError, MAX_FRAME};

/// Communication interface class.
const CLASS_COMMUNICATION: u8 = 0x02;
/// Ethernet Control Model subclass.
const SUBCLASS_ECM: u8 = 0x06;
/// CDC data interface class.
const CLASS_DATA: u8 = 0x0a;
/// Functional descriptor subtypes (CDC 1.2 table 13).
const SUBTYPE_UNION: u8 = 0x06;
const SUBTYPE_ETHERNET: u8 = 0x0f;

/// SET_ETHERNET_PACKET_FILTER request and the filter bits (ECM 1.2 table 8).
const SET_ETHERNET_PACKET_FILTER: u8 = 0x43;
const FILTER_ALL_MULTICAST: u16 = 1 << 1;
const FILTER_DIRECTED: u16 = 1 << 2;
const FILTER_BROADCAST: u16 = 1 << 3;

/// Bytes asked for per receive transfer: a multiple of both full-speed (64) and
/// high-speed (512) packet sizes above any frame, so every frame ends with a short packet.
/// Above 1536 bytes QEMU's DWC2 model also moves a whole frame in one step instead of one
/// packet every 250 µs.
pub const RX_TRANSFER: usize = 2048;

/// How often [`EthernetDevice::link_up`] reads the notification endpoint.
const NOTIFY_POLL_US: u64 = 100_000;

/// Largest configuration descriptor read while probing.
const CONFIG_MAX: usize = 512;

/// Most configurations probed.
const MAX_CONFIGURATIONS: u8 = 4;

/// A CDC-ECM function found in a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcmFunction {
    /// bConfigurationValue of the configuration that has it.
    pub configuration: u8,
    /// Communication (control) interface number.
    pub control_interface: u8,
    /// Data interface number.
    pub data_interface: u8,
    /// Alternate setting of the data interface with the bulk endpoints.
    pub data_alternate: u8,
    /// iMACAddress string index.
    pub mac_string: u8,
    /// wMaxSegmentSize: the largest frame the device handles (a nonsensical value below
    /// the 60-byte Ethernet minimum is read as the standard 1514).
    pub max_segment: u16,
    /// Bulk IN endpoint (frames from the network).
    pub bulk_in: Endpoint,
    /// Bulk OUT endpoint (frames to the network).
    pub bulk_out: Endpoint,
    /// Interrupt IN notification endpoint, if any.
    pub notify: Option<Endpoint>,
}

/// Finds a CDC-ECM function in a checked configuration.
pub fn find(config: &Configuration<'_>) -> Option<EcmFunction> {
    config.interfaces().find_map(|control| {
        if control.class != CLASS_COMMUNICATION || control.subclass != SUBCLASS_ECM {
            return None;
        }
        let mut data_interface = None;
        let mut ethernet = None;
        for raw in control.extra() {
            // bLength ≥ 2 is guaranteed; subtype-specific lengths are checked here.
            match (raw.kind, raw.bytes.get(2)) {
                (super::descriptor::kind::CS_INTERFACE, Some(&SUBTYPE_UNION)) if raw.bytes.len() >= 5 => {
                    data_interface = Some(raw.bytes[4]);
                }
                (super::descriptor::kind::CS_INTERFACE, Some(&SUBTYPE_ETHERNET)) if raw.bytes.len() >= 13 => {
                    let segment = u16::from_le_bytes([raw.bytes[8], raw.bytes[9]]);
                    ethernet = Some((raw.bytes[3], if segment < 60 { MAX_FRAME as u16 } else { segment }));
                }
                _ => {}
            }
        }
        let (mac_string, max_segment) = ethernet?;
        let data_number = data_interface.unwrap_or(control.number.wrapping_add(1));
        let notify = control.endpoints().find(|e| e.kind == TransferType::Interrupt && e.direction == Direction::In);
        config.interfaces().filter(|i| i.number == data_number && i.class == CLASS_DATA).find_map(|data| {
            let bulk = |direction| data.endpoints().find(|e| e.kind == TransferType::Bulk && e.direction == direction);
            Some(EcmFunction {
                configuration: config.header.value,
                control_interface: control.number,
                data_interface: data.number,
                data_alternate: data.alternate,
                mac_string,
                max_segment,
                bulk_in: bulk(Direction::In)?,
                bulk_out: bulk(Direction::Out)?,
                notify,
            })
        })
    })
}

/// Reads the device's configurations and returns its CDC-ECM function, if it has one.
pub fn probe(host: &mut impl Host, device: &DeviceInfo) -> Result<Option<EcmFunction>, Error> {
    let target = device.target();
    let mut buffer = [0u8; CONFIG_MAX];
    for index in 0..device.descriptor.configurations.min(MAX_CONFIGURATIONS) {
        let length = super::read_configuration(host, &target, index, &mut buffer)?;
        if let Some(function) = find(&Configuration::parse(&buffer[..length])?) {
            return Ok(Some(function));
        }
    }
    Ok(None)
}

/// Parses an iMACAddress string: exactly 12 hex digits of a unicast, non-zero address.
pub fn parse_mac(text: &[u8]) -> Result<[u8; 6], Error> {
    if text.len() != 12 {
        return Err(Error::MacAddress);
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(Error::MacAddress),
    };
    let mut mac = [0u8; 6];
    for (byte, pair) in mac.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    if mac[0] & 1 != 0 || mac == [0; 6] {
        return Err(Error::MacAddress);
    }
    Ok(mac)
}

/// A notification from the interrupt endpoint (CDC 1.2 6.3, ECM 1.2 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notification {
    /// NETWORK_CONNECTION: the link went up (`true`) or down.
    Connection(bool),
    /// CONNECTION_SPEED_CHANGE: downstream and upstream bit rates.
    Speed {
        /// Device to host bit/s.
        down: u32,
        /// Host to device bit/s.
        up: u32,
    },
    /// Any other notification code.
    Other(u8),
}

/// Parses a notification: the 8-byte header, plus 8 data bytes for a speed change.
pub fn parse_notification(bytes: &[u8]) -> Result<Notification, Error> {
    if bytes.len() < 8 {
        return Err(Error::ShortReply { expected: 8, got: bytes.len() });
    }
    let value = u16::from_le_bytes([bytes[2], bytes[3]]);
    Ok(match bytes[1] {
        0x00 => Notification::Connection(value != 0),
        0x2a => {
            let data = bytes.get(8..16).ok_or(Error::ShortReply { expected: 16, got: bytes.len() })?;
            Notification::Speed {
                down: u32::from_le_bytes([data[0], data[1], data[2], data[3]]),
                up: u32::from_le_bytes([data[4], data[5], data[6], data[7]]),
            }
        }
        code => Notification::Other(code),
    })
}

/// A CDC-ECM NIC: owns its host controller and keeps a receive transfer armed.
pub struct CdcEcm<H: Host> {
    frames: BulkLink<H>,
    function: EcmFunction,
    mac: [u8; 6],
    notify: Option<Pipe>,
    link: Option<bool>,
    last_notify_poll: Option<u64>,
    filter_accepted: bool,
}

impl<H: Host> CdcEcm<H> {
    /// Configures `device` for `function` (found by [`probe`]): SET_CONFIGURATION, the MAC
    /// from its string, the data interface's alternate setting, the packet filter; then
    /// arms the first receive.
    pub fn open(mut host: H, device: &DeviceInfo, function: &EcmFunction) -> Result<Self, Error> {
        bulk::check_slots(&host)?;
        let target = device.target();
        host.control(&target, &SetupPacket::set_configuration(function.configuration), &mut [])?;

        let language = if device.language != 0 { device.language } else { 0x0409 };
        let mut text = [0u8; 16];
        let length = super::read_string(&mut host, &target, function.mac_string, language, &mut text)?;
        let mac = parse_mac(&text[..length])?;

        // Alternate setting 0 first resets the data interface (ECM 1.2 3.3), then the one
        // with the endpoints starts it; both leave the bulk toggles at DATA0.
        host.control(&target, &SetupPacket::set_interface(function.data_interface, 0), &mut [])?;
        host.control(&target, &SetupPacket::set_interface(function.data_interface, function.data_alternate), &mut [])?;

        let filter = SetupPacket {
            request_type: 0x21,
            request: SET_ETHERNET_PACKET_FILTER,
            value: FILTER_DIRECTED | FILTER_BROADCAST | FILTER_ALL_MULTICAST,
            index: function.control_interface as u16,
            length: 0,
        };
        let filter_accepted = match host.control(&target, &filter, &mut []) {
            Ok(_) => true,
            Err(Error::Stall { .. }) => false,
            Err(error) => return Err(error),
        };

        Ok(Self {
            notify: function.notify.map(|endpoint| Pipe::new(&target, &endpoint)),
            frames: BulkLink::open(host, target, &function.bulk_in, &function.bulk_out, RX_TRANSFER)?,
            function: *function,
            mac,
            link: None,
            last_notify_poll: None,
            filter_accepted,
        })
    }

    /// The simulated bus behind the NIC, for tests.
    #[cfg(test)]
    pub(crate) fn host_mut(&mut self) -> &mut H {
        &mut self.frames.host
    }

    /// The function this NIC drives.
    pub fn function(&self) -> &EcmFunction {
        &self.function
    }

    /// Whether the device accepted SET_ETHERNET_PACKET_FILTER (some devices stall it).
    pub fn filter_accepted(&self) -> bool {
        self.filter_accepted
    }
}

impl<H: Host> EthernetDevice for CdcEcm<H> {
    fn name(&self) -> &'static str {
        "usb-cdc-ecm"
    }

    fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        let now = self.frames.host.now_us();
        let due = self.last_notify_poll.is_none_or(|at| now.saturating_sub(at) >= NOTIFY_POLL_US);
        if let (true, Some(pipe)) = (due, self.notify.as_mut()) {
            self.last_notify_poll = Some(now);
            let mut bytes = [0u8; 16];
            let length = (pipe.max_packet as usize).clamp(8, bytes.len());
            if let Ok(Some(got)) = self.frames.host.interrupt_in(pipe, &mut bytes[..length]) {
                if let Ok(Notification::Connection(up)) = parse_notification(&bytes[..got]) {
                    self.link = Some(up);
                }
            }
        }
        self.link.unwrap_or(true)
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetError> {
        // One frame per transfer, straight into the caller's buffer.
        self.frames.receive(buffer, |counters, frame| {
            counters.rx_frames += 1;
            counters.rx_bytes += frame.len() as u64;
            Ok(Some(frame.len()))
        })
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        if frame.len() < 14 || frame.len() > MAX_FRAME || frame.len() > self.function.max_segment as usize {
            return Err(NetError::Size);
        }
        let mut padded = [0u8; MAX_FRAME + 1];
        let data = if self.frames.ends_on_packet(frame.len()) {
            padded[..frame.len()].copy_from_slice(frame);
            &padded[..frame.len() + 1]
        } else {
            frame
        };
        self.frames.send(data, frame.len())
    }

    fn counters(&self) -> Counters {
        self.frames.counters
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::usb::descriptor::tests::ECM_CONFIG;
    use testkit::Rng;

    #[test]
    fn finds_the_ecm_function_of_qemu_usb_net() {
        let config = Configuration::parse(ECM_CONFIG).expect("valid");
        let function = find(&config).expect("ECM function");
        assert_eq!(function.configuration, 1);
        assert_eq!((function.control_interface, function.data_interface, function.data_alternate), (0, 1, 1));
        assert_eq!((function.mac_string, function.max_segment), (3, 1514));
        assert_eq!((function.bulk_in.number, function.bulk_in.direction), (2, Direction::In));
        assert_eq!((function.bulk_out.number, function.bulk_out.direction), (2, Direction::Out));
        assert_eq!(function.notify.map(|e| e.number), Some(1));
    }

    #[test]
    fn an_rndis_configuration_is_not_ecm() {
        let mut rndis = ECM_CONFIG.to_vec();
        rndis[15] = 2; // control interface subclass: ACM (RNDIS), not ECM
        let config = Configuration::parse(&rndis).expect("still well formed");
        assert_eq!(find(&config), None);
        // A data interface without its bulk OUT endpoint is not usable either.
        let mut one_way = ECM_CONFIG.to_vec();
        one_way[75] = 0x83; // bulk OUT 2 becomes bulk IN 3
        assert_eq!(find(&Configuration::parse(&one_way).expect("well formed")), None);
    }

    #[test]
    fn mac_strings() {
        assert_eq!(parse_mac(b"400102030405"), Ok([0x40, 1, 2, 3, 4, 5]));
        assert_eq!(parse_mac(b"40AbCdEf0910"), Ok([0x40, 0xab, 0xcd, 0xef, 0x09, 0x10]));
        assert_eq!(parse_mac(b"40010203040"), Err(Error::MacAddress));
        assert_eq!(parse_mac(b"4001020304055"), Err(Error::MacAddress));
        assert_eq!(parse_mac(b"40010203040g"), Err(Error::MacAddress));
        assert_eq!(parse_mac(b"410102030405"), Err(Error::MacAddress), "multicast");
        assert_eq!(parse_mac(b"000000000000"), Err(Error::MacAddress));
        assert_eq!(parse_mac(b"40:1:2:3:4:5"), Err(Error::MacAddress));
    }

    #[test]
    fn notifications() {
        assert_eq!(parse_notification(&[0xa1, 0, 1, 0, 0, 0, 0, 0]), Ok(Notification::Connection(true)));
        assert_eq!(parse_notification(&[0xa1, 0, 0, 0, 0, 0, 0, 0]), Ok(Notification::Connection(false)));
        let speed = [0xa1, 0x2a, 0, 0, 0, 0, 8, 0, 0x00, 0xe1, 0xf5, 0x05, 0x00, 0xe1, 0xf5, 0x05];
        assert_eq!(parse_notification(&speed), Ok(Notification::Speed { down: 100_000_000, up: 100_000_000 }));
        assert!(parse_notification(&speed[..12]).is_err());
        assert!(parse_notification(&[0xa1, 0]).is_err());
        assert_eq!(parse_notification(&[0xa1, 0x01, 0, 0, 0, 0, 0, 0]), Ok(Notification::Other(1)));
    }

    #[test]
    fn mutated_configurations_never_panic_the_function_search() {
        let mut rng = Rng::new(0x0ecb_0000_1111_2222);
        let mut found = 0;
        for _ in 0..20_000 {
            let mut bytes = ECM_CONFIG.to_vec();
            for _ in 0..1 + rng.next_u64() % 3 {
                let at = (rng.next_u64() as usize) % bytes.len();
                bytes[at] = rng.next_u64() as u8;
            }
            if let Ok(config) = Configuration::parse(&bytes) {
                if find(&config).is_some() {
                    found += 1;
                }
            }
            let _ = parse_notification(&bytes[(rng.next_u64() as usize) % bytes.len()..]);
            let _ = parse_mac(&bytes[..(rng.next_u64() as usize) % 16]);
        }
        assert!(found > 100, "only {found} mutants kept a usable function");
    }
}
