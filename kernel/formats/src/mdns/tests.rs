extern crate std;

use super::*;
use std::{string::ToString, vec};
use testkit::Rng;

fn responder() -> Responder {
    Responder::new("Kingly", [10, 42, 0, 1], 80, vec!["path=/mcp".into(), "auth=bearer".into()]).unwrap()
}

fn records(answer: &Answer) -> std::vec::Vec<ResponseRecord> {
    read_response(&answer.message).expect("a well-formed response").1
}

#[test]
fn the_host_name_resolves_to_the_address_with_cache_flush() {
    let r = responder();
    assert_eq!(r.host(), "kingly.local");
    let answer = r.answer(&query("KINGLY.local", types::A, false), PORT).expect("an answer");
    assert!(!answer.unicast);
    let (id, records) = read_response(&answer.message).unwrap();
    assert_eq!(id, 0);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].name, "kingly.local");
    assert_eq!(records[0].kind, types::A);
    assert_eq!(records[0].data, vec![10, 42, 0, 1]);
    assert!(records[0].cache_flush);
    assert_eq!(records[0].ttl, 120);
    assert_eq!(&answer.message[2..4], &[0x84, 0], "response, authoritative");
}

#[test]
fn aaaa_gets_an_nsec_saying_only_a_exists() {
    let answer = responder().answer(&query("kingly.local", types::AAAA, false), PORT).unwrap();
    let records = records(&answer);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].kind, types::NSEC);
    // Next name (kingly.local), then window 0 with the A bit.
    assert!(records[0].data.ends_with(&[0, 1, 0x40]), "{:?}", records[0].data);
}

#[test]
fn browsing_the_mcp_service_gives_ptr_srv_txt_and_address() {
    let r = responder();
    let answer = r.answer(&query("_mcp._tcp.local", types::PTR, false), PORT).unwrap();
    let records = records(&answer);
    let ptr = &records[0];
    assert_eq!((ptr.name.as_str(), ptr.kind), ("_mcp._tcp.local", types::PTR));
    assert!(!ptr.cache_flush, "a shared record");
    assert_eq!(std::str::from_utf8(&ptr.data).unwrap(), "kingly os on kingly._mcp._tcp.local");
    let srv = records.iter().find(|r| r.kind == types::SRV).expect("SRV in additional");
    assert_eq!(&srv.data[4..6], &80u16.to_be_bytes());
    assert_eq!(std::str::from_utf8(&srv.data[6..]).unwrap(), "kingly.local");
    let txt = records.iter().find(|r| r.kind == types::TXT).expect("TXT in additional");
    assert_eq!(txt.data, b"\x09path=/mcp\x0bauth=bearer".to_vec());
    assert!(records.iter().any(|r| r.kind == types::A), "the address comes along");
    // The instance keeps its case on the wire.
    let wire = std::string::String::from_utf8_lossy(&answer.message).to_string();
    assert!(wire.contains("Kingly OS on kingly"), "{wire:?}");
}

#[test]
fn the_http_service_and_the_service_list_are_served() {
    let r = responder();
    let answer = r.answer(&query("_services._dns-sd._udp.local", types::PTR, false), PORT).unwrap();
    let names: std::vec::Vec<_> =
        records(&answer).iter().map(|r| std::string::String::from_utf8(r.data.clone()).unwrap()).collect();
    assert_eq!(names, ["_mcp._tcp.local", "_http._tcp.local"]);
    let answer = r.answer(&query("_http._tcp.local", types::PTR, false), PORT).unwrap();
    assert!(records(&answer).iter().any(|r| r.kind == types::SRV));
}

#[test]
fn instance_questions_and_reverse_lookups() {
    let r = responder();
    let srv = r.answer(&query("Kingly OS on kingly._mcp._tcp.local", types::SRV, false), PORT).unwrap();
    let srv = records(&srv);
    assert_eq!(srv[0].kind, types::SRV);
    assert!(srv.iter().any(|r| r.kind == types::A));
    let any = r.answer(&query("kingly os on kingly._mcp._tcp.local", types::ANY, false), PORT).unwrap();
    let kinds: std::vec::Vec<_> = records(&any).iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&types::SRV) && kinds.contains(&types::TXT), "{kinds:?}");
    let reverse = r.answer(&query("1.0.42.10.in-addr.arpa", types::PTR, false), PORT).unwrap();
    assert_eq!(records(&reverse)[0].data, b"kingly.local".to_vec());
}

#[test]
fn other_names_get_no_answer() {
    let r = responder();
    for name in ["other.local", "kingly.local.evil", "_ssh._tcp.local", "kingly"] {
        assert_eq!(r.answer(&query(name, types::A, false), PORT), None, "{name}");
        assert_eq!(r.answer(&query(name, types::PTR, false), PORT), None, "{name}");
    }
}

