//! Errors from reading model files and running models.

use alloc::string::String;

/// Why a model file or a request was refused. None of these is retryable without a
/// different file or request.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// The file ends before a structure it declares.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset where it was needed.
        offset: usize,
    },
    /// The file is not what it claims (bad magic, version, count, offset, size...).
    Corrupt(String),
    /// A valid file using something this engine does not implement.
    Unsupported(String),
    /// A tensor or metadata key the model needs is absent.
    Missing(String),
    /// The model would not fit in the memory offered.
    TooLarge {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated { what, offset } => write!(f, "file truncated: {what} at byte {offset} is past the end"),
            Self::Corrupt(why) => write!(f, "corrupt model file: {why}"),
            Self::Unsupported(why) => write!(f, "unsupported: {why}"),
            Self::Missing(what) => write!(f, "missing from the model file: {what}"),
            Self::TooLarge { needed, available } => {
                write!(f, "model needs {} MiB but only {} MiB are free", needed.div_ceil(1 << 20), available >> 20)
            }
        }
    }
}

impl core::error::Error for Error {}
