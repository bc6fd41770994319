//! Block formats against candle's `candle_core::quantized` (after ggml's reference code):
//! the same bytes must dequantize to the same floats bit for bit, matrix-vector products
//! must agree within the activation-rounding bound stated below, and the quantizers must
//! turn the same floats into the same bytes.

use crate::common::{candle_qtensor, encode, values, Rng};
use candle_core::{
    quantized::{QMatMul, QTensor},
    Device, Module, Tensor,
};
use inference::quant::{f32_to_f16, DType, Serial, Tensor as Ours};

const FORMATS: [DType; 9] =
    [DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4K, DType::Q5K, DType::Q6K];

/// Random bytes for whole blocks with every f16 scale set to a finite value (a random
/// bit pattern would be NaN or infinite 1 time in 32, and both sides then agree only
/// on "NaN"). Scales include subnormal halves.
fn random_blocks(dtype: DType, weights: usize, rng: &mut Rng) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..dtype.bytes_for(weights).unwrap()).map(|_| rng.byte()).collect();
    let scale_fields: &[usize] = match dtype {
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 => &[0],
        DType::Q4_1 | DType::Q5_1 | DType::Q4K | DType::Q5K => &[0, 2],
        DType::Q6K => &[208],
        DType::F32 | DType::F16 => return finite_halves(bytes),
    };
    for (b, block) in bytes.chunks_exact_mut(dtype.block_bytes()).enumerate() {
        for &at in scale_fields {
            let scale = match b % 5 {
                0 => 3e-6, // subnormal in f16
                _ => 0.0005 + rng.unit().abs() * 0.05,
            };
            block[at..at + 2].copy_from_slice(&f32_to_f16(scale).to_le_bytes());
        }
    }
    bytes
}

/// F16 bytes with NaN/infinity patterns replaced (they are checked separately).
fn finite_halves(mut bytes: Vec<u8>) -> Vec<u8> {
    for half in bytes.chunks_exact_mut(2) {
        if half[1] & 0x7c == 0x7c {
            half[1] &= !0x40;
        }
    }
    bytes
}

fn ours_dequantized(dtype: DType, rows: usize, cols: usize, bytes: &[u8]) -> Vec<f32> {
    let t = Ours::new(dtype, rows, cols, bytes).unwrap();
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        t.dequantize_row(r, &mut out[r * cols..(r + 1) * cols]);
    }
    out
}

fn candle_dequantized(q: &QTensor) -> Vec<f32> {
    q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

fn candle_quantized(dtype: DType, rows: usize, cols: usize, values: &[f32]) -> Vec<u8> {
    let t = Tensor::from_vec(values.to_vec(), (rows, cols), &Device::Cpu).unwrap();
    QTensor::quantize(&t, crate::common::ggml(dtype)).unwrap().data().unwrap().into_owned()
}

#[test]
fn same_bytes_dequantize_bit_for_bit_like_candle() {
    let (rows, cols) = (8, 512);
    let mut rng = Rng::new(0x51ce_c0de);
    for dtype in FORMATS {
        let floats = values(&mut rng, rows * cols, 1.5);
        let sources = [
            ("random bytes", random_blocks(dtype, rows * cols, &mut rng)),
            ("our quantizer", encode(dtype, &floats)),
            ("candle's quantizer", candle_quantized(dtype, rows, cols, &floats)),
        ];
        for (source, bytes) in sources {
            let ours = ours_dequantized(dtype, rows, cols, &bytes);
            let theirs = candle_dequantized(&candle_qtensor(dtype, rows, cols, &bytes));
            let mismatches = ours.iter().zip(&theirs).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(mismatches, 0, "{dtype:?} from {source}: {mismatches} of {} weights differ", ours.len());
        }
    }
    // Every one of the 65536 half-precision patterns, NaN and infinities included.
    let all: Vec<u8> = (0..=u16::MAX).flat_map(u16::to_le_bytes).collect();
    let ours = ours_dequantized(DType::F16, 256, 256, &all);
    let theirs = candle_dequantized(&candle_qtensor(DType::F16, 256, 256, &all));
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "f16 {i:#06x}: {a} vs {b}");
    }
}

/// One matrix-vector product both ways, with the exact (f64) product of the dequantized
/// weights for reference.
struct Product {
    ours: Vec<f32>,
    candle: Vec<f32>,
    exact: Vec<f64>,
    /// Σ|w·x| per row: the scale rounding errors are relative to.
    magnitude: Vec<f64>,
    /// Worst-case error of quantizing `x` to 8 bits, per row: Σ over activation blocks of
    /// half a step (amax/127) times Σ|w| of the block.
    activation_bound: Vec<f64>,
}

