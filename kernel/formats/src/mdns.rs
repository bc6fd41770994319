//! An mDNS responder for one host and its MCP endpoint: `kingly.local` (or the name in the
//! settings) and a DNS-SD service, so `http://kingly.local/mcp` works with no address typed.
//!
//! Specs to read first: RFC 6762 (Multicast DNS: port 5353, group 224.0.0.251, the QU bit,
//! cache-flush, known-answer suppression, legacy unicast), RFC 6763 (DNS-SD: PTR → SRV + TXT,
//! `_services._dns-sd._udp`), RFC 1035 4.1 (the message format and name compression).
//!
//! Two layers: [`Query::parse`] reads a message from the network — header, questions and
//! known answers, names with compression pointers followed under a bound (pointers only
//! backwards, at most 255 bytes a name) — and [`Responder::answer`] decides what to send.
//! Nothing a sender puts in a datagram can make it panic or loop.
//!
//! Records served (all for IPv4; the board has no IPv6):
//! - `<host>.local` A (unique, cache-flush) and NSEC saying it is the only type;
//! - `<d.c.b.a>.in-addr.arpa` PTR → `<host>.local`;
//! - `_mcp._tcp.local` and `_http._tcp.local` PTR → `<instance>.<service>`, with SRV
//!   (port, target `<host>.local`) and TXT (`path=/mcp`, …) for each;
//! - `_services._dns-sd._udp.local` PTR → both service types.
//!
//! Not done: probing for name conflicts (RFC 6762 8.1) — a second board with the same
//! name must be given another one in its settings (`net.hostname`).

use alloc::{string::String, vec::Vec};
use core::fmt;

/// The mDNS port.
pub const PORT: u16 = 5353;
/// The IPv4 multicast group.
pub const GROUP: [u8; 4] = [224, 0, 0, 251];

/// TTL of records naming the host (RFC 6762 10: 120 s).
const HOST_TTL: u32 = 120;
/// TTL of the other records (RFC 6762 10: 75 minutes).
const SERVICE_TTL: u32 = 4500;
/// Cap on TTLs in legacy unicast answers (RFC 6762 6.7).
const LEGACY_TTL: u32 = 10;
/// Longest encoded name (RFC 1035 2.3.4).
const MAX_NAME: usize = 255;
/// Questions and known answers read from one message at most (the rest are ignored).
const MAX_RECORDS: usize = 32;

/// Record type numbers (RFC 1035, 3596, 2782, 4034).
pub mod types {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Domain name pointer.
    pub const PTR: u16 = 12;
    /// Text strings.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service location.
    pub const SRV: u16 = 33;
    /// Which types exist for a name.
    pub const NSEC: u16 = 47;
    /// Every type (questions only).
    pub const ANY: u16 = 255;
}
use types as kind;
/// Class IN.
const IN: u16 = 1;
/// The top bit of a question's class: "unicast response wanted" (QU).
const UNICAST_RESPONSE: u16 = 0x8000;
/// The top bit of a record's class: "flush your cache of other records of this name".
const CACHE_FLUSH: u16 = 0x8000;

/// The DNS-SD service types the endpoint is announced under.
pub const SERVICE_TYPES: [&str; 2] = ["_mcp._tcp.local", "_http._tcp.local"];
const SERVICES_META: &str = "_services._dns-sd._udp.local";

/// Why a datagram could not be read as a DNS message. The datagram is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdnsError {
    /// Shorter than its header or than a record says.
    Truncated,
    /// A name longer than 255 bytes, a label over 63, or a compression pointer that does
    /// not point backwards.
    BadName,
    /// A response, or an opcode other than QUERY: nothing to answer.
    NotAQuery,
}

impl fmt::Display for MdnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MdnsError::Truncated => "the message is truncated",
            MdnsError::BadName => "a name is malformed",
            MdnsError::NotAQuery => "not a standard query",
        })
    }
}

