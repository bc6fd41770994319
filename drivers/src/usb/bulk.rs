//! The frame pipe the USB NIC drivers ([`super::cdc_ecm`], [`super::smsc95xx`]) share: a
//! bulk IN transfer kept armed for the next frame, at most one bulk OUT transfer in flight,
//! a halted endpoint cleared after a STALL, and a count of consecutive failed transfers
//! after which the device counts as failed. What the frames look like on the wire (plain,
//! or wrapped in a chip's command and status words) stays with each driver.

use super::{descriptor::Endpoint, Direction, Error, Host, Pipe, SetupPacket, Target};
use crate::net::{Counters, NetError};

/// Background transfer slots the link uses.
const RX_SLOT: usize = 0;
const TX_SLOT: usize = 1;

/// After this many consecutive transfer errors the device counts as failed.
const MAX_CONSECUTIVE_ERRORS: u32 = 16;

/// Whether `host` has the transfer slots a link needs (check before configuring a device).
pub fn check_slots(host: &impl Host) -> Result<(), Error> {
    if host.slots() <= TX_SLOT {
        return Err(Error::NoSlot(TX_SLOT));
    }
    Ok(())
}

/// A pair of bulk endpoints carrying frames; owns the host controller.
pub struct BulkLink<H: Host> {
    /// The host controller (the drivers also send control requests through it).
    pub host: H,
    /// The device's control endpoint.
    pub target: Target,
    bulk_in: Pipe,
    bulk_out: Pipe,
    /// Bytes asked for per receive transfer.
    rx_length: usize,
    rx_armed: bool,
    /// Length of the frame being sent (without any wrapping or padding), while a transmit
    /// is in flight.
    tx_pending: Option<usize>,
    consecutive_errors: u32,
    /// Frame counters; receive byte counts are the drivers' (they know the frame length).
    pub counters: Counters,
}

impl<H: Host> BulkLink<H> {
    /// A link over the two endpoints of a configured device; arms the first receive of
    /// `rx_length` bytes.
    pub fn open(
        host: H,
        target: Target,
        bulk_in: &Endpoint,
        bulk_out: &Endpoint,
        rx_length: usize,
    ) -> Result<Self, Error> {
        check_slots(&host)?;
        let mut link = Self {
            bulk_in: Pipe::new(&target, bulk_in),
            bulk_out: Pipe::new(&target, bulk_out),
            host,
            target,
            rx_length,
            rx_armed: false,
            tx_pending: None,
            consecutive_errors: 0,
            counters: Counters::default(),
        };
        link.arm_receive()?;
        Ok(link)
    }

    fn arm_receive(&mut self) -> Result<(), Error> {
        self.host.start(RX_SLOT, &self.bulk_in, &[], self.rx_length)?;
        self.rx_armed = true;
        Ok(())
    }

    /// Whether an OUT transfer of `length` bytes ends on a full packet (the device would
    /// then wait for more: the drivers append one padding byte).
    pub fn ends_on_packet(&self, length: usize) -> bool {
        length.is_multiple_of(self.bulk_out.max_packet as usize)
    }

    /// Books a failed transfer (clearing a halted endpoint); after too many in a row the
    /// device counts as failed.
    pub fn transfer_failed(&mut self, error: Error, direction: Direction) -> NetError {
        self.counters.dropped += 1;
        self.consecutive_errors += 1;
        if let Error::Stall { .. } = error {
            let pipe = if direction == Direction::In { &mut self.bulk_in } else { &mut self.bulk_out };
            let address = pipe.endpoint_address();
            pipe.data1 = false;
            let _ = self.host.control(&self.target, &SetupPacket::clear_halt(address), &mut []);
        }
        if self.consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
            NetError::Device("USB NIC keeps failing transfers")
        } else {
            NetError::Busy
        }
    }

    /// Collects a finished transmit, if any. `Ok(true)` when the slot is free.
    fn service_transmit(&mut self) -> Result<bool, NetError> {
        let Some(length) = self.tx_pending else { return Ok(true) };
        match self.host.poll(TX_SLOT, &mut self.bulk_out, &mut []) {
            Ok(None) => Ok(false),
            Ok(Some(_)) => {
                self.tx_pending = None;
                self.consecutive_errors = 0;
                self.counters.tx_frames += 1;
                self.counters.tx_bytes += length as u64;
                Ok(true)
            }
            Err(error) => {
                self.tx_pending = None;
                match self.transfer_failed(error, Direction::Out) {
                    NetError::Busy => Ok(true),
                    fatal => Err(fatal),
                }
            }
        }
    }

    /// Polls for the next finished receive transfer, copied into `transfer`, and hands it
    /// to `frame` (which takes the frame out of it and books it in the counters); `None`
    /// while nothing has arrived, or after a transfer error the link recovers from.
    /// Collects a finished transmit first and re-arms the receive after every completed one.
    pub fn receive(
        &mut self,
        transfer: &mut [u8],
        frame: impl FnOnce(&mut Counters, &[u8]) -> Result<Option<usize>, NetError>,
    ) -> Result<Option<usize>, NetError> {
        self.service_transmit()?;
        if !self.rx_armed {
            if let Err(error) = self.arm_receive() {
                return match self.transfer_failed(error, Direction::In) {
                    NetError::Busy => Ok(None),
                    fatal => Err(fatal),
                };
            }
        }
        let result = self.host.poll(RX_SLOT, &mut self.bulk_in, transfer);
        if let Ok(None) = result {
            return Ok(None);
        }
        self.rx_armed = false;
        let outcome = match result {
            Ok(Some(0)) | Ok(None) => Ok(None),
            Ok(Some(length)) => {
                let got = frame(&mut self.counters, &transfer[..length]);
                if let Ok(Some(_)) = got {
                    self.consecutive_errors = 0;
                }
                got
            }
            Err(Error::TooLong { .. }) => {
                self.counters.dropped += 1;
                Err(NetError::Size)
            }
            Err(error) => match self.transfer_failed(error, Direction::In) {
                NetError::Busy => Ok(None),
                fatal => Err(fatal),
            },
        };
        if let Err(error) = self.arm_receive() {
            let failure = self.transfer_failed(error, Direction::In);
            if outcome.is_ok() && failure != NetError::Busy {
                return Err(failure);
            }
        }
        outcome
    }

    /// Starts sending `data` (a frame of `frame_length` bytes, as the driver wraps it);
    /// `Busy` while the previous one is still in flight.
    pub fn send(&mut self, data: &[u8], frame_length: usize) -> Result<(), NetError> {
        if !self.service_transmit()? {
            return Err(NetError::Busy);
        }
        match self.host.start(TX_SLOT, &self.bulk_out, data, 0) {
            Ok(()) => {
                self.tx_pending = Some(frame_length);
                Ok(())
            }
            Err(error) => Err(self.transfer_failed(error, Direction::Out)),
        }
    }
}
