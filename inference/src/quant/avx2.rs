//! x86_64 kernels for the host: AVX2 + FMA + F16C, with the same signatures and the same
//! results (bit for bit) as [`super::scalar`]. Where AVX-512 VNNI is present too (with
//! AVX-512 VL/BW, as on Zen 4 and Ice Lake or later), the Q4_0 and Q8_0 kernels use its
//! `vpdpbusd` (u8 × i8 products summed straight into i32 lanes) on 256-bit registers.
//!
//! # Selection
//! The host crates build for the x86_64 baseline (SSE2 only), so AVX2 cannot be assumed at
//! compile time: a `target_feature` build would either need every developer to pass
//! `-C target-cpu=native` or silently run the scalar code. Instead the CPU is asked once
//! per process (`cpuid`, and `xgetbv` for whether the OS saves the YMM registers) and the
//! answer is cached in an atomic; each public function then reads that atomic (one relaxed
//! load, nothing against a row of 2048 weights) and runs the AVX2 body or the scalar one.
//! This works in `no_std` (no `is_x86_feature_detected!`), so the same crate serves a
//! bare-metal x86 build too.
//!
//! # Why the results are identical
//! Integer block sums are exact in any order (products fit i16 lanes, sums i32 lanes, with
//! no saturation for any input: see each kernel). Weights are taken unsigned where that is
//! cheaper (Q4_0's nibbles 0..15, Q8_0's bytes + 128 for `vpdpbusd`) and the offset comes
//! out exactly through the activations' block sums: Σ(q − c)·a = Σq·a − c·Σa. The float
//! part of every block — the `dot as f32 * (d * scale)` product and the left-to-right
//! accumulation over blocks — is done in the scalar kernel's order: eight blocks' integer
//! sums are reduced to one vector, converted and scaled lane-wise (the same IEEE roundings
//! as the scalar code), then added to the running sum one lane at a time.
//!
//! That sequential add costs one f32 add latency per 32 weights, but it is not what limits
//! these kernels: interleaving two rows (two independent chains) gave no gain, and neither
//! did ggml's order (eight float lanes per block, FMA, four or eight accumulator sets —
//! tried with a matching scalar reference, 27-29 G weights/s either way), so they are bound
//! by instruction and load throughput. Measured in cache, one thread, rows of 2048: Q4_0 30,
//! Q8_0 28, Q4_K and Q6_K 19 G weights/s (scalar: 2.2, 2.3, 4.1, 1.1). On the build
//! machine a loop of nothing but each block's two 32-byte loads and one `vpdpbusd` runs at
//! 2 cycles per block, this Q8_0 kernel at about 4. F32 keeps the scalar kernel's four
//! unfused lanes (tiny models only), so it gains little.
//!
//! Batches (prompts) share loads: [`dot_multi`] loads (and flips or unpacks) each group of a
//! Q8_0 or Q4_0 row's blocks and gathers their scales once for four inputs, then runs each
//! input's steps exactly as the single kernel does (so the results are the same bits):
//! Q8_0 1.26x, Q4_0 1.35x on a batch of 16 (in cache, build machine).
//!
//! # Safety
//! `unsafe` appears only to call a `#[target_feature]` function after [`available`] (or
//! [`vnni_available`]) confirmed the features, to read XCR0 after cpuid reported OSXSAVE,
//! and for unaligned loads and one gather from slices that were just cut to cover every
//! byte read (slicing panics rather than read out of bounds).

use super::{f16_at, layout, q4k_scale_min, scalar, Q8Activations};
use core::arch::x86_64::*;
use core::sync::atomic::{AtomicU8, Ordering};

/// What the CPU offers (asked once, then cached): bit 0 = known, bit 1 = AVX2 + FMA +
/// F16C, bit 2 = AVX-512 F/BW/VL + VNNI.
static LEVEL: AtomicU8 = AtomicU8::new(0);
const KNOWN: u8 = 1;
const AVX2: u8 = 2;
const VNNI: u8 = 4;

fn detect() -> u8 {
    // Leaf 0 gives the highest leaf; leaf 1 the AVX/FMA/F16C/OSXSAVE bits.
    let (max_leaf, leaf1) = (__cpuid(0).eax, __cpuid(1));
    let osxsave = leaf1.ecx & (1 << 27) != 0;
    let avx = leaf1.ecx & (1 << 28) != 0;
    let fma = leaf1.ecx & (1 << 12) != 0;
    let f16c = leaf1.ecx & (1 << 29) != 0;
    if max_leaf < 7 || !(osxsave && avx && fma && f16c) {
        return KNOWN;
    }
    let leaf7 = __cpuid_count(7, 0);
    let avx2 = leaf7.ebx & (1 << 5) != 0;
    let avx512 = leaf7.ebx & (1 << 16) != 0 && leaf7.ebx & (1 << 30) != 0 && leaf7.ebx & (1 << 31) != 0;
    let vnni = leaf7.ecx & (1 << 11) != 0;
    // SAFETY: OSXSAVE is set, so `xgetbv` is enabled; register 0 is XCR0.
    let xcr0 = unsafe { _xgetbv(0) };
    // The OS must save the SSE (bit 1) and upper YMM (bit 2) state, and for AVX-512 the
    // opmask and upper ZMM state (bits 5-7).
    let ymm = xcr0 & 0b110 == 0b110;
    let zmm = xcr0 & 0b1110_0000 == 0b1110_0000;
    match (avx2 && ymm, avx512 && vnni && zmm) {
        (true, true) => KNOWN | AVX2 | VNNI,
        (true, false) => KNOWN | AVX2,
        _ => KNOWN,
    }
}

fn level() -> u8 {
    let level = LEVEL.load(Ordering::Relaxed);
    if level & KNOWN != 0 {
        return level;
    }
    let level = detect();
    LEVEL.store(level, Ordering::Relaxed);
    level
}

/// True when this CPU (and OS) can run the AVX2 kernels; otherwise every function here
/// runs the scalar reference.
pub fn available() -> bool {
    level() & AVX2 != 0
}

/// True when the Q4_0/Q8_0 kernels use AVX-512 VNNI.
pub fn vnni_available() -> bool {
    level() & VNNI != 0
}

