//! The MQTT 5 wire format, client side: what the board sends to a broker (CONNECT with a
//! will, SUBSCRIBE, PUBLISH, PINGREQ, DISCONNECT) and what a broker may send it (CONNACK,
//! PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP, DISCONNECT).
//!
//! Spec to read first: OASIS MQTT Version 5.0 (2019), sections 1.5 (data representation:
//! two-byte integers, variable byte integers, UTF-8 strings, string pairs), 2 (the fixed
//! header, packet identifiers, properties) and 3 (each packet).
//!
//! Two layers, as for every parser of outside bytes here: [`Framer`] cuts a TCP byte
//! stream into packets (the remaining length is checked against [`Framer::max_packet`]
//! before anything is buffered), and [`Packet::parse`] reads one packet, checking every
//! length, string (valid UTF-8, no U+0000) and property (each allowed at most as the spec
//! says; unknown identifiers are malformed). Nothing a broker sends can make it panic, loop
//! or allocate more than the packet's size. The encoders build packets from typed values
//! and refuse what cannot be encoded (a string over 65 535 bytes) rather than truncating.
//!
//! Not done (the board does not need them): QoS 2, topic aliases (the CONNECT leaves Topic
//! Alias Maximum at 0, so a broker must not use them and a PUBLISH carrying one is
//! refused), AUTH (enhanced authentication).

use alloc::{string::String, vec::Vec};
use core::fmt;

/// The broker's standard TCP port.
pub const PORT: u16 = 1883;
/// User properties kept from one packet (the rest are checked and dropped).
pub const MAX_USER_PROPERTIES: usize = 16;
/// Longest remaining length the variable byte integer can say (268 435 455).
const MAX_VARINT: u32 = 268_435_455;

/// Why bytes are not an MQTT packet, or a value cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The packet ends before a field does.
    Truncated,
    /// A variable byte integer longer than four bytes.
    BadVarint,
    /// The packet is larger than the limit the client set.
    TooLarge(u32),
    /// A packet type a broker must not send to a client (or reserved).
    UnexpectedType(u8),
    /// Fixed-header flags that the packet type does not allow.
    BadFlags(u8),
    /// A string that is not UTF-8 or holds U+0000.
    BadString,
    /// An unknown property identifier, or one not allowed twice given twice.
    BadProperty(u8),
    /// A PUBLISH with QoS 3, or QoS 2 (not supported).
    BadQos,
    /// A topic name with wildcards, empty without an alias, or an alias at all.
    BadTopic,
    /// A field with a value the spec forbids (a zero packet identifier, ...).
    Malformed(&'static str),
    /// Bytes after the packet's last field.
    TrailingBytes,
    /// A value too long for its length field.
    TooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "the packet ends inside a field"),
            Error::BadVarint => write!(f, "a variable byte integer longer than 4 bytes"),
            Error::TooLarge(n) => write!(f, "a {n}-byte packet is over the limit"),
            Error::UnexpectedType(t) => write!(f, "packet type {t} is not one a broker sends a client"),
            Error::BadFlags(flags) => write!(f, "fixed-header flags {flags:#06b} are not allowed for this type"),
            Error::BadString => write!(f, "a string is not UTF-8 or holds U+0000"),
            Error::BadProperty(id) => write!(f, "property {id:#04x} is unknown or repeated"),
            Error::BadQos => write!(f, "QoS must be 0 or 1"),
            Error::BadTopic => write!(f, "the topic name is empty, has wildcards or uses an alias"),
            Error::Malformed(what) => write!(f, "malformed: {what}"),
            Error::TrailingBytes => write!(f, "bytes after the packet's last field"),
            Error::TooLong => write!(f, "a value is too long to encode"),
        }
    }
}

/// Packet types (the fixed header's high nibble).
mod kind {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
}

/// Property identifiers (spec 2.2.2.2).
mod prop {
    pub const PAYLOAD_FORMAT: u8 = 0x01;
    pub const MESSAGE_EXPIRY: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_ID: u8 = 0x0B;
    pub const SESSION_EXPIRY: u8 = 0x11;
    pub const ASSIGNED_CLIENT_ID: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTH_METHOD: u8 = 0x15;
    pub const AUTH_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM: u8 = 0x17;
    pub const WILL_DELAY: u8 = 0x18;
    pub const REQUEST_RESPONSE: u8 = 0x19;
    pub const RESPONSE_INFO: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_ID_AVAILABLE: u8 = 0x29;
    pub const SHARED_AVAILABLE: u8 = 0x2A;
}

