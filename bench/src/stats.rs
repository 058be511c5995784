//! Percentiles over raw samples (criterion reports means; the budgets are
//! about the median and the tail).

use std::time::Duration;

use serde::Serialize;

/// A sample set in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
    pub min_us: f64,
    pub max_us: f64,
}

impl Summary {
    /// Nearest-rank percentiles of `samples` (sorted in place).
    pub fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let rank = |p: f64| {
            let index = (p * samples.len() as f64).ceil() as usize;
            us(samples[index.clamp(1, samples.len()) - 1])
        };
        let total: Duration = samples.iter().sum();
        Self {
            n: samples.len(),
            p50_us: rank(0.50),
            p90_us: rank(0.90),
            p99_us: rank(0.99),
            mean_us: us(total) / samples.len() as f64,
            min_us: us(samples[0]),
            max_us: us(samples[samples.len() - 1]),
        }
    }

    /// Sequential throughput: one event after the other on one connection.
    pub fn per_second(&self) -> f64 {
        if self.mean_us > 0.0 {
            1e6 / self.mean_us
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let s = Summary::of(&mut samples);
        assert_eq!((s.n, s.p50_us, s.p90_us, s.p99_us), (100, 50.0, 90.0, 99.0));
        assert_eq!((s.min_us, s.max_us, s.mean_us), (1.0, 100.0, 50.5));
        assert_eq!(Summary::of(&mut [Duration::from_micros(7)]).p99_us, 7.0);
        assert_eq!(Summary::of(&mut []).n, 0);
    }
}
