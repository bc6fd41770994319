//! Choosing the next token: greedy, temperature, top-k, top-p, repetition penalty, with a
//! seeded generator (same seed, same text).

use alloc::vec::Vec;

/// Sampling settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// 0 = greedy (argmax).
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p (1.0 = off).
    pub top_p: f32,
    /// Divide positive logits (multiply negative ones) of recent tokens by this (1.0 = off).
    pub repetition_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repetition_window: usize,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { temperature: 0.0, top_k: 40, top_p: 0.95, repetition_penalty: 1.0, repetition_window: 64, seed: 42 }
    }
}

/// A sampler with its random state.
pub struct Sampler {
    settings: Settings,
    state: u64,
    candidates: Vec<(f32, u32)>,
}

impl Sampler {
    /// A sampler seeded from `settings.seed`.
    pub fn new(settings: Settings) -> Sampler {
        Sampler { settings, state: settings.seed ^ 0x9E37_79B9_7F4A_7C15 | 1, candidates: Vec::new() }
    }

    fn next_f32(&mut self) -> f32 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let value = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (value >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Picks a token from `logits` (modified in place by the penalty), given the tokens so far.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let s = self.settings;
        if s.repetition_penalty != 1.0 && s.repetition_penalty > 0.0 {
            let start = history.len().saturating_sub(s.repetition_window);
            for &t in &history[start..] {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l > 0.0 { *l / s.repetition_penalty } else { *l * s.repetition_penalty };
                }
            }
        }
        if s.temperature <= 0.0 || !s.temperature.is_finite() {
            return argmax(logits);
        }
        self.candidates.clear();
        self.candidates.extend(logits.iter().enumerate().map(|(i, &l)| (l / s.temperature, i as u32)));
        // Most likely first; ties by lower id so the order (and the draw) is deterministic.
        let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if s.top_k > 0 && s.top_k < self.candidates.len() {
            self.candidates.select_nth_unstable_by(s.top_k - 1, order);
            self.candidates.truncate(s.top_k);
        }
        self.candidates.sort_unstable_by(order);
        let max = self.candidates.first().map_or(0.0, |c| c.0);
        let mut total = 0.0;
        for c in &mut self.candidates {
            c.0 = libm::expf(c.0 - max);
            total += c.0;
        }
        if s.top_p < 1.0 {
            let mut cumulative = 0.0;
            let mut keep = self.candidates.len();
            for (i, c) in self.candidates.iter().enumerate() {
                cumulative += c.0 / total;
                if cumulative >= s.top_p {
                    keep = i + 1;
                    break;
                }
            }
            self.candidates.truncate(keep);
            total = self.candidates.iter().map(|c| c.0).sum();
        }
        let mut r = self.next_f32() * total;
        for c in &self.candidates {
            r -= c.0;
            if r <= 0.0 {
                return c.1;
            }
        }
        self.candidates.last().map_or(0, |c| c.1)
    }
}

/// Index of the largest logit (the first on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_and_seeded_sampling() {
        let logits: Vec<f32> = (0..100).map(|i| ((i * 37) % 100) as f32 / 10.0).collect();
        assert_eq!(Sampler::new(Settings::default()).sample(&mut logits.clone(), &[]), argmax(&logits));
        let settings = Settings { temperature: 1.0, top_k: 0, top_p: 1.0, ..Settings::default() };
        let run = |seed| {
            let mut s = Sampler::new(Settings { seed, ..settings });
            (0..20).map(|_| s.sample(&mut logits.clone(), &[])).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let mut top1 = Sampler::new(Settings { temperature: 1.0, top_k: 1, ..Settings::default() });
        assert_eq!(top1.sample(&mut logits.clone(), &[]), argmax(&logits));
        let mut nucleus = Sampler::new(Settings { temperature: 1.0, top_k: 0, top_p: 0.0001, ..Settings::default() });
        assert_eq!(nucleus.sample(&mut logits.clone(), &[]), argmax(&logits));
    }

    #[test]
    fn temperature_sampling_follows_the_softmax() {
        // Probabilities 0.665, 0.245, 0.090 at temperature 1.
        let logits = [2.0f32, 1.0, 0.0];
        let mut s = Sampler::new(Settings { temperature: 1.0, top_k: 0, top_p: 1.0, seed: 7, ..Settings::default() });
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[s.sample(&mut logits.clone(), &[]) as usize] += 1;
        }
        for (count, p) in counts.iter().zip([0.665, 0.245, 0.090]) {
            assert!((*count as f64 / 20_000.0 - p).abs() < 0.02, "{counts:?}");
        }
        // top-k 2 never picks the third; top-p 0.5 only the first.
        let mut k2 = Sampler::new(Settings { temperature: 1.0, top_k: 2, top_p: 1.0, ..Settings::default() });
        assert!((0..2000).all(|_| k2.sample(&mut logits.clone(), &[]) != 2));
        let mut p5 = Sampler::new(Settings { temperature: 1.0, top_k: 0, top_p: 0.5, ..Settings::default() });
        assert!((0..2000).all(|_| p5.sample(&mut logits.clone(), &[]) == 0));
    }

    #[test]
    fn repetition_penalty_demotes_recent_tokens() {
        let mut logits = [1.0, 2.0, 1.9];
        let mut s = Sampler::new(Settings { repetition_penalty: 1.5, ..Settings::default() });
        assert_eq!(s.sample(&mut logits, &[1]), 2);
    }
}