/// The properties the board reads or writes; the others are checked and skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    /// User properties, in order (they may repeat).
    pub user: Vec<(String, String)>,
    /// PUBLISH: where a request's answer should go.
    pub response_topic: Option<String>,
    /// PUBLISH: the requester's correlation bytes.
    pub correlation: Option<Vec<u8>>,
    /// PUBLISH: 1 = the payload is UTF-8.
    pub payload_format: Option<u8>,
    /// PUBLISH: a message expiry interval (seconds).
    pub message_expiry: Option<u32>,
    /// PUBLISH: a topic alias (refused: the client allows none).
    pub topic_alias: Option<u16>,
    /// CONNECT/CONNACK/DISCONNECT: the session expiry interval (seconds).
    pub session_expiry: Option<u32>,
    /// CONNACK: the client identifier the broker assigned.
    pub assigned_client_id: Option<String>,
    /// CONNACK: the keep-alive the broker wants instead of the client's.
    pub server_keep_alive: Option<u16>,
    /// CONNACK/CONNECT: largest packet the sender accepts.
    pub maximum_packet_size: Option<u32>,
    /// CONNACK: highest QoS the broker supports.
    pub maximum_qos: Option<u8>,
    /// CONNACK: whether the broker keeps retained messages.
    pub retain_available: Option<u8>,
    /// CONNACK/acks/DISCONNECT: a human-readable reason.
    pub reason_string: Option<String>,
    /// Will properties: the will delay interval (seconds).
    pub will_delay: Option<u32>,
    /// CONNECT: receive maximum (QoS 1 messages in flight).
    pub receive_maximum: Option<u16>,
}

/// A little reader over a packet's bytes; every read checks the length left.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.bytes.len() < n {
            return Err(Error::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn varint(&mut self) -> Result<u32, Error> {
        let mut value = 0u32;
        for i in 0..4 {
            let byte = self.u8()?;
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::BadVarint)
    }
    fn binary(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u16()?;
        self.take(n.into())
    }
    fn str(&mut self) -> Result<&'a str, Error> {
        let bytes = self.binary()?;
        let text = core::str::from_utf8(bytes).map_err(|_| Error::BadString)?;
        if text.contains('\0') {
            return Err(Error::BadString);
        }
        Ok(text)
    }
    fn string(&mut self) -> Result<String, Error> {
        self.str().map(String::from)
    }
    fn properties(&mut self) -> Result<Properties, Error> {
        let n = self.varint()?;
        let mut inner = Reader { bytes: self.take(n as usize)? };
        let mut p = Properties::default();
        let mut seen = [false; 0x2B];
        while !inner.bytes.is_empty() {
            let id = inner.u8()?;
            if id as usize >= seen.len() {
                return Err(Error::BadProperty(id));
            }
            // Only user properties (and subscription identifiers, in a PUBLISH) may repeat.
            if seen[id as usize] && id != prop::USER_PROPERTY && id != prop::SUBSCRIPTION_ID {
                return Err(Error::BadProperty(id));
            }
            seen[id as usize] = true;
            match id {
                prop::PAYLOAD_FORMAT => p.payload_format = Some(inner.u8()?),
                prop::MESSAGE_EXPIRY => p.message_expiry = Some(inner.u32()?),
                prop::CONTENT_TYPE | prop::AUTH_METHOD | prop::RESPONSE_INFO | prop::SERVER_REFERENCE => {
                    inner.string()?;
                }
                prop::RESPONSE_TOPIC => p.response_topic = Some(inner.string()?),
                prop::CORRELATION_DATA => p.correlation = Some(inner.binary()?.into()),
                prop::AUTH_DATA => {
                    inner.binary()?;
                }
                prop::SUBSCRIPTION_ID => {
                    if inner.varint()? == 0 {
                        return Err(Error::Malformed("subscription identifier 0"));
                    }
                }
                prop::SESSION_EXPIRY => p.session_expiry = Some(inner.u32()?),
                prop::ASSIGNED_CLIENT_ID => p.assigned_client_id = Some(inner.string()?),
                prop::SERVER_KEEP_ALIVE => p.server_keep_alive = Some(inner.u16()?),
                prop::WILL_DELAY => p.will_delay = Some(inner.u32()?),
                prop::REASON_STRING => p.reason_string = Some(inner.string()?),
                prop::RECEIVE_MAXIMUM => {
                    let value = inner.u16()?;
                    if value == 0 {
                        return Err(Error::Malformed("receive maximum 0"));
                    }
                    p.receive_maximum = Some(value);
                }
                prop::TOPIC_ALIAS_MAXIMUM => {
                    inner.u16()?;
                }
                prop::TOPIC_ALIAS => p.topic_alias = Some(inner.u16()?),
                prop::MAXIMUM_QOS => p.maximum_qos = Some(inner.u8()?),
                prop::RETAIN_AVAILABLE => p.retain_available = Some(inner.u8()?),
                prop::REQUEST_PROBLEM
                | prop::REQUEST_RESPONSE
                | prop::WILDCARD_AVAILABLE
                | prop::SUBSCRIPTION_ID_AVAILABLE
                | prop::SHARED_AVAILABLE => {
                    inner.u8()?;
                }
                prop::USER_PROPERTY => {
                    let key = inner.str()?;
                    let value = inner.str()?;
                    // Every one is checked; only the first few are kept, so a packet of
                    // thousands of tiny properties costs no more allocations than a few.
                    if p.user.len() < MAX_USER_PROPERTIES {
                        p.user.push((key.into(), value.into()));
                    }
                }
                prop::MAXIMUM_PACKET_SIZE => {
                    let value = inner.u32()?;
                    if value == 0 {
                        return Err(Error::Malformed("maximum packet size 0"));
                    }
                    p.maximum_packet_size = Some(value);
                }
                _ => return Err(Error::BadProperty(id)),
            }
        }
        Ok(p)
    }
    fn finish(&self) -> Result<(), Error> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes)
        }
    }
}

