//! How a model group picks a deployment: by weight, by fewest outstanding requests, or by
//! lowest latency (EWMA). Selection only orders candidates; the router then skips the ones
//! that are parked, open or full, and fails over down the order.

use std::sync::atomic::{AtomicU64, Ordering};

/// A model group's selection strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Random, proportional to each deployment's weight.
    #[default]
    Weighted,
    /// The deployment with the fewest requests in flight (ties by weight).
    LeastOutstanding,
    /// The deployment with the lowest latency EWMA (unmeasured ones first, to learn them).
    Latency,
}

/// What selection needs to know about one candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Relative weight, > 0.
    pub weight: u32,
    /// Requests in flight.
    pub outstanding: u32,
    /// Latency EWMA in microseconds; 0 when not measured yet.
    pub latency_micros: u64,
}

/// Orders candidate indexes, best first. `random` is a uniform draw in `[0, 1)`, injected so
/// tests are deterministic.
pub fn order(strategy: Strategy, candidates: &[Candidate], random: f64) -> Vec<usize> {
    let mut indexes: Vec<usize> = (0..candidates.len()).collect();
    match strategy {
        Strategy::Weighted => {
            let first = weighted_pick(candidates, random);
            // The rest by weight, heaviest first, as failover order.
            indexes.sort_by_key(|i| (*i != first, std::cmp::Reverse(candidates[*i].weight)));
        }
        Strategy::LeastOutstanding => {
            indexes.sort_by_key(|i| {
                (
                    candidates[*i].outstanding,
                    std::cmp::Reverse(candidates[*i].weight),
                )
            });
        }
        Strategy::Latency => {
            // Unmeasured deployments (0) sort first so each gets measured.
            indexes.sort_by_key(|i| (candidates[*i].latency_micros, candidates[*i].outstanding));
        }
    }
    indexes
}

fn weighted_pick(candidates: &[Candidate], random: f64) -> usize {
    let total: u64 = candidates.iter().map(|c| u64::from(c.weight.max(1))).sum();
    let mut target = (random.clamp(0.0, 1.0 - f64::EPSILON) * total as f64) as u64;
    for (i, c) in candidates.iter().enumerate() {
        let weight = u64::from(c.weight.max(1));
        if target < weight {
            return i;
        }
        target -= weight;
    }
    candidates.len().saturating_sub(1)
}

/// An exponentially weighted moving average of latency, lock-free.
#[derive(Debug, Default)]
pub struct LatencyEwma {
    micros: AtomicU64,
}

impl LatencyEwma {
    /// Weight of a new sample: recent behaviour matters, one outlier does not dominate.
    const ALPHA: f64 = 0.2;

    /// Adds a sample.
    pub fn record(&self, micros: u64) {
        let _ = self
            .micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    micros.max(1)
                } else {
                    ((1.0 - Self::ALPHA) * old as f64 + Self::ALPHA * micros as f64).max(1.0) as u64
                })
            });
    }

    /// The current average in microseconds (0: no sample yet).
    pub fn get(&self) -> u64 {
        self.micros.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(weight: u32, outstanding: u32, latency_micros: u64) -> Candidate {
        Candidate {
            weight,
            outstanding,
            latency_micros,
        }
    }

    #[test]
    fn weighted_selection_follows_the_weights() {
        let candidates = [c(1, 0, 0), c(3, 0, 0)];
        let mut firsts = [0usize; 2];
        let n = 10_000;
        for k in 0..n {
            // An even sweep of [0, 1) stands in for random draws.
            let random = (k as f64 + 0.5) / n as f64;
            firsts[order(Strategy::Weighted, &candidates, random)[0]] += 1;
        }
        assert_eq!(firsts, [2_500, 7_500]);
        // Failover order: the other candidate follows.
        assert_eq!(order(Strategy::Weighted, &candidates, 0.1), [0, 1]);
        assert_eq!(order(Strategy::Weighted, &candidates, 0.9), [1, 0]);
    }

    #[test]
    fn least_outstanding_prefers_the_idle_deployment() {
        let candidates = [c(1, 5, 0), c(1, 0, 0), c(9, 2, 0)];
        assert_eq!(
            order(Strategy::LeastOutstanding, &candidates, 0.0),
            [1, 2, 0]
        );
    }

    #[test]
    fn latency_measures_unknown_deployments_first_then_prefers_fast_ones() {
        let candidates = [c(1, 0, 900), c(1, 0, 0), c(1, 0, 300)];
        assert_eq!(order(Strategy::Latency, &candidates, 0.0), [1, 2, 0]);
    }

    #[test]
    fn ewma_moves_toward_new_samples() {
        let ewma = LatencyEwma::default();
        assert_eq!(ewma.get(), 0);
        ewma.record(1000);
        assert_eq!(ewma.get(), 1000);
        ewma.record(2000);
        assert_eq!(ewma.get(), 1200);
    }
}
