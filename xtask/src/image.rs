//! `cargo xtask image`: a bootable SD card image for a Raspberry Pi.
//!
//! Layout: an MBR with one bootable FAT32 partition (type 0x0C) from 1 MiB to the end; on
//! it `config.txt` (from `firmware/config.txt`), `kingly.txt` (the settings), `kernel8.img`
//! (the release kernel for the board), the GPU firmware (`bootcode.bin`, `start*.elf`,
//! `fixup*.dat` from Debian's `raspi-firmware`), the board device trees (from Debian's arm64
//! kernel package, under the names the firmware looks for) and, with `--model`,
//! `model.gguf`. Every file taken from a Debian package is checked against the SHA-256 sums
//! pinned in `firmware/checksums.txt`.
//!
//! No root and no loop devices: the partition table is written by `formats::mbr` and the
//! file system by the `fatfs` crate into a plain file. The same inputs give the same bytes
//! (fixed timestamps, a volume id derived from the contents). The size is a power of two
//! (QEMU requires it of SD cards) of at least 64 MiB.

use crate::{board::Board, build, debian, util};
use anyhow::{bail, Context, Result};
use std::{
    fs::File,
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

/// Build a bootable SD card image (MBR + FAT32 with firmware, kernel, settings, model).
#[derive(clap::Args)]
pub struct Args {
    /// Board the card is for.
    #[arg(long, value_enum)]
    board: Board,
    /// A GGUF model to put on the card as model.gguf (loaded at boot).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output image (default target/images/kingly-<board>.img).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Use this kernel8.img instead of building the release kernel (tests, custom builds).
    #[arg(long)]
    kernel: Option<PathBuf>,
    /// Use this settings file as kingly.txt instead of the template (e.g. a network token).
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Record the checksums of the Debian files found now in firmware/checksums.txt instead
    /// of checking them (after reviewing a Debian update).
    #[arg(long)]
    update_checksums: bool,
}

/// Where the partition starts (1 MiB, the alignment every partitioning tool uses).
const PARTITION_START: u64 = 2048;
/// Smallest image.
const MIN_BYTES: u64 = 64 << 20;

/// A file to put on the card.
struct CardFile {
    name: String,
    source: Source,
}

enum Source {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

impl CardFile {
    fn len(&self) -> Result<u64> {
        Ok(match &self.source {
            Source::Bytes(bytes) => bytes.len() as u64,
            Source::Path(path) => std::fs::metadata(path).with_context(|| format!("{}", path.display()))?.len(),
        })
    }
}

/// Which firmware and device trees a board needs: (package file, name on the card).
fn firmware_files(board: Board) -> Result<&'static [(&'static str, &'static str)]> {
    match board.facts().firmware {
        [] => bail!("{} has no SD card boot (use `cargo xtask qemu --board {}`)", board.name(), board.name()),
        files => Ok(files),
    }
}

/// The pinned checksums: `key sha256` per line.
fn pinned() -> Result<Vec<(String, String)>> {
    let path = util::root().join("firmware/checksums.txt");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' ').map(|(k, v)| (k.to_string(), v.trim().to_string())))
        .collect())
}

/// Finds a package file for `key` (`raspi-firmware:NAME` or `linux-image:broadcom/NAME`).
fn package_file(key: &str) -> Result<PathBuf> {
    let (package, file) = key.split_once(':').context("bad key")?;
    match package {
        "raspi-firmware" => Ok(debian::unpacked("raspi-firmware")?.join("usr/lib/raspi-firmware").join(file)),
        "linux-image" => {
            let concrete = debian::resolve("linux-image-arm64", "linux-image-")?;
            let root = debian::unpacked(&concrete)?;
            let lib = std::fs::read_dir(root.join("usr/lib"))?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("linux-image-")))
                .context("no device trees in the kernel package")?;
            Ok(lib.join(file))
        }
        other => bail!("unknown package {other}"),
    }
}