fn product(dtype: DType, rows: usize, cols: usize, bytes: &[u8], x: &[f32]) -> Product {
    let t = Ours::new(dtype, rows, cols, bytes).unwrap();
    let mut ours = vec![0.0; rows];
    t.matvec(x, &mut ours, &Serial);
    let matmul = QMatMul::from_qtensor(candle_qtensor(dtype, rows, cols, bytes)).unwrap();
    let input = Tensor::from_vec(x.to_vec(), (1, cols), &Device::Cpu).unwrap();
    let candle: Vec<f32> = matmul.forward(&input).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let w = ours_dequantized(dtype, rows, cols, bytes);
    let block = match dtype {
        DType::F32 | DType::F16 => 1,
        quantized => quantized.block_weights(),
    };
    let (mut exact, mut magnitude, mut activation_bound) = (vec![0.0; rows], vec![0.0; rows], vec![0.0; rows]);
    for r in 0..rows {
        let row = &w[r * cols..(r + 1) * cols];
        exact[r] = row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
        magnitude[r] = row.iter().zip(x).map(|(&a, &b)| (a as f64 * b as f64).abs()).sum();
        if block > 1 {
            activation_bound[r] = row
                .chunks_exact(block)
                .zip(x.chunks_exact(block))
                .map(|(w, x)| {
                    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
                    0.5 * amax / 127.0 * w.iter().map(|v| v.abs() as f64).sum::<f64>()
                })
                .sum();
        }
    }
    Product { ours, candle, exact, magnitude, activation_bound }
}

/// Float rounding allowed between two computations of the same integer dot products
/// (different summation order of f32 block sums), relative to Σ|w·x|.
const SAME_ACTIVATIONS_TOLERANCE: f64 = 2e-6;

#[test]
fn matrix_vector_products_agree_with_candle() {
    let (rows, cols) = (96, 1024);
    let mut rng = Rng::new(0xfeed_5eed);
    eprintln!("max |ours − candle| / Σ|w·x| (and vs the exact f64 product), {rows}×{cols}:");
    for dtype in FORMATS {
        let floats = values(&mut rng, rows * cols, 1.0);
        for (source, bytes) in
            [("our quantizer", encode(dtype, &floats)), ("random blocks", random_blocks(dtype, rows * cols, &mut rng))]
        {
            // Random activations: both sides quantize them to 8 bits (Q8_0 for the
            // 32-blocks, Q8_K for the K-quants). For Q8_0 the two quantizations are the same
            // ggml code, so only float summation order separates the results. For Q8_K
            // candle keeps ggml's old scale amax/−128 while ggml (and we) use amax/−127, so
            // each side is held to its worst-case activation-rounding bound instead.
            let x = values(&mut rng, cols, 2.0);
            let p = product(dtype, rows, cols, &bytes, &x);
            let (mut worst_pair, mut worst_ours, mut worst_candle) = (0.0f64, 0.0f64, 0.0f64);
            for r in 0..rows {
                let m = p.magnitude[r].max(1e-30);
                let (ours, candle) = (p.ours[r] as f64, p.candle[r] as f64);
                worst_pair = worst_pair.max((ours - candle).abs() / m);
                worst_ours = worst_ours.max((ours - p.exact[r]).abs() / m);
                worst_candle = worst_candle.max((candle - p.exact[r]).abs() / m);
                let float_slack = SAME_ACTIVATIONS_TOLERANCE * m;
                match dtype {
                    // The same Q8_0 activations as ggml's (Q4_1/Q5_1's Q8_1 differ by an f16
                    // rounding of the block sums, so they are held to the bound below).
                    DType::F16 | DType::Q8_0 | DType::Q4_0 | DType::Q5_0 => {
                        assert!(
                            (ours - candle).abs() <= float_slack,
                            "{dtype:?} {source} row {r}: ours {ours} candle {candle}"
                        )
                    }
                    _ => {
                        let bound = p.activation_bound[r] + float_slack;
                        assert!(
                            (ours - p.exact[r]).abs() <= bound,
                            "{dtype:?} {source} row {r}: ours {ours} exact {}",
                            p.exact[r]
                        );
                        assert!(
                            (candle - p.exact[r]).abs() <= bound * 128.0 / 127.0,
                            "{dtype:?} {source} row {r}: candle {candle}"
                        );
                    }
                }
            }
            eprintln!("  {dtype:?} ({source}): ours vs candle {worst_pair:.2e}; vs exact: ours {worst_ours:.2e}, candle {worst_candle:.2e}");

            // Activations that 8-bit quantization represents exactly on both sides (every
            // element 0 or one common value c): now the K-quant kernels must agree too.
            let c = rng.unit() * 3.0;
            let exact_x: Vec<f32> = (0..cols).map(|_| if rng.unit() > 0.0 { c } else { 0.0 }).collect();
            let p = product(dtype, rows, cols, &bytes, &exact_x);
            let mut worst = 0.0f64;
            // Q8_0 activations keep their scale as f16 (ggml's format), so c itself is
            // rounded to 11 significant bits; Q8_K keeps an f32 scale. Q8_1 (candle's
            // activations for Q4_1/Q5_1) also rounds each block's sum to f16.
            let block_32 = dtype != DType::F16 && dtype.block_weights() == 32;
            let scale_rounding = if block_32 { 0.5f64.powi(11) } else { 0.0 };
            let sum_rounding = if matches!(dtype, DType::Q4_1 | DType::Q5_1) { 0.5f64.powi(11) } else { 0.0 };
            for r in 0..rows {
                let m = p.magnitude[r].max(1e-30);
                let (ours, candle) = (p.ours[r] as f64, p.candle[r] as f64);
                worst = worst.max((ours - candle).abs() / m);
                assert!(
                    (ours - candle).abs() <= (SAME_ACTIVATIONS_TOLERANCE + sum_rounding) * m,
                    "{dtype:?} {source} row {r} (x in {{0, c}}): ours {ours} candle {candle}"
                );
                let bound = (SAME_ACTIVATIONS_TOLERANCE + scale_rounding) * m;
                assert!(
                    (ours - p.exact[r]).abs() <= bound,
                    "{dtype:?} {source} row {r} (x in {{0, c}}): ours {ours} vs exact {}",
                    p.exact[r]
                );
            }
            eprintln!("  {dtype:?} ({source}), x in {{0, c}}: ours vs candle {worst:.2e}");
        }
    }
}

