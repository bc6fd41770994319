//! A simulated USB bus for host tests: devices that behave like QEMU's `usb-hub` and
//! `usb-net` behind the [`Host`] trait, with device-side data toggles so the class
//! drivers' toggle tracking is checked, and fault injection (stalls, broken descriptors).

extern crate std;

use super::{descriptor::tests::ECM_CONFIG, Direction, Error, Host, Pipe, SetupPacket, Target};
use std::{cell::Cell, collections::VecDeque, string::String, vec, vec::Vec};

/// What a simulated device is.
pub enum Kind {
    /// A hub with 8 ports: wPortStatus and wPortChange per port.
    Hub { status: [u16; 8], change: [u16; 8] },
    /// A CDC-ECM NIC.
    Net,
    /// An SMSC LAN9514 Ethernet function: its register file (by offset / 4), the internal
    /// PHY's registers, and whether its lite reset never finishes (a broken chip).
    Lan9514 { regs: Vec<u32>, phy: [u16; 32], stuck_reset: bool },
}

/// LAN9514 register offsets the simulation gives behaviour to (see `smsc95xx::reg`).
mod lan {
    pub const ID_REV: usize = 0x00;
    pub const INT_STS: usize = 0x08;
    pub const TX_CFG: usize = 0x10;
    pub const HW_CFG: usize = 0x14;
    pub const PM_CTRL: usize = 0x20;
    pub const MAC_CR: usize = 0x100;
    pub const MII_ADDR: usize = 0x114;
    pub const MII_DATA: usize = 0x118;
}

/// One simulated device.
pub struct SimDevice {
    /// Current address (0 = default).
    pub address: u8,
    /// Hub device index and port, `None` on the root port.
    pub parent: Option<(usize, u8)>,
    /// Behaviour.
    pub kind: Kind,
    /// Its device descriptor.
    pub device_descriptor: Vec<u8>,
    /// Configuration descriptors by index.
    pub configs: Vec<Vec<u8>>,
    /// String descriptors by index.
    pub strings: Vec<(u8, String)>,
    /// SET_CONFIGURATION value.
    pub configuration: u8,
    /// SET_INTERFACE (interface 1) value.
    pub alternate: u8,
    /// Device-side toggles of endpoints 1-15, IN and OUT.
    toggles: [[bool; 2]; 16],
    /// Frames waiting to be read from bulk IN.
    pub in_frames: VecDeque<Vec<u8>>,
    /// Frames received on bulk OUT.
    pub out_frames: Vec<Vec<u8>>,
    /// Halted endpoints (bEndpointAddress).
    pub halted: Vec<u8>,
}

impl SimDevice {
    fn new(kind: Kind, device_descriptor: Vec<u8>, configs: Vec<Vec<u8>>, strings: Vec<(u8, String)>) -> Self {
        Self {
            address: 0,
            parent: None,
            kind,
            device_descriptor,
            configs,
            strings,
            configuration: 0,
            alternate: 0,
            toggles: [[false; 2]; 16],
            in_frames: VecDeque::new(),
            out_frames: Vec::new(),
            halted: Vec::new(),
        }
    }

    /// QEMU's `usb-hub`.
    pub fn hub() -> Self {
        let config = vec![9, 2, 25, 0, 1, 1, 0, 0xe0, 0, 9, 4, 0, 0, 1, 9, 0, 0, 0, 7, 5, 0x81, 3, 2, 0, 0xff];
        let strings = vec![(1, "QEMU".into()), (2, "QEMU USB Hub".into())];
        let descriptor = super::descriptor::tests::HUB_DEVICE.to_vec();
        Self::new(Kind::Hub { status: [0x0100; 8], change: [0; 8] }, descriptor, vec![config], strings)
    }

    /// QEMU's `usb-net`: an RNDIS configuration first, then CDC-ECM.
    pub fn net() -> Self {
        let descriptor = vec![18, 1, 0, 2, 2, 0, 0, 64, 0x25, 0x05, 0xa2, 0xa4, 0, 0, 1, 2, 10, 2];
        let mut rndis = ECM_CONFIG.to_vec();
        rndis[5] = 2; // bConfigurationValue 2
        rndis[15] = 2; // ACM subclass: RNDIS, not ECM
        let strings = vec![(1, "QEMU".into()), (2, "RNDIS/QEMU USB Network Device".into()), (3, "400102030405".into())];
        Self::new(Kind::Net, descriptor, vec![rndis, ECM_CONFIG.to_vec()], strings)
    }

