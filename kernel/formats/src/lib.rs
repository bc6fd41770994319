//! Byte formats the kernel reads from sources it does not control: the card's settings
//! file ([`settings`]), its partition table ([`mbr`]) and FAT32 cluster chains ([`fat32`]); [`base64`] for binary contents; and [`boot_files`], the files a write must not touch.
//! From the network: [`dhcp`] (the server the USB gadget's link runs) and [`mdns`] (the
//! responder that makes `kingly.local` and the MCP service findable), and [`mqtt`], the MQTT 5
//! packets a broker exchanges with the board.
//!
//! `#![no_std]` + `alloc`, no hardware, no unsafe: the kernel links it, and it is tested (and
//! fuzzed by mutation) on the host. Every parser takes arbitrary bytes and returns either a
//! value or an error that says what was wrong; none of them panics.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod base64;
pub mod boot_files;
pub mod dhcp;
pub mod fat32;
pub mod mbr;
pub mod mdns;
pub mod mqtt;
pub mod settings;
