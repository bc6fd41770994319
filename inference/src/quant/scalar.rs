//! Portable kernels: the reference every SIMD kernel is tested against.
//!
//! Each row kernel takes one weight row (whole blocks, as [`super::Tensor`] guarantees) and
//! activations quantized by [`Q8Activations`] for the matching block size. The integer part
//! of every block is exact; the float accumulation order (block by block, left to right) is
//! part of the contract, so a SIMD kernel that keeps it returns bit-identical results.

use super::{f16_at, fifth_bit, layout, q4k_scale_min, u32_at, Q8Activations};

/// Fixed-size view of 32 bytes starting at `at` (the caller's `chunks_exact` guarantees them).
#[inline(always)]
fn array<const N: usize, T: Copy + Default>(slice: &[T], at: usize) -> [T; N] {
    let mut out = [T::default(); N];
    out.copy_from_slice(&slice[at..at + N]);
    out
}

/// Dot product of a Q8_0 row with Q8_0 activations.
pub fn dot_q8_0(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    for ((block, &scale), quants) in
        row.chunks_exact(layout::Q8_0_BYTES).zip(&act.scales).zip(act.quants.chunks_exact(32))
    {
        // Fixed-size arrays and plain index loops let the compiler vectorize.
        let w: [u8; 32] = array(block, 2);
        let a: [i8; 32] = array(quants, 0);
        let mut dot = 0i32;
        for j in 0..32 {
            dot += w[j] as i8 as i32 * a[j] as i32;
        }
        sum += dot as f32 * (f16_at(block, 0) * scale);
    }
    sum
}

/// Dot product of a Q4_0 row with Q8_0 activations.
pub fn dot_q4_0(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    for ((block, &scale), quants) in
        row.chunks_exact(layout::Q4_0_BYTES).zip(&act.scales).zip(act.quants.chunks_exact(32))
    {
        let q: [u8; 16] = array(block, 2);
        let a: [i8; 32] = array(quants, 0);
        let mut dot = 0i32;
        for j in 0..16 {
            dot += ((q[j] & 0xf) as i32 - 8) * a[j] as i32 + ((q[j] >> 4) as i32 - 8) * a[j + 16] as i32;
        }
        sum += dot as f32 * (f16_at(block, 0) * scale);
    }
    sum
}

