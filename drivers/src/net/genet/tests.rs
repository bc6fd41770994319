//! The GENET driver against the model in `sim.rs`: bring-up (revision check, MAC, filter,
//! rings aligned on indices the hardware does not reset), PHY discovery and
//! auto-negotiation to the best common mode, frames both ways across ring wrap-around, bad
//! descriptors, a full transmit ring, link loss and return, and every wait that can hang
//! ending at its deadline.

extern crate std;

use super::sim::{self, with_model, Partner};
use super::*;
use std::{vec, vec::Vec};
use testkit::Rng;

const MAC: [u8; 6] = [0xdc, 0xa6, 0x32, 0x01, 0x02, 0x03];
const PEER: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x09];

fn frame(to: [u8; 6], tag: u8, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&to);
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend((0..len.saturating_sub(14)).map(|i| tag.wrapping_add(i as u8)));
    f
}

/// Up with a link: init, then poll until auto-negotiation is done.
fn up(partner: Partner) -> Genet {
    let mut nic = sim::controller(0x0600_0000).expect("a GENET v5");
    with_model(|m| m.phy.partner = partner);
    nic.init(MAC).expect("init");
    for _ in 0..100 {
        if nic.poll_link().expect("PHY answers").is_some() {
            return nic;
        }
    }
    panic!("no link")
}

fn receive_all(nic: &mut Genet) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer = [0u8; MAX_FRAME];
    while let Some(n) = nic.receive(&mut buffer).expect("receive") {
        out.push(buffer[..n].to_vec());
    }
    out
}

#[test]
fn only_a_genet_v5_is_taken() {
    assert_eq!(sim::controller(0x0500_0000).err(), Some(Error::NotGenet5(0x0500_0000)));
    assert!(sim::controller(0x0602_0000).is_ok());
}

#[test]
fn bring_up_programs_the_mac_the_filter_and_rings_aligned_on_the_hardware_indices() {
    let mut nic = sim::controller(0x0600_0000).unwrap();
    let phy = nic.init(MAC).expect("init");
    assert_eq!(phy.address, 1, "the Pi 4's PHY address");
    assert_eq!((phy.id.0, phy.id.1 & 0xfff0), mii::BCM54213PE);
    with_model(|m| {
        assert_eq!(m.get(0x80c / 4), 0xdca6_3201, "MAC high");
        assert_eq!(m.get(0x810 / 4), 0x0203, "MAC low");
        assert_eq!(m.get(0x004 / 4), 3, "external gigabit PHY");
        let oob = m.get(0x08c / 4);
        assert_eq!(
            oob & ((1 << 6) | (1 << 16)),
            (1 << 6) | (1 << 16),
            "RGMII on, the MAC adds no delay (as U-Boot and Circle set it on the Pi 4)"
        );
        // The consumer starts at the producer the hardware kept, and vice versa.
        assert_eq!(m.get((0x2c00 + 0x400 + 0xc) / 4), 0x1234, "receive consumer = producer");
        assert_eq!(m.get((0x4c00 + 0x400 + 0xc) / 4), 0x0042, "transmit producer = consumer");
        assert_eq!(m.get((0x2c00 + 0x400 + 0x1c) / 4), (RX_DESCS * 3 - 1) as u32);
        assert_eq!(m.get(0x2c00 / 4 + 0x444 / 4) & 1, 1, "receive DMA on");
    });
    assert_eq!(nic.link(), None, "bring-up does not wait for a cable");
    assert!(!nic.link_up() || nic.link().is_some());
}

#[test]
fn auto_negotiation_settles_on_the_best_mode_both_ends_share() {
    for (partner, speed, full, field) in
        [(Partner::GIGABIT, 1000, true, 2), (Partner::FAST, 100, true, 1), (Partner::HUB, 10, false, 0)]
    {
        let nic = up(partner);
        assert_eq!(nic.link(), Some(Link { speed, full_duplex: full }), "{partner:?}");
        with_model(|m| {
            let command = m.get(0x808 / 4);
            assert_eq!((command >> 2) & 3, field, "UMAC speed for {speed}");
            assert_eq!(command & (1 << 10) != 0, !full, "half duplex bit");
            assert_eq!(command & 3, 3, "MAC transmit and receive on");
            assert_ne!(m.get(0x08c / 4) & (1 << 4), 0, "RGMII link");
        });
    }
}

#[test]
fn frames_cross_both_rings_many_times_around() {
    let mut nic = up(Partner::GIGABIT);
    // Receive: 300 frames, more than four times around the 64-entry ring.
    let mut expected = Vec::new();
    let mut got = Vec::new();
    for round in 0..10u8 {
        for i in 0..30u8 {
            let f = frame(MAC, round.wrapping_mul(31).wrapping_add(i), 60 + (i as usize * 47) % 1450);
            expected.push(f.clone());
            with_model(|m| m.wire.push_back((f, 0)));
        }
        got.extend(receive_all(&mut nic));
    }
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);
    // Transmit: 100 frames, three times around the 32-entry ring; a short one is padded.
    for i in 0..100u8 {
        nic.transmit(&frame(PEER, i, 100 + i as usize)).unwrap();
        let _ = sim::now();
    }
    nic.transmit(&frame(PEER, 7, 20)).unwrap();
    for _ in 0..4 {
        let _ = sim::now();
    }
    let sent = with_model(|m| {
        assert!(m.crc_appended.iter().all(|&crc| crc), "the MAC appends the CRC");
        m.take_sent()
    });
    assert_eq!(sent.len(), 101);
    for (i, f) in sent[..100].iter().enumerate() {
        assert_eq!(*f, frame(PEER, i as u8, 100 + i));
    }
    assert_eq!(sent[100].len(), 60, "padded to the minimum");
    assert_eq!(&sent[100][..20], &frame(PEER, 7, 20)[..]);
    let counters = nic.counters();
    assert_eq!((counters.rx_frames, counters.tx_frames), (300, 101));
}

