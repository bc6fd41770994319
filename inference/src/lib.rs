//! Kingly OS inference engine: `#![no_std]` + `alloc`, no hardware knowledge.
//!
//! # Layers
//! Model files are untrusted bytes. [`gguf`] (and [`llama2c`]) check every offset, size,
//! type and alignment against the one contiguous slice that holds the file and hand out
//! borrowed tensor views — weights are never copied, and a corrupt file is an [`Error`],
//! never a panic. [`gguf::Gguf::parse_header`] reads just the header, so
//! [`model::memory_estimate`] can refuse a model before its weights are read.
//!
//! [`quant`] holds the block formats (F32, F16, Q8_0, Q4_0, Q4_K, Q6_K) with their
//! dequantization, quantizers and dot products; matrix-vector products quantize the
//! activations on the fly (Q8_0 for the 32-weight formats, Q8_K for the K-quants) and
//! multiply in integers, as llama.cpp does. [`model`] is the one Llama forward pass;
//! [`tokenizer`] is SentencePiece BPE with a streaming decoder; [`sampler`] picks tokens;
//! [`generate`] streams tokens through a callback that can stop generation; [`chat`] lays out
//! prompts (plain or TinyLlama's Zephyr format); [`writer`] writes GGUF and [`synthetic`] lists the tensors
//! of a model of a given shape, for test models with made-up weights.
//!
//! # SIMD and parallelism
//! `quant::neon` (AArch64 only; plain ARMv8.0 NEON — no SDOT, no FP16 arithmetic) has the
//! same functions as [`quant::scalar`] and is tested bit-identical to it
//! (`QEMU_CPU=cortex-a53 cargo test -p inference --target aarch64-unknown-linux-musl`);
//! `quant::avx2` (x86_64 only; AVX2, and AVX-512 VNNI where present, detected at run time)
//! likewise for the host. They are the only modules allowed `unsafe`. Row-parallel matrix-vector products go through
//! [`quant::Parallel`], which the kernel implements with its compute cores;
//! [`quant::Serial`] runs everywhere.
//!
//! # Extending
//! A new quant format: a [`quant::DType`] variant (id, block size), its block decode in
//! [`quant::dequantize_block`], a row dot in `quant/scalar.rs` (and `quant/neon.rs` and
//! `quant/avx2.rs`, or there a call to the scalar one), one arm in
//! [`quant::Tensor::row_dot`], and a case in the kernel-equality and naive-forward tests.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod chat;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod intent;
pub mod llama2c;
pub mod model;
pub mod quant;
pub mod sampler;
pub mod synthetic;
pub mod tokenizer;
pub mod writer;

pub use error::Error;
