//! Tensor element formats and the kernels over them (after llama.cpp's ggml reference code).
//!
//! | type | weights/block | bytes/block | layout |
//! |---|---|---|---|
//! | F32 | 1 | 4 | little-endian f32 |
//! | F16 | 1 | 2 | IEEE half |
//! | Q4_0 | 32 | 18 | f16 d, 16 bytes of nibbles (low nibbles = weights 0-15); w = (q - 8) d |
//! | Q4_1 | 32 | 20 | f16 d, f16 m, 16 bytes of nibbles; w = q d + m |
//! | Q5_0 | 32 | 22 | f16 d, u32 of fifth bits (bit j = weight j), 16 bytes of nibbles; w = (q - 16) d |
//! | Q5_1 | 32 | 24 | f16 d, f16 m, u32 of fifth bits, 16 bytes of nibbles; w = q d + m |
//! | Q8_0 | 32 | 34 | f16 d, 32 × i8; w = q d |
//! | Q4_K | 256 | 144 | f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles |
//! | Q5_K | 256 | 176 | as Q4_K, plus 32 bytes of fifth bits (bit 2c/2c+1 of byte l: weight l of 64-chunk c, low/high) |
//! | Q6_K | 256 | 210 | 128 bytes low nibbles, 64 bytes high 2 bits, 16 × i8 scales, f16 d |
//!
//! Matrix-vector products quantize the activations once per product ([`Q8Activations`]):
//! to Q8_0 (32-element blocks, f16 scale, plus each block's sum of quants) for the
//! 32-weight formats and to Q8_K (256-element blocks, f32 scale, plus sums of each 16
//! elements) for the K-quants, then multiply in integers block by block, as ggml does (the
//! offsets of Q4_1/Q5_1/K-quants go in through those sums, as with ggml's Q8_1/Q8_K).
//! F32/F16 rows use float dot products.
//!
//! Kernels: [`scalar`] is the portable reference; `neon` (AArch64 only) has the same
//! functions for plain ARMv8.0 NEON (no SDOT, no FP16 arithmetic: Cortex-A53/A72), and
//! `avx2` (x86_64 only) for AVX2 + FMA + F16C, detected once per process with `cpuid`
//! (scalar when absent). One switch (`kernels` below) picks NEON on AArch64 and AVX2 on
//! x86_64; tests prove each bit-identical to the scalar reference.
//!
//! Rows of a product are split across workers through [`Parallel`]; [`Serial`] runs on the
//! calling core.

use crate::error::Error;
use alloc::{format, vec::Vec};

mod quantize;
pub mod scalar;

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
pub mod neon;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
pub mod avx2;

pub use quantize::{
    quantize, quantize_q4_0, quantize_q4_1, quantize_q4_k, quantize_q5_0, quantize_q5_1, quantize_q5_k, quantize_q6_k,
    quantize_q8_0,
};

#[cfg(target_arch = "x86_64")]
use avx2 as kernels;
/// The kernels matrix products use: the one switch between SIMD and scalar code.
#[cfg(target_arch = "aarch64")]
use neon as kernels;
#[cfg(not(any(target_arch = "aarch64", target_arch = "x86_64")))]
use scalar as kernels;

/// Bytes per block of each quantized format.
pub mod layout {
    /// Q4_0: f16 scale + 16 bytes of nibbles.
    pub const Q4_0_BYTES: usize = 18;
    /// Q4_1: f16 scale, f16 minimum, 16 bytes of nibbles.
    pub const Q4_1_BYTES: usize = 20;
    /// Q5_0: f16 scale, 4 bytes of fifth bits, 16 bytes of nibbles.
    pub const Q5_0_BYTES: usize = 22;
    /// Q5_1: f16 scale, f16 minimum, 4 bytes of fifth bits, 16 bytes of nibbles.
    pub const Q5_1_BYTES: usize = 24;
    /// Q5_K: f16 d, f16 dmin, 12 bytes of scales, 32 bytes of fifth bits, 128 of nibbles.
    pub const Q5_K_BYTES: usize = 176;
    /// Q8_0: f16 scale + 32 × i8.
    pub const Q8_0_BYTES: usize = 34;
    /// Q4_K: f16 d, f16 dmin, 12 bytes of scales, 128 bytes of nibbles.
    pub const Q4_K_BYTES: usize = 144;
    /// Q6_K: 128 bytes low nibbles, 64 bytes high bits, 16 × i8 scales, f16 d.
    pub const Q6_K_BYTES: usize = 210;
}

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// 4-bit, 32-weight blocks.
    Q4_0,
    /// 4-bit with a minimum, 32-weight blocks.
    Q4_1,
    /// 5-bit, 32-weight blocks.
    Q5_0,
    /// 5-bit with a minimum, 32-weight blocks.
    Q5_1,
    /// 8-bit, 32-weight blocks.
    Q8_0,
    /// 4-bit K-quant, 256-weight super-blocks.
    Q4K,
    /// 5-bit K-quant, 256-weight super-blocks.
    Q5K,
    /// 6-bit K-quant, 256-weight super-blocks.
    Q6K,
}

impl DType {
    /// From a GGML type id.
    pub fn from_ggml(id: u32) -> Result<DType, Error> {
        Ok(match id {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::Q4_0,
            3 => DType::Q4_1,
            6 => DType::Q5_0,
            7 => DType::Q5_1,
            8 => DType::Q8_0,
            12 => DType::Q4K,
            13 => DType::Q5K,
            14 => DType::Q6K,
            other => {
                return Err(Error::Unsupported(format!(
                    "tensor type {other} (supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)"
                )))
            }
        })
    }