#[test]
fn qu_and_legacy_queries_are_answered_unicast_and_legacy_gets_the_question_back() {
    let r = responder();
    assert!(r.answer(&query("kingly.local", types::A, true), PORT).unwrap().unicast);
    let mut legacy = query("kingly.local", types::A, false);
    legacy[0..2].copy_from_slice(&0xbeefu16.to_be_bytes());
    let answer = r.answer(&legacy, 40000).unwrap();
    assert!(answer.unicast);
    let (id, records) = read_response(&answer.message).unwrap();
    assert_eq!(id, 0xbeef);
    assert_eq!(&answer.message[4..6], &[0, 1], "the question is repeated");
    assert_eq!(records[0].ttl, 10, "legacy TTLs are capped");
    assert!(!records[0].cache_flush);
}

#[test]
fn known_answers_with_enough_ttl_are_suppressed() {
    let r = responder();
    let mut message = query("kingly.local", types::A, false);
    message[7] = 1; // one answer
    let known = r.answer(&query("kingly.local", types::A, false), PORT).unwrap().message;
    message.extend_from_slice(&known[12..]);
    assert_eq!(r.answer(&message, PORT), None, "the asker already has it");
    // With less than half the TTL left, it is refreshed.
    let ttl_at = message.len() - 4 - 2 - 4;
    message[ttl_at..ttl_at + 4].copy_from_slice(&30u32.to_be_bytes());
    assert!(r.answer(&message, PORT).is_some());
}

#[test]
fn compression_pointers_are_followed_and_loops_refused() {
    let r = responder();
    // Question 1: "local" at offset 12+7; question 2: "kingly" + pointer to it.
    let mut message = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
    message.extend_from_slice(b"\x03foo\x05local\x00\x00\x01\x00\x01");
    message.extend_from_slice(b"\x06kingly\xc0\x10\x00\x01\x00\x01");
    let answer = r.answer(&message, PORT).expect("the second question is ours");
    assert_eq!(records(&answer)[0].name, "kingly.local");
    // A pointer to itself, and one forward.
    let mut looped = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    looped.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01");
    assert_eq!(Query::parse(&looped), Err(MdnsError::BadName));
    let mut forward = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    forward.extend_from_slice(b"\xc0\x20\x00\x01\x00\x01");
    assert_eq!(Query::parse(&forward), Err(MdnsError::BadName));
    // Responses and other opcodes are not queries.
    let mut response = query("kingly.local", types::A, false);
    response[2] = 0x84;
    assert_eq!(Query::parse(&response), Err(MdnsError::NotAQuery));
}

#[test]
fn the_announcement_holds_every_record_once() {
    let r = responder();
    let (_, records) = read_response(&r.announcement()).unwrap();
    for kind in [types::A, types::PTR, types::SRV, types::TXT] {
        assert!(records.iter().any(|r| r.kind == kind), "{kind}");
    }
    let mut seen = std::collections::HashSet::new();
    for record in &records {
        assert!(seen.insert((record.name.clone(), record.kind, record.data.clone())), "{record:?} twice");
    }
}

#[test]
fn host_names_are_checked() {
    assert_eq!(check_host_name("Shed-Pi2"), Ok("shed-pi2".into()));
    assert_eq!(check_host_name(""), Err(HostNameError::Length));
    assert_eq!(check_host_name(&"a".repeat(64)), Err(HostNameError::Length));
    for bad in ["-a", "a-", "a.b", "a b", "ä"] {
        assert_eq!(check_host_name(bad), Err(HostNameError::Characters), "{bad}");
    }
}

/// Mutation fuzzing: damaged queries never panic and every answer reads back.
#[test]
fn mutated_queries_never_panic_and_answers_read_back() {
    let r = responder();
    let mut rng = Rng::new(0x5353);
    let seeds = [
        query("kingly.local", types::A, false),
        query("_mcp._tcp.local", types::PTR, true),
        query("Kingly OS on kingly._http._tcp.local", types::ANY, false),
        r.announcement(),
    ];
    let mut answered = 0;
    for _ in 0..50_000 {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(6) {
            match rng.below(3) {
                0 if !bytes.is_empty() => {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.next_u32() as u8;
                }
                1 => bytes.truncate(rng.below(bytes.len() + 1)),
                _ => bytes.push(rng.next_u32() as u8),
            }
        }
        if let Some(answer) = r.answer(&bytes, if rng.below(4) == 0 { 1234 } else { PORT }) {
            answered += 1;
            read_response(&answer.message).expect("answers read back");
            assert!(answer.message.len() < 1400, "fits a frame");
        }
    }
    assert!(answered > 100, "the mutations still hit real questions ({answered})");
}
