//! The composite gadget end to end: the DWC2 driver over the register-level model of the
//! core (`dwc2/device/sim.rs`), and a simulated host that enumerates it the way Linux does,
//! opens the serial port, brings the network interface up and gets a DHCP lease through it.
//! The descriptors are walked here byte by byte against the USB 2.0, IAD and CDC 1.2 / PSTN
//! 1.2 / NCM 1.0 layouts; NTBs from the gadget are decoded by a reader written from the NCM
//! spec, not by the gadget's own parser.

extern crate std;

use super::*;
use crate::usb::dwc2::device::{
    sim::{self, with_model, Handshake, Host},
    Dwc2Device,
};
use crate::usb::gadget::acm;
use std::{cell::RefCell, rc::Rc, vec, vec::Vec};
use testkit::Rng;

type Shared = Rc<RefCell<Gadget<Dwc2Device>>>;

const HOST_MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x54];

fn identity() -> Identity {
    Identity { product: "Kingly OS on Raspberry Pi Zero 2 W", serial: 0x1234_5678, host_mac: HOST_MAC }
}

fn gadget() -> Shared {
    let mut controller = sim::controller(true);
    controller.init().expect("init");
    controller.connect(true);
    Rc::new(RefCell::new(Gadget::new(controller, identity())))
}

/// What the driver's interrupt loop does: the core's state advances, the gadget polls.
fn pump(gadget: &Shared) -> impl FnMut() + use<> {
    let gadget = Rc::clone(gadget);
    move || {
        let mut gadget = gadget.borrow_mut();
        for _ in 0..8 {
            // The model applies the driver's register writes between its calls, as the
            // hardware applies them at once.
            for _ in 0..64 {
                with_model(|m| m.tick());
                if !gadget.step() {
                    break;
                }
            }
            with_model(|m| m.tick());
            gadget.service();
        }
    }
}

fn setup(request_type: u8, request: u8, value: u16, index: u16, length: u16) -> [u8; 8] {
    SetupPacket { request_type, request, value, index, length }.bytes()
}

/// Enumeration as Linux runs it: a first 64-byte device descriptor read at address 0, a
/// second reset, SET_ADDRESS, the whole device descriptor, the qualifier, the configuration
/// header then all of it, the strings, SET_CONFIGURATION. Returns the configuration bytes.
fn enumerate(host: &mut Host, pump: &mut dyn FnMut(), full_speed: bool) -> Vec<u8> {
    host.reset(pump, full_speed);
    let first = host.control_read(pump, setup(0x80, 6, 0x0100, 0, 64)).expect("device descriptor");
    assert_eq!(first.len(), 18);
    host.reset(pump, full_speed);
    host.control_write(pump, setup(0, 5, 9, 0, 0), &[]).expect("SET_ADDRESS");
    assert_eq!(host.device_address(), 9);
    let device = host.control_read(pump, setup(0x80, 6, 0x0100, 0, 18)).expect("device descriptor");
    assert_eq!(device, first);
    let qualifier = host.control_read(pump, setup(0x80, 6, 0x0600, 0, 10)).expect("qualifier");
    assert_eq!(qualifier[..2], [10, 6]);
    let header = host.control_read(pump, setup(0x80, 6, 0x0200, 0, 9)).expect("configuration header");
    let total = u16::from_le_bytes([header[2], header[3]]);
    let config = host.control_read(pump, setup(0x80, 6, 0x0200, 0, total)).expect("configuration");
    assert_eq!(config.len(), total as usize);
    let languages = host.control_read(pump, setup(0x80, 6, 0x0300, 0, 255)).expect("languages");
    assert_eq!(languages, [4, 3, 0x09, 0x04]);
    for index in [1, 2, 3] {
        let string = host.control_read(pump, setup(0x80, 6, 0x0300 | index, 0x0409, 255)).expect("string");
        assert_eq!(string[0] as usize, string.len());
        assert_eq!(string[1], 3);
    }
    host.control_write(pump, setup(0, 9, 1, 0, 0), &[]).expect("SET_CONFIGURATION");
    host.reset_toggles();
    config
}

