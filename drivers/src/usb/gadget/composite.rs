//! The composite gadget: the device framework of USB 2.0 chapter 9 (standard requests,
//! the default, address and configured states, descriptors) over any [`Controller`], with
//! class requests and data routed to the two functions, [`Acm`] and [`Ncm`].
//!
//! Everything a host sends is checked here before it reaches a function: unknown or
//! malformed requests stall endpoint 0 and the gadget keeps serving; a bus reset or an
//! unplug takes every function back to its unconfigured state.

use super::{
    acm::Acm,
    descriptors::{self, Identity},
    ncm::{self, Ncm},
    Answer, Controller, Event, CONTROL_BYTES,
};
use crate::usb::{request, SetupPacket, Speed};
use alloc::vec::Vec;

/// Where the gadget stands (USB 2.0 9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No VBUS: the cable is out.
    Detached,
    /// Attached, before or after a bus reset, with address 0.
    Default,
    /// SET_ADDRESS done.
    Addressed,
    /// SET_CONFIGURATION(1) done: the functions run.
    Configured,
}

/// Counters of what the gadget has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bus resets.
    pub resets: u32,
    /// SETUP packets.
    pub setups: u32,
    /// Requests refused with a stall.
    pub stalls: u32,
    /// Cable unplugs.
    pub disconnects: u32,
    /// Controller calls that failed (each answered by a stall or a retry).
    pub controller_errors: u32,
}

/// The composite gadget over a controller.
pub struct Gadget<C: Controller> {
    /// The controller (public for its own status and for tests).
    pub controller: C,
    identity: Identity,
    state: State,
    speed: Speed,
    suspended: bool,
    /// The console function.
    pub acm: Acm,
    /// The network function.
    pub ncm: Ncm,
    /// A class request whose OUT data stage is on its way.
    pending: Option<SetupPacket>,
    /// Scratch for control data stages and OUT transfers.
    buffer: Vec<u8>,
    stats: Stats,
}

impl<C: Controller> Gadget<C> {
    /// The gadget over `controller`, which is initialised and connected; the link's MAC
    /// addresses are derived from the identity's serial.
    pub fn new(controller: C, identity: Identity) -> Gadget<C> {
        let (_, board_mac) = descriptors::link_macs(identity.serial);
        let ncm = Ncm::new(identity.host_mac, board_mac);
        Gadget {
            controller,
            identity,
            state: State::Default,
            speed: Speed::High,
            suspended: false,
            acm: Acm::new(),
            ncm,
            pending: None,
            buffer: alloc::vec![0; ncm::NTB_MAX.max(CONTROL_BYTES)],
            stats: Stats::default(),
        }
    }

    /// Where the gadget stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the host suspended the bus.
    pub fn suspended(&self) -> bool {
        self.suspended
    }

    /// The speed of the last enumeration.
    pub fn speed(&self) -> Speed {
        self.speed
    }

    /// What the gadget has seen.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Takes every event the controller has and moves both functions' data. Call it often
    /// (it never blocks).
    pub fn poll(&mut self) {
        // Bounded, so a controller that keeps raising events cannot hold the caller.
        for _ in 0..64 {
            if !self.step() {
                break;
            }
        }
        self.service();
    }

    /// Handles the controller's next event; `false` when there was none.
    pub fn step(&mut self) -> bool {
        match self.controller.poll() {
            Some(event) => {
                self.handle(event);
                true
            }
            None => false,
        }
    }

    /// Moves both functions' data (arms OUT transfers, starts IN transfers).
    pub fn service(&mut self) {
        if self.state == State::Configured && !self.suspended {
            self.acm.service(&mut self.controller);
            self.ncm.service(&mut self.controller);
        }
    }

