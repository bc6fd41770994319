extern crate std;

use super::*;
use testkit::Rng;

const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
const OTHER: [u8; 6] = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];

fn server() -> Server {
    Server::new(Config::USB_LINK)
}

fn option(options: &[(u8, Vec<u8>)], code: u8) -> Option<&[u8]> {
    options.iter().find(|(c, _)| *c == code).map(|(_, v)| v.as_slice())
}

/// DISCOVER → OFFER → REQUEST → ACK, as a client in SELECTING state does it.
fn lease(server: &mut Server, mac: [u8; 6], now: u64) -> [u8; 4] {
    let offer = server.handle(&client_message(MessageType::Discover, 7, mac, &[]), now).expect("an offer");
    assert_eq!(offer.kind, MessageType::Offer);
    let (kind, address, options) = read_reply(&offer.datagram).expect("a reply");
    assert_eq!((kind, address), (MessageType::Offer, offer.address));
    assert_eq!(option(&options, OPTION_SERVER_ID), Some(&Config::USB_LINK.server[..]));
    let request = client_message(
        MessageType::Request,
        8,
        mac,
        &[(OPTION_REQUESTED_ADDRESS, &address), (OPTION_SERVER_ID, &Config::USB_LINK.server)],
    );
    let ack = server.handle(&request, now).expect("an answer");
    assert_eq!(ack.kind, MessageType::Ack);
    assert_eq!(ack.address, address);
    address
}

#[test]
fn a_host_gets_the_first_address_with_mask_and_lease_but_no_router_or_dns() {
    let mut s = server();
    let offer = s.handle(&client_message(MessageType::Discover, 0x1234_5678, MAC, &[]), 100).unwrap();
    assert_eq!(offer.address, [10, 42, 0, 2]);
    assert!(offer.datagram.len() >= 300, "padded to the BOOTP minimum");
    let d = &offer.datagram;
    assert_eq!(&d[..4], &[2, 1, 6, 0]);
    assert_eq!(&d[4..8], &0x1234_5678u32.to_be_bytes(), "xid echoed");
    assert_eq!(&d[10..12], &[0x80, 0], "broadcast flag echoed");
    assert_eq!(&d[28..34], &MAC, "chaddr echoed");
    let (_, _, options) = read_reply(d).unwrap();
    assert_eq!(option(&options, OPTION_SUBNET_MASK), Some(&[255, 255, 255, 0][..]));
    assert_eq!(option(&options, OPTION_LEASE_TIME), Some(&3600u32.to_be_bytes()[..]));
    assert_eq!(option(&options, 3), None, "no router: the cable must not take the host's default route");
    assert_eq!(option(&options, 6), None, "no DNS server");
    assert_eq!(lease(&mut s, MAC, 100), [10, 42, 0, 2]);
    let leases: std::vec::Vec<_> = s.leases(100).collect();
    assert_eq!(leases.len(), 1);
    assert!(leases[0].bound);
    assert_eq!(leases[0].expires, 3700);
}

#[test]
fn the_same_host_keeps_its_address_and_a_second_host_gets_the_next() {
    let mut s = server();
    let first = lease(&mut s, MAC, 0);
    assert_eq!(lease(&mut s, MAC, 10), first, "a re-plugged host gets its address back");
    assert_eq!(lease(&mut s, OTHER, 10), [10, 42, 0, 3]);
}

#[test]
fn renewal_through_ciaddr_extends_the_lease() {
    let mut s = server();
    let address = lease(&mut s, MAC, 0);
    let mut renew = client_message(MessageType::Request, 9, MAC, &[]);
    renew[12..16].copy_from_slice(&address);
    let ack = s.handle(&renew, 1800).unwrap();
    assert_eq!((ack.kind, ack.address), (MessageType::Ack, address));
    assert_eq!(s.leases(1800).next().unwrap().expires, 1800 + 3600);
}

