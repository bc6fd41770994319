//! Test support shared by every crate's tests (and the kernel's test hooks).
//!
//! - [`Rng`]: one seeded generator (xorshift64*) for fuzz inputs, random weights and
//!   mutation tests, so a failing case is reproduced from its seed. `no_std`.
//! - [`require`]: the one rule for missing prerequisites (a fixture, a QEMU machine, an
//!   emulator, a Python package). Under `cargo xtask test` (which sets `KINGLY_REQUIRE=1`)
//!   a missing one fails the test with a message; a plain `cargo test` skips and says so.
//! - [`fixture`]: real model files from `../shared/fixtures` (outside the repository).
//! - [`process::Guard`]: a child process (QEMU, a bridge, a server) that is stopped when the
//!   guard is dropped, on every path out of a test.
//! - [`alloc_counter`]: a counting global allocator (the crate's one `unsafe`: forwarding
//!   to the system allocator).
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

mod rng;
pub use rng::Rng;

#[cfg(feature = "std")]
pub mod alloc_counter;
#[cfg(feature = "std")]
pub mod process;
#[cfg(feature = "std")]
mod require;
#[cfg(feature = "std")]
pub use require::{env_path, fixture, fixture_path, missing, required, shared_dir};
