//! USB hub class: power the ports, reset the connected ones, enumerate behind them.
//!
//! Spec: USB 2.0 chapter 11.24 (hub class requests), table 11-17 (feature selectors),
//! 11.24.2.7 (port status bits). Sequence per hub: SET_CONFIGURATION → GET_DESCRIPTOR(hub)
//! → SET_FEATURE(PORT_POWER) on every port → wait bPwrOn2PwrGood plus the 100 ms connect
//! debounce (7.1.7.3) → for each connected port SET_FEATURE(PORT_RESET), poll
//! GET_PORT_STATUS until the reset is over, CLEAR_FEATURE(C_PORT_RESET), 10 ms recovery,
//! then enumerate the device at address 0.
//!
//! QEMU's `usb-hub` (8 ports, full speed, no power switching) finishes a reset at once;
//! real hubs take 10-20 ms, hence the polling. The status-change endpoint (interrupt IN,
//! a bitmap of ports with changes) is read once after power-up and is available to
//! callers through [`poll_changes`] for hot-plug handling later.

use super::{
    descriptor::{self, Configuration, HubDescriptor},
    DeviceInfo, DeviceTree, Error, Host, Pipe, SetupPacket, Speed, Target, TransferType,
};

/// Device and interface class code of hubs.
pub const CLASS: u8 = 9;

/// Port feature selectors (USB 2.0 table 11-17).
mod feature {
    pub const PORT_ENABLE: u16 = 1;
    pub const PORT_RESET: u16 = 4;
    pub const PORT_POWER: u16 = 8;
    pub const C_PORT_CONNECTION: u16 = 16;
    pub const C_PORT_ENABLE: u16 = 17;
    pub const C_PORT_RESET: u16 = 20;
}

/// wPortStatus and wPortChange bits (USB 2.0 tables 11-21 and 11-22).
mod bits {
    pub const CONNECTION: u16 = 1 << 0;
    pub const ENABLE: u16 = 1 << 1;
    pub const RESET: u16 = 1 << 4;
    pub const POWER: u16 = 1 << 8;
    pub const LOW_SPEED: u16 = 1 << 9;
    pub const HIGH_SPEED: u16 = 1 << 10;
}

/// How long a port reset may take before the hub is considered broken.
const RESET_TIMEOUT_MS: u32 = 500;
/// Poll interval while a port resets.
const RESET_POLL_MS: u32 = 10;
/// Recovery after a reset before the device must answer (TRSTRCY, USB 2.0 7.1.7.5).
const RESET_RECOVERY_MS: u32 = 10;
/// Connect debounce after power-up (TATTDB, USB 2.0 7.1.7.3).
const DEBOUNCE_MS: u32 = 100;
/// Largest hub configuration read (a hub has one interface and one endpoint).
const CONFIG_MAX: usize = 256;

/// Facts about a configured hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubInfo {
    /// Downstream ports.
    pub ports: u8,
    /// wHubCharacteristics.
    pub characteristics: u16,
    /// Power-on to power-good time in ms.
    pub power_good_ms: u32,
    /// The status-change bitmap read right after power-up (bit n = port n changed, bit 0
    /// = the hub itself); 0 if the endpoint had nothing to report.
    pub changes_at_start: u16,
    /// Ports with a device connected after power-up (bit n = port n).
    pub connected: u16,
}

/// A port's GET_PORT_STATUS answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortStatus {
    /// wPortStatus.
    pub status: u16,
    /// wPortChange.
    pub change: u16,
}

