//! DWC2 register map: core global (0x000), host (0x400), host channels (0x500), device
//! (0x800), device endpoints (0x900 IN, 0xB00 OUT), power and clock gating (0xE00). Field
//! names follow the databook (and Linux's `dwc2/hw.h`); only what the host and device
//! drivers use is declared.

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
        /// USB turnaround time in PHY clocks (device mode: 9 for an 8-bit UTMI+ PHY).
        TURNAROUND OFFSET(10) NUMBITS(4) [],
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
    /// OTG control (GOTGCTL): the B-session override a device without VBUS sensing needs.
    pub(super) GOTGCTL [
        /// Override the B-valid signal with B_VALID_VALUE.
        B_VALID_OVERRIDE OFFSET(6) NUMBITS(1) [],
        /// The B-valid value while overridden.
        B_VALID_VALUE OFFSET(7) NUMBITS(1) [],
        /// B-session valid (VBUS present), read only.
        B_SESSION_VALID OFFSET(19) NUMBITS(1) []
    ],
    /// OTG interrupt (GOTGINT, write 1 to clear).
    pub(super) GOTGINT [
        /// Session end detected: VBUS went away (the cable was pulled).
        SESSION_END OFFSET(2) NUMBITS(1) []
    ],
    /// Core interrupt status (GINTSTS). The event bits are write-1-to-clear; IEPINT and
    /// OEPINT summarise DAINT and clear with the endpoint flags.
    pub(super) GINTSTS [
        /// Current mode: 1 = host.
        CURRENT_MODE OFFSET(0) NUMBITS(1) [],
        /// OTG interrupt (see GOTGINT).
        OTG OFFSET(2) NUMBITS(1) [],
        /// Start of (micro)frame.
        START_OF_FRAME OFFSET(3) NUMBITS(1) [],
        /// Global OUT NAK in effect.
        GLOBAL_OUT_NAK_EFFECTIVE OFFSET(7) NUMBITS(1) [],
        /// Early suspend.
        EARLY_SUSPEND OFFSET(10) NUMBITS(1) [],
        /// The bus went idle for 3 ms: suspend.
        SUSPEND OFFSET(11) NUMBITS(1) [],
        /// A bus reset started.
        USB_RESET OFFSET(12) NUMBITS(1) [],
        /// The reset ended; DSTS has the enumerated speed.
        ENUMERATION_DONE OFFSET(13) NUMBITS(1) [],
        /// An IN endpoint interrupted (see DAINT).
        IN_ENDPOINT OFFSET(18) NUMBITS(1) [],
        /// An OUT endpoint interrupted (see DAINT).
        OUT_ENDPOINT OFFSET(19) NUMBITS(1) [],
        /// Disconnect (host mode).
        DISCONNECT OFFSET(29) NUMBITS(1) [],
        /// Session request / new session (VBUS came).
        SESSION_REQUEST OFFSET(30) NUMBITS(1) [],
        /// Resume or remote wakeup detected.
        WAKEUP OFFSET(31) NUMBITS(1) []
    ],
    /// Device configuration (DCFG).
    pub(super) DCFG [
        /// Speed to enumerate at.
        DEVICE_SPEED OFFSET(0) NUMBITS(2) [High = 0, FullOnHighSpeedPhy = 1, Full = 3],
        /// STALL (and discard) a non-zero-length status OUT of a control read.
        NONZERO_STATUS_STALL OFFSET(2) NUMBITS(1) [],
        /// The device address (SET_ADDRESS).
        ADDRESS OFFSET(4) NUMBITS(7) []
    ],
    /// Device control (DCTL).
    pub(super) DCTL [
        /// Signal remote wakeup.
        REMOTE_WAKEUP OFFSET(0) NUMBITS(1) [],
        /// Soft disconnect: the host sees the device unplugged while set.
        SOFT_DISCONNECT OFFSET(1) NUMBITS(1) [],
        /// Set global OUT NAK.
        SET_GLOBAL_OUT_NAK OFFSET(9) NUMBITS(1) [],
        /// Clear global OUT NAK.
        CLEAR_GLOBAL_OUT_NAK OFFSET(10) NUMBITS(1) [],
        /// Power-on programming done (after a wake from partial power down).
        POWER_ON_PROGRAMMING_DONE OFFSET(11) NUMBITS(1) []
    ],
    /// Device status (DSTS, read only).
    pub(super) DSTS [
        /// Suspended.
        SUSPENDED OFFSET(0) NUMBITS(1) [],
        /// The speed enumerated at.
        ENUMERATED_SPEED OFFSET(1) NUMBITS(2) [High = 0, Full = 1, Low = 2, Full48MHz = 3],
        /// Frame number of the last SOF.
        FRAME OFFSET(8) NUMBITS(14) []
    ],
    /// Device endpoint control (DIEPCTLn / DOEPCTLn). On endpoint 0, MAX_PACKET holds a
    /// code (0 = 64, 1 = 32, 2 = 16, 3 = 8 bytes) and the endpoint is always active.
    pub(super) DEPCTL [
        /// Max packet size (endpoint 0: the code above).
        MAX_PACKET OFFSET(0) NUMBITS(11) [],
        /// The endpoint is active in the current configuration.
        ACTIVE OFFSET(15) NUMBITS(1) [],
        /// The core NAKs this endpoint (read only).
        NAK_STATUS OFFSET(17) NUMBITS(1) [],
        /// Endpoint type.
        TYPE OFFSET(18) NUMBITS(2) [Control = 0, Isochronous = 1, Bulk = 2, Interrupt = 3],
        /// Answer STALL.
        STALL OFFSET(21) NUMBITS(1) [],
        /// IN endpoints: the transmit FIFO it uses.
        TX_FIFO OFFSET(22) NUMBITS(4) [],
        /// Clear NAK (write only).
        CLEAR_NAK OFFSET(26) NUMBITS(1) [],
        /// Set NAK (write only).
        SET_NAK OFFSET(27) NUMBITS(1) [],
        /// Reset the data toggle to DATA0 (write only).
        SET_DATA0 OFFSET(28) NUMBITS(1) [],
        /// Disable the endpoint (stops a transfer; self-clearing).
        DISABLE OFFSET(30) NUMBITS(1) [],
        /// Enable: arm the transfer programmed in the size and DMA registers (the core
        /// clears it when the transfer completes).
        ENABLE OFFSET(31) NUMBITS(1) []
    ],
    /// Device IN endpoint interrupt flags (DIEPINTn, write 1 to clear).
    pub(super) DIEPINT [
        /// Transfer completed.
        COMPLETE OFFSET(0) NUMBITS(1) [],
        /// The endpoint was disabled.
        DISABLED OFFSET(1) NUMBITS(1) [],
        /// AHB (DMA) error.
        AHB_ERROR OFFSET(2) NUMBITS(1) [],
        /// Timeout (control IN).
        TIMEOUT OFFSET(3) NUMBITS(1) [],
        /// IN token received with the FIFO empty.
        TOKEN_FIFO_EMPTY OFFSET(4) NUMBITS(1) [],
        /// IN endpoint NAK effective.
        NAK_EFFECTIVE OFFSET(6) NUMBITS(1) []
    ],
    /// Device OUT endpoint interrupt flags (DOEPINTn, write 1 to clear).
    pub(super) DOEPINT [
        /// Transfer completed.
        COMPLETE OFFSET(0) NUMBITS(1) [],
        /// The endpoint was disabled.
        DISABLED OFFSET(1) NUMBITS(1) [],
        /// AHB (DMA) error.
        AHB_ERROR OFFSET(2) NUMBITS(1) [],
        /// Setup phase done (endpoint 0): the SETUP packets are in memory.
        SETUP_DONE OFFSET(3) NUMBITS(1) [],
        /// OUT token received while the endpoint was disabled.
        TOKEN_DISABLED OFFSET(4) NUMBITS(1) [],
        /// More than three back-to-back SETUP packets.
        BACK_TO_BACK_SETUP OFFSET(6) NUMBITS(1) []
    ],
    /// Device endpoint transfer size (DIEPTSIZn / DOEPTSIZn). Endpoint 0 has 7 size bits
    /// and (IN) 2 or (OUT) 1 packet bits; the wider fields are masked by the core there.
    pub(super) DEPTSIZ [
        /// Bytes to transfer (counts down).
        BYTES OFFSET(0) NUMBITS(19) [],
        /// Packets to transfer (counts down).
        PACKETS OFFSET(19) NUMBITS(10) [],
        /// OUT endpoint 0: back-to-back SETUP packets it may still receive (3 at most).
        SETUP_COUNT OFFSET(29) NUMBITS(2) []
    ],
    /// Device all-endpoints interrupt and mask (DAINT, DAINTMSK).
    pub(super) DAINT [
        /// IN endpoints, one bit each.
        IN OFFSET(0) NUMBITS(16) [],
        /// OUT endpoints, one bit each.
        OUT OFFSET(16) NUMBITS(16) []
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

    /// One device endpoint's registers (IN at 0x900 + 0x20 × n, OUT at 0xB00 + 0x20 × n).
    pub(super) Endpoint {
        (0x00 => pub(super) control: ReadWrite<u32, DEPCTL::Register>),
        (0x04 => _reserved0),
        (0x08 => pub(super) interrupt: ReadWrite<u32>),
        (0x0c => _reserved1),
        (0x10 => pub(super) size: ReadWrite<u32, DEPTSIZ::Register>),
        (0x14 => pub(super) dma: ReadWrite<u32>),
        (0x18 => pub(super) tx_fifo_status: ReadOnly<u32>),
        (0x1c => _reserved2),
        (0x20 => @END),
    },

    /// DWC2 core registers: global (0x000), host (0x400), channels (0x500), device (0x800),
    /// device endpoints (0x900, 0xB00), power (0xE00).
    pub(super) Registers {
        (0x000 => pub(super) gotgctl: ReadWrite<u32, GOTGCTL::Register>),
        (0x004 => pub(super) gotgint: ReadWrite<u32, GOTGINT::Register>),
        (0x008 => pub(super) gahbcfg: ReadWrite<u32, GAHBCFG::Register>),
        (0x00c => pub(super) gusbcfg: ReadWrite<u32, GUSBCFG::Register>),
        (0x010 => pub(super) grstctl: ReadWrite<u32, GRSTCTL::Register>),
        (0x014 => pub(super) gintsts: ReadWrite<u32, GINTSTS::Register>),
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
        (0x104 => pub(super) dieptxf: [ReadWrite<u32, FIFO_SIZE::Register>; 15]),
        (0x140 => _reserved3),
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
        (0x800 => pub(super) dcfg: ReadWrite<u32, DCFG::Register>),
        (0x804 => pub(super) dctl: ReadWrite<u32, DCTL::Register>),
        (0x808 => pub(super) dsts: ReadOnly<u32, DSTS::Register>),
        (0x80c => _reserved10),
        (0x810 => pub(super) diepmsk: ReadWrite<u32>),
        (0x814 => pub(super) doepmsk: ReadWrite<u32>),
        (0x818 => pub(super) daint: ReadOnly<u32, DAINT::Register>),
        (0x81c => pub(super) daintmsk: ReadWrite<u32, DAINT::Register>),
        (0x820 => _reserved11),
        (0x900 => pub(super) in_endpoints: [Endpoint; 16]),
        (0xb00 => pub(super) out_endpoints: [Endpoint; 16]),
        (0xd00 => _reserved12),
        (0xe00 => pub(super) pcgcctl: ReadWrite<u32>),
        (0xe04 => _reserved9),
        (0x1000 => @END),
    }
}
