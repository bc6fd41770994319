//! The composite gadget's descriptors: one configuration with two functions, each behind an
//! Interface Association Descriptor so Windows loads its composite driver (usbccgp) and a
//! class driver per function:
//!
//! ```text
//! interface 0  CDC-ACM communication (02/02/01)  EP 0x81 interrupt IN (notifications)
//! interface 1  CDC data (0A)                     EP 0x82 bulk IN, EP 0x02 bulk OUT
//! interface 2  CDC-NCM communication (02/0D/00)  EP 0x83 interrupt IN (notifications)
//! interface 3  CDC data (0A/00/01), alternate 0 without endpoints, alternate 1 with
//!                                                EP 0x84 bulk IN, EP 0x04 bulk OUT
//! ```
//!
//! Specs: USB 2.0 9.6 (standard descriptors), the IAD ECN, CDC 1.2 5.2 (functional
//! descriptors), PSTN 1.2 5.3 (ACM), NCM 1.0 5 (the NCM functional descriptor, the data
//! interface's alternate settings, protocol 01 "network transfer block").

use super::EndpointConfig;
use crate::usb::{gadget::EndpointKind, Speed};
use core::fmt::Write;

/// Vendor id: the pid.codes open-source vendor id (1209).
pub const VENDOR: u16 = 0x1209;
/// Product id (a test id in that vendor's range).
pub const PRODUCT: u16 = 0x0001;

/// Interface numbers.
pub const ACM_CONTROL: u8 = 0;
/// The ACM function's data interface.
pub const ACM_DATA: u8 = 1;
/// The NCM function's communication interface.
pub const NCM_CONTROL: u8 = 2;
/// The NCM function's data interface.
pub const NCM_DATA: u8 = 3;

/// Endpoint addresses.
pub const ACM_NOTIFY: u8 = 0x81;
/// ACM bulk IN (device to host: console output).
pub const ACM_IN: u8 = 0x82;
/// ACM bulk OUT (host to device: console input).
pub const ACM_OUT: u8 = 0x02;
/// NCM notifications.
pub const NCM_NOTIFY: u8 = 0x83;
/// NCM bulk IN (network transfer blocks to the host).
pub const NCM_IN: u8 = 0x84;
/// NCM bulk OUT (network transfer blocks from the host).
pub const NCM_OUT: u8 = 0x04;

/// Notification endpoints' packet size.
pub const NOTIFY_PACKET: u16 = 16;

/// String descriptor indexes.
pub mod strings {
    /// Manufacturer.
    pub const MANUFACTURER: u8 = 1;
    /// Product.
    pub const PRODUCT: u8 = 2;
    /// Serial number.
    pub const SERIAL: u8 = 3;
    /// The console's interface name.
    pub const CONSOLE: u8 = 4;
    /// The network interface's name.
    pub const NETWORK: u8 = 5;
    /// The host-side MAC address (12 hex digits).
    pub const MAC: u8 = 6;
}

/// Bulk packet size at a speed (64 at full speed, 512 at high speed).
pub fn bulk_packet(speed: Speed) -> u16 {
    if speed == Speed::High {
        512
    } else {
        64
    }
}

/// The device descriptor (18 bytes).
pub fn device() -> [u8; 18] {
    let [v0, v1] = VENDOR.to_le_bytes();
    let [p0, p1] = PRODUCT.to_le_bytes();
    [
        18,
        1,
        0x00,
        0x02, // bcdUSB 2.00
        0xef,
        0x02,
        0x01, // miscellaneous class, common class, interface association (composite with IADs)
        64,   // bMaxPacketSize0
        v0,
        v1,
        p0,
        p1,
        0x00,
        0x01, // bcdDevice 1.00
        strings::MANUFACTURER,
        strings::PRODUCT,
        strings::SERIAL,
        1, // one configuration
    ]
}

/// The device qualifier (what the device would be at the other speed; USB 2.0 9.6.2).
pub fn qualifier() -> [u8; 10] {
    [10, 6, 0x00, 0x02, 0xef, 0x02, 0x01, 64, 1, 0]
}

/// Length of the configuration with all its descriptors.
pub const CONFIGURATION_LENGTH: usize =
    9 + (8 + 9 + 5 + 5 + 4 + 5 + 7 + 9 + 7 + 7) + (8 + 9 + 5 + 5 + 13 + 6 + 7 + 9 + 9 + 7 + 7);