    /// The GGML type id.
    pub fn ggml_id(self) -> u32 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::Q4_0 => 2,
            DType::Q4_1 => 3,
            DType::Q5_0 => 6,
            DType::Q5_1 => 7,
            DType::Q8_0 => 8,
            DType::Q4K => 12,
            DType::Q5K => 13,
            DType::Q6K => 14,
        }
    }

    /// Weights per block.
    pub fn block_weights(self) -> usize {
        match self {
            DType::F32 | DType::F16 => 1,
            DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q5_1 | DType::Q8_0 => 32,
            DType::Q4K | DType::Q5K | DType::Q6K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 => 2,
            DType::Q4_0 => layout::Q4_0_BYTES,
            DType::Q4_1 => layout::Q4_1_BYTES,
            DType::Q5_0 => layout::Q5_0_BYTES,
            DType::Q5_1 => layout::Q5_1_BYTES,
            DType::Q8_0 => layout::Q8_0_BYTES,
            DType::Q4K => layout::Q4_K_BYTES,
            DType::Q5K => layout::Q5_K_BYTES,
            DType::Q6K => layout::Q6_K_BYTES,
        }
    }

    /// Bytes for `weights` weights, or `None` if not a whole number of blocks (or overflow).
    pub fn bytes_for(self, weights: usize) -> Option<usize> {
        if !weights.is_multiple_of(self.block_weights()) {
            return None;
        }
        (weights / self.block_weights()).checked_mul(self.block_bytes())
    }

    /// The activation format its integer kernel wants, if any.
    fn activation_format(self) -> Option<ActivationFormat> {
        match self {
            DType::F32 | DType::F16 => None,
            DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q5_1 | DType::Q8_0 => Some(ActivationFormat::Q8_0),
            DType::Q4K | DType::Q5K | DType::Q6K => Some(ActivationFormat::Q8K),
        }
    }
}

/// IEEE 754 half → f32 (exact, including subnormals, infinities and NaN).
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits >> 15) as u32) << 31;
    let exponent = ((bits >> 10) & 0x1f) as u32;
    let mantissa = (bits & 0x3ff) as u32;
    let value = match (exponent, mantissa) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(value)
}

/// f32 → IEEE half, round to nearest even (for quantizers and tests).
pub fn f32_to_f16(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x7f_ffff;
    if exponent == 0xff {
        return sign | 0x7c00 | if mantissa != 0 { 0x200 } else { 0 };
    }
    let e = exponent - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = mantissa | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = m >> shift;
        let rest = m & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let round = (rest > halfway || (rest == halfway && half & 1 == 1)) as u32;
        return sign | (half + round) as u16;
    }
    let half = ((e as u32) << 10) | (mantissa >> 13);
    let rest = mantissa & 0x1fff;
    let round = (rest > 0x1000 || (rest == 0x1000 && half & 1 == 1)) as u32;
    sign | (half + round) as u16
}

pub(crate) fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// The little-endian u32 at `at` (Q5_0/Q5_1's fifth bits).
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Weight `j`'s fifth bit (0 or 16) from a Q5_0/Q5_1 block's `high` word.
#[inline(always)]
pub(crate) fn fifth_bit(high: u32, j: usize) -> u8 {
    (((high >> j) & 1) << 4) as u8
}

/// A Q4_K sub-block's 6-bit scale and min (`j` in 0..8) from the 12 packed bytes.
pub(crate) fn q4k_scale_min(j: usize, scales: &[u8]) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        ((scales[j + 4] & 0xf) | ((scales[j - 4] >> 6) << 4), (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4))
    }
}