/// Loads 32 bytes from the start of `bytes`.
#[inline]
#[target_feature(enable = "avx2")]
fn load32<T: Copy>(bytes: &[T]) -> __m256i {
    const { assert!(core::mem::size_of::<T>() == 1) };
    let bytes = &bytes[..32];
    // SAFETY: `bytes` holds exactly 32 one-byte elements (the slicing panics otherwise)
    // and `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// Loads 16 bytes from the start of `bytes`.
#[inline]
#[target_feature(enable = "avx2")]
fn load16(bytes: &[u8]) -> __m128i {
    let bytes = &bytes[..16];
    // SAFETY: 16 in-bounds bytes, no alignment requirement.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}

/// Products of signed bytes `w` and `a`, summed in groups of four into eight i32 lanes.
/// `sign` moves `w`'s sign onto `a` so that `maddubs` (unsigned × signed) sees |w| ≤ 128;
/// the activation quantizers never emit −128 (their scales map the largest magnitude to
/// 127), so each i16 pair sum is at most 2 · 128 · 127 = 32512: no saturation.
#[inline]
#[target_feature(enable = "avx2")]
fn dot_i8(w: __m256i, a: __m256i) -> __m256i {
    let products = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    _mm256_madd_epi16(products, _mm256_set1_epi16(1))
}

/// Horizontal sum of eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn sum_i32(v: __m256i) -> i32 {
    let v = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b01_00_11_10>(v));
    let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b10_11_00_01>(v));
    _mm_cvtsi128_si32(v)
}

/// Lane `b` of the result is the sum of all lanes of `v[b]` (eight blocks' partial sums
/// reduced at once: seven `hadd`s instead of eight full reductions).
#[inline]
#[target_feature(enable = "avx2")]
fn sum_each(v: &[__m256i; 8]) -> __m256i {
    let h01 = _mm256_hadd_epi32(v[0], v[1]);
    let h23 = _mm256_hadd_epi32(v[2], v[3]);
    let h45 = _mm256_hadd_epi32(v[4], v[5]);
    let h67 = _mm256_hadd_epi32(v[6], v[7]);
    // Low half: lanes 0-3 of blocks 0-3; high half: lanes 4-7 of blocks 0-3 (same for 4-7).
    let h0123 = _mm256_hadd_epi32(h01, h23);
    let h4567 = _mm256_hadd_epi32(h45, h67);
    let low = _mm256_permute2x128_si256::<0x20>(h0123, h4567);
    let high = _mm256_permute2x128_si256::<0x31>(h0123, h4567);
    _mm256_add_epi32(low, high)
}

/// Adds `dots[b] as f32 * (d[b] * scale[b])` to `sum` for b = 0..8 in order: the scalar
/// kernels' float steps, lane-wise (the same IEEE operations, so the same roundings).
/// `d` holds the eight blocks' f16 scales (low halves of the lanes). Only the eight
/// sequential adds depend on the previous `sum`; everything else can run ahead.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn accumulate8(sum: f32, dots: __m256i, d: __m256i, scales: &[f32]) -> f32 {
    accumulate8_with(sum, dots, half_floats(d), scales)
}

/// Eight f16 values in the low halves of `d`'s i32 lanes, as f32.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn half_floats(d: __m256i) -> __m256 {
    // Low 16 bits of each lane, packed into the low 128 bits, as f32.
    let halves = _mm256_packus_epi32(_mm256_and_si256(d, _mm256_set1_epi32(0xffff)), _mm256_setzero_si256());
    _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b00_00_10_00>(halves)))
}

/// [`accumulate8`] with the block scales already converted (shared by several inputs).
/// The lanes are added to the running sum one at a time, in order, with single-lane adds
/// on registers (no store and reload).
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn accumulate8_with(sum: f32, dots: __m256i, d: __m256, scales: &[f32]) -> f32 {
    let products = _mm256_mul_ps(_mm256_cvtepi32_ps(dots), _mm256_mul_ps(d, load_f32x8(scales)));
    add_in_order(sum, products)
}

/// Eight f32 from the start of `values`.
#[inline]
#[target_feature(enable = "avx2")]
fn load_f32x8(values: &[f32]) -> __m256 {
    let values = &values[..8];
    // SAFETY: `values` is 8 in-bounds f32; no alignment needed.
    unsafe { _mm256_loadu_ps(values.as_ptr()) }
}

/// The blocks of Q4_1/Q5_1 (a minimum `m` besides the scale `d`): per block
/// `dot · (d · scale) + m · offset` lane-wise, then added to `sum` in order — the scalar
/// kernels' operations. `dm` holds each block's first four bytes (d low, m high).
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn accumulate8_min(sum: f32, dots: __m256i, dm: __m256i, scales: &[f32], offsets: &[f32]) -> f32 {
    let (d, m) = (half_floats(dm), half_floats(_mm256_srli_epi32::<16>(dm)));
    let products = _mm256_mul_ps(_mm256_cvtepi32_ps(dots), _mm256_mul_ps(d, load_f32x8(scales)));
    let minimums = _mm256_mul_ps(m, load_f32x8(offsets));
    add_in_order(sum, _mm256_add_ps(products, minimums))
}

/// `sum` plus lanes 0..8 of `values`, one at a time in order, with single-lane adds on
/// registers (no store and reload).
#[inline]
#[target_feature(enable = "avx2")]
fn add_in_order(sum: f32, values: __m256) -> f32 {
    let (low, high) = (_mm256_castps256_ps128(values), _mm256_extractf128_ps::<1>(values));
    let mut s = _mm_set_ss(sum);
    for half in [low, high] {
        s = _mm_add_ss(s, half);
        s = _mm_add_ss(s, _mm_movehdup_ps(half));
        s = _mm_add_ss(s, _mm_movehl_ps(half, half));
        s = _mm_add_ss(s, _mm_shuffle_ps::<0b11_11_11_11>(half, half));
    }
    _mm_cvtss_f32(s)
}

