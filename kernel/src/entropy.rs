//! Strong random bytes for tokens, session ids, the network stack's seed and `rng_read`:
//! the SoC's generator (the BCM2835 RNG of Pi 3 / Zero 2 W and QEMU raspi3b) or virtio-rng
//! (QEMU virt, which `cargo xtask qemu` starts with `-device virtio-rng-device`), or the Pi 4's
//! RNG200. Where the generator delivers nothing, [`fill`] fails and the network refuses to
//! generate a token (see `net::init`).

use crate::{memory::dma::VirtioHal, platform};
use spin::{Mutex, Once};
use virtio_drivers::{
    device::rng::VirtIORng,
    transport::{mmio::MmioTransport, DeviceType},
};

type VirtioRng = VirtIORng<VirtioHal, MmioTransport<'static>>;

static VIRTIO: Once<Option<Mutex<VirtioRng>>> = Once::new();

/// Bytes asked of virtio-rng at once (the crate's queue takes one buffer per request).
const VIRTIO_CHUNK: usize = 256;

/// Why no random bytes came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntropyError {
    /// The board has no generator this kernel drives.
    NoSource,
    /// The generator did not deliver (absent, stalled, or a device error).
    Failed(&'static str),
}

impl core::fmt::Display for EntropyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EntropyError::NoSource => f.write_str("this board has no supported hardware RNG"),
            EntropyError::Failed(source) => write!(f, "the hardware RNG ({source}) delivered no data"),
        }
    }
}

fn virtio() -> Option<&'static Mutex<VirtioRng>> {
    VIRTIO
        .call_once(|| {
            let (transport, _irq) = platform::virtio_transport(DeviceType::EntropySource)?;
            match VirtIORng::new(transport) {
                Ok(device) => Some(Mutex::new(device)),
                Err(error) => {
                    log::warn!("virtio-rng did not come up: {error}");
                    None
                }
            }
        })
        .as_ref()
}

/// Fills `buffer` from the strong source; returns its name.
pub fn fill(buffer: &mut [u8]) -> Result<&'static str, EntropyError> {
    if let Some(rng) = platform::get().and_then(|p| p.rng.as_ref()) {
        for chunk in buffer.chunks_mut(4) {
            let word = rng.next_u32().map_err(EntropyError::Failed)?;
            chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        }
        return Ok(rng.name());
    }
    let device = virtio().ok_or(EntropyError::NoSource)?;
    let mut device = device.lock();
    for chunk in buffer.chunks_mut(VIRTIO_CHUNK) {
        let mut filled = 0;
        // The device may return fewer bytes than asked; a few rounds fill the chunk.
        for _ in 0..16 {
            if filled == chunk.len() {
                break;
            }
            let n = device.request_entropy(&mut chunk[filled..]).map_err(|_| EntropyError::Failed("virtio-rng"))?;
            filled += n.min(chunk.len() - filled);
        }
        if filled < chunk.len() {
            return Err(EntropyError::Failed("virtio-rng"));
        }
    }
    Ok("virtio-rng")
}

/// A random 64-bit word from the strong source.
pub fn u64() -> Result<u64, EntropyError> {
    let mut bytes = [0u8; 8];
    fill(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}