/// The configuration descriptor set for `speed`; `kind` 2 (configuration) or 7 (other-speed
/// configuration, which describes the other speed's packet sizes).
pub fn configuration(speed: Speed, kind: u8) -> [u8; CONFIGURATION_LENGTH] {
    let bulk = bulk_packet(speed).to_le_bytes();
    let notify = NOTIFY_PACKET.to_le_bytes();
    // Interrupt polling: every 2^(n-1) microframes at high speed, every n frames otherwise.
    let interval = if speed == Speed::High { 8 } else { 16 };
    let total = (CONFIGURATION_LENGTH as u16).to_le_bytes();
    let mut out = [0u8; CONFIGURATION_LENGTH];
    let parts: [&[u8]; 22] = [
        // Configuration 1: 4 interfaces, bus powered, 100 mA.
        &[9, kind, total[0], total[1], 4, 1, 0, 0x80, 50],
        // --- CDC-ACM: the console ---
        &[8, 11, ACM_CONTROL, 2, 0x02, 0x02, 0x01, 0],
        &[9, 4, ACM_CONTROL, 0, 1, 0x02, 0x02, 0x01, strings::CONSOLE],
        &[5, 0x24, 0x00, 0x20, 0x01],            // header, CDC 1.20
        &[5, 0x24, 0x01, 0x00, ACM_DATA],        // call management: none by the device, data on interface 1
        &[4, 0x24, 0x02, 0x02],                  // ACM: line coding and serial state requests
        &[5, 0x24, 0x06, ACM_CONTROL, ACM_DATA], // union
        &[7, 5, ACM_NOTIFY, 3, notify[0], notify[1], interval],
        &[9, 4, ACM_DATA, 0, 2, 0x0a, 0, 0, 0],
        &[7, 5, ACM_IN, 2, bulk[0], bulk[1], 0],
        &[7, 5, ACM_OUT, 2, bulk[0], bulk[1], 0],
        // --- CDC-NCM: the network ---
        &[8, 11, NCM_CONTROL, 2, 0x02, 0x0d, 0x00, 0],
        &[9, 4, NCM_CONTROL, 0, 1, 0x02, 0x0d, 0x00, strings::NETWORK],
        &[5, 0x24, 0x00, 0x20, 0x01],            // header, CDC 1.20
        &[5, 0x24, 0x06, NCM_CONTROL, NCM_DATA], // union
        // Ethernet networking: the MAC string, no statistics, 1514-byte segments, no
        // multicast filters, no power filters.
        &[13, 0x24, 0x0f, strings::MAC, 0, 0, 0, 0, 0xea, 0x05, 0, 0, 0],
        &[6, 0x24, 0x1a, 0x00, 0x01, 0x00], // NCM 1.00, no optional requests
        &[7, 5, NCM_NOTIFY, 3, notify[0], notify[1], interval],
        &[9, 4, NCM_DATA, 0, 0, 0x0a, 0, 0x01, 0], // alternate 0: no traffic
        &[9, 4, NCM_DATA, 1, 2, 0x0a, 0, 0x01, 0], // alternate 1: running
        &[7, 5, NCM_IN, 2, bulk[0], bulk[1], 0],
        &[7, 5, NCM_OUT, 2, bulk[0], bulk[1], 0],
    ];
    let mut at = 0;
    for part in parts {
        out[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    debug_assert_eq!(at, CONFIGURATION_LENGTH);
    out
}

/// The endpoints SET_CONFIGURATION(1) opens at `speed`.
pub fn endpoints(speed: Speed) -> [EndpointConfig; 6] {
    let bulk = bulk_packet(speed);
    let endpoint = |address, kind, max_packet| EndpointConfig { address, kind, max_packet };
    [
        endpoint(ACM_NOTIFY, EndpointKind::Interrupt, NOTIFY_PACKET),
        endpoint(ACM_IN, EndpointKind::Bulk, bulk),
        endpoint(ACM_OUT, EndpointKind::Bulk, bulk),
        endpoint(NCM_NOTIFY, EndpointKind::Interrupt, NOTIFY_PACKET),
        endpoint(NCM_IN, EndpointKind::Bulk, bulk),
        endpoint(NCM_OUT, EndpointKind::Bulk, bulk),
    ]
}

/// Who the gadget says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The product string ("Kingly OS on Raspberry Pi Zero 2 W").
    pub product: &'static str,
    /// The board's serial number (from the firmware), as the USB serial.
    pub serial: u64,
    /// The MAC address the host's network interface takes (iMACAddress).
    pub host_mac: [u8; 6],
}

/// Longest string descriptor built (in UTF-16 units).
const MAX_STRING: usize = 63;

/// String descriptor `index` (0: the language list, US English), UTF-16LE; `None` for an
/// index the device does not have.
pub fn string(identity: &Identity, index: u8, out: &mut [u8; 2 + 2 * MAX_STRING]) -> Option<usize> {
    let mut text = heapless_text::Text::new();
    match index {
        0 => {
            out[..4].copy_from_slice(&[4, 3, 0x09, 0x04]);
            return Some(4);
        }
        strings::MANUFACTURER => {
            let _ = text.write_str("Kingly OS");
        }
        strings::PRODUCT => {
            let _ = text.write_str(identity.product);
        }
        strings::SERIAL => {
            let _ = write!(text, "{:016x}", identity.serial);
        }
        strings::CONSOLE => {
            let _ = text.write_str("Kingly OS console");
        }
        strings::NETWORK => {
            let _ = text.write_str("Kingly OS network");
        }
        strings::MAC => {
            for byte in identity.host_mac {
                let _ = write!(text, "{byte:02X}");
            }
        }
        _ => return None,
    }
    let mut length = 2;
    for unit in text.as_str().encode_utf16().take(MAX_STRING) {
        out[length..length + 2].copy_from_slice(&unit.to_le_bytes());
        length += 2;
    }
    out[0] = length as u8;
    out[1] = 3;
    Some(length)
}

/// A fixed-capacity text buffer (strings are built without allocating).
mod heapless_text {
    /// Up to 64 bytes of text.
    pub struct Text {
        bytes: [u8; 64],
        len: usize,
    }

    impl Text {
        pub fn new() -> Self {
            Text { bytes: [0; 64], len: 0 }
        }

        pub fn as_str(&self) -> &str {
            core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
        }
    }

    impl core::fmt::Write for Text {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            // Whole characters only, so the buffer always holds valid UTF-8.
            for c in s.chars() {
                let mut encoded = [0u8; 4];
                let encoded = c.encode_utf8(&mut encoded).as_bytes();
                if self.len + encoded.len() > self.bytes.len() {
                    return Err(core::fmt::Error);
                }
                self.bytes[self.len..self.len + encoded.len()].copy_from_slice(encoded);
                self.len += encoded.len();
            }
            Ok(())
        }
    }
}

