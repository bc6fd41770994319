//! Network interface controllers: the one seam between NIC drivers and the kernel's
//! network stack (smoltcp, in `kernel/src/net/`). A NIC driver moves whole Ethernet frames
//! (destination MAC first, no FCS) and knows nothing about IP.
//!
//! Implementations: virtio-net on QEMU virt (in the kernel, over the `virtio-drivers`
//! crate) and USB CDC-ECM behind the DWC2 host controller on the Pi 3 / QEMU raspi3b.

pub mod genet;

/// Largest Ethernet frame handed through the seam (1500-byte payload + 14-byte header).
pub const MAX_FRAME: usize = 1514;

/// NIC errors. `Busy` clears by itself (try again after the next interrupt); the others
/// mean the device stopped working until it is reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// No transmit slot is free right now.
    Busy,
    /// A frame larger than [`MAX_FRAME`] or a buffer too small for the received frame.
    Size,
    /// The device reported an error or stopped answering.
    Device(&'static str),
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NetError::Busy => f.write_str("no free transmit buffer"),
            NetError::Size => f.write_str("frame size out of range"),
            NetError::Device(why) => write!(f, "network device error: {why}"),
        }
    }
}

/// Frame counters of a device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames received.
    pub rx_frames: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames dropped (no buffer, too large, device error).
    pub dropped: u64,
}

/// An Ethernet device, polled by the network stack.
pub trait EthernetDevice {
    /// A short name for `net_status` (e.g. "virtio-net", "usb-cdc-ecm").
    fn name(&self) -> &'static str;
    /// The device's MAC address.
    fn mac_address(&self) -> [u8; 6];
    /// Whether the link is up (devices that cannot tell report `true`).
    fn link_up(&mut self) -> bool;
    /// Copies the next received frame into `buffer` ([`MAX_FRAME`] bytes) and returns its
    /// length, or `None` when no frame is waiting. Never blocks.
    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetError>;
    /// Queues one frame for sending. Never blocks: `Busy` when no slot is free.
    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError>;
    /// Counters since the device was brought up.
    fn counters(&self) -> Counters;
    /// Acknowledges the device's interrupt (called from the interrupt handler; devices
    /// that are only polled need not implement it).
    fn ack_interrupt(&mut self) {}
}
