//! f32 → block formats, for test models and the GGUF writer, after ggml's reference
//! quantizers as candle 0.9 has them (the oracle tests in `xtask/ml/tests/oracle` check that
//! the same floats give candle's bytes): Q8_0 and Q4_0 scale by the largest magnitude;
//! Q4_K and Q6_K search each sub-block's scale by least squares (ggml's
//! `make_qkx1_quants` / `make_qx_quants`). Newer llama.cpp searches a little differently
//! (`make_qkx2_quants`, more candidate scales), so its files differ in a few bytes.

use super::{f32_to_f16, layout, DType};
use alloc::vec::Vec;

/// `x` in `dtype`'s layout (F32 and F16 little-endian; quantized formats by their
/// quantizer below; a trailing partial block is dropped).
pub fn quantize(dtype: DType, x: &[f32]) -> Vec<u8> {
    match dtype {
        DType::F32 => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F16 => x.iter().flat_map(|v| f32_to_f16(*v).to_le_bytes()).collect(),
        DType::Q4_0 => quantize_q4_0(x),
        DType::Q4_1 => quantize_q4_1(x),
        DType::Q5_0 => quantize_q5_0(x),
        DType::Q5_1 => quantize_q5_1(x),
        DType::Q8_0 => quantize_q8_0(x),
        DType::Q4K => quantize_q4_k(x),
        DType::Q5K => quantize_q5_k(x),
        DType::Q6K => quantize_q6_k(x),
    }
}

fn round(v: f32) -> i32 {
    libm::roundf(v) as i32
}

/// Quantizes `x` (length a multiple of 32; a trailing partial block is dropped) to Q8_0.
pub fn quantize_q8_0(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * layout::Q8_0_BYTES);
    for chunk in x.chunks_exact(32) {
        let amax = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inverse = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        out.extend(chunk.iter().map(|v| round(v * inverse).clamp(-127, 127) as i8 as u8));
    }
    out
}

/// Quantizes `x` (length a multiple of 32; a trailing partial block is dropped) to Q4_0, as
/// ggml does (the value of largest magnitude maps to -8).
pub fn quantize_q4_0(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * layout::Q4_0_BYTES);
    for chunk in x.chunks_exact(32) {
        let max = chunk.iter().fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
        let d = max / -8.0;
        let inverse = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        for j in 0..16 {
            let a = ((chunk[j] * inverse + 8.5) as i32).clamp(0, 15) as u8;
            let b = ((chunk[j + 16] * inverse + 8.5) as i32).clamp(0, 15) as u8;
            out.push(a | (b << 4));
        }
    }
    out
}

/// The smallest and largest of `x`.
fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (v.min(lo), v.max(hi)))
}

/// Quantizes `x` (length a multiple of 32) to Q4_1 as ggml's reference: 16 steps from the
/// block's minimum to its maximum.
pub fn quantize_q4_1(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * layout::Q4_1_BYTES);
    for chunk in x.chunks_exact(32) {
        let (min, max) = min_max(chunk);
        let d = (max - min) / 15.0;
        let inverse = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        out.extend_from_slice(&f32_to_f16(min).to_le_bytes());
        for j in 0..16 {
            let a = (((chunk[j] - min) * inverse + 0.5) as u8).min(15);
            let b = (((chunk[j + 16] - min) * inverse + 0.5) as u8).min(15);
            out.push(a | (b << 4));
        }
    }
    out
}

/// Appends the 4 bytes of fifth bits and the 16 bytes of nibbles of 32 five-bit values.
fn push_five_bits(out: &mut Vec<u8>, q: &[u8; 32]) {
    let mut high = 0u32;
    for (j, &v) in q.iter().enumerate() {
        high |= (((v & 0x10) >> 4) as u32) << j;
    }
    out.extend_from_slice(&high.to_le_bytes());
    out.extend((0..16).map(|j| (q[j] & 0xf) | ((q[j + 16] & 0xf) << 4)));
}