/// The Q8_0/Q4_0 row loop, expanded inside each kernel (so that the block body is compiled
/// with that kernel's target features). `$block(bytes, quants)` gives a block's partial
/// sums of `w' · a` for the kernel's unsigned (or sign-moved) weights `w' = w + bias`;
/// `dot − bias · Σa` is then the exact block dot product. Eight blocks at a time, then one
/// at a time; like the scalar kernels it stops at the shorter of the row and activations.
macro_rules! rows_of_32 {
    ($row:expr, $block_bytes:expr, $act:expr, $bias:expr, $block:expr) => {{
        let (row, act, block_bytes, bias): (&[u8], &Q8Activations, usize, i32) = ($row, $act, $block_bytes, $bias);
        let blocks = (row.len() / block_bytes).min(act.scales.len()).min(act.quants.len() / 32).min(act.sums.len());
        let (row, quants, scales, sums) =
            (&row[..blocks * block_bytes], &act.quants[..blocks * 32], &act.scales[..blocks], &act.sums[..blocks]);
        let mut sum = 0.0f32;
        let groups = row
            .chunks_exact(8 * block_bytes)
            .zip(quants.chunks_exact(256))
            .zip(scales.chunks_exact(8))
            .zip(sums.chunks_exact(8));
        for (((group, quants), scales), sums) in groups {
            let mut partial = [_mm256_setzero_si256(); 8];
            for (b, (bytes, a)) in group.chunks_exact(block_bytes).zip(quants.chunks_exact(32)).enumerate() {
                partial[b] = $block(bytes, a);
            }
            let d = block_scales(group, block_bytes);
            let offsets = _mm256_mullo_epi32(widen_i16(sums), _mm256_set1_epi32(bias));
            sum = accumulate8(sum, _mm256_sub_epi32(sum_each(&partial), offsets), d, scales);
        }
        let done = blocks / 8 * 8;
        let tail = row[done * block_bytes..]
            .chunks_exact(block_bytes)
            .zip(quants[done * 32..].chunks_exact(32))
            .zip(&scales[done..])
            .zip(&sums[done..]);
        for (((bytes, a), &scale), &block_sum) in tail {
            let dot = sum_i32($block(bytes, a)) - bias * block_sum as i32;
            sum += dot as f32 * (f16_at(bytes, 0) * scale);
        }
        sum
    }};
}

/// The first four bytes of each of eight blocks (f16 scale in the low half of each lane),
/// in one gather: scalar loads and inserts cost more, and made LLVM merge into whatever
/// register was free — the one holding the running sum, which serialised the groups.
#[inline]
#[target_feature(enable = "avx2")]
fn block_scales(group: &[u8], block_bytes: usize) -> __m256i {
    let group = &group[..8 * block_bytes];
    let stride = block_bytes as i32;
    let offsets = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    // SAFETY: lane b reads bytes b·block_bytes .. b·block_bytes + 4 of `group`, which holds
    // 8 blocks of at least 18 bytes, so every read is in bounds; no alignment needed.
    unsafe { _mm256_i32gather_epi32::<1>(group.as_ptr().cast(), offsets) }
}

/// Eight i16 (`values[..8]`) widened to eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn widen_i16(values: &[i16]) -> __m256i {
    let values = &values[..8];
    // SAFETY: 8 in-bounds i16 (16 bytes), no alignment requirement.
    _mm256_cvtepi16_epi32(unsafe { _mm_loadu_si128(values.as_ptr().cast()) })
}

/// 16 bytes of nibbles as 32 unsigned bytes 0..15 (low nibbles are weights 0-15, high
/// nibbles 16-31).
#[inline]
#[target_feature(enable = "avx2")]
fn nibbles(packed: &[u8]) -> __m256i {
    let bytes = load16(packed);
    _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(bytes), bytes), _mm256_set1_epi8(0x0f))
}

/// Q5_0/Q5_1's four bytes of fifth bits as 32 bytes: 16 where bit i is set, else 0 (each
/// byte of the word copied to eight lanes, every lane keeping its own bit).
#[inline]
#[target_feature(enable = "avx2")]
fn fifth_bits(high: &[u8]) -> __m256i {
    let word = i32::from_le_bytes([high[0], high[1], high[2], high[3]]);
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(word),
        _mm256_set_epi64x(0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0),
    );
    let all_but_own_bit = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe);
    let set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, all_but_own_bit), _mm256_set1_epi8(-1));
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// The row loop of the 32-weight formats with a minimum (Q4_1, Q5_1): like [`rows_of_32`]
/// (no bias: their weights are unsigned) with [`accumulate8_min`] for the float part.
macro_rules! rows_of_32_with_min {
    ($row:expr, $block_bytes:expr, $act:expr, $block:expr) => {{
        let (row, act, block_bytes): (&[u8], &Q8Activations, usize) = ($row, $act, $block_bytes);
        let blocks = (row.len() / block_bytes).min(act.scales.len()).min(act.quants.len() / 32).min(act.offsets.len());
        let (row, quants, scales, offsets) =
            (&row[..blocks * block_bytes], &act.quants[..blocks * 32], &act.scales[..blocks], &act.offsets[..blocks]);
        let mut sum = 0.0f32;
        let groups = row
            .chunks_exact(8 * block_bytes)
            .zip(quants.chunks_exact(256))
            .zip(scales.chunks_exact(8))
            .zip(offsets.chunks_exact(8));
        for (((group, quants), scales), offsets) in groups {
            let mut partial = [_mm256_setzero_si256(); 8];
            for (b, (bytes, a)) in group.chunks_exact(block_bytes).zip(quants.chunks_exact(32)).enumerate() {
                partial[b] = $block(bytes, a);
            }
            sum = accumulate8_min(sum, sum_each(&partial), block_scales(group, block_bytes), scales, offsets);
        }
        let done = blocks / 8 * 8;
        let tail = row[done * block_bytes..]
            .chunks_exact(block_bytes)
            .zip(quants[done * 32..].chunks_exact(32))
            .zip(&scales[done..])
            .zip(&offsets[done..]);
        for (((bytes, a), &scale), &offset) in tail {
            let dot = sum_i32($block(bytes, a));
            sum += dot as f32 * (f16_at(bytes, 0) * scale) + f16_at(bytes, 2) * offset;
        }
        sum
    }};
}