/// A PUBLISH's delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QoS {
    /// At most once: no acknowledgement.
    AtMostOnce,
    /// At least once: acknowledged with PUBACK, carries a packet identifier.
    AtLeastOnce,
}

/// A message, received or to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// Its topic name.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// Delivery (with the packet identifier for QoS 1).
    pub qos: QoS,
    /// The packet identifier (QoS 1 only).
    pub packet_id: Option<u16>,
    /// Retained by the broker (sent), or a retained message (received).
    pub retain: bool,
    /// A redelivery.
    pub dup: bool,
    /// Its properties.
    pub properties: Properties,
}

impl Publish {
    /// A QoS 0 message with no properties.
    pub fn new(topic: &str, payload: &[u8]) -> Publish {
        Publish {
            topic: topic.into(),
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            packet_id: None,
            retain: false,
            dup: false,
            properties: Properties::default(),
        }
    }

    /// The first user property named `key`.
    pub fn user_property(&self, key: &str) -> Option<&str> {
        self.properties.user.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A packet a broker sends a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// The answer to CONNECT: `reason` 0 = accepted.
    ConnAck {
        /// The broker had a session for this client.
        session_present: bool,
        /// 0 = success; 0x80 and above refuse (0x86 bad user name or password, 0x87 not
        /// authorized, ...).
        reason: u8,
        /// Its properties.
        properties: Properties,
    },
    /// A message.
    Publish(Publish),
    /// QoS 1 acknowledgement of a message the client sent.
    PubAck {
        /// Packet identifier.
        packet_id: u16,
        /// 0 = success.
        reason: u8,
    },
    /// The answer to SUBSCRIBE: one reason code per filter (0-2 granted QoS, ≥ 0x80 refused).
    SubAck {
        /// Packet identifier.
        packet_id: u16,
        /// Per filter.
        reasons: Vec<u8>,
    },
    /// The answer to UNSUBSCRIBE.
    UnsubAck {
        /// Packet identifier.
        packet_id: u16,
        /// Per filter.
        reasons: Vec<u8>,
    },
    /// The answer to PINGREQ.
    PingResp,
    /// The broker closes the connection.
    Disconnect {
        /// Why (0 = normal).
        reason: u8,
        /// Its properties (a reason string).
        properties: Properties,
    },
}

impl Packet {
    /// Reads one whole packet (fixed header included, as [`Framer`] yields it).
    pub fn parse(bytes: &[u8]) -> Result<Packet, Error> {
        let mut r = Reader { bytes };
        let first = r.u8()?;
        let length = r.varint()?;
        if r.bytes.len() != length as usize {
            return if (r.bytes.len() as u64) < u64::from(length) {
                Err(Error::Truncated)
            } else {
                Err(Error::TrailingBytes)
            };
        }
        let (kind, flags) = (first >> 4, first & 0x0f);
        if kind != kind::PUBLISH && flags != 0 {
            return Err(Error::BadFlags(flags));
        }
        let packet = match kind {
            kind::CONNACK => {
                let ack = r.u8()?;
                if ack & 0xfe != 0 {
                    return Err(Error::Malformed("CONNACK acknowledge flags"));
                }
                let reason = r.u8()?;
                // Short CONNACKs without properties are allowed only when there are none;
                // MQTT 5 always has the properties length.
                let properties = r.properties()?;
                Packet::ConnAck { session_present: ack & 1 == 1, reason, properties }
            }
            kind::PUBLISH => {
                let qos = match (flags >> 1) & 3 {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => return Err(Error::BadQos),
                };
                let dup = flags & 8 != 0;
                if dup && qos == QoS::AtMostOnce {
                    return Err(Error::BadFlags(flags));
                }
                let topic = r.string()?;
                let packet_id = match qos {
                    QoS::AtMostOnce => None,
                    QoS::AtLeastOnce => match r.u16()? {
                        0 => return Err(Error::Malformed("packet identifier 0")),
                        id => Some(id),
                    },
                };
                let properties = r.properties()?;
                if topic.is_empty() || topic.contains(['+', '#']) || properties.topic_alias.is_some() {
                    return Err(Error::BadTopic);
                }
                let payload = r.bytes.to_vec();
                r.bytes = &[];
                Packet::Publish(Publish { topic, payload, qos, packet_id, retain: flags & 1 != 0, dup, properties })
            }
            kind::PUBACK => {
                let packet_id = r.u16()?;
                // Reason code and properties may be omitted (spec 3.4.2.1).
                let reason = if r.bytes.is_empty() { 0 } else { r.u8()? };
                if !r.bytes.is_empty() {
                    r.properties()?;
                }
                Packet::PubAck { packet_id, reason }
            }
            kind::SUBACK | kind::UNSUBACK => {
                let packet_id = r.u16()?;
                r.properties()?;
                let reasons = r.bytes.to_vec();
                r.bytes = &[];
                if reasons.is_empty() {
                    return Err(Error::Malformed("an acknowledgement without reason codes"));
                }
                if kind == kind::SUBACK {
                    Packet::SubAck { packet_id, reasons }
                } else {
                    Packet::UnsubAck { packet_id, reasons }
                }
            }
            kind::PINGRESP => Packet::PingResp,
            kind::DISCONNECT => {
                let reason = if r.bytes.is_empty() { 0 } else { r.u8()? };
                let properties = if r.bytes.is_empty() { Properties::default() } else { r.properties()? };
                Packet::Disconnect { reason, properties }
            }
            other => return Err(Error::UnexpectedType(other)),
        };
        r.finish()?;
        Ok(packet)
    }
}

/// Cuts a byte stream into whole packets.
#[derive(Debug)]
pub struct Framer {
    buffer: Vec<u8>,
    /// Largest packet accepted (the client says it in CONNECT's Maximum Packet Size).
    pub max_packet: u32,
}

impl Framer {
    /// A framer that refuses packets over `max_packet` bytes.
    pub fn new(max_packet: u32) -> Framer {
        Framer { buffer: Vec::new(), max_packet }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet a whole packet.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    /// The next whole packet's bytes, `Ok(None)` while incomplete. An error means the
    /// stream cannot be resynchronised: the connection must be closed.
    pub fn next_packet(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let mut length = 0u32;
        let mut header = 1;
        loop {
            let Some(&byte) = self.buffer.get(header) else { return Ok(None) };
            length |= u32::from(byte & 0x7f) << (7 * (header - 1));
            header += 1;
            if byte & 0x80 == 0 {
                break;
            }
            if header == 5 {
                return Err(Error::BadVarint);
            }
        }
        let total = header as u64 + u64::from(length);
        if total > u64::from(self.max_packet) {
            return Err(Error::TooLarge(total.min(u64::from(u32::MAX)) as u32));
        }
        let total = total as usize;
        if self.buffer.len() < total {
            return Ok(None);
        }
        let rest = self.buffer.split_off(total);
        Ok(Some(core::mem::replace(&mut self.buffer, rest)))
    }
}

/// Builds packet bodies with checked lengths.
#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    fn varint(&mut self, mut v: u32) -> Result<(), Error> {
        if v > MAX_VARINT {
            return Err(Error::TooLong);
        }
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.bytes.push(byte);
                return Ok(());
            }
            self.bytes.push(byte | 0x80);
        }
    }
    fn binary(&mut self, v: &[u8]) -> Result<(), Error> {
        let n = u16::try_from(v.len()).map_err(|_| Error::TooLong)?;
        self.u16(n);
        self.bytes.extend_from_slice(v);
        Ok(())
    }
    fn string(&mut self, v: &str) -> Result<(), Error> {
        if v.contains('\0') {
            return Err(Error::BadString);
        }
        self.binary(v.as_bytes())
    }
    fn properties(&mut self, p: &Properties) -> Result<(), Error> {
        let mut w = Writer::default();
        if let Some(v) = p.payload_format {
            w.u8(prop::PAYLOAD_FORMAT);
            w.u8(v);
        }
        if let Some(v) = p.message_expiry {
            w.u8(prop::MESSAGE_EXPIRY);
            w.u32(v);
        }
        if let Some(v) = &p.response_topic {
            w.u8(prop::RESPONSE_TOPIC);
            w.string(v)?;
        }
        if let Some(v) = &p.correlation {
            w.u8(prop::CORRELATION_DATA);
            w.binary(v)?;
        }
        if let Some(v) = p.session_expiry {
            w.u8(prop::SESSION_EXPIRY);
            w.u32(v);
        }
        if let Some(v) = p.will_delay {
            w.u8(prop::WILL_DELAY);
            w.u32(v);
        }
        if let Some(v) = p.receive_maximum {
            w.u8(prop::RECEIVE_MAXIMUM);
            w.u16(v);
        }
        if let Some(v) = p.maximum_packet_size {
            w.u8(prop::MAXIMUM_PACKET_SIZE);
            w.u32(v);
        }
        if let Some(v) = &p.reason_string {
            w.u8(prop::REASON_STRING);
            w.string(v)?;
        }
        for (key, value) in &p.user {
            w.u8(prop::USER_PROPERTY);
            w.string(key)?;
            w.string(value)?;
        }
        self.varint(u32::try_from(w.bytes.len()).map_err(|_| Error::TooLong)?)?;
        self.bytes.extend_from_slice(&w.bytes);
        Ok(())
    }
    /// The packet: fixed header (`first` byte, remaining length) and this body.
    fn packet(self, first: u8) -> Result<Vec<u8>, Error> {
        let mut out = Writer::default();
        out.u8(first);
        out.varint(u32::try_from(self.bytes.len()).map_err(|_| Error::TooLong)?)?;
        out.bytes.extend_from_slice(&self.bytes);
        Ok(out.bytes)
    }
}