/// Quantizes `x` (length a multiple of 32) to Q5_0 as ggml's reference (the value of
/// largest magnitude maps to -16).
pub fn quantize_q5_0(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * layout::Q5_0_BYTES);
    for chunk in x.chunks_exact(32) {
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in chunk {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -16.0;
        let inverse = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        let mut q = [0u8; 32];
        for (o, &v) in q.iter_mut().zip(chunk) {
            *o = ((v * inverse + 16.5) as i8).min(31) as u8;
        }
        push_five_bits(&mut out, &q);
    }
    out
}

/// Quantizes `x` (length a multiple of 32) to Q5_1 as ggml's reference: 32 steps from the
/// block's minimum to its maximum.
pub fn quantize_q5_1(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * layout::Q5_1_BYTES);
    for chunk in x.chunks_exact(32) {
        let (min, max) = min_max(chunk);
        let d = (max - min) / 31.0;
        let inverse = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        out.extend_from_slice(&f32_to_f16(min).to_le_bytes());
        let mut q = [0u8; 32];
        for (o, &v) in q.iter_mut().zip(chunk) {
            *o = ((v - min) * inverse + 0.5) as u8;
        }
        push_five_bits(&mut out, &q);
    }
    out
}

/// ggml's `make_qkx1_quants`: the step and offset of `x` in `levels + 1` levels
/// (w ≈ step·q − offset, offset ≥ 0), refined by alternating least squares `tries` times.
fn step_and_offset(levels: i32, tries: usize, x: &[f32]) -> (f32, f32) {
    let mut min = x.iter().copied().fold(x[0], f32::min);
    let max = x.iter().copied().fold(x[0], f32::max);
    if max == min {
        return (0.0, 0.0);
    }
    min = min.min(0.0);
    let mut inverse = levels as f32 / (max - min);
    let mut step = 1.0 / inverse;
    let mut q = [0u8; 32];
    for _ in 0..tries {
        let (mut sum_xq, mut sum_qq, mut changed) = (0.0f32, 0i32, false);
        for (i, &v) in x.iter().enumerate() {
            let l = round(inverse * (v - min)).clamp(0, levels);
            if l as u8 != q[i] {
                q[i] = l as u8;
                changed = true;
            }
            sum_xq += (v - min) * l as f32;
            sum_qq += l * l;
        }
        step = sum_xq / sum_qq as f32;
        let sum: f32 = x.iter().zip(&q).map(|(&v, &l)| v - step * l as f32).sum();
        min = (sum / x.len() as f32).min(0.0);
        inverse = 1.0 / step;
        if !changed {
            break;
        }
    }
    (step, -min)
}

/// The K-quant header of a 256-weight block (Q4_K, Q5_K): each 32-weight sub-block's step
/// and offset for `levels + 1` levels ([`step_and_offset`]), packed as 6-bit scales and
/// mins under f16 `d` and `dmin`. Returns the 16 header bytes and each sub-block's
/// (step, offset) as the file will decode them.
fn k_header(block: &[f32], levels: i32) -> ([u8; 16], [(f32, f32); 8]) {
    let mut steps = [0.0f32; 8];
    let mut offsets = [0.0f32; 8];
    for (j, sub) in block.chunks_exact(32).enumerate() {
        (steps[j], offsets[j]) = step_and_offset(levels, 5, sub);
    }
    let max_step = steps.iter().fold(0.0f32, |m, &v| v.max(m));
    let max_offset = offsets.iter().fold(0.0f32, |m, &v| v.max(m));
    let inverse_step = if max_step > 0.0 { 63.0 / max_step } else { 0.0 };
    let inverse_offset = if max_offset > 0.0 { 63.0 / max_offset } else { 0.0 };
    let mut scales = [0u8; 8];
    let mut mins = [0u8; 8];
    for j in 0..8 {
        scales[j] = round(inverse_step * steps[j]).min(63) as u8;
        mins[j] = round(inverse_offset * offsets[j]).min(63) as u8;
    }
    let mut header = [0u8; 16];
    let d = f32_to_f16(max_step / 63.0);
    let dmin = f32_to_f16(max_offset / 63.0);
    header[..2].copy_from_slice(&d.to_le_bytes());
    header[2..4].copy_from_slice(&dmin.to_le_bytes());
    let packed = &mut header[4..];
    for j in 0..8 {
        if j < 4 {
            packed[j] = scales[j];
            packed[j + 4] = mins[j];
        } else {
            packed[j + 4] = (scales[j] & 0xf) | ((mins[j] & 0xf) << 4);
            packed[j - 4] |= (scales[j] >> 4) << 6;
            packed[j] |= (mins[j] >> 4) << 6;
        }
    }
    let (d_value, dmin_value) = (super::f16_to_f32(d), super::f16_to_f32(dmin));
    let mut decoded = [(0.0f32, 0.0f32); 8];
    for (j, pair) in decoded.iter_mut().enumerate() {
        *pair = (d_value * scales[j] as f32, dmin_value * mins[j] as f32);
    }
    (header, decoded)
}