/// The descriptors of one configuration, as (type, bytes).
fn walk(config: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < config.len() {
        let length = config[at] as usize;
        assert!(length >= 2 && at + length <= config.len(), "descriptor at {at} overruns");
        out.push((config[at + 1], config[at..at + length].to_vec()));
        at += length;
    }
    out
}

#[test]
fn the_descriptors_follow_the_usb_iad_and_cdc_layouts() {
    let g = gadget();
    let mut pump = pump(&g);
    let mut host = Host::default();
    let config = enumerate(&mut host, &mut pump, false);
    let descriptors = walk(&config);
    // Configuration: 4 interfaces, value 1, bus powered.
    assert_eq!(descriptors[0].1[..2], [9, 2]);
    assert_eq!((descriptors[0].1[4], descriptors[0].1[5], descriptors[0].1[7] & 0x80), (4, 1, 0x80));
    // Two IADs, each naming two interfaces starting at the function's control interface.
    let iads: Vec<_> = descriptors.iter().filter(|(kind, _)| *kind == 11).map(|(_, d)| d.clone()).collect();
    assert_eq!(iads.len(), 2);
    assert_eq!((iads[0][2], iads[0][3], iads[0][4], iads[0][5]), (0, 2, 0x02, 0x02), "ACM: CDC, ACM subclass");
    assert_eq!((iads[1][2], iads[1][3], iads[1][4], iads[1][5]), (2, 2, 0x02, 0x0d), "NCM: CDC, NCM subclass");
    // Each communication interface is followed by a CDC header first and a union naming
    // it master and the data interface after it as slave.
    for (position, (kind, d)) in descriptors.iter().enumerate() {
        if *kind != 4 || d[5] != 0x02 {
            continue;
        }
        let interface = d[2];
        let functional: Vec<&Vec<u8>> =
            descriptors[position + 1..].iter().take_while(|(k, _)| *k == 0x24).map(|(_, d)| d).collect();
        assert_eq!(functional[0][2], 0x00, "header functional descriptor first");
        assert_eq!(u16::from_le_bytes([functional[0][3], functional[0][4]]), 0x0120);
        let union = functional.iter().find(|f| f[2] == 0x06).expect("union");
        assert_eq!((union[3], union[4]), (interface, interface + 1));
        if d[6] == 0x0d {
            let ethernet = functional.iter().find(|f| f[2] == 0x0f).expect("Ethernet networking descriptor");
            assert_eq!(ethernet[0], 13);
            assert_eq!(u16::from_le_bytes([ethernet[8], ethernet[9]]), 1514, "wMaxSegmentSize");
            let ncm = functional.iter().find(|f| f[2] == 0x1a).expect("NCM functional descriptor");
            assert_eq!(u16::from_le_bytes([ncm[3], ncm[4]]), 0x0100);
            // The MAC string is 12 hex digits of the host's address.
            let mac = host.control_read(&mut pump, setup(0x80, 6, 0x0300 | ethernet[3] as u16, 0x0409, 255)).unwrap();
            let text: std::string::String =
                char::decode_utf16(mac[2..].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])))
                    .map(|c| c.unwrap())
                    .collect();
            assert_eq!(text, "021122334454");
        } else {
            let acm = functional.iter().find(|f| f[2] == 0x02).expect("ACM functional descriptor");
            assert_eq!(acm[3] & 0x02, 0x02, "line coding and serial state requests");
        }
    }
    // NCM's data interface: alternate 0 with no endpoints, alternate 1 with a bulk pair,
    // protocol 01 (NTB).
    let data: Vec<&Vec<u8>> =
        descriptors.iter().filter(|(k, d)| *k == 4 && d[2] == descriptors::NCM_DATA).map(|(_, d)| d).collect();
    assert_eq!(data.len(), 2);
    assert_eq!((data[0][3], data[0][4], data[0][5], data[0][7]), (0, 0, 0x0a, 0x01));
    assert_eq!((data[1][3], data[1][4]), (1, 2));
    // Endpoints at high speed: bulk 512, interrupt 16.
    for (_, e) in descriptors.iter().filter(|(k, _)| *k == 5) {
        let size = u16::from_le_bytes([e[4], e[5]]);
        match e[3] {
            2 => assert_eq!(size, 512),
            3 => assert_eq!(size, 16),
            other => panic!("endpoint type {other}"),
        }
    }
    // The other-speed configuration describes full speed.
    let other = host.control_read(&mut pump, setup(0x80, 6, 0x0700, 0, 255)).unwrap();
    assert_eq!(other[1], 7);
    assert!(walk(&other).iter().filter(|(k, e)| *k == 5 && e[3] == 2).all(|(_, e)| e[4] == 64 && e[5] == 0));
    assert_eq!(g.borrow().state(), State::Configured);
    assert_eq!(host.control_read(&mut pump, setup(0x80, 8, 0, 0, 1)).unwrap(), [1]);
}