    /// The Pi 3 B's Ethernet function (LAN9514: 0424:ec00, vendor class), high speed, with
    /// the link up.
    pub fn lan9514() -> Self {
        let descriptor = vec![18, 1, 0, 2, 0xff, 0, 0xff, 64, 0x24, 0x04, 0x00, 0xec, 0, 1, 0, 0, 0, 1];
        let config = vec![
            9, 2, 39, 0, 1, 1, 0, 0xe0, 1, // configuration 1, one interface
            9, 4, 0, 0, 3, 0xff, 0, 0xff, 0, // interface 0: vendor class, 3 endpoints
            7, 5, 0x81, 2, 0x00, 0x02, 0, // bulk IN 1, 512 bytes
            7, 5, 0x02, 2, 0x00, 0x02, 0, // bulk OUT 2, 512 bytes
            7, 5, 0x83, 3, 0x10, 0x00, 4, // interrupt IN 3, 16 bytes
        ];
        let mut regs = vec![0u32; 0x140 / 4];
        regs[lan::ID_REV / 4] = 0xec00_0002;
        let mut phy = [0u16; 32];
        phy[1] = 0x7809 | 1 << 2; // BMSR: capabilities, link up
        Self::new(Kind::Lan9514 { regs, phy, stuck_reset: false }, descriptor, vec![config], vec![])
    }

    /// A LAN9514 register, for tests.
    pub fn register(&self, offset: usize) -> u32 {
        match &self.kind {
            Kind::Lan9514 { regs, .. } => regs[offset / 4],
            _ => 0,
        }
    }

    /// A LAN9514 PHY register, for tests.
    pub fn phy_register(&self, register: usize) -> u16 {
        match &self.kind {
            Kind::Lan9514 { phy, .. } => phy[register],
            _ => 0,
        }
    }

    /// The LAN9514's vendor register requests (data sheet "USB Vendor Commands").
    fn lan9514_request(&mut self, setup: &SetupPacket, data: &mut [u8]) -> Option<usize> {
        let Kind::Lan9514 { regs, phy, stuck_reset } = &mut self.kind else { return None };
        let offset = setup.index as usize;
        if !offset.is_multiple_of(4) || offset / 4 >= regs.len() || setup.length != 4 || setup.value != 0 {
            return None;
        }
        match (setup.request_type, setup.request) {
            (0xc0, 0xa1) => {
                data[..4].copy_from_slice(&regs[offset / 4].to_le_bytes());
                Some(4)
            }
            (0x40, 0xa0) => {
                let value = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                regs[offset / 4] = match offset {
                    lan::HW_CFG if *stuck_reset => value,
                    lan::HW_CFG => value & !(1 << 3),  // LRST clears once done
                    lan::PM_CTRL => value & !(1 << 4), // PHY_RST likewise
                    lan::INT_STS => 0,
                    lan::MII_ADDR if value & 1 != 0 => {
                        let (address, register) = ((value >> 11) & 0x1f, ((value >> 6) & 0x1f) as usize);
                        let write = value & 2 != 0;
                        if address != 1 {
                            regs[lan::MII_DATA / 4] = 0xffff;
                        } else if write {
                            let mut written = regs[lan::MII_DATA / 4] as u16;
                            if register == 0 {
                                written &= !(1 << 15); // BMCR reset is done at once
                            }
                            if register != 1 {
                                phy[register] = written;
                            }
                        } else {
                            regs[lan::MII_DATA / 4] = phy[register] as u32;
                        }
                        value & !1
                    }
                    _ => value,
                };
                Some(0)
            }
            _ => None,
        }
    }

    /// Whether the LAN9514's MAC passes frames in `direction` (MAC_CR TXEN and TX_CFG ON
    /// for OUT, MAC_CR RXEN for IN); other devices always do.
    fn passes(&self, direction: Direction) -> bool {
        let Kind::Lan9514 { regs, .. } = &self.kind else { return true };
        let mac_cr = regs[lan::MAC_CR / 4];
        match direction {
            Direction::Out => mac_cr & (1 << 3) != 0 && regs[lan::TX_CFG / 4] & (1 << 2) != 0,
            Direction::In => mac_cr & (1 << 2) != 0,
        }
    }

    fn toggle(&mut self, endpoint: u8, direction: Direction) -> &mut bool {
        &mut self.toggles[(endpoint & 15) as usize][(direction == Direction::In) as usize]
    }

