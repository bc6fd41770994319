//! Order statistics for benchmark samples.

/// min / median / p95 / max of a sample set.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub min: f64,
    pub median: f64,
    pub p95: f64,
    pub max: f64,
    pub n: usize,
}

/// The `q` quantile (0..=1) by linear interpolation between order statistics; NaN for no
/// samples.
pub fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    let fraction = position - low as f64;
    sorted[low] + (sorted[high] - sorted[low]) * fraction
}

impl Summary {
    /// Summarises `samples`.
    pub fn of(samples: &[f64]) -> Summary {
        Summary {
            min: percentile(samples, 0.0),
            median: percentile(samples, 0.5),
            p95: percentile(samples, 0.95),
            max: percentile(samples, 1.0),
            n: samples.len(),
        }
    }
}

/// Relative change of `new` against `old` medians (0.1 = 10 % slower).
pub fn change(old: f64, new: f64) -> f64 {
    if old == 0.0 {
        return 0.0;
    }
    (new - old) / old
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let s = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&s, 0.0), 1.0);
        assert_eq!(percentile(&s, 1.0), 4.0);
        assert_eq!(percentile(&s, 0.5), 2.5);
        assert!(percentile(&[], 0.5).is_nan());
        let summary = Summary::of(&[10.0]);
        assert_eq!((summary.min, summary.median, summary.max, summary.n), (10.0, 10.0, 10.0, 1));
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((percentile(&hundred, 0.95) - 95.05).abs() < 1e-9);
    }

    #[test]
    fn change_is_relative() {
        assert!((change(100.0, 110.0) - 0.1).abs() < 1e-12);
        assert!((change(100.0, 90.0) + 0.1).abs() < 1e-12);
        assert_eq!(change(0.0, 5.0), 0.0);
    }
}