/// Opens the port the way a terminal does: line coding, DTR.
fn open_serial(host: &mut Host, pump: &mut dyn FnMut()) {
    let coding = [0x00, 0xc2, 0x01, 0x00, 0, 0, 8]; // 115200 8N1
    host.control_write(pump, setup(0x21, 0x20, 0, descriptors::ACM_CONTROL as u16, 7), &coding).unwrap();
    assert_eq!(host.control_read(pump, setup(0xa1, 0x21, 0, 0, 7)).unwrap(), coding);
    host.control_write(pump, setup(0x21, 0x22, 3, 0, 0), &[]).unwrap();
}

#[test]
fn the_serial_port_carries_console_and_mcp_lines_both_ways() {
    let (g, mut pump, mut host, _) = connected(false);
    assert!(!g.borrow().acm.open());
    open_serial(&mut host, &mut pump);
    assert!(g.borrow().acm.open());
    // A line typed on the host reaches the console.
    let line = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n";
    host.transfer_out(&mut pump, 2, line, 512, false).unwrap();
    pump();
    let mut got = vec![0u8; 256];
    let n = g.borrow_mut().acm.read(&mut got);
    assert_eq!(&got[..n], line);
    // The console's answer reaches the host.
    let answer = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n";
    g.borrow_mut().acm.write(answer);
    pump();
    assert_eq!(host.transfer_in(&mut pump, 2, 512).as_deref(), Some(&answer[..]));
    // A long output (a log dump) arrives whole and in order, in several transfers.
    let long: Vec<u8> = (0..6000).map(|i| b'a' + (i % 26) as u8).collect();
    g.borrow_mut().acm.write(&long);
    let mut received = Vec::new();
    for _ in 0..16 {
        pump();
        match host.transfer_in(&mut pump, 2, 512) {
            Some(chunk) => received.extend_from_slice(&chunk),
            None if received.len() >= long.len() => break,
            None => {}
        }
    }
    assert_eq!(received, long);
    // Bad line codings are refused; the port keeps working.
    assert!(host.control_write(&mut pump, setup(0x21, 0x20, 0, 0, 7), &[0, 0, 0, 0, 9, 9, 3]).is_err());
    assert_eq!(g.borrow().acm.coding(), acm::LineCoding::DEFAULT);
    host.transfer_out(&mut pump, 2, b"help\n", 512, false).unwrap();
    pump();
    let n = g.borrow_mut().acm.read(&mut got);
    assert_eq!(&got[..n], b"help\n");
}

#[test]
fn output_nobody_reads_is_bounded_and_input_is_held_off_when_full() {
    let (g, mut pump, mut host, _) = connected(false);
    for _ in 0..100 {
        g.borrow_mut().acm.write(&[b'x'; 1000]);
        pump();
    }
    assert!(g.borrow().acm.dropped > 0, "the ring dropped its oldest bytes");
    // Fill the input ring: then the host's packets are NAKed, not lost.
    let mut sent = 0;
    while sent < acm::RX_RING + 2048 {
        if host.out_token(2, &[b'y'; 512], 512) != Handshake::Data(vec![]) {
            pump();
            if host.out_token(2, &[b'y'; 512], 512) != Handshake::Data(vec![]) {
                break;
            }
        }
        sent += 512;
        pump();
    }
    assert!(sent <= acm::RX_RING + 512, "input stopped at the ring's size, took {sent}");
    let mut buffer = vec![0u8; acm::RX_RING * 2];
    assert_eq!(g.borrow_mut().acm.read(&mut buffer), sent);
}