    fn reset(&mut self) {
        self.address = 0;
        self.configuration = 0;
        self.alternate = 0;
        self.toggles = [[false; 2]; 16];
    }
}

#[derive(Clone, Copy)]
struct Slot {
    pipe: Pipe,
    out: [u8; 2048],
    length: usize,
}

/// The simulated bus.
pub struct SimBus {
    /// Devices; index 0 sits on the root port.
    pub devices: Vec<SimDevice>,
    /// Whether the NIC stalls SET_ETHERNET_PACKET_FILTER (older QEMU did; QEMU 10 accepts it).
    pub filter_stalls: bool,
    /// Packets sent with a toggle the device did not expect.
    pub toggle_errors: usize,
    /// OUT transfers that ended on a full packet (the device would wait for more).
    pub unterminated: usize,
    /// Control requests seen.
    pub requests: Vec<SetupPacket>,
    clock: Cell<u64>,
    slots: [Option<Slot>; 2],
}

const C_CONNECTION: u16 = 1;
const C_RESET: u16 = 1 << 4;
const CONNECTED: u16 = 1;
const ENABLED: u16 = 2;

impl SimBus {
    /// A bus with `root` on the root port (already reset by the controller).
    pub fn new(root: SimDevice) -> Self {
        Self {
            devices: vec![root],
            filter_stalls: true,
            toggle_errors: 0,
            unterminated: 0,
            requests: Vec::new(),
            clock: Cell::new(0),
            slots: [None; 2],
        }
    }

    /// QEMU's topology: a hub on the root port and `usb-net` on its port 1.
    pub fn qemu() -> Self {
        let mut bus = Self::new(SimDevice::hub());
        bus.plug(0, 1, SimDevice::net());
        bus
    }

    /// Connects `device` to `port` of the hub at index `hub`; returns its index.
    pub fn plug(&mut self, hub: usize, port: u8, mut device: SimDevice) -> usize {
        device.parent = Some((hub, port));
        if let Kind::Hub { status, change } = &mut self.devices[hub].kind {
            status[port as usize - 1] |= CONNECTED;
            change[port as usize - 1] |= C_CONNECTION;
        }
        self.devices.push(device);
        self.devices.len() - 1
    }

    fn reachable(&self, index: usize) -> bool {
        match self.devices[index].parent {
            None => true,
            Some((hub, port)) => {
                let enabled = match &self.devices[hub].kind {
                    Kind::Hub { status, .. } => status[port as usize - 1] & ENABLED != 0,
                    _ => false,
                };
                enabled && self.reachable(hub)
            }
        }
    }

    fn find(&self, address: u8) -> Option<usize> {
        (0..self.devices.len()).find(|&i| self.devices[i].address == address && self.reachable(i))
    }

    fn on_port(&self, hub: usize, port: u8) -> Option<usize> {
        (0..self.devices.len()).find(|&i| self.devices[i].parent == Some((hub, port)))
    }

    fn standard(&mut self, index: usize, setup: &SetupPacket, data: &mut [u8]) -> Option<usize> {
        let device = &mut self.devices[index];
        let length = setup.length as usize;
        let reply = |bytes: &[u8], data: &mut [u8]| {
            let n = bytes.len().min(length);
            data[..n].copy_from_slice(&bytes[..n]);
            Some(n)
        };
        match (setup.request_type, setup.request, (setup.value >> 8) as u8) {
            (0x80, 6, 1) => reply(&device.device_descriptor.clone(), data),
            (0x80, 6, 2) => {
                let config = device.configs.get((setup.value & 0xff) as usize)?.clone();
                reply(&config, data)
            }
            (0x80, 6, 3) => {
                let index = (setup.value & 0xff) as u8;
                let bytes = if index == 0 {
                    vec![4, 3, 0x09, 0x04]
                } else {
                    let text = &device.strings.iter().find(|(i, _)| *i == index)?.1;
                    let mut bytes = vec![2 + 2 * text.len() as u8, 3];
                    text.encode_utf16().for_each(|unit| bytes.extend_from_slice(&unit.to_le_bytes()));
                    bytes
                };
                reply(&bytes, data)
            }
            (0x00, 5, _) => {
                device.address = setup.value as u8;
                Some(0)
            }
            (0x00, 9, _) => {
                device.configuration = setup.value as u8;
                device.toggles = [[false; 2]; 16];
                Some(0)
            }
            (0x01, 11, _) => {
                device.alternate = setup.value as u8;
                device.toggles = [[false; 2]; 16];
                Some(0)
            }
            (0x02, 1, _) => {
                let endpoint = setup.index as u8;
                device.halted.retain(|&e| e != endpoint);
                let direction = if endpoint & 0x80 != 0 { Direction::In } else { Direction::Out };
                *device.toggle(endpoint, direction) = false;
                Some(0)
            }
            _ => None,
        }
    }