/// A name as dotted lowercase text without the final dot (`kingly.local`).
fn read_name(message: &[u8], mut at: usize) -> Result<(String, usize), MdnsError> {
    let mut name = String::new();
    let mut end = None;
    let mut encoded = 0usize;
    loop {
        let &len = message.get(at).ok_or(MdnsError::Truncated)?;
        match len {
            0 => {
                return Ok((name, end.unwrap_or(at + 1)));
            }
            1..=63 => {
                let label = message.get(at + 1..at + 1 + len as usize).ok_or(MdnsError::Truncated)?;
                encoded += len as usize + 1;
                if encoded > MAX_NAME {
                    return Err(MdnsError::BadName);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                // Labels are bytes; anything outside printable ASCII (and the dot, which
                // would change the label structure) is kept as an escape that never
                // matches one of our names.
                for &byte in label {
                    match byte {
                        b'.' | b'\\' => name.push_str("\\."),
                        0x21..=0x7e => name.push(byte.to_ascii_lowercase() as char),
                        b' ' => name.push(' '),
                        _ => name.push('\u{fffd}'),
                    }
                }
                at += 1 + len as usize;
            }
            0xc0..=0xff => {
                let &low = message.get(at + 1).ok_or(MdnsError::Truncated)?;
                let target = ((len as usize & 0x3f) << 8) | low as usize;
                // Only backwards: a pointer to itself or ahead could loop.
                if target >= at {
                    return Err(MdnsError::BadName);
                }
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return Err(MdnsError::BadName),
        }
    }
}

/// One question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The name asked about, lowercase.
    pub name: String,
    /// The record type (255 = any).
    pub kind: u16,
    /// The QU bit: the asker wants a unicast answer.
    pub unicast: bool,
}

/// A record the asker already has (known-answer suppression, RFC 6762 7.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownAnswer {
    /// Its name, lowercase.
    pub name: String,
    /// Its type.
    pub kind: u16,
    /// Its remaining TTL.
    pub ttl: u32,
}

/// What [`Responder`] uses of a received query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The message id (echoed in legacy unicast answers).
    pub id: u16,
    /// The questions (at most [`MAX_RECORDS`]).
    pub questions: Vec<Question>,
    /// The known answers.
    pub known: Vec<KnownAnswer>,
    /// The raw question section, copied into legacy unicast answers.
    question_section: Vec<u8>,
}

impl Query {
    /// Reads a DNS query.
    pub fn parse(message: &[u8]) -> Result<Query, MdnsError> {
        let header = message.get(..12).ok_or(MdnsError::Truncated)?;
        let word = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
        let flags = word(2);
        if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 {
            return Err(MdnsError::NotAQuery);
        }
        let (questions, answers) = (word(4) as usize, word(6) as usize);
        let mut query = Query { id: word(0), questions: Vec::new(), known: Vec::new(), question_section: Vec::new() };
        let mut at = 12;
        for _ in 0..questions.min(MAX_RECORDS) {
            let (name, next) = read_name(message, at)?;
            let fixed = message.get(next..next + 4).ok_or(MdnsError::Truncated)?;
            let class = u16::from_be_bytes([fixed[2], fixed[3]]);
            query.questions.push(Question {
                name,
                kind: u16::from_be_bytes([fixed[0], fixed[1]]),
                unicast: class & UNICAST_RESPONSE != 0,
            });
            at = next + 4;
        }
        query.question_section = message[12..at].to_vec();
        if questions > MAX_RECORDS {
            return Ok(query);
        }
        for _ in 0..answers.min(MAX_RECORDS) {
            let (name, next) = read_name(message, at)?;
            let fixed = message.get(next..next + 10).ok_or(MdnsError::Truncated)?;
            let length = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
            if message.len() < next + 10 + length {
                return Err(MdnsError::Truncated);
            }
            query.known.push(KnownAnswer {
                name,
                kind: u16::from_be_bytes([fixed[0], fixed[1]]),
                ttl: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            });
            at = next + 10 + length;
        }
        Ok(query)
    }
}

/// Why a host name cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostNameError {
    /// Empty or longer than 63 characters.
    Length,
    /// Something other than letters, digits and inner hyphens.
    Characters,
}

impl fmt::Display for HostNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostNameError::Length => "a host name has 1 to 63 characters",
            HostNameError::Characters => "a host name holds letters, digits and inner hyphens only",
        })
    }
}

/// Checks a host name for `.local` (one label, RFC 1123 letters-digits-hyphens) and returns
/// it in lowercase.
pub fn check_host_name(name: &str) -> Result<String, HostNameError> {
    if name.is_empty() || name.len() > 63 {
        return Err(HostNameError::Length);
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') || name.starts_with('-') || name.ends_with('-') {
        return Err(HostNameError::Characters);
    }
    Ok(name.to_ascii_lowercase())
}