/// Dequantizes one block of `dtype` (exactly `block_bytes` long) into `out`
/// (`block_weights` long).
pub fn dequantize_block(dtype: DType, block: &[u8], out: &mut [f32]) {
    match dtype {
        DType::F32 => out[0] = f32::from_le_bytes([block[0], block[1], block[2], block[3]]),
        DType::F16 => out[0] = f16_at(block, 0),
        DType::Q4_0 => {
            let d = f16_at(block, 0);
            for j in 0..16 {
                let q = block[2 + j];
                out[j] = ((q & 0xf) as i32 - 8) as f32 * d;
                out[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
            }
        }
        DType::Q4_1 => {
            let (d, m) = (f16_at(block, 0), f16_at(block, 2));
            for j in 0..16 {
                let q = block[4 + j];
                out[j] = (q & 0xf) as f32 * d + m;
                out[j + 16] = (q >> 4) as f32 * d + m;
            }
        }
        DType::Q5_0 => {
            let d = f16_at(block, 0);
            let high = u32_at(block, 2);
            for j in 0..16 {
                let q = block[6 + j];
                out[j] = (((q & 0xf) | fifth_bit(high, j)) as i32 - 16) as f32 * d;
                out[j + 16] = (((q >> 4) | fifth_bit(high, j + 16)) as i32 - 16) as f32 * d;
            }
        }
        DType::Q5_1 => {
            let (d, m) = (f16_at(block, 0), f16_at(block, 2));
            let high = u32_at(block, 4);
            for j in 0..16 {
                let q = block[8 + j];
                out[j] = ((q & 0xf) | fifth_bit(high, j)) as f32 * d + m;
                out[j + 16] = ((q >> 4) | fifth_bit(high, j + 16)) as f32 * d + m;
            }
        }
        DType::Q8_0 => {
            let d = f16_at(block, 0);
            for (o, &q) in out[..32].iter_mut().zip(&block[2..34]) {
                *o = q as i8 as f32 * d;
            }
        }
        DType::Q5K => {
            let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
            let scales = &block[4..16];
            let high = &block[16..48];
            for (chunk, (q, o)) in block[48..176].chunks_exact(32).zip(out.chunks_exact_mut(64)).enumerate() {
                let (sc1, m1) = q4k_scale_min(2 * chunk, scales);
                let (sc2, m2) = q4k_scale_min(2 * chunk + 1, scales);
                let (d1, min1) = (d * sc1 as f32, dmin * m1 as f32);
                let (d2, min2) = (d * sc2 as f32, dmin * m2 as f32);
                let (low_bit, high_bit) = (1u8 << (2 * chunk), 1u8 << (2 * chunk + 1));
                for l in 0..32 {
                    let add_low = if high[l] & low_bit != 0 { 16.0 } else { 0.0 };
                    let add_high = if high[l] & high_bit != 0 { 16.0 } else { 0.0 };
                    o[l] = d1 * ((q[l] & 0xf) as f32 + add_low) - min1;
                    o[l + 32] = d2 * ((q[l] >> 4) as f32 + add_high) - min2;
                }
            }
        }
        DType::Q4K => {
            let d = f16_at(block, 0);
            let dmin = f16_at(block, 2);
            let scales = &block[4..16];
            for (chunk, (q, o)) in block[16..144].chunks_exact(32).zip(out.chunks_exact_mut(64)).enumerate() {
                let (sc1, m1) = q4k_scale_min(2 * chunk, scales);
                let (sc2, m2) = q4k_scale_min(2 * chunk + 1, scales);
                let (d1, min1) = (d * sc1 as f32, dmin * m1 as f32);
                let (d2, min2) = (d * sc2 as f32, dmin * m2 as f32);
                for l in 0..32 {
                    o[l] = d1 * (q[l] & 0xf) as f32 - min1;
                    o[l + 32] = d2 * (q[l] >> 4) as f32 - min2;
                }
            }
        }
        DType::Q6K => {
            let d = f16_at(block, 208);
            for half in 0..2 {
                let ql = &block[half * 64..half * 64 + 64];
                let qh = &block[128 + half * 32..128 + half * 32 + 32];
                let sc = &block[192 + half * 8..192 + half * 8 + 8];
                let o = &mut out[half * 128..half * 128 + 128];
                for l in 0..32 {
                    let is = l / 16;
                    let q1 = ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) as i32 - 32;
                    let q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                    let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                    let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                    o[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                    o[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                    o[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                    o[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ActivationFormat {
    /// 32-element blocks, scale rounded through f16 (ggml `block_q8_0`).
    Q8_0,
    /// 256-element blocks, f32 scale, sums of each 16 quants (ggml `block_q8_K`).
    Q8K,
}

/// Activations quantized for the integer kernels. Reusable: quantizing again reuses the
/// buffers, so a forward pass allocates nothing per token once warmed up.
#[derive(Clone, Debug, Default)]
pub struct Q8Activations {
    format: Option<ActivationFormat>,
    /// One scale per block.
    pub(crate) scales: Vec<f32>,
    /// The quantized values.
    pub(crate) quants: Vec<i8>,
    /// Sums of quants: of each 16 consecutive ones for Q8_K, of each block of 32 for Q8_0
    /// (the SIMD kernels fold weight offsets, such as Q4_0's −8, in through them).
    pub(crate) sums: Vec<i16>,
    /// Q8_0 only: each block's sum of activations as ggml's Q8_1 keeps it,
    /// `f16(Σq · d)` with the unrounded scale `d` — the term Q4_1/Q5_1 multiply their
    /// minimum by.
    pub(crate) offsets: Vec<f32>,
    /// Q8_0 prepared for Q4_0 rows only: the quants of each pair of blocks A, B reordered as
    /// A 0-15, B 0-15, A 16-31, B 16-31, the order in which the x86 kernel unpacks two
    /// blocks' nibbles (built once per product, so no row pays for the shuffle).
    pub(crate) pairs: Vec<i8>,
}

impl Q8Activations {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// `x` (length a multiple of 32) quantized to Q8_0 blocks.
    pub fn quantize(x: &[f32]) -> Self {
        let mut act = Self::new();
        act.quantize_q8_0(x);
        act
    }

    /// Quantizes `x` to Q8_0 blocks (a trailing partial block is ignored).
    pub fn quantize_q8_0(&mut self, x: &[f32]) {
        self.format = Some(ActivationFormat::Q8_0);
        self.scales.clear();
        self.quants.clear();
        self.sums.clear();
        self.offsets.clear();
        self.pairs.clear();
        for chunk in x.chunks_exact(32) {
            let amax = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let inverse = if d != 0.0 { 1.0 / d } else { 0.0 };
            self.scales.push(f16_to_f32(f32_to_f16(d)));
            let start = self.quants.len();
            self.quants.extend(chunk.iter().map(|v| libm::roundf(v * inverse) as i8));
            let sum: i16 = self.quants[start..].iter().map(|&q| q as i16).sum();
            self.sums.push(sum);
            self.offsets.push(f16_to_f32(f32_to_f16(sum as f32 * d)));
        }
    }

    /// Quantizes `x` to Q8_K blocks of 256 (a trailing partial block is ignored).
    pub fn quantize_q8_k(&mut self, x: &[f32]) {
        self.format = Some(ActivationFormat::Q8K);
        self.scales.clear();
        self.quants.clear();
        self.sums.clear();
        self.offsets.clear();
        self.pairs.clear();
        for chunk in x.chunks_exact(256) {
            let max = chunk.iter().fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
            if max == 0.0 || !max.is_finite() {
                self.scales.push(if max == 0.0 { 0.0 } else { f32::NAN });
                self.quants.extend(core::iter::repeat_n(0, 256));
                self.sums.extend(core::iter::repeat_n(0, 16));
                continue;
            }
            let inverse = -127.0 / max;
            let start = self.quants.len();
            self.quants.extend(chunk.iter().map(|v| (libm::roundf(inverse * v) as i32).clamp(-127, 127) as i8));
            self.sums.extend(self.quants[start..].chunks_exact(16).map(|g| g.iter().map(|&q| q as i16).sum::<i16>()));
            self.scales.push(1.0 / inverse);
        }
    }

    /// Prepares the activations `dtype`'s kernel needs (nothing for float types).
    pub fn prepare(&mut self, dtype: DType, x: &[f32]) {
        match dtype.activation_format() {
            Some(ActivationFormat::Q8_0) if dtype == DType::Q4_0 && cfg!(target_arch = "x86_64") => {
                self.quantize_q8_0(x);
                for two in self.quants.chunks_exact(64) {
                    for half in [&two[..16], &two[32..48], &two[16..32], &two[48..]] {
                        self.pairs.extend_from_slice(half);
                    }
                }
            }
            Some(ActivationFormat::Q8_0) => self.quantize_q8_0(x),
            Some(ActivationFormat::Q8K) => self.quantize_q8_k(x),
            None => self.format = None,
        }
    }
}

/// Splits the rows of a matrix-vector product across workers. The kernel implements this
/// with its compute cores; [`Serial`] runs on the calling core.
///
/// The output slice is handed out in disjoint chunks (rather than row ranges) so that a
/// worker writes its rows through an ordinary `&mut` — no unsafe code on either side.
pub trait Parallel: Sync {
    /// Calls `f(first_row, chunk)` for disjoint chunks that together cover `out`, possibly
    /// on several cores at once, and returns when all have finished.
    fn for_each_chunk(&self, out: &mut [f32], f: &(dyn Fn(usize, &mut [f32]) + Sync));

    /// [`Parallel::for_each_chunk`] with the cost of one row (multiply-adds), so that an
    /// implementation can keep products too small to repay a cross-core hand-off on the
    /// calling core. The default ignores the hint.
    fn for_each_chunk_sized(&self, out: &mut [f32], row_cost: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        let _ = row_cost;
        self.for_each_chunk(out, f);
    }
}

/// Runs everything on the calling core.
#[derive(Clone, Copy, Debug, Default)]
pub struct Serial;

impl Parallel for Serial {
    fn for_each_chunk(&self, out: &mut [f32], f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        f(0, out);
    }
}

/// A borrowed 2-D tensor: `rows` rows of `cols` weights in `dtype`, row-major.
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a> {
    /// Element type.
    pub dtype: DType,
    /// Number of rows (output features).
    pub rows: usize,
    /// Weights per row (input features).
    pub cols: usize,
    /// The raw bytes, exactly `rows * row_bytes()` long.
    pub data: &'a [u8],
}

impl<'a> Tensor<'a> {
    /// A view, checked: `data` must hold exactly `rows × cols` weights of `dtype`.
    pub fn new(dtype: DType, rows: usize, cols: usize, data: &'a [u8]) -> Result<Self, Error> {
        let row_bytes = dtype
            .bytes_for(cols)
            .filter(|&b| b > 0)
            .ok_or_else(|| Error::Corrupt(format!("row of {cols} weights is not whole {dtype:?} blocks")))?;
        let total = row_bytes.checked_mul(rows).ok_or_else(|| Error::Corrupt("tensor size overflows".into()))?;
        if data.len() != total {
            return Err(Error::Corrupt(format!("tensor needs {total} bytes, has {}", data.len())));
        }
        Ok(Tensor { dtype, rows, cols, data })
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.data.len() / self.rows.max(1)
    }

    /// The bytes of row `row`. Panics if `row >= rows` (callers check token ids first).
    pub fn row(&self, row: usize) -> &'a [u8] {
        let n = self.row_bytes();
        &self.data[row * n..(row + 1) * n]
    }

    /// Dequantizes row `row` into `out` (`cols` long).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        let (bw, bb) = (self.dtype.block_weights(), self.dtype.block_bytes());
        for (block, o) in self.row(row).chunks_exact(bb).zip(out.chunks_exact_mut(bw)) {
            dequantize_block(self.dtype, block, o);
        }
    }

    /// Dot product of row `row` with `x`; `act` must be `x` prepared for this tensor's
    /// type ([`Q8Activations::prepare`]).
    pub fn row_dot(&self, row: usize, x: &[f32], act: &Q8Activations) -> f32 {
        let bytes = self.row(row);
        match self.dtype {
            DType::F32 => kernels::dot_f32(bytes, x),
            DType::F16 => {
                bytes.chunks_exact(2).zip(x).map(|(b, v)| f16_to_f32(u16::from_le_bytes([b[0], b[1]])) * v).sum()
            }
            DType::Q8_0 => kernels::dot_q8_0(bytes, act),
            DType::Q4_0 => kernels::dot_q4_0(bytes, act),
            DType::Q4_1 => kernels::dot_q4_1(bytes, act),
            DType::Q5_0 => kernels::dot_q5_0(bytes, act),
            DType::Q5_1 => kernels::dot_q5_1(bytes, act),
            DType::Q4K => kernels::dot_q4_k(bytes, act),
            DType::Q5K => kernels::dot_q5_k(bytes, act),
            DType::Q6K => kernels::dot_q6_k(bytes, act),
        }
    }

    /// `out = self · x` (out: `rows`, x: `cols`), rows split by `parallel`, quantizing the
    /// activations into `act` (reused between calls).
    pub fn matvec_with(&self, x: &[f32], act: &mut Q8Activations, out: &mut [f32], parallel: &dyn Parallel) {
        act.prepare(self.dtype, &x[..self.cols]);
        let act = &*act;
        parallel.for_each_chunk_sized(&mut out[..self.rows], self.cols, &|first, chunk| {
            for (i, o) in chunk.iter_mut().enumerate() {
                *o = self.row_dot(first + i, x, act);
            }
        });
    }

    /// `out[b] = self · x[b]` for a batch of `n` inputs (x: `n × cols`, out: `n × rows`,
    /// token-major), reading each weight row from memory once for the whole batch instead
    /// of once per input. `acts` (at least `n`) and `scratch` (at least `n × rows`) are
    /// reused buffers. Every output is the same [`Tensor::row_dot`] as in
    /// [`Tensor::matvec_with`], so the results are bit-identical to `n` separate products.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_with(
        &self,
        x: &[f32],
        n: usize,
        acts: &mut [Q8Activations],
        scratch: &mut [f32],
        out: &mut [f32],
        parallel: &dyn Parallel,
    ) {
        let (rows, cols) = (self.rows, self.cols);
        if n <= 1 {
            return self.matvec_with(&x[..cols], &mut acts[0], &mut out[..rows], parallel);
        }
        for (act, x) in acts[..n].iter_mut().zip(x.chunks_exact(cols)) {
            act.prepare(self.dtype, x);
        }
        let acts = &acts[..n];
        // Outputs are row-major over (row, input), and a chunk may start or end inside a
        // row's batch. Within a chunk, tiles of TILE rows are done input by input, so one
        // input's activations and the tile's rows both stay in L1 while they are reused.
        const TILE: usize = 8;
        parallel.for_each_chunk_sized(&mut scratch[..rows * n], cols, &|first, chunk| {
            let end = first + chunk.len();
            let mut tile = first / n;
            while tile * n < end {
                let tile_end = (tile + TILE).min(rows);
                #[cfg(target_arch = "x86_64")]
                if matches!(self.dtype, DType::Q8_0 | DType::Q4_0) {
                    // Groups of inputs share each row's loads (bit-identical results).
                    const GROUP: usize = 4;
                    let mut results = [0.0f32; GROUP];
                    for start in (0..n).step_by(GROUP) {
                        let group = &acts[start..(start + GROUP).min(n)];
                        for row in tile..tile_end {
                            kernels::dot_multi(
                                self.row(row),
                                self.dtype == DType::Q4_0,
                                group,
                                &mut results[..group.len()],
                            );
                            for (b, &value) in (start..).zip(&results[..group.len()]) {
                                let at = row * n + b;
                                if (first..end).contains(&at) {
                                    chunk[at - first] = value;
                                }
                            }
                        }
                    }
                    tile = tile_end;
                    continue;
                }
                for (b, act) in acts.iter().enumerate() {
                    let x = &x[b * cols..(b + 1) * cols];
                    for row in tile..tile_end {
                        let at = row * n + b;
                        if (first..end).contains(&at) {
                            chunk[at - first] = self.row_dot(row, x, act);
                        }
                    }
                }
                tile = tile_end;
            }
        });
        for (b, out) in out[..n * rows].chunks_exact_mut(rows).enumerate() {
            for (row, o) in out.iter_mut().enumerate() {
                *o = scratch[row * n + b];
            }
        }
    }

    /// `out = self · x` (out: `rows`, x: `cols`), rows split by `parallel`.
    pub fn matvec(&self, x: &[f32], out: &mut [f32], parallel: &dyn Parallel) {
        self.matvec_with(x, &mut Q8Activations::new(), out, parallel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Deterministic values in −1..1.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut rng = testkit::Rng::new(seed.into());
        (0..n).map(|_| rng.unit()).collect()
    }

    /// Deterministic random bytes, with every f16 field of each block set to a sane scale
    /// (random bits would make NaN/inf scales).
    fn random_blocks(dtype: DType, blocks: usize, seed: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; blocks * dtype.block_bytes()];
        testkit::Rng::new(seed.into()).fill(&mut bytes);
        let f16_fields: &[usize] = match dtype {
            DType::Q4_0 | DType::Q5_0 | DType::Q8_0 => &[0],
            DType::Q4_1 | DType::Q5_1 | DType::Q4K | DType::Q5K => &[0, 2],
            DType::Q6K => &[208],
            DType::F32 | DType::F16 => &[],
        };
        for (b, block) in bytes.chunks_exact_mut(dtype.block_bytes()).enumerate() {
            for &at in f16_fields {
                let scale = 0.001 + (b % 7) as f32 * 0.003;
                block[at..at + 2].copy_from_slice(&f32_to_f16(scale).to_le_bytes());
            }
        }
        bytes
    }

    /// Every quantized format.
    const ALL_QUANTS: [DType; 8] =
        [DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4K, DType::Q5K, DType::Q6K];

    fn dequantized_dot(t: &Tensor<'_>, row: usize, x: &[f32]) -> f32 {
        let mut w = vec![0.0; t.cols];
        t.dequantize_row(row, &mut w);
        w.iter().zip(x).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn f16_round_trips() {
        for v in [0.0f32, 1.0, -2.5, 65504.0, 6.1035156e-5, 5.9604645e-8, 0.333] {
            let back = f16_to_f32(f32_to_f16(v));
            assert!((back - v).abs() <= v.abs() * 1e-3 + 1e-7, "{v} -> {back}");
        }
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0x0001), 5.9604645e-8);
    }

    #[test]
    fn quantizers_round_trip_within_their_precision() {
        let x = values(1024, 7);
        let cases = [
            (DType::Q8_0, quantize_q8_0(&x), 0.005),
            (DType::Q4_0, quantize_q4_0(&x), 0.13), // ggml clips the far side to 7·d
            (DType::Q4_1, quantize_q4_1(&x), 0.07),
            (DType::Q5_0, quantize_q5_0(&x), 0.07),
            (DType::Q5_1, quantize_q5_1(&x), 0.035),
            (DType::Q4K, quantize_q4_k(&x), 0.09),
            (DType::Q5K, quantize_q5_k(&x), 0.045),
            (DType::Q6K, quantize_q6_k(&x), 0.035),
        ];
        for (dtype, bytes, tolerance) in cases {
            let t = Tensor::new(dtype, 4, 256, &bytes).unwrap();
            let mut out = vec![0.0; 256];
            for r in 0..4 {
                t.dequantize_row(r, &mut out);
                for (a, b) in x[r * 256..].iter().zip(&out) {
                    assert!((a - b).abs() < tolerance, "{dtype:?}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn integer_dot_products_match_the_dequantized_f32_dot() {
        let w = values(4 * 512, 3);
        let x = values(512, 11);
        let cases = [
            (DType::Q8_0, quantize_q8_0(&w)),
            (DType::Q4_0, quantize_q4_0(&w)),
            (DType::Q4_1, quantize_q4_1(&w)),
            (DType::Q5_0, quantize_q5_0(&w)),
            (DType::Q5_1, quantize_q5_1(&w)),
            (DType::Q4K, quantize_q4_k(&w)),
            (DType::Q5K, quantize_q5_k(&w)),
            (DType::Q6K, quantize_q6_k(&w)),
            (DType::Q4K, random_blocks(DType::Q4K, 8, 5)),
            (DType::Q5K, random_blocks(DType::Q5K, 8, 7)),
            (DType::Q4_1, random_blocks(DType::Q4_1, 64, 8)),
            (DType::Q5_1, random_blocks(DType::Q5_1, 64, 9)),
            (DType::Q6K, random_blocks(DType::Q6K, 8, 6)),
        ];
        for (dtype, bytes) in cases {
            let t = Tensor::new(dtype, 4, 512, &bytes).unwrap();
            let mut out = vec![0.0; 4];
            t.matvec(&x, &mut out, &Serial);
            for (r, &got) in out.iter().enumerate() {
                let exact = dequantized_dot(&t, r, &x);
                // Only the activations' 8-bit rounding separates the two.
                let magnitude: f32 = {
                    let mut row = vec![0.0; 512];
                    t.dequantize_row(r, &mut row);
                    row.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum()
                };
                assert!(
                    (got - exact).abs() <= 0.01 * magnitude,
                    "{dtype:?} row {r}: {got} vs {exact} (scale {magnitude})"
                );
            }
        }
    }

    #[test]
    fn float_rows_dot_exactly_enough() {
        let w = values(3 * 100, 4);
        let x = values(100, 9);
        let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
        let halves: Vec<u8> = w.iter().flat_map(|v| f32_to_f16(*v).to_le_bytes()).collect();
        for (dtype, data) in [(DType::F32, &bytes), (DType::F16, &halves)] {
            let t = Tensor::new(dtype, 3, 100, data).unwrap();
            let mut out = [0.0f32; 3];
            t.matvec(&x, &mut out, &Serial);
            for (r, &got) in out.iter().enumerate() {
                let exact: f32 = w[r * 100..(r + 1) * 100].iter().zip(&x).map(|(a, b)| a * b).sum();
                assert!((got - exact).abs() < 1e-2, "{dtype:?} row {r}: {got} vs {exact}");
            }
        }
    }

    #[test]
    fn small_blocks_decode_by_hand() {
        // Q4_1: d = 0.5, m = -1, nibbles 3 (low) and 10 (high) -> 0.5 and 4.
        let mut q41 = vec![0u8; 20];
        q41[0..2].copy_from_slice(&f32_to_f16(0.5).to_le_bytes());
        q41[2..4].copy_from_slice(&f32_to_f16(-1.0).to_le_bytes());
        q41[4] = 0xa3;
        let mut out = [0f32; 32];
        dequantize_block(DType::Q4_1, &q41, &mut out);
        assert_eq!((out[0], out[16], out[1]), (0.5, 4.0, -1.0));
        // Q5_0: d = 2, weight 0 nibble 1 with its fifth bit (bit 0) -> (17 - 16) * 2 = 2;
        // weight 16 nibble 0 with its fifth bit (bit 16) -> 0; weight 1 nothing -> -32.
        let mut q50 = vec![0u8; 22];
        q50[0..2].copy_from_slice(&f32_to_f16(2.0).to_le_bytes());
        q50[2..6].copy_from_slice(&(1u32 | 1 << 16).to_le_bytes());
        q50[6] = 0x01;
        dequantize_block(DType::Q5_0, &q50, &mut out);
        assert_eq!((out[0], out[16], out[1]), (2.0, 0.0, -32.0));
        // Q5_1: d = 1, m = 0.25, weight 31 = nibble 15 + fifth bit (bit 31) -> 31.25.
        let mut q51 = vec![0u8; 24];
        q51[0..2].copy_from_slice(&f32_to_f16(1.0).to_le_bytes());
        q51[2..4].copy_from_slice(&f32_to_f16(0.25).to_le_bytes());
        q51[4..8].copy_from_slice(&(1u32 << 31).to_le_bytes());
        q51[8 + 15] = 0xf0;
        dequantize_block(DType::Q5_1, &q51, &mut out);
        assert_eq!((out[31], out[15]), (31.25, 0.25));
    }

    #[test]
    fn k_quant_blocks_decode_by_hand() {
        // Q6_K: all quant bits zero -> q = -32; scales 1; d = 0.5 -> every weight -16.
        let mut q6 = vec![0u8; 210];
        for s in &mut q6[192..208] {
            *s = 1;
        }
        q6[208..210].copy_from_slice(&f32_to_f16(0.5).to_le_bytes());
        let mut out = [0f32; 256];
        dequantize_block(DType::Q6K, &q6, &mut out);
        assert!(out.iter().all(|&v| v == -16.0), "{:?}", &out[..4]);
        // One weight with the high bits set: ql[0] = 0xF, qh[0] bits 0-1 = 3 -> q = 63 - 32 = 31.
        q6[0] = 0x0f;
        q6[128] = 0x03;
        dequantize_block(DType::Q6K, &q6, &mut out);
        assert_eq!(out[0], 15.5);

        // Q5_K: as Q4_K, with the fifth bit of weight 0 (bit 0 of high byte 0) and of
        // weight 32 (bit 1) set: nibble 3 + 16 -> 1*2*19 - 0.5*4 = 36.
        let mut q5 = vec![0u8; 176];
        q5[0..2].copy_from_slice(&f32_to_f16(1.0).to_le_bytes());
        q5[2..4].copy_from_slice(&f32_to_f16(0.5).to_le_bytes());
        q5[4] = 2;
        q5[8] = 4;
        q5[5] = 1; // scale of sub-block 1 (weights 32-63), min 0
        q5[16] = 0b11;
        q5[48] = 0x03;
        dequantize_block(DType::Q5K, &q5, &mut out);
        assert_eq!((out[0], out[1], out[32], out[33]), (36.0, -2.0, 16.0, 0.0));

        // Q4_K: d = 1, dmin = 0.5, sub-block 0 scale 2 min 4, nibble 3 -> 1*2*3 - 0.5*4 = 4.
        let mut q4 = vec![0u8; 144];
        q4[0..2].copy_from_slice(&f32_to_f16(1.0).to_le_bytes());
        q4[2..4].copy_from_slice(&f32_to_f16(0.5).to_le_bytes());
        q4[4] = 2; // scale of sub-block 0
        q4[8] = 4; // min of sub-block 0
        q4[16] = 0x03;
        dequantize_block(DType::Q4K, &q4, &mut out);
        assert_eq!(out[0], 4.0);
        assert_eq!(out[1], -2.0); // nibble 0: 0 - 0.5*4
                                  // Sub-block 5 (j >= 4) takes its scale from the packed high bits.
        q4[4 + 1] = 0b1100_0000; // scales[1] high bits -> bits 4-5 of sub-block 5's scale
        q4[4 + 9] = 0x01; // scales[9] low nibble -> low bits of sub-block 5's scale
        assert_eq!(q4k_scale_min(5, &q4[4..16]), (1 | (3 << 4), 0));
    }

    /// On AArch64 this compares the NEON kernels with the scalar ones bit for bit (run
    /// `cargo test -p inference --target aarch64-unknown-linux-musl` with
    /// `QEMU_CPU=cortex-a53`); on x86_64 the AVX2 kernels (when the CPU has AVX2; the test
    /// `avx2_is_used_where_present` says which); elsewhere it checks the dispatch.
    #[test]
    fn selected_kernels_equal_the_scalar_reference() {
        for seed in 0..40u32 {
            let x = values(4096, seed + 100);
            let mut x_extreme = x.clone();
            if seed % 3 == 0 {
                // Extremes: a huge outlier (activations saturate) and exact zeros.
                x_extreme[seed as usize] = 1e4;
                x_extreme[300..340].fill(0.0);
            }
            for dtype in ALL_QUANTS {
                // Widths that are and are not whole groups of the SIMD kernels' 8 blocks
                // (1 to 12 K-quant blocks: none, one and one-and-a-bit groups).
                let cols = match dtype.block_weights() {
                    32 => 512 + 32 * (seed as usize % 8),
                    _ => 256 * (1 + seed as usize % 12),
                };
                let mut w = random_blocks(dtype, cols / dtype.block_weights(), seed);
                if seed == 0 && dtype == DType::Q8_0 {
                    // All weights −128: the widest products.
                    for block in w.chunks_exact_mut(34) {
                        block[2..].fill(0x80);
                    }
                }
                let mut act = Q8Activations::new();
                act.prepare(dtype, &x_extreme[..cols]);
                let t = Tensor::new(dtype, 1, cols, &w).unwrap();
                let reference = match dtype {
                    DType::Q8_0 => scalar::dot_q8_0(&w, &act),
                    DType::Q4_0 => scalar::dot_q4_0(&w, &act),
                    DType::Q4_1 => scalar::dot_q4_1(&w, &act),
                    DType::Q5_0 => scalar::dot_q5_0(&w, &act),
                    DType::Q5_1 => scalar::dot_q5_1(&w, &act),
                    DType::Q4K => scalar::dot_q4_k(&w, &act),
                    DType::Q5K => scalar::dot_q5_k(&w, &act),
                    _ => scalar::dot_q6_k(&w, &act),
                };
                let got = t.row_dot(0, &x_extreme, &act);
                assert_eq!(
                    got.to_bits(),
                    reference.to_bits(),
                    "{dtype:?} seed {seed} cols {cols}: {got} vs {reference}"
                );
            }
            let floats: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
            for len in [512, 509, 3] {
                let got = kernels::dot_f32(&floats[..len * 4], &x_extreme[..len]);
                let reference = scalar::dot_f32(&floats[..len * 4], &x_extreme[..len]);
                assert_eq!(got.to_bits(), reference.to_bits(), "f32 length {len}");
            }
        }
    }

    /// The cpuid detection agrees with std's, so the equality test above really exercises
    /// the AVX2 kernels on a machine that has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_is_used_where_present() {
        extern crate std;
        let expected = std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c");
        assert_eq!(avx2::available(), expected);
        let vnni = ["avx512f", "avx512bw", "avx512vl", "avx512vnni"].iter().all(|f| match *f {
            "avx512f" => std::is_x86_feature_detected!("avx512f"),
            "avx512bw" => std::is_x86_feature_detected!("avx512bw"),
            "avx512vl" => std::is_x86_feature_detected!("avx512vl"),
            _ => std::is_x86_feature_detected!("avx512vnni"),
        });
        assert_eq!(avx2::vnni_available(), expected && vnni);
    }

    #[test]
    fn batched_products_equal_single_ones_bit_for_bit() {
        // 608 columns: 19 blocks of 32, so the SIMD kernels' 8-block groups leave a tail.
        for (dtype, cols) in
            [(DType::Q8_0, 512), (DType::Q8_0, 608), (DType::Q4_0, 512), (DType::Q4_0, 608), (DType::Q4K, 512)]
        {
            let (rows, n) = (37, 5);
            let w = values(rows * cols, 21);
            let x = values(n * cols, 22);
            let bytes = match dtype {
                DType::Q8_0 => quantize_q8_0(&w),
                DType::Q4_0 => quantize_q4_0(&w),
                _ => quantize_q4_k(&w),
            };
            let t = Tensor::new(dtype, rows, cols, &bytes).unwrap();
            let mut acts = vec![Q8Activations::new(); n];
            let mut scratch = vec![0.0; rows * n];
            let mut batched = vec![0.0; rows * n];
            /// Chunks of 7 outputs: boundaries fall inside a row's batch.
            struct Sevens;
            impl Parallel for Sevens {
                fn for_each_chunk(&self, out: &mut [f32], f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
                    for (i, chunk) in out.chunks_mut(7).enumerate() {
                        f(7 * i, chunk);
                    }
                }
            }
            t.matmul_with(&x, n, &mut acts, &mut scratch, &mut batched, &Sevens);
            for b in 0..n {
                let mut single = vec![0.0; rows];
                t.matvec(&x[b * cols..(b + 1) * cols], &mut single, &Serial);
                assert_eq!(single, batched[b * rows..(b + 1) * rows], "{dtype:?} {cols} columns, input {b}");
            }
        }
    }

    #[test]
    fn q8_k_sums_and_scales() {
        let x = values(512, 1);
        let mut act = Q8Activations::new();
        act.quantize_q8_k(&x);
        assert_eq!((act.scales.len(), act.quants.len(), act.sums.len()), (2, 512, 32));
        for (g, group) in act.quants.chunks_exact(16).enumerate() {
            assert_eq!(act.sums[g], group.iter().map(|&q| q as i16).sum::<i16>());
        }
        for (i, (v, q)) in x.iter().zip(&act.quants).enumerate() {
            let scale = act.scales[i / 256];
            assert!((v - *q as f32 * scale).abs() <= scale.abs() * 0.5001, "{v} vs {q} × {scale}");
        }
        act.quantize_q8_0(&x);
        assert_eq!(act.sums.len(), 16);
        for (b, block) in act.quants.chunks_exact(32).enumerate() {
            assert_eq!(act.sums[b], block.iter().map(|&q| q as i16).sum::<i16>());
        }
        act.quantize_q8_k(&[0.0; 256]);
        assert_eq!(act.scales, [0.0]);
        assert!(act.quants.iter().all(|&q| q == 0));
    }

    #[test]
    fn tensor_views_are_checked() {
        assert!(Tensor::new(DType::Q4_0, 2, 32, &[0u8; 36]).is_ok());
        assert!(Tensor::new(DType::Q4_0, 2, 32, &[0u8; 35]).is_err());
        assert!(Tensor::new(DType::Q4_0, 1, 31, &[0u8; 18]).is_err());
        assert!(Tensor::new(DType::Q4K, 1, 0, &[]).is_err());
        assert!(DType::from_ggml(4).is_err(), "Q4_2 was removed from ggml");
        assert!(DType::from_ggml(15).is_err(), "Q8_K is an activation format");
        for dtype in [DType::F32, DType::F16].into_iter().chain(ALL_QUANTS) {
            assert_eq!(DType::from_ggml(dtype.ggml_id()), Ok(dtype));
        }
    }
}
