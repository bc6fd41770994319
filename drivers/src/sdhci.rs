//! SD host controller (SDHCI 3.0) and SD memory card protocol, polled PIO.
//!
//! One driver for the BCM2835/2837 "EMMC" (an Arasan SDHCI at peripheral offset 0x30_0000:
//! Pi 3, Pi Zero 2 W, QEMU raspi3b and raspi4b's EMMC1) and the BCM2711's EMMC2 (a Broadcom
//! SDHCI at 0x34_0000: the Pi 4's card slot). Both follow the SD Host Controller
//! Simplified Specification 3.00; the Arasan block accepts 32-bit accesses only, so every
//! register here is declared 32 bits wide (the BCM2835 peripherals manual's EMMC chapter
//! names), and the transfer-mode and command halves are written together.
//!
//! Card protocol (SD Physical Layer Simplified Specification 3.01): CMD0 → CMD8 (voltage
//! check; no answer = a version 1 card) → ACMD41 until ready (HCS/CCS = high capacity,
//! block addressing) → CMD2 → CMD3 (relative address) → CMD9 (CSD: capacity) → CMD7
//! (select) → CMD16 (512-byte blocks, standard capacity only) → ACMD6 (4-bit bus). Reads
//! and writes are CMD17/CMD18 and CMD24/CMD25 with auto-CMD12, 512-byte blocks moved
//! through the data port.
//!
//! Every wait has a deadline from the caller's microsecond clock: a missing card, a card
//! pulled mid-transfer or a wedged controller turns into an [`Error`], and the controller's
//! command and data lines are reset afterwards so the next request starts clean.