/// The firmware and device-tree files, verified against (or recorded into) the pins.
fn checked_firmware(board: Board, update: bool) -> Result<Vec<CardFile>> {
    let pins = pinned()?;
    let mut files = Vec::new();
    let mut recorded = Vec::new();
    for &(key, name) in firmware_files(board)? {
        let path = package_file(key)?;
        if !path.exists() {
            bail!("{} is missing from its Debian package", path.display());
        }
        let sum = debian::sha256(&path)?;
        match pins.iter().find(|(k, _)| k == key) {
            Some((_, pin)) if *pin == sum => {}
            _ if update => {}
            Some((_, pin)) => bail!(
                "{key} from Debian has SHA-256 {sum}, but firmware/checksums.txt pins {pin}.\n\
                 Debian updated the package: review the change, then run with --update-checksums."
            ),
            None => bail!("{key} has no pinned checksum in firmware/checksums.txt (run with --update-checksums)"),
        }
        recorded.push((key.to_string(), sum));
        files.push(CardFile { name: name.into(), source: Source::Path(path) });
    }
    if update {
        let mut all: Vec<(String, String)> =
            pins.into_iter().filter(|(k, _)| !recorded.iter().any(|(r, _)| r == k)).collect();
        all.extend(recorded);
        all.sort();
        let mut text = String::from("# SHA-256 of each file `cargo xtask image` takes from a Debian package (key: package:path).\n# Checked on every image build; `cargo xtask image --update-checksums` rewrites them.\n");
        for (key, sum) in all {
            text.push_str(&format!("{key} {sum}\n"));
        }
        std::fs::write(util::root().join("firmware/checksums.txt"), text)?;
        eprintln!("recorded the checksums in firmware/checksums.txt");
    }
    Ok(files)
}

/// A region of the image file that `fatfs` sees as its whole disk.
struct Partition {
    file: File,
    start: u64,
    len: u64,
    position: u64,
}

impl Read for Partition {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.position) as usize);
        self.file.seek(SeekFrom::Start(self.start + self.position))?;
        let n = self.file.read(&mut buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Write for Partition {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.position) as usize);
        if n == 0 && !buf.is_empty() {
            return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "partition full"));
        }
        self.file.seek(SeekFrom::Start(self.start + self.position))?;
        let n = self.file.write(&buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Partition {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let position = match to {
            SeekFrom::Start(p) => p as i64,
            SeekFrom::End(d) => self.len as i64 + d,
            SeekFrom::Current(d) => self.position as i64 + d,
        };
        if position < 0 || position as u64 > self.len {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek outside the partition"));
        }
        self.position = position as u64;
        Ok(self.position)
    }
}

/// A progress bar on stderr.
struct Progress {
    total: u64,
    done: u64,
    shown: u64,
}

impl Progress {
    fn new(total: u64) -> Self {
        Progress { total: total.max(1), done: 0, shown: u64::MAX }
    }

    fn add(&mut self, bytes: u64) {
        self.done += bytes;
        let percent = self.done * 100 / self.total;
        if percent != self.shown {
            self.shown = percent;
            let bar = "#".repeat((percent / 4) as usize);
            eprint!("\r[{bar:<25}] {percent:3}% {} of {} MiB", self.done >> 20, self.total.div_ceil(1 << 20));
            let _ = std::io::stderr().flush();
        }
    }

    fn finish(&self) {
        eprintln!();
    }
}

/// FNV-1a over the files' names and sizes and the first bytes of each: a stable volume id.
fn volume_id(files: &[CardFile]) -> Result<u32> {
    let mut hash: u32 = 0x811c_9dc5;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= b as u32;
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    for file in files {
        mix(file.name.as_bytes());
        mix(&file.len()?.to_le_bytes());
    }
    Ok(hash)
}

