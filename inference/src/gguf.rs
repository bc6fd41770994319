//! GGUF v2/v3 reader over one contiguous byte slice.
//!
//! Spec: ggml's `docs/gguf.md`. Layout: magic `GGUF`, u32 version, u64 tensor count, u64
//! metadata count, typed key/values, tensor infos (name, dims fastest-first, type, offset
//! relative to the data section), then tensor data from the next multiple of
//! `general.alignment` (default 32).
//!
//! Contract: [`Gguf::parse`] checks every count, length, offset, dimension, type and
//! alignment against the slice before use; once it returns `Ok`, no accessor panics and
//! tensors come out as borrowed views ([`crate::quant::Tensor`]) — no weight is copied. A
//! truncated or corrupt file is an [`Error`], never a panic. [`Gguf::parse_header`] does the
//! same for a prefix of the file holding only the header (tensor data not yet read), so a
//! loader can size the model ([`crate::model::memory_estimate`]) before reading weights.
//!
//! Unbounded-work traps: counts come from the file, so they are capped (tensors, metadata
//! entries, array items in total, nesting depth) before anything is allocated.

use crate::{
    error::Error,
    quant::{DType, Tensor},
};
use alloc::{format, string::String, vec::Vec};

const MAGIC: &[u8; 4] = b"GGUF";
/// Limits that keep a hostile header from making us allocate absurdly.
const MAX_TENSORS: u64 = 1 << 16;
const MAX_METADATA: u64 = 1 << 16;
/// Array items in all metadata together (a Llama 3 vocabulary needs about 540 000).
const MAX_ARRAY_ITEMS: u64 = 1 << 20;
const MAX_DIMS: u32 = 4;
/// Arrays inside arrays inside arrays at most.
const MAX_DEPTH: u32 = 2;
/// Largest `general.alignment` accepted.
const MAX_ALIGNMENT: u64 = 1 << 16;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// Unsigned integer (u8, u16, u32, u64).
    U64(u64),
    /// Signed integer (i8, i16, i32, i64).
    I64(i64),
    /// f32 or f64.
    F64(f64),
    /// bool.
    Bool(bool),
    /// UTF-8 string borrowed from the file.
    Str(&'a str),
    /// Array of values.
    Array(Vec<Value<'a>>),
}

impl<'a> Value<'a> {
    /// As an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// As a float (integers convert).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F64(v) => Some(v),
            Value::U64(v) => Some(v as f64),
            Value::I64(v) => Some(v as f64),
            _ => None,
        }
    }

    /// As a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// As an array.
    pub fn as_array(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// A tensor's description (data not yet sliced).
#[derive(Clone, Debug)]
pub struct TensorInfo<'a> {
    /// Name, e.g. `blk.0.attn_q.weight`.
    pub name: &'a str,
    /// Dimensions, fastest-varying first.
    pub dims: Vec<u64>,
    /// Element type.
    pub dtype: DType,
    /// Byte range of its data in the file.
    pub range: core::ops::Range<usize>,
}