/// What to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The DNS message.
    pub message: Vec<u8>,
    /// Send it to the asker's address and port only (QU bit, or a legacy resolver that
    /// asked from a port other than 5353); otherwise to the group.
    pub unicast: bool,
}

/// The host and the endpoint it announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Responder {
    host: String,
    instance: String,
    address: [u8; 4],
    port: u16,
    txt: Vec<String>,
}

/// A record to emit.
struct Record<'a> {
    name: &'a str,
    kind: u16,
    unique: bool,
    ttl: u32,
    data: Data<'a>,
}

enum Data<'a> {
    Address([u8; 4]),
    Name(&'a str),
    Service {
        port: u16,
        target: &'a str,
    },
    Text(&'a [String]),
    /// NSEC: the types that exist for the name.
    Types(&'a [u16]),
}

impl Responder {
    /// A responder for `host` (checked with [`check_host_name`]) at `address`, announcing an
    /// MCP endpoint on `port` with the TXT strings `txt` (`path=/mcp`, ...).
    pub fn new(host: &str, address: [u8; 4], port: u16, txt: Vec<String>) -> Result<Self, HostNameError> {
        let host = check_host_name(host)?;
        let instance = alloc::format!("Kingly OS on {host}");
        Ok(Responder { host: alloc::format!("{host}.local"), instance, address, port, txt })
    }

    /// The full host name (`kingly.local`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The service instance's label (`Kingly OS on kingly`).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// A new address (DHCP or a link change): answers use it from now on.
    pub fn set_address(&mut self, address: [u8; 4]) {
        self.address = address;
    }

    fn instance_name(&self, service: &str) -> String {
        alloc::format!("{}.{}", self.instance, service)
    }

    fn reverse_name(&self) -> String {
        let [a, b, c, d] = self.address;
        alloc::format!("{d}.{c}.{b}.{a}.in-addr.arpa")
    }

    /// The answers and additional records for one question.
    fn records_for<'a>(
        &'a self,
        question: &Question,
        names: &'a [String; 3],
        answers: &mut Vec<Record<'a>>,
        additional: &mut Vec<Record<'a>>,
    ) {
        let [reverse, mcp_instance, http_instance] = names;
        let any = question.kind == kind::ANY;
        let wants = |k: u16| any || question.kind == k;
        let host_a = || Record {
            name: &self.host,
            kind: kind::A,
            unique: true,
            ttl: HOST_TTL,
            data: Data::Address(self.address),
        };
        let host_nsec = || Record {
            name: &self.host,
            kind: kind::NSEC,
            unique: true,
            ttl: HOST_TTL,
            data: Data::Types(&[kind::A]),
        };
        let service_records = |instance: &'a str, out: &mut Vec<Record<'a>>| {
            out.push(Record {
                name: instance,
                kind: kind::SRV,
                unique: true,
                ttl: HOST_TTL,
                data: Data::Service { port: self.port, target: &self.host },
            });
            out.push(Record {
                name: instance,
                kind: kind::TXT,
                unique: true,
                ttl: SERVICE_TTL,
                data: Data::Text(&self.txt),
            });
        };
        let name = question.name.as_str();
        if name == self.host {
            if wants(kind::A) {
                answers.push(host_a());
            }
            if question.kind == kind::AAAA || any {
                // No IPv6: say so, so the asker does not wait for an AAAA (RFC 6762 6.1).
                if question.kind == kind::AAAA {
                    answers.push(host_nsec());
                } else {
                    additional.push(host_nsec());
                }
            } else if !wants(kind::A) {
                answers.push(host_nsec());
            }
        } else if name == reverse.as_str() && wants(kind::PTR) {
            answers.push(Record {
                name: reverse,
                kind: kind::PTR,
                unique: true,
                ttl: HOST_TTL,
                data: Data::Name(&self.host),
            });
        } else if name == SERVICES_META && wants(kind::PTR) {
            for service in SERVICE_TYPES {
                answers.push(Record {
                    name: SERVICES_META,
                    kind: kind::PTR,
                    unique: false,
                    ttl: SERVICE_TTL,
                    data: Data::Name(service),
                });
            }
        } else if let Some(index) = SERVICE_TYPES.iter().position(|s| *s == name) {
            if wants(kind::PTR) {
                let instance = if index == 0 { mcp_instance } else { http_instance };
                answers.push(Record {
                    name: SERVICE_TYPES[index],
                    kind: kind::PTR,
                    unique: false,
                    ttl: SERVICE_TTL,
                    data: Data::Name(instance),
                });
                // DNS-SD 12.1: the SRV, TXT and address records come along.
                service_records(instance, additional);
                additional.push(host_a());
            }
        } else if let Some(instance) = [mcp_instance, http_instance].into_iter().find(|i| i.eq_ignore_ascii_case(name))
        {
            let mut records = Vec::new();
            service_records(instance, &mut records);
            let matched = records.len();
            records.retain(|r| wants(r.kind));
            if !records.is_empty() {
                if records.iter().any(|r| r.kind == kind::SRV) {
                    additional.push(host_a());
                }
                answers.extend(records);
            } else if matched > 0 {
                answers.push(Record {
                    name: instance,
                    kind: kind::NSEC,
                    unique: true,
                    ttl: HOST_TTL,
                    data: Data::Types(&[kind::TXT, kind::SRV]),
                });
            }
        }
    }

    /// The answer to a datagram from `source_port`, or `None` when nothing in it is ours
    /// (or it is not a query). Known answers the asker holds with at least half their TTL
    /// left are not repeated.
    pub fn answer(&self, datagram: &[u8], source_port: u16) -> Option<Answer> {
        let query = Query::parse(datagram).ok()?;
        let names = [self.reverse_name(), self.instance_name(SERVICE_TYPES[0]), self.instance_name(SERVICE_TYPES[1])];
        let mut answers = Vec::new();
        let mut additional = Vec::new();
        for question in &query.questions {
            self.records_for(question, &names, &mut answers, &mut additional);
        }
        let known = |r: &Record| {
            query.known.iter().any(|k| k.kind == r.kind && k.name == r.name.to_ascii_lowercase() && k.ttl >= r.ttl / 2)
        };
        answers.retain(|r| !known(r));
        if answers.is_empty() {
            return None;
        }
        additional.retain(|a| !answers.iter().any(|r| r.kind == a.kind && r.name == a.name) && !known(a));
        dedupe(&mut additional);
        let legacy = source_port != PORT;
        let unicast = legacy || query.questions.iter().any(|q| q.unicast);
        let mut message = Vec::with_capacity(512);
        let id = if legacy { query.id } else { 0 };
        let questions = if legacy { query.questions.len() as u16 } else { 0 };
        header(&mut message, id, questions, answers.len() as u16, additional.len() as u16);
        if legacy {
            message.extend_from_slice(&query.question_section);
        }
        for record in answers.iter().chain(additional.iter()) {
            emit(&mut message, record, legacy);
        }
        Some(Answer { message, unicast })
    }

    /// An unsolicited announcement of every record (RFC 6762 8.3), sent when the interface
    /// comes up or its address changes (twice, a second apart).
    pub fn announcement(&self) -> Vec<u8> {
        let names = [self.reverse_name(), self.instance_name(SERVICE_TYPES[0]), self.instance_name(SERVICE_TYPES[1])];
        let mut records = Vec::new();
        let mut extra = Vec::new();
        for (name, kind) in [(self.host.as_str(), kind::A), (names[0].as_str(), kind::PTR)]
            .into_iter()
            .chain(SERVICE_TYPES.iter().map(|s| (*s, kind::PTR)))
        {
            let question = Question { name: name.into(), kind, unicast: false };
            self.records_for(&question, &names, &mut records, &mut extra);
        }
        records.extend(extra);
        dedupe(&mut records);
        let mut message = Vec::with_capacity(512);
        header(&mut message, 0, 0, records.len() as u16, 0);
        for record in &records {
            emit(&mut message, record, false);
        }
        message
    }
}

fn dedupe(records: &mut Vec<Record<'_>>) {
    let mut index = 0;
    while index < records.len() {
        let duplicate = records[..index].iter().any(|r| r.kind == records[index].kind && r.name == records[index].name);
        if duplicate {
            records.remove(index);
        } else {
            index += 1;
        }
    }
}

fn header(out: &mut Vec<u8>, id: u16, questions: u16, answers: u16, additional: u16) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x8400u16.to_be_bytes()); // response, authoritative
    for count in [questions, answers, 0, additional] {
        out.extend_from_slice(&count.to_be_bytes());
    }
}