/// The MAC addresses of the link, derived from the board's serial so a host keeps the same
/// interface (and its settings) for the same board: both locally administered unicast, the
/// host's and the board's differing in their last bit.
pub fn link_macs(serial: u64) -> ([u8; 6], [u8; 6]) {
    let mixed = serial.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (serial >> 29);
    let b = mixed.to_le_bytes();
    let host = [0x02, b[0], b[1], b[2], b[3], b[4] & 0xfe];
    let mut board = host;
    board[5] |= 1;
    (host, board)
}

/// String descriptor buffer size.
pub const STRING_BYTES: usize = 2 + 2 * MAX_STRING;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usb::descriptor::{Configuration, DeviceDescriptor};

    #[test]
    fn the_descriptors_parse_with_the_host_side_parsers() {
        let device = DeviceDescriptor::parse(&device()).expect("device descriptor");
        assert_eq!((device.class, device.subclass, device.protocol), (0xef, 2, 1));
        for speed in [Speed::High, Speed::Full] {
            let bytes = configuration(speed, 2);
            let config = Configuration::parse(&bytes).expect("configuration");
            assert_eq!(config.header.total_length as usize, CONFIGURATION_LENGTH);
            let interfaces: std::vec::Vec<_> = config.interfaces().collect();
            assert_eq!(interfaces.len(), 5, "4 interfaces, the NCM data one twice");
            let ncm_data: std::vec::Vec<_> = interfaces.iter().filter(|i| i.number == NCM_DATA).collect();
            assert_eq!(ncm_data[0].endpoints().count(), 0, "alternate 0 has no endpoints");
            let bulk = ncm_data[1].endpoints().map(|e| e.max_packet).collect::<std::vec::Vec<_>>();
            assert_eq!(bulk, [bulk_packet(speed); 2]);
            // Every endpoint the descriptors name is one SET_CONFIGURATION opens.
            let named: std::vec::Vec<_> =
                interfaces.iter().flat_map(|i| i.endpoints()).map(|e| (e.number, e.max_packet)).collect();
            for opened in endpoints(speed) {
                assert!(named.contains(&(opened.address & 0x0f, opened.max_packet)), "{opened:?}");
            }
        }
        assert_eq!(configuration(Speed::Full, 7)[1], 7);
    }

    extern crate std;

    #[test]
    fn strings_are_utf16_and_the_mac_is_twelve_hex_digits() {
        let (host_mac, board_mac) = link_macs(0x1234_5678_9abc_def0);
        assert_eq!(host_mac[0] & 3, 2, "locally administered unicast");
        assert_ne!(host_mac, board_mac);
        assert_eq!(link_macs(0x1234_5678_9abc_def0).0, host_mac, "stable for a board");
        let identity = Identity { product: "Kingly OS on Raspberry Pi 4 Model B", serial: 0xabc, host_mac };
        let mut out = [0u8; STRING_BYTES];
        assert_eq!(string(&identity, 0, &mut out), Some(4));
        let n = string(&identity, strings::MAC, &mut out).unwrap();
        assert_eq!(n, 2 + 24);
        let mut text = [0u8; 32];
        let len = crate::usb::descriptor::decode_string(&out[..n], &mut text).unwrap();
        let mac = core::str::from_utf8(&text[..len]).unwrap();
        assert_eq!(mac.len(), 12);
        assert!(mac.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(string(&identity, 99, &mut out), None);
    }
}
