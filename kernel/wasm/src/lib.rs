//! Tools installed at run time as WebAssembly modules: the manifest a tool is described
//! by, the ABI of its host functions, the sandbox it runs in and the bundle it is kept in
//! on the card. No hardware here: the kernel gives the sandbox a [`sandbox::Host`] over
//! its drivers, and the host tests give it a model.
//!
//! - [`manifest`]: name, schemas, annotations, capabilities, budget; parsed strictly.
//! - [`abi`]: every host function, its signature and the capability that grants it.
//! - [`sandbox`]: compile with the imports checked against the manifest; call with fuel,
//!   a memory cap and a deadline; the answer checked against the output schema.
//! - [`bundle`]: manifest and module in one file, as kept on the card.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod abi;
pub mod bundle;
pub mod manifest;
pub mod sandbox;

pub use manifest::Manifest;
pub use sandbox::{Answer, Host, Sandbox, Tool};

use alloc::string::String;

/// The kernel's maxima and defaults for installed tools.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest module.
    pub module_bytes: usize,
    /// Largest manifest text.
    pub manifest_bytes: usize,
    /// Largest schema text (each).
    pub schema_bytes: usize,
    /// Largest answer (`result` or `fail` text).
    pub answer_bytes: usize,
    /// Fuel per call when the manifest names none, and the most it may name.
    pub default_fuel: u64,
    /// See `default_fuel`.
    pub max_fuel: u64,
    /// Linear memory cap (KiB) when the manifest names none, and the most it may name.
    pub default_memory_kib: u32,
    /// See `default_memory_kib`.
    pub max_memory_kib: u32,
    /// Deadline (ms) when the manifest names none, and the most it may name.
    pub default_deadline_ms: u32,
    /// See `default_deadline_ms`.
    pub max_deadline_ms: u32,
    /// Largest table.
    pub table_elements: usize,
    /// Most tools installed at once.
    pub installed: usize,
}

/// The limits this kernel applies.
pub const LIMITS: Limits = Limits {
    // A base64 module and its manifest must fit one 64 KiB MCP message.
    module_bytes: 40 * 1024,
    manifest_bytes: 8 * 1024,
    schema_bytes: 4 * 1024,
    answer_bytes: 16 * 1024,
    default_fuel: 10_000_000,
    max_fuel: 2_000_000_000,
    default_memory_kib: 256,
    max_memory_kib: 4096,
    default_deadline_ms: 1_000,
    max_deadline_ms: 10_000,
    table_elements: 10_000,
    installed: 32,
};

/// Why a tool was not installed or a call did not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The manifest is not valid.
    Manifest(String),
    /// The module is not valid WebAssembly, or lacks the exports a tool needs.
    Module(String),
    /// The module imports something its manifest does not grant, or that does not exist.
    Import(String),
    /// The module trapped (unreachable, out-of-bounds access, division by zero...).
    Trap(String),
    /// The call used all its fuel.
    OutOfFuel {
        /// The budget.
        fuel: u64,
    },
    /// The call ran past its wall-clock deadline.
    Deadline {
        /// The deadline.
        ms: u64,
    },
    /// The module's memory would grow past its cap.
    Memory {
        /// The size asked for.
        asked: usize,
        /// The cap.
        cap: usize,
    },
    /// The tool reported a failure (its `fail` message, or a non-zero status).
    Failed(String),
    /// The tool's answer is not a JSON object matching its output schema.
    BadAnswer(String),
    /// A bundle on the card is damaged.
    Bundle(String),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Manifest(why) => write!(f, "manifest refused: {why}"),
            Error::Module(why) => write!(f, "module refused: {why}"),
            Error::Import(why) => write!(f, "import refused: {why}"),
            Error::Trap(why) => write!(f, "the tool trapped: {why}"),
            Error::OutOfFuel { fuel } => write!(f, "the tool was stopped after its fuel ({fuel} units) ran out"),
            Error::Deadline { ms } => write!(f, "the tool was stopped at its deadline ({ms} ms)"),
            Error::Memory { asked, cap } => {
                write!(
                    f,
                    "the tool was stopped: its memory would grow to {} KiB, over its cap of {} KiB",
                    asked / 1024,
                    cap / 1024
                )
            }
            Error::Failed(why) => write!(f, "{why}"),
            Error::BadAnswer(why) => write!(f, "the tool answered badly: {why}"),
            Error::Bundle(why) => write!(f, "damaged tool bundle: {why}"),
        }
    }
}