/// Writes `name` uncompressed. Our names are short and fixed, so the answer stays far
/// below a frame without compression. The instance label may hold spaces; the dots of
/// `name` separate labels.
fn emit_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let label = &label.as_bytes()[..label.len().min(63)];
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

fn emit(out: &mut Vec<u8>, record: &Record<'_>, legacy: bool) {
    emit_name(out, record.name);
    out.extend_from_slice(&record.kind.to_be_bytes());
    // Legacy resolvers get plain IN (RFC 6762 6.7: no cache-flush bit).
    let class = if record.unique && !legacy { IN | CACHE_FLUSH } else { IN };
    out.extend_from_slice(&class.to_be_bytes());
    let ttl = if legacy { record.ttl.min(LEGACY_TTL) } else { record.ttl };
    out.extend_from_slice(&ttl.to_be_bytes());
    let length_at = out.len();
    out.extend_from_slice(&[0, 0]);
    match &record.data {
        Data::Address(address) => out.extend_from_slice(address),
        Data::Name(name) => emit_name(out, name),
        Data::Service { port, target } => {
            out.extend_from_slice(&[0, 0, 0, 0]); // priority, weight
            out.extend_from_slice(&port.to_be_bytes());
            emit_name(out, target);
        }
        Data::Text(strings) => {
            for text in strings.iter() {
                let bytes = &text.as_bytes()[..text.len().min(255)];
                out.push(bytes.len() as u8);
                out.extend_from_slice(bytes);
            }
            if strings.is_empty() {
                out.push(0);
            }
        }
        Data::Types(types) => {
            emit_name(out, record.name);
            // One window (types below 256): a bitmap as long as the highest type needs.
            let highest = types.iter().copied().max().unwrap_or(0);
            let bytes = highest as usize / 8 + 1;
            out.push(0);
            out.push(bytes as u8);
            let start = out.len();
            out.resize(start + bytes, 0);
            for &t in types.iter() {
                out[start + t as usize / 8] |= 0x80 >> (t % 8);
            }
        }
    }
    let length = (out.len() - length_at - 2) as u16;
    out[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
}

/// A query for `name` and `kind` as a resolver sends it (for tests and the fuzzers' seeds).
pub fn query(name: &str, kind: u16, unicast: bool) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    emit_name(&mut out, name);
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(IN | if unicast { UNICAST_RESPONSE } else { 0 }).to_be_bytes());
    out
}

