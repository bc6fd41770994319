//! GGUF v2/v3 reader over one contiguous byte slice.
//!
//! Every count, length, offset, dimension and type is checked against the slice before use;
//! tensors are returned as borrowed views ([`crate::quant::Tensor`]) into it — no weight is
//! copied. A truncated or corrupt file is an [`Error`], never a panic.

use crate::{
    error::Error,
    quant::{DType, Tensor},
};
use alloc::{format, string::String, vec::Vec};

const MAGIC: &[u8; 4] = b"GGUF";
/// Limits that keep a hostile header from making us allocate absurdly.
const MAX_TENSORS: u64 = 1 << 16;
const MAX_METADATA: u64 = 1 << 16;
const MAX_ARRAY: u64 = 1 << 24;
const MAX_DIMS: u32 = 4;

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
    bytes: &'a [u8],
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(Error::Truncated { what, offset: self.pos })?;
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
        core::str::from_utf8(bytes).map_err(|_| Error::Corrupt(format!("{what} is not UTF-8 (byte {})", self.pos - len)))
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
                if depth > 2 {
                    return Err(Error::Corrupt("arrays nested too deeply".into()));
                }
                let item_kind = self.u32("array type")?;
                let count = self.u64("array length")?;
                if count > MAX_ARRAY {
                    return Err(Error::Corrupt(format!("array of {count} items")));
                }
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
    /// Parses and validates a whole GGUF file.
    pub fn parse(bytes: &'a [u8]) -> Result<Gguf<'a>, Error> {
        let mut r = Reader { bytes, pos: 0 };
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
        let mut metadata = Vec::new();
        for _ in 0..metadata_count {
            let key = r.string("metadata key")?;
            let kind = r.u32("metadata type")?;
            metadata.push((key, r.value(kind, 0)?));
        }
        let mut infos = Vec::new();
        for _ in 0..tensor_count {
            let name = r.string("tensor name")?;
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
            Some((_, v)) => v.as_u64().filter(|a| *a > 0 && a.is_power_of_two() && *a <= 1 << 16).ok_or_else(|| Error::Corrupt("general.alignment must be a power of two".into()))?,
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
            let start = data_start.checked_add(offset).ok_or_else(|| Error::Corrupt(format!("tensor {name} offset")))?;
            let end = start.checked_add(size).ok_or_else(|| Error::Corrupt(format!("tensor {name} size")))?;
            if end > bytes.len() {
                return Err(Error::Truncated { what: "tensor data", offset: end });
            }
            tensors.push(TensorInfo { name, dims, dtype, range: start..end });
        }
        Ok(Gguf { version, metadata, tensors, bytes })
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

    /// A tensor as a 2-D view (1-D tensors are one row).
    pub fn tensor(&self, name: &str) -> Result<Tensor<'a>, Error> {
        let info = self.tensor_info(name).ok_or_else(|| Error::Missing(format!("tensor {name}")))?;
        let cols = info.dims[0] as usize;
        let rows = info.dims[1..].iter().product::<u64>() as usize;
        Tensor::new(info.dtype, rows, cols, &self.bytes[info.range.clone()])
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
