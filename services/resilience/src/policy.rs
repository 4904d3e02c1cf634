//! The per-layer retry policy: how many attempts, how long to wait between them, how long each
//! may take and how long the whole call may take.

use std::time::Duration;

use crate::backoff::BackoffPolicy;

/// The most attempts any policy may make. More than five attempts at one endpoint multiplies
/// load during an outage without buying meaningful success; [`RetryPolicy::max_attempts`]
/// clamps to it (and logs a warning) rather than failing, so a config typo cannot stop a
/// service from starting.
pub const MAX_ATTEMPTS_LIMIT: u32 = 5;

/// How one layer retries. Build with [`RetryPolicy::default`] and the chained setters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: BackoffPolicy,
    per_attempt_timeout: Option<Duration>,
    total_timeout: Duration,
    idempotent: bool,
}

impl Default for RetryPolicy {
    /// 3 attempts, [`BackoffPolicy::default`], no per-attempt timeout, 30 s in total, not
    /// idempotent (an ambiguous timeout is not retried unless the caller says it is safe).
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: BackoffPolicy::default(),
            per_attempt_timeout: None,
            total_timeout: Duration::from_secs(30),
            idempotent: false,
        }
    }
}

impl RetryPolicy {
    /// Attempts in total, first one included; clamped to `1..=`[`MAX_ATTEMPTS_LIMIT`].
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        let clamped = attempts.clamp(1, MAX_ATTEMPTS_LIMIT);
        if clamped != attempts {
            tracing::warn!(requested = attempts, used = clamped, "max_attempts clamped");
        }
        self.max_attempts = clamped;
        self
    }

    /// Exactly one attempt: for streaming calls, whose stream cannot be replayed once under
    /// way. The layer still applies the deadline, breaker and metrics.
    pub fn single_attempt(self) -> Self {
        self.max_attempts(1)
    }

    /// How long to wait between attempts.
    pub fn backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.backoff = backoff;
        self
    }

    /// The most one attempt may take; each attempt gets the lesser of this and the time left.
    pub fn per_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.per_attempt_timeout = Some(timeout);
        self
    }

    /// The most the whole call may take, all attempts and waits included. A sooner caller
    /// deadline (see [`crate::with_deadline`]) wins.
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }

    /// Whether repeating the call is safe even if the server already acted on it; this allows
    /// retrying ambiguous failures (timeouts, `DEADLINE_EXCEEDED`, 504).
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Attempts in total.
    pub fn attempts_limit(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff between attempts.
    pub fn backoff_policy(&self) -> &BackoffPolicy {
        &self.backoff
    }

    /// The per-attempt timeout, if any.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.per_attempt_timeout
    }

    /// The total timeout.
    pub fn call_timeout(&self) -> Duration {
        self.total_timeout
    }

    /// Whether the call is idempotent.
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_attempts_is_clamped_to_one_through_five() {
        assert_eq!(RetryPolicy::default().attempts_limit(), 3);
        assert_eq!(RetryPolicy::default().max_attempts(50).attempts_limit(), 5);
        assert_eq!(RetryPolicy::default().max_attempts(0).attempts_limit(), 1);
        assert_eq!(RetryPolicy::default().single_attempt().attempts_limit(), 1);
    }
}