/// Q4_1: unsigned nibbles × activations (pair sums ≤ 2 · 15 · 127), no offset; the
/// minimum through the block sums.
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_1(row: &[u8], act: &Q8Activations) -> f32 {
    let ones = _mm256_set1_epi16(1);
    rows_of_32_with_min!(row, layout::Q4_1_BYTES, act, |bytes: &[u8], a: &[i8]| {
        _mm256_madd_epi16(_mm256_maddubs_epi16(nibbles(&bytes[4..20]), load32(a)), ones)
    })
}

/// Q5_0: 5-bit unsigned weights 0..31 (pair sums ≤ 2 · 31 · 127 = 7874, no saturation),
/// offset 16.
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_0(row: &[u8], act: &Q8Activations) -> f32 {
    let ones = _mm256_set1_epi16(1);
    rows_of_32!(row, layout::Q5_0_BYTES, act, 16, |bytes: &[u8], a: &[i8]| {
        let weights = _mm256_or_si256(nibbles(&bytes[6..22]), fifth_bits(&bytes[2..6]));
        _mm256_madd_epi16(_mm256_maddubs_epi16(weights, load32(a)), ones)
    })
}

/// Q5_1: as [`q5_0`] without the offset, the minimum through the block sums.
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_1(row: &[u8], act: &Q8Activations) -> f32 {
    let ones = _mm256_set1_epi16(1);
    rows_of_32_with_min!(row, layout::Q5_1_BYTES, act, |bytes: &[u8], a: &[i8]| {
        let weights = _mm256_or_si256(nibbles(&bytes[8..24]), fifth_bits(&bytes[4..8]));
        _mm256_madd_epi16(_mm256_maddubs_epi16(weights, load32(a)), ones)
    })
}

/// Q8_0: signed weights, sign moved onto the activations (see [`dot_i8`]); no offset.
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0(row: &[u8], act: &Q8Activations) -> f32 {
    rows_of_32!(row, layout::Q8_0_BYTES, act, 0, |bytes: &[u8], a: &[i8]| dot_i8(load32(&bytes[2..34]), load32(a)))
}

/// The Q4_0 row loop over pairs of blocks, for activations that carry the pair-interleaved
/// copy ([`Q8Activations::prepare`] makes it for Q4_0): the nibble bytes of blocks A and B
/// share one register (`[A | B]`), so one shift and two masks give `[A 0-15 | B 0-15]` and
/// `[A 16-31 | B 16-31]`, which meet activations already laid out the same way; `$pair`
/// turns those into lane sums (lanes 0-3 block A, 4-7 block B). Eight blocks reduce with
/// three `hadd`s and one permute. Falls back to [`rows_of_32`] without the copy.
macro_rules! q4_0_pairs {
    ($row:expr, $act:expr, $pair:expr, $single:expr) => {{
        let (row, act): (&[u8], &Q8Activations) = ($row, $act);
        const BYTES: usize = layout::Q4_0_BYTES;
        let blocks = (row.len() / BYTES).min(act.scales.len()).min(act.quants.len() / 32).min(act.sums.len());
        if act.pairs.len() < blocks / 2 * 64 {
            rows_of_32!(row, BYTES, act, 8, $single)
        } else {
            let (row, pairs, scales, sums) =
                (&row[..blocks * BYTES], &act.pairs[..blocks / 2 * 64], &act.scales[..blocks], &act.sums[..blocks]);
            let mask = _mm256_set1_epi8(0x0f);
            let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
            let mut sum = 0.0f32;
            let groups = row
                .chunks_exact(8 * BYTES)
                .zip(pairs.chunks_exact(256))
                .zip(scales.chunks_exact(8))
                .zip(sums.chunks_exact(8));
            for (((group, pairs), scales), sums) in groups {
                let mut lanes = [_mm256_setzero_si256(); 4];
                for (p, (two, a)) in group.chunks_exact(2 * BYTES).zip(pairs.chunks_exact(64)).enumerate() {
                    let both = _mm256_set_m128i(load16(&two[BYTES + 2..]), load16(&two[2..]));
                    let (low, high) =
                        (_mm256_and_si256(both, mask), _mm256_and_si256(_mm256_srli_epi16::<4>(both), mask));
                    lanes[p] = $pair(low, high, load32(a), load32(&a[32..]));
                }
                let h = _mm256_hadd_epi32(_mm256_hadd_epi32(lanes[0], lanes[1]), _mm256_hadd_epi32(lanes[2], lanes[3]));
                let dots = _mm256_permutevar8x32_epi32(h, order);
                let offsets = _mm256_slli_epi32::<3>(widen_i16(sums));
                sum = accumulate8(sum, _mm256_sub_epi32(dots, offsets), block_scales(group, BYTES), scales);
            }
            let done = blocks / 8 * 8;
            let tail = row[done * BYTES..]
                .chunks_exact(BYTES)
                .zip(act.quants[done * 32..].chunks_exact(32))
                .zip(&scales[done..])
                .zip(&sums[done..]);
            for (((bytes, a), &scale), &block_sum) in tail {
                let dot = sum_i32($single(bytes, a)) - 8 * block_sum as i32;
                sum += dot as f32 * (f16_at(bytes, 0) * scale);
            }
            sum
        }
    }};
}

/// Q4_0: unsigned nibbles × activations (pair sums ≤ 2 · 15 · 127, and low + high halves
/// ≤ 7620 still fit i16), offset 8.
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_0(row: &[u8], act: &Q8Activations) -> f32 {
    let ones = _mm256_set1_epi16(1);
    q4_0_pairs!(
        row,
        act,
        |low, high, a_low, a_high| _mm256_madd_epi16(
            _mm256_add_epi16(_mm256_maddubs_epi16(low, a_low), _mm256_maddubs_epi16(high, a_high)),
            ones
        ),
        |bytes: &[u8], a: &[i8]| _mm256_madd_epi16(_mm256_maddubs_epi16(nibbles(&bytes[2..18]), load32(a)), ones)
    )
}