/// Each weight of a K-quant block quantized against its sub-block's (step, offset), in
/// `0..=levels` (0 where the step is 0).
fn k_quants(block: &[f32], decoded: &[(f32, f32); 8], levels: i32) -> [u8; 256] {
    let mut q = [0u8; 256];
    for (j, sub) in block.chunks_exact(32).enumerate() {
        let (step, offset) = decoded[j];
        if step != 0.0 {
            for (l, &v) in sub.iter().enumerate() {
                q[32 * j + l] = round((v + offset) / step).clamp(0, levels) as u8;
            }
        }
    }
    q
}

/// Quantizes `x` (length a multiple of 256; a trailing partial block is dropped) to Q4_K:
/// per 32-weight sub-block w ≈ d·scale·q − dmin·min with 6-bit scale and min, each
/// sub-block's step and offset found by [`step_and_offset`] (ggml's reference quantizer,
/// as candle has it: the same floats give the same bytes).
pub fn quantize_q4_k(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 256 * layout::Q4_K_BYTES);
    for block in x.chunks_exact(256) {
        let (header, decoded) = k_header(block, 15);
        out.extend_from_slice(&header);
        let q = k_quants(block, &decoded, 15);
        for chunk in q.chunks_exact(64) {
            for l in 0..32 {
                out.push(chunk[l] | (chunk[l + 32] << 4));
            }
        }
    }
    out
}

/// Quantizes `x` (length a multiple of 256) to Q5_K: as [`quantize_q4_k`] with 32 levels,
/// the fifth bits stored apart (as candle's reference quantizer: the same bytes).
pub fn quantize_q5_k(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 256 * layout::Q5_K_BYTES);
    for block in x.chunks_exact(256) {
        let (header, decoded) = k_header(block, 31);
        out.extend_from_slice(&header);
        let q = k_quants(block, &decoded, 31);
        let mut high = [0u8; 32];
        let mut nibbles = [0u8; 128];
        for (chunk, values) in q.chunks_exact(64).enumerate() {
            for l in 0..32 {
                let (low, top) = (values[l], values[l + 32]);
                high[l] |= ((low >> 4) << (2 * chunk)) | ((top >> 4) << (2 * chunk + 1));
                nibbles[32 * chunk + l] = (low & 0xf) | ((top & 0xf) << 4);
            }
        }
        out.extend_from_slice(&high);
        out.extend_from_slice(&nibbles);
    }
    out
}