#[test]
fn a_request_for_a_foreign_or_taken_address_is_refused() {
    let mut s = server();
    let taken = lease(&mut s, MAC, 0);
    let foreign = client_message(MessageType::Request, 1, OTHER, &[(OPTION_REQUESTED_ADDRESS, &[192, 168, 1, 50])]);
    assert_eq!(s.handle(&foreign, 1).unwrap().kind, MessageType::Nak);
    let stolen = client_message(MessageType::Request, 2, OTHER, &[(OPTION_REQUESTED_ADDRESS, &taken)]);
    let nak = s.handle(&stolen, 1).unwrap();
    assert_eq!((nak.kind, nak.address), (MessageType::Nak, [0; 4]));
    assert_eq!(read_reply(&nak.datagram).unwrap().0, MessageType::Nak);
}

#[test]
fn a_request_for_another_server_is_not_answered_and_drops_our_offer() {
    let mut s = server();
    s.handle(&client_message(MessageType::Discover, 1, MAC, &[]), 0).unwrap();
    let elsewhere = client_message(
        MessageType::Request,
        1,
        MAC,
        &[(OPTION_REQUESTED_ADDRESS, &[10, 0, 0, 9]), (OPTION_SERVER_ID, &[10, 0, 0, 1])],
    );
    assert_eq!(s.handle(&elsewhere, 0), None);
    assert_eq!(s.leases(0).count(), 0);
}

#[test]
fn release_frees_and_decline_takes_the_address_out_of_the_pool() {
    let mut s = server();
    let address = lease(&mut s, MAC, 0);
    let mut release = client_message(MessageType::Release, 3, MAC, &[(OPTION_SERVER_ID, &Config::USB_LINK.server)]);
    release[12..16].copy_from_slice(&address);
    assert_eq!(s.handle(&release, 5), None);
    assert_eq!(s.leases(5).count(), 0);
    let decline = client_message(MessageType::Decline, 4, MAC, &[(OPTION_REQUESTED_ADDRESS, &address)]);
    assert_eq!(s.handle(&decline, 6), None);
    let offer = s.handle(&client_message(MessageType::Discover, 5, MAC, &[]), 7).unwrap();
    assert_eq!(offer.address, [10, 42, 0, 3], "the declined address is skipped");
    // It comes back after the hold.
    let later = s.handle(&client_message(MessageType::Discover, 6, OTHER, &[]), 7 + 601).unwrap();
    assert_eq!(later.address, [10, 42, 0, 2]);
}

#[test]
fn expired_leases_return_to_the_pool_and_an_exhausted_pool_offers_nothing() {
    let mut s = server();
    for i in 0..4u8 {
        lease(&mut s, [2, 0, 0, 0, 0, i], 0);
    }
    assert_eq!(s.handle(&client_message(MessageType::Discover, 1, OTHER, &[]), 10), None, "pool of 4 is full");
    let offer = s.handle(&client_message(MessageType::Discover, 1, OTHER, &[]), 3601).unwrap();
    assert_eq!(offer.address, [10, 42, 0, 2]);
}

#[test]
fn inform_gets_parameters_without_an_address() {
    let mut s = server();
    let mut inform = client_message(MessageType::Inform, 1, MAC, &[]);
    inform[12..16].copy_from_slice(&[10, 42, 0, 77]);
    let ack = s.handle(&inform, 0).unwrap();
    assert_eq!((ack.kind, ack.address), (MessageType::Ack, [0; 4]));
    assert_eq!(&ack.datagram[12..16], &[10, 42, 0, 77]);
    let (_, _, options) = read_reply(&ack.datagram).unwrap();
    assert_eq!(option(&options, OPTION_LEASE_TIME), None);
}

