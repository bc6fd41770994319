//! A FAT32 file's cluster chain as runs of contiguous card blocks, so a large file (a model)
//! is read with multi-block commands instead of block by block.
//!
//! Reference: Microsoft "FAT32 File System Specification" (fatgen103): the BIOS parameter
//! block in the volume's first sector (bytes per sector at 11, sectors per cluster at 13,
//! reserved sectors at 14, FAT count at 16, root entries at 17, 16-bit FAT size at 22, 32-bit
//! FAT size at 36), 32-byte directory entries (first cluster high half at 20, low half at
//! 26), and 28-bit FAT32 entries (the top 4 bits are reserved).
//!
//! Everything read from the card is checked: the geometry against the partition, every
//! cluster number against the volume, the chain for loops (a cluster visited twice). A
//! volume this module does not handle (FAT12/16, sectors other than 512 bytes) is an error
//! the caller answers by falling back to a slower generic reader.

use alloc::vec::Vec;
use core::fmt;

/// Bytes per block (sector) this module handles.
pub const BLOCK: usize = 512;

/// Why a chain could not be followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not a FAT32 volume with 512-byte sectors (a FAT12/16 volume, or a broken boot sector).
    NotFat32,
    /// The boot sector's sizes do not fit the partition.
    Geometry,
    /// A directory entry offset outside its block.
    EntryOffset,
    /// A cluster number outside the volume (a corrupt FAT or directory entry).
    ClusterOutOfRange(u32),
    /// The chain comes back to a cluster it already passed (a corrupt FAT).
    Loop(u32),
    /// A block could not be read.
    Read,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFat32 => write!(f, "not a FAT32 volume with 512-byte sectors"),
            Error::Geometry => write!(f, "inconsistent FAT32 geometry"),
            Error::EntryOffset => write!(f, "directory entry offset out of range"),
            Error::ClusterOutOfRange(cluster) => write!(f, "cluster number {cluster:#x} out of range"),
            Error::Loop(cluster) => write!(f, "the cluster chain loops at cluster {cluster:#x}"),
            Error::Read => write!(f, "a card read failed"),
        }
    }
}

fn u16_at(bytes: &[u8], at: usize) -> u32 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]]) as u32
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Where a FAT32 volume's FAT and data area are, in card blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Volume {
    /// First block of the first FAT.
    pub fat_start: u64,
    /// First block of cluster 2.
    pub data_start: u64,
    /// Blocks per cluster (a power of two).
    pub per_cluster: u64,
    /// One past the highest valid cluster number.
    pub cluster_end: u64,
}

impl Volume {
    /// The volume whose boot sector is `boot` and which fills the partition at `start` of
    /// `blocks` blocks.
    pub fn from_boot_sector(boot: &[u8; BLOCK], start: u64, blocks: u64) -> Result<Volume, Error> {
        let sector = u16_at(boot, 11);
        let per_cluster = boot[13] as u64;
        let (reserved, fats) = (u16_at(boot, 14) as u64, boot[16] as u64);
        let (root_entries, fat16_size, fat_size) = (u16_at(boot, 17), u16_at(boot, 22), u32_at(boot, 36) as u64);
        if sector as usize != BLOCK
            || !per_cluster.is_power_of_two()
            || root_entries != 0
            || fat16_size != 0
            || fat_size == 0
            || fats == 0
            || reserved == 0
        {
            return Err(Error::NotFat32);
        }
        let fat_start = start.checked_add(reserved).ok_or(Error::Geometry)?;
        let data_start =
            fats.checked_mul(fat_size).and_then(|size| fat_start.checked_add(size)).ok_or(Error::Geometry)?;
        let volume_end = start.checked_add(blocks).ok_or(Error::Geometry)?;
        if data_start >= volume_end {
            return Err(Error::Geometry);
        }
        // The FAT must have an entry for every cluster the data area holds.
        let cluster_end = ((volume_end - data_start) / per_cluster + 2).min(fat_size * (BLOCK as u64 / 4));
        Ok(Volume { fat_start, data_start, per_cluster, cluster_end })
    }

