//! Host threads for the inference engine: [`Pool`] implements [`Parallel`] with a persistent
//! pool of worker threads, so `cargo xtask llm run --threads N` and `cargo xtask bench llm`
//! split every matrix-vector product's rows across cores, as the kernel's compute pool does.
//!
//! The workers are rayon's (std threads started once, parked between products). rayon is
//! used instead of a hand-written pool because handing a *borrowed* closure and output
//! chunk to an already running thread needs lifetime erasure (`unsafe`), which this project
//! keeps out of `xtask`; rayon's scopes do that behind a safe API. The calling thread takes
//! the first chunk itself and `N − 1` workers take the rest; products too small to repay a
//! hand-off stay on the calling thread. Results are bit-identical to [`inference::quant::Serial`]:
//! each row is computed whole by one thread with the same kernel.

use anyhow::{Context, Result};
use inference::quant::Parallel;

/// Fewer multiply-adds than this per thread are not worth waking a worker. A hand-off to a
/// parked worker measured 13 µs back to back and 55-60 µs after a 20 µs pause on the shared
/// 2-core VM, while the AVX2 kernels do 2M multiply-adds in about 70 µs: so stories260K
/// (at most 512×64) and TinyLlama's K/V projections (256×2048) stay on one thread, and its
/// Q/O, FFN and classifier products spread.
const MIN_WORK_PER_THREAD: usize = 2 << 20;

/// Rows are handed out in multiples of this (whole cache lines of output).
const ROW_GROUP: usize = 16;

/// A persistent pool: the calling thread plus `threads − 1` workers.
pub struct Pool {
    threads: usize,
    workers: Option<rayon::ThreadPool>,
}

impl Pool {
    /// A pool of `threads` threads in all (at least 1; 1 = the calling thread alone).
    pub fn new(threads: usize) -> Result<Pool> {
        let threads = threads.max(1);
        let workers = if threads > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads - 1)
                .thread_name(|i| format!("llm-worker-{i}"))
                .build()
                .context("starting the worker threads")?;
            Some(pool)
        } else {
            None
        };
        Ok(Pool { threads, workers })
    }

    /// All cores of this machine.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Threads in all, the calling one included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn split(&self, out: &mut [f32], parts: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        let Some(workers) = self.workers.as_ref().filter(|_| parts > 1 && out.len() >= parts * ROW_GROUP) else {
            return f(0, out);
        };
        let chunk = out.len().div_ceil(parts).div_ceil(ROW_GROUP) * ROW_GROUP;
        let (mine, rest) = out.split_at_mut(chunk.min(out.len()));
        let first_of_rest = mine.len();
        workers.in_place_scope(|scope| {
            for (i, part) in rest.chunks_mut(chunk).enumerate() {
                scope.spawn(move |_| f(first_of_rest + i * chunk, part));
            }
            f(0, mine);
        });
    }
}

impl Parallel for Pool {
    fn for_each_chunk(&self, out: &mut [f32], f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        self.split(out, self.threads, f);
    }

    fn for_each_chunk_sized(&self, out: &mut [f32], row_cost: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        let useful = (out.len().saturating_mul(row_cost.max(1)) / MIN_WORK_PER_THREAD).clamp(1, self.threads);
        self.split(out, useful, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inference::quant::{quantize_q8_0, DType, Serial, Tensor};

    #[test]
    fn every_row_is_written_once_with_its_index() {
        for threads in [1, 2, 3, 8] {
            let pool = Pool::new(threads).unwrap();
            for len in [0, 1, 15, 16, 100, 1000, 4097] {
                let mut out = vec![-1.0f32; len];
                let calls = std::sync::atomic::AtomicUsize::new(0);
                pool.for_each_chunk(&mut out, &|first, chunk| {
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    for (i, o) in chunk.iter_mut().enumerate() {
                        assert_eq!(*o, -1.0, "row {} written twice", first + i);
                        *o = (first + i) as f32;
                    }
                });
                assert!(out.iter().enumerate().all(|(i, &v)| v == i as f32), "threads {threads} len {len}");
                assert!(calls.into_inner() <= threads.max(1));
            }
        }
    }

    #[test]
    fn products_equal_the_serial_ones_bit_for_bit() {
        let (rows, cols) = (8192, 1024);
        let weights: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 2001) as f32 / 1000.0 - 1.0) * 0.02).collect();
        let bytes = quantize_q8_0(&weights);
        let t = Tensor::new(DType::Q8_0, rows, cols, &bytes).unwrap();
        let x: Vec<f32> = (0..cols).map(|i| (i % 17) as f32 / 8.0 - 1.0).collect();
        let (mut serial, mut threaded) = (vec![0.0; rows], vec![0.0; rows]);
        t.matvec(&x, &mut serial, &Serial);
        let pool = Pool::new(3).unwrap();
        t.matvec(&x, &mut threaded, &pool);
        assert_eq!(serial, threaded);
        // That product is big enough to be split three ways; a small one is not split.
        let calls = |rows: usize| {
            let count = std::sync::atomic::AtomicUsize::new(0);
            pool.for_each_chunk_sized(&mut vec![0.0; rows], cols, &|_, _| {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            });
            count.into_inner()
        };
        assert_eq!((calls(rows), calls(256)), (3, 1));
    }
}