/// An NTB16 decoder written from NCM 1.0 tables 3-1 to 3-3 (independent of `ncm.rs`).
fn decode_ntb(block: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(&block[0..4], b"NCMH");
    assert_eq!(u16::from_le_bytes([block[4], block[5]]), 12);
    let length = u16::from_le_bytes([block[8], block[9]]) as usize;
    assert_eq!(length, block.len(), "wBlockLength is the transfer's length");
    let mut ndp = u16::from_le_bytes([block[10], block[11]]) as usize;
    let mut frames = Vec::new();
    while ndp != 0 {
        assert_eq!(&block[ndp..ndp + 4], b"NCM0");
        let table = u16::from_le_bytes([block[ndp + 4], block[ndp + 5]]) as usize;
        let mut entry = ndp + 8;
        while entry + 4 <= ndp + table {
            let index = u16::from_le_bytes([block[entry], block[entry + 1]]) as usize;
            let len = u16::from_le_bytes([block[entry + 2], block[entry + 3]]) as usize;
            if index == 0 || len == 0 {
                break;
            }
            assert_eq!(index % 4, 0, "datagrams aligned as GET_NTB_PARAMETERS said");
            frames.push(block[index..index + len].to_vec());
            entry += 4;
        }
        ndp = u16::from_le_bytes([block[ndp + 6], block[ndp + 7]]) as usize;
    }
    frames
}

/// An NTB16 built as a host driver does: NDP at the end, datagrams right after the header.
fn host_ntb(sequence: u16, frames: &[&[u8]]) -> Vec<u8> {
    let mut block = vec![0u8; 12];
    let mut entries = Vec::new();
    for frame in frames {
        while !block.len().is_multiple_of(4) {
            block.push(0);
        }
        entries.push((block.len() as u16, frame.len() as u16));
        block.extend_from_slice(frame);
    }
    while !block.len().is_multiple_of(4) {
        block.push(0);
    }
    let ndp = block.len();
    block.extend_from_slice(b"NCM0");
    let table = 8 + 4 * (entries.len() + 1);
    block.extend_from_slice(&(table as u16).to_le_bytes());
    block.extend_from_slice(&[0, 0]);
    for (index, len) in &entries {
        block.extend_from_slice(&index.to_le_bytes());
        block.extend_from_slice(&len.to_le_bytes());
    }
    block.extend_from_slice(&[0; 4]);
    let total = block.len() as u16;
    block[0..4].copy_from_slice(b"NCMH");
    block[4..6].copy_from_slice(&12u16.to_le_bytes());
    block[6..8].copy_from_slice(&sequence.to_le_bytes());
    block[8..10].copy_from_slice(&total.to_le_bytes());
    block[10..12].copy_from_slice(&(ndp as u16).to_le_bytes());
    block
}

/// Brings the network function up as Linux's cdc_ncm does: NTB parameters, format, input
/// size, alternate 0 then 1, packet filter; then reads the two link notifications.
fn start_network(host: &mut Host, pump: &mut dyn FnMut()) {
    let interface = descriptors::NCM_CONTROL as u16;
    let parameters = host.control_read(pump, setup(0xa1, 0x80, 0, interface, 28)).unwrap();
    assert_eq!(parameters.len(), 28);
    assert_eq!(u16::from_le_bytes([parameters[2], parameters[3]]) & 1, 1, "NTB16 supported");
    let in_max = u32::from_le_bytes(parameters[4..8].try_into().unwrap());
    let out_max = u32::from_le_bytes(parameters[16..20].try_into().unwrap());
    assert!(in_max >= 2048 && out_max >= 1514 + 28, "{in_max} {out_max}");
    host.control_write(pump, setup(0x21, 0x84, 0, interface, 0), &[]).unwrap();
    host.control_write(pump, setup(0x21, 0x86, 0, interface, 4), &in_max.to_le_bytes()).unwrap();
    assert_eq!(host.control_read(pump, setup(0xa1, 0x85, 0, interface, 4)).unwrap(), in_max.to_le_bytes());
    let data = descriptors::NCM_DATA as u16;
    host.control_write(pump, setup(0x01, 11, 0, data, 0), &[]).unwrap();
    host.control_write(pump, setup(0x01, 11, 1, data, 0), &[]).unwrap();
    host.reset_toggle(3);
    host.reset_toggle(4);
    host.control_write(pump, setup(0x21, 0x43, 0x0c, interface, 0), &[]).unwrap();
    assert_eq!(host.control_read(pump, setup(0x81, 10, 0, data, 1)).unwrap(), [1]);
    let speed = interrupt_in(host, pump, 3, 16).expect("speed notification");
    assert_eq!(speed[..2], [0xa1, 0x2a]);
    assert_eq!(u32::from_le_bytes(speed[8..12].try_into().unwrap()), 480_000_000);
    let connection = interrupt_in(host, pump, 3, 16).expect("connection notification");
    assert_eq!(connection, [0xa1, 0x00, 1, 0, interface as u8, 0, 0, 0]);
}

