//! SMSC LAN9512/LAN9514 (USB ID 0424:ec00): the Ethernet controller on the Raspberry Pi 1 B,
//! 2 B and 3 B, behind the chip's own hub on the DWC2 root port. Not CDC-ECM: a vendor
//! class with its own register file, reached through vendor control requests, and
//! frames wrapped in small headers on two bulk endpoints.
//!
//! Sources: the LAN9512/LAN9514 data sheet (SMSC DS00002306A: "USB Vendor Commands",
//! "System Control and Status Registers", "MAC Control and Status Registers", the TX
//! command words and the RX status word) and the internal PHY's IEEE 802.3 clause 22
//! registers. Linux's `smsc95xx` and U-Boot's `usb_ether/smsc95xx` drive the chip the
//! same way; this driver takes the simplest of their paths: one frame per transfer
//! (no multiple-frames-per-transfer "turbo" mode), no checksum offload, no VLAN, link from
//! the PHY's status register polled every 100 ms.
//!
//! Register access: `bmRequestType` 0x40/0xC0 (vendor, device), `bRequest` 0xA0 (write) or
//! 0xA1 (read), `wIndex` = register offset, 4 data bytes little-endian.
//!
//! **Untested on real hardware**: QEMU emulates no LAN9514, so the driver is checked only
//! against the simulated chip in [`super::sim`], which models the registers this driver
//! uses as the data sheet describes them.

use super::{
    bulk::{self, BulkLink},
    descriptor::{Configuration, Endpoint},
    DeviceInfo, Direction, Error, Host, SetupPacket, Target, TransferType,
};
use crate::net::{Counters, EthernetDevice, NetError, MAX_FRAME};

/// USB vendor id of SMSC (now Microchip).
pub const VENDOR: u16 = 0x0424;
/// Product id of the LAN9512/LAN9514 Ethernet function.
pub const PRODUCT: u16 = 0xec00;

/// Vendor requests.
const WRITE_REGISTER: u8 = 0xa0;
const READ_REGISTER: u8 = 0xa1;

/// Registers (byte offsets) and the bits used.
pub mod reg {
    /// Chip id (bits 31:16) and revision.
    pub const ID_REV: u16 = 0x00;
    /// Interrupt status (write 1 to clear).
    pub const INT_STS: u16 = 0x08;
    /// Transmit configuration.
    pub const TX_CFG: u16 = 0x10;
    /// TX_CFG: transmitter on.
    pub const TX_CFG_ON: u32 = 1 << 2;
    /// Hardware configuration.
    pub const HW_CFG: u16 = 0x14;
    /// HW_CFG: lite reset (self-clearing).
    pub const HW_CFG_LRST: u32 = 1 << 3;
    /// HW_CFG: multiple Ethernet frames per USB transfer.
    pub const HW_CFG_MEF: u32 = 1 << 5;
    /// HW_CFG: burst cap enable.
    pub const HW_CFG_BCE: u32 = 1 << 1;
    /// HW_CFG: bulk-in empty response (NAK instead of a zero-length packet).
    pub const HW_CFG_BIR: u32 = 1 << 12;
    /// HW_CFG: receive data offset (bits 10:9).
    pub const HW_CFG_RXDOFF: u32 = 3 << 9;
    /// Power management control.
    pub const PM_CTRL: u16 = 0x20;
    /// PM_CTRL: PHY reset (self-clearing).
    pub const PM_CTRL_PHY_RST: u32 = 1 << 4;
    /// LED/GPIO configuration.
    pub const LED_GPIO_CFG: u16 = 0x24;
    /// LED_GPIO_CFG: the speed, link and duplex LEDs driven by the PHY.
    pub const LED_GPIO_CFG_LEDS: u32 = 0x0111_0000;
    /// Burst cap (only used with multiple frames per transfer).
    pub const BURST_CAP: u16 = 0x38;
    /// Automatic flow control configuration.
    pub const AFC_CFG: u16 = 0x2c;
    /// AFC_CFG value the vendor drivers use.
    pub const AFC_CFG_DEFAULT: u32 = 0x00f8_30a1;
    /// Bulk-in delay (units of 16.7 ns).
    pub const BULK_IN_DLY: u16 = 0x6c;
    /// BULK_IN_DLY value the vendor drivers use.
    pub const BULK_IN_DLY_DEFAULT: u32 = 0x2000;
    /// MAC control.
    pub const MAC_CR: u16 = 0x100;
    /// MAC_CR: receiver enable.
    pub const MAC_CR_RXEN: u32 = 1 << 2;
    /// MAC_CR: transmitter enable.
    pub const MAC_CR_TXEN: u32 = 1 << 3;
    /// MAC_CR: promiscuous, pass all multicast, hash-perfect filtering (all cleared).
    pub const MAC_CR_FILTERS: u32 = (1 << 18) | (1 << 19) | (1 << 13);
    /// MAC address, bytes 4-5.
    pub const ADDRH: u16 = 0x104;
    /// MAC address, bytes 0-3.
    pub const ADDRL: u16 = 0x108;
    /// PHY management address/command.
    pub const MII_ADDR: u16 = 0x114;
    /// MII_ADDR: busy (set to start, clears when done).
    pub const MII_BUSY: u32 = 1 << 0;
    /// MII_ADDR: write (else read).
    pub const MII_WRITE: u32 = 1 << 1;
    /// PHY management data.
    pub const MII_DATA: u16 = 0x118;
    /// Flow control.
    pub const FLOW: u16 = 0x11c;
    /// Checksum offload control.
    pub const COE_CR: u16 = 0x130;
}