/// Q8_0 with VNNI: weights + 128 (XOR of the sign bit) are unsigned 0..255, `vpdpbusd`
/// sums their products with the activations in i32 (no intermediate saturation); offset 128.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q8_0_vnni(row: &[u8], act: &Q8Activations) -> f32 {
    let flip = _mm256_set1_epi8(-128);
    let zero = _mm256_setzero_si256();
    rows_of_32!(row, layout::Q8_0_BYTES, act, 128, |bytes: &[u8], a: &[i8]| {
        _mm256_dpbusd_epi32(zero, _mm256_xor_si256(load32(&bytes[2..34]), flip), load32(a))
    })
}

/// Q8_0 with VNNI for several inputs against one row: the row's blocks are loaded, flipped
/// and their scales gathered once per group of eight and used for every input, so a batch
/// (a prompt) reads the weights once for `N` inputs instead of `N` times. Each input's
/// integer and float steps are exactly [`q8_0_vnni`]'s, so each result is bit-identical.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q8_0_vnni_multi<const N: usize>(row: &[u8], acts: &[&Q8Activations; N]) -> [f32; N] {
    const BYTES: usize = layout::Q8_0_BYTES;
    let mut blocks = row.len() / BYTES;
    for act in acts {
        blocks = blocks.min(act.scales.len()).min(act.quants.len() / 32).min(act.sums.len());
    }
    let row = &row[..blocks * BYTES];
    let flip = _mm256_set1_epi8(-128);
    let zero = _mm256_setzero_si256();
    let mut sums = [0.0f32; N];
    for (g, group) in row.chunks_exact(8 * BYTES).enumerate() {
        let d = half_floats(block_scales(group, BYTES));
        let mut weights = [zero; 8];
        for (b, w) in weights.iter_mut().enumerate() {
            *w = _mm256_xor_si256(load32(&group[b * BYTES + 2..b * BYTES + 34]), flip);
        }
        for (sum, act) in sums.iter_mut().zip(acts) {
            let quants = &act.quants[256 * g..256 * g + 256];
            let mut partial = [zero; 8];
            for (b, p) in partial.iter_mut().enumerate() {
                *p = _mm256_dpbusd_epi32(zero, weights[b], load32(&quants[32 * b..32 * b + 32]));
            }
            let offsets = _mm256_mullo_epi32(widen_i16(&act.sums[8 * g..8 * g + 8]), _mm256_set1_epi32(128));
            *sum =
                accumulate8_with(*sum, _mm256_sub_epi32(sum_each(&partial), offsets), d, &act.scales[8 * g..8 * g + 8]);
        }
    }
    let done = blocks / 8 * 8;
    for (i, bytes) in row[done * BYTES..].chunks_exact(BYTES).enumerate() {
        let block = done + i;
        let w = _mm256_xor_si256(load32(&bytes[2..34]), flip);
        for (sum, act) in sums.iter_mut().zip(acts) {
            let a = &act.quants[32 * block..32 * block + 32];
            let dot = sum_i32(_mm256_dpbusd_epi32(zero, w, load32(a))) - 128 * act.sums[block] as i32;
            *sum += dot as f32 * (f16_at(bytes, 0) * act.scales[block]);
        }
    }
    sums
}

/// Q4_0 with VNNI: unsigned nibbles, offset 8.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q4_0_vnni(row: &[u8], act: &Q8Activations) -> f32 {
    let zero = _mm256_setzero_si256();
    q4_0_pairs!(
        row,
        act,
        |low, high, a_low, a_high| _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(zero, low, a_low), high, a_high),
        |bytes: &[u8], a: &[i8]| _mm256_dpbusd_epi32(zero, nibbles(&bytes[2..18]), load32(a))
    )
}

/// Q4_0 with VNNI for several inputs against one row, as [`q8_0_vnni_multi`] is for Q8_0:
/// each group's nibbles are unpacked and its scales gathered once for every input; each
/// input's steps are exactly [`q4_0_vnni`]'s (its pair-interleaved path), so the results
/// are the same bits. All inputs must carry the pair-interleaved activations.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q4_0_vnni_multi<const N: usize>(row: &[u8], acts: &[&Q8Activations; N]) -> [f32; N] {
    const BYTES: usize = layout::Q4_0_BYTES;
    let mut blocks = row.len() / BYTES;
    for act in acts {
        blocks = blocks.min(act.scales.len()).min(act.quants.len() / 32).min(act.sums.len());
    }
    let row = &row[..blocks * BYTES];
    let (mask, zero) = (_mm256_set1_epi8(0x0f), _mm256_setzero_si256());
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let mut sums = [0.0f32; N];
    for (g, group) in row.chunks_exact(8 * BYTES).enumerate() {
        let d = half_floats(block_scales(group, BYTES));
        let mut nibbles = [(zero, zero); 4];
        for (p, n) in nibbles.iter_mut().enumerate() {
            let two = &group[2 * p * BYTES..2 * (p + 1) * BYTES];
            let both = _mm256_set_m128i(load16(&two[BYTES + 2..]), load16(&two[2..]));
            *n = (_mm256_and_si256(both, mask), _mm256_and_si256(_mm256_srli_epi16::<4>(both), mask));
        }
        for (sum, act) in sums.iter_mut().zip(acts) {
            let pairs = &act.pairs[256 * g..256 * g + 256];
            let mut lanes = [zero; 4];
            for (p, lane) in lanes.iter_mut().enumerate() {
                let a = &pairs[64 * p..64 * p + 64];
                *lane = _mm256_dpbusd_epi32(
                    _mm256_dpbusd_epi32(zero, nibbles[p].0, load32(a)),
                    nibbles[p].1,
                    load32(&a[32..]),
                );
            }
            let h = _mm256_hadd_epi32(_mm256_hadd_epi32(lanes[0], lanes[1]), _mm256_hadd_epi32(lanes[2], lanes[3]));
            let dots = _mm256_permutevar8x32_epi32(h, order);
            let offsets = _mm256_slli_epi32::<3>(widen_i16(&act.sums[8 * g..8 * g + 8]));
            *sum = accumulate8_with(*sum, _mm256_sub_epi32(dots, offsets), d, &act.scales[8 * g..8 * g + 8]);
        }
    }
    let done = blocks / 8 * 8;
    for (i, bytes) in row[done * BYTES..].chunks_exact(BYTES).enumerate() {
        let block = done + i;
        let n = nibbles(&bytes[2..18]);
        for (sum, act) in sums.iter_mut().zip(acts) {
            let a = &act.quants[32 * block..32 * block + 32];
            let dot = sum_i32(_mm256_dpbusd_epi32(zero, n, load32(a))) - 8 * act.sums[block] as i32;
            *sum += dot as f32 * (f16_at(bytes, 0) * act.scales[block]);
        }
    }
    sums
}

