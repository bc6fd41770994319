//! The MBR partition table in a disk's first block (what `cargo xtask image` writes and
//! what Raspberry Pi firmware reads): four 16-byte entries at offset 446, signature 0x55AA
//! at 510. Only LBA fields are used (CHS fields are ignored, as every modern system does).

use core::fmt;

/// Bytes in a block.
pub const BLOCK: usize = 512;

/// One used partition entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Slot in the table (0-3).
    pub index: usize,
    /// Partition type byte (0x0C = FAT32 LBA, 0x0B = FAT32 CHS, 0x0E/0x06 = FAT16, 0x83 = Linux).
    pub kind: u8,
    /// Marked bootable (0x80).
    pub bootable: bool,
    /// First block.
    pub start: u32,
    /// Length in blocks.
    pub blocks: u32,
}

impl Partition {
    /// Whether the type byte names a FAT file system.
    pub fn is_fat(&self) -> bool {
        matches!(self.kind, 0x01 | 0x04 | 0x06 | 0x0B | 0x0C | 0x0E)
    }

    /// A short name of the type.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            0x01 => "FAT12",
            0x04 | 0x06 | 0x0E => "FAT16",
            0x0B | 0x0C => "FAT32",
            0x07 => "NTFS/exFAT",
            0x82 => "Linux swap",
            0x83 => "Linux",
            0xEE => "GPT protective",
            _ => "other",
        }
    }
}

/// Why a block is not a usable partition table. None of these goes away by reading again,
/// except `TooShort` after a failed read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer than 512 bytes.
    TooShort,
    /// The 0x55AA signature is missing: not partitioned (or not an MBR disk).
    NoSignature,
    /// The disk uses a GUID partition table (only its protective entry is in the MBR).
    Gpt,
    /// An entry has a status byte other than 0x00/0x80.
    BadStatus {
        /// Slot.
        index: usize,
    },
    /// An entry extends past the end of the disk, or has zero length.
    OutOfDisk {
        /// Slot.
        index: usize,
    },
    /// Two entries overlap.
    Overlap {
        /// First slot.
        first: usize,
        /// Second slot.
        second: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooShort => f.write_str("partition table block is shorter than 512 bytes"),
            Error::NoSignature => f.write_str("no MBR partition table (signature 0x55AA missing)"),
            Error::Gpt => f.write_str("GPT disk: only MBR partition tables are supported"),
            Error::BadStatus { index } => write!(f, "partition {} has an invalid status byte", index + 1),
            Error::OutOfDisk { index } => write!(f, "partition {} lies outside the disk or is empty", index + 1),
            Error::Overlap { first, second } => write!(f, "partitions {} and {} overlap", first + 1, second + 1),
        }
    }
}

/// Parses and checks the table in `block` for a disk of `disk_blocks` blocks.
pub fn parse(block: &[u8], disk_blocks: u64) -> Result<[Option<Partition>; 4], Error> {
    if block.len() < BLOCK {
        return Err(Error::TooShort);
    }
    if block[510] != 0x55 || block[511] != 0xAA {
        return Err(Error::NoSignature);
    }
    let mut table = [None; 4];
    for (index, slot) in table.iter_mut().enumerate() {
        let entry = &block[446 + index * 16..446 + (index + 1) * 16];
        let kind = entry[4];
        if kind == 0 {
            continue;
        }
        if kind == 0xEE {
            return Err(Error::Gpt);
        }
        let bootable = match entry[0] {
            0x00 => false,
            0x80 => true,
            _ => return Err(Error::BadStatus { index }),
        };
        let start = u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]);
        let blocks = u32::from_le_bytes([entry[12], entry[13], entry[14], entry[15]]);
        if blocks == 0 || start == 0 || start as u64 + blocks as u64 > disk_blocks {
            return Err(Error::OutOfDisk { index });
        }
        *slot = Some(Partition { index, kind, bootable, start, blocks });
    }
    for (i, a) in table.iter().enumerate() {
        for (j, b) in table.iter().enumerate().skip(i + 1) {
            if let (Some(a), Some(b)) = (a, b) {
                let (a_end, b_end) = (a.start as u64 + a.blocks as u64, b.start as u64 + b.blocks as u64);
                if (a.start as u64) < b_end && (b.start as u64) < a_end {
                    return Err(Error::Overlap { first: i, second: j });
                }
            }
        }
    }
    Ok(table)
}

/// Writes a table with one partition (the image builder's layout) into `block`.
pub fn write_single(block: &mut [u8; BLOCK], kind: u8, bootable: bool, start: u32, blocks: u32, disk_id: u32) {
    block.fill(0);
    block[440..444].copy_from_slice(&disk_id.to_le_bytes());
    let entry = &mut block[446..462];
    entry[0] = if bootable { 0x80 } else { 0 };
    // CHS fields: "use LBA" markers (0xFE 0xFF 0xFF), as Linux tools write for large disks.
    entry[1..4].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    entry[4] = kind;
    entry[5..8].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    entry[8..12].copy_from_slice(&start.to_le_bytes());
    entry[12..16].copy_from_slice(&blocks.to_le_bytes());
    block[510] = 0x55;
    block[511] = 0xAA;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_table_parses_back() {
        let mut block = [0u8; BLOCK];
        write_single(&mut block, 0x0C, true, 2048, 100_000, 0x4b494e47);
        let table = parse(&block, 102_048).unwrap();
        let p = table[0].unwrap();
        assert_eq!((p.kind, p.bootable, p.start, p.blocks), (0x0C, true, 2048, 100_000));
        assert!(p.is_fat());
        assert_eq!(p.kind_name(), "FAT32");
        assert!(table[1..].iter().all(Option::is_none));
    }

    #[test]
    fn broken_tables_are_errors() {
        let mut block = [0u8; BLOCK];
        assert_eq!(parse(&block[..100], 10), Err(Error::TooShort));
        assert_eq!(parse(&block, 10), Err(Error::NoSignature));
        write_single(&mut block, 0x0C, false, 2048, 100_000, 1);
        assert_eq!(parse(&block, 50_000), Err(Error::OutOfDisk { index: 0 }));
        let mut bad_status = block;
        bad_status[446] = 0x12;
        assert_eq!(parse(&bad_status, 200_000), Err(Error::BadStatus { index: 0 }));
        let mut overlap = block;
        overlap.copy_within(446..462, 462);
        assert_eq!(parse(&overlap, 200_000), Err(Error::Overlap { first: 0, second: 1 }));
        let mut gpt = block;
        gpt[446 + 4] = 0xEE;
        assert_eq!(parse(&gpt, 200_000), Err(Error::Gpt));
    }

    #[test]
    fn mutated_blocks_never_panic() {
        let mut block = [0u8; BLOCK];
        write_single(&mut block, 0x0C, true, 2048, 100_000, 7);
        let mut rng = testkit::Rng::new(0x1234_5678);
        for _ in 0..20_000 {
            let mut m = block;
            for _ in 0..4 {
                m[446 + rng.below(66)] = rng.byte();
            }
            let _ = parse(&m, rng.below(300_000) as u64);
        }
    }
}