/// A parsed GGUF file borrowing from its bytes.
pub struct Gguf<'a> {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(&'a str, Value<'a>)>,
    /// Tensors in file order.
    pub tensors: Vec<TensorInfo<'a>>,
    /// Data alignment (`general.alignment`, default 32).
    pub alignment: usize,
    /// Where tensor data starts (the end of the header, aligned).
    pub data_offset: usize,
    bytes: &'a [u8],
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Array items still allowed (see [`MAX_ARRAY_ITEMS`]).
    items_left: u64,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(Error::Truncated { what, offset: self.pos })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &'static str) -> Result<&'a str, Error> {
        let len = self.u64(what)?;
        let len = usize::try_from(len).map_err(|_| Error::Corrupt(format!("{what}: length {len}")))?;
        let bytes = self.take(len, what)?;
        core::str::from_utf8(bytes)
            .map_err(|_| Error::Corrupt(format!("{what} is not UTF-8 (byte {})", self.pos - len)))
    }

    fn value(&mut self, kind: u32, depth: u32) -> Result<Value<'a>, Error> {
        Ok(match kind {
            0 => Value::U64(self.array::<1>("u8")?[0] as u64),
            1 => Value::I64(self.array::<1>("i8")?[0] as i8 as i64),
            2 => Value::U64(u16::from_le_bytes(self.array("u16")?) as u64),
            3 => Value::I64(i16::from_le_bytes(self.array("i16")?) as i64),
            4 => Value::U64(self.u32("u32")? as u64),
            5 => Value::I64(i32::from_le_bytes(self.array("i32")?) as i64),
            6 => Value::F64(f32::from_le_bytes(self.array("f32")?) as f64),
            7 => match self.array::<1>("bool")?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => return Err(Error::Corrupt(format!("bool value {other}"))),
            },
            8 => Value::Str(self.string("string")?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(Error::Corrupt("arrays nested too deeply".into()));
                }
                let item_kind = self.u32("array type")?;
                let count = self.u64("array length")?;
                if count > self.items_left {
                    return Err(Error::Corrupt(format!(
                        "array of {count} items (at most {MAX_ARRAY_ITEMS} in all metadata)"
                    )));
                }
                self.items_left -= count;
                // Each item takes at least one byte: a count beyond the rest of the file is
                // corrupt, and checking first keeps a hostile count from allocating.
                if count as usize > self.bytes.len() - self.pos {
                    return Err(Error::Truncated { what: "array", offset: self.pos });
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(item_kind, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64("u64")?),
            11 => Value::I64(i64::from_le_bytes(self.array("i64")?)),
            12 => Value::F64(f64::from_le_bytes(self.array("f64")?)),
            other => return Err(Error::Corrupt(format!("metadata type {other}"))),
        })
    }
}

impl<'a> Gguf<'a> {
    /// Parses and validates a whole GGUF file: header and the extent of every tensor.
    pub fn parse(bytes: &'a [u8]) -> Result<Gguf<'a>, Error> {
        let gguf = Self::parse_header(bytes)?;
        if let Some(t) = gguf.tensors.iter().find(|t| t.range.end > bytes.len()) {
            return Err(Error::Truncated { what: "tensor data", offset: t.range.end });
        }
        Ok(gguf)
    }

    /// Parses and validates the header from a prefix of the file; tensor data may lie
    /// beyond `bytes` (then [`Gguf::tensor`] reports it as truncated). [`Gguf::file_size`]
    /// says how long the whole file must be.
    pub fn parse_header(bytes: &'a [u8]) -> Result<Gguf<'a>, Error> {
        let mut r = Reader { bytes, pos: 0, items_left: MAX_ARRAY_ITEMS };
        if r.take(4, "magic")? != MAGIC {
            return Err(Error::Corrupt("not a GGUF file (bad magic)".into()));
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(Error::Unsupported(format!("GGUF version {version} (2 and 3 are supported)")));
        }
        let tensor_count = r.u64("tensor count")?;
        let metadata_count = r.u64("metadata count")?;
        if tensor_count > MAX_TENSORS || metadata_count > MAX_METADATA {
            return Err(Error::Corrupt(format!("{tensor_count} tensors, {metadata_count} metadata entries")));
        }
        let mut metadata: Vec<(&str, Value<'_>)> = Vec::new();
        for _ in 0..metadata_count {
            let key = r.string("metadata key")?;
            let kind = r.u32("metadata type")?;
            let value = r.value(kind, 0)?;
            if metadata.iter().any(|(k, _)| *k == key) {
                return Err(Error::Corrupt(format!("metadata key {key} appears twice")));
            }
            metadata.push((key, value));
        }
        let mut infos: Vec<(&str, Vec<u64>, DType, u64)> = Vec::new();
        for _ in 0..tensor_count {
            let name = r.string("tensor name")?;
            if infos.iter().any(|(n, ..)| *n == name) {
                return Err(Error::Corrupt(format!("tensor {name} appears twice")));
            }
            let n_dims = r.u32("tensor dims")?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(Error::Corrupt(format!("tensor {name} has {n_dims} dimensions")));
            }
            let mut dims = Vec::new();
            for _ in 0..n_dims {
                dims.push(r.u64("tensor dim")?);
            }
            let dtype = DType::from_ggml(r.u32("tensor type")?).map_err(|e| match e {
                Error::Unsupported(why) => Error::Unsupported(format!("tensor {name}: {why}")),
                other => other,
            })?;
            let offset = r.u64("tensor offset")?;
            infos.push((name, dims, dtype, offset));
        }
        let alignment = match metadata.iter().find(|(k, _)| *k == "general.alignment") {
            Some((_, v)) => {
                v.as_u64().filter(|a| *a > 0 && a.is_power_of_two() && *a <= MAX_ALIGNMENT).ok_or_else(|| {
                    Error::Corrupt(format!("general.alignment must be a power of two up to {MAX_ALIGNMENT}"))
                })?
            }
            None => 32,
        } as usize;
        let data_start = r.pos.div_ceil(alignment) * alignment;
        let mut tensors = Vec::new();
        for (name, dims, dtype, offset) in infos {
            let weights = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).filter(|&w| w > 0);
            let size = weights
                .and_then(|w| usize::try_from(w).ok())
                .and_then(|w| dtype.bytes_for(w))
                .ok_or_else(|| Error::Corrupt(format!("tensor {name}: dims {dims:?} do not fit {dtype:?} blocks")))?;
            let offset = usize::try_from(offset).map_err(|_| Error::Corrupt(format!("tensor {name} offset")))?;
            if offset % alignment != 0 {
                return Err(Error::Corrupt(format!("tensor {name} offset {offset} is not {alignment}-aligned")));
            }
            let start =
                data_start.checked_add(offset).ok_or_else(|| Error::Corrupt(format!("tensor {name} offset")))?;
            let end = start.checked_add(size).ok_or_else(|| Error::Corrupt(format!("tensor {name} size")))?;
            tensors.push(TensorInfo { name, dims, dtype, range: start..end });
        }
        Ok(Gguf { version, metadata, tensors, alignment, data_offset: data_start, bytes })
    }

    /// Bytes the whole file needs: the end of the last tensor's data (at least the header).
    pub fn file_size(&self) -> usize {
        self.tensors.iter().map(|t| t.range.end).fold(self.data_offset, usize::max)
    }

    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.metadata.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A metadata integer, or a clear error naming the key.
    pub fn get_u64(&self, key: &str) -> Result<u64, Error> {
        self.get(key).and_then(Value::as_u64).ok_or_else(|| Error::Missing(format!("metadata {key}")))
    }

    /// A tensor description by name.
    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo<'a>> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// A tensor as a 2-D view (1-D tensors are one row; higher dimensions fold into rows).
    pub fn tensor(&self, name: &str) -> Result<Tensor<'a>, Error> {
        let info = self.tensor_info(name).ok_or_else(|| Error::Missing(format!("tensor {name}")))?;
        // Parsing checked that the product of all dims fits in usize, so these fit too.
        let cols = info.dims.first().map_or(1, |&d| d as usize);
        let rows = info.dims.iter().skip(1).product::<u64>() as usize;
        let data = self
            .bytes
            .get(info.range.clone())
            .ok_or(Error::Truncated { what: "tensor data", offset: info.range.end })?;
        Tensor::new(info.dtype, rows, cols, data)
    }