use crate::mmio::Mmio;
use tock_registers::{
    interfaces::{ReadWriteable, Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_bitfields! {u32,
    /// Block size and count (BLKSIZECNT).
    BLKSIZECNT [
        /// Bytes per block (1-1024).
        BLKSIZE OFFSET(0) NUMBITS(10) [],
        /// Blocks in the transfer.
        BLKCNT OFFSET(16) NUMBITS(16) []
    ],
    /// Command and transfer mode (CMDTM): writing it issues the command.
    CMDTM [
        /// Enable the block counter (multi-block transfers).
        TM_BLKCNT_EN OFFSET(1) NUMBITS(1) [],
        /// Command to send after the transfer.
        TM_AUTO_CMD_EN OFFSET(2) NUMBITS(2) [None = 0, Cmd12 = 1, Cmd23 = 2],
        /// Direction: card to host.
        TM_DAT_DIR OFFSET(4) NUMBITS(1) [HostToCard = 0, CardToHost = 1],
        /// More than one block.
        TM_MULTI_BLOCK OFFSET(5) NUMBITS(1) [],
        /// Response type.
        CMD_RSPNS_TYPE OFFSET(16) NUMBITS(2) [None = 0, Bits136 = 1, Bits48 = 2, Bits48Busy = 3],
        /// Check the response CRC.
        CMD_CRCCHK_EN OFFSET(19) NUMBITS(1) [],
        /// Check the response's command index.
        CMD_IXCHK_EN OFFSET(20) NUMBITS(1) [],
        /// The command transfers data.
        CMD_ISDATA OFFSET(21) NUMBITS(1) [],
        /// Command index.
        CMD_INDEX OFFSET(24) NUMBITS(6) []
    ],
    /// Present state (STATUS).
    STATUS [
        /// The command line is in use.
        CMD_INHIBIT OFFSET(0) NUMBITS(1) [],
        /// The data lines are in use.
        DAT_INHIBIT OFFSET(1) NUMBITS(1) [],
        /// A card is inserted (SDHCI "card inserted").
        CARD_INSERTED OFFSET(16) NUMBITS(1) []
    ],
    /// Host control, power, block gap (CONTROL0).
    CONTROL0 [
        /// 4-bit data bus.
        HCTL_DWIDTH OFFSET(1) NUMBITS(1) [],
        /// High-speed timing.
        HCTL_HS_EN OFFSET(2) NUMBITS(1) [],
        /// SD bus power (standard SDHCI; the Arasan block ignores it).
        BUS_POWER OFFSET(8) NUMBITS(1) [],
        /// SD bus voltage (standard SDHCI).
        BUS_VOLTAGE OFFSET(9) NUMBITS(3) [V3_3 = 7]
    ],
    /// Clock, timeout and resets (CONTROL1).
    CONTROL1 [
        /// Internal clock enable.
        CLK_INTLEN OFFSET(0) NUMBITS(1) [],
        /// Internal clock stable.
        CLK_STABLE OFFSET(1) NUMBITS(1) [],
        /// SD clock enable.
        CLK_EN OFFSET(2) NUMBITS(1) [],
        /// Divisor bits 9-8 (10-bit divided clock mode).
        CLK_FREQ_MS2 OFFSET(6) NUMBITS(2) [],
        /// Divisor bits 7-0: SD clock = base / (2 × divisor), 0 = base.
        CLK_FREQ8 OFFSET(8) NUMBITS(8) [],
        /// Data timeout: TMCLK × 2^(13 + n).
        DATA_TOUNIT OFFSET(16) NUMBITS(4) [],
        /// Reset the whole host controller.
        SRST_HC OFFSET(24) NUMBITS(1) [],
        /// Reset the command line.
        SRST_CMD OFFSET(25) NUMBITS(1) [],
        /// Reset the data lines.
        SRST_DATA OFFSET(26) NUMBITS(1) []
    ],
    /// Interrupt flags (INTERRUPT; write 1 to clear), and the same bits in the mask and
    /// enable registers.
    INTERRUPT [
        /// Command complete.
        CMD_DONE OFFSET(0) NUMBITS(1) [],
        /// Data transfer complete.
        DATA_DONE OFFSET(1) NUMBITS(1) [],
        /// The data port accepts a block.
        WRITE_RDY OFFSET(4) NUMBITS(1) [],
        /// The data port holds a block.
        READ_RDY OFFSET(5) NUMBITS(1) [],
        /// Some error bit (16-24) is set.
        ERR OFFSET(15) NUMBITS(1) [],
        /// Command timeout.
        CTO_ERR OFFSET(16) NUMBITS(1) [],
        /// Command CRC error.
        CCRC_ERR OFFSET(17) NUMBITS(1) [],
        /// Command end bit error.
        CEND_ERR OFFSET(18) NUMBITS(1) [],
        /// Wrong command index in the response.
        CBAD_ERR OFFSET(19) NUMBITS(1) [],
        /// Data timeout.
        DTO_ERR OFFSET(20) NUMBITS(1) [],
        /// Data CRC error.
        DCRC_ERR OFFSET(21) NUMBITS(1) [],
        /// Data end bit error.
        DEND_ERR OFFSET(22) NUMBITS(1) [],
        /// Auto-command error.
        ACMD_ERR OFFSET(24) NUMBITS(1) []
    ],
    /// Slot interrupt status and version (SLOTISR_VER).
    SLOTISR_VER [
        /// Host controller specification version (2 = 3.00).
        SDVERSION OFFSET(16) NUMBITS(8) [],
        /// Vendor version.
        VENDOR OFFSET(24) NUMBITS(8) []
    ]
}

register_structs! {
    /// SDHCI register block, 32-bit view.
    pub Registers {
        (0x00 => arg2: ReadWrite<u32>),
        (0x04 => blksizecnt: ReadWrite<u32, BLKSIZECNT::Register>),
        (0x08 => arg1: ReadWrite<u32>),
        (0x0c => cmdtm: ReadWrite<u32, CMDTM::Register>),
        (0x10 => resp: [ReadOnly<u32>; 4]),
        (0x20 => data: ReadWrite<u32>),
        (0x24 => status: ReadOnly<u32, STATUS::Register>),
        (0x28 => control0: ReadWrite<u32, CONTROL0::Register>),
        (0x2c => control1: ReadWrite<u32, CONTROL1::Register>),
        (0x30 => interrupt: ReadWrite<u32, INTERRUPT::Register>),
        (0x34 => irpt_mask: ReadWrite<u32, INTERRUPT::Register>),
        (0x38 => irpt_en: ReadWrite<u32, INTERRUPT::Register>),
        (0x3c => control2: ReadWrite<u32>),
        (0x40 => capabilities: [ReadOnly<u32>; 2]),
        (0x48 => _reserved0),
        (0xfc => slotisr_ver: ReadOnly<u32, SLOTISR_VER::Register>),
        (0x100 => @END),
    }
}

/// Bytes per block: the only size the driver transfers.
pub const BLOCK_SIZE: usize = 512;

/// Most blocks in one multi-block command (the block counter is 16 bits).
pub const MAX_BLOCKS_PER_COMMAND: usize = 0xffff;

/// Identification clock (the card must be initialised at ≤ 400 kHz).
const IDENTIFICATION_HZ: u32 = 400_000;
/// Data transfer clock once the card is selected (default speed).
const TRANSFER_HZ: u32 = 25_000_000;

/// How long one command may take.
const COMMAND_TIMEOUT_US: u64 = 100_000;
/// How long one data block may take.
const DATA_TIMEOUT_US: u64 = 500_000;
/// How long a card may take to power up (ACMD41 loop; the spec allows 1 s).
const POWER_UP_TIMEOUT_US: u64 = 1_000_000;

/// SD card errors. `NoCard` and `Unsupported` do not go away by retrying; a `Timeout` or
/// `Crc` on a transfer may (the controller is reset after each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No card answered the identification commands.
    NoCard,
    /// A command got no response in time.
    CommandTimeout {
        /// Command index.
        command: u8,
    },
    /// A command's response failed its CRC, end-bit or index check.
    CommandError {
        /// Command index.
        command: u8,
        /// The controller's INTERRUPT register.
        flags: u32,
    },
    /// A data block did not arrive (or could not be sent) in time.
    DataTimeout,
    /// A data block failed its CRC or end-bit check.
    DataError {
        /// The controller's INTERRUPT register.
        flags: u32,
    },
    /// The card refused an operation (status bits from its R1 response).
    CardStatus(u32),
    /// The card is not an SD memory card this driver handles (e.g. an MMC, or no 3.3 V).
    Unsupported(&'static str),
    /// The controller did not finish a reset or its clock did not stabilise.
    Controller,
    /// A block number or count outside the card.
    OutOfRange,
    /// The card was never initialised (or initialisation failed).
    NotReady,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::NoCard => f.write_str("no SD card answers (none inserted?)"),
            Error::CommandTimeout { command } => write!(f, "SD card did not answer CMD{command}"),
            Error::CommandError { command, flags } => write!(f, "SD CMD{command} failed (controller flags {flags:#x})"),
            Error::DataTimeout => f.write_str("SD data transfer timed out (card removed?)"),
            Error::DataError { flags } => write!(f, "SD data transfer error (controller flags {flags:#x})"),
            Error::CardStatus(status) => write!(f, "SD card reported an error (status {status:#x})"),
            Error::Unsupported(why) => write!(f, "unsupported card: {why}"),
            Error::Controller => f.write_str("SD host controller did not respond to a reset"),
            Error::OutOfRange => f.write_str("block outside the card"),
            Error::NotReady => f.write_str("SD card not initialised"),
        }
    }
}