    fn hub_request(&mut self, index: usize, setup: &SetupPacket, data: &mut [u8]) -> Option<usize> {
        let port = setup.index as u8;
        let on_port = if (1..=8).contains(&port) { self.on_port(index, port) } else { None };
        let Kind::Hub { status, change } = &mut self.devices[index].kind else { return None };
        let slot = (port as usize).wrapping_sub(1);
        match (setup.request_type, setup.request, setup.value) {
            (0xa0, 6, 0x2900) => {
                let descriptor = [11, 0x29, 8, 0x0a, 0, 1, 0, 0, 0, 0xff, 0xff];
                let n = descriptor.len().min(setup.length as usize);
                data[..n].copy_from_slice(&descriptor[..n]);
                Some(n)
            }
            (0xa3, 0, 0) if slot < 8 => {
                data[..4].copy_from_slice(&[status[slot].to_le_bytes(), change[slot].to_le_bytes()].concat());
                Some(4)
            }
            (0x23, 3, 8) if slot < 8 => Some(0),
            (0x23, 3, 4) if slot < 8 => {
                if status[slot] & CONNECTED != 0 {
                    status[slot] |= ENABLED;
                    change[slot] |= C_RESET;
                    if let Some(child) = on_port {
                        self.devices[child].reset();
                    }
                }
                Some(0)
            }
            (0x23, 1, feature) if slot < 8 => {
                match feature {
                    16 => change[slot] &= !C_CONNECTION,
                    17 => change[slot] &= !2,
                    20 => change[slot] &= !C_RESET,
                    1 => status[slot] &= !ENABLED,
                    _ => return None,
                }
                Some(0)
            }
            _ => None,
        }
    }

    fn check_toggle(&mut self, index: usize, pipe: &Pipe, packets: usize) {
        let device = &mut self.devices[index];
        let toggle = device.toggle(pipe.endpoint, pipe.direction);
        if *toggle != pipe.data1 {
            self.toggle_errors += 1;
        }
        *toggle ^= packets % 2 == 1;
    }

    fn active(&self, index: usize) -> bool {
        let device = &self.devices[index];
        match device.kind {
            // No alternate settings: configured is enough.
            Kind::Lan9514 { .. } => device.configuration == 1,
            _ => device.configuration == 1 && device.alternate == 1,
        }
    }
}

impl Host for SimBus {
    fn control(&mut self, target: &Target, setup: &SetupPacket, data: &mut [u8]) -> Result<usize, Error> {
        self.requests.push(*setup);
        let index = self.find(target.address).ok_or(Error::Timeout { address: target.address, endpoint: 0 })?;
        let stall = Error::Stall { address: target.address, endpoint: 0 };
        if let Some(n) = self.standard(index, setup, data) {
            return Ok(n);
        }
        match self.devices[index].kind {
            Kind::Hub { .. } => self.hub_request(index, setup, data).ok_or(stall),
            Kind::Net if setup.request_type == 0x21 && setup.request == 0x43 && !self.filter_stalls => Ok(0),
            Kind::Lan9514 { .. } => self.devices[index].lan9514_request(setup, data).ok_or(stall),
            _ => Err(stall),
        }
    }

    fn interrupt_in(&mut self, pipe: &mut Pipe, buffer: &mut [u8]) -> Result<Option<usize>, Error> {
        let index = self.find(pipe.address).ok_or(Error::Timeout { address: pipe.address, endpoint: pipe.endpoint })?;
        let Kind::Hub { change, .. } = &self.devices[index].kind else { return Ok(None) };
        let bitmap = change.iter().enumerate().fold(0u16, |bits, (i, &c)| if c != 0 { bits | 2 << i } else { bits });
        if bitmap == 0 {
            return Ok(None);
        }
        let bytes = bitmap.to_le_bytes();
        let n = buffer.len().min(2);
        buffer[..n].copy_from_slice(&bytes[..n]);
        self.check_toggle(index, pipe, 1);
        pipe.data1 = !pipe.data1;
        Ok(Some(n))
    }