    /// Total bytes of tensor data.
    pub fn weight_bytes(&self) -> usize {
        self.tensors.iter().map(|t| t.range.len()).sum()
    }

    /// String-array metadata (e.g. `tokenizer.ggml.tokens`).
    pub fn strings(&self, key: &str) -> Result<Vec<&'a str>, Error> {
        let items = self.get(key).and_then(Value::as_array).ok_or_else(|| Error::Missing(format!("metadata {key}")))?;
        items.iter().map(|v| v.as_str().ok_or_else(|| Error::Corrupt(format!("{key} holds a non-string")))).collect()
    }

    /// Number-array metadata as f32.
    pub fn floats(&self, key: &str) -> Option<Vec<f32>> {
        self.get(key)?.as_array()?.iter().map(|v| v.as_f64().map(|f| f as f32)).collect()
    }

    /// The architecture name.
    pub fn architecture(&self) -> Option<&'a str> {
        self.get("general.architecture").and_then(Value::as_str)
    }

    /// Human-readable name of a metadata key's value (for `llm_info`).
    pub fn describe(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| match v {
            Value::Str(s) => String::from(*s),
            Value::Array(items) => format!("[{} items]", items.len()),
            other => format!("{other:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A hand-assembled GGUF file (independent of [`crate::writer`]).
    struct Builder {
        metadata: Vec<u8>,
        metadata_count: u64,
        tensors: Vec<u8>,
        tensor_count: u64,
        data: Vec<u8>,
        alignment: usize,
    }

    impl Builder {
        fn new(alignment: usize) -> Self {
            Builder {
                metadata: Vec::new(),
                metadata_count: 0,
                tensors: Vec::new(),
                tensor_count: 0,
                data: Vec::new(),
                alignment,
            }
        }

        fn string(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }

        fn meta(&mut self, key: &str, kind: u32, value: &[u8]) {
            Self::string(&mut self.metadata, key);
            self.metadata.extend_from_slice(&kind.to_le_bytes());
            self.metadata.extend_from_slice(value);
            self.metadata_count += 1;
        }

        fn tensor(&mut self, name: &str, dims: &[u64], kind: u32, data: &[u8]) {
            Self::string(&mut self.tensors, name);
            self.tensors.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                self.tensors.extend_from_slice(&d.to_le_bytes());
            }
            self.tensors.extend_from_slice(&kind.to_le_bytes());
            while !self.data.len().is_multiple_of(self.alignment) {
                self.data.push(0);
            }
            self.tensors.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
            self.data.extend_from_slice(data);
            self.tensor_count += 1;
        }

        fn finish(&self, version: u32) -> Vec<u8> {
            let mut out = b"GGUF".to_vec();
            out.extend_from_slice(&version.to_le_bytes());
            out.extend_from_slice(&self.tensor_count.to_le_bytes());
            out.extend_from_slice(&self.metadata_count.to_le_bytes());
            out.extend_from_slice(&self.metadata);
            out.extend_from_slice(&self.tensors);
            while !out.len().is_multiple_of(self.alignment) {
                out.push(0);
            }
            out.extend_from_slice(&self.data);
            out
        }
    }

    fn array(kind: u32, count: u64, items: &[u8]) -> Vec<u8> {
        let mut out = kind.to_le_bytes().to_vec();
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(items);
        out
    }

    fn sample() -> (Builder, Vec<f32>) {
        let mut b = Builder::new(64);
        b.meta("general.alignment", 4, &64u32.to_le_bytes());
        b.meta("u8", 0, &[200]);
        b.meta("i8", 1, &[0xfe]);
        b.meta("u16", 2, &60000u16.to_le_bytes());
        b.meta("i16", 3, &(-30000i16).to_le_bytes());
        b.meta("i32", 5, &(-7i32).to_le_bytes());
        b.meta("f32", 6, &1.5f32.to_le_bytes());
        b.meta("bool", 7, &[1]);
        let mut s = Vec::new();
        Builder::string(&mut s, "héllo");
        b.meta("string", 8, &s);
        b.meta("u64", 10, &u64::MAX.to_le_bytes());
        b.meta("i64", 11, &i64::MIN.to_le_bytes());
        b.meta("f64", 12, &0.25f64.to_le_bytes());
        b.meta("bytes", 9, &array(0, 3, &[1, 2, 3]));
        let mut strings = Vec::new();
        Builder::string(&mut strings, "a");
        Builder::string(&mut strings, "bc");
        b.meta("strings", 9, &array(8, 2, &strings));
        // [[1, 2], []] of i16.
        let mut nested = array(3, 2, &[1, 0, 2, 0]);
        nested.extend_from_slice(&array(3, 0, &[]));
        b.meta("nested", 9, &array(9, 2, &nested));
        let weights: Vec<f32> = (0..64).map(|i| i as f32 * 0.5 - 3.0).collect();
        let bytes: Vec<u8> = weights.iter().flat_map(|v| v.to_le_bytes()).collect();
        b.tensor("vector", &[8], 0, &bytes[..32]);
        b.tensor("matrix", &[32, 2], 8, &crate::quant::quantize_q8_0(&weights));
        (b, weights)
    }

    #[test]
    fn reads_every_metadata_type_and_aligned_tensors() {
        let (b, weights) = sample();
        for version in [2, 3] {
            let file = b.finish(version);
            let g = Gguf::parse(&file).unwrap();
            assert_eq!((g.version, g.alignment), (version, 64));
            assert_eq!(g.data_offset % 64, 0);
            assert_eq!(g.get("u8"), Some(&Value::U64(200)));
            assert_eq!(g.get("i8"), Some(&Value::I64(-2)));
            assert_eq!(g.get("u16"), Some(&Value::U64(60000)));
            assert_eq!(g.get("i16"), Some(&Value::I64(-30000)));
            assert_eq!(g.get("i32"), Some(&Value::I64(-7)));
            assert_eq!(g.get("f32"), Some(&Value::F64(1.5)));
            assert_eq!(g.get("bool"), Some(&Value::Bool(true)));
            assert_eq!(g.get("string").and_then(Value::as_str), Some("héllo"));
            assert_eq!(g.get("u64"), Some(&Value::U64(u64::MAX)));
            assert_eq!(g.get("i64"), Some(&Value::I64(i64::MIN)));
            assert_eq!(g.get("f64").and_then(Value::as_f64), Some(0.25));
            assert_eq!(g.get("bytes"), Some(&Value::Array(vec![Value::U64(1), Value::U64(2), Value::U64(3)])));
            assert_eq!(g.strings("strings").unwrap(), ["a", "bc"]);
            let nested = Value::Array(vec![Value::Array(vec![Value::I64(1), Value::I64(2)]), Value::Array(vec![])]);
            assert_eq!(g.get("nested"), Some(&nested));
            let v = g.tensor("vector").unwrap();
            assert_eq!((v.rows, v.cols, v.data.len()), (1, 8, 32));
            let mut row = [0.0f32; 8];
            v.dequantize_row(0, &mut row);
            assert_eq!(row[..], weights[..8]);
            let m = g.tensor("matrix").unwrap();
            assert_eq!((m.dtype, m.rows, m.cols), (DType::Q8_0, 2, 32));
            assert_eq!(g.tensor_info("matrix").unwrap().range.start % 64, 0);
            assert_eq!(g.file_size(), file.len());
            assert!(matches!(g.tensor("absent"), Err(Error::Missing(_))));
        }
    }

    #[test]
    fn a_header_prefix_parses_without_the_data() {
        let (b, _) = sample();
        let file = b.finish(3);
        let header = Gguf::parse(&file).unwrap().data_offset;
        let g = Gguf::parse_header(&file[..header]).unwrap();
        assert_eq!(g.file_size(), file.len());
        assert!(matches!(g.tensor("matrix"), Err(Error::Truncated { .. })));
        assert!(matches!(Gguf::parse(&file[..header]), Err(Error::Truncated { .. })));
        // Every shorter prefix of the file is an error.
        for cut in 0..file.len() {
            assert!(Gguf::parse(&file[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn bad_headers_are_named_errors() {
        let (b, _) = sample();
        let good = b.finish(3);
        let mut bad_version = good.clone();
        bad_version[4] = 4;
        assert!(matches!(Gguf::parse(&bad_version), Err(Error::Unsupported(_))));
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert!(matches!(Gguf::parse(&bad_magic), Err(Error::Corrupt(_))));

        let mut odd = Builder::new(32);
        odd.meta("general.alignment", 4, &48u32.to_le_bytes());
        assert!(Gguf::parse(&odd.finish(3)).is_err(), "alignment 48");

        let mut twice = Builder::new(32);
        twice.meta("k", 0, &[1]);
        twice.meta("k", 0, &[2]);
        assert!(Gguf::parse(&twice.finish(3)).is_err(), "duplicate key");

        let mut huge = Builder::new(32);
        huge.meta("a", 9, &array(0, u64::MAX, &[]));
        assert!(Gguf::parse(&huge.finish(3)).is_err(), "huge array");

        let mut deep = Builder::new(32);
        deep.meta("a", 9, &array(9, 1, &array(9, 1, &array(0, 0, &[]))));
        assert!(Gguf::parse(&deep.finish(3)).is_err(), "nesting too deep");

        let mut unknown_type = Builder::new(32);
        unknown_type.tensor("t", &[32], 4, &[0; 20]); // Q4_2, removed from ggml
        assert!(matches!(Gguf::parse(&unknown_type.finish(3)), Err(Error::Unsupported(_))));

        let mut ragged = Builder::new(32);
        ragged.tensor("t", &[33], 8, &[0; 68]);
        assert!(Gguf::parse(&ragged.finish(3)).is_err(), "33 weights are not whole Q8_0 blocks");

        let mut overflow = Builder::new(32);
        overflow.tensor("t", &[u64::MAX, 2], 0, &[]);
        assert!(Gguf::parse(&overflow.finish(3)).is_err(), "dimension overflow");
    }
}
