extern crate std;

use super::*;
use alloc::{format, vec};
use testkit::Rng;

/// Packets written out byte by byte from the spec's layouts (not by this module's writer).
#[test]
fn broker_packets_from_the_spec_parse() {
    // CONNACK, session present, success, properties: maximum packet size 1024, assigned
    // client id "ab", reason string "hi".
    let connack = [0x20, 15, 0x01, 0x00, 12, 0x27, 0, 0, 4, 0, 0x12, 0, 2, b'a', b'b', 0x1F, 0, 2, b'h', b'i'];
    // Remaining length: 2 + 1 + 12 = 15... properties are 5 + 5 + 5 = 15 bytes, so fix the
    // lengths to what the bytes hold.
    let mut connack = connack.to_vec();
    connack[1] = (connack.len() - 2) as u8;
    connack[4] = (connack.len() - 5) as u8;
    assert_eq!(
        Packet::parse(&connack),
        Ok(Packet::ConnAck {
            session_present: true,
            reason: 0,
            properties: Properties {
                maximum_packet_size: Some(1024),
                assigned_client_id: Some("ab".into()),
                reason_string: Some("hi".into()),
                ..Properties::default()
            }
        })
    );
    // PUBLISH QoS 1, retain, topic "a/b", id 10, a user property k=v, payload "xyz".
    let publish = [0x33, 0, 0, 3, b'a', b'/', b'b', 0, 10, 7, 0x26, 0, 1, b'k', 0, 1, b'v', b'x', b'y', b'z'];
    let mut publish = publish.to_vec();
    publish[1] = (publish.len() - 2) as u8;
    let Ok(Packet::Publish(p)) = Packet::parse(&publish) else { panic!("{:?}", Packet::parse(&publish)) };
    assert_eq!((p.topic.as_str(), p.qos, p.packet_id, p.retain), ("a/b", QoS::AtLeastOnce, Some(10), true));
    assert_eq!((p.user_property("k"), p.payload.as_slice()), (Some("v"), &b"xyz"[..]));
    // SUBACK id 1, no properties, granted QoS 1 and a refusal.
    assert_eq!(
        Packet::parse(&[0x90, 5, 0, 1, 0, 0x01, 0x87]),
        Ok(Packet::SubAck { packet_id: 1, reasons: vec![1, 0x87] })
    );
    // PUBACK short form (no reason code: success).
    assert_eq!(Packet::parse(&[0x40, 2, 0, 9]), Ok(Packet::PubAck { packet_id: 9, reason: 0 }));
    assert_eq!(Packet::parse(&[0xD0, 0]), Ok(Packet::PingResp));
    // DISCONNECT without a reason code is a normal disconnection.
    assert_eq!(Packet::parse(&[0xE0, 0]), Ok(Packet::Disconnect { reason: 0, properties: Properties::default() }));
}

#[test]
fn what_the_spec_forbids_is_refused() {
    // A topic with wildcards.
    assert_eq!(Packet::parse(&[0x30, 5, 0, 3, b'a', b'/', b'#']).err(), Some(Error::Truncated));
    assert_eq!(Packet::parse(&[0x30, 6, 0, 3, b'a', b'/', b'#', 0]), Err(Error::BadTopic));
    // QoS 3 and QoS 2.
    assert_eq!(Packet::parse(&[0x36, 6, 0, 1, b'a', 0, 1, 0]), Err(Error::BadQos));
    assert_eq!(Packet::parse(&[0x34, 6, 0, 1, b'a', 0, 1, 0]), Err(Error::BadQos));
    // Packet identifier 0 with QoS 1.
    assert_eq!(Packet::parse(&[0x32, 6, 0, 1, b'a', 0, 0, 0]), Err(Error::Malformed("packet identifier 0")));
    // A topic alias (the client allows none).
    assert_eq!(Packet::parse(&[0x30, 7, 0, 1, b'a', 3, 0x23, 0, 1]), Err(Error::BadTopic));
    // A string with U+0000 and one that is not UTF-8.
    assert_eq!(Packet::parse(&[0x30, 4, 0, 1, 0, 0]), Err(Error::BadString));
    assert_eq!(Packet::parse(&[0x30, 4, 0, 1, 0xff, 0]), Err(Error::BadString));
    // An unknown property and a repeated one.
    assert_eq!(Packet::parse(&[0x30, 5, 0, 1, b'a', 1, 0x05]), Err(Error::BadProperty(0x05)));
    assert_eq!(Packet::parse(&[0x30, 8, 0, 1, b'a', 4, 1, 1, 1, 1]), Err(Error::BadProperty(1)));
    // Packets a broker never sends, and flags a type does not allow.
    assert_eq!(Packet::parse(&[0x10, 0]), Err(Error::UnexpectedType(1)));
    assert_eq!(Packet::parse(&[0xC0, 0]), Err(Error::UnexpectedType(12)));
    assert_eq!(Packet::parse(&[0xD1, 0]), Err(Error::BadFlags(1)));
    // A remaining length that does not match the bytes.
    assert_eq!(Packet::parse(&[0xD0, 1]), Err(Error::Truncated));
    assert_eq!(Packet::parse(&[0xD0, 0, 0]), Err(Error::TrailingBytes));
    assert_eq!(Packet::parse(&[0x40, 3, 0, 9, 0, 0, 0]), Err(Error::TrailingBytes));
}