/// One interrupt packet, as a host driver's interrupt URB of one packet's size reads it.
fn interrupt_in(host: &mut Host, pump: &mut dyn FnMut(), endpoint: usize, size: usize) -> Option<Vec<u8>> {
    for _ in 0..16 {
        pump();
        match host.in_token(endpoint, size) {
            Handshake::Data(data) => return Some(data),
            Handshake::Nak => {}
            Handshake::Stall => return None,
        }
    }
    None
}

/// A gadget a simulated host has enumerated at high speed (and, with `network`, whose NCM
/// interface it has started), and the board's MAC on the link.
fn connected(network: bool) -> (Shared, impl FnMut() + use<>, Host, [u8; 6]) {
    let g = gadget();
    let mut pump = pump(&g);
    let mut host = Host::default();
    enumerate(&mut host, &mut pump, false);
    if network {
        start_network(&mut host, &mut pump);
    }
    let board_mac = g.borrow().ncm.mac_address();
    (g, pump, host, board_mac)
}

fn frame(to: [u8; 6], from: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&to);
    out.extend_from_slice(&from);
    out.extend_from_slice(&ethertype.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn frames_cross_the_network_function_in_both_directions() {
    let (g, mut pump, mut host, _) = connected(false);
    // Before the host starts the interface, frames from the stack go nowhere.
    let board_mac = g.borrow().ncm.mac_address();
    g.borrow_mut().ncm.transmit(&frame(HOST_MAC, board_mac, 0x0800, &[1; 50])).unwrap();
    start_network(&mut host, &mut pump);
    pump();
    assert_eq!(host.transfer_in(&mut pump, 4, 512), None, "nothing sent before the link was up");
    // Host to board: one block with two frames, then one with a full-size frame.
    let a = frame(board_mac, HOST_MAC, 0x0806, &[7; 28]);
    let b = frame(board_mac, HOST_MAC, 0x0800, &(0..1486).map(|i| i as u8).collect::<Vec<_>>());
    host.transfer_out(&mut pump, 4, &host_ntb(0, &[&a, &b]), 512, true).unwrap();
    pump();
    let mut gadget = g.borrow_mut();
    assert_eq!(gadget.ncm.receive().as_ref(), Some(&a));
    assert_eq!(gadget.ncm.receive().as_ref(), Some(&b));
    assert_eq!(gadget.ncm.receive(), None);
    // Board to host: three frames queued together come in one block.
    let frames: Vec<Vec<u8>> = (0..3).map(|i| frame(HOST_MAC, board_mac, 0x0800, &[i; 100])).collect();
    for f in &frames {
        gadget.ncm.transmit(f).unwrap();
    }
    drop(gadget);
    pump();
    let block = host.transfer_in(&mut pump, 4, 512).expect("a block");
    assert_eq!(decode_ntb(&block), frames);
    // A full-size frame alone.
    g.borrow_mut().ncm.transmit(&b).unwrap();
    pump();
    assert_eq!(decode_ntb(&host.transfer_in(&mut pump, 4, 512).unwrap()), core::slice::from_ref(&b));
    let counters = g.borrow().ncm.counters();
    assert_eq!((counters.rx_frames, counters.tx_frames), (2, 4));
    assert_eq!(with_model(|m| m.toggle_errors), 0);
}

#[test]
fn blocks_that_fill_their_last_packet_without_a_zero_length_packet_are_split_by_their_length() {
    let (g, mut pump, mut host, board_mac) = connected(true);
    // A block of exactly 512 bytes (one packet), sent without a zero-length packet as
    // Windows does, then a short block: the gadget must see two blocks, three frames.
    let mut first = None;
    for len in 400..520 {
        let f = frame(board_mac, HOST_MAC, 0x0800, &vec![3; len]);
        if host_ntb(1, &[&f]).len() == 512 {
            first = Some(f);
            break;
        }
    }
    let first = first.expect("a frame that makes a 512-byte block");
    let second = frame(board_mac, HOST_MAC, 0x0800, &[4; 60]);
    let third = frame(board_mac, HOST_MAC, 0x0800, &[5; 61]);
    let mut stream = host_ntb(1, &[&first]);
    assert_eq!(stream.len(), 512);
    stream.extend_from_slice(&host_ntb(2, &[&second, &third]));
    host.transfer_out(&mut pump, 4, &stream, 512, false).unwrap();
    pump();
    let mut gadget = g.borrow_mut();
    assert_eq!(gadget.ncm.receive(), Some(first));
    assert_eq!(gadget.ncm.receive(), Some(second));
    assert_eq!(gadget.ncm.receive(), Some(third));
    assert_eq!(gadget.ncm.bad_blocks, 0);
}

/// The minimal IPv4/UDP framing a DHCP exchange needs (checksums: IPv4 computed, UDP 0).
fn udp_frame(to: [u8; 6], from: [u8; 6], src: [u8; 4], dst: [u8; 4], ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    let total = (20 + 8 + payload.len()) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let sum = ip.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as u32).sum::<u32>();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&ports.0.to_be_bytes());
    ip.extend_from_slice(&ports.1.to_be_bytes());
    ip.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(payload);
    frame(to, from, 0x0800, &ip)
}