impl core::error::Error for Error {}

/// What initialisation found out about the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardInfo {
    /// High capacity (SDHC/SDXC): block addressing.
    pub high_capacity: bool,
    /// Number of 512-byte blocks.
    pub blocks: u64,
    /// Relative card address.
    pub rca: u16,
    /// Manufacturer id (CID).
    pub manufacturer: u8,
    /// Product name (CID, 5 ASCII characters).
    pub product: [u8; 5],
    /// Serial number (CID).
    pub serial: u32,
    /// CSD structure version (0 = 1.0, 1 = 2.0).
    pub csd_version: u8,
}

/// Response kinds of the commands used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Response {
    None,
    /// 48 bits with index and CRC (R1, R6, R7).
    R1,
    /// 48 bits, busy signalled on DAT0 (R1b).
    R1b,
    /// 136 bits (R2: CID/CSD), CRC checked, no index.
    R2,
    /// 48 bits without a valid index or CRC (R3: OCR).
    R3,
}

/// A data phase of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    None,
    Read { blocks: u16 },
    Write { blocks: u16 },
}

/// The SD host controller with (after [`Sdhci::init_card`]) its card.
pub struct Sdhci {
    registers: Mmio<Registers>,
    /// Microseconds from a free-running clock.
    now: fn() -> u64,
    /// The controller's base clock in Hz.
    base_clock: u32,
    card: Option<CardInfo>,
}