/// The internal PHY's MII address and the clause 22 registers used.
pub mod phy {
    /// The LAN9514's internal PHY.
    pub const ADDRESS: u32 = 1;
    /// Basic control: reset (bit 15), auto-negotiation enable (12) and restart (9).
    pub const BMCR: u32 = 0;
    /// BMCR: reset.
    pub const BMCR_RESET: u16 = 1 << 15;
    /// BMCR: enable and restart auto-negotiation.
    pub const BMCR_AUTONEG: u16 = (1 << 12) | (1 << 9);
    /// Basic status: link up (bit 2).
    pub const BMSR: u32 = 1;
    /// BMSR: link status.
    pub const BMSR_LINK: u16 = 1 << 2;
    /// Auto-negotiation advertisement.
    pub const ADVERTISE: u32 = 4;
    /// ADVERTISE: 10/100 half and full duplex, symmetric pause, IEEE 802.3 selector.
    pub const ADVERTISE_ALL: u16 = 0x05e1;
}

/// TX command word A: first and last segment, buffer size in bits 10:0.
const TX_CMD_A_FIRST: u32 = 1 << 13;
const TX_CMD_A_LAST: u32 = 1 << 12;
/// Bytes of the two TX command words before each frame.
const TX_HEADER: usize = 8;
/// RX status word: frame length (bits 29:16, including the 4-byte FCS), error summary (15).
const RX_STATUS_ERROR: u32 = 1 << 15;
/// Bytes of the RX status word before each frame, and of the FCS after it.
const RX_HEADER: usize = 4;
const FCS: usize = 4;

/// Bytes asked for per receive transfer: a status word and the largest frame with its FCS,
/// rounded up to a multiple of the high-speed packet size, so a frame ends with a short
/// packet.
pub const RX_TRANSFER: usize = 2048;

/// How often [`EthernetDevice::link_up`] reads the PHY.
const LINK_POLL_US: u64 = 100_000;

/// Longest wait for a self-clearing reset or MII bit, in polls 1 ms apart.
const RESET_POLLS: u32 = 100;

/// The endpoints of the Ethernet function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// bConfigurationValue.
    pub configuration: u8,
    /// Bulk IN endpoint (frames from the network).
    pub bulk_in: Endpoint,
    /// Bulk OUT endpoint (frames to the network).
    pub bulk_out: Endpoint,
}

/// Whether `device` is a LAN9512/LAN9514 Ethernet function.
pub fn matches(device: &DeviceInfo) -> bool {
    device.descriptor.vendor == VENDOR && device.descriptor.product == PRODUCT
}