    fn slots(&self) -> usize {
        self.slots.len()
    }

    fn start(&mut self, slot: usize, pipe: &Pipe, out: &[u8], in_length: usize) -> Result<(), Error> {
        let entry = self.slots.get_mut(slot).ok_or(Error::NoSlot(slot))?;
        if entry.is_some() {
            return Err(Error::SlotBusy(slot));
        }
        let mut state = Slot { pipe: *pipe, out: [0; 2048], length: in_length };
        if pipe.direction == Direction::Out {
            state.out[..out.len()].copy_from_slice(out);
            state.length = out.len();
        }
        *entry = Some(state);
        Ok(())
    }

    fn poll(&mut self, slot: usize, pipe: &mut Pipe, buffer: &mut [u8]) -> Result<Option<usize>, Error> {
        let state = self.slots.get(slot).ok_or(Error::NoSlot(slot))?.ok_or(Error::SlotIdle(slot))?;
        let (address, endpoint) = (state.pipe.address, state.pipe.endpoint);
        let Some(index) = self.find(address) else {
            return Ok(None); // like QEMU: nothing happens for a missing device
        };
        if !self.active(index) || !self.devices[index].passes(state.pipe.direction) {
            return Ok(None);
        }
        if self.devices[index].halted.contains(&state.pipe.endpoint_address()) {
            self.slots[slot] = None;
            return Err(Error::Stall { address, endpoint });
        }
        let mps = state.pipe.max_packet as usize;
        if state.pipe.direction == Direction::Out {
            self.slots[slot] = None;
            if state.length % mps == 0 && state.length > 0 {
                self.unterminated += 1;
            }
            let packets = state.length.div_ceil(mps).max(1);
            self.check_toggle(index, &state.pipe, packets);
            self.devices[index].out_frames.push(state.out[..state.length].to_vec());
            pipe.data1 = super::dwc2::toggle_after(pipe.data1, packets as u32);
            return Ok(Some(state.length));
        }
        let Some(frame) = self.devices[index].in_frames.pop_front() else { return Ok(None) };
        self.slots[slot] = None;
        if frame.len() > state.length {
            return Err(Error::Transaction { address, endpoint, flags: 1 << 8 });
        }
        let packets = frame.len() / mps + 1; // a short packet or a zero-length one ends it
        self.check_toggle(index, &state.pipe, packets);
        pipe.data1 = super::dwc2::toggle_after(pipe.data1, packets as u32);
        if frame.len() > buffer.len() {
            return Err(Error::TooLong { len: frame.len(), max: buffer.len() });
        }
        buffer[..frame.len()].copy_from_slice(&frame);
        Ok(Some(frame.len()))
    }

    fn now_us(&self) -> u64 {
        let now = self.clock.get() + 1;
        self.clock.set(now);
        now
    }