/// The blocks of a 32-weight row with their activations: (block bytes, activation scale,
/// 32 activation quants, the activations' Q8_1 offset `f16(Σq · d)`).
fn blocks_of_32<'a>(
    row: &'a [u8],
    block_bytes: usize,
    act: &'a Q8Activations,
) -> impl Iterator<Item = (&'a [u8], f32, [i8; 32], f32)> + 'a {
    row.chunks_exact(block_bytes)
        .zip(&act.scales)
        .zip(act.quants.chunks_exact(32))
        .zip(&act.offsets)
        .map(|(((block, &scale), quants), &offset)| (block, scale, array(quants, 0), offset))
}

/// Dot product of a Q4_1 row with Q8_0 activations: the minimum `m` goes in through the
/// activations' block offset (ggml's Q8_1 `s`), per block `dot · (d · scale) + m · s`, as
/// ggml's reference `vec_dot_q4_1_q8_1`.
pub fn dot_q4_1(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    for (block, scale, a, offset) in blocks_of_32(row, layout::Q4_1_BYTES, act) {
        let q: [u8; 16] = array(block, 4);
        let mut dot = 0i32;
        for j in 0..16 {
            dot += (q[j] & 0xf) as i32 * a[j] as i32 + (q[j] >> 4) as i32 * a[j + 16] as i32;
        }
        sum += dot as f32 * (f16_at(block, 0) * scale) + f16_at(block, 2) * offset;
    }
    sum
}

/// Dot product of a Q5_0 row with Q8_0 activations.
pub fn dot_q5_0(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    for (block, scale, a, _) in blocks_of_32(row, layout::Q5_0_BYTES, act) {
        let high = u32_at(block, 2);
        let q: [u8; 16] = array(block, 6);
        let mut dot = 0i32;
        for j in 0..16 {
            let w0 = ((q[j] & 0xf) | fifth_bit(high, j)) as i32 - 16;
            let w1 = ((q[j] >> 4) | fifth_bit(high, j + 16)) as i32 - 16;
            dot += w0 * a[j] as i32 + w1 * a[j + 16] as i32;
        }
        sum += dot as f32 * (f16_at(block, 0) * scale);
    }
    sum
}

/// Dot product of a Q5_1 row with Q8_0 activations (the minimum as in [`dot_q4_1`]).
pub fn dot_q5_1(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    for (block, scale, a, offset) in blocks_of_32(row, layout::Q5_1_BYTES, act) {
        let high = u32_at(block, 4);
        let q: [u8; 16] = array(block, 8);
        let mut dot = 0i32;
        for j in 0..16 {
            let w0 = ((q[j] & 0xf) | fifth_bit(high, j)) as i32;
            let w1 = ((q[j] >> 4) | fifth_bit(high, j + 16)) as i32;
            dot += w0 * a[j] as i32 + w1 * a[j + 16] as i32;
        }
        sum += dot as f32 * (f16_at(block, 0) * scale) + f16_at(block, 2) * offset;
    }
    sum
}

/// Dot product of a Q5_K row with Q8_K activations: as [`dot_q4_k`] with each nibble's
/// fifth bit from the block's 32 high-bit bytes.
pub fn dot_q5_k(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    let blocks = row
        .chunks_exact(layout::Q5_K_BYTES)
        .zip(&act.scales)
        .zip(act.quants.chunks_exact(256))
        .zip(act.sums.chunks_exact(16));
    for (((block, &scale), quants), sums) in blocks {
        let scales = &block[4..16];
        let high: [u8; 32] = array(block, 16);
        let mut sumi = 0i32;
        let mut mins = 0i32;
        for (chunk, (nibbles, quants)) in block[48..176].chunks_exact(32).zip(quants.chunks_exact(64)).enumerate() {
            let (sc_low, m_low) = q4k_scale_min(2 * chunk, scales);
            let (sc_high, m_high) = q4k_scale_min(2 * chunk + 1, scales);
            let q: [u8; 32] = array(nibbles, 0);
            let a: [i8; 64] = array(quants, 0);
            let (mut low, mut high_sum) = (0i32, 0i32);
            for j in 0..32 {
                let w_low = (q[j] & 0xf) as i32 + (((high[j] >> (2 * chunk)) & 1) as i32) * 16;
                let w_high = (q[j] >> 4) as i32 + (((high[j] >> (2 * chunk + 1)) & 1) as i32) * 16;
                low += w_low * a[j] as i32;
                high_sum += w_high * a[j + 32] as i32;
            }
            sumi += sc_low as i32 * low + sc_high as i32 * high_sum;
            let group = |g: usize| sums.get(g).map_or(0, |&s| s as i32);
            mins += m_low as i32 * (group(4 * chunk) + group(4 * chunk + 1))
                + m_high as i32 * (group(4 * chunk + 2) + group(4 * chunk + 3));
        }
        sum += scale * (f16_at(block, 0) * sumi as f32 - f16_at(block, 2) * mins as f32);
    }
    sum
}

/// Dot product of a Q4_K row with Q8_K activations (as ggml's `vec_dot_q4_K_q8_K`: the
/// minimums are applied through the activations' 16-element sums).
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
        for (chunk, (nibbles, quants)) in block[16..].chunks_exact(32).zip(quants.chunks_exact(64)).enumerate() {
            let (sc_low, m_low) = q4k_scale_min(2 * chunk, scales);
            let (sc_high, m_high) = q4k_scale_min(2 * chunk + 1, scales);
            let q: [u8; 32] = array(nibbles, 0);
            let a: [i8; 64] = array(quants, 0);
            let (mut low, mut high) = (0i32, 0i32);
            for j in 0..32 {
                low += (q[j] & 0xf) as i32 * a[j] as i32;
                high += (q[j] >> 4) as i32 * a[j + 32] as i32;
            }
            sumi += sc_low as i32 * low + sc_high as i32 * high;
            let group = |g: usize| sums.get(g).map_or(0, |&s| s as i32);
            mins += m_low as i32 * (group(4 * chunk) + group(4 * chunk + 1))
                + m_high as i32 * (group(4 * chunk + 2) + group(4 * chunk + 3));
        }
        sum += scale * (f16_at(block, 0) * sumi as f32 - f16_at(block, 2) * mins as f32);
    }
    sum
}

/// Dot product of a Q6_K row with Q8_K activations.
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
            // Four 32-weight quarters; each 16-weight group has its own signed scale.
            let mut groups = [0i32; 8];
            for l in 0..32 {
                let q = [
                    ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) as i32 - 32,
                    ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32,
                    ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32,
                    ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32,
                ];
                for (quarter, q) in q.iter().enumerate() {
                    groups[2 * quarter + l / 16] += q * a[l + 32 * quarter] as i32;
                }
            }
            for (g, dot) in groups.iter().enumerate() {
                sumi += sc[g] as i8 as i32 * dot;
            }
        }
        sum += f16_at(block, 208) * scale * sumi as f32;
    }
    sum
}

/// Dot product of an F32 row (little-endian bytes) with `x`.
pub fn dot_f32(row: &[u8], x: &[f32]) -> f32 {
    // Four partial sums, matching the NEON kernel's lanes (and letting the compiler vectorize).
    let mut acc = [0.0f32; 4];
    let mut rows = row.chunks_exact(16);
    let mut xs = x.chunks_exact(4);
    for (w, v) in (&mut rows).zip(&mut xs) {
        for lane in 0..4 {
            let b = &w[lane * 4..lane * 4 + 4];
            acc[lane] += f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * v[lane];
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (w, v) in rows.remainder().chunks_exact(4).zip(xs.remainder()) {
        sum += f32::from_le_bytes([w[0], w[1], w[2], w[3]]) * v;
    }
    sum
}