/// One Q4_K block's integer parts: per 64 weights, unsigned nibbles (0..15) times
/// activations (|a| ≤ 127): i16 pair sums ≤ 3810, times 6-bit scales summed in i32 lanes —
/// exact; and the minimums' sum through the activations' 16-element sums, exactly as in the
/// scalar kernel. Returns (the lanes of `sumi`, `mins`).
#[inline]
#[target_feature(enable = "avx2")]
fn q4_k_block(block: &[u8], quants: &[i8], sums: &[i16]) -> (__m256i, i32) {
    let mask = _mm256_set1_epi8(0x0f);
    let scales = &block[4..16];
    let mut acc = _mm256_setzero_si256();
    let mut mins = 0i32;
    for (chunk, (nibbles, quants)) in block[16..144].chunks_exact(32).zip(quants.chunks_exact(64)).enumerate() {
        let (sc_low, m_low) = q4k_scale_min(2 * chunk, scales);
        let (sc_high, m_high) = q4k_scale_min(2 * chunk + 1, scales);
        let q = load32(nibbles);
        let low = _mm256_maddubs_epi16(_mm256_and_si256(q, mask), load32(quants));
        let high = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16::<4>(q), mask), load32(&quants[32..]));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(low, _mm256_set1_epi16(sc_low as i16)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(high, _mm256_set1_epi16(sc_high as i16)));
        let s = &sums[4 * chunk..4 * chunk + 4];
        mins += m_low as i32 * (s[0] as i32 + s[1] as i32) + m_high as i32 * (s[2] as i32 + s[3] as i32);
    }
    (acc, mins)
}

/// Q4_K, eight blocks at a time: their `sumi` lanes reduced together ([`sum_each`]), the
/// scalar kernel's float steps `scale · (d · sumi − dmin · mins)` done lane-wise with the
/// same IEEE operations (no fused multiply-add), then added to the running sum in order —
/// bit-identical to [`scalar::dot_q4_k`](super::scalar::dot_q4_k) without a full horizontal
/// reduction per block.
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_k(row: &[u8], act: &Q8Activations) -> f32 {
    const B: usize = layout::Q4_K_BYTES;
    let blocks = (row.len() / B).min(act.scales.len()).min(act.quants.len() / 256).min(act.sums.len() / 16);
    let (row, quants, scales, sums) =
        (&row[..blocks * B], &act.quants[..blocks * 256], &act.scales[..blocks], &act.sums[..blocks * 16]);
    let mut sum = 0.0f32;
    let groups = row
        .chunks_exact(8 * B)
        .zip(quants.chunks_exact(8 * 256))
        .zip(scales.chunks_exact(8))
        .zip(sums.chunks_exact(8 * 16));
    for (((group, quants), scales), sums) in groups {
        let mut partial = [_mm256_setzero_si256(); 8];
        let mut mins = [0i32; 8];
        for (b, ((block, quants), sums)) in
            group.chunks_exact(B).zip(quants.chunks_exact(256)).zip(sums.chunks_exact(16)).enumerate()
        {
            (partial[b], mins[b]) = q4_k_block(block, quants, sums);
        }
        let dm = block_scales(group, B);
        let (d, dmin) = (half_floats(dm), half_floats(_mm256_srli_epi32::<16>(dm)));
        // SAFETY: eight in-bounds i32, no alignment needed.
        let mins = _mm256_cvtepi32_ps(unsafe { _mm256_loadu_si256(mins.as_ptr().cast()) });
        let sumi = _mm256_cvtepi32_ps(sum_each(&partial));
        let inner = _mm256_sub_ps(_mm256_mul_ps(d, sumi), _mm256_mul_ps(dmin, mins));
        sum = add_in_order(sum, _mm256_mul_ps(load_f32x8(scales), inner));
    }
    let done = blocks / 8 * 8;
    let tail = row[done * B..]
        .chunks_exact(B)
        .zip(&scales[done..])
        .zip(quants[done * 256..].chunks_exact(256))
        .zip(sums[done * 16..].chunks_exact(16));
    for (((block, &scale), quants), sums) in tail {
        let (acc, mins) = q4_k_block(block, quants, sums);
        let sumi = sum_i32(acc);
        sum += scale * (f16_at(block, 0) * sumi as f32 - f16_at(block, 2) * mins as f32);
    }
    sum
}

/// Q5_K: as [`q4_k`] with each nibble's fifth bit (weights 0..31: pair sums ≤ 7874).
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_k(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    let blocks = row
        .chunks_exact(layout::Q5_K_BYTES)
        .zip(&act.scales)
        .zip(act.quants.chunks_exact(256))
        .zip(act.sums.chunks_exact(16));
    let (mask, one) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(1));
    for (((block, &scale), quants), sums) in blocks {
        let scales = &block[4..16];
        let high = load32(&block[16..48]);
        let mut acc = _mm256_setzero_si256();
        let mut mins = 0i32;
        for (chunk, (nibbles, quants)) in block[48..176].chunks_exact(32).zip(quants.chunks_exact(64)).enumerate() {
            let (sc_low, m_low) = q4k_scale_min(2 * chunk, scales);
            let (sc_high, m_high) = q4k_scale_min(2 * chunk + 1, scales);
            // Bits 2·chunk and 2·chunk + 1 of every high byte, moved to bit 4.
            let shifted = _mm256_srl_epi16(high, _mm_cvtsi32_si128(2 * chunk as i32));
            let fifth_low = _mm256_slli_epi16::<4>(_mm256_and_si256(shifted, one));
            let fifth_high = _mm256_slli_epi16::<3>(_mm256_and_si256(shifted, _mm256_add_epi8(one, one)));
            let q = load32(nibbles);
            let w_low = _mm256_or_si256(_mm256_and_si256(q, mask), fifth_low);
            let w_high = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q), mask), fifth_high);
            let low = _mm256_maddubs_epi16(w_low, load32(quants));
            let high_products = _mm256_maddubs_epi16(w_high, load32(&quants[32..]));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(low, _mm256_set1_epi16(sc_low as i16)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(high_products, _mm256_set1_epi16(sc_high as i16)));
            let s = &sums[4 * chunk..4 * chunk + 4];
            mins += m_low as i32 * (s[0] as i32 + s[1] as i32) + m_high as i32 * (s[2] as i32 + s[3] as i32);
        }
        let sumi = sum_i32(acc);
        sum += scale * (f16_at(block, 0) * sumi as f32 - f16_at(block, 2) * mins as f32);
    }
    sum
}