/// Writes the image.
fn write_image(output: &Path, files: &[CardFile]) -> Result<u64> {
    let content: u64 = files.iter().map(|f| f.len().map(|l| l.div_ceil(32 * 1024) * 32 * 1024)).sum::<Result<u64>>()?;
    // Room for the FATs, directories and slack.
    let needed = PARTITION_START * 512 + content + content / 16 + (16 << 20);
    let size = needed.max(MIN_BYTES).next_power_of_two();
    let blocks = size / 512;
    if blocks > u32::MAX as u64 {
        bail!("image would be {} GiB, larger than an MBR partition can be", size >> 30);
    }
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(output)
        .with_context(|| format!("creating {}", output.display()))?;
    file.set_len(size)?;
    let disk_id = volume_id(files)?;
    let mut mbr = [0u8; formats::mbr::BLOCK];
    formats::mbr::write_single(
        &mut mbr,
        0x0C,
        true,
        PARTITION_START as u32,
        (blocks - PARTITION_START) as u32,
        disk_id,
    );
    file.write_all(&mbr)?;
    let partition = Partition { file, start: PARTITION_START * 512, len: size - PARTITION_START * 512, position: 0 };
    let mut partition = partition;
    // FAT32 needs at least 65,525 clusters: small clusters on small cards.
    let cluster = match partition.len {
        len if len < 512 << 20 => 512,
        len if len < 16 << 30 => 4096,
        _ => 32768,
    };
    let options = fatfs::FormatVolumeOptions::new()
        .fat_type(fatfs::FatType::Fat32)
        .bytes_per_cluster(cluster)
        .volume_id(disk_id)
        .volume_label(*b"KINGLYBOOT ");
    fatfs::format_volume(&mut partition, options).context("formatting FAT32")?;
    partition.seek(SeekFrom::Start(0))?;
    let fs = fatfs::FileSystem::new(partition, fatfs::FsOptions::new()).context("opening the new file system")?;
    let total: u64 = files.iter().map(CardFile::len).sum::<Result<u64>>()?;
    let mut progress = Progress::new(total);
    {
        let root = fs.root_dir();
        for card_file in files {
            let mut out = root.create_file(&card_file.name).with_context(|| format!("creating {}", card_file.name))?;
            match &card_file.source {
                Source::Bytes(bytes) => {
                    out.write_all(bytes)?;
                    progress.add(bytes.len() as u64);
                }
                Source::Path(path) => {
                    let mut input = File::open(path).with_context(|| format!("{}", path.display()))?;
                    let mut buffer = vec![0u8; 1 << 20];
                    loop {
                        let n = input.read(&mut buffer)?;
                        if n == 0 {
                            break;
                        }
                        out.write_all(&buffer[..n]).with_context(|| format!("writing {}", card_file.name))?;
                        progress.add(n as u64);
                    }
                }
            }
            out.flush()?;
        }
    }
    progress.finish();
    fs.unmount().context("finishing the file system")?;
    Ok(size)
}

impl Args {
    pub fn run(self) -> Result<()> {
        let started = std::time::Instant::now();
        let kernel = match &self.kernel {
            Some(path) => path.clone(),
            None => build::Args { board: self.board, release: true, test_hooks: false }.run()?.image,
        };
        let mut files = vec![
            CardFile { name: "config.txt".into(), source: Source::Path(util::root().join("firmware/config.txt")) },
            CardFile {
                name: formats::settings::FILE_NAME.into(),
                source: match &self.settings {
                    Some(path) => Source::Path(path.clone()),
                    // Boards whose Ethernet is on USB (the Pi 3 B) get networking on by default.
                    None => Source::Bytes(
                        formats::settings::template(
                            self.model.as_ref().map(|_| "model.gguf"),
                            self.board.facts().usb_network,
                        )
                        .into_bytes(),
                    ),
                },
            },
            CardFile { name: "kernel8.img".into(), source: Source::Path(kernel) },
        ];
        files.extend(checked_firmware(self.board, self.update_checksums)?);
        if let Some(model) = &self.model {
            let mut magic = [0u8; 4];
            File::open(model)
                .with_context(|| format!("{}", model.display()))?
                .read_exact(&mut magic)
                .context("reading the model")?;
            if &magic != b"GGUF" {
                bail!("{} is not a GGUF file", model.display());
            }
            files.push(CardFile { name: "model.gguf".into(), source: Source::Path(model.clone()) });
        }
        let output = self
            .output
            .clone()
            .unwrap_or_else(|| util::root().join(format!("target/images/kingly-{}.img", self.board.name())));
        eprintln!("writing {}", output.display());
        let size = write_image(&output, &files)?;
        eprintln!("{}: {} MiB in {:.1} s", output.display(), size >> 20, started.elapsed().as_secs_f64());
        eprintln!();
        eprintln!("Flash it (replace /dev/sdX with the card; `lsblk` lists disks):");
        eprintln!("  sudo dd if={} of=/dev/sdX bs=4M conv=fsync status=progress", output.display());
        eprintln!("  or Raspberry Pi Imager: Choose OS > Use Custom > this file.");
        eprintln!("Serial console: a 3.3 V USB-serial adapter, 115200 8N1 — adapter RX to header pin 8 (GPIO 14),");
        eprintln!("adapter TX to pin 10 (GPIO 15), GND to pin 6. Open the terminal before powering on, e.g.");
        eprintln!("  cargo xtask serial --port /dev/ttyUSB0     (MCP clients)   or   picocom -b 115200 /dev/ttyUSB0");
        Ok(())
    }
}