/// The SD clock divisor field (10-bit divided clock mode) for at most `target` Hz from
/// `base`: SD clock = base / (2 × divisor); 0 means the base clock itself.
pub fn clock_divisor(base: u32, target: u32) -> u32 {
    if target == 0 || base <= target {
        return 0;
    }
    let divisor = base.div_ceil(2 * target);
    divisor.min(0x3ff)
}

/// Capacity in 512-byte blocks from a CSD register (`csd[0]` = bits 127-96). Returns the
/// structure version too; `None` for a structure this driver does not know.
pub fn csd_blocks(csd: u128) -> Option<(u8, u64)> {
    let field = |high: u32, low: u32| -> u64 { ((csd >> low) & ((1u128 << (high - low + 1)) - 1)) as u64 };
    match field(127, 126) {
        0 => {
            // CSD 1.0: (C_SIZE + 1) × 2^(C_SIZE_MULT + 2) blocks of 2^READ_BL_LEN bytes.
            let c_size = field(73, 62);
            let mult = field(49, 47);
            let read_bl_len = field(83, 80);
            let bytes = (c_size + 1) << (mult + 2 + read_bl_len);
            Some((0, bytes / BLOCK_SIZE as u64))
        }
        // CSD 2.0: (C_SIZE + 1) × 512 KiB.
        1 => Some((1, (field(69, 48) + 1) * 1024)),
        _ => None,
    }
}

impl Sdhci {
    /// Creates the driver; nothing is touched until [`Sdhci::init_card`].
    ///
    /// # Safety
    /// `base` must be the mapped register block of an SDHCI controller, owned by this
    /// driver. `now` must return microseconds from a monotonic clock.
    pub const unsafe fn new(base: usize, base_clock: u32, now: fn() -> u64) -> Self {
        // SAFETY: forwarded from the caller's contract.
        Self { registers: unsafe { Mmio::new(base) }, now, base_clock, card: None }
    }

    /// The card found by the last successful [`Sdhci::init_card`].
    pub fn card(&self) -> Option<CardInfo> {
        self.card
    }

    /// The controller's specification and vendor version.
    pub fn version(&self) -> (u8, u8) {
        let v = &self.registers.slotisr_ver;
        (v.read(SLOTISR_VER::SDVERSION) as u8, v.read(SLOTISR_VER::VENDOR) as u8)
    }

    fn wait(&self, timeout_us: u64, mut done: impl FnMut() -> bool) -> bool {
        let deadline = (self.now)().saturating_add(timeout_us);
        loop {
            if done() {
                return true;
            }
            if (self.now)() > deadline {
                return done();
            }
            core::hint::spin_loop();
        }
    }

    /// Resets the whole controller and starts the identification clock.
    fn reset_controller(&self) -> Result<(), Error> {
        let regs = &*self.registers;
        regs.control1.write(CONTROL1::SRST_HC::SET);
        if !self.wait(COMMAND_TIMEOUT_US, || !regs.control1.is_set(CONTROL1::SRST_HC)) {
            return Err(Error::Controller);
        }
        regs.control0.write(CONTROL0::BUS_POWER::SET + CONTROL0::BUS_VOLTAGE::V3_3);
        regs.control2.set(0);
        self.set_clock(IDENTIFICATION_HZ)?;
        // All status bits visible in INTERRUPT; none routed to the interrupt line (polled).
        regs.irpt_en.set(0);
        regs.irpt_mask.set(u32::MAX);
        regs.interrupt.set(u32::MAX);
        Ok(())
    }

