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
    device::net::VirtIONetRaw,
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
    /// The USB gadget is not running (switched off, or its controller failed).
    NoGadget,
    /// The Ethernet controller did not come up.
    Genet(drivers::net::genet::Error),
    /// The firmware gave no MAC address for the Ethernet.
    NoMac,
    /// The Ethernet's buffers would lie above 4 GiB, which its descriptors cannot name.
    DmaAbove4G,
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
            NoDevice::NoGadget => match crate::gadget::status() {
                Err(why) => write!(f, "the USB gadget is not running: {why}"),
                Ok(_) => write!(f, "the USB gadget has no network function"),
            },
            NoDevice::Genet(error) => write!(f, "Ethernet: {error}"),
            NoDevice::NoMac => write!(f, "Ethernet: the firmware gave no MAC address"),
            NoDevice::DmaAbove4G => write!(f, "Ethernet: no heap memory below 4 GiB for its buffers"),
            NoDevice::NoDriver => write!(f, "no network device driver for this board yet"),
            NoDevice::NoStrongEntropy => write!(
                f,
                "no hardware RNG on this board to generate tokens: set net.token (and net.read_token) in kingly.txt"
            ),
        }
    }
}

/// A network device that came up, and what kind of path it makes.
pub struct Found {
    /// The kind of link.
    pub kind: super::Kind,
    /// The device.
    pub device: Box<dyn EthernetDevice + Send>,
    /// Its interrupt line (polled devices have none).
    pub irq: Option<IrqLine>,
}

/// Every network device of the board, brought up; or, when there is none, why (the reason
/// of the board's main device).
pub fn find_all() -> Result<Vec<Found>, NoDevice> {
    let mut found = Vec::new();
    let mut why = NoDevice::NoDriver;
    if CURRENT.virtio_mmio.is_some() {
        match crate::platform::virtio_transport(DeviceType::Network) {
            Some((transport, irq)) => match VirtioNic::new(transport) {
                Ok(nic) => found.push(Found { kind: super::Kind::Virtio, device: Box::new(nic), irq: Some(irq) }),
                Err(error) => why = error,
            },
            None => why = NoDevice::NoVirtioNet,
        }
    }
    if CURRENT.usb.is_some() {
        if !crate::storage::settings().net_usb {
            why = NoDevice::UsbOff;
        } else {
            // USB CDC-ECM (QEMU's usb-net) or the LAN9514; frames are polled, no interrupt line.
            match crate::usb::ethernet() {
                Some(device) => found.push(Found { kind: super::Kind::UsbNic, device: Box::new(device), irq: None }),
                None => why = NoDevice::NoUsbNic,
            }
        }
    }
    if let Some(base) = CURRENT.genet {
        match genet(base) {
            Ok(device) => found.push(Found { kind: super::Kind::Genet, device: Box::new(device), irq: None }),
            Err(error) => {
                log::warn!("Ethernet (GENET) not started: {error}");
                why = error;
            }
        }
    }
    if CURRENT.usb_device.is_some() {
        // The USB gadget's network function; polled by the gadget task, which wakes the
        // network task when frames arrive.
        match crate::gadget::ethernet() {
            Some(device) => {
                crate::gadget::on_frames(super::device_event);
                found.push(Found { kind: super::Kind::Gadget, device: Box::new(device), irq: None });
            }
            None => why = NoDevice::NoGadget,
        }
    }
    if found.is_empty() {
        return Err(why);
    }
    Ok(found)
}

/// Brings up the Pi 4's GENET with the firmware's MAC address; the link comes later.
fn genet(base: usize) -> Result<drivers::net::genet::Genet, NoDevice> {
    static COHERENCE: crate::system::PhysicalCoherence = crate::system::PhysicalCoherence;
    let mac = crate::system::board_mac().ok_or(NoDevice::NoMac)?;
    let dma: &'static mut [u8] = Vec::leak(vec![0u8; drivers::net::genet::DMA_BYTES]);
    if dma.as_ptr() as usize + dma.len() > u32::MAX as usize {
        return Err(NoDevice::DmaAbove4G);
    }
    let mut nic = crate::platform::genet(base, dma, &COHERENCE).map_err(NoDevice::Genet)?;
    let phy = nic.init(mac).map_err(NoDevice::Genet)?;
    log::info!("Ethernet: GENET v5, PHY {:04x}:{:04x} at MDIO address {}", phy.id.0, phy.id.1, phy.address);
    Ok(nic)
}

/// Size of each receive and transmit buffer (virtio header and a whole frame).
const BUFFER: usize = 2048;

/// virtio-net as an Ethernet device, on the raw queue interface so that a transmit does not
/// wait for the device: `virtio-drivers`' `VirtIONet::send` notifies and then spins until
/// the device has taken the frame, and in QEMU the device is served by another host thread,
/// so every frame sent (each answer, each ACK) cost the guest a wait of tens to hundreds of
/// microseconds. Here a frame is queued in one of [`QUEUE`] transmit buffers and the
/// buffers the device has finished with are reclaimed on the next transmit.
pub struct VirtioNic {
    device: VirtIONetRaw<VirtioHal, MmioTransport<'static>, QUEUE>,
    /// Receive buffers, by the token the queue gave them.
    rx: Vec<Option<Box<[u8]>>>,
    /// Transmit buffers the device holds, by token, with the length handed over.
    tx_busy: Vec<Option<(Box<[u8]>, usize)>>,
    /// Transmit buffers free for the next frame.
    tx_free: Vec<Box<[u8]>>,
    counters: Counters,
}