/// The bulk endpoints of the device's first interface that has both.
pub fn find(config: &Configuration<'_>) -> Option<Function> {
    config.interfaces().find_map(|interface| {
        let bulk = |direction| interface.endpoints().find(|e| e.kind == TransferType::Bulk && e.direction == direction);
        Some(Function {
            configuration: config.header.value,
            bulk_in: bulk(Direction::In)?,
            bulk_out: bulk(Direction::Out)?,
        })
    })
}

/// Reads the first configuration of a matching device and returns its function.
pub fn probe(host: &mut impl Host, device: &DeviceInfo) -> Result<Option<Function>, Error> {
    if !matches(device) {
        return Ok(None);
    }
    let mut buffer = [0u8; 256];
    let length = super::read_configuration(host, &device.target(), 0, &mut buffer)?;
    Ok(find(&Configuration::parse(&buffer[..length])?))
}

/// The TX command words for a frame of `length` bytes (one segment).
pub fn tx_header(length: usize) -> [u8; TX_HEADER] {
    let a = TX_CMD_A_FIRST | TX_CMD_A_LAST | (length as u32 & 0x7ff);
    let b = length as u32 & 0x7ff;
    let mut header = [0u8; TX_HEADER];
    header[..4].copy_from_slice(&a.to_le_bytes());
    header[4..].copy_from_slice(&b.to_le_bytes());
    header
}

/// Parses a received transfer (status word, frame, FCS): the frame's range in `bytes`, or
/// why it is dropped.
pub fn parse_rx(bytes: &[u8]) -> Result<core::ops::Range<usize>, NetError> {
    let status = bytes.get(..RX_HEADER).ok_or(NetError::Size)?;
    let status = u32::from_le_bytes([status[0], status[1], status[2], status[3]]);
    if status & RX_STATUS_ERROR != 0 {
        return Err(NetError::Device("LAN9514 reported a receive error"));
    }
    let length = ((status >> 16) & 0x3fff) as usize;
    if length < 14 + FCS || length - FCS > MAX_FRAME || RX_HEADER + length > bytes.len() {
        return Err(NetError::Size);
    }
    Ok(RX_HEADER..RX_HEADER + length - FCS)
}

/// A LAN9512/LAN9514 NIC: owns its host controller and keeps a receive transfer armed.
pub struct Smsc95xx<H: Host> {
    frames: BulkLink<H>,
    mac: [u8; 6],
    chip_id: u32,
    link: bool,
    last_link_poll: Option<u64>,
}

