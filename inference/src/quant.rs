//! Tensor element formats and the kernels over them: one block format per type, each with
//! its dequantization and dot product (after llama.cpp's ggml reference implementation).
//!
//! | type | weights/block | bytes/block | layout |
//! |---|---|---|---|
//! | F32 | 1 | 4 | little-endian f32 |
//! | F16 | 1 | 2 | IEEE half |
//! | Q4_0 | 32 | 18 | f16 d, 16 bytes of nibbles; w = (q - 8) d |
//! | Q8_0 | 32 | 34 | f16 d, 32 × i8; w = q d |
//! | Q4_K | 256 | 144 | f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles |
//! | Q6_K | 256 | 210 | 128 bytes low nibbles, 64 bytes high 2 bits, 16 × i8 scales, f16 d |
//!
//! Q4_0 and Q8_0 rows are multiplied with activations quantized to Q8_0 on the fly (integer
//! dot products per block); the K-quants dequantize one 256-weight block at a time into a
//! stack buffer and use an f32 dot product.

use crate::error::Error;
use alloc::{format, vec, vec::Vec};
use core::ops::Range;

/// Element type of a tensor (values are GGML type ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// 4-bit, 32-weight blocks.
    Q4_0,
    /// 8-bit, 32-weight blocks.
    Q8_0,
    /// 4-bit K-quant, 256-weight super-blocks.
    Q4K,
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
            8 => DType::Q8_0,
            12 => DType::Q4K,
            14 => DType::Q6K,
            other => return Err(Error::Unsupported(format!("tensor type {other} (supported: F32, F16, Q4_0, Q8_0, Q4_K, Q6_K)"))),
        })
    }

    /// Weights per block.
    pub fn block_weights(self) -> usize {
        match self {
            DType::F32 | DType::F16 => 1,
            DType::Q4_0 | DType::Q8_0 => 32,
            DType::Q4K | DType::Q6K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 => 2,
            DType::Q4_0 => 18,
            DType::Q8_0 => 34,
            DType::Q4K => 144,
            DType::Q6K => 210,
        }
    }

    /// Bytes for `weights` weights, or `None` if not a whole number of blocks (or overflow).
    pub fn bytes_for(self, weights: usize) -> Option<usize> {
        if weights % self.block_weights() != 0 {
            return None;
        }
        (weights / self.block_weights()).checked_mul(self.block_bytes())
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

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// Dequantizes one Q4_K super-block's scale and min for sub-block `j` (0..8).
fn q4k_scale_min(j: usize, scales: &[u8]) -> (f32, f32) {
    if j < 4 {
        ((scales[j] & 63) as f32, (scales[j + 4] & 63) as f32)
    } else {
        let d = (scales[j + 4] & 0xf) | ((scales[j - 4] >> 6) << 4);
        let m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
        (d as f32, m as f32)
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
        DType::Q8_0 => {
            let d = f16_at(block, 0);
            for j in 0..32 {
                out[j] = block[2 + j] as i8 as f32 * d;
            }
        }
        DType::Q4K => {
            let d = f16_at(block, 0);
            let dmin = f16_at(block, 2);
            let scales = &block[4..16];
            let qs = &block[16..144];
            for chunk in 0..4 {
                let (sc1, m1) = q4k_scale_min(2 * chunk, scales);
                let (sc2, m2) = q4k_scale_min(2 * chunk + 1, scales);
                let q = &qs[chunk * 32..chunk * 32 + 32];
                let o = &mut out[chunk * 64..chunk * 64 + 64];
                for l in 0..32 {
                    o[l] = d * sc1 * (q[l] & 0xf) as f32 - dmin * m1;
                    o[l + 32] = d * sc2 * (q[l] >> 4) as f32 - dmin * m2;
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

/// Activations quantized to Q8_0 blocks: one scale and 32 i8 per block.
pub struct Q8Activations {
    scales: Vec<f32>,
    quants: Vec<i8>,
}

impl Q8Activations {
    /// Quantizes `x` (length a multiple of 32).
    pub fn quantize(x: &[f32]) -> Q8Activations {
        let blocks = x.len() / 32;
        let mut scales = Vec::with_capacity(blocks);
        let mut quants = vec![0i8; blocks * 32];
        for (b, chunk) in x.chunks_exact(32).enumerate() {
            let amax = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
            scales.push(f16_to_f32(f32_to_f16(d)));
            for (j, v) in chunk.iter().enumerate() {
                quants[b * 32 + j] = libm::roundf(v * inv) as i8;
            }
        }
        Q8Activations { scales, quants }
    }
}

/// Quantizes `x` (length a multiple of 32) to Q8_0 blocks (for test models and writers).
pub fn quantize_q8_0(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * 34);
    for chunk in x.chunks_exact(32) {
        let amax = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        out.extend(chunk.iter().map(|v| libm::roundf(v * inv) as i8 as u8));
    }
    out
}

/// Quantizes `x` (length a multiple of 32) to Q4_0 blocks, as ggml does.
pub fn quantize_q4_0(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * 18);
    for chunk in x.chunks_exact(32) {
        let max = chunk.iter().fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
        let d = max / -8.0;
        let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        for j in 0..16 {
            let a = ((chunk[j] * inv + 8.5) as i32).clamp(0, 15) as u8;
            let b = ((chunk[j + 16] * inv + 8.5) as i32).clamp(0, 15) as u8;
            out.push(a | (b << 4));
        }
    }
    out
}

/// Integer dot product of a Q8_0 block's 32 weights with 32 quantized activations.
#[inline]
pub fn dot_q8_0_block(weights: &[u8], activations: &[i8]) -> i32 {
    #[cfg(target_arch = "aarch64")]
    {
        neon::dot_q8_0_block(weights, activations)
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        scalar::dot_q8_0_block(weights, activations)
    }
}

/// Integer dot product of a Q4_0 block's 16 bytes of nibbles with 32 quantized activations.
#[inline]
pub fn dot_q4_0_block(nibbles: &[u8], activations: &[i8]) -> i32 {
    #[cfg(target_arch = "aarch64")]
    {
        neon::dot_q4_0_block(nibbles, activations)
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        scalar::dot_q4_0_block(nibbles, activations)
    }
}

/// The portable kernels (the reference the SIMD ones are tested against).
pub mod scalar {
    /// See [`super::dot_q8_0_block`].
    pub fn dot_q8_0_block(weights: &[u8], activations: &[i8]) -> i32 {
        weights[..32].iter().zip(&activations[..32]).map(|(&w, &a)| w as i8 as i32 * a as i32).sum()
    }

    /// See [`super::dot_q4_0_block`].
    pub fn dot_q4_0_block(nibbles: &[u8], activations: &[i8]) -> i32 {
        let mut dot = 0i32;
        for j in 0..16 {
            let q = nibbles[j];
            dot += ((q & 0xf) as i32 - 8) * activations[j] as i32 + ((q >> 4) as i32 - 8) * activations[j + 16] as i32;
        }
        dot
    }
}

/// NEON kernels for Cortex-A53/A72: plain ARMv8.0 NEON (widening multiplies and pairwise
/// adds), no SDOT and no FP16 arithmetic, which those cores lack.
#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
pub mod neon {
    use core::arch::aarch64::*;

    /// Sum of products of two 16-lane i8 vectors, widened so nothing overflows.
    #[inline(always)]
    fn dot16(a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: NEON is part of the AArch64 baseline (every ARMv8-A core, and the
        // aarch64 targets enable it), and these intrinsics only operate on registers.
        unsafe {
            let low = vmull_s8(vget_low_s8(a), vget_low_s8(b));
            let high = vmull_high_s8(a, b);
            vpadalq_s16(vpaddlq_s16(low), high)
        }
    }

    /// See [`super::dot_q8_0_block`].
    pub fn dot_q8_0_block(weights: &[u8], activations: &[i8]) -> i32 {
        let (w, a) = (&weights[..32], &activations[..32]);
        // SAFETY: the slices above are 32 bytes long (indexing panics otherwise), so each
        // 16-byte load at offsets 0 and 16 stays inside them; loads have no alignment
        // requirement.
        unsafe {
            let w0 = vld1q_s8(w.as_ptr() as *const i8);
            let w1 = vld1q_s8(w.as_ptr().add(16) as *const i8);
            let a0 = vld1q_s8(a.as_ptr());
            let a1 = vld1q_s8(a.as_ptr().add(16));
            vaddvq_s32(vaddq_s32(dot16(w0, a0), dot16(w1, a1)))
        }
    }

    /// See [`super::dot_q4_0_block`].
    pub fn dot_q4_0_block(nibbles: &[u8], activations: &[i8]) -> i32 {
        let (q, a) = (&nibbles[..16], &activations[..32]);
        // SAFETY: `q` is 16 bytes and `a` 32 bytes (checked by the slicing above), so the
        // loads at offsets 0 and 16 stay in bounds; loads have no alignment requirement.
        unsafe {
            let bytes = vld1q_u8(q.as_ptr());
            let eight = vdupq_n_s8(8);
            let low = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(bytes, vdupq_n_u8(0x0f))), eight);
            let high = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8::<4>(bytes)), eight);
            let a0 = vld1q_s8(a.as_ptr());
            let a1 = vld1q_s8(a.as_ptr().add(16));
            vaddvq_s32(vaddq_s32(dot16(low, a0), dot16(high, a1)))
        }
    }
}

/// Splits the rows of a matrix-vector product across workers. The kernel implements this
/// with its compute cores; [`Serial`] runs on the calling core.
pub trait Parallel: Sync {
    /// Calls `f(first_row, chunk)` for disjoint chunks covering `out`, possibly on several
    /// cores at once, and returns when all have finished.
    fn for_each_chunk(&self, out: &mut [f32], f: &(dyn Fn(usize, &mut [f32]) + Sync));
}

/// Runs everything on the calling core.
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

    /// Dequantizes row `row` into `out` (`cols` long).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        let bytes = &self.data[row * self.row_bytes()..(row + 1) * self.row_bytes()];
        let (bw, bb) = (self.dtype.block_weights(), self.dtype.block_bytes());
        for (b, block) in bytes.chunks_exact(bb).enumerate() {
            dequantize_block(self.dtype, block, &mut out[b * bw..(b + 1) * bw]);
        }
    }

    /// Dot product of row `row` with `x` (f32) — and, for Q4_0/Q8_0, with `q8` (`x`
    /// quantized to Q8_0).
    pub fn row_dot(&self, row: usize, x: &[f32], q8: Option<&Q8Activations>) -> f32 {
        let bytes = &self.data[row * self.row_bytes()..(row + 1) * self.row_bytes()];
        match (self.dtype, q8) {
            (DType::F32, _) => bytes.chunks_exact(4).zip(x).map(|(b, v)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * v).sum(),
            (DType::F16, _) => bytes.chunks_exact(2).zip(x).map(|(b, v)| f16_to_f32(u16::from_le_bytes([b[0], b[1]])) * v).sum(),
            (DType::Q8_0, Some(q8)) => {
                let mut sum = 0.0f32;
                for (b, block) in bytes.chunks_exact(34).enumerate() {
                    let dot = dot_q8_0_block(&block[2..34], &q8.quants[b * 32..b * 32 + 32]);
                    sum += dot as f32 * f16_at(block, 0) * q8.scales[b];
                }
                sum
            }
            (DType::Q4_0, Some(q8)) => {
                let mut sum = 0.0f32;
                for (b, block) in bytes.chunks_exact(18).enumerate() {
                    let dot = dot_q4_0_block(&block[2..18], &q8.quants[b * 32..b * 32 + 32]);
                    sum += dot as f32 * f16_at(block, 0) * q8.scales[b];
                }
                sum
            }
            (dtype, _) => {
                let (bw, bb) = (dtype.block_weights(), dtype.block_bytes());
                let mut buffer = [0f32; 256];
                let mut sum = 0.0f32;
                for (b, block) in bytes.chunks_exact(bb).enumerate() {
                    dequantize_block(dtype, block, &mut buffer[..bw]);
                    sum += buffer[..bw].iter().zip(&x[b * bw..(b + 1) * bw]).map(|(w, v)| w * v).sum::<f32>();
                }
                sum
            }
        }
    }

    /// `out = self · x` (out: `rows`, x: `cols`), rows split by `parallel`.
    pub fn matvec(&self, x: &[f32], out: &mut [f32], parallel: &dyn Parallel) {
        let q8 = matches!(self.dtype, DType::Q4_0 | DType::Q8_0).then(|| Q8Activations::quantize(x));
        let q8 = q8.as_ref();
        parallel.for_each_chunk(&mut out[..self.rows], &|first, chunk| {
            for (i, o) in chunk.iter_mut().enumerate() {
                *o = self.row_dot(first + i, x, q8);
            }
        });
    }

    /// The row range helper for workers: rows `range` of `out`.
    pub fn matvec_rows(&self, x: &[f32], q8: Option<&Q8Activations>, range: Range<usize>, out: &mut [f32]) {
        for (o, row) in out.iter_mut().zip(range) {
            *o = self.row_dot(row, x, q8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
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
    fn quantized_rows_dequantize_close_to_the_original() {
        let x = values(256, 7);
        for (dtype, bytes, tolerance) in [(DType::Q8_0, quantize_q8_0(&x), 0.01), (DType::Q4_0, quantize_q4_0(&x), 0.15)] {
            let t = Tensor::new(dtype, 1, 256, &bytes).unwrap();
            let mut out = vec![0.0; 256];
            t.dequantize_row(0, &mut out);
            for (a, b) in x.iter().zip(&out) {
                assert!((a - b).abs() < tolerance, "{dtype:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn integer_dot_products_match_the_dequantized_f32_dot() {
        let w = values(4 * 512, 3);
        let x = values(512, 11);
        for (dtype, bytes) in [(DType::Q8_0, quantize_q8_0(&w)), (DType::Q4_0, quantize_q4_0(&w))] {
            let t = Tensor::new(dtype, 4, 512, &bytes).unwrap();
            let mut out = vec![0.0; 4];
            t.matvec(&x, &mut out, &Serial);
            let mut row = vec![0.0; 512];
            for r in 0..4 {
                t.dequantize_row(r, &mut row);
                let exact: f32 = row.iter().zip(&x).map(|(a, b)| a * b).sum();
                assert!((out[r] - exact).abs() < 0.05 * exact.abs().max(1.0), "{dtype:?} row {r}: {} vs {exact}", out[r]);
            }
        }
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
        assert_eq!(q4k_scale_min(5, &q4[4..16]), ((1 | (3 << 4)) as f32, 0.0));
    }

    #[test]
    fn k_quant_dot_matches_dequantized_dot() {
        let mut bytes = vec![0u8; 2 * 210];
        let mut s = 12345u32;
        for b in &mut bytes {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (s >> 16) as u8;
        }
        for block in bytes.chunks_exact_mut(210) {
            block[208..210].copy_from_slice(&f32_to_f16(0.01).to_le_bytes());
        }
        let t = Tensor::new(DType::Q6K, 2, 256, &bytes).unwrap();
        let x = values(256, 5);
        let mut out = [0f32; 2];
        t.matvec(&x, &mut out, &Serial);
        let mut row = vec![0.0; 256];
        t.dequantize_row(1, &mut row);
        let exact: f32 = row.iter().zip(&x).map(|(a, b)| a * b).sum();
        assert!((out[1] - exact).abs() < 1e-3 * exact.abs().max(1.0));
    }

    #[test]
    fn block_kernels_equal_the_scalar_reference() {
        // On aarch64 this compares the NEON kernels with the scalar ones (run with
        // `cargo test -p inference --target aarch64-unknown-linux-musl`, QEMU_CPU=cortex-a53);
        // elsewhere it checks the dispatch is the scalar kernel, including extreme values.
        let mut s = 99u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as u8
        };
        for round in 0..2000 {
            let mut w = [0u8; 32];
            let mut a = [0i8; 32];
            for i in 0..32 {
                w[i] = next();
                a[i] = next() as i8;
            }
            if round == 0 {
                w = [0x80; 32];
                a = [-128; 32];
            }
            assert_eq!(dot_q8_0_block(&w, &a), scalar::dot_q8_0_block(&w, &a));
            assert_eq!(dot_q4_0_block(&w[..16], &a), scalar::dot_q4_0_block(&w[..16], &a));
        }
    }

    #[test]
    fn tensor_views_are_checked() {
        assert!(Tensor::new(DType::Q4_0, 2, 32, &[0u8; 36]).is_ok());
        assert!(Tensor::new(DType::Q4_0, 2, 32, &[0u8; 35]).is_err());
        assert!(Tensor::new(DType::Q4_0, 1, 31, &[0u8; 18]).is_err());
        assert!(DType::from_ggml(3).is_err());
    }
}