    fn set_clock(&self, hz: u32) -> Result<(), Error> {
        let regs = &*self.registers;
        regs.control1.modify(CONTROL1::CLK_EN::CLEAR);
        let divisor = clock_divisor(self.base_clock, hz);
        regs.control1.modify(
            CONTROL1::CLK_FREQ8.val(divisor & 0xff)
                + CONTROL1::CLK_FREQ_MS2.val(divisor >> 8)
                + CONTROL1::DATA_TOUNIT.val(0xe)
                + CONTROL1::CLK_INTLEN::SET,
        );
        if !self.wait(COMMAND_TIMEOUT_US, || regs.control1.is_set(CONTROL1::CLK_STABLE)) {
            return Err(Error::Controller);
        }
        regs.control1.modify(CONTROL1::CLK_EN::SET);
        Ok(())
    }

    /// Resets the command and data lines after an error, so the next command can go out.
    fn recover(&self) {
        let regs = &*self.registers;
        regs.control1.modify(CONTROL1::SRST_CMD::SET + CONTROL1::SRST_DATA::SET);
        self.wait(COMMAND_TIMEOUT_US, || {
            !regs.control1.matches_any(&[CONTROL1::SRST_CMD::SET, CONTROL1::SRST_DATA::SET])
        });
        regs.interrupt.set(u32::MAX);
    }

    /// Sends one command and waits for its response. Returns the response registers.
    fn command(&self, index: u8, argument: u32, response: Response, data: Data) -> Result<[u32; 4], Error> {
        let regs = &*self.registers;
        if !self.wait(COMMAND_TIMEOUT_US, || !regs.status.is_set(STATUS::CMD_INHIBIT)) {
            self.recover();
            return Err(Error::CommandTimeout { command: index });
        }
        if (data != Data::None || response == Response::R1b)
            && !self.wait(DATA_TIMEOUT_US, || !regs.status.is_set(STATUS::DAT_INHIBIT))
        {
            self.recover();
            return Err(Error::DataTimeout);
        }
        regs.interrupt.set(u32::MAX);
        let mut value = CMDTM::CMD_INDEX.val(index as u32);
        value += match response {
            Response::None => CMDTM::CMD_RSPNS_TYPE::None,
            Response::R1 => CMDTM::CMD_RSPNS_TYPE::Bits48 + CMDTM::CMD_CRCCHK_EN::SET + CMDTM::CMD_IXCHK_EN::SET,
            Response::R1b => CMDTM::CMD_RSPNS_TYPE::Bits48Busy + CMDTM::CMD_CRCCHK_EN::SET + CMDTM::CMD_IXCHK_EN::SET,
            Response::R2 => CMDTM::CMD_RSPNS_TYPE::Bits136 + CMDTM::CMD_CRCCHK_EN::SET,
            Response::R3 => CMDTM::CMD_RSPNS_TYPE::Bits48,
        };
        match data {
            Data::None => {}
            Data::Read { blocks } | Data::Write { blocks } => {
                regs.blksizecnt
                    .write(BLKSIZECNT::BLKSIZE.val(BLOCK_SIZE as u32) + BLKSIZECNT::BLKCNT.val(blocks as u32));
                value += CMDTM::CMD_ISDATA::SET;
                value += if matches!(data, Data::Read { .. }) {
                    CMDTM::TM_DAT_DIR::CardToHost
                } else {
                    CMDTM::TM_DAT_DIR::HostToCard
                };
                if blocks > 1 {
                    value += CMDTM::TM_MULTI_BLOCK::SET + CMDTM::TM_BLKCNT_EN::SET + CMDTM::TM_AUTO_CMD_EN::Cmd12;
                }
            }
        }
        regs.arg1.set(argument);
        regs.cmdtm.write(value);
        let finished = self
            .wait(COMMAND_TIMEOUT_US, || regs.interrupt.matches_any(&[INTERRUPT::CMD_DONE::SET, INTERRUPT::ERR::SET]));
        let flags = regs.interrupt.get();
        if !finished || regs.interrupt.is_set(INTERRUPT::CTO_ERR) {
            self.recover();
            return Err(Error::CommandTimeout { command: index });
        }
        if regs.interrupt.is_set(INTERRUPT::ERR) {
            self.recover();
            return Err(Error::CommandError { command: index, flags });
        }
        regs.interrupt.write(INTERRUPT::CMD_DONE::SET);
        let resp = [regs.resp[0].get(), regs.resp[1].get(), regs.resp[2].get(), regs.resp[3].get()];
        if response == Response::R1b {
            self.wait_data_done()?;
        }
        Ok(resp)
    }

