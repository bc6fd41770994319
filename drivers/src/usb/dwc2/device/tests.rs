//! The device driver against the simulated core (`sim.rs`): bring-up, bus reset and
//! enumeration, the three kinds of control transfer, bulk and interrupt transfers with
//! toggles and zero-length packets, halts, suspend, unplug.

extern crate std;

use super::sim::{self, with_model, Handshake, Host};
use super::*;
use std::{cell::RefCell, rc::Rc, vec, vec::Vec};

/// The driver behind a shared handle, and a log of its events.
struct Rig {
    device: Rc<RefCell<Dwc2Device>>,
    events: Rc<RefCell<Vec<Event>>>,
    /// The last control OUT data stage, as the device read it.
    written: Rc<RefCell<Vec<u8>>>,
}

impl Rig {
    fn new() -> Rig {
        let mut device = sim::controller(true);
        device.init().expect("init");
        device.connect(true);
        Rig {
            device: Rc::new(RefCell::new(device)),
            events: Rc::new(RefCell::new(Vec::new())),
            written: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// A pump that answers control requests like a tiny device: GET_DESCRIPTOR(device) with
    /// 18 bytes, a vendor write of up to 100 bytes kept in `written`, a vendor read of 128
    /// bytes, SET_ADDRESS, SET_CONFIGURATION opening bulk endpoint 1 both ways; anything
    /// else stalls.
    fn pump(&self) -> impl FnMut() + use<> {
        let device = Rc::clone(&self.device);
        let events = Rc::clone(&self.events);
        let written = Rc::clone(&self.written);
        move || {
            let mut device = device.borrow_mut();
            // The model applies the driver's writes between its calls, as the hardware
            // applies them at once; a bounded loop, so a driver that never clears a flag
            // fails instead of hanging.
            for _ in 0..64 {
                with_model(|m| m.tick());
                let Some(event) = device.poll() else { break };
                events.borrow_mut().push(event);
                match event {
                    Event::Setup(setup) => match (setup.request_type, setup.request) {
                        (0x80, 6) if setup.value == 0x0100 => {
                            device.control_in(&[18, 1, 0, 2, 0, 0, 0, 64, 1, 2, 3, 4, 0, 1, 0, 0, 0, 1]).unwrap()
                        }
                        (0x00, 5) => {
                            device.set_address(setup.value as u8);
                            device.control_status().unwrap();
                        }
                        (0x00, 9) => {
                            device.close_all();
                            for address in [0x81, 0x01] {
                                let config = EndpointConfig { address, kind: EndpointKind::Bulk, max_packet: 512 };
                                device.open(config).unwrap();
                            }
                            device.control_status().unwrap();
                        }
                        (0x40, 1) => device.control_out(setup.length as usize).unwrap(),
                        (0xc0, 2) => device.control_in(&(0..128).map(|i| i as u8).collect::<Vec<_>>()).unwrap(),
                        _ => device.control_stall(),
                    },
                    Event::ControlData(n) => {
                        let mut data = vec![0u8; n];
                        assert_eq!(device.control_data(&mut data), n);
                        *written.borrow_mut() = data;
                        device.control_status().unwrap()
                    }
                    _ => {}
                }
            }
        }
    }

    fn take_events(&self) -> Vec<Event> {
        core::mem::take(&mut *self.events.borrow_mut())
    }
}

fn setup_bytes(request_type: u8, request: u8, value: u16, index: u16, length: u16) -> [u8; 8] {
    SetupPacket { request_type, request, value, index, length }.bytes()
}

#[test]
fn bring_up_connects_and_a_bus_reset_is_reported_with_the_speed() {
    let rig = Rig::new();
    assert!(
        with_model(|m| {
            m.tick();
            m.pulled_up
        }),
        "connected after init"
    );
    assert!(rig.device.borrow().info().vbus_sensed);
    let mut pump = rig.pump();
    let mut host = Host::default();
    host.reset(&mut pump, false);
    pump();
    assert_eq!(rig.take_events(), [Event::Reset, Event::Enumerated(Speed::High)]);
    host.reset(&mut pump, true);
    pump();
    assert_eq!(rig.take_events(), [Event::Reset, Event::Enumerated(Speed::Full)]);
}

#[test]
fn a_port_without_vbus_sensing_overrides_the_session() {
    let mut device = sim::controller(false);
    device.init().expect("init");
    assert!(!device.info().vbus_sensed);
    let otg = with_model(|m| m.get(0));
    assert_eq!(otg & (0b11 << 6), 0b11 << 6, "B-valid override set");
}

#[test]
fn control_reads_writes_and_no_data_requests_run_all_stages() {
    let rig = Rig::new();
    let mut pump = rig.pump();
    let mut host = Host::default();
    host.reset(&mut pump, false);
    // Asked for 64, the device has 18: a short packet ends the stage.
    let descriptor = host.control_read(&mut pump, setup_bytes(0x80, 6, 0x0100, 0, 64)).unwrap();
    assert_eq!(descriptor.len(), 18);
    assert_eq!(descriptor[7], 64);
    // Asked for 8: the device sends only 8.
    let first = host.control_read(&mut pump, setup_bytes(0x80, 6, 0x0100, 0, 8)).unwrap();
    assert_eq!(first, descriptor[..8]);
    // A 128-byte answer is two packets; asked for 255, it ends on a packet boundary, so a
    // zero-length packet ends the stage.
    let long = host.control_read(&mut pump, setup_bytes(0xc0, 2, 0, 0, 255)).unwrap();
    assert_eq!(long, (0..128).map(|i| i as u8).collect::<Vec<_>>());
    // A 100-byte write: two packets, then the IN status.
    let data: Vec<u8> = (0..100).map(|i| (i * 3) as u8).collect();
    host.control_write(&mut pump, setup_bytes(0x40, 1, 0, 0, 100), &data).unwrap();
    assert_eq!(*rig.written.borrow(), data, "the data stage as the device read it");
    // SET_ADDRESS: the address is programmed and the status stage runs.
    host.control_write(&mut pump, setup_bytes(0, 5, 7, 0, 0), &[]).unwrap();
    assert_eq!(host.device_address(), 7);
    assert!(rig.take_events().iter().any(|e| matches!(e, Event::ControlData(100))));
}

#[test]
fn unknown_requests_stall_and_the_next_setup_clears_it() {
    let rig = Rig::new();
    let mut pump = rig.pump();
    let mut host = Host::default();
    host.reset(&mut pump, false);
    assert_eq!(host.control_read(&mut pump, setup_bytes(0x80, 6, 0x0f00, 0, 5)), Err(()));
    assert_eq!(host.control_read(&mut pump, setup_bytes(0x80, 6, 0x0100, 0, 18)).map(|d| d.len()), Ok(18));
}

#[test]
fn bulk_transfers_move_whole_frames_with_toggles_and_zero_length_packets() {
    let rig = Rig::new();
    let mut pump = rig.pump();
    let mut host = Host::default();
    host.reset(&mut pump, false);
    host.control_write(&mut pump, setup_bytes(0, 9, 1, 0, 0), &[]).unwrap();
    host.reset_toggles();
    // IN: nothing queued → NAK; then a 1514-byte frame in three packets.
    assert_eq!(host.transfer_in(&mut pump, 1, 512), None);
    let frame: Vec<u8> = (0..1514).map(|i| (i % 251) as u8).collect();
    rig.device.borrow_mut().write(0x81, &frame, true).unwrap();
    assert_eq!(rig.device.borrow_mut().write(0x81, &frame, true), Err(GadgetError::Busy(0x81)));
    assert_eq!(host.transfer_in(&mut pump, 1, 512), Some(frame.clone()));
    pump();
    assert!(rig.take_events().contains(&Event::InComplete(0x81)));
    // Exactly 1024 bytes: a zero-length packet follows, so the host's read ends.
    let exact = vec![0x5a; 1024];
    rig.device.borrow_mut().write(0x81, &exact, true).unwrap();
    let got = host.transfer_in(&mut pump, 1, 512);
    assert_eq!(got.as_deref(), Some(&exact[..]));
    pump();
    assert_eq!(rig.take_events().iter().filter(|e| **e == Event::InComplete(0x81)).count(), 1);
    // OUT: not armed → NAK; armed → the frame arrives, ended by its short packet.
    assert_eq!(host.out_token(1, &[1; 512], 512), Handshake::Nak);
    rig.device.borrow_mut().arm(0x01, 2048).unwrap();
    host.transfer_out(&mut pump, 1, &frame[..700], 512, true).unwrap();
    pump();
    assert!(rig.take_events().contains(&Event::OutComplete(0x01, 700)));
    let mut buffer = vec![0u8; 2048];
    let n = rig.device.borrow().read(0x01, &mut buffer);
    assert_eq!(&buffer[..n], &frame[..700]);
    // A transfer that fills its packets ends with the host's zero-length packet.
    rig.device.borrow_mut().arm(0x01, 2048).unwrap();
    host.transfer_out(&mut pump, 1, &exact, 512, true).unwrap();
    pump();
    assert!(rig.take_events().contains(&Event::OutComplete(0x01, 1024)));
    assert_eq!(with_model(|m| m.toggle_errors), 0, "data toggles stayed in step");
}

#[test]
fn closed_endpoints_and_oversized_transfers_are_errors() {
    let rig = Rig::new();
    let mut device = rig.device.borrow_mut();
    assert_eq!(device.write(0x81, &[1], false), Err(GadgetError::NotOpen(0x81)));
    assert_eq!(device.arm(0x01, 64), Err(GadgetError::NotOpen(0x01)));
    let config = EndpointConfig { address: 0x81, kind: EndpointKind::Bulk, max_packet: 512 };
    device.open(config).unwrap();
    assert_eq!(device.write(0x81, &[0; 4096], false), Err(GadgetError::TooLong { len: 4096, max: ENDPOINT_BYTES }));
    let far = EndpointConfig { address: 0x87, kind: EndpointKind::Bulk, max_packet: 512 };
    assert_eq!(device.open(far), Err(GadgetError::NoRoom));
}

#[test]
fn halted_endpoints_stall_and_clearing_restarts_the_toggle() {
    let rig = Rig::new();
    let mut pump = rig.pump();
    let mut host = Host::default();
    host.reset(&mut pump, false);
    host.control_write(&mut pump, setup_bytes(0, 9, 1, 0, 0), &[]).unwrap();
    rig.device.borrow_mut().write(0x81, &[1, 2, 3], false).unwrap();
    assert_eq!(host.transfer_in(&mut pump, 1, 512), Some(vec![1, 2, 3]));
    pump();
    rig.device.borrow_mut().set_halt(0x81, true);
    assert!(rig.device.borrow().halted(0x81));
    assert_eq!(host.in_token(1, 512), Handshake::Stall);
    rig.device.borrow_mut().set_halt(0x81, false);
    host.reset_toggle(1);
    with_model(|m| m.tick());
    rig.device.borrow_mut().write(0x81, &[4], false).unwrap();
    assert_eq!(host.transfer_in(&mut pump, 1, 512), Some(vec![4]));
    assert_eq!(with_model(|m| m.toggle_errors), 0);
}

#[test]
fn suspend_resume_unplug_and_replug_are_reported_and_recover() {
    let rig = Rig::new();
    let mut pump = rig.pump();
    let mut host = Host::default();
    host.reset(&mut pump, false);
    host.control_write(&mut pump, setup_bytes(0, 9, 1, 0, 0), &[]).unwrap();
    host.suspend(&mut pump);
    host.resume(&mut pump);
    pump();
    let events = rig.take_events();
    assert!(events.ends_with(&[Event::Suspend, Event::Resume]), "{events:?}");
    host.unplug(&mut pump);
    pump();
    assert_eq!(rig.take_events(), [Event::Disconnect]);
    assert_eq!(rig.device.borrow_mut().write(0x81, &[1], false), Err(GadgetError::NotOpen(0x81)));
    host.plug(&mut pump);
    pump();
    assert_eq!(rig.take_events(), [Event::Reset, Event::Enumerated(Speed::High)]);
    assert_eq!(host.control_read(&mut pump, setup_bytes(0x80, 6, 0x0100, 0, 18)).map(|d| d.len()), Ok(18));
}

#[test]
fn a_bus_reset_in_the_middle_of_a_transfer_closes_everything() {
    let rig = Rig::new();
    let mut pump = rig.pump();
    let mut host = Host::default();
    host.reset(&mut pump, false);
    host.control_write(&mut pump, setup_bytes(0, 9, 1, 0, 0), &[]).unwrap();
    rig.device.borrow_mut().write(0x81, &[9; 1000], true).unwrap();
    assert!(matches!(host.in_token(1, 512), Handshake::Data(d) if d.len() == 512));
    host.reset(&mut pump, false);
    assert_eq!(host.in_token(1, 512), Handshake::Nak, "the endpoint is no longer active");
    assert!(!rig.device.borrow().busy(0x81));
    assert_eq!(host.device_address(), 0);
    assert_eq!(host.control_read(&mut pump, setup_bytes(0x80, 6, 0x0100, 0, 18)).map(|d| d.len()), Ok(18));
}

#[test]
fn a_core_that_stays_a_host_is_refused_at_bring_up() {
    let mut device = sim::controller(true);
    with_model(|m| m.stay_host());
    assert_eq!(
        device.init(),
        Err(GadgetError::Controller("device mode (the core stayed in host mode)")),
        "QEMU's DWC2 is host-only: bring-up must say so, not wait for a bus reset forever"
    );
}