/// One record of a response, as [`read_response`] gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseRecord {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: u16,
    /// Whether the cache-flush bit is set.
    pub cache_flush: bool,
    /// Its TTL.
    pub ttl: u32,
    /// Its data, with names in it expanded (PTR, SRV target as text after 6 bytes).
    pub data: Vec<u8>,
}

/// Reads every answer and additional record of a response (for tests).
pub fn read_response(message: &[u8]) -> Result<(u16, Vec<ResponseRecord>), MdnsError> {
    let header = message.get(..12).ok_or(MdnsError::Truncated)?;
    let word = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    let mut at = 12;
    for _ in 0..word(4) {
        let (_, next) = read_name(message, at)?;
        at = next + 4;
    }
    let mut records = Vec::new();
    for _ in 0..(word(6) as usize + word(8) as usize + word(10) as usize).min(64) {
        let (name, next) = read_name(message, at)?;
        let fixed = message.get(next..next + 10).ok_or(MdnsError::Truncated)?;
        let length = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let data = message.get(next + 10..next + 10 + length).ok_or(MdnsError::Truncated)?.to_vec();
        let kind = u16::from_be_bytes([fixed[0], fixed[1]]);
        let data = match kind {
            kind::PTR => read_name(message, next + 10)?.0.into_bytes(),
            kind::SRV if length > 6 => {
                let mut out = data[..6].to_vec();
                out.extend_from_slice(read_name(message, next + 16)?.0.as_bytes());
                out
            }
            _ => data,
        };
        records.push(ResponseRecord {
            name,
            kind,
            cache_flush: u16::from_be_bytes([fixed[2], fixed[3]]) & CACHE_FLUSH != 0,
            ttl: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            data,
        });
        at = next + 10 + length;
    }
    Ok((word(0), records))
}

#[cfg(test)]
mod tests;
