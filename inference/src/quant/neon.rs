//! NEON kernels for Cortex-A53/A72: plain ARMv8.0 Advanced SIMD (widening multiplies and
//! pairwise adds), no SDOT and no FP16 arithmetic, which those cores lack. Same signatures
//! and same results (bit for bit) as [`super::scalar`]: integer block sums are exact and
//! the float accumulation follows the scalar order.
//!
//! Safety in this module: NEON is part of the AArch64 baseline (every ARMv8-A core has it
//! and the aarch64 targets enable it), so the intrinsics are always available. Each load
//! reads 16 bytes from a slice whose length the surrounding code has just fixed (through
//! `chunks_exact` or explicit slicing, which panics rather than read out of bounds);
//! `vld1q_u8`/`vld1q_s8` have no alignment requirement.

use super::{f16_at, layout, q4k_scale_min, u32_at, Q8Activations};
use core::arch::aarch64::*;

/// Loads 16 bytes from the start of `bytes` (at least 16 long) as signed lanes.
#[inline(always)]
fn load_s8(bytes: &[i8]) -> int8x16_t {
    let bytes = &bytes[..16];
    // SAFETY: `bytes` is exactly 16 elements (the slicing above panics otherwise), NEON is
    // baseline on AArch64, and the load has no alignment requirement.
    unsafe { vld1q_s8(bytes.as_ptr()) }
}

/// Loads 16 bytes from the start of `bytes` (at least 16 long).
#[inline(always)]
fn load_u8(bytes: &[u8]) -> uint8x16_t {
    let bytes = &bytes[..16];
    // SAFETY: as in `load_s8`: 16 in-bounds bytes, no alignment requirement.
    unsafe { vld1q_u8(bytes.as_ptr()) }
}

/// Sum of products of two 16-lane i8 vectors; the lanes of the result hold partial sums.
/// Products are exact in 16 bits (|−128 · −128| = 16384) and every addition is widened to
/// 32 bits, so nothing overflows for any inputs.
#[inline(always)]
fn dot16(a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
    unsafe {
        let low = vmull_s8(vget_low_s8(a), vget_low_s8(b));
        let high = vmull_high_s8(a, b);
        vaddq_s32(vpaddlq_s16(low), vpaddlq_s16(high))
    }
}

/// Horizontal sum of four i32 lanes.
#[inline(always)]
fn sum_lanes(v: int32x4_t) -> i32 {
    // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
    unsafe { vaddvq_s32(v) }
}

/// See [`super::scalar::dot_q8_0`].
pub fn dot_q8_0(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    for ((block, &scale), quants) in
        row.chunks_exact(layout::Q8_0_BYTES).zip(&act.scales).zip(act.quants.chunks_exact(32))
    {
        let weights = &block[2..34];
        // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
        let dot = unsafe {
            let (w0, w1) = (vreinterpretq_s8_u8(load_u8(weights)), vreinterpretq_s8_u8(load_u8(&weights[16..])));
            sum_lanes(vaddq_s32(dot16(w0, load_s8(quants)), dot16(w1, load_s8(&quants[16..]))))
        };
        sum += dot as f32 * (f16_at(block, 0) * scale);
    }
    sum
}

/// See [`super::scalar::dot_q4_0`].
pub fn dot_q4_0(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    for ((block, &scale), quants) in
        row.chunks_exact(layout::Q4_0_BYTES).zip(&act.scales).zip(act.quants.chunks_exact(32))
    {
        let bytes = load_u8(&block[2..18]);
        // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
        let dot = unsafe {
            let eight = vdupq_n_s8(8);
            let low = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(bytes, vdupq_n_u8(0x0f))), eight);
            let high = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8::<4>(bytes)), eight);
            sum_lanes(vaddq_s32(dot16(low, load_s8(quants)), dot16(high, load_s8(&quants[16..]))))
        };
        sum += dot as f32 * (f16_at(block, 0) * scale);
    }
    sum
}

