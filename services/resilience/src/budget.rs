//! A retry budget shared by every request through one layer (Finagle/Envoy style).
//!
//! Per-request attempt limits do not stop a retry storm: when an endpoint fails for everyone,
//! every request retries and the load multiplies just as the endpoint is weakest. The budget
//! caps retries as a fraction of recent requests (`retry_ratio`, default 0.2) over a rolling
//! `window` (default 10 s), plus a small floor (`min_retries_per_second`, default 10) so a
//! quiet client can still retry. First attempts are never refused; only retries draw on it.
//!
//! [`RetryBudget`] is a cheap handle (`Arc` inside): clones share one budget.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::window::RollingPair;

/// Settings of a [`RetryBudget`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetConfig {
    /// Retries allowed per request over the window (0.2 = one retry per five requests).
    pub retry_ratio: f64,
    /// How far back requests and retries are counted.
    pub window: Duration,
    /// Retries always allowed per second of window, however few requests there were.
    pub min_retries_per_second: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            retry_ratio: 0.2,
            window: Duration::from_secs(10),
            min_retries_per_second: 10.0,
        }
    }
}

/// A shared allowance of retries; see the module docs.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: BudgetConfig,
    /// (requests, retries) over the window.
    counts: Mutex<RollingPair>,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(BudgetConfig::default())
    }
}

impl RetryBudget {
    /// A budget with these settings; negative or non-finite numbers are treated as zero.
    pub fn new(config: BudgetConfig) -> Self {
        let sane = |value: f64| {
            if value.is_finite() {
                value.max(0.0)
            } else {
                0.0
            }
        };
        let config = BudgetConfig {
            retry_ratio: sane(config.retry_ratio),
            min_retries_per_second: sane(config.min_retries_per_second),
            ..config
        };
        Self {
            shared: Arc::new(Shared {
                counts: Mutex::new(RollingPair::new(config.window)),
                config,
            }),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> BudgetConfig {
        self.shared.config
    }

    /// Records a new request (its first attempt), which earns `retry_ratio` retries.
    pub fn deposit(&self) {
        self.with_counts(|counts| counts.add(1, 0));
    }

    /// Takes one retry from the budget if there is one; `false` means do not retry.
    pub fn try_withdraw(&self) -> bool {
        let config = self.shared.config;
        let floor = config.min_retries_per_second * config.window.as_secs_f64();
        self.with_counts(|counts| {
            let (requests, retries) = counts.totals();
            let allowed = floor + config.retry_ratio * requests as f64;
            let permitted = (retries as f64) + 1.0 <= allowed;
            if permitted {
                counts.add(0, 1);
            }
            permitted
        })
    }

    /// Requests and retries counted over the current window.
    pub fn usage(&self) -> (u64, u64) {
        self.with_counts(RollingPair::totals)
    }

    /// The lock is held only for a few additions; a panic elsewhere cannot leave the counters
    /// half-updated, so a poisoned lock is still safe to use.
    fn with_counts<T>(&self, f: impl FnOnce(&mut RollingPair) -> T) -> T {
        let mut counts = self
            .shared
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(ratio: f64, floor_per_second: f64) -> RetryBudget {
        RetryBudget::new(BudgetConfig {
            retry_ratio: ratio,
            window: Duration::from_secs(10),
            min_retries_per_second: floor_per_second,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_capped_by_floor_plus_ratio_of_requests() {
        // Floor: 0.5/s over 10 s = 5 retries; ratio 0.2 over 50 requests = 10 more.
        let budget = budget(0.2, 0.5);
        for _ in 0..50 {
            budget.deposit();
        }
        let granted = (0..100).filter(|_| budget.try_withdraw()).count();
        assert_eq!(granted, 15);
        assert_eq!(budget.usage(), (50, 15));
    }

    #[tokio::test(start_paused = true)]
    async fn budget_refills_as_the_window_moves_on() {
        let budget = budget(0.0, 0.1); // one retry per 10 s window
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(budget.try_withdraw());
    }

    #[test]
    fn clones_share_one_budget_and_bad_numbers_mean_zero() {
        let budget = budget(f64::NAN, -3.0);
        let clone = budget.clone();
        clone.deposit();
        assert_eq!(budget.usage(), (1, 0));
        assert!(
            !budget.try_withdraw(),
            "zero ratio and zero floor allow nothing"
        );
    }
}