impl PortStatus {
    /// Parses the 4-byte answer.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        match bytes {
            [s0, s1, c0, c1, ..] => {
                Ok(Self { status: u16::from_le_bytes([*s0, *s1]), change: u16::from_le_bytes([*c0, *c1]) })
            }
            _ => Err(Error::ShortReply { expected: 4, got: bytes.len() }),
        }
    }

    /// A device is connected.
    pub fn connected(&self) -> bool {
        self.status & bits::CONNECTION != 0
    }

    /// The port is enabled (after a successful reset).
    pub fn enabled(&self) -> bool {
        self.status & bits::ENABLE != 0
    }

    /// The port is still in reset.
    pub fn resetting(&self) -> bool {
        self.status & bits::RESET != 0
    }

    /// The port is powered.
    pub fn powered(&self) -> bool {
        self.status & bits::POWER != 0
    }

    /// The attached device's speed.
    pub fn speed(&self) -> Speed {
        if self.status & bits::LOW_SPEED != 0 {
            Speed::Low
        } else if self.status & bits::HIGH_SPEED != 0 {
            Speed::High
        } else {
            Speed::Full
        }
    }
}

fn set_port_feature(host: &mut impl Host, hub: &Target, port: u8, feature: u16) -> Result<(), Error> {
    let setup = SetupPacket {
        request_type: 0x23,
        request: super::request::SET_FEATURE,
        value: feature,
        index: port as u16,
        length: 0,
    };
    host.control(hub, &setup, &mut []).map(|_| ())
}

fn clear_port_feature(host: &mut impl Host, hub: &Target, port: u8, feature: u16) -> Result<(), Error> {
    let setup = SetupPacket {
        request_type: 0x23,
        request: super::request::CLEAR_FEATURE,
        value: feature,
        index: port as u16,
        length: 0,
    };
    host.control(hub, &setup, &mut []).map(|_| ())
}

/// GET_PORT_STATUS for `port` (1-based).
pub fn port_status(host: &mut impl Host, hub: &Target, port: u8) -> Result<PortStatus, Error> {
    let setup = SetupPacket {
        request_type: 0xa3,
        request: super::request::GET_STATUS,
        value: 0,
        index: port as u16,
        length: 4,
    };
    let mut bytes = [0u8; 4];
    let got = host.control(hub, &setup, &mut bytes)?;
    PortStatus::parse(&bytes[..got])
}

/// Reads the status-change endpoint once: `Ok(None)` when nothing changed.
pub fn poll_changes(host: &mut impl Host, pipe: &mut Pipe) -> Result<Option<u16>, Error> {
    let mut bytes = [0u8; 2];
    let length = (pipe.max_packet as usize).clamp(1, bytes.len());
    let got = host.interrupt_in(pipe, &mut bytes[..length])?;
    Ok(got.map(|n| match n {
        0 => 0,
        1 => bytes[0] as u16,
        _ => u16::from_le_bytes(bytes),
    }))
}

/// Configures the hub `device` and powers its ports. Returns its facts and the pipe of
/// its status-change endpoint (if it declares one).
pub fn configure(host: &mut impl Host, device: &DeviceInfo) -> Result<(HubInfo, Option<Pipe>), Error> {
    let target = device.target();
    let mut buffer = [0u8; CONFIG_MAX];
    let length = super::read_configuration(host, &target, 0, &mut buffer)?;
    let config = Configuration::parse(&buffer[..length])?;
    let status_endpoint = config
        .interfaces()
        .filter(|interface| interface.class == CLASS)
        .flat_map(|interface| interface.endpoints())
        .find(|endpoint| endpoint.kind == TransferType::Interrupt && endpoint.direction == super::Direction::In);
    let mut status_pipe = status_endpoint.map(|endpoint| Pipe::new(&target, &endpoint));
    host.control(&target, &SetupPacket::set_configuration(config.header.value), &mut [])?;

    let mut bytes = [0u8; 16];
    let setup = SetupPacket {
        request_type: 0xa0,
        request: super::request::GET_DESCRIPTOR,
        value: (descriptor::kind::HUB as u16) << 8,
        index: 0,
        length: bytes.len() as u16,
    };
    let got = host.control(&target, &setup, &mut bytes)?;
    let hub = HubDescriptor::parse(&bytes[..got])?;

    for port in 1..=hub.ports {
        set_port_feature(host, &target, port, feature::PORT_POWER)?;
    }
    let power_good_ms = 2 * hub.power_on_to_good_2ms as u32;
    host.delay_ms(power_good_ms + DEBOUNCE_MS);

    // The change bitmap is a hint only: some hubs report nothing until asked per port.
    let changes_at_start = match status_pipe.as_mut() {
        Some(pipe) => poll_changes(host, pipe).ok().flatten().unwrap_or(0),
        None => 0,
    };
    let info = HubInfo {
        ports: hub.ports,
        characteristics: hub.characteristics,
        power_good_ms,
        changes_at_start,
        connected: 0,
    };
    Ok((info, status_pipe))
}

