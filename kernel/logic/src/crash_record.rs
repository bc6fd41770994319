//! The crash record's format: a 32-byte header and the report text, in a page of RAM that
//! a reset leaves alone. The header is written last, so a record cut short by a second
//! fault fails its checksum and is never trusted; a record is read from memory anything may
//! have written (a cold boot, another program), so every field is checked.
//!
//! Header: magic `KINGLYCR`, u32 length, u32 checksum, u32 crashes in a row during boot,
//! u32 kind (1 panic, 2 fault), u64 microseconds since boot; little endian. The checksum is
//! FNV-1a over the text and then the header's last 16 bytes.

/// Marks a sealed record.
pub const MAGIC: &[u8; 8] = b"KINGLYCR";
/// Header bytes before the text.
pub const HEADER: usize = 32;
/// FNV-1a's starting value (the checksum of no bytes).
pub const FNV_START: u32 = 0x811c_9dc5;

/// Continues an FNV-1a checksum over `bytes`.
pub fn fnv_from(start: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(start, |h, &b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

/// What stopped the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A Rust panic (out of memory included).
    Panic = 1,
    /// A CPU exception the kernel cannot handle.
    Fault = 2,
}

impl Kind {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Panic => "panic",
            Kind::Fault => "fault",
        }
    }
}

/// A record's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Text bytes.
    pub len: u32,
    /// FNV-1a of the text alone (the stored checksum continues over the header's fields).
    pub text_checksum: u32,
    /// Crashes in a row before the services came up, this one included (0: it happened
    /// while running).
    pub boot_crashes: u32,
    /// Panic or fault.
    pub kind: Kind,
    /// Microseconds since boot when it happened.
    pub uptime_us: u64,
}

impl Header {
    /// The header's bytes, magic included.
    pub fn encode(&self) -> [u8; HEADER] {
        let mut out = [0u8; HEADER];
        out[..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&self.len.to_le_bytes());
        out[16..20].copy_from_slice(&self.boot_crashes.to_le_bytes());
        out[20..24].copy_from_slice(&(self.kind as u32).to_le_bytes());
        out[24..32].copy_from_slice(&self.uptime_us.to_le_bytes());
        let checksum = fnv_from(self.text_checksum, &out[16..32]);
        out[12..16].copy_from_slice(&checksum.to_le_bytes());
        out
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a crash area: the header and the text, or `None` unless the magic, kind, length
/// and checksum all hold.
pub fn parse(area: &[u8]) -> Option<(Header, &[u8])> {
    if area.get(..8)? != MAGIC {
        return None;
    }
    let len = u32_at(area, 8)?;
    let kind = match u32_at(area, 20)? {
        1 => Kind::Panic,
        2 => Kind::Fault,
        _ => return None,
    };
    let text = area.get(HEADER..HEADER.checked_add(len as usize)?)?;
    let text_checksum = fnv_from(FNV_START, text);
    if fnv_from(text_checksum, &area[16..32]) != u32_at(area, 12)? {
        return None;
    }
    let uptime_us = u64::from_le_bytes(area.get(24..32)?.try_into().ok()?);
    Some((Header { len, text_checksum, boot_crashes: u32_at(area, 16)?, kind, uptime_us }, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::Rng;

    fn sealed(text: &[u8], area: usize) -> alloc::vec::Vec<u8> {
        let header = Header {
            len: text.len() as u32,
            text_checksum: fnv_from(FNV_START, text),
            boot_crashes: 2,
            kind: Kind::Fault,
            uptime_us: 123_456_789,
        };
        let mut bytes = alloc::vec![0u8; area];
        bytes[..HEADER].copy_from_slice(&header.encode());
        bytes[HEADER..HEADER + text.len()].copy_from_slice(text);
        bytes
    }

    #[test]
    fn a_sealed_record_reads_back() {
        let area = sealed(b"*** KERNEL FAULT on core 0 ***\nFAR 0x0", 4096);
        let (header, text) = parse(&area).expect("parses");
        assert_eq!(text, b"*** KERNEL FAULT on core 0 ***\nFAR 0x0");
        assert_eq!((header.kind, header.boot_crashes, header.uptime_us), (Kind::Fault, 2, 123_456_789));
    }

    #[test]
    fn the_checksum_may_be_computed_piece_by_piece() {
        let whole = fnv_from(FNV_START, b"hello, crash");
        assert_eq!(fnv_from(fnv_from(FNV_START, b"hello, "), b"crash"), whole);
    }

    #[test]
    fn any_changed_byte_or_a_wrong_length_is_refused() {
        let area = sealed(b"report text", 64);
        for at in 0..HEADER + 11 {
            let mut bad = area.clone();
            bad[at] ^= 0x01;
            assert!(parse(&bad).is_none(), "byte {at} flipped and still trusted");
        }
        let mut long = area.clone();
        long[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&long).is_none());
        assert!(parse(&area[..HEADER + 5]).is_none(), "text cut short");
        assert!(parse(&[0u8; 4096]).is_none(), "zeroed RAM holds no record");
    }

    #[test]
    fn random_memory_never_panics_the_parser() {
        let mut rng = Rng::new(0xc4a5);
        for round in 0..20_000 {
            let len = rng.below(96);
            let mut area: alloc::vec::Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
            if round % 2 == 0 && len >= 8 {
                area[..8].copy_from_slice(MAGIC);
            }
            let _ = parse(&area);
        }
    }
}
