//! DWC2 register map: core global (0x000), host (0x400), host channels (0x500), power
//! and clock gating (0xE00). Field names follow the databook; only what the host driver
//! uses is declared.

use tock_registers::{
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_bitfields! {u32,
    /// AHB configuration (GAHBCFG). Bits 1-4 are Broadcom's AXI bridge settings on the
    /// BCM283x (generic cores have a burst length there).
    pub(super) GAHBCFG [
        /// Global interrupt enable (this driver polls and leaves it off).
        GLOBAL_INTERRUPT OFFSET(0) NUMBITS(1) [],
        /// BCM283x: maximum AXI burst length (0 = 4 beats).
        BCM_MAX_AXI_BURST OFFSET(1) NUMBITS(2) [],
        /// BCM283x: wait for AXI writes to complete before reporting a transfer done.
        BCM_WAIT_AXI_WRITES OFFSET(4) NUMBITS(1) [],
        /// Use the internal DMA engine.
        DMA_ENABLE OFFSET(5) NUMBITS(1) []
    ],
    /// USB configuration (GUSBCFG).
    pub(super) GUSBCFG [
        /// UTMI+ data width: 0 = 8 bit, 1 = 16 bit.
        PHY_16BIT OFFSET(3) NUMBITS(1) [],
        /// High-speed PHY interface: 0 = UTMI+, 1 = ULPI.
        ULPI OFFSET(4) NUMBITS(1) [],
        /// SRP capable (OTG session request; unused).
        SRP_CAPABLE OFFSET(8) NUMBITS(1) [],
        /// HNP capable (OTG role swap; unused).
        HNP_CAPABLE OFFSET(9) NUMBITS(1) [],
        /// ULPI full/low-speed serial interface.
        ULPI_FS_LS OFFSET(17) NUMBITS(1) [],
        /// ULPI clock suspend mode.
        ULPI_CLOCK_SUSPEND OFFSET(19) NUMBITS(1) [],
        /// ULPI drives VBUS externally.
        ULPI_EXTERNAL_VBUS OFFSET(20) NUMBITS(1) [],
        /// TermSel D-line pulsing.
        TERMSEL_DLINE_PULSE OFFSET(22) NUMBITS(1) [],
        /// Force host mode.
        FORCE_HOST OFFSET(29) NUMBITS(1) [],
        /// Force device mode.
        FORCE_DEVICE OFFSET(30) NUMBITS(1) []
    ],
    /// Reset control (GRSTCTL).
    pub(super) GRSTCTL [
        /// Core soft reset (self-clearing).
        CORE_SOFT_RESET OFFSET(0) NUMBITS(1) [],
        /// Flush the receive FIFO (self-clearing).
        RX_FIFO_FLUSH OFFSET(4) NUMBITS(1) [],
        /// Flush the transmit FIFO(s) selected by TX_FIFO_NUMBER (self-clearing).
        TX_FIFO_FLUSH OFFSET(5) NUMBITS(1) [],
        /// Transmit FIFO to flush (0x10 = all).
        TX_FIFO_NUMBER OFFSET(6) NUMBITS(5) [],
        /// The AHB master is idle.
        AHB_IDLE OFFSET(31) NUMBITS(1) []
    ],
    /// Hardware configuration 2 (GHWCFG2).
    pub(super) GHWCFG2 [
        /// 0 = slave only, 1 = external DMA, 2 = internal DMA.
        ARCHITECTURE OFFSET(3) NUMBITS(2) [],
        /// High-speed PHY: 0 none, 1 UTMI+, 2 ULPI, 3 both.
        HS_PHY_TYPE OFFSET(6) NUMBITS(2) [],
        /// Full-speed PHY: 0 none, 1 dedicated, 2 shared UTMI, 3 shared ULPI.
        FS_PHY_TYPE OFFSET(8) NUMBITS(2) [],
        /// Host channels minus one.
        HOST_CHANNELS OFFSET(14) NUMBITS(4) []
    ],
    /// Hardware configuration 3 (GHWCFG3).
    pub(super) GHWCFG3 [
        /// Transfer size counter width minus 11.
        TRANSFER_SIZE_WIDTH OFFSET(0) NUMBITS(4) [],
        /// Packet counter width minus 4.
        PACKET_COUNT_WIDTH OFFSET(4) NUMBITS(3) [],
        /// Total data FIFO depth in 32-bit words.
        FIFO_DEPTH OFFSET(16) NUMBITS(16) []
    ],
    /// A FIFO's start address and depth, in 32-bit words (GNPTXFSIZ, HPTXFSIZ).
    pub(super) FIFO_SIZE [
        /// Start address.
        START OFFSET(0) NUMBITS(16) [],
        /// Depth.
        DEPTH OFFSET(16) NUMBITS(16) []
    ],
    /// Host configuration (HCFG).
    pub(super) HCFG [
        /// PHY clock for full/low-speed devices.
        FS_LS_CLOCK OFFSET(0) NUMBITS(2) [Clock30Or60MHz = 0, Clock48MHz = 1]
    ],
    /// Host frame number (HFNUM).
    pub(super) HFNUM [
        /// Current (micro)frame number.
        FRAME OFFSET(0) NUMBITS(16) []
    ],
    /// Host port control and status (HPRT0). CONNECT_CHANGED, ENABLE, ENABLE_CHANGED and
    /// OVERCURRENT_CHANGED are write-1-to-clear (writing ENABLE = 1 disables the port):
    /// every write goes through [`super::hprt0_keep`].
    pub(super) HPRT0 [
        /// A device is connected.
        CONNECTED OFFSET(0) NUMBITS(1) [],
        /// The connection state changed.
        CONNECT_CHANGED OFFSET(1) NUMBITS(1) [],
        /// The port is enabled (set by the core after reset).
        ENABLE OFFSET(2) NUMBITS(1) [],
        /// ENABLE changed.
        ENABLE_CHANGED OFFSET(3) NUMBITS(1) [],
        /// Over-current.
        OVERCURRENT OFFSET(4) NUMBITS(1) [],
        /// OVERCURRENT changed.
        OVERCURRENT_CHANGED OFFSET(5) NUMBITS(1) [],
        /// Drive a reset on the port while set.
        RESET OFFSET(8) NUMBITS(1) [],
        /// Port power.
        POWER OFFSET(12) NUMBITS(1) [],
        /// Attached device speed.
        SPEED OFFSET(17) NUMBITS(2) [High = 0, Full = 1, Low = 2]
    ],
    /// Host channel characteristics (HCCHARn).
    pub(super) HCCHAR [
        /// Max packet size.
        MAX_PACKET OFFSET(0) NUMBITS(11) [],
        /// Endpoint number.
        ENDPOINT OFFSET(11) NUMBITS(4) [],
        /// Direction.
        DIRECTION OFFSET(15) NUMBITS(1) [Out = 0, In = 1],
        /// Low-speed device.
        LOW_SPEED OFFSET(17) NUMBITS(1) [],
        /// Endpoint type.
        TYPE OFFSET(18) NUMBITS(2) [Control = 0, Isochronous = 1, Bulk = 2, Interrupt = 3],
        /// Transactions per (micro)frame for periodic endpoints (1).
        MULTI_COUNT OFFSET(20) NUMBITS(2) [],
        /// Device address.
        ADDRESS OFFSET(22) NUMBITS(7) [],
        /// Periodic transfer in an odd (micro)frame.
        ODD_FRAME OFFSET(29) NUMBITS(1) [],
        /// Disable (halt) the channel.
        DISABLE OFFSET(30) NUMBITS(1) [],
        /// Enable: start the transfer.
        ENABLE OFFSET(31) NUMBITS(1) []
    ],
    /// Host channel interrupt flags (HCINTn, write 1 to clear).
    pub(super) HCINT [
        /// Transfer completed.
        COMPLETE OFFSET(0) NUMBITS(1) [],
        /// The channel halted (for any reason).
        HALTED OFFSET(1) NUMBITS(1) [],
        /// AHB (DMA) error.
        AHB_ERROR OFFSET(2) NUMBITS(1) [],
        /// STALL handshake.
        STALL OFFSET(3) NUMBITS(1) [],
        /// NAK handshake.
        NAK OFFSET(4) NUMBITS(1) [],
        /// ACK handshake.
        ACK OFFSET(5) NUMBITS(1) [],
        /// NYET handshake.
        NYET OFFSET(6) NUMBITS(1) [],
        /// Transaction error (CRC, timeout, bit stuffing, false EOP).
        TRANSACTION_ERROR OFFSET(7) NUMBITS(1) [],
        /// Babble.
        BABBLE OFFSET(8) NUMBITS(1) [],
        /// Frame overrun.
        FRAME_OVERRUN OFFSET(9) NUMBITS(1) [],
        /// Data toggle error.
        TOGGLE_ERROR OFFSET(10) NUMBITS(1) []
    ],
    /// Host channel transfer size (HCTSIZn).
    pub(super) HCTSIZ [
        /// Bytes to transfer (counts down).
        BYTES OFFSET(0) NUMBITS(19) [],
        /// Packets to transfer (counts down).
        PACKETS OFFSET(19) NUMBITS(10) [],
        /// Data PID of the first packet.
        PID OFFSET(29) NUMBITS(2) [Data0 = 0, Data2 = 1, Data1 = 2, Setup = 3]
    ]
}

register_structs! {
    /// One host channel's registers (0x500 + 0x20 × n).
    pub(super) Channel {
        (0x00 => pub(super) hcchar: ReadWrite<u32, HCCHAR::Register>),
        (0x04 => pub(super) hcsplt: ReadWrite<u32>),
        (0x08 => pub(super) hcint: ReadWrite<u32, HCINT::Register>),
        (0x0c => pub(super) hcintmsk: ReadWrite<u32, HCINT::Register>),
        (0x10 => pub(super) hctsiz: ReadWrite<u32, HCTSIZ::Register>),
        (0x14 => pub(super) hcdma: ReadWrite<u32>),
        (0x18 => _reserved),
        (0x20 => @END),
    },

    /// DWC2 core registers: global (0x000), host (0x400), channels (0x500), power (0xE00).
    pub(super) Registers {
        (0x000 => pub(super) gotgctl: ReadWrite<u32>),
        (0x004 => pub(super) gotgint: ReadWrite<u32>),
        (0x008 => pub(super) gahbcfg: ReadWrite<u32, GAHBCFG::Register>),
        (0x00c => pub(super) gusbcfg: ReadWrite<u32, GUSBCFG::Register>),
        (0x010 => pub(super) grstctl: ReadWrite<u32, GRSTCTL::Register>),
        (0x014 => pub(super) gintsts: ReadWrite<u32>),
        (0x018 => pub(super) gintmsk: ReadWrite<u32>),
        (0x01c => _reserved0),
        (0x024 => pub(super) grxfsiz: ReadWrite<u32>),
        (0x028 => pub(super) gnptxfsiz: ReadWrite<u32, FIFO_SIZE::Register>),
        (0x02c => _reserved1),
        (0x040 => pub(super) gsnpsid: ReadOnly<u32>),
        (0x044 => pub(super) ghwcfg1: ReadOnly<u32>),
        (0x048 => pub(super) ghwcfg2: ReadOnly<u32, GHWCFG2::Register>),
        (0x04c => pub(super) ghwcfg3: ReadOnly<u32, GHWCFG3::Register>),
        (0x050 => _reserved2),
        (0x100 => pub(super) hptxfsiz: ReadWrite<u32, FIFO_SIZE::Register>),
        (0x104 => _reserved3),
        (0x400 => pub(super) hcfg: ReadWrite<u32, HCFG::Register>),
        (0x404 => _reserved4),
        (0x408 => pub(super) hfnum: ReadOnly<u32, HFNUM::Register>),
        (0x40c => _reserved5),
        (0x418 => pub(super) haintmsk: ReadWrite<u32>),
        (0x41c => _reserved6),
        (0x440 => pub(super) hprt0: ReadWrite<u32, HPRT0::Register>),
        (0x444 => _reserved7),
        (0x500 => pub(super) channels: [Channel; 16]),
        (0x700 => _reserved8),
        (0xe00 => pub(super) pcgcctl: ReadWrite<u32>),
        (0xe04 => _reserved9),
        (0x1000 => @END),
    }
}
