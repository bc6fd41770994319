//! The SD card: the block device (`drivers::sdhci` behind the `drivers::block` seam; on
//! QEMU virt a virtio-blk disk takes the card's place), its MBR partition table
//! (`formats::mbr`) and the FAT boot partition through `embedded-sdmmc`, plus the settings
//! file on it (`formats::settings`).
//!
//! Why `embedded-sdmmc` (0.10) for FAT: it is maintained (rust-embedded-community), `no_std`
//! without `alloc`, takes any block device through a three-method trait, reads FAT16/FAT32
//! with long file names (`iterate_dir_lfn`, `open_long_name_file_in_dir`) and writes 8.3
//! names. The alternatives: `fatfs` 0.3 (the released one) needs `std` or the nightly-only
//! `core_io` without it; its no_std-capable 0.4 is unreleased. Writes are few and small
//! (`fs_write`: the settings file, notes, logs), so `embedded-sdmmc`'s write limit — new
//! files get 8.3 names — does not bite; existing files are found by their long names too.
//!
//! Writing safely: the files the board boots from are refused (`formats::boot_files`);
//! a write replaces or extends one file in a single call and closes it before answering,
//! so the FAT and the directory entry are on the card when the tool returns. A power cut
//! in the middle of a write can leave that one file short (and lost clusters, which any
//! `fsck.vfat` reclaims) — never a broken boot partition.
//!
//! The card is brought up once at boot ([`init`]); a missing card, a card that fails to
//! initialise or a broken partition table is remembered as the reason and reported by every
//! storage tool, while the rest of the kernel runs. Every access holds one lock, so tools and
//! the model loader never interleave commands on the bus.

use crate::{board::CURRENT, platform};
use alloc::{
    boxed::Box,
    format,
    string::{String, ToString},
    vec::Vec,
};
use core::ops::ControlFlow;
use drivers::{
    block::{BlockDevice, BlockError, BLOCK_SIZE},
    sdhci::CardInfo,
};
use embedded_sdmmc::{
    Block, BlockCount, BlockIdx, LfnBuffer, Mode, ShortFileName, TimeSource, Timestamp, VolumeIdx, VolumeManager,
};
use formats::{fat32, mbr, settings::Settings};
use spin::{Mutex, Once};

/// Longest file `fs_read` returns in one call.
pub const MAX_READ: usize = 64 * 1024;

/// Most bytes `fs_write` writes in one call.
pub const MAX_WRITE: usize = 64 * 1024;

/// Most entries `fs_list` returns.
pub const MAX_ENTRIES: usize = 256;

/// The card's block device (the SD host, or virtio-blk on virt), once brought up.
static HOST: Mutex<Option<Box<dyn BlockDevice + Send>>> = Mutex::new(None);
static STATE: Once<Result<Card, CardError>> = Once::new();
static SETTINGS: Once<Settings> = Once::new();
/// What the kernel knows about the inserted card (or the virt board's disk).
#[derive(Clone, Debug)]
pub struct Card {
    /// The block device's kind ("sd", "virtio-blk").
    pub device: &'static str,
    /// Capacity in 512-byte blocks.
    pub blocks: u64,
    /// SD card and controller details (SD host only).
    pub sd: Option<SdCard>,
    /// The partition table, or why it is unusable.
    pub partitions: Result<[Option<mbr::Partition>; 4], mbr::Error>,
}

/// An SD card and its host controller.
#[derive(Clone, Debug)]
pub struct SdCard {
    /// Identification and capacity.
    pub info: CardInfo,
    /// SDHCI specification and vendor version of the controller.
    pub controller_version: (u8, u8),
    /// Base clock used for the divisors, in Hz.
    pub base_clock: u32,
}

/// A directory entry as `fs_list` shows it.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Long name when there is one, else the 8.3 name.
    pub name: String,
    /// The 8.3 name.
    pub short_name: String,
    /// Size in bytes (0 for directories).
    pub size: u32,
    /// A directory.
    pub directory: bool,
}