/// The message the broker publishes for a client whose connection ends without DISCONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Will {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Retained.
    pub retain: bool,
    /// Its properties (will delay, user properties, ...).
    pub properties: Properties,
}

/// What CONNECT says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Connect {
    /// The client identifier (1-23 of `[0-9a-zA-Z]` is what every broker must accept).
    pub client_id: String,
    /// Seconds between control packets the client promises (0 = none).
    pub keep_alive: u16,
    /// Start without the broker's stored session.
    pub clean_start: bool,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Vec<u8>>,
    /// The last will.
    pub will: Option<Will>,
    /// CONNECT properties.
    pub properties: Properties,
}

/// Encodes CONNECT.
pub fn connect(c: &Connect) -> Result<Vec<u8>, Error> {
    let mut w = Writer::default();
    w.string("MQTT")?;
    w.u8(5);
    let mut flags = 0u8;
    if c.clean_start {
        flags |= 0x02;
    }
    if let Some(will) = &c.will {
        flags |= 0x04; // will flag, QoS 0
        if will.retain {
            flags |= 0x20;
        }
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if c.username.is_some() {
        flags |= 0x80;
    }
    w.u8(flags);
    w.u16(c.keep_alive);
    w.properties(&c.properties)?;
    w.string(&c.client_id)?;
    if let Some(will) = &c.will {
        w.properties(&will.properties)?;
        w.string(&will.topic)?;
        w.binary(&will.payload)?;
    }
    if let Some(username) = &c.username {
        w.string(username)?;
    }
    if let Some(password) = &c.password {
        w.binary(password)?;
    }
    w.packet(kind::CONNECT << 4)
}

/// Encodes PUBLISH (`packet_id` is needed for QoS 1 and ignored for QoS 0).
pub fn publish(p: &Publish) -> Result<Vec<u8>, Error> {
    if p.topic.is_empty() || p.topic.contains(['+', '#']) {
        return Err(Error::BadTopic);
    }
    let mut w = Writer::default();
    w.string(&p.topic)?;
    let mut first = kind::PUBLISH << 4;
    if p.retain {
        first |= 1;
    }
    if p.qos == QoS::AtLeastOnce {
        let id = p.packet_id.filter(|id| *id != 0).ok_or(Error::Malformed("QoS 1 without a packet identifier"))?;
        first |= 2;
        if p.dup {
            first |= 8;
        }
        w.u16(id);
    }
    w.properties(&p.properties)?;
    w.bytes.extend_from_slice(&p.payload);
    w.packet(first)
}

/// Encodes PUBACK for a received QoS 1 message.
pub fn puback(packet_id: u16) -> Vec<u8> {
    let [hi, lo] = packet_id.to_be_bytes();
    alloc::vec![kind::PUBACK << 4, 2, hi, lo]
}

/// Subscription options of one filter (spec 3.8.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Highest QoS the client wants delivered at (0 or 1).
    pub qos: u8,
    /// The broker must not send the client its own messages on this filter.
    pub no_local: bool,
    /// Retained messages: 0 = send at subscribe, 1 = only for a new subscription, 2 = never.
    pub retain_handling: u8,
}