/// A 32-weight block's 16 bytes of nibbles as weights 0-15 and 16-31 (0..15).
#[inline(always)]
fn nibble_weights(packed: &[u8]) -> (uint8x16_t, uint8x16_t) {
    let bytes = load_u8(packed);
    // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
    unsafe { (vandq_u8(bytes, vdupq_n_u8(0x0f)), vshrq_n_u8::<4>(bytes)) }
}

/// As [`nibble_weights`] with the fifth bits of `high` (Q5_0/Q5_1) at bit 4 (0..31).
#[inline(always)]
fn five_bit_weights(packed: &[u8], high: u32) -> (uint8x16_t, uint8x16_t) {
    // Byte k of `spread(b)` is b & (1 << k): each byte of the word copied to eight lanes,
    // every lane keeping its own bit.
    let spread = |byte: u32| ((byte & 0xff) as u64).wrapping_mul(0x0101_0101_0101_0101) & 0x8040_2010_0804_0201;
    let (low, top) = nibble_weights(packed);
    // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
    unsafe {
        let sixteen = vdupq_n_u8(0x10);
        let low_bits = vcombine_u8(vcreate_u8(spread(high)), vcreate_u8(spread(high >> 8)));
        let high_bits = vcombine_u8(vcreate_u8(spread(high >> 16)), vcreate_u8(spread(high >> 24)));
        (
            vorrq_u8(low, vandq_u8(vtstq_u8(low_bits, low_bits), sixteen)),
            vorrq_u8(top, vandq_u8(vtstq_u8(high_bits, high_bits), sixteen)),
        )
    }
}

/// The exact integer dot product of 32 weights (two halves, 0..31 taken as signed, or
/// already offset) with 32 activations.
#[inline(always)]
fn dot32(low: uint8x16_t, high: uint8x16_t, offset: i8, quants: &[i8]) -> i32 {
    // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
    unsafe {
        let offset = vdupq_n_s8(offset);
        let low = vsubq_s8(vreinterpretq_s8_u8(low), offset);
        let high = vsubq_s8(vreinterpretq_s8_u8(high), offset);
        sum_lanes(vaddq_s32(dot16(low, load_s8(quants)), dot16(high, load_s8(&quants[16..]))))
    }
}

/// See [`super::scalar::dot_q4_1`].
pub fn dot_q4_1(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    let blocks =
        row.chunks_exact(layout::Q4_1_BYTES).zip(&act.scales).zip(act.quants.chunks_exact(32)).zip(&act.offsets);
    for (((block, &scale), quants), &offset) in blocks {
        let (low, high) = nibble_weights(&block[4..20]);
        let dot = dot32(low, high, 0, quants);
        sum += dot as f32 * (f16_at(block, 0) * scale) + f16_at(block, 2) * offset;
    }
    sum
}

/// See [`super::scalar::dot_q5_0`].
pub fn dot_q5_0(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    for ((block, &scale), quants) in
        row.chunks_exact(layout::Q5_0_BYTES).zip(&act.scales).zip(act.quants.chunks_exact(32))
    {
        let (low, high) = five_bit_weights(&block[6..22], u32_at(block, 2));
        let dot = dot32(low, high, 16, quants);
        sum += dot as f32 * (f16_at(block, 0) * scale);
    }
    sum
}

/// See [`super::scalar::dot_q5_1`].
pub fn dot_q5_1(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    let blocks =
        row.chunks_exact(layout::Q5_1_BYTES).zip(&act.scales).zip(act.quants.chunks_exact(32)).zip(&act.offsets);
    for (((block, &scale), quants), &offset) in blocks {
        let (low, high) = five_bit_weights(&block[8..24], u32_at(block, 4));
        let dot = dot32(low, high, 0, quants);
        sum += dot as f32 * (f16_at(block, 0) * scale) + f16_at(block, 2) * offset;
    }
    sum
}

