//! One deployment's health as the router sees it, shared by the request path and the
//! deployment's HTTP stack: parked after a 429 until its Retry-After (or rate-limit reset)
//! passes, taken out of rotation after an endpoint fault (401/403/404), and its latency EWMA.
//! (The circuit breaker lives in `drover-resilience` and is consulted alongside.)

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use crate::selection::LatencyEwma;

/// Longest a single Retry-After may park a deployment: a misbehaving provider cannot take a
/// deployment out for a day with one header.
pub const MAX_PARK: Duration = Duration::from_secs(300);

/// Whether a deployment can take a request now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// It can.
    Ready,
    /// Rate-limited: usable again after this long.
    Parked(Duration),
    /// Removed after an endpoint fault; it stays out until the router restarts.
    Disabled(String),
}

/// Shared, lock-light health of one deployment.
#[derive(Debug, Default)]
pub struct DeploymentHealth {
    parked_until: Mutex<Option<Instant>>,
    disabled: AtomicBool,
    disabled_why: Mutex<String>,
    /// Latency of successful calls.
    pub latency: LatencyEwma,
}

impl DeploymentHealth {
    /// Parks the deployment for `delay` (capped at [`MAX_PARK`]); a longer park already in
    /// place is kept — a Retry-After is never shortened.
    pub fn park(&self, delay: Duration) {
        let until = Instant::now() + delay.min(MAX_PARK);
        if let Ok(mut parked) = self.parked_until.lock()
            && parked.is_none_or(|current| current < until)
        {
            *parked = Some(until);
        }
    }

    /// Takes the deployment out of rotation (the reason is for status pages; no secrets).
    pub fn disable(&self, why: impl Into<String>) {
        if let Ok(mut reason) = self.disabled_why.lock() {
            *reason = why.into();
        }
        self.disabled.store(true, Ordering::Relaxed);
    }

    /// True once disabled.
    pub fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Relaxed)
    }

    /// When the current park ends, if parked.
    pub fn parked_until(&self) -> Option<Instant> {
        let until = (*self.parked_until.lock().ok()?)?;
        (until > Instant::now()).then_some(until)
    }

    /// Whether a request may go to this deployment now.
    pub fn availability(&self) -> Availability {
        if self.is_disabled() {
            let why = self
                .disabled_why
                .lock()
                .map(|w| w.clone())
                .unwrap_or_default();
            return Availability::Disabled(why);
        }
        match self.parked_until() {
            Some(until) => Availability::Parked(until - Instant::now()),
            None => Availability::Ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_park_lasts_its_full_delay_and_is_never_shortened() {
        let health = DeploymentHealth::default();
        assert_eq!(health.availability(), Availability::Ready);
        health.park(Duration::from_secs(2));
        health.park(Duration::from_millis(500)); // a shorter one does not cut the first
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert!(
            matches!(health.availability(), Availability::Parked(left) if left <= Duration::from_millis(1))
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(health.availability(), Availability::Ready);
    }

    #[tokio::test(start_paused = true)]
    async fn parks_are_capped() {
        let health = DeploymentHealth::default();
        health.park(Duration::from_secs(86_400));
        assert!(matches!(health.availability(), Availability::Parked(left) if left <= MAX_PARK));
    }

    #[test]
    fn disabled_deployments_stay_out_and_say_why() {
        let health = DeploymentHealth::default();
        health.disable("401 from the provider: check its API key");
        assert_eq!(
            health.availability(),
            Availability::Disabled("401 from the provider: check its API key".into())
        );
    }
}