/// Q6_K: the 6-bit values are taken unsigned (0..63, so `maddubs` applies: pair sums
/// ≤ 16002) and the −32 offset is applied once per 16-weight group through the
/// activations' 16-element sums: Σ sc·(q − 32)·a = Σ sc·q·a − 32·Σ sc·Σa, the same integer
/// the scalar kernel computes.
#[target_feature(enable = "avx2,fma,f16c")]
fn q6_k(row: &[u8], act: &Q8Activations) -> f32 {
    let mut sum = 0.0f32;
    let blocks = row
        .chunks_exact(layout::Q6_K_BYTES)
        .zip(&act.scales)
        .zip(act.quants.chunks_exact(256))
        .zip(act.sums.chunks_exact(16));
    let (mask, two) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(0x03));
    for (((block, &scale), quants), sums) in blocks {
        let mut acc = _mm256_setzero_si256();
        let mut offset = 0i32;
        for half in 0..2 {
            let ql = &block[half * 64..half * 64 + 64];
            let qh = load32(&block[128 + half * 32..128 + half * 32 + 32]);
            let sc = &block[192 + half * 8..192 + half * 8 + 8];
            let a = &quants[half * 128..half * 128 + 128];
            let (low_a, low_b) = (load32(ql), load32(&ql[32..]));
            // The top two bits of each quarter's 6-bit values, moved to bits 4-5.
            let top = [
                _mm256_slli_epi16::<4>(_mm256_and_si256(qh, two)),
                _mm256_slli_epi16::<2>(_mm256_and_si256(qh, _mm256_slli_epi16::<2>(two))),
                _mm256_and_si256(qh, _mm256_slli_epi16::<4>(two)),
                _mm256_and_si256(_mm256_srli_epi16::<2>(qh), _mm256_slli_epi16::<4>(two)),
            ];
            let quarters = [
                _mm256_or_si256(_mm256_and_si256(low_a, mask), top[0]),
                _mm256_or_si256(_mm256_and_si256(low_b, mask), top[1]),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(low_a), mask), top[2]),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(low_b), mask), top[3]),
            ];
            for (quarter, q) in quarters.into_iter().enumerate() {
                let products = _mm256_maddubs_epi16(q, load32(&a[32 * quarter..]));
                // Weights 0-15 of the quarter (low 128 bits) have scale 2·quarter, 16-31 the next.
                let (s0, s1) = (sc[2 * quarter] as i8 as i16, sc[2 * quarter + 1] as i8 as i16);
                let scales = _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(products, scales));
            }
            for (g, &s) in sc.iter().enumerate() {
                offset += s as i8 as i32 * sums[half * 8 + g] as i32;
            }
        }
        let sumi = sum_i32(acc) - 32 * offset;
        sum += f16_at(block, 208) * scale * sumi as f32;
    }
    sum
}

/// F32: four lanes of unfused multiply-adds, as the scalar kernel (an FMA or more lanes
/// would change the roundings; F32 rows only occur in tiny models, where this is not the
/// bottleneck).
#[target_feature(enable = "avx2,fma,f16c")]
fn f32_dot(row: &[u8], x: &[f32]) -> f32 {
    let mut rows = row.chunks_exact(16);
    let mut xs = x.chunks_exact(4);
    let mut acc = _mm_setzero_ps();
    for (w, v) in (&mut rows).zip(&mut xs) {
        let v = &v[..4];
        // SAFETY: `w` is 16 bytes (chunks_exact), read unaligned as four little-endian
        // f32; `v` is four in-bounds f32.
        let (w, v) = unsafe { (_mm_loadu_ps(w.as_ptr().cast()), _mm_loadu_ps(v.as_ptr())) };
        acc = _mm_add_ps(acc, _mm_mul_ps(w, v));
    }
    let mut lanes = [0.0f32; 4];
    // SAFETY: `lanes` is four f32; no alignment needed.
    unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), acc) };
    let mut sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (w, v) in rows.remainder().chunks_exact(4).zip(xs.remainder()) {
        sum += f32::from_le_bytes([w[0], w[1], w[2], w[3]]) * v;
    }
    sum
}

/// See [`super::scalar::dot_q8_0`].
pub fn dot_q8_0(row: &[u8], act: &Q8Activations) -> f32 {
    let level = level();
    if level & VNNI != 0 {
        // SAFETY: `level` confirmed AVX2, FMA, F16C, AVX-512 F/BW/VL and VNNI, and that
        // the OS saves their registers.
        unsafe { q8_0_vnni(row, act) }
    } else if level & AVX2 != 0 {
        // SAFETY: `level` confirmed AVX2, FMA and F16C (and OS support for them).
        unsafe { q8_0(row, act) }
    } else {
        scalar::dot_q8_0(row, act)
    }
}

