//! GGUF v3 writer: metadata and tensors to bytes (for importing llama2.c checkpoints and
//! for test models). Files it writes are read back by [`crate::gguf`] and by llama.cpp.

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
    tensors: Vec<(String, Vec<u64>, DType, Vec<u8>)>,
}

/// Data alignment when the metadata sets no `general.alignment` (GGUF's default).
const DEFAULT_ALIGNMENT: usize = 32;

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn ggml_type(dtype: DType) -> u32 {
    match dtype {
        DType::F32 => 0,
        DType::F16 => 1,
        DType::Q4_0 => 2,
        DType::Q8_0 => 8,
        DType::Q4K => 12,
        DType::Q6K => 14,
    }
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
        self.tensors.push((name.into(), dims.to_vec(), dtype, data));
    }

    /// The alignment of tensor data: `general.alignment` when set as a power-of-two U32
    /// (readers reject any other value), else 32.
    fn alignment(&self) -> usize {
        self.metadata
            .iter()
            .find_map(|(key, value)| match value {
                Meta::U32(a) if key == "general.alignment" && a.is_power_of_two() => Some(*a as usize),
                _ => None,
            })
            .unwrap_or(DEFAULT_ALIGNMENT)
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let alignment = self.alignment();
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
        for (name, dims, dtype, data) in &self.tensors {
            string(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&ggml_type(*dtype).to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset = (offset + data.len()).div_ceil(alignment) * alignment;
        }
        out.resize(out.len().div_ceil(alignment) * alignment, 0);
        let start = out.len();
        for (_, _, _, data) in &self.tensors {
            out.extend_from_slice(data);
            let padded = start + (out.len() - start).div_ceil(alignment) * alignment;
            out.resize(padded, 0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::Gguf;
    use alloc::vec;

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