    fn wait_data_done(&self) -> Result<(), Error> {
        let regs = &*self.registers;
        let done = self
            .wait(DATA_TIMEOUT_US, || regs.interrupt.matches_any(&[INTERRUPT::DATA_DONE::SET, INTERRUPT::ERR::SET]));
        let flags = regs.interrupt.get();
        if !done || regs.interrupt.is_set(INTERRUPT::DTO_ERR) {
            self.recover();
            return Err(Error::DataTimeout);
        }
        if regs.interrupt.is_set(INTERRUPT::ERR) {
            self.recover();
            return Err(Error::DataError { flags });
        }
        regs.interrupt.write(INTERRUPT::DATA_DONE::SET);
        Ok(())
    }

    /// An application command: CMD55 with the card's address, then `index`.
    fn app_command(&self, rca: u16, index: u8, argument: u32, response: Response) -> Result<[u32; 4], Error> {
        let status = self.command(55, (rca as u32) << 16, Response::R1, Data::None)?[0];
        if status & (1 << 5) == 0 {
            // APP_CMD not acknowledged.
            return Err(Error::CardStatus(status));
        }
        self.command(index, argument, response, Data::None)
    }

    /// Resets the controller and brings up the card: identification, capacity, selection,
    /// 4-bit bus, transfer clock. Safe to call again (e.g. after a card change).
    pub fn init_card(&mut self) -> Result<CardInfo, Error> {
        self.card = None;
        self.reset_controller()?;
        self.command(0, 0, Response::None, Data::None)?;
        // CMD8: 2.7-3.6 V, check pattern 0xAA. Version 1 cards do not answer.
        let version2 = match self.command(8, 0x1aa, Response::R1, Data::None) {
            Ok(resp) if resp[0] & 0xfff == 0x1aa => true,
            Ok(_) => return Err(Error::Unsupported("the card does not accept 3.3 V")),
            Err(Error::CommandTimeout { .. }) => false,
            Err(error) => return Err(error),
        };
        // ACMD41: 3.2-3.4 V window, HCS when the card is version 2, until the busy bit says
        // powered up.
        let hcs = if version2 { 1 << 30 } else { 0 };
        let deadline = (self.now)().saturating_add(POWER_UP_TIMEOUT_US);
        let ocr = loop {
            match self.app_command(0, 41, hcs | 0x00ff_8000, Response::R3) {
                Ok(resp) if resp[0] & (1 << 31) != 0 => break resp[0],
                Ok(_) => {}
                Err(Error::CommandTimeout { .. }) => return Err(Error::NoCard),
                Err(error) => return Err(error),
            }
            if (self.now)() > deadline {
                return Err(Error::NoCard);
            }
            let pause = (self.now)().saturating_add(10_000);
            self.wait(20_000, || (self.now)() >= pause);
        };
        let high_capacity = ocr & (1 << 30) != 0;
        let cid = self.command(2, 0, Response::R2, Data::None)?;
        let rca = (self.command(3, 0, Response::R1, Data::None)?[0] >> 16) as u16;
        let csd = self.command(9, (rca as u32) << 16, Response::R2, Data::None)?;
        let (csd_version, blocks) =
            csd_blocks(response_register(csd)).ok_or(Error::Unsupported("unknown CSD structure"))?;
        self.command(7, (rca as u32) << 16, Response::R1b, Data::None)?;
        if !high_capacity {
            self.command(16, BLOCK_SIZE as u32, Response::R1, Data::None)?;
        }
        // ACMD6: 4-bit bus (every SD memory card supports it).
        self.app_command(rca, 6, 2, Response::R1)?;
        self.registers.control0.modify(CONTROL0::HCTL_DWIDTH::SET);
        self.set_clock(TRANSFER_HZ)?;
        let cid = response_register(cid);
        let mut product = [0u8; 5];
        for (i, byte) in product.iter_mut().enumerate() {
            *byte = (cid >> (96 - 8 * i)) as u8;
        }
        let info = CardInfo {
            high_capacity,
            blocks,
            rca,
            manufacturer: (cid >> 120) as u8,
            product,
            serial: (cid >> 24) as u32,
            csd_version,
        };
        self.card = Some(info);
        Ok(info)
    }