/// See [`super::scalar::dot_q5_k`].
pub fn dot_q5_k(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    let blocks = row
        .chunks_exact(layout::Q5_K_BYTES)
        .zip(&act.scales)
        .zip(act.quants.chunks_exact(256))
        .zip(act.sums.chunks_exact(16));
    for (((block, &scale), quants), sums) in blocks {
        let scales = &block[4..16];
        let (high0, high1) = (load_u8(&block[16..32]), load_u8(&block[32..48]));
        let mut sumi = 0i32;
        let mut mins = 0i32;
        for (chunk, (nibbles, quants)) in block[48..176].chunks_exact(32).zip(quants.chunks_exact(64)).enumerate() {
            let (sc_low, m_low) = q4k_scale_min(2 * chunk, scales);
            let (sc_high, m_high) = q4k_scale_min(2 * chunk + 1, scales);
            let (q0, q1) = (load_u8(nibbles), load_u8(&nibbles[16..]));
            // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
            let (low, high) = unsafe {
                let mask = vdupq_n_u8(0x0f);
                let sixteen = vdupq_n_u8(0x10);
                let (bit_low, bit_high) = (vdupq_n_u8(1 << (2 * chunk)), vdupq_n_u8(1 << (2 * chunk + 1)));
                let fifth = |h: uint8x16_t, bit: uint8x16_t| vandq_u8(vtstq_u8(h, bit), sixteen);
                let l0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, mask), fifth(high0, bit_low)));
                let l1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, mask), fifth(high1, bit_low)));
                let h0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8::<4>(q0), fifth(high0, bit_high)));
                let h1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8::<4>(q1), fifth(high1, bit_high)));
                let low = vaddq_s32(dot16(l0, load_s8(quants)), dot16(l1, load_s8(&quants[16..])));
                let high = vaddq_s32(dot16(h0, load_s8(&quants[32..])), dot16(h1, load_s8(&quants[48..])));
                (sum_lanes(low), sum_lanes(high))
            };
            sumi += sc_low as i32 * low + sc_high as i32 * high;
            let s = &sums[4 * chunk..4 * chunk + 4];
            mins += m_low as i32 * (s[0] as i32 + s[1] as i32) + m_high as i32 * (s[2] as i32 + s[3] as i32);
        }
        sum += scale * (f16_at(block, 0) * sumi as f32 - f16_at(block, 2) * mins as f32);
    }
    sum
}

/// See [`super::scalar::dot_q4_k`].
pub fn dot_q4_k(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    let blocks = row
        .chunks_exact(layout::Q4_K_BYTES)
        .zip(&act.scales)
        .zip(act.quants.chunks_exact(256))
        .zip(act.sums.chunks_exact(16));
    for (((block, &scale), quants), sums) in blocks {
        let scales = &block[4..16];
        let mut sumi = 0i32;
        let mut mins = 0i32;
        for (chunk, (nibbles, quants)) in block[16..144].chunks_exact(32).zip(quants.chunks_exact(64)).enumerate() {
            let (sc_low, m_low) = q4k_scale_min(2 * chunk, scales);
            let (sc_high, m_high) = q4k_scale_min(2 * chunk + 1, scales);
            let (q0, q1) = (load_u8(nibbles), load_u8(&nibbles[16..]));
            // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
            let (low, high) = unsafe {
                let mask = vdupq_n_u8(0x0f);
                let l0 = vreinterpretq_s8_u8(vandq_u8(q0, mask));
                let l1 = vreinterpretq_s8_u8(vandq_u8(q1, mask));
                let h0 = vreinterpretq_s8_u8(vshrq_n_u8::<4>(q0));
                let h1 = vreinterpretq_s8_u8(vshrq_n_u8::<4>(q1));
                let low = vaddq_s32(dot16(l0, load_s8(quants)), dot16(l1, load_s8(&quants[16..])));
                let high = vaddq_s32(dot16(h0, load_s8(&quants[32..])), dot16(h1, load_s8(&quants[48..])));
                (sum_lanes(low), sum_lanes(high))
            };
            sumi += sc_low as i32 * low + sc_high as i32 * high;
            let s = &sums[4 * chunk..4 * chunk + 4];
            mins += m_low as i32 * (s[0] as i32 + s[1] as i32) + m_high as i32 * (s[2] as i32 + s[3] as i32);
        }
        sum += scale * (f16_at(block, 0) * sumi as f32 - f16_at(block, 2) * mins as f32);
    }
    sum
}

