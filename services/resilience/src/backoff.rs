//! How long to wait between attempts: capped exponential backoff with full or decorrelated
//! jitter.
//!
//! Jitter spreads the retries of many clients that failed together, so they do not hit the
//! recovering server in lockstep. Both strategies here come from the AWS Architecture Blog's
//! "Exponential Backoff and Jitter": *full* jitter (`random in [0, min(cap, base·2ⁿ)]`) and
//! *decorrelated* jitter (`min(cap, random in [base, previous·3])`). tower's own additive
//! jitter keeps a floor under every delay, which is exactly the lockstep we want to avoid.
//!
//! [`Backoff`] is an endless `Iterator<Item = Duration>`, so it also plugs into
//! `tokio_retry::Retry` (the worker's reconnect loop). Seeded, it is deterministic.

use std::time::Duration;

/// Which jitter strategy spreads the delays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// `random in [0, min(cap, base·2ⁿ)]` for the n-th delay (n from 0): the least
    /// correlated, and the default.
    #[default]
    Full,
    /// `min(cap, random in [base, previous·3])`: never shorter than `base`, grows from the
    /// previous delay rather than the attempt number.
    Decorrelated,
}

/// The shape of the delays between attempts. Cheap to copy; [`BackoffPolicy::delays`] starts a
/// fresh sequence per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    base: Duration,
    cap: Duration,
    jitter: Jitter,
    seed: Option<u64>,
}

impl Default for BackoffPolicy {
    /// 50 ms base, 2 s cap, full jitter: short enough to matter inside a request's deadline.
    fn default() -> Self {
        Self::new(Duration::from_millis(50), Duration::from_secs(2))
    }
}

impl BackoffPolicy {
    /// Full-jitter backoff from `base` doubling up to `cap` (a `cap` below `base` is raised to
    /// `base`, so delays stay well defined).
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            jitter: Jitter::Full,
            seed: None,
        }
    }

    /// Chooses the jitter strategy.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Makes every sequence from this policy deterministic (tests, reproducible runs).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The first (un-doubled) delay bound.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The largest delay ever produced.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// A fresh, endless sequence of delays: the policy's seed if set, else a random one.
    pub fn delays(&self) -> Backoff {
        let rng = match self.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        self.delays_with(rng)
    }

    /// A fresh sequence drawing from the given random source.
    pub fn delays_with(&self, rng: fastrand::Rng) -> Backoff {
        Backoff {
            policy: *self,
            rng,
            attempt: 0,
            previous: self.base,
        }
    }
}

/// An endless sequence of jittered delays; see [`BackoffPolicy`].
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    rng: fastrand::Rng,
    attempt: u32,
    previous: Duration,
}

impl Backoff {
    /// The upper bound the full-jitter delay number `attempt` (from 0) is drawn under.
    pub fn full_jitter_ceiling(policy: &BackoffPolicy, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt).unwrap_or(u32::MAX);
        policy
            .base
            .checked_mul(factor)
            .map_or(policy.cap, |grown| grown.min(policy.cap))
    }

    fn uniform(&mut self, low: Duration, high: Duration) -> Duration {
        let low = saturating_nanos(low);
        let high = saturating_nanos(high).max(low);
        Duration::from_nanos(self.rng.u64(low..=high))
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = match self.policy.jitter {
            Jitter::Full => {
                let ceiling = Self::full_jitter_ceiling(&self.policy, self.attempt);
                self.uniform(Duration::ZERO, ceiling)
            }
            Jitter::Decorrelated => {
                let widest = self.previous.saturating_mul(3);
                let drawn = self.uniform(self.policy.base, widest);
                drawn.min(self.policy.cap)
            }
        };
        self.attempt = self.attempt.saturating_add(1);
        self.previous = delay;
        Some(delay)
    }
}

/// Durations beyond ~584 years are clamped; no sane backoff gets near that.
fn saturating_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn full_jitter_stays_under_the_doubling_ceiling_and_the_cap() {
        let policy = BackoffPolicy::new(10 * MS, 200 * MS).seed(7);
        let delays: Vec<_> = policy.delays().take(12).collect();
        for (attempt, delay) in delays.iter().enumerate() {
            let ceiling = (10 * MS * 2u32.pow(attempt as u32)).min(200 * MS);
            assert!(
                *delay <= ceiling,
                "attempt {attempt}: {delay:?} > {ceiling:?}"
            );
        }
        assert_eq!(Backoff::full_jitter_ceiling(&policy, 10), 200 * MS);
        assert_eq!(
            Backoff::full_jitter_ceiling(&policy, 40),
            200 * MS,
            "no overflow"
        );
        // Jitter must actually spread the delays, not pin them to the ceiling.
        assert!(delays.iter().any(|d| *d < 100 * MS));
    }

    #[test]
    fn decorrelated_jitter_stays_between_base_and_cap() {
        let policy = BackoffPolicy::new(10 * MS, 100 * MS)
            .jitter(Jitter::Decorrelated)
            .seed(11);
        let delays: Vec<_> = policy.delays().take(50).collect();
        assert!(
            delays.iter().all(|d| (10 * MS..=100 * MS).contains(d)),
            "{delays:?}"
        );
        assert!(
            delays.iter().any(|d| *d > 30 * MS),
            "delays should grow: {delays:?}"
        );
    }

    #[test]
    fn same_seed_same_sequence() {
        let policy = BackoffPolicy::default().seed(42);
        let first: Vec<_> = policy.delays().take(8).collect();
        let second: Vec<_> = policy.delays().take(8).collect();
        assert_eq!(first, second);
    }

    #[test]
    fn cap_below_base_is_raised_to_base() {
        let policy = BackoffPolicy::new(50 * MS, 10 * MS);
        assert_eq!(policy.cap(), 50 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn plugs_into_tokio_retry() {
        let policy = BackoffPolicy::new(10 * MS, 40 * MS).seed(3);
        let mut calls = 0;
        let result: Result<u32, &str> = tokio_retry::Retry::start(policy.delays().take(4), || {
            calls += 1;
            let attempt = calls;
            async move {
                if attempt < 3 {
                    Err("not yet")
                } else {
                    Ok(attempt)
                }
            }
        })
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(calls, 3);
    }

    proptest! {
        #[test]
        fn full_jitter_bounds_hold_for_any_policy(
            base_ns in 1u64..5_000_000_000,
            cap_ns in 1u64..60_000_000_000,
            attempt in 0u32..64,
            seed in any::<u64>(),
        ) {
            let policy = BackoffPolicy::new(Duration::from_nanos(base_ns), Duration::from_nanos(cap_ns));
            let delay = policy.delays_with(fastrand::Rng::with_seed(seed))
                .nth(attempt as usize)
                .expect("endless");
            let doubled = u128::from(base_ns) << attempt.min(100);
            let ceiling = doubled.min(u128::from(cap_ns.max(base_ns)));
            prop_assert!(delay.as_nanos() <= ceiling);
        }

        #[test]
        fn decorrelated_bounds_hold_for_any_policy(
            base_ns in 1u64..5_000_000_000,
            cap_ns in 1u64..60_000_000_000,
            count in 1usize..40,
            seed in any::<u64>(),
        ) {
            let base = Duration::from_nanos(base_ns);
            let policy = BackoffPolicy::new(base, Duration::from_nanos(cap_ns))
                .jitter(Jitter::Decorrelated);
            for delay in policy.delays_with(fastrand::Rng::with_seed(seed)).take(count) {
                prop_assert!(delay >= base && delay <= policy.cap(), "{delay:?}");
            }
        }
    }
}