/// Encodes SUBSCRIBE.
pub fn subscribe(packet_id: u16, filters: &[(&str, SubscribeOptions)]) -> Result<Vec<u8>, Error> {
    if packet_id == 0 || filters.is_empty() {
        return Err(Error::Malformed("SUBSCRIBE needs an identifier and a filter"));
    }
    let mut w = Writer::default();
    w.u16(packet_id);
    w.properties(&Properties::default())?;
    for (filter, options) in filters {
        if filter.is_empty() || options.qos > 1 || options.retain_handling > 2 {
            return Err(Error::Malformed("a subscription filter or its options"));
        }
        w.string(filter)?;
        w.u8(options.qos | (u8::from(options.no_local) << 2) | (options.retain_handling << 4));
    }
    w.packet((kind::SUBSCRIBE << 4) | 2)
}

/// Encodes UNSUBSCRIBE.
pub fn unsubscribe(packet_id: u16, filters: &[&str]) -> Result<Vec<u8>, Error> {
    if packet_id == 0 || filters.is_empty() {
        return Err(Error::Malformed("UNSUBSCRIBE needs an identifier and a filter"));
    }
    let mut w = Writer::default();
    w.u16(packet_id);
    w.properties(&Properties::default())?;
    for filter in filters {
        w.string(filter)?;
    }
    w.packet((kind::UNSUBSCRIBE << 4) | 2)
}