impl VirtioNic {
    /// Brings up the device behind `transport` and gives it every receive buffer.
    pub fn new(transport: MmioTransport<'static>) -> Result<VirtioNic, NoDevice> {
        let mut device = VirtIONetRaw::new(transport).map_err(NoDevice::Virtio)?;
        let mut rx: Vec<Option<Box<[u8]>>> = (0..QUEUE).map(|_| None).collect();
        for _ in 0..QUEUE {
            let mut buffer: Box<[u8]> = vec![0; BUFFER].into_boxed_slice();
            // SAFETY: the buffer is heap memory owned by this device's `rx` table from here
            // until `receive_complete` hands it back; it is never moved out or freed while
            // the queue holds it (the table lives as long as the device, i.e. forever).
            let token = unsafe { device.receive_begin(&mut buffer) }.map_err(NoDevice::Virtio)?;
            *rx.get_mut(token as usize).ok_or(NoDevice::Virtio(virtio_drivers::Error::WrongToken))? = Some(buffer);
        }
        let tx_free = (0..QUEUE).map(|_| vec![0; BUFFER].into_boxed_slice()).collect();
        let tx_busy = (0..QUEUE).map(|_| None).collect();
        Ok(VirtioNic { device, rx, tx_busy, tx_free, counters: Counters::default() })
    }

    /// Takes back the transmit buffers the device has finished with.
    fn reclaim(&mut self) {
        while let Some(token) = self.device.poll_transmit() {
            let Some((buffer, len)) = self.tx_busy.get_mut(token as usize).and_then(Option::take) else { break };
            // SAFETY: `buffer[..len]` is exactly what `transmit_begin` was given for this
            // token, and the device reported it used.
            let _ = unsafe { self.device.transmit_complete(token, &buffer[..len]) };
            self.tx_free.push(buffer);
        }
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
        let Some(token) = self.device.poll_receive() else { return Ok(None) };
        let Some(mut rx) = self.rx.get_mut(token as usize).and_then(Option::take) else {
            return Err(NetError::Device("virtio-net returned an unknown receive token"));
        };
        // SAFETY: `rx` is the buffer `receive_begin` was given for this token.
        let received = unsafe { self.device.receive_complete(token, &mut rx) };
        let frame = received.ok().and_then(|(header, len)| rx.get(header..header + len));
        let outcome = match frame {
            Some(frame) if frame.len() <= buffer.len() => {
                buffer[..frame.len()].copy_from_slice(frame);
                self.counters.rx_frames += 1;
                self.counters.rx_bytes += frame.len() as u64;
                Ok(Some(frame.len()))
            }
            Some(_) => {
                self.counters.dropped += 1;
                Err(NetError::Size)
            }
            None => Err(NetError::Device("virtio-net receive failed")),
        };
        // SAFETY: as in `new`: the buffer goes back into the table under its new token.
        match unsafe { self.device.receive_begin(&mut rx) } {
            Ok(token) => match self.rx.get_mut(token as usize) {
                Some(slot) => *slot = Some(rx),
                None => {
                    // The device holds the buffer: it must never be freed.
                    Box::leak(rx);
                    return Err(NetError::Device("virtio-net gave an unknown receive token"));
                }
            },
            Err(_) => return Err(NetError::Device("virtio-net lost a receive buffer")),
        }
        outcome
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        if frame.len() > MAX_FRAME {
            return Err(NetError::Size);
        }
        self.reclaim();
        let Some(mut buffer) = self.tx_free.pop() else { return Err(NetError::Busy) };
        let Ok(header) = self.device.fill_buffer_header(&mut buffer) else {
            self.tx_free.push(buffer);
            return Err(NetError::Device("virtio-net header"));
        };
        let len = header + frame.len();
        buffer[header..len].copy_from_slice(frame);
        // SAFETY: the buffer is owned by `tx_busy` under its token until `reclaim` sees the
        // device used it; it is not moved or freed before.
        match unsafe { self.device.transmit_begin(&buffer[..len]) } {
            Ok(token) => match self.tx_busy.get_mut(token as usize) {
                Some(slot) => *slot = Some((buffer, len)),
                None => {
                    // The device holds the buffer: it must never be freed.
                    Box::leak(buffer);
                    return Err(NetError::Device("virtio-net gave an unknown transmit token"));
                }
            },
            Err(virtio_drivers::Error::QueueFull) => {
                self.tx_free.push(buffer);
                return Err(NetError::Busy);
            }
            Err(_) => {
                self.tx_free.push(buffer);
                return Err(NetError::Device("virtio-net send failed"));
            }
        }
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