/// Why there is no usable card (or disk).
#[derive(Clone, Debug)]
pub enum CardError {
    /// Storage has not been brought up yet.
    NotStarted,
    /// The board has no SD host.
    NoHost,
    /// virt: no virtio-blk device was attached.
    NoDisk,
    /// The card did not initialise (none inserted, or it did not answer).
    Init(drivers::sdhci::Error),
    /// The virtio-blk device did not initialise.
    Disk(virtio_drivers::Error),
    /// The partition table could not be read.
    PartitionRead(BlockError),
    /// The partition table is unusable.
    PartitionTable(mbr::Error),
    /// No FAT partition on the card.
    NoFat,
    /// The card went away.
    Gone,
}

impl core::fmt::Display for CardError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CardError::NotStarted => write!(f, "storage not initialised"),
            CardError::NoHost => write!(f, "this board has no SD card host"),
            CardError::NoDisk => {
                write!(f, "no virtio-blk device (attach a card image: `cargo xtask qemu --board virt --card FILE.img`)")
            }
            CardError::Init(error) => write!(f, "{error}"),
            CardError::Disk(why) => write!(f, "virtio-blk did not initialise: {why}"),
            CardError::PartitionRead(error) => write!(f, "reading the partition table: {error}"),
            CardError::PartitionTable(error) => write!(f, "{error}"),
            CardError::NoFat => write!(f, "the card has no FAT partition"),
            CardError::Gone => write!(f, "no card"),
        }
    }
}

/// Storage errors: each says what the user can do.
#[derive(Clone, Debug)]
pub enum StorageError {
    /// No card, or it failed to initialise, or it has no usable partition.
    NoCard(CardError),
    /// A path that does not exist.
    NotFound(String),
    /// A path that is not valid.
    BadPath(String),
    /// The card or file system failed during the operation.
    Io(String),
    /// Not enough memory for what was asked.
    NoMemory(usize),
}

impl core::fmt::Display for StorageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StorageError::NoCard(why) => write!(f, "no usable SD card: {why}"),
            StorageError::NotFound(path) => write!(f, "{path}: no such file or directory on the card"),
            StorageError::BadPath(why) => write!(f, "bad path: {why}"),
            StorageError::Io(why) => write!(f, "SD card error: {why}"),
            StorageError::NoMemory(bytes) => write!(f, "not enough free memory for {} KiB", bytes.div_ceil(1024)),
        }
    }
}

/// The block device `embedded-sdmmc` reads through: every call takes the host lock.
struct CardDevice;

impl embedded_sdmmc::BlockDevice for CardDevice {
    type Error = BlockError;

    fn read(&self, blocks: &mut [Block], start: BlockIdx) -> Result<(), BlockError> {
        let mut host = HOST.lock();
        let host = host.as_mut().ok_or(BlockError::Device("no card"))?;
        for (i, block) in blocks.iter_mut().enumerate() {
            host.read_blocks(start.0 as u64 + i as u64, &mut block.contents)?;
        }
        Ok(())
    }

    fn write(&self, blocks: &[Block], start: BlockIdx) -> Result<(), BlockError> {
        let mut host = HOST.lock();
        let host = host.as_mut().ok_or(BlockError::Device("no card"))?;
        for (i, block) in blocks.iter().enumerate() {
            host.write_blocks(start.0 as u64 + i as u64, &block.contents)?;
        }
        Ok(())
    }

    fn num_blocks(&self) -> Result<BlockCount, BlockError> {
        let host = HOST.lock();
        let blocks = host.as_ref().ok_or(BlockError::Device("no card"))?.blocks();
        Ok(BlockCount(blocks.min(u32::MAX as u64) as u32))
    }
}

/// No real-time clock: files the kernel writes carry a fixed date.
struct FixedTime;

impl TimeSource for FixedTime {
    fn get_timestamp(&self) -> Timestamp {
        Timestamp { year_since_1970: 56, zero_indexed_month: 0, zero_indexed_day: 0, hours: 0, minutes: 0, seconds: 0 }
    }
}

type Volumes = VolumeManager<CardDevice, FixedTime, 4, 2, 1>;