/// Encodes PINGREQ.
pub fn pingreq() -> Vec<u8> {
    alloc::vec![kind::PINGREQ << 4, 0]
}

/// Encodes DISCONNECT with `reason` (0 = normal, 4 = disconnect with the will message).
pub fn disconnect(reason: u8) -> Vec<u8> {
    alloc::vec![kind::DISCONNECT << 4, 2, reason, 0]
}

/// What a reason code ≥ 0x80 in CONNACK means, for a log line.
pub fn connack_reason(code: u8) -> &'static str {
    match code {
        0x00 => "accepted",
        0x80 => "unspecified error",
        0x81 => "malformed packet",
        0x82 => "protocol error",
        0x84 => "unsupported protocol version",
        0x85 => "client identifier not valid",
        0x86 => "bad user name or password",
        0x87 => "not authorized",
        0x88 => "server unavailable",
        0x89 => "server busy",
        0x8A => "banned",
        0x8C => "bad authentication method",
        0x95 => "packet too large",
        0x97 => "quota exceeded",
        0x99 => "payload format invalid",
        0x9A => "retain not supported",
        0x9B => "QoS not supported",
        0x9C => "use another server",
        0x9D => "server moved",
        0x9F => "connection rate exceeded",
        _ => "refused",
    }
}

#[cfg(test)]
mod tests;