/// ggml's `make_qx_quants` with weights x² (its `rmse_type` 1): a signed step for the 16
/// values of `x` with quants in −32..31 (stored + 32 in `q`), refined for weighted least
/// squares first by rescaling, then one quant at a time.
fn signed_step(x: &[f32], q: &mut [u8]) -> f32 {
    const LEVELS: i32 = 32;
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        q.fill(0);
        return 0.0;
    }
    let quant = |inverse: f32, v: f32| round(inverse * v).clamp(-LEVELS, LEVELS - 1);
    let (mut sum_xq, mut sum_qq) = (0.0f32, 0.0f32);
    let inverse = -(LEVELS as f32) / max;
    for (i, &v) in x.iter().enumerate() {
        let l = quant(inverse, v);
        q[i] = (l + LEVELS) as u8;
        let w = v * v;
        sum_xq += w * v * l as f32;
        sum_qq += w * l as f32 * l as f32;
    }
    let mut step = sum_xq / sum_qq;
    let mut best = step * sum_xq;
    for _ in 0..3 {
        let inverse = 1.0 / step;
        let (mut xq, mut qq, mut changed) = (0.0f32, 0.0f32, false);
        for (i, &v) in x.iter().enumerate() {
            let l = quant(inverse, v);
            changed |= l + LEVELS != q[i] as i32;
            let w = v * v;
            xq += w * v * l as f32;
            qq += w * l as f32 * l as f32;
        }
        if !changed || qq == 0.0 || xq * xq <= best * qq {
            break;
        }
        for (i, &v) in x.iter().enumerate() {
            q[i] = (LEVELS + quant(inverse, v)) as u8;
        }
        (sum_xq, sum_qq) = (xq, qq);
        step = sum_xq / sum_qq;
        best = step * sum_xq;
    }
    for _ in 0..5 {
        let mut changes = 0;
        for (i, &v) in x.iter().enumerate() {
            let w = v * v;
            let l = q[i] as i32 - LEVELS;
            let mut xq = sum_xq - w * v * l as f32;
            if xq > 0.0 {
                let mut qq = sum_qq - w * l as f32 * l as f32;
                let new = round(v * qq / xq).clamp(-LEVELS, LEVELS - 1);
                if new != l {
                    xq += w * v * new as f32;
                    qq += w * new as f32 * new as f32;
                    if qq > 0.0 && xq * xq * sum_qq > sum_xq * sum_xq * qq {
                        q[i] = (LEVELS + new) as u8;
                        (sum_xq, sum_qq) = (xq, qq);
                        step = sum_xq / sum_qq;
                        changes += 1;
                    }
                }
            }
        }
        if changes == 0 {
            break;
        }
    }
    step
}

/// Quantizes `x` (length a multiple of 256; a trailing partial block is dropped) to Q6_K:
/// per 16-weight group w ≈ d·scale·q with a signed 8-bit scale and q in −32..31, each
/// group's step found by [`signed_step`] (ggml's reference quantizer, as candle has it: the
/// same floats give the same bytes).
pub fn quantize_q6_k(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 256 * layout::Q6_K_BYTES);
    for block in x.chunks_exact(256) {
        let mut q = [0u8; 256];
        let mut steps = [0.0f32; 16];
        let (mut max_step, mut max_abs_step) = (0.0f32, 0.0f32);
        for (g, group) in block.chunks_exact(16).enumerate() {
            steps[g] = signed_step(group, &mut q[16 * g..16 * g + 16]);
            if steps[g].abs() > max_abs_step {
                max_abs_step = steps[g].abs();
                max_step = steps[g];
            }
        }
        // An all-zero block gives −inf here, d = −0 and NaN scales, which round to 0.
        let inverse = -128.0 / max_step;
        let d = f32_to_f16(1.0 / inverse);
        let d_value = super::f16_to_f32(d);
        let mut scales = [0i8; 16];
        for (g, group) in block.chunks_exact(16).enumerate() {
            scales[g] = round(inverse * steps[g]).min(127) as i8;
            let step = d_value * scales[g] as f32;
            if step != 0.0 {
                for (l, &v) in group.iter().enumerate() {
                    q[16 * g + l] = (round(v / step).clamp(-32, 31) + 32) as u8;
                }
            }
        }
        let mut ql = [0u8; 128];
        let mut qh = [0u8; 64];
        for half in 0..2 {
            for l in 0..32 {
                let at = |quarter: usize| q[half * 128 + quarter * 32 + l];
                let (q1, q2, q3, q4) = (at(0), at(1), at(2), at(3));
                ql[half * 64 + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
                ql[half * 64 + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
                qh[half * 32 + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
            }
        }
        out.extend_from_slice(&ql);
        out.extend_from_slice(&qh);
        out.extend(scales.iter().map(|&s| s as u8));
        out.extend_from_slice(&d.to_le_bytes());
    }
    out
}