/// Brings up the card (once, at boot) and reads the settings file from it.
pub fn init() {
    let state = STATE.call_once(bring_up);
    match state {
        Ok(card) => {
            let kind = match &card.sd {
                Some(sd) if sd.info.high_capacity => "SDHC/SDXC",
                Some(_) => "SDSC",
                None => card.device,
            };
            log::info!(
                "{}: {} MiB, {kind}, {}",
                if card.sd.is_some() { "SD card" } else { "disk" },
                (card.blocks * BLOCK_SIZE as u64) >> 20,
                match &card.partitions {
                    Ok(table) => format!("{} partition(s)", table.iter().flatten().count()),
                    Err(why) => format!("partition table unusable: {why}"),
                }
            );
        }
        Err(why) => log::info!("no SD card: {why}"),
    }
    let settings = SETTINGS.call_once(load_settings);
    if settings.baud != 115_200 {
        if let Some(platform) = platform::get() {
            log::info!("console: switching to {} baud (kingly.txt)", settings.baud);
            crate::console::flush();
            platform.uart.init(CURRENT.uart.1, settings.baud);
        }
    }
}

fn bring_up() -> Result<Card, CardError> {
    if CURRENT.sd.is_none() && CURRENT.virtio_mmio.is_some() {
        return bring_up_virtio();
    }
    let sd = CURRENT.sd.ok_or(CardError::NoHost)?;
    if let (Some((first, count)), Some(gpio)) = (sd.pins, platform::get().and_then(|p| p.gpio.as_ref())) {
        for pin in first..first + count {
            let _ = gpio.set_function(pin, drivers::gpio::Function::Alt3);
        }
    }
    let base_clock = crate::system::clock_rate(sd.clock).filter(|&hz| hz > 0).unwrap_or(sd.default_clock_hz);
    let mut host = platform::sd_host(sd.base, base_clock);
    let info = host.init_card().map_err(CardError::Init)?;
    let controller_version = host.version();
    let sd = SdCard { info, controller_version, base_clock };
    attach(Box::new(host), Some(sd))
}

/// The virt board's card: the first virtio-blk device.
fn bring_up_virtio() -> Result<Card, CardError> {
    let device = crate::virtio_blk::VirtioBlock::find().ok_or(CardError::NoDisk)?.map_err(CardError::Disk)?;
    attach(Box::new(device), None)
}

/// Reads the partition table of a brought-up device and keeps the device.
fn attach(mut device: Box<dyn BlockDevice + Send>, sd: Option<SdCard>) -> Result<Card, CardError> {
    let blocks = device.blocks();
    let mut block0 = [0u8; BLOCK_SIZE];
    device.read_blocks(0, &mut block0).map_err(CardError::PartitionRead)?;
    let partitions = mbr::parse(&block0, blocks);
    let kind = device.kind();
    *HOST.lock() = Some(device);
    Ok(Card { device: kind, blocks, sd, partitions })
}

/// The card, or why there is none.
pub fn card() -> Result<&'static Card, StorageError> {
    match STATE.get() {
        Some(Ok(card)) => Ok(card),
        Some(Err(why)) => Err(StorageError::NoCard(why.clone())),
        None => Err(StorageError::NoCard(CardError::NotStarted)),
    }
}

/// The settings from the card's `kingly.txt` (defaults without a card or file).
pub fn settings() -> Settings {
    SETTINGS.get().cloned().unwrap_or_default()
}

fn load_settings() -> Settings {
    if let Some(text) = crate::placed::settings() {
        let (settings, warnings) = formats::settings::parse(text);
        for warning in warnings {
            log::warn!("{warning}");
        }
        log::info!("settings placed by the loader");
        return settings;
    }
    if card().is_err() {
        return Settings::default();
    }
    match read(&format!("/{}", formats::settings::FILE_NAME), 0, formats::settings::MAX_FILE_BYTES + 1) {
        Ok((bytes, _)) => {
            let (settings, warnings) = formats::settings::parse(&bytes);
            for warning in warnings {
                log::warn!("{warning}");
            }
            log::info!("settings read from {}", formats::settings::FILE_NAME);
            settings
        }
        Err(StorageError::NotFound(_)) => {
            log::info!("no {} on the card: default settings", formats::settings::FILE_NAME);
            Settings::default()
        }
        Err(error) => {
            log::warn!("{}: {error}; default settings", formats::settings::FILE_NAME);
            Settings::default()
        }
    }
}