    /// The first block of `cluster`.
    fn block_of(&self, cluster: u64) -> u64 {
        self.data_start + (cluster - 2) * self.per_cluster
    }

    /// The runs (first block, block count) holding the first `size` bytes of the file that
    /// starts at `first_cluster`, in file order; adjacent clusters merge into one run. The
    /// last run may extend past the file's end (to its cluster's end). `read_block` reads
    /// one block of the FAT.
    pub fn runs(
        &self,
        first_cluster: u32,
        size: usize,
        read_block: &mut dyn FnMut(u64) -> Option<[u8; BLOCK]>,
    ) -> Result<Vec<(u64, u64)>, Error> {
        let cluster_bytes = self.per_cluster as usize * BLOCK;
        let needed = size.div_ceil(cluster_bytes);
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut cached: Option<(u64, [u8; BLOCK])> = None;
        let mut cluster = first_cluster as u64;
        for i in 0..needed {
            if !(2..self.cluster_end).contains(&cluster) {
                return Err(Error::ClusterOutOfRange(cluster as u32));
            }
            let block = self.block_of(cluster);
            match runs.last_mut() {
                Some((first, count)) if *first + *count == block => *count += self.per_cluster,
                _ => runs.push((block, self.per_cluster)),
            }
            if i + 1 == needed {
                break;
            }
            let fat_block = self.fat_start + cluster * 4 / BLOCK as u64;
            let fat = match &cached {
                Some((at, fat)) if *at == fat_block => fat,
                _ => &cached.insert((fat_block, read_block(fat_block).ok_or(Error::Read)?)).1,
            };
            cluster = (u32_at(fat, (cluster * 4 % BLOCK as u64) as usize) & 0x0fff_ffff) as u64;
        }
        check_no_loop(&runs)?;
        Ok(runs)
    }
}

/// The first cluster of the directory entry at byte `offset` of `block`.
pub fn first_cluster(block: &[u8; BLOCK], offset: usize) -> Result<u32, Error> {
    if offset.checked_add(32).is_none_or(|end| end > BLOCK) {
        return Err(Error::EntryOffset);
    }
    Ok(u16_at(block, offset + 20) << 16 | u16_at(block, offset + 26))
}

