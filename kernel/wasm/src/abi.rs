//! The ABI between the kernel and a tool module: one table of every host function, its
//! signature and the capability that grants it. The sandbox links only the rows a manifest
//! grants, and install refuses a module that imports anything else; the SDK
//! (`kernel/wasm/sdk`) declares the same functions.
//!
//! A module exports `memory` and `call() -> i32`. It reads its arguments (the JSON text of
//! the `arguments` object) with `args_len`/`args_read`, answers with `result` (the JSON
//! text of an object matching its output schema) or `fail` (a message), and returns 0;
//! any other return value is a failure too. Host functions that can fail return a negative
//! [`Status`]; pointers and lengths are checked against the module's memory.

/// A value type of the host functions' signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
}

/// What grants a host function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Every module (arguments and answers).
    Always,
    /// `capabilities.log`.
    Log,
    /// `capabilities.time`.
    Time,
    /// `capabilities.gpio` (the pins listed).
    Gpio,
    /// `capabilities.i2c` (the addresses listed).
    I2c,
    /// `capabilities.spi`.
    Spi,
    /// `capabilities.files` (the paths listed).
    Files,
    /// `capabilities.tools` (the tools listed).
    Tools,
}

/// One host function.
#[derive(Clone, Copy, Debug)]
pub struct Import {
    /// Its name in the `kingly` import module.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [Ty],
    /// Result types.
    pub results: &'static [Ty],
    /// What grants it.
    pub grant: Grant,
    /// It changes the machine: a tool declared read-only may not import it.
    pub writes: bool,
}

/// The import module every host function lives in.
pub const MODULE: &str = "kingly";

use Ty::{I32, I64};

/// Every host function.
pub const IMPORTS: &[Import] = &[
    Import { name: "args_len", params: &[], results: &[I32], grant: Grant::Always, writes: false },
    Import { name: "args_read", params: &[I32, I32], results: &[I32], grant: Grant::Always, writes: false },
    Import { name: "result", params: &[I32, I32], results: &[], grant: Grant::Always, writes: false },
    Import { name: "fail", params: &[I32, I32], results: &[], grant: Grant::Always, writes: false },
    Import { name: "log", params: &[I32, I32], results: &[], grant: Grant::Log, writes: false },
    Import { name: "now_us", params: &[], results: &[I64], grant: Grant::Time, writes: false },
    Import { name: "sleep_ms", params: &[I32], results: &[I32], grant: Grant::Time, writes: false },
    Import { name: "gpio_write", params: &[I32, I32], results: &[I32], grant: Grant::Gpio, writes: true },
    Import { name: "gpio_read", params: &[I32], results: &[I32], grant: Grant::Gpio, writes: false },
    Import {
        name: "i2c_write_read",
        params: &[I32, I32, I32, I32, I32],
        results: &[I32],
        grant: Grant::I2c,
        writes: false,
    },
    Import { name: "spi_transfer", params: &[I32, I32], results: &[I32], grant: Grant::Spi, writes: true },
    Import {
        name: "file_read",
        params: &[I32, I32, I32, I32, I32],
        results: &[I32],
        grant: Grant::Files,
        writes: false,
    },
    Import {
        name: "tool_call",
        params: &[I32, I32, I32, I32, I32, I32],
        results: &[I32],
        grant: Grant::Tools,
        writes: false,
    },
];

/// The row of host function `name`.
pub fn import(name: &str) -> Option<&'static Import> {
    IMPORTS.iter().find(|i| i.name == name)
}

/// Negative results of host functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// The pin, address, path or tool is not among those the manifest lists.
    Denied = -1,
    /// A pointer or length outside the module's memory, or text that is not UTF-8.
    BadArgument = -2,
    /// The device or the called tool reported an error (the log says which).
    Failed = -3,
    /// The answer does not fit the buffer given.
    TooSmall = -4,
    /// The file or tool does not exist.
    NotFound = -5,
    /// The call's deadline would pass.
    Deadline = -6,
}

/// What `call` returns when the tool succeeded.
pub const OK: i32 = 0;