    fn address(&self, card: &CardInfo, block: u64) -> u32 {
        if card.high_capacity {
            block as u32
        } else {
            (block * BLOCK_SIZE as u64) as u32
        }
    }

    fn check_range(&self, start: u64, count: usize) -> Result<CardInfo, Error> {
        let card = self.card.ok_or(Error::NotReady)?;
        let end = start.checked_add(count as u64).ok_or(Error::OutOfRange)?;
        if end > card.blocks || end > u32::MAX as u64 {
            return Err(Error::OutOfRange);
        }
        Ok(card)
    }

    /// Reads whole blocks starting at block `start` into `buffer` (a multiple of 512
    /// bytes), in commands of at most [`MAX_BLOCKS_PER_COMMAND`] blocks.
    pub fn read_blocks(&self, start: u64, buffer: &mut [u8]) -> Result<(), Error> {
        if !buffer.len().is_multiple_of(BLOCK_SIZE) {
            return Err(Error::OutOfRange);
        }
        let card = self.check_range(start, buffer.len() / BLOCK_SIZE)?;
        let mut block = start;
        for chunk in buffer.chunks_mut(MAX_BLOCKS_PER_COMMAND * BLOCK_SIZE) {
            let blocks = (chunk.len() / BLOCK_SIZE) as u16;
            let index = if blocks > 1 { 18 } else { 17 };
            self.command(index, self.address(&card, block), Response::R1, Data::Read { blocks })?;
            for one in chunk.chunks_exact_mut(BLOCK_SIZE) {
                self.transfer_block(
                    |regs| {
                        for word in one.chunks_exact_mut(4) {
                            word.copy_from_slice(&regs.data.get().to_le_bytes());
                        }
                    },
                    INTERRUPT::READ_RDY::SET,
                )?;
            }
            self.wait_data_done()?;
            block += blocks as u64;
        }
        Ok(())
    }

    /// Writes whole blocks starting at block `start` from `buffer` (a multiple of 512
    /// bytes).
    pub fn write_blocks(&self, start: u64, buffer: &[u8]) -> Result<(), Error> {
        if !buffer.len().is_multiple_of(BLOCK_SIZE) {
            return Err(Error::OutOfRange);
        }
        let card = self.check_range(start, buffer.len() / BLOCK_SIZE)?;
        let mut block = start;
        for chunk in buffer.chunks(MAX_BLOCKS_PER_COMMAND * BLOCK_SIZE) {
            let blocks = (chunk.len() / BLOCK_SIZE) as u16;
            let index = if blocks > 1 { 25 } else { 24 };
            self.command(index, self.address(&card, block), Response::R1, Data::Write { blocks })?;
            for one in chunk.chunks_exact(BLOCK_SIZE) {
                self.transfer_block(
                    |regs| {
                        for word in one.chunks_exact(4) {
                            regs.data.set(u32::from_le_bytes([word[0], word[1], word[2], word[3]]));
                        }
                    },
                    INTERRUPT::WRITE_RDY::SET,
                )?;
            }
            self.wait_data_done()?;
            block += blocks as u64;
        }
        Ok(())
    }

