//! USB device side: the board as a USB gadget for the computer it is plugged into.
//!
//! Spec to read first: USB 2.0 chapter 9 (the device framework: default, address and
//! configured states; standard requests; descriptors), then the CDC 1.2 class definition,
//! PSTN 1.2 (ACM) and NCM 1.0.
//!
//! # Layers
//! - [`Controller`]: the one seam between a device controller and the gadget, as
//!   [`super::Host`] is for host mode. The DWC2 implements it in
//!   [`super::dwc2::device`]; the controller owns endpoint 0's packet-level handling (data
//!   stages cut into packets, status stages, SETUP re-arming) and reports whole events.
//! - [`composite`]: the gadget — descriptors, standard requests, the configured state —
//!   with two functions: [`acm`] (CDC-ACM, a serial port carrying the console) and [`ncm`]
//!   (CDC-NCM, a network adapter behind [`crate::net::EthernetDevice`]).
//! - [`descriptors`]: the composite's descriptor set, built once and checked by the same
//!   parsers the host side uses.
//!
//! Everything above the controller is plain logic over bytes, tested on the host against a
//! simulated controller that models the DWC2's registers and DMA (`dwc2/device/tests.rs`)
//! with a simulated host that enumerates the gadget as Linux does.

pub mod acm;
pub mod composite;
pub mod descriptors;
pub mod ncm;

use super::{SetupPacket, Speed};

/// Endpoint 0's max packet size (64 at full and high speed).
pub const EP0_MAX_PACKET: usize = 64;
/// The longest control data stage the gadget sends or accepts (descriptors included).
pub const CONTROL_BYTES: usize = 512;

/// Direction and number of an endpoint, as in `bEndpointAddress` (bit 7 set for IN).
pub type EndpointAddress = u8;

/// How a function answers a class request the composite routed to it.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send these bytes as the data stage.
    In(alloc::vec::Vec<u8>),
    /// Receive a data stage of this many bytes, then hand it to the function's
    /// `control_data`.
    Out(usize),
    /// Accept (no data stage).
    Status,
    /// Refuse.
    Stall,
}

/// What a controller reports, in the order it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The host reset the bus: every endpoint but 0 is closed, the address is 0.
    Reset,
    /// The reset ended at this speed.
    Enumerated(Speed),
    /// A SETUP packet arrived on endpoint 0; answer it with exactly one of
    /// [`Controller::control_in`], [`Controller::control_out`],
    /// [`Controller::control_status`] or [`Controller::control_stall`].
    Setup(SetupPacket),
    /// The data stage armed with [`Controller::control_out`] arrived (its bytes are read
    /// with [`Controller::control_data`]); answer with `control_status` or `control_stall`.
    ControlData(usize),
    /// A transfer on an IN endpoint finished (the host took all of it).
    InComplete(EndpointAddress),
    /// A transfer on an OUT endpoint finished with this many bytes (read them with
    /// [`Controller::read`]).
    OutComplete(EndpointAddress, usize),
    /// The bus went idle (the host suspended the device).
    Suspend,
    /// Activity resumed after a suspend.
    Resume,
    /// VBUS went away: the cable was unplugged (or the host powered off).
    Disconnect,
}

/// Why a controller call failed. `Busy` clears by itself; the others mean the call was
/// wrong for the endpoint's state (a bug in the caller, answered as an error, not a panic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GadgetError {
    /// A transfer is already in flight on the endpoint.
    Busy(EndpointAddress),
    /// The endpoint is not open (not configured, or after a reset).
    NotOpen(EndpointAddress),
    /// More data than the endpoint's buffer holds.
    TooLong {
        /// Bytes given.
        len: usize,
        /// Most the buffer holds.
        max: usize,
    },
    /// No free FIFO memory or endpoint for this configuration.
    NoRoom,
    /// The controller did not finish a step in time (reset, FIFO flush, disable).
    Controller(&'static str),
}