fn io<E: core::fmt::Display>(error: E) -> StorageError {
    StorageError::Io(error.to_string())
}

/// Whether a file-system operation only reads or also writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// Readers of the file system share it; a writer has it alone. A long read (a model
/// loading from the card) lets other requests run between its steps, and one of them could
/// be a write: it is refused rather than changing the FAT under the reader. Never waited
/// on: the executor runs those requests inside the reader's call on the same core.
static FS: spin::RwLock<()> = spin::RwLock::new(());

/// Runs `f` on the root directory of the card's first FAT partition.
fn with_root<R>(
    access: Access,
    f: impl FnOnce(&embedded_sdmmc::Directory<'_, CardDevice, FixedTime, 4, 2, 1>) -> Result<R, StorageError>,
) -> Result<R, StorageError> {
    let card = card()?;
    let busy =
        || StorageError::Io("the card is busy (a model is being read from it); try again when that finishes".into());
    let (_read, _write) = match access {
        Access::Read => (Some(FS.try_read().ok_or_else(busy)?), None),
        Access::Write => (None, Some(FS.try_write().ok_or_else(busy)?)),
    };
    match &card.partitions {
        Ok(table) if table.iter().flatten().any(mbr::Partition::is_fat) => {}
        Ok(_) => return Err(StorageError::NoCard(CardError::NoFat)),
        Err(why) => return Err(StorageError::NoCard(CardError::PartitionTable(*why))),
    }
    let volumes = Volumes::new_with_limits(CardDevice, FixedTime, 0);
    let volume = volumes.open_volume(VolumeIdx(0)).map_err(io)?;
    let root = volume.open_root_dir().map_err(io)?;
    f(&root)
}

/// Splits a path into its components (`/` and empty components ignored; `..` refused).
fn components(path: &str) -> Result<Vec<&str>, StorageError> {
    if path.len() > 255 {
        return Err(StorageError::BadPath("longer than 255 bytes".into()));
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.contains(&"..") {
        return Err(StorageError::BadPath("'..' is not supported".into()));
    }
    Ok(parts)
}

/// Finds `name` (long or 8.3, case-insensitive) in a directory: its 8.3 name and entry.
fn lookup(
    dir: &embedded_sdmmc::Directory<'_, CardDevice, FixedTime, 4, 2, 1>,
    name: &str,
) -> Result<Option<(ShortFileName, bool)>, StorageError> {
    Ok(lookup_entry(dir, name)?.map(|e| (e.name, e.attributes.is_directory())))
}

/// Like [`lookup`], returning the whole directory entry.
fn lookup_entry(
    dir: &embedded_sdmmc::Directory<'_, CardDevice, FixedTime, 4, 2, 1>,
    name: &str,
) -> Result<Option<embedded_sdmmc::DirEntry>, StorageError> {
    let mut storage = [0u8; 256];
    let mut lfn = LfnBuffer::new(&mut storage);
    let mut found = None;
    dir.iterate_dir_lfn(&mut lfn, |entry, long| {
        let short = entry.name.to_string();
        if long.is_some_and(|l| l.eq_ignore_ascii_case(name)) || short.eq_ignore_ascii_case(name) {
            found = Some(entry.clone());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })
    .map_err(io)?;
    Ok(found)
}

/// Opens the directory at `parts` and runs `f` on it.
fn with_dir<R>(
    access: Access,
    parts: &[&str],
    path: &str,
    f: impl FnOnce(&embedded_sdmmc::Directory<'_, CardDevice, FixedTime, 4, 2, 1>) -> Result<R, StorageError>,
) -> Result<R, StorageError> {
    with_root(access, |root| {
        let Some((first, rest)) = parts.split_first() else { return f(root) };
        // Directories nest at most a few levels on a boot partition; open them one by one.
        let Some((short, true)) = lookup(root, first)? else { return Err(StorageError::NotFound(path.into())) };
        let mut dir = root.open_dir(short).map_err(io)?;
        for part in rest {
            let Some((short, true)) = lookup(&dir, part)? else { return Err(StorageError::NotFound(path.into())) };
            dir.change_dir(short).map_err(io)?;
        }
        f(&dir)
    })
}

/// The entries of the directory at `path`, at most [`MAX_ENTRIES`].
pub fn list(path: &str) -> Result<Vec<Entry>, StorageError> {
    let parts = components(path)?;
    with_dir(Access::Read, &parts, path, |dir| {
        let mut storage = [0u8; 256];
        let mut lfn = LfnBuffer::new(&mut storage);
        let mut entries = Vec::new();
        dir.iterate_dir_lfn(&mut lfn, |entry, long| {
            if entry.attributes.is_volume() || entry.attributes.is_lfn() {
                return ControlFlow::Continue(());
            }
            let short = entry.name.to_string();
            if short == "." || short == ".." {
                return ControlFlow::Continue(());
            }
            entries.push(Entry {
                name: long.map(String::from).unwrap_or_else(|| short.clone()),
                short_name: short,
                size: entry.size,
                directory: entry.attributes.is_directory(),
            });
            if entries.len() >= MAX_ENTRIES {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })
        .map_err(io)?;
        Ok(entries)
    })
}

/// Opens the file at `path` and runs `f` on it (with its directory entry).
fn with_file<R>(
    path: &str,
    f: impl FnOnce(
        &embedded_sdmmc::File<'_, CardDevice, FixedTime, 4, 2, 1>,
        &embedded_sdmmc::DirEntry,
    ) -> Result<R, StorageError>,
) -> Result<R, StorageError> {
    let parts = components(path)?;
    let Some((name, dirs)) = parts.split_last() else {
        return Err(StorageError::BadPath("a file name is needed".into()));
    };
    with_dir(Access::Read, dirs, path, |dir| {
        let Some(entry) = lookup_entry(dir, name)? else { return Err(StorageError::NotFound(path.into())) };
        if entry.attributes.is_directory() {
            return Err(StorageError::BadPath(format!("{path} is a directory")));
        }
        let file = dir.open_file_in_dir(entry.name, Mode::ReadOnly).map_err(io)?;
        f(&file, &entry)
    })
}

/// Up to `max` bytes of the file at `path` from `offset`, and the file's size.
pub fn read(path: &str, offset: u32, max: usize) -> Result<(Vec<u8>, u32), StorageError> {
    with_file(path, |file, _| {
        let size = file.length();
        if offset > size {
            return Err(StorageError::BadPath(format!("offset {offset} is past the end of the file ({size} bytes)")));
        }
        let len = max.min((size - offset) as usize);
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|_| StorageError::NoMemory(len))?;
        bytes.resize(len, 0);
        file.seek_from_start(offset).map_err(io)?;
        let mut done = 0;
        while done < len {
            let n = file.read(&mut bytes[done..]).map_err(io)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        bytes.truncate(done);
        Ok((bytes, size))
    })
}

/// Writes `bytes` to the file at `path` (created if missing, with an 8.3 name), replacing
/// its contents or appending to them; returns the file's new size. Files the board boots
/// from are refused before the card is touched.
pub fn write(path: &str, bytes: &[u8], append: bool) -> Result<u32, StorageError> {
    if let Some(why) = formats::boot_files::protection(path) {
        return Err(StorageError::BadPath(format!("{path} is protected: {why}")));
    }
    if let Some(why) = formats::boot_files::content_protection(bytes) {
        return Err(StorageError::BadPath(format!("refused to write {path}: {why}")));
    }
    if bytes.len() > MAX_WRITE {
        return Err(StorageError::BadPath(format!("at most {} KiB per write", MAX_WRITE / 1024)));
    }
    let parts = components(path)?;
    let Some((name, dirs)) = parts.split_last() else {
        return Err(StorageError::BadPath("a file name is needed".into()));
    };
    with_dir(Access::Write, dirs, path, |dir| {
        let short = match lookup_entry(dir, name)? {
            Some(entry) if entry.attributes.is_directory() => {
                return Err(StorageError::BadPath(format!("{path} is a directory")))
            }
            Some(entry) if entry.attributes.is_read_only() || entry.attributes.is_system() => {
                return Err(StorageError::BadPath(format!("{path} is marked read-only or system on the card")))
            }
            Some(entry) => entry.name,
            None => ShortFileName::create_from_str(name).map_err(|_| {
                StorageError::BadPath(format!(
                    "{name}: new files need an 8.3 name (up to 8 letters/digits, a dot, up to 3 more, e.g. NOTES.TXT)"
                ))
            })?,
        };
        // The protection check again on the name the card knows (a long name can hide a
        // short one such as KERNEL8.IMG).
        let short_path = format!("/{short}");
        if let Some(why) = formats::boot_files::protection(&short_path) {
            return Err(StorageError::BadPath(format!("{path} ({short}) is protected: {why}")));
        }
        let mode = if append { Mode::ReadWriteCreateOrAppend } else { Mode::ReadWriteCreateOrTruncate };
        let file = dir.open_file_in_dir(short, mode).map_err(io)?;
        file.write(bytes).map_err(io)?;
        let size = file.length();
        file.close().map_err(io)?;
        log::info!("wrote {} bytes to {path} ({} bytes now)", bytes.len(), size);
        Ok(size)
    })
}

/// Deletes the file at `path` (never a protected boot file, never a directory).
pub fn remove(path: &str) -> Result<(), StorageError> {
    if let Some(why) = formats::boot_files::protection(path) {
        return Err(StorageError::BadPath(format!("{path} is protected: {why}")));
    }
    let parts = components(path)?;
    let Some((name, dirs)) = parts.split_last() else {
        return Err(StorageError::BadPath("a file name is needed".into()));
    };
    with_dir(Access::Write, dirs, path, |dir| {
        let Some(entry) = lookup_entry(dir, name)? else { return Err(StorageError::NotFound(path.into())) };
        if entry.attributes.is_directory() {
            return Err(StorageError::BadPath(format!("{path} is a directory")));
        }
        if let Some(why) = formats::boot_files::protection(&format!("/{}", entry.name)) {
            return Err(StorageError::BadPath(format!("{path} ({}) is protected: {why}", entry.name)));
        }
        dir.delete_entry_in_dir(entry.name).map_err(io)?;
        log::info!("deleted {path}");
        Ok(())
    })
}

/// Appends `line` and a newline to `path`, or, when that would make the file larger than
/// `max` bytes, rewrites it with `rewrite()` (the newest lines, which the caller keeps in
/// memory): a bounded log that rotates. Without a card it does nothing; a failed write is
/// logged, never fatal.
pub fn append_bounded(path: &str, line: &str, max: usize, rewrite: impl FnOnce() -> String) {
    if card().is_err() {
        return;
    }
    let size = file_size(path).unwrap_or(0) as usize;
    let result = if size + line.len() + 1 > max {
        write(path, rewrite().as_bytes(), false)
    } else {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        write(path, &bytes, true)
    };
    if let Err(why) = result {
        log::warn!("{path} not written: {why}");
    }
}

/// The size of the file at `path`.
pub fn file_size(path: &str) -> Result<u32, StorageError> {
    with_file(path, |file, _| Ok(file.length()))
}

/// Reads the whole file at `path` into a new 64-byte-aligned buffer that lives for the rest
/// of the kernel's life (a model's weights are borrowed from it). `progress(done, total)` is
/// called every few hundred KiB.
///
/// On FAT32 the file's cluster chain is followed here and each contiguous run is read with
/// multi-block commands straight into the buffer (many times faster than block-by-block);
/// anything unexpected in the file system falls back to `embedded-sdmmc`'s reads.
pub fn read_to_static(path: &str, progress: &mut dyn FnMut(usize, usize)) -> Result<&'static [u8], StorageError> {
    with_file(path, |file, entry| {
        let size = file.length() as usize;
        let buffer = crate::memory::static_buffer(size).ok_or(StorageError::NoMemory(size))?;
        match fat32_runs(entry, size, progress) {
            Ok(runs) => {
                read_runs(&runs, buffer, progress)?;
                return Ok(&*buffer);
            }
            Err(why) => log::debug!("{path}: block-by-block read ({why})"),
        }
        const CHUNK: usize = 256 * 1024;
        let mut done = 0;
        while done < size {
            let end = (done + CHUNK).min(size);
            let n = file.read(&mut buffer[done..end]).map_err(io)?;
            if n == 0 {
                return Err(StorageError::Io(format!("file ended after {done} of {size} bytes")));
            }
            done += n;
            progress(done, size);
        }
        Ok(&*buffer)
    })
}

/// Reads `runs` (first block, block count) into `buffer` in order; the last block may be
/// partly past the file's end.
fn read_runs(
    runs: &[(u64, u64)],
    buffer: &mut [u8],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), StorageError> {
    const STEP_BLOCKS: u64 = 256; // 128 KiB per command: progress moves, other requests wait little.
    let size = buffer.len();
    let mut done = 0usize;
    for &(first, count) in runs {
        let mut block = first;
        let end = first + count;
        while block < end && done < size {
            let blocks = STEP_BLOCKS.min(end - block) as usize;
            let bytes = blocks * BLOCK_SIZE;
            {
                // The card is locked for one command only: `progress` may serve other
                // requests (a background model load), and they may read the card too.
                let mut host = HOST.lock();
                let host = host.as_mut().ok_or(StorageError::NoCard(CardError::Gone))?;
                if done + bytes <= size {
                    host.read_blocks(block, &mut buffer[done..done + bytes]).map_err(io)?;
                    done += bytes;
                } else {
                    // The file's tail: whole blocks into a scratch buffer.
                    let mut tail = alloc::vec![0u8; bytes];
                    host.read_blocks(block, &mut tail).map_err(io)?;
                    let n = size - done;
                    buffer[done..].copy_from_slice(&tail[..n]);
                    done = size;
                }
            }
            block += blocks as u64;
            progress(done, size);
        }
    }
    if done < size {
        return Err(StorageError::Io(format!("the cluster chain ended after {done} of {size} bytes")));
    }
    Ok(())
}

/// The card blocks of a FAT32 file as contiguous runs (first block, count), from its
/// directory entry and the FAT (`formats::fat32` checks every value against the volume).
/// A big file's chain spans hundreds of FAT blocks (a 94 MB model: about 770), so `progress`
/// runs every 16 of them: in the background the other tasks get their turn, as they do
/// between the reads of the file itself (one boot in ten answered its first MCP request
/// 0.6 s late while the chain was followed in one go).
fn fat32_runs(
    entry: &embedded_sdmmc::DirEntry,
    size: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<(u64, u64)>, fat32::Error> {
    let card = card().map_err(|_| fat32::Error::Read)?;
    let partition = card
        .partitions
        .as_ref()
        .ok()
        .and_then(|t| t.iter().flatten().find(|p| p.is_fat()).copied())
        .ok_or(fat32::Error::NotFat32)?;
    let mut reads = 0u32;
    let mut read_block = |lba: u64| -> Option<[u8; BLOCK_SIZE]> {
        let mut block = [0u8; BLOCK_SIZE];
        HOST.lock().as_mut()?.read_blocks(lba, &mut block).ok()?;
        reads += 1;
        if reads.is_multiple_of(16) {
            progress(0, size);
        }
        Some(block)
    };
    let boot = read_block(partition.start as u64).ok_or(fat32::Error::Read)?;
    let volume = fat32::Volume::from_boot_sector(&boot, partition.start as u64, partition.blocks as u64)?;
    let directory = read_block(entry.entry_block.0 as u64).ok_or(fat32::Error::Read)?;
    let first = fat32::first_cluster(&directory, entry.entry_offset as usize)?;
    volume.runs(first, size, &mut read_block)
}