fn rms_error(values: &[f32], reconstructed: &[f32]) -> f64 {
    let sum: f64 = values.iter().zip(reconstructed).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
    (sum / values.len() as f64).sqrt()
}

#[test]
fn quantizers_compared_with_candle() {
    let (rows, cols) = (16, 1024);
    let mut rng = Rng::new(0x0dd_ba11);
    let uniform = values(&mut rng, rows * cols, 1.0);
    // Roughly normal (sum of uniforms), the shape of trained weights, with a few outliers.
    let mut normal: Vec<f32> = (0..rows * cols).map(|_| (0..4).map(|_| rng.unit()).sum::<f32>() * 0.05).collect();
    for i in (0..normal.len()).step_by(997) {
        normal[i] *= 12.0;
    }
    // Edge cases, a row each: zeros, a constant, one sign only (both signs), tiny values
    // (subnormal f16 scales), huge values, mostly zeros, a half-zero row.
    let mut edges = values(&mut rng, rows * cols, 1.0);
    for (r, row) in edges.chunks_exact_mut(cols).enumerate() {
        for (i, v) in row.iter_mut().enumerate() {
            *v = match r {
                0 => 0.0,
                1 => 0.5,
                2 => v.abs() + 0.1,
                3 => -v.abs(),
                4 => *v * 1e-6,
                5 => *v * 3e4,
                6 if i % 37 != 0 => 0.0,
                7 if i < cols / 2 => 0.0,
                _ => *v,
            };
        }
    }
    eprintln!("quantizer RMS error (ours / candle's), {rows}×{cols}:");
    for (name, values) in [("uniform", &uniform), ("normal+outliers", &normal), ("edge cases", &edges)] {
        for dtype in FORMATS.into_iter().filter(|d| *d != DType::F16) {
            let ours = encode(dtype, values);
            let theirs = candle_quantized(dtype, rows, cols, values);
            let ours_error = rms_error(values, &ours_dequantized(dtype, rows, cols, &ours));
            let candle_error = rms_error(values, &ours_dequantized(dtype, rows, cols, &theirs));
            let differing = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
            eprintln!(
                "  {dtype:?} {name}: {ours_error:.3e} / {candle_error:.3e}, {differing} of {} bytes differ",
                ours.len()
            );
            // The same ggml reference algorithms (for the K-quants, the least-squares scale
            // searches), so the same bytes.
            assert_eq!(
                differing, 0,
                "{dtype:?} {name}: bytes differ from candle's (RMS error {ours_error} vs {candle_error})"
            );
        }
    }
}