    fn unconfigure(&mut self) {
        self.acm.reset();
        self.ncm.reset();
        self.pending = None;
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Reset => {
                self.stats.resets += 1;
                self.state = State::Default;
                self.suspended = false;
                self.unconfigure();
            }
            Event::Enumerated(speed) => {
                self.speed = speed;
                self.ncm.set_bit_rate(if speed == Speed::High { 480_000_000 } else { 12_000_000 });
            }
            Event::Setup(setup) => {
                self.stats.setups += 1;
                self.pending = None;
                if !self.setup(&setup) {
                    self.stall();
                }
            }
            Event::ControlData(n) => {
                let Some(setup) = self.pending.take() else {
                    self.stall();
                    return;
                };
                let n = self.controller.control_data(&mut self.buffer[..n.min(CONTROL_BYTES)]);
                let data = &self.buffer[..n];
                let accepted = match (setup.index & 0xff) as u8 {
                    descriptors::ACM_CONTROL => self.acm.control_data(&setup, data),
                    descriptors::NCM_CONTROL => self.ncm.control_data(&setup, data),
                    _ => false,
                };
                if accepted {
                    self.status();
                } else {
                    self.stall();
                }
            }
            Event::OutComplete(endpoint, _) => {
                let n = self.controller.read(endpoint, &mut self.buffer);
                let data = &self.buffer[..n];
                match endpoint {
                    descriptors::ACM_OUT => self.acm.received(data),
                    descriptors::NCM_OUT => self.ncm.received(data),
                    _ => {}
                }
            }
            Event::InComplete(_) => {}
            Event::Suspend => self.suspended = true,
            Event::Resume => self.suspended = false,
            Event::Disconnect => {
                self.stats.disconnects += 1;
                self.state = State::Detached;
                self.unconfigure();
            }
        }
    }

    fn stall(&mut self) {
        self.stats.stalls += 1;
        self.controller.control_stall();
    }

    fn status(&mut self) {
        if self.controller.control_status().is_err() {
            self.stats.controller_errors += 1;
        }
    }

    fn send(&mut self, setup: &SetupPacket, data: &[u8]) -> bool {
        let n = data.len().min(setup.length as usize);
        match self.controller.control_in(&data[..n]) {
            Ok(()) => true,
            Err(_) => {
                self.stats.controller_errors += 1;
                false
            }
        }
    }

    fn receive(&mut self, setup: &SetupPacket, length: usize) -> bool {
        if length != setup.length as usize || length > CONTROL_BYTES {
            return false;
        }
        match self.controller.control_out(length) {
            Ok(()) => {
                self.pending = Some(*setup);
                true
            }
            Err(_) => {
                self.stats.controller_errors += 1;
                false
            }
        }
    }

    /// Whether `address` is an endpoint of the configuration.
    fn known_endpoint(address: u8) -> bool {
        descriptors::endpoints(Speed::High).iter().any(|e| e.address == address)
    }

    /// Answers one SETUP; `false` means stall.
    fn setup(&mut self, setup: &SetupPacket) -> bool {
        let kind = (setup.request_type >> 5) & 3;
        let recipient = setup.request_type & 0x1f;
        let device_to_host = setup.request_type & 0x80 != 0;
        // A request whose data direction disagrees with its length is malformed.
        if kind == 1 {
            return self.class(setup);
        }
        if kind != 0 {
            return false;
        }
        let configured = self.state == State::Configured;
        match (setup.request, recipient, device_to_host) {
            (request::GET_DESCRIPTOR, 0, true) => self.descriptor(setup),
            (request::SET_ADDRESS, 0, false) if setup.value <= 127 && setup.index == 0 && setup.length == 0 => {
                if self.state == State::Configured {
                    return false;
                }
                self.controller.set_address(setup.value as u8);
                self.state = if setup.value == 0 { State::Default } else { State::Addressed };
                self.status();
                true
            }
            (request::SET_CONFIGURATION, 0, false) if setup.length == 0 => match setup.value {
                0 if self.state != State::Default => {
                    self.controller.close_all();
                    self.unconfigure();
                    self.state = State::Addressed;
                    self.status();
                    true
                }
                1 if self.state != State::Default => {
                    self.controller.close_all();
                    self.unconfigure();
                    for endpoint in descriptors::endpoints(self.speed) {
                        if self.controller.open(endpoint).is_err() {
                            self.stats.controller_errors += 1;
                            self.controller.close_all();
                            return false;
                        }
                    }
                    self.acm.configure(descriptors::bulk_packet(self.speed) as usize);
                    self.state = State::Configured;
                    self.status();
                    true
                }
                _ => false,
            },
            (8, 0, true) => {
                // GET_CONFIGURATION
                let value = [configured as u8];
                self.send(setup, &value)
            }
            (request::GET_STATUS, 0, true) => self.send(setup, &[0, 0]), // bus powered, no remote wakeup
            (request::GET_STATUS, 1, true) if configured && setup.index < 4 => self.send(setup, &[0, 0]),
            (request::GET_STATUS, 2, true) => {
                let endpoint = setup.index as u8;
                if endpoint & 0x7f != 0 && !(configured && Self::known_endpoint(endpoint)) {
                    return false;
                }
                let halted = endpoint & 0x7f != 0 && self.controller.halted(endpoint);
                self.send(setup, &[halted as u8, 0])
            }
            (request::CLEAR_FEATURE | request::SET_FEATURE, 2, false) if setup.value == 0 && setup.length == 0 => {
                // ENDPOINT_HALT on an endpoint of the configuration (endpoint 0's halt
                // clears by itself at the next SETUP).
                let endpoint = setup.index as u8;
                if endpoint & 0x7f == 0 {
                    self.status();
                    return true;
                }
                if !(configured && Self::known_endpoint(endpoint)) {
                    return false;
                }
                self.controller.set_halt(endpoint, setup.request == request::SET_FEATURE);
                self.status();
                true
            }
            (10, 1, true) if configured => {
                // GET_INTERFACE
                let alternate = match (setup.index & 0xff) as u8 {
                    descriptors::NCM_DATA => self.ncm.active() as u8,
                    0..=3 => 0,
                    _ => return false,
                };
                self.send(setup, &[alternate])
            }
            (request::SET_INTERFACE, 1, false) if configured && setup.length == 0 => {
                match ((setup.index & 0xff) as u8, setup.value) {
                    (descriptors::NCM_DATA, alternate) => {
                        if !self.ncm.select(alternate) {
                            return false;
                        }
                        // Selecting an alternate setting restarts its endpoints' toggles.
                        self.controller.set_halt(descriptors::NCM_IN, false);
                        self.controller.set_halt(descriptors::NCM_OUT, false);
                    }
                    (0..=2, 0) => {}
                    _ => return false,
                }
                self.status();
                true
            }
            _ => false,
        }
    }

    fn descriptor(&mut self, setup: &SetupPacket) -> bool {
        let [index, kind] = setup.value.to_le_bytes();
        let other = if self.speed == Speed::High { Speed::Full } else { Speed::High };
        match kind {
            1 => self.send(setup, &descriptors::device()),
            2 if index == 0 => self.send(setup, &descriptors::configuration(self.speed, 2)),
            3 => {
                let mut out = [0u8; descriptors::STRING_BYTES];
                match descriptors::string(&self.identity, index, &mut out) {
                    Some(n) => self.send(setup, &out[..n]),
                    None => false,
                }
            }
            6 => self.send(setup, &descriptors::qualifier()),
            7 if index == 0 => self.send(setup, &descriptors::configuration(other, 7)),
            _ => false,
        }
    }

    fn class(&mut self, setup: &SetupPacket) -> bool {
        if setup.request_type & 0x1f != 1 {
            return false;
        }
        if self.state != State::Configured {
            return false;
        }
        let answer = match (setup.index & 0xff) as u8 {
            descriptors::ACM_CONTROL => self.acm.request(setup),
            descriptors::NCM_CONTROL => self.ncm.request(setup),
            _ => return false,
        };
        match answer {
            Answer::In(data) => self.send(setup, &data),
            Answer::Out(n) => self.receive(setup, n),
            Answer::Status => {
                self.status();
                true
            }
            Answer::Stall => false,
        }
    }
}

#[cfg(test)]
mod tests;