/// See [`super::scalar::dot_q6_k`].
pub fn dot_q6_k(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    for ((block, &scale), quants) in
        row.chunks_exact(layout::Q6_K_BYTES).zip(&act.scales).zip(act.quants.chunks_exact(256))
    {
        let mut sumi = 0i32;
        for half in 0..2 {
            let ql = &block[half * 64..half * 64 + 64];
            let qh = &block[128 + half * 32..128 + half * 32 + 32];
            let sc = &block[192 + half * 8..192 + half * 8 + 8];
            let a = &quants[half * 128..half * 128 + 128];
            // Two passes of 16 lanes (l = 0..16, 16..32); in each, the four quarters'
            // 6-bit values are rebuilt from low nibbles and 2-bit high parts.
            for pass in 0..2 {
                let l = pass * 16;
                let (low_a, low_b, high) = (load_u8(&ql[l..]), load_u8(&ql[l + 32..]), load_u8(&qh[l..]));
                // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
                let dots = unsafe {
                    let mask = vdupq_n_u8(0x0f);
                    let two = vdupq_n_u8(0x03);
                    let offset = vdupq_n_s8(32);
                    let six = |nibble: uint8x16_t, top: uint8x16_t| {
                        vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(nibble, vshlq_n_u8::<4>(vandq_u8(top, two)))), offset)
                    };
                    let q1 = six(vandq_u8(low_a, mask), high);
                    let q2 = six(vandq_u8(low_b, mask), vshrq_n_u8::<2>(high));
                    let q3 = six(vshrq_n_u8::<4>(low_a), vshrq_n_u8::<4>(high));
                    let q4 = six(vshrq_n_u8::<4>(low_b), vshrq_n_u8::<6>(high));
                    [
                        sum_lanes(dot16(q1, load_s8(&a[l..]))),
                        sum_lanes(dot16(q2, load_s8(&a[l + 32..]))),
                        sum_lanes(dot16(q3, load_s8(&a[l + 64..]))),
                        sum_lanes(dot16(q4, load_s8(&a[l + 96..]))),
                    ]
                };
                for (quarter, dot) in dots.iter().enumerate() {
                    sumi += sc[2 * quarter + pass] as i8 as i32 * dot;
                }
            }
        }
        sum += f16_at(block, 208) * scale * sumi as f32;
    }
    sum
}

/// See [`super::scalar::dot_f32`]: four lanes of unfused multiply-adds, as the scalar code.
pub fn dot_f32(row: &[u8], x: &[f32]) -> f32 {
    let mut rows = row.chunks_exact(16);
    let mut xs = x.chunks_exact(4);
    // SAFETY: register-only NEON arithmetic; NEON is baseline on AArch64.
    let mut acc = unsafe { vdupq_n_f32(0.0) };
    for (w, v) in (&mut rows).zip(&mut xs) {
        let v = &v[..4];
        // SAFETY: `w` is 16 bytes (chunks_exact) loaded as bytes (no alignment needed) and
        // reinterpreted as four little-endian f32; `v` is 4 in-bounds f32.
        unsafe {
            let w = vreinterpretq_f32_u8(load_u8(w));
            acc = vaddq_f32(acc, vmulq_f32(w, vld1q_f32(v.as_ptr())));
        }
    }
    // SAFETY: register-only lane reads; NEON is baseline on AArch64.
    let mut sum = unsafe {
        (vgetq_lane_f32::<0>(acc) + vgetq_lane_f32::<1>(acc)) + (vgetq_lane_f32::<2>(acc) + vgetq_lane_f32::<3>(acc))
    };
    for (w, v) in rows.remainder().chunks_exact(4).zip(xs.remainder()) {
        sum += f32::from_le_bytes([w[0], w[1], w[2], w[3]]) * v;
    }
    sum
}
