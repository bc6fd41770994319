//! The network devices: virtio-net (QEMU virt, through `virtio-drivers`) as an
//! [`EthernetDevice`], and the adapter that makes any `EthernetDevice` a `smoltcp` device.

use crate::{
    board::{IrqLine, CURRENT},
    memory::dma::VirtioHal,
};
use alloc::{boxed::Box, collections::VecDeque, vec, vec::Vec};
use drivers::net::{Counters, EthernetDevice, NetError, MAX_FRAME};
use smoltcp::{
    phy::{self, DeviceCapabilities, Medium},
    time::Instant,
};
use virtio_drivers::{
    device::net::VirtIONet,
    transport::{mmio::MmioTransport, DeviceType},
};

/// Receive and transmit queue depth of the virtio-net device.
const QUEUE: usize = 16;

/// Why the board has no network device.
#[derive(Clone, Copy, Debug)]
pub enum NoDevice {
    /// virt without a virtio-net device.
    NoVirtioNet,
    /// The virtio-net device did not initialise.
    Virtio(virtio_drivers::Error),
    /// USB networking is switched off in the settings.
    UsbOff,
    /// No USB network adapter came up.
    NoUsbNic,
    /// No driver for this board's network hardware.
    NoDriver,
    /// No strong random source for generated tokens, and none configured.
    NoStrongEntropy,
}

impl core::fmt::Display for NoDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NoDevice::NoVirtioNet => {
                write!(f, "no virtio-net device (start QEMU with `cargo xtask qemu --board virt --net`)")
            }
            NoDevice::Virtio(error) => write!(f, "virtio-net did not initialise: {error}"),
            NoDevice::UsbOff => {
                write!(f, "USB networking is off (net.usb = on in kingly.txt; `cargo xtask qemu --net` sets it)")
            }
            NoDevice::NoUsbNic => write!(f, "no USB network device (start QEMU with `cargo xtask qemu --net`)"),
            NoDevice::NoDriver => write!(f, "no network device driver for this board yet"),
            NoDevice::NoStrongEntropy => write!(
                f,
                "no hardware RNG on this board to generate tokens: set net.token (and net.read_token) in kingly.txt"
            ),
        }
    }
}

/// The board's network device, brought up, with its interrupt line; or why there is none.
pub fn find() -> Result<(Box<dyn EthernetDevice + Send>, Option<IrqLine>), NoDevice> {
    if CURRENT.virtio_mmio.is_some() {
        let (transport, irq) = crate::platform::virtio_transport(DeviceType::Network).ok_or(NoDevice::NoVirtioNet)?;
        return Ok((Box::new(VirtioNic::new(transport)?), Some(irq)));
    }
    if CURRENT.usb.is_some() {
        if !crate::storage::settings().net_usb {
            return Err(NoDevice::UsbOff);
        }
        // USB CDC-ECM (QEMU's usb-net) or the LAN9514; frames are polled, no interrupt line.
        let device = crate::usb::ethernet().ok_or(NoDevice::NoUsbNic)?;
        return Ok((Box::new(device), None));
    }
    Err(NoDevice::NoDriver)
}

/// virtio-net as an Ethernet device.
pub struct VirtioNic {
    device: VirtIONet<VirtioHal, MmioTransport<'static>, QUEUE>,
    counters: Counters,
}

impl VirtioNic {
    /// Brings up the device behind `transport`.
    pub fn new(transport: MmioTransport<'static>) -> Result<VirtioNic, NoDevice> {
        let device = VirtIONet::new(transport, 2048).map_err(NoDevice::Virtio)?;
        Ok(VirtioNic { device, counters: Counters::default() })
    }
}

