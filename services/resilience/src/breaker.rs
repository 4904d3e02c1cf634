//! A circuit breaker per endpoint: the only failure state that outlives a request.
//!
//! ```text
//!  Closed ──(failure ratio ≥ threshold over the window, or K consecutive failures)──► Open
//!    ▲                                                                            │
//!    │                                                          open interval passes
//!    └──── probe succeeds ──── HalfOpen (a few probes allowed) ◄──────────────────────┘
//!                                   └── probe fails ──► Open (interval doubles, up to a max)
//! ```
//!
//! Only failures that are the endpoint's fault count ([`FailureClass::counts_against_endpoint`]):
//! a caller's bad request proves the endpoint answered, so it counts as healthy; rate limiting
//! and refusals are neutral. Open fast-fails with [`BreakerOpen`], which becomes `UNAVAILABLE`
//! with a `RetryInfo` saying when the breaker will half-open.
//!
//! Every call takes a [`Permit`] and reports its [`Outcome`] on it. A permit dropped without a
//! report (the call was cancelled) frees its probe slot without judging the endpoint, so a
//! cancelled probe cannot wedge the breaker half-open. Results that arrive after the breaker
//! changed state are ignored: they describe a past the breaker already acted on.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use metrics::SharedString;
use tokio::time::Instant;
use tonic_types::{ErrorDetails, StatusExt};

use crate::classify::Outcome;
use crate::telemetry::{self, BREAKER_STATE, BREAKER_TRANSITIONS_TOTAL};
use crate::window::RollingPair;

#[cfg(doc)]
use crate::classify::FailureClass;

/// When a [`CircuitBreaker`] opens and how it recovers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Open when at least this fraction of calls in the window failed…
    pub failure_ratio: f64,
    /// …and the window holds at least this many calls (so two failures of three do not trip).
    pub minimum_calls: u64,
    /// How far back calls are counted.
    pub window: Duration,
    /// Also open after this many failures in a row, whatever the ratio (0 disables).
    pub consecutive_failures: u32,
    /// How long the breaker stays open the first time.
    pub open_interval: Duration,
    /// Each failed probe doubles the open interval, up to this.
    pub max_open_interval: Duration,
    /// Calls let through at once while half-open.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_ratio: 0.5,
            minimum_calls: 10,
            window: Duration::from_secs(10),
            consecutive_failures: 5,
            open_interval: Duration::from_secs(5),
            max_open_interval: Duration::from_secs(60),
            half_open_probes: 1,
        }
    }
}

/// The externally visible state of a breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow; failures are being counted.
    Closed,
    /// A few probe calls decide whether the endpoint has recovered.
    HalfOpen,
    /// Calls fail fast without reaching the endpoint.
    Open,
}

impl BreakerState {
    /// A short name for labels and status pages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }

    /// The value of the state gauge: 0 closed, 1 half-open, 2 open.
    pub fn gauge_value(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

/// The breaker refused a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker for {endpoint} is open; retry in {retry_after:?}")]
pub struct BreakerOpen {
    /// The endpoint whose breaker is open (already sanitised).
    pub endpoint: SharedString,
    /// Time until the breaker lets a probe through (for half-open with every probe slot
    /// taken, the configured open interval as a hint).
    pub retry_after: Duration,
}

impl From<BreakerOpen> for tonic::Status {
    fn from(open: BreakerOpen) -> Self {
        tonic::Status::with_error_details(
            tonic::Code::Unavailable,
            open.to_string(),
            ErrorDetails::with_retry_info(Some(open.retry_after)),
        )
    }
}

/// A circuit breaker for one endpoint; cheap to clone, clones share state.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    endpoint: SharedString,
    config: BreakerConfig,
    machine: Mutex<Machine>,
}

#[derive(Debug)]
struct Machine {
    phase: Phase,
    /// Bumped on every transition, so late reports from an earlier phase are recognised.
    generation: u64,
    /// (calls, failures) while closed.
    window: RollingPair,
    consecutive_failures: u32,
    next_open_interval: Duration,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { probes_in_flight: u32 },
}

impl Phase {
    fn state(self) -> BreakerState {
        match self {
            Self::Closed => BreakerState::Closed,
            Self::Open { .. } => BreakerState::Open,
            Self::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// What one finished call says about the endpoint's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Healthy,
    Unhealthy,
    Neutral,
}

impl Verdict {
    fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Success => Self::Healthy,
            Outcome::Failure(class) if class.counts_against_endpoint() => Self::Unhealthy,
            Outcome::Failure(class) if class.is_retryable() => Self::Neutral,
            Outcome::Failure(_) => Self::Healthy,
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker for `endpoint` (sanitised for use as a metric label).
    pub fn new(endpoint: &str, config: BreakerConfig) -> Self {
        let endpoint = telemetry::endpoint_label(endpoint);
        metrics::gauge!(BREAKER_STATE, "endpoint" => endpoint.clone())
            .set(BreakerState::Closed.gauge_value());
        Self {
            shared: Arc::new(Shared {
                machine: Mutex::new(Machine {
                    phase: Phase::Closed,
                    generation: 0,
                    window: RollingPair::new(config.window),
                    consecutive_failures: 0,
                    next_open_interval: config.open_interval,
                }),
                endpoint,
                config,
            }),
        }
    }

    /// The endpoint this breaker guards.
    pub fn endpoint(&self) -> &SharedString {
        &self.shared.endpoint
    }

    /// The current state (an open breaker whose interval has passed reports half-open).
    pub fn state(&self) -> BreakerState {
        let mut machine = self.lock();
        self.refresh(&mut machine);
        machine.phase.state()
    }

    /// Asks to make a call. `Err` means fail fast; `Ok` must be followed by
    /// [`Permit::record`] with the call's outcome (or dropped if the call was abandoned).
    pub fn try_acquire(&self) -> Result<Permit, BreakerOpen> {
        let mut machine = self.lock();
        self.refresh(&mut machine);
        let retry_after = match &mut machine.phase {
            Phase::Closed => None,
            Phase::HalfOpen { probes_in_flight } => {
                if *probes_in_flight < self.shared.config.half_open_probes {
                    *probes_in_flight += 1;
                    None
                } else {
                    Some(self.shared.config.open_interval)
                }
            }
            Phase::Open { until } => Some(until.saturating_duration_since(Instant::now())),
        };
        match retry_after {
            Some(retry_after) => Err(BreakerOpen {
                endpoint: self.shared.endpoint.clone(),
                retry_after,
            }),
            None => Ok(Permit {
                breaker: self.clone(),
                generation: machine.generation,
                settled: false,
            }),
        }
    }

    fn settle(&self, generation: u64, verdict: Verdict) {
        let mut machine = self.lock();
        self.refresh(&mut machine);
        if machine.generation != generation {
            return;
        }
        let config = &self.shared.config;
        match machine.phase {
            Phase::Closed => {
                let failed = verdict == Verdict::Unhealthy;
                match verdict {
                    Verdict::Neutral => return,
                    Verdict::Healthy => machine.consecutive_failures = 0,
                    Verdict::Unhealthy => machine.consecutive_failures += 1,
                }
                machine.window.add(1, u64::from(failed));
                let (calls, failures) = machine.window.totals();
                let ratio_tripped = calls >= config.minimum_calls.max(1)
                    && failures as f64 >= config.failure_ratio * calls as f64;
                let streak_tripped = config.consecutive_failures > 0
                    && machine.consecutive_failures >= config.consecutive_failures;
                if failed && (ratio_tripped || streak_tripped) {
                    self.open(&mut machine);
                }
            }
            Phase::HalfOpen {
                ref mut probes_in_flight,
            } => {
                *probes_in_flight = probes_in_flight.saturating_sub(1);
                match verdict {
                    Verdict::Neutral => {}
                    Verdict::Healthy => {
                        machine.window.clear();
                        machine.consecutive_failures = 0;
                        machine.next_open_interval = config.open_interval;
                        self.transition(&mut machine, Phase::Closed);
                    }
                    Verdict::Unhealthy => self.open(&mut machine),
                }
            }
            // Opening bumps the generation, so no permit of this generation can be open.
            Phase::Open { .. } => {}
        }
    }

    fn open(&self, machine: &mut Machine) {
        let interval = machine.next_open_interval;
        machine.next_open_interval = interval
            .saturating_mul(2)
            .min(self.shared.config.max_open_interval.max(interval));
        let until = Instant::now() + interval;
        self.transition(machine, Phase::Open { until });
    }

    /// Open → half-open happens lazily, when someone looks after the interval passed.
    fn refresh(&self, machine: &mut Machine) {
        if let Phase::Open { until } = machine.phase
            && Instant::now() >= until
        {
            self.transition(
                machine,
                Phase::HalfOpen {
                    probes_in_flight: 0,
                },
            );
        }
    }

    fn transition(&self, machine: &mut Machine, to: Phase) {
        let from = machine.phase.state();
        machine.phase = to;
        machine.generation += 1;
        let endpoint = &self.shared.endpoint;
        let to = to.state();
        tracing::info!(endpoint = %endpoint, from = from.label(), to = to.label(), "circuit breaker");
        metrics::counter!(
            BREAKER_TRANSITIONS_TOTAL,
            "endpoint" => endpoint.clone(),
            "from" => from.label(),
            "to" => to.label()
        )
        .increment(1);
        metrics::gauge!(BREAKER_STATE, "endpoint" => endpoint.clone()).set(to.gauge_value());
    }

    /// Updates are a few field writes that cannot be left half-done, so a poisoned lock is
    /// still consistent.
    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.shared
            .machine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Leave to make one call through a [`CircuitBreaker`]; report how it went with
/// [`Permit::record`].
#[derive(Debug)]
#[must_use = "a permit must be used for a call and its outcome recorded"]
pub struct Permit {
    breaker: CircuitBreaker,
    generation: u64,
    settled: bool,
}

impl Permit {
    /// Reports the call's outcome to the breaker.
    pub fn record(mut self, outcome: &Outcome) {
        self.settled = true;
        self.breaker.settle(self.generation, Verdict::of(outcome));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.settle(self.generation, Verdict::Neutral);
        }
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