/// Resets `port` of `hub` and returns the speed of the device now enabled there.
pub fn reset_port(host: &mut impl Host, hub: &Target, port: u8) -> Result<Speed, Error> {
    set_port_feature(host, hub, port, feature::PORT_RESET)?;
    let mut waited = 0;
    let status = loop {
        let status = port_status(host, hub, port)?;
        if !status.resetting() {
            break status;
        }
        if waited >= RESET_TIMEOUT_MS {
            return Err(Error::HubPort { hub: hub.address, port, status: status.status });
        }
        host.delay_ms(RESET_POLL_MS);
        waited += RESET_POLL_MS;
    };
    clear_port_feature(host, hub, port, feature::C_PORT_RESET)?;
    if status.change & (1 << 1) != 0 {
        clear_port_feature(host, hub, port, feature::C_PORT_ENABLE)?;
    }
    if !status.enabled() || !status.connected() {
        return Err(Error::HubPort { hub: hub.address, port, status: status.status });
    }
    host.delay_ms(RESET_RECOVERY_MS);
    Ok(status.speed())
}

/// Resets and enumerates every connected port of the hub `device`. A port whose device
/// fails is recorded in the tree and skipped; a hub that stops answering is an error.
pub(crate) fn enumerate_ports(
    host: &mut impl Host,
    tree: &mut DeviceTree,
    device: &DeviceInfo,
    mut info: HubInfo,
    _status_pipe: Option<Pipe>,
) -> Result<(), Error> {
    let target = device.target();
    for port in 1..=info.ports {
        let status = port_status(host, &target, port)?;
        if status.change & 1 != 0 {
            clear_port_feature(host, &target, port, feature::C_PORT_CONNECTION)?;
        }
        if !status.connected() {
            continue;
        }
        info.connected |= 1 << port;
        let Some(path) = device.path.child(port) else {
            tree.fail(device.path, Error::TooManyDevices);
            continue;
        };
        let result = reset_port(host, &target, port).and_then(|speed| {
            if device.speed == Speed::High && speed != Speed::High {
                return Err(Error::NeedsSplit { hub: device.address, port });
            }
            super::attach(host, tree, speed, path, Some(device.address))
        });
        if let Err(error) = result {
            // A device left at the default address would answer in place of the next
            // one: take it off the bus.
            let _ = clear_port_feature(host, &target, port, feature::PORT_ENABLE);
            tree.fail(path, error);
        }
    }
    tree.set_hub_info(device.address, info);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_status_bits() {
        // QEMU after a reset: connected, enabled, powered; reset change set.
        let status = PortStatus::parse(&[0x03, 0x01, 0x10, 0x00]).expect("4 bytes");
        assert!(status.connected() && status.enabled() && status.powered() && !status.resetting());
        assert_eq!(status.speed(), Speed::Full);
        assert_eq!(status.change, 0x10);
        assert_eq!(PortStatus::parse(&[0x03, 0x03, 0, 0]).map(|s| s.speed()), Ok(Speed::Low));
        assert_eq!(PortStatus::parse(&[0x03, 0x05, 0, 0]).map(|s| s.speed()), Ok(Speed::High));
        assert_eq!(PortStatus::parse(&[1, 2, 3]), Err(Error::ShortReply { expected: 4, got: 3 }));
    }
}