/// A chain that passes a cluster twice has two runs that overlap.
fn check_no_loop(runs: &[(u64, u64)]) -> Result<(), Error> {
    let mut sorted: Vec<(u64, u64)> = runs.to_vec();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        if pair[0].0 + pair[0].1 > pair[1].0 {
            return Err(Error::Loop(pair[1].0 as u32));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{string::String, vec, vec::Vec};
    use std::io::{Read, Write};

    extern crate std;

    const START: u64 = 2048;

    /// A card image: MBR gap of 2048 blocks, then a FAT32 volume formatted by the `fatfs`
    /// crate holding `files` (written interleaved so their chains are fragmented).
    fn card(files: &[(&str, Vec<u8>)], blocks: u64) -> Vec<u8> {
        let mut volume = std::io::Cursor::new(vec![0u8; (blocks * BLOCK as u64) as usize]);
        let options = fatfs::FormatVolumeOptions::new().fat_type(fatfs::FatType::Fat32).bytes_per_cluster(1024);
        fatfs::format_volume(&mut volume, options).expect("format");
        {
            let fs = fatfs::FileSystem::new(&mut volume, fatfs::FsOptions::new()).expect("mount");
            let root = fs.root_dir();
            let mut handles: Vec<_> = files.iter().map(|(name, _)| root.create_file(name).expect("create")).collect();
            let longest = files.iter().map(|(_, bytes)| bytes.len()).max().unwrap_or(0);
            for at in (0..longest).step_by(3000) {
                for (handle, (_, bytes)) in handles.iter_mut().zip(files) {
                    if at < bytes.len() {
                        handle.write_all(&bytes[at..(at + 3000).min(bytes.len())]).expect("write");
                    }
                }
            }
            for handle in &mut handles {
                handle.flush().expect("flush");
            }
        }
        let mut image = vec![0u8; START as usize * BLOCK];
        image.extend_from_slice(volume.get_ref());
        image
    }

    fn block(image: &[u8], lba: u64) -> Option<[u8; BLOCK]> {
        let at = (lba as usize).checked_mul(BLOCK)?;
        image.get(at..at + BLOCK)?.try_into().ok()
    }

    /// The block and offset of `name`'s 8.3 entry in the root directory (first cluster of
    /// the root only: the tests put few files there).
    fn entry(image: &[u8], volume: &Volume, name: &str) -> ([u8; BLOCK], usize) {
        let boot = block(image, START).expect("boot sector");
        let root = u32_at(&boot, 44) as u64;
        let (base, ext) = name.split_once('.').unwrap_or((name, ""));
        let wanted = std::format!("{:<8}{:<3}", base.to_uppercase(), ext.to_uppercase());
        for b in 0..volume.per_cluster {
            let dir = block(image, volume.block_of(root) + b).expect("directory");
            for offset in (0..BLOCK).step_by(32) {
                if &dir[offset..offset + 11] == wanted.as_bytes() {
                    return (dir, offset);
                }
            }
        }
        panic!("{name} not in the root directory");
    }

    fn read_runs(image: &[u8], runs: &[(u64, u64)], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for &(first, count) in runs {
            for b in first..first + count {
                out.extend_from_slice(&block(image, b).expect("data block"));
            }
        }
        out.truncate(size);
        out
    }

    fn files() -> Vec<(&'static str, Vec<u8>)> {
        let mut rng = testkit::Rng::new(3);
        let mut data = |n: usize| {
            let mut bytes = vec![0u8; n];
            rng.fill(&mut bytes);
            bytes
        };
        vec![("a.bin", data(50_000)), ("b.bin", data(33_333)), ("one.txt", data(10)), ("empty.txt", data(0))]
    }

    #[test]
    fn runs_read_back_what_an_independent_fat_implementation_wrote() {
        let files = files();
        let image = card(&files, 140_000);
        let boot = block(&image, START).unwrap();
        let volume = Volume::from_boot_sector(&boot, START, 140_000).expect("FAT32");
        assert_eq!(volume.per_cluster, 2);
        for (name, bytes) in &files {
            let (dir, offset) = entry(&image, &volume, name);
            let first = first_cluster(&dir, offset).unwrap();
            let runs = volume.runs(first, bytes.len(), &mut |lba| block(&image, lba)).expect("chain");
            assert_eq!(&read_runs(&image, &runs, bytes.len()), bytes, "{name}");
            if bytes.len() > 30_000 {
                assert!(runs.len() > 1, "{name}: interleaved writes fragment the chain: {runs:?}");
            }
        }
        // Reading through fatfs agrees (a sanity check of the fixture itself).
        let mut volume_bytes = std::io::Cursor::new(image[START as usize * BLOCK..].to_vec());
        let fs = fatfs::FileSystem::new(&mut volume_bytes, fatfs::FsOptions::new()).unwrap();
        let mut text = Vec::new();
        fs.root_dir().open_file("a.bin").unwrap().read_to_end(&mut text).unwrap();
        assert_eq!(text, files[0].1);
    }

    #[test]
    fn broken_boot_sectors_chains_and_entries_are_errors() {
        let files = files();
        let image = card(&files, 140_000);
        let boot = block(&image, START).unwrap();
        let mut fat16 = boot;
        fat16[22] = 1;
        assert_eq!(Volume::from_boot_sector(&fat16, START, 140_000), Err(Error::NotFat32));
        let mut sector = boot;
        sector[12] = 4; // 1024-byte sectors
        assert_eq!(Volume::from_boot_sector(&sector, START, 140_000), Err(Error::NotFat32));
        assert_eq!(Volume::from_boot_sector(&boot, START, 10), Err(Error::Geometry), "partition smaller than the FATs");
        let volume = Volume::from_boot_sector(&boot, START, 140_000).unwrap();
        assert_eq!(first_cluster(&boot, 490), Err(Error::EntryOffset));
        assert_eq!(volume.runs(1, 10, &mut |lba| block(&image, lba)), Err(Error::ClusterOutOfRange(1)));
        assert_eq!(
            volume.runs(0x0fff_fff8, 10, &mut |lba| block(&image, lba)),
            Err(Error::ClusterOutOfRange(0x0fff_fff8))
        );
        assert_eq!(volume.runs(3, 5000, &mut |_| None), Err(Error::Read));
        // A FAT whose entry points back at the start of the chain.
        let (dir, offset) = entry(&image, &volume, "a.bin");
        let first = first_cluster(&dir, offset).unwrap() as u64;
        let mut looped = image.clone();
        let at = (volume.fat_start * BLOCK as u64 + first * 4) as usize;
        looped[at..at + 4].copy_from_slice(&(first as u32).to_le_bytes());
        assert!(matches!(volume.runs(first as u32, 50_000, &mut |lba| block(&looped, lba)), Err(Error::Loop(_))));
        let messages: Vec<String> = [Error::NotFat32, Error::Loop(7)].iter().map(|e| std::format!("{e}")).collect();
        assert!(messages[1].contains("loops"), "{messages:?}");
    }

    #[test]
    fn mutated_volumes_give_errors_or_runs_inside_the_volume_never_panics() {
        let files = files();
        let image = card(&files, 140_000);
        let boot = block(&image, START).unwrap();
        let volume = Volume::from_boot_sector(&boot, START, 140_000).unwrap();
        let (dir, offset) = entry(&image, &volume, "a.bin");
        // The first blocks of the FAT, mutated in a copy; other blocks come from the image.
        const FAT_BLOCKS: usize = 8;
        let fat_start = volume.fat_start as usize * BLOCK;
        let original_fat = image[fat_start..fat_start + FAT_BLOCKS * BLOCK].to_vec();
        let mut rng = testkit::Rng::new(0xfa73_2000);
        for round in 0..3000 {
            let (mut boot, mut dir, mut fat) = (boot, dir, original_fat.clone());
            for _ in 0..1 + rng.below(4) {
                match rng.below(3) {
                    0 => boot[rng.below(64)] = rng.byte(),
                    1 => dir[offset + rng.below(32)] = rng.byte(),
                    _ => fat[rng.below(FAT_BLOCKS * BLOCK)] = rng.byte(),
                }
            }
            let read = |lba: u64| -> Option<[u8; BLOCK]> {
                let index = (lba as usize).checked_sub(volume.fat_start as usize).filter(|i| *i < FAT_BLOCKS);
                match index {
                    Some(i) => fat[i * BLOCK..(i + 1) * BLOCK].try_into().ok(),
                    None => block(&image, lba),
                }
            };
            let blocks = if round % 7 == 0 { rng.below(100_000) as u64 } else { 140_000 };
            let Ok(volume) = Volume::from_boot_sector(&boot, START, blocks) else { continue };
            let Ok(first) = first_cluster(&dir, offset) else { continue };
            let size = rng.below(200_000);
            let mut read = read;
            if let Ok(runs) = volume.runs(first, size, &mut read) {
                let covered: u64 = runs.iter().map(|(_, count)| count).sum();
                assert!(covered * BLOCK as u64 >= size as u64, "{runs:?} for {size}");
                for &(first, count) in &runs {
                    assert!(first >= volume.data_start && first + count <= START + blocks, "{runs:?} {volume:?}");
                }
            }
        }
    }
}