fn udp_payload(frame: &[u8]) -> &[u8] {
    assert_eq!(frame[12..14], [0x08, 0x00]);
    let header = ((frame[14] & 0x0f) as usize) * 4;
    &frame[14 + header + 8..]
}

#[test]
fn the_host_gets_a_dhcp_lease_through_the_network_function() {
    use formats::dhcp::{self, MessageType};
    let (g, mut pump, mut host, board_mac) = connected(true);
    let mut server = dhcp::Server::new(dhcp::Config::USB_LINK);
    let (server_ip, _) = dhcp::Config::USB_LINK.server_cidr();
    // The board side: what the kernel's network path does with a DHCP datagram.
    let mut serve = |g: &Shared| {
        let mut gadget = g.borrow_mut();
        while let Some(frame) = gadget.ncm.receive() {
            let Some(reply) = server.handle(udp_payload(&frame), 0) else { continue };
            let out = udp_frame([0xff; 6], board_mac, server_ip, [255; 4], (67, 68), &reply.datagram);
            gadget.ncm.transmit(&out).unwrap();
        }
    };
    let mut exchange = |host: &mut Host, message: Vec<u8>| {
        let out = udp_frame([0xff; 6], HOST_MAC, [0; 4], [255; 4], (68, 67), &message);
        host.transfer_out(&mut pump, 4, &host_ntb(9, &[&out]), 512, true).unwrap();
        pump();
        serve(&g);
        pump();
        let block = host.transfer_in(&mut pump, 4, 512).expect("an answer");
        let frames = decode_ntb(&block);
        assert_eq!(frames.len(), 1);
        dhcp::read_reply(udp_payload(&frames[0])).expect("a DHCP reply")
    };
    let (kind, offered, _) = exchange(&mut host, dhcp::client_message(MessageType::Discover, 7, HOST_MAC, &[]));
    assert_eq!(kind, MessageType::Offer);
    let request = dhcp::client_message(
        MessageType::Request,
        7,
        HOST_MAC,
        &[(dhcp::OPTION_REQUESTED_ADDRESS, &offered), (dhcp::OPTION_SERVER_ID, &server_ip)],
    );
    let (kind, address, options) = exchange(&mut host, request);
    assert_eq!((kind, address), (MessageType::Ack, offered));
    assert!(options.iter().any(|(code, _)| *code == dhcp::OPTION_SUBNET_MASK));
    assert!(!options.iter().any(|(code, _)| *code == 3), "no router: the cable never takes the default route");
}

