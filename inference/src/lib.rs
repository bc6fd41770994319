//! Kingly OS inference engine: `#![no_std]` + `alloc`, no hardware knowledge.
//!
//! # Layers
//! Model files are untrusted bytes. [`gguf`] (and [`llama2c`]) check every offset, size,
//! type and alignment against the one contiguous slice that holds the file and hand out
//! borrowed tensor views — weights are never copied. [`quant`] holds one block format per
//! type with its dequantization and dot product ([`quant::Tensor::matvec`] quantizes the
//! activations to Q8_0 on the fly for the 32-weight formats, as llama.cpp does).
//! [`model`] is the Llama forward pass, readable top to bottom; [`tokenizer`] is
//! SentencePiece BPE; [`sampler`] picks tokens; [`generate`] streams tokens through a
//! callback that can stop generation.
//!
//! SIMD: [`quant::neon`] (AArch64, plain ARMv8.0 NEON — no SDOT) beside
//! [`quant::scalar`], tested equal. Row-parallel matrix-vector products go through [`quant::Parallel`], which the kernel
//! implements with its compute cores; [`quant::Serial`] runs everywhere.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod chat;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod llama2c;
pub mod model;
pub mod quant;
pub mod sampler;
pub mod tokenizer;
pub mod writer;

pub use error::Error;