/// `out[k] = row · acts[k]` for a Q8_0 or Q4_0 row (`q4` selects Q4_0) and every input,
/// bit for bit the single kernels' results, sharing the row's loads between inputs four at
/// a time where the CPU has VNNI.
pub fn dot_multi(row: &[u8], q4: bool, acts: &[Q8Activations], out: &mut [f32]) {
    let mut done = 0;
    let single = |row: &[u8], act: &Q8Activations| if q4 { dot_q4_0(row, act) } else { dot_q8_0(row, act) };
    let blocks = row.len() / if q4 { layout::Q4_0_BYTES } else { layout::Q8_0_BYTES };
    let pairs_ready = |act: &Q8Activations| !q4 || act.pairs.len() >= blocks.min(act.scales.len()) / 2 * 64;
    if level() & VNNI != 0 {
        while acts.len() - done >= 4 && acts[done..done + 4].iter().all(pairs_ready) {
            let group = [&acts[done], &acts[done + 1], &acts[done + 2], &acts[done + 3]];
            // SAFETY: `level` confirmed AVX2, FMA, F16C, AVX-512 F/BW/VL and VNNI, and that
            // the OS saves their registers.
            let results = unsafe {
                if q4 {
                    q4_0_vnni_multi(row, &group)
                } else {
                    q8_0_vnni_multi(row, &group)
                }
            };
            out[done..done + 4].copy_from_slice(&results);
            done += 4;
        }
    }
    for (o, act) in out[done..acts.len()].iter_mut().zip(&acts[done..]) {
        *o = single(row, act);
    }
}

/// See [`super::scalar::dot_q4_0`].
pub fn dot_q4_0(row: &[u8], act: &Q8Activations) -> f32 {
    let level = level();
    if level & VNNI != 0 {
        // SAFETY: as in `dot_q8_0`.
        unsafe { q4_0_vnni(row, act) }
    } else if level & AVX2 != 0 {
        // SAFETY: as in `dot_q8_0`.
        unsafe { q4_0(row, act) }
    } else {
        scalar::dot_q4_0(row, act)
    }
}

/// See [`super::scalar::dot_q4_1`].
pub fn dot_q4_1(row: &[u8], act: &Q8Activations) -> f32 {
    if available() {
        // SAFETY: as in `dot_q8_0`.
        unsafe { q4_1(row, act) }
    } else {
        scalar::dot_q4_1(row, act)
    }
}

/// See [`super::scalar::dot_q5_0`].
pub fn dot_q5_0(row: &[u8], act: &Q8Activations) -> f32 {
    if available() {
        // SAFETY: as in `dot_q8_0`.
        unsafe { q5_0(row, act) }
    } else {
        scalar::dot_q5_0(row, act)
    }
}

/// See [`super::scalar::dot_q5_1`].
pub fn dot_q5_1(row: &[u8], act: &Q8Activations) -> f32 {
    if available() {
        // SAFETY: as in `dot_q8_0`.
        unsafe { q5_1(row, act) }
    } else {
        scalar::dot_q5_1(row, act)
    }
}

/// See [`super::scalar::dot_q5_k`].
pub fn dot_q5_k(row: &[u8], act: &Q8Activations) -> f32 {
    if available() {
        // SAFETY: as in `dot_q8_0`.
        unsafe { q5_k(row, act) }
    } else {
        scalar::dot_q5_k(row, act)
    }
}

/// See [`super::scalar::dot_q4_k`].
pub fn dot_q4_k(row: &[u8], act: &Q8Activations) -> f32 {
    if available() {
        // SAFETY: as in `dot_q8_0`.
        unsafe { q4_k(row, act) }
    } else {
        scalar::dot_q4_k(row, act)
    }
}

/// See [`super::scalar::dot_q6_k`].
pub fn dot_q6_k(row: &[u8], act: &Q8Activations) -> f32 {
    if available() {
        // SAFETY: as in `dot_q8_0`.
        unsafe { q6_k(row, act) }
    } else {
        scalar::dot_q6_k(row, act)
    }
}

/// See [`super::scalar::dot_f32`].
pub fn dot_f32(row: &[u8], x: &[f32]) -> f32 {
    if available() {
        // SAFETY: as in `dot_q8_0`.
        unsafe { f32_dot(row, x) }
    } else {
        scalar::dot_f32(row, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{f32_to_f16, DType};
    use alloc::{format, vec::Vec};

    /// Every tier this CPU has (the dispatch picks only the best) equals the scalar kernel
    /// bit for bit, on rows with and without a partial group of eight blocks.
    #[test]
    fn every_tier_equals_the_scalar_kernel() {
        if !available() {
            return;
        }
        let mut s = 7u32;
        for blocks in [1usize, 7, 8, 9, 64, 67] {
            let x: Vec<f32> = (0..blocks * 32)
                .map(|_| {
                    s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (s >> 16) as f32 / 32768.0 - 1.0
                })
                .collect();
            // Q4_0 rows both with the pair-interleaved activations and without them.
            for (dtype, prepared_for) in
                [(DType::Q8_0, DType::Q8_0), (DType::Q4_0, DType::Q4_0), (DType::Q4_0, DType::Q8_0)]
            {
                let mut act = Q8Activations::new();
                act.prepare(prepared_for, &x);
                assert_eq!(act.pairs.is_empty(), prepared_for != DType::Q4_0 || blocks < 2);
                let mut row: Vec<u8> = (0..blocks * dtype.block_bytes())
                    .map(|_| {
                        s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        (s >> 16) as u8
                    })
                    .collect();
                for (b, block) in row.chunks_exact_mut(dtype.block_bytes()).enumerate() {
                    block[..2].copy_from_slice(&f32_to_f16(0.002 + b as f32 * 0.001).to_le_bytes());
                }
                // SAFETY: `available` confirmed AVX2/FMA/F16C; VNNI is checked before use.
                let (reference, avx2, vnni) = unsafe {
                    match dtype {
                        DType::Q8_0 => (
                            scalar::dot_q8_0(&row, &act),
                            q8_0(&row, &act),
                            vnni_available().then(|| q8_0_vnni(&row, &act)),
                        ),
                        _ => (
                            scalar::dot_q4_0(&row, &act),
                            q4_0(&row, &act),
                            vnni_available().then(|| q4_0_vnni(&row, &act)),
                        ),
                    }
                };
                let case = format!("{dtype:?} rows, activations for {prepared_for:?}, {blocks} blocks");
                assert_eq!(avx2.to_bits(), reference.to_bits(), "AVX2: {case}");
                if let Some(vnni) = vnni {
                    assert_eq!(vnni.to_bits(), reference.to_bits(), "VNNI: {case}");
                }
            }
        }
    }
}