#[test]
fn the_framer_cuts_a_stream_and_refuses_oversized_packets() {
    let mut framer = Framer::new(64);
    let stream = [0xD0, 0, 0x90, 4, 0, 1, 0, 1, 0xD0];
    // Byte by byte: two packets come out whole, the third waits.
    let mut out = vec![];
    for byte in stream {
        framer.push(&[byte]);
        while let Some(packet) = framer.next_packet().expect("valid stream") {
            out.push(packet);
        }
    }
    assert_eq!(out, vec![vec![0xD0, 0], vec![0x90, 4, 0, 1, 0, 1]]);
    assert_eq!(framer.pending(), 1);
    // A length over the limit is refused from its header alone, before the body arrives.
    let mut framer = Framer::new(64);
    framer.push(&[0x30, 0x80, 0x01]);
    assert_eq!(framer.next_packet(), Err(Error::TooLarge(131)));
    let mut framer = Framer::new(u32::MAX);
    framer.push(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(framer.next_packet(), Err(Error::BadVarint));
}

#[test]
fn connect_matches_the_spec_layout() {
    let bytes = connect(&Connect {
        client_id: "k1".into(),
        keep_alive: 30,
        clean_start: true,
        username: Some("u".into()),
        password: Some(b"p".to_vec()),
        will: Some(Will {
            topic: "w".into(),
            payload: b"x".to_vec(),
            retain: true,
            properties: Properties { user: vec![("a".into(), "b".into())], ..Properties::default() },
        }),
        properties: Properties { session_expiry: Some(0), ..Properties::default() },
    })
    .expect("encodes");
    #[rustfmt::skip]
    let expected = [
        0x10, 40,
        0, 4, b'M', b'Q', b'T', b'T', 5,
        0b1110_0110, // user name, password, will retain, will, clean start
        0, 30,
        5, 0x11, 0, 0, 0, 0,
        0, 2, b'k', b'1',
        7, 0x26, 0, 1, b'a', 0, 1, b'b',
        0, 1, b'w',
        0, 1, b'x',
        0, 1, b'u',
        0, 1, b'p',
    ];
    assert_eq!(bytes, expected);
}

#[test]
fn subscribe_and_publish_match_the_spec_layout() {
    let options = SubscribeOptions { qos: 1, no_local: true, retain_handling: 2 };
    assert_eq!(subscribe(3, &[("a/+", options)]), Ok(vec![0x82, 9, 0, 3, 0, 0, 3, b'a', b'/', b'+', 0b10_0101]));
    let mut message = Publish::new("t", b"{}");
    message.properties.user.push(("k".into(), "v".into()));
    assert_eq!(publish(&message), Ok(vec![0x30, 13, 0, 1, b't', 7, 0x26, 0, 1, b'k', 0, 1, b'v', b'{', b'}']));
    assert_eq!(publish(&Publish::new("a/#", b"")), Err(Error::BadTopic));
    assert_eq!(puback(0x0102), vec![0x40, 2, 1, 2]);
    assert_eq!(disconnect(4), vec![0xE0, 2, 4, 0]);
}

#[test]
fn what_the_writer_encodes_the_reader_reads_back() {
    // PUBLISH is the one packet both sides send: round trip with every property the board
    // uses, at lengths that cross the variable byte integer's 1- and 2-byte forms.
    for size in [0usize, 100, 127, 128, 16_383, 16_384, 70_000] {
        let message = Publish {
            topic: "$mcp-rpc/c/s/name".into(),
            payload: vec![b'x'; size],
            qos: QoS::AtLeastOnce,
            packet_id: Some(7),
            retain: false,
            dup: true,
            properties: Properties {
                user: vec![("MCP-COMPONENT-TYPE".into(), "mcp-server".into())],
                response_topic: Some("r".into()),
                correlation: Some(vec![1, 2]),
                payload_format: Some(1),
                message_expiry: Some(60),
                ..Properties::default()
            },
        };
        let bytes = publish(&message).expect("encodes");
        assert_eq!(Packet::parse(&bytes), Ok(Packet::Publish(message)));
        let mut framer = Framer::new(1 << 20);
        framer.push(&bytes);
        assert_eq!(framer.next_packet(), Ok(Some(bytes)));
    }
}

#[test]
fn mutated_packets_never_panic() {
    let mut rng = Rng::new(0x6d71_7474);
    let mut message = Publish::new("$mcp-server/presence/s/n", br#"{"jsonrpc":"2.0"}"#);
    message.properties.user.push(("MCP-MQTT-CLIENT-ID".into(), "c".into()));
    let seeds = [
        publish(&message).expect("encodes"),
        vec![0x20, 8, 0, 0, 5, 0x27, 0, 0, 4, 0],
        vec![0x90, 5, 0, 1, 0, 0x01, 0x87],
        vec![0xE0, 2, 0x8E, 0],
    ];
    for round in 0..20_000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..=rng.below(4) {
            rng.mutate(&mut bytes, 0);
        }
        let _ = Packet::parse(&bytes);
        let mut framer = Framer::new(4096);
        framer.push(&bytes);
        while let Ok(Some(packet)) = framer.next_packet() {
            let _ = Packet::parse(&packet);
        }
    }
}

#[test]
fn only_the_first_user_properties_are_kept() {
    let mut message = Publish::new("t", b"x");
    for i in 0..1000 {
        message.properties.user.push((format!("k{i}"), "v".into()));
    }
    let bytes = publish(&message).expect("encodes");
    let Ok(Packet::Publish(read)) = Packet::parse(&bytes) else { panic!("parses") };
    assert_eq!(read.properties.user.len(), MAX_USER_PROPERTIES);
    assert_eq!(read.properties.user[0].0, "k0");
    // A bad one after the kept ones still makes the packet malformed.
    let mut bytes = bytes;
    let at = bytes.len() - 2; // the last property's value "v" (the payload "x" follows)
    bytes[at] = 0;
    assert_eq!(Packet::parse(&bytes), Err(Error::BadString));
}
