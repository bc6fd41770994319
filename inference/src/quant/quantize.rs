//! f32 → block formats, for test models and the GGUF writer. Q8_0 and Q4_0 follow ggml's
//! reference quantizers; the K-quant ones are simple (max-based scales, no search), good
//! enough for tests and imports but less accurate than llama.cpp's.

use super::{f32_to_f16, layout};
use alloc::vec::Vec;

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

/// Quantizes `x` (length a multiple of 256; a trailing partial block is dropped) to Q4_K:
/// per 32-weight sub-block w ≈ d·scale·q − dmin·min with 6-bit scale and min.
pub fn quantize_q4_k(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 256 * layout::Q4_K_BYTES);
    for block in x.chunks_exact(256) {
        // Per sub-block: step (max − min) / 15 and offset −min (min clamped to ≤ 0).
        let mut steps = [0.0f32; 8];
        let mut offsets = [0.0f32; 8];
        for (j, sub) in block.chunks_exact(32).enumerate() {
            let min = sub.iter().fold(0.0f32, |m, &v| m.min(v));
            let max = sub.iter().fold(f32::MIN, |m, &v| m.max(v));
            steps[j] = (max - min) / 15.0;
            offsets[j] = -min;
        }
        let max_step = steps.iter().fold(0.0f32, |m, &v| m.max(v));
        let max_offset = offsets.iter().fold(0.0f32, |m, &v| m.max(v));
        let d = f32_to_f16(max_step / 63.0);
        let dmin = f32_to_f16(max_offset / 63.0);
        let (d_value, dmin_value) = (super::f16_to_f32(d), super::f16_to_f32(dmin));
        let mut scales = [0u8; 8];
        let mut mins = [0u8; 8];
        for j in 0..8 {
            scales[j] = if d_value > 0.0 { round(steps[j] / d_value).clamp(0, 63) as u8 } else { 0 };
            mins[j] = if dmin_value > 0.0 { round(offsets[j] / dmin_value).clamp(0, 63) as u8 } else { 0 };
        }
        let mut packed = [0u8; 12];
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
        out.extend_from_slice(&d.to_le_bytes());
        out.extend_from_slice(&dmin.to_le_bytes());
        out.extend_from_slice(&packed);
        let level = |j: usize, v: f32| -> u8 {
            let step = d_value * scales[j] as f32;
            if step == 0.0 {
                return 0;
            }
            round((v + dmin_value * mins[j] as f32) / step).clamp(0, 15) as u8
        };
        for chunk in 0..4 {
            for l in 0..32 {
                let low = level(2 * chunk, block[chunk * 64 + l]);
                let high = level(2 * chunk + 1, block[chunk * 64 + 32 + l]);
                out.push(low | (high << 4));
            }
        }
    }
    out
}

/// Quantizes `x` (length a multiple of 256; a trailing partial block is dropped) to Q6_K:
/// per 16-weight group w ≈ d·scale·q with a signed 8-bit scale and q in −32..31.
pub fn quantize_q6_k(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 256 * layout::Q6_K_BYTES);
    for block in x.chunks_exact(256) {
        let mut group_scale = [0.0f32; 16];
        for (g, group) in block.chunks_exact(16).enumerate() {
            let max = group.iter().fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
            group_scale[g] = max / -32.0;
        }
        let max_scale = group_scale.iter().fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
        let d = f32_to_f16(max_scale / -128.0);
        let d_value = super::f16_to_f32(d);
        let mut scales = [0i8; 16];
        let mut q = [0u8; 256];
        for g in 0..16 {
            scales[g] = if d_value != 0.0 { round(group_scale[g] / d_value).clamp(-128, 127) as i8 } else { 0 };
            let step = d_value * scales[g] as f32;
            for l in 0..16 {
                let v = if step != 0.0 { round(block[g * 16 + l] / step).clamp(-32, 31) } else { 0 };
                q[g * 16 + l] = (v + 32) as u8;
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