impl<H: Host> Smsc95xx<H> {
    /// Configures `device` (found by [`probe`]) with the MAC address `mac` (the Pi's comes
    /// from the firmware; the chip has no EEPROM on the Pi), resets the chip and its PHY,
    /// starts auto-negotiation, enables the transmitter and receiver, and arms the first
    /// receive.
    pub fn open(mut host: H, device: &DeviceInfo, function: &Function, mac: [u8; 6]) -> Result<Self, Error> {
        bulk::check_slots(&host)?;
        if mac[0] & 1 != 0 || mac == [0; 6] {
            return Err(Error::MacAddress);
        }
        let target = device.target();
        host.control(&target, &SetupPacket::set_configuration(function.configuration), &mut [])?;
        let mut chip = Registers { host: &mut host, target };
        chip.write(reg::HW_CFG, reg::HW_CFG_LRST)?;
        chip.wait_clear(reg::HW_CFG, reg::HW_CFG_LRST, "LAN9514 lite reset did not finish")?;
        chip.write(reg::PM_CTRL, reg::PM_CTRL_PHY_RST)?;
        chip.wait_clear(reg::PM_CTRL, reg::PM_CTRL_PHY_RST, "LAN9514 PHY reset did not finish")?;
        chip.write(reg::ADDRL, u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]))?;
        chip.write(reg::ADDRH, u16::from_le_bytes([mac[4], mac[5]]) as u32)?;
        // One frame per transfer, no data offset, NAK when there is nothing to receive.
        let hw_cfg = chip.read(reg::HW_CFG)?;
        chip.write(
            reg::HW_CFG,
            (hw_cfg | reg::HW_CFG_BIR) & !(reg::HW_CFG_MEF | reg::HW_CFG_BCE | reg::HW_CFG_RXDOFF),
        )?;
        chip.write(reg::BURST_CAP, 0)?;
        chip.write(reg::BULK_IN_DLY, reg::BULK_IN_DLY_DEFAULT)?;
        chip.write(reg::INT_STS, 0xffff_ffff)?;
        let chip_id = chip.read(reg::ID_REV)? >> 16;
        chip.write(reg::LED_GPIO_CFG, reg::LED_GPIO_CFG_LEDS)?;
        chip.write(reg::FLOW, 0)?;
        chip.write(reg::AFC_CFG, reg::AFC_CFG_DEFAULT)?;
        chip.write(reg::COE_CR, 0)?;
        // PHY: reset, advertise 10/100, auto-negotiate.
        chip.mii_write(phy::BMCR, phy::BMCR_RESET)?;
        let mut polls = 0;
        while chip.mii_read(phy::BMCR)? & phy::BMCR_RESET != 0 {
            polls += 1;
            if polls > RESET_POLLS {
                return Err(Error::Chip("LAN9514 PHY did not leave reset"));
            }
            chip.host.delay_ms(1);
        }
        chip.mii_write(phy::ADVERTISE, phy::ADVERTISE_ALL)?;
        chip.mii_write(phy::BMCR, phy::BMCR_AUTONEG)?;
        // Unicast to us and broadcast only; then transmitter and receiver on.
        let mac_cr = chip.read(reg::MAC_CR)? & !reg::MAC_CR_FILTERS;
        chip.write(reg::MAC_CR, mac_cr | reg::MAC_CR_TXEN)?;
        chip.write(reg::TX_CFG, reg::TX_CFG_ON)?;
        chip.write(reg::MAC_CR, mac_cr | reg::MAC_CR_TXEN | reg::MAC_CR_RXEN)?;

        Ok(Self {
            frames: BulkLink::open(host, target, &function.bulk_in, &function.bulk_out, RX_TRANSFER)?,
            mac,
            chip_id,
            link: false,
            last_link_poll: None,
        })
    }

    /// The chip id from ID_REV (0xec00 for the LAN9512/LAN9514).
    pub fn chip_id(&self) -> u32 {
        self.chip_id
    }

    /// The simulated bus behind the NIC, for tests.
    #[cfg(test)]
    pub(crate) fn host_mut(&mut self) -> &mut H {
        &mut self.frames.host
    }
}

/// Register and PHY access through vendor requests.
struct Registers<'h, H: Host> {
    host: &'h mut H,
    target: Target,
}

impl<H: Host> Registers<'_, H> {
    fn read(&mut self, register: u16) -> Result<u32, Error> {
        let setup = SetupPacket { request_type: 0xc0, request: READ_REGISTER, value: 0, index: register, length: 4 };
        let mut data = [0u8; 4];
        let got = self.host.control(&self.target, &setup, &mut data)?;
        if got < 4 {
            return Err(Error::ShortReply { expected: 4, got });
        }
        Ok(u32::from_le_bytes(data))
    }

    fn write(&mut self, register: u16, value: u32) -> Result<(), Error> {
        let setup = SetupPacket { request_type: 0x40, request: WRITE_REGISTER, value: 0, index: register, length: 4 };
        self.host.control(&self.target, &setup, &mut value.to_le_bytes())?;
        Ok(())
    }

    fn wait_clear(&mut self, register: u16, bits: u32, what: &'static str) -> Result<(), Error> {
        for _ in 0..RESET_POLLS {
            if self.read(register)? & bits == 0 {
                return Ok(());
            }
            self.host.delay_ms(1);
        }
        Err(Error::Chip(what))
    }

    fn mii_command(&mut self, register: u32, write: bool) -> Result<(), Error> {
        self.wait_clear(reg::MII_ADDR, reg::MII_BUSY, "LAN9514 PHY management stays busy")?;
        let command =
            phy::ADDRESS << 11 | (register & 0x1f) << 6 | if write { reg::MII_WRITE } else { 0 } | reg::MII_BUSY;
        self.write(reg::MII_ADDR, command)?;
        self.wait_clear(reg::MII_ADDR, reg::MII_BUSY, "LAN9514 PHY management stays busy")
    }

    fn mii_read(&mut self, register: u32) -> Result<u16, Error> {
        self.mii_command(register, false)?;
        Ok(self.read(reg::MII_DATA)? as u16)
    }

    fn mii_write(&mut self, register: u32, value: u16) -> Result<(), Error> {
        self.wait_clear(reg::MII_ADDR, reg::MII_BUSY, "LAN9514 PHY management stays busy")?;
        self.write(reg::MII_DATA, value as u32)?;
        self.mii_command(register, true)
    }
}

