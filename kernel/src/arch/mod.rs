//! Architecture-specific code. Only AArch64 is supported; generic kernel code uses the items
//! re-exported here and never names `aarch64_cpu` itself.

pub mod aarch64;
pub use aarch64::*;
