//! A seeded pseudo-random generator for tests: xorshift64* (Vigna, "An experimental
//! exploration of Marsaglia's xorshift generators", 2016). Fast, no dependencies, and the
//! same sequence on every machine for a given seed.

/// A deterministic generator. Seed 0 is replaced by a fixed non-zero value (xorshift's one
/// fixed point).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub const fn new(seed: u64) -> Rng {
        Rng(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.wrapping_sub(lo) as u64;
        match span.checked_add(1) {
            Some(width) => lo.wrapping_add((self.next_u64() % width) as i64),
            None => self.next_u64() as i64,
        }
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    /// `true` with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        denominator != 0 && self.next_u64() % denominator < numerator
    }

    /// Uniform in `-1.0..1.0`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// One random edit of `bytes` for a mutation test: a byte replaced, the tail cut off
    /// (never below `keep` bytes), or a byte inserted.
    #[cfg(feature = "std")]
    pub fn mutate(&mut self, bytes: &mut std::vec::Vec<u8>, keep: usize) {
        let at = self.below(bytes.len());
        match self.below(3) {
            0 if at < bytes.len() => bytes[at] = self.next_u32() as u8,
            0 => {}
            1 => bytes.truncate(at.max(keep)),
            _ => bytes.insert(at, self.next_u32() as u8),
        }
    }

    /// One element of `items` (`None` when empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_sequence_and_values_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let unit = a.unit();
            assert!((-1.0..1.0).contains(&unit), "{unit}");
            assert!(a.below(10) < 10);
            let value = a.range(-3, 3);
            assert!((-3..=3).contains(&value));
            b.unit();
            b.below(10);
            b.range(-3, 3);
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
        assert_ne!(Rng::new(0).next_u64(), 0);
    }
}
