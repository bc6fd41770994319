//! GGUF v3 writer: metadata and tensors to bytes (for importing llama2.c checkpoints and
//! for test models). Files it writes are read back by [`crate::gguf`] and by llama.cpp.
//!
//! Small files are built in memory ([`Writer::tensor`], then [`Writer::to_bytes`]). Large
//! ones are streamed: [`Writer::declare`] each tensor (name, shape, type — no data), write
//! [`Writer::header`], then each tensor's bytes in declaration order, each followed by
//! [`padding`] zero bytes, so a 1 GB model never has to be in memory twice.

use crate::quant::DType;
use alloc::{string::String, vec::Vec};

/// A metadata value to write.
#[derive(Clone, Debug)]
pub enum Meta {
    /// u32.
    U32(u32),
    /// f32.
    F32(f32),
    /// bool.
    Bool(bool),
    /// string.
    Str(String),
    /// array of strings.
    Strings(Vec<String>),
    /// array of f32.
    F32s(Vec<f32>),
    /// array of i32.
    I32s(Vec<i32>),
}

/// Collects metadata and tensors, then serializes them.
#[derive(Default)]
pub struct Writer {
    metadata: Vec<(String, Meta)>,
    tensors: Vec<Entry>,
}

/// One tensor: name, dims (fastest first), type, data size, and the data unless only
/// declared (streamed by the caller).
struct Entry {
    name: String,
    dims: Vec<u64>,
    dtype: DType,
    size: usize,
    data: Vec<u8>,
}

/// Alignment of every tensor's data (GGUF's default `general.alignment`).
pub const ALIGNMENT: usize = 32;

/// Zero bytes that follow a tensor of `len` bytes so that the next one starts aligned (at
/// the default alignment; a file that sets `general.alignment` uses
/// [`Writer::padding_for`]).
pub fn padding(len: usize) -> usize {
    padding_to(len, ALIGNMENT)
}

fn padding_to(len: usize, alignment: usize) -> usize {
    len.div_ceil(alignment) * alignment - len
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Writer {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metadata entry.
    pub fn meta(&mut self, key: &str, value: Meta) {
        self.metadata.push((key.into(), value));
    }

    /// Adds a tensor: `dims` fastest-varying first, `data` already in `dtype`'s layout.
    pub fn tensor(&mut self, name: &str, dims: &[u64], dtype: DType, data: Vec<u8>) {
        self.tensors.push(Entry { name: name.into(), dims: dims.to_vec(), dtype, size: data.len(), data });
    }

    /// Declares a tensor whose data the caller streams after [`Writer::header`]; returns
    /// its size in bytes, or `None` when the shape is not whole blocks of `dtype`.
    pub fn declare(&mut self, name: &str, dims: &[u64], dtype: DType) -> Option<usize> {
        let weights = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?))?;
        let size = dtype.bytes_for(weights)?;
        self.tensors.push(Entry { name: name.into(), dims: dims.to_vec(), dtype, size, data: Vec::new() });
        Some(size)
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header();
        for entry in &self.tensors {
            out.extend_from_slice(&entry.data);
            out.resize(out.len() + self.padding_for(entry.data.len()), 0);
        }
        out
    }

    /// The data alignment: `general.alignment` when the metadata sets it (a power of two),
    /// else GGUF's default of 32.
    pub fn alignment(&self) -> usize {
        self.metadata
            .iter()
            .find_map(|(k, v)| match (k.as_str(), v) {
                ("general.alignment", Meta::U32(a)) if a.is_power_of_two() => Some(*a as usize),
                _ => None,
            })
            .unwrap_or(ALIGNMENT)
    }

    /// Zero bytes after a tensor of `len` bytes in this file.
    pub fn padding_for(&self, len: usize) -> usize {
        padding_to(len, self.alignment())
    }

    /// Everything before the first tensor's data: magic, metadata, the tensor table, and
    /// padding up to the aligned data start.
    pub fn header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            string(&mut out, key);
            match value {
                Meta::U32(v) => {
                    out.extend_from_slice(&4u32.to_le_bytes());
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Meta::F32(v) => {
                    out.extend_from_slice(&6u32.to_le_bytes());
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Meta::Bool(v) => {
                    out.extend_from_slice(&7u32.to_le_bytes());
                    out.push(*v as u8);
                }
                Meta::Str(s) => {
                    out.extend_from_slice(&8u32.to_le_bytes());
                    string(&mut out, s);
                }
                Meta::Strings(items) => {
                    out.extend_from_slice(&9u32.to_le_bytes());
                    out.extend_from_slice(&8u32.to_le_bytes());
                    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for s in items {
                        string(&mut out, s);
                    }
                }
                Meta::F32s(items) => {
                    out.extend_from_slice(&9u32.to_le_bytes());
                    out.extend_from_slice(&6u32.to_le_bytes());
                    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for v in items {
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
                Meta::I32s(items) => {
                    out.extend_from_slice(&9u32.to_le_bytes());
                    out.extend_from_slice(&5u32.to_le_bytes());
                    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for v in items {
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        let mut offset = 0usize;
        for Entry { name, dims, dtype, size, .. } in &self.tensors {
            string(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&DType::ggml_id(*dtype).to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset += size + self.padding_for(*size);
        }
        out.resize(out.len() + self.padding_for(out.len()), 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::Gguf;
    use alloc::vec;

    /// Streaming (declare, header, data + padding) writes the same bytes as building in
    /// memory, and the reader finds each tensor where it was streamed.
    #[test]
    fn streamed_file_equals_the_in_memory_one() {
        let tensors = [("a", vec![3u64], DType::F32, vec![1u8; 12]), ("b", vec![32, 2], DType::Q8_0, vec![7u8; 68])];
        let (mut memory, mut streamed) = (Writer::new(), Writer::new());
        for w in [&mut memory, &mut streamed] {
            w.meta("general.architecture", Meta::Str("llama".into()));
        }
        let mut body = Vec::new();
        for (name, dims, dtype, data) in &tensors {
            memory.tensor(name, dims, *dtype, data.clone());
            assert_eq!(streamed.declare(name, dims, *dtype), Some(data.len()));
            body.extend_from_slice(data);
            body.resize(body.len() + padding(data.len()), 0);
        }
        let mut file = streamed.header();
        assert_eq!(file.len() % ALIGNMENT, 0);
        file.extend_from_slice(&body);
        assert_eq!(file, memory.to_bytes());
        let gguf = Gguf::parse(&file).unwrap();
        assert_eq!(gguf.tensor("b").unwrap().data, &[7u8; 68][..]);
        assert_eq!(streamed.declare("c", &[31], DType::Q4_0), None, "31 weights are not whole Q4_0 blocks");
    }

    #[test]
    fn tensor_data_follows_general_alignment() {
        // Before the fix the writer always padded to 32 bytes, so a file declaring
        // alignment 64 put its second tensor at a 32-byte offset and failed to read back.
        for alignment in [32u32, 64, 256] {
            let mut w = Writer::new();
            w.meta("general.alignment", Meta::U32(alignment));
            w.tensor("a", &[3], DType::F32, vec![1; 12]);
            w.tensor("b", &[5], DType::F32, vec![2; 20]);
            let bytes = w.to_bytes();
            let g = Gguf::parse(&bytes).expect("reads back");
            assert_eq!(g.alignment, alignment as usize);
            for t in &g.tensors {
                assert_eq!(t.range.start % alignment as usize, 0, "{} at {:?}", t.name, t.range);
            }
            assert_eq!(g.tensor("b").unwrap().data, &[2; 20]);
        }
    }
}