    fn delay_ms(&mut self, ms: u32) {
        self.clock.set(self.clock.get() + ms as u64 * 1000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        net::{EthernetDevice, NetError},
        usb::{cdc_ecm, enumerate, Speed},
    };
    use std::format;

    fn open(mut bus: SimBus) -> cdc_ecm::CdcEcm<SimBus> {
        let tree = enumerate(&mut bus, Speed::Full).expect("enumerates");
        let device = *tree.devices().find(|d| d.descriptor.class == 2).expect("NIC found");
        let function = cdc_ecm::probe(&mut bus, &device).expect("probe").expect("ECM function");
        cdc_ecm::CdcEcm::open(bus, &device, &function).expect("opens")
    }

    fn host(nic: &mut cdc_ecm::CdcEcm<SimBus>) -> &mut SimBus {
        // The tests reach the simulated devices through the NIC's host.
        nic.host_mut()
    }

    #[test]
    fn enumerates_the_qemu_topology() {
        let mut bus = SimBus::qemu();
        let tree = enumerate(&mut bus, Speed::Full).expect("enumerates");
        let devices: Vec<_> = tree.devices().collect();
        assert_eq!(devices.len(), 2);
        let (hub, net) = (devices[0], devices[1]);
        assert_eq!((hub.address, hub.descriptor.vendor, hub.descriptor.product), (1, 0x0409, 0x55aa));
        assert_eq!(hub.product.as_str(), "QEMU USB Hub");
        let info = hub.hub.expect("hub facts");
        assert_eq!((info.ports, info.connected, info.changes_at_start), (8, 0b10, 0b10));
        assert_eq!(format!("{}", net.path), "1.1");
        assert_eq!((net.address, net.parent, net.descriptor.max_packet0), (2, Some(1), 64));
        assert_eq!(net.manufacturer.as_str(), "QEMU");
        assert_eq!(tree.failures().count(), 0);
        assert_eq!(bus.devices[1].address, 2);
    }

    #[test]
    fn a_broken_device_behind_a_hub_is_recorded_and_the_rest_enumerates() {
        let mut bus = SimBus::new(SimDevice::hub());
        let mut broken = SimDevice::net();
        broken.device_descriptor[7] = 7; // invalid max packet size
        bus.plug(0, 2, broken);
        bus.plug(0, 3, SimDevice::net());
        let tree = enumerate(&mut bus, Speed::Full).expect("hub enumerates");
        assert_eq!(tree.devices().count(), 2, "hub and the good NIC");
        let failure = tree.failures().next().expect("one failure");
        assert_eq!(format!("{}", failure.path), "1.2");
        assert!(matches!(failure.error, Error::Descriptor(_)), "{:?}", failure.error);
        let good = tree.devices().nth(1).expect("NIC");
        assert_eq!(format!("{}", good.path), "1.3");
        assert_ne!(good.address, 2, "the failed device keeps address 2");
    }

    #[test]
    fn a_root_device_with_a_broken_configuration_is_an_error() {
        let mut device = SimDevice::hub();
        device.configs[0][2] = 200; // wTotalLength beyond the data
        let mut bus = SimBus::new(device);
        assert!(matches!(enumerate(&mut bus, Speed::Full), Err(Error::Descriptor(_))));
    }

    #[test]
    fn high_speed_hubs_refuse_full_speed_devices() {
        let mut bus = SimBus::qemu();
        let tree = enumerate(&mut bus, Speed::High).expect("the hub itself enumerates");
        assert!(matches!(tree.failures().next().map(|f| f.error), Some(Error::NeedsSplit { hub: 1, port: 1 })));
    }

    #[test]
    fn ecm_picks_the_cdc_configuration_and_reads_the_mac() {
        let nic = open(SimBus::qemu());
        assert_eq!(nic.mac_address(), [0x40, 1, 2, 3, 4, 5]);
        assert_eq!(nic.function().configuration, 1);
        assert!(!nic.filter_accepted());
        let mut bus = SimBus::qemu();
        bus.filter_stalls = false;
        assert!(open(bus).filter_accepted());
    }

    #[test]
    fn frames_flow_both_ways_with_correct_toggles() {
        let mut nic = open(SimBus::qemu());
        let mut buffer = [0u8; crate::net::MAX_FRAME];
        assert_eq!(nic.receive(&mut buffer), Ok(None));
        for length in [42usize, 60, 63, 64, 65, 128, 1514] {
            let frame: Vec<u8> = (0..length).map(|i| i as u8).collect();
            host(&mut nic).devices[1].in_frames.push_back(frame.clone());
            assert_eq!(nic.receive(&mut buffer), Ok(Some(length)));
            assert_eq!(&buffer[..length], &frame[..]);
            nic.transmit(&frame).expect("sent");
            assert_eq!(nic.receive(&mut buffer), Ok(None), "collects the transmit");
        }
        let bus = host(&mut nic);
        assert_eq!(bus.toggle_errors, 0);
        assert_eq!(bus.unterminated, 0, "frames of whole packets are padded");
        let sent = &bus.devices[1].out_frames;
        assert_eq!(sent.len(), 7);
        assert_eq!(sent[3].len(), 65, "64-byte frame padded by one byte");
        assert_eq!(sent[6].len(), 1514);
        let counters = nic.counters();
        assert_eq!((counters.rx_frames, counters.tx_frames, counters.dropped), (7, 7, 0));
    }

    #[test]
    fn transmit_is_busy_while_a_frame_is_in_flight_and_checks_sizes() {
        let mut nic = open(SimBus::qemu());
        let frame = [0u8; 60];
        nic.transmit(&frame).expect("first");
        // The simulated device takes a frame only when polled, so the slot is still busy
        // until `receive` or `transmit` collects it.
        host(&mut nic).devices[1].configuration = 0; // device stops answering
        assert_eq!(nic.transmit(&frame), Err(NetError::Busy));
        host(&mut nic).devices[1].configuration = 1;
        assert_eq!(nic.transmit(&frame), Ok(()));
        assert_eq!(nic.transmit(&[0u8; 13]), Err(NetError::Size));
        assert_eq!(nic.transmit(&[0u8; 1515]), Err(NetError::Size));
    }

    #[test]
    fn a_stalled_bulk_endpoint_is_cleared_and_receiving_resumes() {
        let mut nic = open(SimBus::qemu());
        let mut buffer = [0u8; crate::net::MAX_FRAME];
        host(&mut nic).devices[1].halted.push(0x82);
        assert_eq!(nic.receive(&mut buffer), Ok(None), "stall handled");
        assert!(host(&mut nic).devices[1].halted.is_empty(), "CLEAR_FEATURE(ENDPOINT_HALT) sent");
        host(&mut nic).devices[1].in_frames.push_back(vec![7; 100]);
        assert_eq!(nic.receive(&mut buffer), Ok(Some(100)));
        assert_eq!(host(&mut nic).toggle_errors, 0);
        assert_eq!(nic.counters().dropped, 1);
    }

    #[test]
    fn oversized_frames_are_dropped_with_a_size_error() {
        let mut nic = open(SimBus::qemu());
        let mut small = [0u8; 100];
        host(&mut nic).devices[1].in_frames.push_back(vec![1; 200]);
        assert_eq!(nic.receive(&mut small), Err(NetError::Size));
        host(&mut nic).devices[1].in_frames.push_back(vec![2; 50]);
        assert_eq!(nic.receive(&mut small), Ok(Some(50)), "receiving continues");
        assert_eq!(nic.counters().dropped, 1);
    }

    #[test]
    fn repeated_failures_mark_the_device_failed() {
        let mut nic = open(SimBus::qemu());
        let mut buffer = [0u8; crate::net::MAX_FRAME];
        let mut last = Ok(None);
        for _ in 0..40 {
            host(&mut nic).devices[1].halted.push(0x82);
            // The endpoint stalls again every time: the device is broken.
            last = nic.receive(&mut buffer);
            if last.is_err() {
                break;
            }
        }
        assert!(matches!(last, Err(NetError::Device(_))), "{last:?}");
    }

    #[test]
    fn the_hub_status_endpoint_reports_port_changes() {
        let mut bus = SimBus::qemu();
        let tree = enumerate(&mut bus, Speed::Full).expect("enumerates");
        let hub = tree.devices().next().expect("hub");
        let endpoint = crate::usb::descriptor::Endpoint::parse(&[7, 5, 0x81, 3, 2, 0, 0xff]).expect("valid");
        let mut pipe = Pipe::new(&hub.target(), &endpoint);
        assert_eq!(crate::usb::hub::poll_changes(&mut bus, &mut pipe), Ok(None), "changes were acknowledged");
        if let Kind::Hub { change, .. } = &mut bus.devices[0].kind {
            change[4] = 1;
        }
        assert_eq!(crate::usb::hub::poll_changes(&mut bus, &mut pipe), Ok(Some(1 << 5)));
    }

    const PI_MAC: [u8; 6] = [0xb8, 0x27, 0xeb, 0x12, 0x34, 0x56];

    fn open_lan9514(bus: SimBus) -> Result<crate::usb::smsc95xx::Smsc95xx<SimBus>, Error> {
        let mut bus = bus;
        let tree = enumerate(&mut bus, Speed::High).expect("enumerates");
        let device = *tree.devices().find(|d| crate::usb::smsc95xx::matches(d)).expect("LAN9514 found");
        let function = crate::usb::smsc95xx::probe(&mut bus, &device).expect("probe").expect("bulk endpoints");
        assert_eq!((function.bulk_in.number, function.bulk_out.number, function.bulk_in.max_packet), (1, 2, 512));
        crate::usb::smsc95xx::Smsc95xx::open(bus, &device, &function, PI_MAC)
    }

    #[test]
    fn the_lan9514_is_configured_as_its_data_sheet_says() {
        let mut nic = open_lan9514(SimBus::new(SimDevice::lan9514())).expect("opens");
        assert_eq!(nic.chip_id(), 0xec00);
        let chip = &nic.host_mut().devices[0];
        assert_eq!(chip.register(lan::ID_REV) >> 16, 0xec00);
        assert_eq!(chip.register(0x108), 0x12eb_27b8, "ADDRL: MAC bytes 0-3");
        assert_eq!(chip.register(0x104), 0x5634, "ADDRH: MAC bytes 4-5");
        let mac_cr = chip.register(lan::MAC_CR);
        assert_eq!(mac_cr & 0b1100, 0b1100, "TXEN and RXEN");
        assert_eq!(mac_cr & ((1 << 18) | (1 << 19)), 0, "not promiscuous");
        assert_eq!(chip.register(lan::TX_CFG), 1 << 2, "TX on");
        let hw_cfg = chip.register(lan::HW_CFG);
        assert_eq!((hw_cfg & (1 << 12), hw_cfg & (1 << 5)), (1 << 12, 0), "BIR set, one frame per transfer");
        assert_eq!(chip.phy_register(4), 0x05e1, "10/100 advertised");
        assert_eq!(chip.phy_register(0) & 0x1200, 0x1200, "auto-negotiation restarted");
        assert!(nic.link_up());
        assert_eq!(nic.mac_address(), PI_MAC);
    }

    #[test]
    fn lan9514_frames_carry_their_command_and_status_words() {
        let mut nic = open_lan9514(SimBus::new(SimDevice::lan9514())).expect("opens");
        let frame: Vec<u8> = (0..60u8).collect();
        nic.transmit(&frame).expect("sent");
        let mut buffer = [0u8; crate::net::MAX_FRAME];
        assert_eq!(nic.receive(&mut buffer), Ok(None), "nothing received yet; the transmit completes");
        let sent = nic.host_mut().devices[0].out_frames.remove(0);
        assert_eq!(sent.len(), 8 + 60);
        assert_eq!(
            u32::from_le_bytes(sent[..4].try_into().unwrap()),
            0x3000 | 60,
            "TX_CMD_A: first+last segment, 60 bytes"
        );
        assert_eq!(u32::from_le_bytes(sent[4..8].try_into().unwrap()), 60, "TX_CMD_B: packet length");
        assert_eq!(&sent[8..], &frame[..]);
        assert_eq!(nic.counters().tx_frames, 1);

        // A received frame: status word (length including the FCS), frame, FCS.
        let incoming: Vec<u8> = (100..164u8).collect();
        let wrap = |frame: &[u8], error: bool| {
            let status = ((frame.len() as u32 + 4) << 16) | if error { 1 << 15 } else { 0 };
            [&status.to_le_bytes()[..], frame, &[0xde, 0xad, 0xbe, 0xef]].concat()
        };
        nic.host_mut().devices[0].in_frames.push_back(wrap(&incoming, true));
        nic.host_mut().devices[0].in_frames.push_back(wrap(&incoming, false));
        assert_eq!(nic.receive(&mut buffer), Ok(None), "a frame flagged with an error is dropped");
        assert_eq!(nic.receive(&mut buffer), Ok(Some(64)));
        assert_eq!(&buffer[..64], &incoming[..], "status word and FCS stripped");
        assert_eq!((nic.counters().rx_frames, nic.counters().dropped), (1, 1));

        // 504 + 8 = 512: a full packet, so one padding byte ends the transfer.
        nic.transmit(&[0x55; 504]).expect("sent");
        assert_eq!(nic.receive(&mut buffer), Ok(None));
        assert_eq!(nic.host_mut().devices[0].out_frames.remove(0).len(), 513);
        assert_eq!(nic.host_mut().unterminated, 0);
        assert_eq!(nic.host_mut().toggle_errors, 0);
        assert_eq!(nic.transmit(&[0; 1515]), Err(NetError::Size));
    }

    #[test]
    fn a_lan9514_that_never_leaves_reset_is_an_error_not_a_hang() {
        let mut chip = SimDevice::lan9514();
        if let Kind::Lan9514 { stuck_reset, .. } = &mut chip.kind {
            *stuck_reset = true;
        }
        match open_lan9514(SimBus::new(chip)) {
            Err(Error::Chip(what)) => assert!(what.contains("reset"), "{what}"),
            other => panic!("expected a chip error, got {:?}", other.map(|nic| nic.chip_id())),
        }
        // A multicast MAC address is refused.
        let mut bus = SimBus::new(SimDevice::lan9514());
        let tree = enumerate(&mut bus, Speed::High).expect("enumerates");
        let device = *tree.devices().next().expect("device");
        let function = crate::usb::smsc95xx::probe(&mut bus, &device).unwrap().unwrap();
        let opened = crate::usb::smsc95xx::Smsc95xx::open(bus, &device, &function, [0x01, 0, 0, 0, 0, 1]);
        assert!(matches!(opened, Err(Error::MacAddress)));
    }
}