#[test]
fn relayed_server_and_malformed_messages_are_dropped() {
    let mut s = server();
    let mut relayed = client_message(MessageType::Discover, 1, MAC, &[]);
    relayed[24..28].copy_from_slice(&[10, 1, 1, 1]);
    assert_eq!(s.handle(&relayed, 0), None);
    let offer = client_message(MessageType::Offer, 1, MAC, &[]);
    assert_eq!(Request::parse(&offer), Err(DhcpError::ServerMessage));
    let good = client_message(MessageType::Discover, 1, MAC, &[]);
    assert_eq!(Request::parse(&good[..200]), Err(DhcpError::Truncated));
    let mut reply = good.clone();
    reply[0] = 2;
    assert_eq!(Request::parse(&reply), Err(DhcpError::NotARequest));
    let mut not_ethernet = good.clone();
    not_ethernet[2] = 8;
    assert_eq!(Request::parse(&not_ethernet), Err(DhcpError::NotEthernet));
    let mut bootp = good.clone();
    bootp[236] = 0;
    assert_eq!(Request::parse(&bootp), Err(DhcpError::NoCookie));
    let mut overrun = good[..240].to_vec();
    overrun.extend_from_slice(&[53, 1, 1, 12, 200, b'x']);
    assert_eq!(Request::parse(&overrun), Err(DhcpError::OptionOverrun));
    assert_eq!(Request::parse(&good[..240]), Err(DhcpError::NoMessageType));
}

#[test]
fn host_names_are_printable_and_bounded() {
    let mut long = std::vec![b'a'; 200];
    long[3] = 0;
    long[4] = 0xff;
    let request = client_message(MessageType::Discover, 1, MAC, &[(OPTION_HOST_NAME, &long)]);
    let name = Request::parse(&request).unwrap().host_name.unwrap();
    assert_eq!(name.as_str().len(), MAX_HOST_NAME);
    assert!(name.as_str().bytes().all(|b| b == b'a'));
    let request = client_message(MessageType::Discover, 1, MAC, &[(OPTION_HOST_NAME, &[0, 1, 2])]);
    assert_eq!(Request::parse(&request).unwrap().host_name, None);
}

/// Mutation fuzzing: thousands of damaged requests never panic, every answer is a
/// well-formed reply from the pool, and the lease table stays bounded.
#[test]
fn mutated_requests_never_panic_and_answers_stay_well_formed() {
    let mut rng = Rng::new(0xd4c9);
    let mut s = server();
    let seeds = [
        client_message(MessageType::Discover, 1, MAC, &[(OPTION_HOST_NAME, b"laptop")]),
        client_message(MessageType::Request, 2, MAC, &[(OPTION_REQUESTED_ADDRESS, &[10, 42, 0, 2])]),
        client_message(MessageType::Release, 3, OTHER, &[]),
        client_message(MessageType::Inform, 4, OTHER, &[(OPTION_CLIENT_ID, &[1, 2, 3])]),
    ];
    for round in 0..20_000u64 {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(8) {
            match rng.below(4) {
                0 if !bytes.is_empty() => {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.next_u32() as u8;
                }
                1 => bytes.truncate(rng.below(bytes.len() + 1)),
                2 => bytes.push(rng.next_u32() as u8),
                // Keep the fixed part valid so the options parser is exercised.
                _ if bytes.len() > 250 => {
                    let at = 240 + rng.below(bytes.len() - 240);
                    bytes[at] = rng.next_u32() as u8;
                }
                _ => {}
            }
        }
        if let Some(reply) = s.handle(&bytes, round / 10) {
            let (kind, address, _) = read_reply(&reply.datagram).expect("a well-formed reply");
            assert_eq!(kind, reply.kind);
            assert!(address == [0; 4] || Config::USB_LINK.pool_index(address).is_some(), "{address:?}");
        }
        assert!(s.leases.len() <= MAX_LEASES && s.declined.len() <= MAX_LEASES);
    }
}

#[test]
fn a_link_config_pools_the_next_four_addresses() {
    assert_eq!(Config::for_link([10, 42, 0, 1], 24), Config::USB_LINK);
    let config = Config::for_link([192, 168, 7, 1], 24);
    assert_eq!(config.pool_address(3), [192, 168, 7, 5]);
    assert_eq!(config.pool_index([192, 168, 7, 6]), None);
}