impl<H: Host> EthernetDevice for Smsc95xx<H> {
    fn name(&self) -> &'static str {
        "usb-lan9514"
    }

    fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        let now = self.frames.host.now_us();
        if self.last_link_poll.is_none_or(|at| now.saturating_sub(at) >= LINK_POLL_US) {
            self.last_link_poll = Some(now);
            let target = self.frames.target;
            let mut chip = Registers { host: &mut self.frames.host, target };
            // BMSR's link bit latches low: the second read is the current state.
            let _ = chip.mii_read(phy::BMSR);
            if let Ok(status) = chip.mii_read(phy::BMSR) {
                self.link = status & phy::BMSR_LINK != 0;
            }
        }
        self.link
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetError> {
        let mut transfer = [0u8; RX_TRANSFER];
        self.frames.receive(&mut transfer, |counters, bytes| match parse_rx(bytes) {
            Ok(frame) if frame.len() <= buffer.len() => {
                buffer[..frame.len()].copy_from_slice(&bytes[frame.clone()]);
                counters.rx_frames += 1;
                counters.rx_bytes += frame.len() as u64;
                Ok(Some(frame.len()))
            }
            Ok(_) | Err(NetError::Size) => {
                counters.dropped += 1;
                Err(NetError::Size)
            }
            Err(_) => {
                // A frame the chip flagged (CRC, runt, too long): dropped, not fatal.
                counters.dropped += 1;
                Ok(None)
            }
        })
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        if frame.len() < 14 || frame.len() > MAX_FRAME {
            return Err(NetError::Size);
        }
        // Command words, the frame, and one padding byte when the transfer would end on a
        // packet boundary (the chip takes the frame length from the command words).
        let mut data = [0u8; TX_HEADER + MAX_FRAME + 1];
        data[..TX_HEADER].copy_from_slice(&tx_header(frame.len()));
        data[TX_HEADER..TX_HEADER + frame.len()].copy_from_slice(frame);
        let mut length = TX_HEADER + frame.len();
        if self.frames.ends_on_packet(length) {
            length += 1;
        }
        self.frames.send(&data[..length], frame.len())
    }

    fn counters(&self) -> Counters {
        self.frames.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_command_words() {
        let header = tx_header(60);
        assert_eq!(u32::from_le_bytes(header[..4].try_into().unwrap()), 0x3000 | 60);
        assert_eq!(u32::from_le_bytes(header[4..].try_into().unwrap()), 60);
    }

    #[test]
    fn rx_status_words() {
        let mut transfer = [0u8; 128];
        transfer[..4].copy_from_slice(&((64u32 + 4) << 16).to_le_bytes());
        assert_eq!(parse_rx(&transfer[..4 + 68]), Ok(4..68));
        assert_eq!(parse_rx(&transfer[..40]), Err(NetError::Size), "shorter than its status says");
        transfer[..4].copy_from_slice(&((64u32 + 4) << 16 | RX_STATUS_ERROR).to_le_bytes());
        assert!(matches!(parse_rx(&transfer[..72]), Err(NetError::Device(_))));
        transfer[..4].copy_from_slice(&(8u32 << 16).to_le_bytes());
        assert_eq!(parse_rx(&transfer[..72]), Err(NetError::Size), "runt");
        assert_eq!(parse_rx(&transfer[..3]), Err(NetError::Size));
        // Arbitrary status words and lengths never panic.
        let mut seed = 0x9514u32;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            transfer[..4].copy_from_slice(&seed.to_le_bytes());
            let _ = parse_rx(&transfer[..(seed >> 7) as usize % 129]);
        }
    }
}