impl core::fmt::Display for GadgetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            GadgetError::Busy(ep) => write!(f, "USB endpoint {ep:#04x} is busy"),
            GadgetError::NotOpen(ep) => write!(f, "USB endpoint {ep:#04x} is not open"),
            GadgetError::TooLong { len, max } => write!(f, "USB transfer of {len} bytes exceeds the {max}-byte buffer"),
            GadgetError::NoRoom => f.write_str("the USB controller has no room for this configuration"),
            GadgetError::Controller(step) => write!(f, "the USB device controller did not finish: {step}"),
        }
    }
}

/// Transfer type of a non-control endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointKind {
    /// Bulk.
    Bulk,
    /// Interrupt.
    Interrupt,
}

/// An endpoint to open when the host selects the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// `bEndpointAddress`.
    pub address: EndpointAddress,
    /// Bulk or interrupt.
    pub kind: EndpointKind,
    /// wMaxPacketSize.
    pub max_packet: u16,
}

/// What the gadget needs from a device controller. Every call returns at once: data moves
/// in the background and its end is reported by [`Controller::poll`].
pub trait Controller {
    /// The next event, if any (polled; the controller never calls back).
    fn poll(&mut self) -> Option<Event>;
    /// Answers the current SETUP with an IN data stage of `data` (the controller cuts it
    /// into packets, adds a zero-length packet when the host asked for more and `data`
    /// ends on a packet boundary, then runs the status stage).
    fn control_in(&mut self, data: &[u8]) -> Result<(), GadgetError>;
    /// Answers the current SETUP by receiving an OUT data stage of `length` bytes;
    /// [`Event::ControlData`] follows.
    fn control_out(&mut self, length: usize) -> Result<(), GadgetError>;
    /// The bytes of the OUT data stage that arrived (up to `buffer.len()`).
    fn control_data(&self, buffer: &mut [u8]) -> usize;
    /// Accepts the current request: the status stage (a zero-length IN packet).
    fn control_status(&mut self) -> Result<(), GadgetError>;
    /// Refuses the current request (STALL until the next SETUP).
    fn control_stall(&mut self);
    /// Takes the address SET_ADDRESS gave; the controller applies it after the status stage
    /// that `control_status` runs next.
    fn set_address(&mut self, address: u8);
    /// Opens an endpoint of the selected configuration, its data toggle at DATA0.
    fn open(&mut self, endpoint: EndpointConfig) -> Result<(), GadgetError>;
    /// Closes every endpoint but 0 (SET_CONFIGURATION 0, or before a new configuration).
    fn close_all(&mut self);
    /// Starts an IN transfer of `data` (one at a time per endpoint); a transfer that ends on
    /// a packet boundary is followed by a zero-length packet when `terminate` is set (bulk
    /// transfers whose length the host does not know).
    fn write(&mut self, endpoint: EndpointAddress, data: &[u8], terminate: bool) -> Result<(), GadgetError>;
    /// Arms an OUT transfer of up to `length` bytes (it ends early at a short packet).
    fn arm(&mut self, endpoint: EndpointAddress, length: usize) -> Result<(), GadgetError>;
    /// Copies the bytes of the finished OUT transfer into `buffer`.
    fn read(&self, endpoint: EndpointAddress, buffer: &mut [u8]) -> usize;
    /// Whether an IN transfer is in flight on `endpoint`.
    fn busy(&self, endpoint: EndpointAddress) -> bool;
    /// Halts (`true`) or resumes an endpoint (SET/CLEAR_FEATURE ENDPOINT_HALT); resuming
    /// resets its data toggle.
    fn set_halt(&mut self, endpoint: EndpointAddress, halted: bool);
    /// Whether an endpoint is halted.
    fn halted(&self, endpoint: EndpointAddress) -> bool;
    /// Connects to (`true`) or disconnects from the bus (soft connect: the pull-up).
    fn connect(&mut self, connected: bool);
    /// Microseconds on a monotonic clock.
    fn now_us(&self) -> u64;
}