    /// Waits until the data port is ready for one block (`ready`), then moves it.
    fn transfer_block(
        &self,
        move_block: impl FnOnce(&Registers),
        ready: tock_registers::fields::FieldValue<u32, INTERRUPT::Register>,
    ) -> Result<(), Error> {
        let regs = &*self.registers;
        let arrived = self.wait(DATA_TIMEOUT_US, || regs.interrupt.matches_any(&[ready, INTERRUPT::ERR::SET]));
        let flags = regs.interrupt.get();
        if !arrived || regs.interrupt.is_set(INTERRUPT::DTO_ERR) {
            self.recover();
            return Err(Error::DataTimeout);
        }
        if regs.interrupt.is_set(INTERRUPT::ERR) {
            self.recover();
            return Err(Error::DataError { flags });
        }
        regs.interrupt.write(ready);
        move_block(regs);
        Ok(())
    }
}

/// A 136-bit response (CID or CSD) as the 128-bit register it carries: the controller
/// drops the CRC byte, so the response registers hold bits 127-8 shifted down by 8.
fn response_register(resp: [u32; 4]) -> u128 {
    let raw = (resp[0] as u128) | (resp[1] as u128) << 32 | (resp[2] as u128) << 64 | (resp[3] as u128) << 96;
    raw << 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisors_never_exceed_the_target_clock() {
        assert_eq!(clock_divisor(200_000_000, 400_000), 250);
        assert_eq!(clock_divisor(200_000_000, 25_000_000), 4);
        assert_eq!(clock_divisor(41_666_667, 400_000), 53);
        assert_eq!(clock_divisor(20_000_000, 25_000_000), 0, "the base clock is already slow enough");
        assert_eq!(clock_divisor(1_000_000_000, 400), 0x3ff, "clamped to 10 bits");
        for (base, target) in [(250_000_000, 400_000), (100_000_000, 25_000_000), (54_000_000, 400_000)] {
            let d = clock_divisor(base, target);
            assert!(base / (2 * d) <= target, "{base}/{d}");
        }
    }

    #[test]
    fn capacities_from_csd_registers() {
        // CSD 2.0 of a 1 GiB card: C_SIZE = 2047 -> 2048 × 512 KiB.
        let csd2: u128 = (1u128 << 126) | (2047u128 << 48);
        assert_eq!(csd_blocks(csd2), Some((1, 2 * 1024 * 1024)));
        // CSD 1.0 of a 512 MiB card: READ_BL_LEN 10, C_SIZE_MULT 7, C_SIZE 1023:
        // 1024 × 2^9 × 1024 bytes.
        let csd1: u128 = (10u128 << 80) | (1023u128 << 62) | (7u128 << 47);
        assert_eq!(csd_blocks(csd1), Some((0, 512 * 1024 * 1024 / 512)));
        assert_eq!(csd_blocks(3u128 << 126), None);
    }

    #[test]
    fn long_responses_are_realigned() {
        // The controller stores CSD bits 127-8 in RESP3..RESP0 bits 119-0.
        let csd: u128 = (1u128 << 126) | (2047u128 << 48) | 0xab << 8;
        let stored = csd >> 8;
        let resp = [stored as u32, (stored >> 32) as u32, (stored >> 64) as u32, (stored >> 96) as u32];
        assert_eq!(response_register(resp), csd);
    }

    /// A RAM register block: with no card behind it, commands time out into errors
    /// instead of hanging, and the driver never reports a card.
    #[test]
    fn a_controller_without_a_card_gives_errors_not_hangs() {
        static mut BLOCK: [u32; 64] = [0; 64];
        static TICKS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
        fn now() -> u64 {
            TICKS.fetch_add(5_000, core::sync::atomic::Ordering::Relaxed)
        }
        // SAFETY: a private static array stands in for the register block; only this test
        // uses it.
        let mut host = unsafe { Sdhci::new(core::ptr::addr_of_mut!(BLOCK) as usize, 200_000_000, now) };
        // RAM keeps what is written, so the reset bit never clears: reported as a
        // controller failure after the deadline.
        assert_eq!(host.init_card(), Err(Error::Controller));
        assert_eq!(host.card(), None);
        let mut buffer = [0u8; 512];
        assert_eq!(host.read_blocks(0, &mut buffer), Err(Error::NotReady));
        assert_eq!(host.write_blocks(0, &buffer), Err(Error::NotReady));
        assert_eq!(host.read_blocks(0, &mut buffer[..100]), Err(Error::OutOfRange));
    }
}