#[test]
fn unplug_replug_and_bus_reset_bring_everything_back() {
    let (g, mut pump, mut host, _) = connected(true);
    open_serial(&mut host, &mut pump);
    host.unplug(&mut pump);
    pump();
    assert_eq!(g.borrow().state(), State::Detached);
    assert!(!g.borrow().ncm.active() && !g.borrow().acm.open());
    host.plug(&mut pump);
    pump();
    assert_eq!(g.borrow().state(), State::Default);
    enumerate(&mut host, &mut pump, false);
    start_network(&mut host, &mut pump);
    // A bus reset in the middle of traffic, then a full-speed enumeration.
    let board_mac = g.borrow().ncm.mac_address();
    g.borrow_mut().ncm.transmit(&frame(HOST_MAC, board_mac, 0x0800, &[1; 1400])).unwrap();
    pump();
    assert!(matches!(host.in_token(4, 512), Handshake::Data(_)));
    host.reset(&mut pump, true);
    pump();
    assert_eq!(g.borrow().state(), State::Default);
    enumerate(&mut host, &mut pump, true);
    assert_eq!(g.borrow().speed(), Speed::Full);
    open_serial(&mut host, &mut pump);
    g.borrow_mut().acm.write(b"kingly> ");
    pump();
    assert_eq!(host.transfer_in(&mut pump, 2, 64).as_deref(), Some(&b"kingly> "[..]));
    host.suspend(&mut pump);
    assert!(g.borrow().suspended());
    host.resume(&mut pump);
    assert!(!g.borrow().suspended());
    assert_eq!(g.borrow().stats().disconnects, 1);
}

#[test]
fn malformed_requests_stall_and_the_gadget_keeps_serving() {
    let (g, mut pump, mut host, _) = connected(true);
    let mut rng = Rng::new(21);
    for _ in 0..3000 {
        let mut packet = [0u8; 8];
        for byte in &mut packet {
            *byte = rng.byte();
        }
        // Keep the state: no SET_ADDRESS, SET_CONFIGURATION or SET_INTERFACE to real values.
        if packet[0] & 0x60 == 0 && matches!(packet[1], 5 | 9 | 11) {
            continue;
        }
        packet[6] = packet[6].min(64);
        packet[7] = 0;
        let length = packet[6] as usize;
        if packet[0] & 0x80 != 0 {
            let _ = host.control_read(&mut pump, packet);
        } else {
            let data = vec![0x5a; length];
            let _ = host.control_write(&mut pump, packet, &data);
        }
    }
    assert!(g.borrow().stats().stalls > 100);
    assert_eq!(host.control_read(&mut pump, setup(0x80, 6, 0x0100, 0, 18)).unwrap().len(), 18);
    assert_eq!(g.borrow().state(), State::Configured);
}

#[test]
fn mutated_blocks_from_the_host_never_fault_and_good_ones_still_pass() {
    let (g, mut pump, mut host, board_mac) = connected(true);
    let good = frame(board_mac, HOST_MAC, 0x0800, &[9; 200]);
    let seed = host_ntb(0, &[&good, &good]);
    let mut rng = Rng::new(4);
    for round in 0..2000 {
        let mut block = seed.clone();
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(block.len());
            block[at] = match rng.below(3) {
                0 => rng.byte(),
                1 => 0xff,
                _ => block[at] ^ (1 << rng.below(8)),
            };
        }
        if round % 7 == 0 {
            block.truncate(rng.below(block.len()));
        }
        host.transfer_out(&mut pump, 4, &block, 512, true).unwrap();
        pump();
        while g.borrow_mut().ncm.receive().is_some() {}
    }
    assert!(g.borrow().ncm.bad_blocks > 100, "mutations were refused: {}", g.borrow().ncm.bad_blocks);
    host.transfer_out(&mut pump, 4, &seed, 512, true).unwrap();
    pump();
    assert_eq!(g.borrow_mut().ncm.receive(), Some(good.clone()));
    assert_eq!(g.borrow_mut().ncm.receive(), Some(good));
}