#[test]
fn a_full_transmit_ring_is_busy_not_a_wait() {
    let mut nic = up(Partner::GIGABIT);
    with_model(|m| m.tx_paused = true);
    for i in 0..TX_DESCS {
        nic.transmit(&frame(PEER, i as u8, 64)).unwrap();
    }
    assert_eq!(nic.transmit(&frame(PEER, 0, 64)), Err(NetError::Busy));
    with_model(|m| m.tx_paused = false);
    let _ = sim::now();
    assert!(nic.transmit(&frame(PEER, 1, 64)).is_ok(), "room again once the hardware sent");
    let _ = sim::now();
    assert_eq!(with_model(|m| m.take_sent()).len(), TX_DESCS + 1);
}

#[test]
fn bad_descriptors_are_dropped_and_counted_and_the_filter_keeps_strangers_out() {
    let mut nic = up(Partner::GIGABIT);
    let good = frame(MAC, 1, 100);
    with_model(|m| {
        m.wire.push_back((frame(MAC, 2, 100), 0x0002)); // CRC error
        m.wire.push_back((frame(MAC, 3, 100), 0x0001)); // overrun
        m.wire.push_back((frame(MAC, 4, 1600), 0)); // longer than a frame
        m.wire.push_back((frame(MAC, 5, 14)[..10].to_vec(), 0)); // shorter than a header
        m.wire.push_back((frame([0x02, 9, 9, 9, 9, 9], 6, 100), 0)); // someone else's
        m.wire.push_back((frame([0xff; 6], 7, 100), 0)); // broadcast
        m.wire.push_back((frame([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb], 8, 100), 0)); // mDNS
        m.wire.push_back((good.clone(), 0));
    });
    let got = receive_all(&mut nic);
    assert_eq!(got.len(), 3, "broadcast, mDNS, ours");
    assert_eq!(got[2], good);
    assert_eq!(nic.rx_errors, 4);
    assert_eq!(with_model(|m| m.filtered), 1);
}

#[test]
fn link_loss_stops_the_mac_and_the_link_comes_back() {
    let mut nic = up(Partner::GIGABIT);
    with_model(|m| m.phy.unplug());
    assert_eq!(nic.poll_link().unwrap(), None);
    assert!(!nic.link_up());
    with_model(|m| assert_eq!(m.get(0x808 / 4) & 3, 0, "MAC stopped"));
    // Frames for a dead link are dropped, not queued forever.
    nic.transmit(&frame(PEER, 1, 64)).unwrap();
    assert_eq!(nic.counters().dropped, 1);
    with_model(|m| m.phy.plug());
    let mut link = None;
    for _ in 0..100 {
        link = nic.poll_link().unwrap();
        if link.is_some() {
            break;
        }
    }
    assert_eq!(link, Some(Link { speed: 1000, full_duplex: true }));
    assert_eq!(nic.link_changes, 3, "up, down, up");
    nic.transmit(&frame(PEER, 2, 64)).unwrap();
    let _ = sim::now();
    assert_eq!(with_model(|m| m.take_sent()), [frame(PEER, 2, 64)]);
}

#[test]
fn every_wait_that_can_hang_ends_at_its_deadline_with_the_step_named() {
    let mut nic = sim::controller(0x0600_0000).unwrap();
    with_model(|m| m.dma_stuck = true);
    assert_eq!(nic.init(MAC), Err(Error::Timeout("stopping the transmit DMA")));

    let mut nic = sim::controller(0x0600_0000).unwrap();
    with_model(|m| m.mdio_dead = true);
    assert_eq!(nic.init(MAC), Err(Error::Timeout("an MDIO read")));

    let mut nic = sim::controller(0x0600_0000).unwrap();
    with_model(|m| m.phy.stuck = true);
    assert_eq!(nic.init(MAC), Err(Error::Timeout("the PHY's auto-negotiation restart")));

    let mut nic = sim::controller(0x0600_0000).unwrap();
    with_model(|m| m.phy.address = None);
    assert_eq!(nic.init(MAC), Err(Error::NoPhy));

    // A PHY on another address is found by the scan.
    let mut nic = sim::controller(0x0600_0000).unwrap();
    with_model(|m| m.phy.address = Some(7));
    assert_eq!(nic.init(MAC).map(|p| p.address), Ok(7));
}

#[test]
fn garbage_from_the_hardware_never_faults_and_is_counted() {
    let mut nic = up(Partner::GIGABIT);
    let mut rng = Rng::new(54213);
    let mut buffer = vec![0u8; MAX_FRAME];
    let mut errors = 0;
    for _ in 0..5000 {
        with_model(|m| {
            // Any status word, any address word: the driver reads lengths and flags from
            // descriptors but only its own buffer addresses, so a scribbled address cannot
            // make it copy from elsewhere.
            let word = 0x2000 / 4 + rng.below(RX_DESCS * 3);
            m.set(word, rng.next_u32());
            if rng.chance(1, 10) {
                let producer = (m.get((0x2c00 + 0x408) / 4) + rng.below(300) as u32) & 0xffff;
                m.set((0x2c00 + 0x408) / 4, producer);
            }
        });
        if nic.receive(&mut buffer).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 0, "an index jump past the ring is reported");
    assert!(nic.rx_errors > 100, "bad descriptors are counted: {}", nic.rx_errors);
    assert!(nic.counters().rx_frames > 0, "some garbage looks like frames and is delivered as such");
}
