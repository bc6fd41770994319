//! Write a Kingly OS tool in Rust: build it for `wasm32-unknown-unknown` with
//! `cargo xtask wasm-tool build NAME`, install it on a running board with `tool_install`.
//!
//! ```ignore
//! #![no_std]
//! kingly_tool::tool!(run);
//!
//! fn run(args: &kingly_tool::Args) -> Result<(), kingly_tool::Error> {
//!     let pin = args.int("pin").ok_or(kingly_tool::Error::Message("pin is required"))?;
//!     kingly_tool::gpio::write(pin as u8, true)?;
//!     let mut out = [0u8; 64];
//!     kingly_tool::result(kingly_tool::Json::new(&mut out).int("pin", pin).finish());
//!     Ok(())
//! }
//! ```
//!
//! A tool may call only the host functions its manifest's capabilities grant: the kernel
//! refuses to install a module importing anything else, and a pin, address, path or tool
//! not listed answers [`Status::Denied`]. There is no allocator: arguments are read into a
//! fixed buffer ([`MAX_ARGS`] bytes) and results are written with [`Json`] into a buffer
//! of the tool's own.
//!
//! This crate holds the only `unsafe` code a tool needs: the calls of the imported host
//! functions (`ffi`). It runs inside the kernel's sandbox, where a wrong pointer is a trap
//! of the tool, not of the kernel.
#![no_std]
#![deny(missing_docs)]

mod ffi;
mod json;

pub use json::{Args, Json};

/// Largest arguments text a tool reads.
pub const MAX_ARGS: usize = 4096;

/// A host function's refusal (the kernel's `wasmhost::abi::Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not among the pins, addresses, paths or tools the manifest lists.
    Denied,
    /// A buffer outside memory or text that is not UTF-8.
    BadArgument,
    /// The device or the called tool reported an error (see the kernel log).
    Failed,
    /// The answer does not fit the buffer.
    TooSmall,
    /// No such file or tool.
    NotFound,
    /// The call's deadline would pass.
    Deadline,
    /// A status this SDK does not know.
    Other(i32),
}

impl Status {
    fn check(code: i32) -> Result<usize, Status> {
        match code {
            n if n >= 0 => Ok(n as usize),
            -1 => Err(Status::Denied),
            -2 => Err(Status::BadArgument),
            -3 => Err(Status::Failed),
            -4 => Err(Status::TooSmall),
            -5 => Err(Status::NotFound),
            -6 => Err(Status::Deadline),
            n => Err(Status::Other(n)),
        }
    }

    /// What it means, for a failure message.
    pub fn text(self) -> &'static str {
        match self {
            Status::Denied => "denied: not in the manifest's capabilities",
            Status::BadArgument => "bad argument",
            Status::Failed => "the device or tool reported an error",
            Status::TooSmall => "the answer did not fit the buffer",
            Status::NotFound => "not found",
            Status::Deadline => "the deadline would pass",
            Status::Other(_) => "unknown status",
        }
    }
}

/// Why a tool failed: what the client reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A host function refused.
    Host(Status),
    /// The tool's own message.
    Message(&'static str),
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Error::Host(status)
    }
}

/// Answers the call with a JSON object (it must match the manifest's `outputSchema`).
pub fn result(json: &str) {
    ffi::result(json.as_bytes());
}

/// Fails the call with a message (an `isError` result).
pub fn fail(message: &str) {
    ffi::fail(message.as_bytes());
}

/// Writes a line to the kernel log (capability `log`).
pub fn log(message: &str) {
    ffi::log(message.as_bytes());
}

/// The clock (capability `time`).
pub mod time {
    use super::{ffi, Status};

    /// Microseconds since the board booted.
    pub fn now_us() -> u64 {
        ffi::now_us() as u64
    }

    /// Waits `ms` milliseconds (counted against the call's deadline).
    pub fn sleep_ms(ms: u32) -> Result<(), Status> {
        Status::check(ffi::sleep_ms(ms.min(i32::MAX as u32) as i32)).map(|_| ())
    }
}

/// GPIO pins listed in the manifest's `capabilities.gpio` (BCM numbers).
pub mod gpio {
    use super::{ffi, Status};

    /// Drives `pin` high or low (it becomes an output).
    pub fn write(pin: u8, high: bool) -> Result<(), Status> {
        Status::check(ffi::gpio_write(i32::from(pin), i32::from(high))).map(|_| ())
    }

    /// Reads `pin`.
    pub fn read(pin: u8) -> Result<bool, Status> {
        Status::check(ffi::gpio_read(i32::from(pin))).map(|level| level != 0)
    }
}

/// I2C devices at the addresses listed in `capabilities.i2c`.
pub mod i2c {
    use super::{ffi, Status};

    /// Writes `write` (e.g. a register number), then reads into `read`; the bytes read.
    pub fn write_read(address: u8, write: &[u8], read: &mut [u8]) -> Result<usize, Status> {
        Status::check(ffi::i2c_write_read(address, write, read))
    }
}

/// The SPI bus (capability `spi`).
pub mod spi {
    use super::{ffi, Status};

    /// Exchanges `data` in place.
    pub fn transfer(data: &mut [u8]) -> Result<usize, Status> {
        Status::check(ffi::spi_transfer(data))
    }
}

/// Files under the paths listed in `capabilities.files` (read-only).
pub mod fs {
    use super::{ffi, Status};

    /// Reads from `path` at `offset` into `buffer`; the bytes read.
    pub fn read(path: &str, offset: u32, buffer: &mut [u8]) -> Result<usize, Status> {
        Status::check(ffi::file_read(path.as_bytes(), offset.min(i32::MAX as u32) as i32, buffer))
    }
}

/// Calls a read-only built-in tool listed in `capabilities.tools` with JSON arguments;
/// its structured result is written to `out`, and its length returned.
pub fn call_tool(name: &str, arguments: &str, out: &mut [u8]) -> Result<usize, Status> {
    Status::check(ffi::tool_call(name.as_bytes(), arguments.as_bytes(), out))
}

/// Runs a tool body: reads the arguments, calls `body`, answers `fail` on an error.
/// [`tool!`] calls it from the module's exported `call`.
pub fn run(body: fn(&Args) -> Result<(), Error>) -> i32 {
    let mut buffer = [0u8; MAX_ARGS];
    let args = match Status::check(ffi::args_read(&mut buffer)) {
        Ok(n) => Args::new(core::str::from_utf8(&buffer[..n.min(MAX_ARGS)]).unwrap_or("{}")),
        Err(status) => {
            fail(status.text());
            return 1;
        }
    };
    match body(&args) {
        Ok(()) => 0,
        Err(Error::Message(message)) => {
            fail(message);
            1
        }
        Err(Error::Host(status)) => {
            fail(status.text());
            1
        }
    }
}

/// Declares the tool's entry point: `kingly_tool::tool!(run);` with
/// `fn run(args: &Args) -> Result<(), Error>`.
#[macro_export]
macro_rules! tool {
    ($body:path) => {
        /// The entry point the kernel calls.
        #[no_mangle]
        pub extern "C" fn call() -> i32 {
            $crate::run($body)
        }
    };
}

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    fail("the tool panicked");
    core::arch::wasm32::unreachable()
}