impl EthernetDevice for VirtioNic {
    fn name(&self) -> &'static str {
        "virtio-net"
    }

    fn mac_address(&self) -> [u8; 6] {
        self.device.mac_address()
    }

    fn link_up(&mut self) -> bool {
        true
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetError> {
        let rx = match self.device.receive() {
            Ok(rx) => rx,
            Err(virtio_drivers::Error::NotReady) => return Ok(None),
            Err(_) => return Err(NetError::Device("virtio-net receive failed")),
        };
        let packet = rx.packet();
        let len = packet.len();
        let fits = len <= buffer.len();
        if fits {
            buffer[..len].copy_from_slice(packet);
        }
        self.device.recycle_rx_buffer(rx).map_err(|_| NetError::Device("virtio-net lost a receive buffer"))?;
        if !fits {
            self.counters.dropped += 1;
            return Err(NetError::Size);
        }
        self.counters.rx_frames += 1;
        self.counters.rx_bytes += len as u64;
        Ok(Some(len))
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        if frame.len() > MAX_FRAME {
            return Err(NetError::Size);
        }
        if !self.device.can_send() {
            return Err(NetError::Busy);
        }
        let mut tx = self.device.new_tx_buffer(frame.len());
        tx.packet_mut().copy_from_slice(frame);
        self.device.send(tx).map_err(|_| NetError::Device("virtio-net send failed"))?;
        self.counters.tx_frames += 1;
        self.counters.tx_bytes += frame.len() as u64;
        Ok(())
    }

    fn counters(&self) -> Counters {
        self.counters
    }

    fn ack_interrupt(&mut self) {
        let _ = self.device.ack_interrupt();
    }
}

/// Frames held back while the device is busy (a USB NIC sends one at a time).
const BACKLOG: usize = 32;

/// Any [`EthernetDevice`] as a `smoltcp` device: frames are copied through two buffers;
/// a frame the device cannot take yet waits in a short backlog instead of being lost (so
/// TCP does not have to wait for a retransmission).
pub struct Nic {
    /// The device.
    pub device: Box<dyn EthernetDevice + Send>,
    rx: Vec<u8>,
    tx: Vec<u8>,
    backlog: VecDeque<Vec<u8>>,
    /// Frames dropped on transmit (device error, or the backlog full).
    pub tx_dropped: u64,
}

impl Nic {
    /// Wraps `device`.
    pub fn new(device: Box<dyn EthernetDevice + Send>) -> Nic {
        Nic { device, rx: vec![0; MAX_FRAME], tx: vec![0; MAX_FRAME], backlog: VecDeque::new(), tx_dropped: 0 }
    }

    /// Hands held-back frames to the device, oldest first, while it takes them.
    pub fn flush(&mut self) {
        while let Some(frame) = self.backlog.front() {
            match self.device.transmit(frame) {
                Err(NetError::Busy) => return,
                Ok(()) => {}
                Err(_) => self.tx_dropped += 1,
            }
            self.backlog.pop_front();
        }
    }
}

fn send(device: &mut (dyn EthernetDevice + Send), backlog: &mut VecDeque<Vec<u8>>, dropped: &mut u64, frame: &[u8]) {
    if !backlog.is_empty() {
        if backlog.len() < BACKLOG {
            backlog.push_back(frame.to_vec());
        } else {
            *dropped += 1;
        }
        return;
    }
    match device.transmit(frame) {
        Ok(()) => {}
        Err(NetError::Busy) => backlog.push_back(frame.to_vec()),
        Err(_) => *dropped += 1,
    }
}

/// A received frame.
pub struct RxToken<'a>(&'a mut [u8]);

/// A slot for one frame to send.
pub struct TxToken<'a> {
    device: &'a mut (dyn EthernetDevice + Send),
    buffer: &'a mut [u8],
    backlog: &'a mut VecDeque<Vec<u8>>,
    dropped: &'a mut u64,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(self.buffer.len());
        let result = f(&mut self.buffer[..len]);
        send(self.device, self.backlog, self.dropped, &self.buffer[..len]);
        result
    }
}

impl phy::Device for Nic {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        self.flush();
        let len = match self.device.receive(&mut self.rx) {
            Ok(Some(len)) => len,
            Ok(None) | Err(_) => return None,
        };
        Some((
            RxToken(&mut self.rx[..len]),
            TxToken {
                device: &mut *self.device,
                buffer: &mut self.tx,
                backlog: &mut self.backlog,
                dropped: &mut self.tx_dropped,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        self.flush();
        if self.backlog.len() >= BACKLOG {
            return None;
        }
        Some(TxToken {
            device: &mut *self.device,
            buffer: &mut self.tx,
            backlog: &mut self.backlog,
            dropped: &mut self.tx_dropped,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = Some(1);
        caps
    }
}
