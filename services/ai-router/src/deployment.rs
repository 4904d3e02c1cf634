//! One configured deployment at run time: its warm client, its concurrency slots (the one
//! queue on the path), its circuit breaker, its health and its request/token rate window.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use async_openai::{Client, config::OpenAIConfig};
use drover_resilience::{BreakerConfig, CircuitBreaker, Permit};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

use crate::{
    config::DeploymentConfig,
    health::{Availability, DeploymentHealth},
    upstream::{ClientSpec, build_client},
};

/// Length of a rate window: providers state rpm and tpm per minute.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// A deployment, shared by every request.
pub struct Deployment {
    /// Configured name (metrics, status, logs; never a URL or key).
    pub name: String,
    /// The provider's model name.
    pub model: String,
    /// Relative weight.
    pub weight: u32,
    /// Requests in flight at most.
    pub max_concurrency: u32,
    /// One attempt's time limit.
    pub attempt_timeout: Duration,
    /// Streams: time allowed until the first chunk.
    pub first_token_timeout: Duration,
    /// Streams: longest silence between chunks.
    pub idle_timeout: Duration,
    /// Rate-limit parking, endpoint-fault removal, latency.
    pub health: Arc<DeploymentHealth>,
    /// The deployment's breaker.
    pub breaker: CircuitBreaker,
    client: Client<OpenAIConfig>,
    slots: Arc<Semaphore>,
    outstanding: Arc<AtomicU32>,
    rate: Option<RateWindow>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately not the client: its config holds the key.
        f.debug_struct("Deployment")
            .field("name", &self.name)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// A request's hold on a deployment: a concurrency slot and a breaker permit. Dropping it
/// frees the slot; the permit is settled by [`Lease::settle`] (or neutrally when dropped).
pub struct Lease {
    /// The deployment.
    pub deployment: Arc<Deployment>,
    permit: Option<Permit>,
    _slot: OwnedSemaphorePermit,
    _outstanding: OutstandingGuard,
}

impl Lease {
    /// The deployment's client.
    pub fn client(&self) -> &Client<OpenAIConfig> {
        &self.deployment.client
    }

    /// Reports the attempt's outcome to the breaker (once; later calls do nothing).
    pub fn settle(&mut self, outcome: &drover_resilience::Outcome) {
        if let Some(permit) = self.permit.take() {
            permit.record(outcome);
        }
    }
}

struct OutstandingGuard(Arc<AtomicU32>);

impl Drop for OutstandingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a deployment cannot take a request right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unready {
    /// Parked (rate limit, own rpm/tpm) for this long.
    Parked(Duration),
    /// Its breaker is open for this long.
    Open(Duration),
    /// Out of rotation after an endpoint fault.
    Disabled(String),
    /// Every slot is taken.
    Full,
}

impl Deployment {
    /// Builds the deployment and its client; `api_key` is the key's value, if any.
    pub fn new(
        config: &DeploymentConfig,
        api_key: Option<&str>,
        breaker: BreakerConfig,
        max_body: usize,
    ) -> Result<Self, String> {
        let health = Arc::new(DeploymentHealth::default());
        let client = build_client(
            &ClientSpec {
                base_url: &config.base_url,
                api_key,
                connect_timeout: Duration::from_secs(5),
                max_body,
            },
            Arc::clone(&health),
        )?;
        let rate = (config.rpm.is_some() || config.tpm.is_some()).then(|| RateWindow {
            rpm: config.rpm,
            tpm: config.tpm,
            state: Mutex::new(WindowState {
                started: Instant::now(),
                requests: 0,
                tokens: 0,
            }),
        });
        Ok(Self {
            name: config.name.clone(),
            model: config.model.clone(),
            weight: config.weight,
            max_concurrency: config.max_concurrency,
            attempt_timeout: Duration::from_secs(config.timeout_secs),
            first_token_timeout: Duration::from_millis(config.first_token_timeout_ms),
            idle_timeout: Duration::from_millis(config.idle_timeout_ms),
            breaker: CircuitBreaker::new(&config.name, breaker),
            health,
            client,
            slots: Arc::new(Semaphore::new(config.max_concurrency as usize)),
            outstanding: Arc::new(AtomicU32::new(0)),
            rate,
        })
    }

    /// Requests in flight.
    pub fn outstanding(&self) -> u32 {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Takes a slot and a breaker permit now, or says why not.
    pub fn try_lease(self: &Arc<Self>) -> Result<Lease, Unready> {
        self.check_ready()?;
        let slot = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| Unready::Full)?;
        self.finish_lease(slot)
    }

    /// Waits up to `wait` for a slot, then takes a breaker permit.
    pub async fn lease_within(self: &Arc<Self>, wait: Duration) -> Result<Lease, Unready> {
        let slot = tokio::time::timeout(wait, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| Unready::Full)?
            .map_err(|_| Unready::Full)?;
        self.check_ready()?;
        self.finish_lease(slot)
    }

    fn check_ready(&self) -> Result<(), Unready> {
        match self.health.availability() {
            Availability::Ready => {}
            Availability::Parked(left) => return Err(Unready::Parked(left)),
            Availability::Disabled(why) => return Err(Unready::Disabled(why)),
        }
        if let Some(rate) = &self.rate {
            rate.check().map_err(Unready::Parked)?;
        }
        Ok(())
    }

    fn finish_lease(self: &Arc<Self>, slot: OwnedSemaphorePermit) -> Result<Lease, Unready> {
        let permit = self
            .breaker
            .try_acquire()
            .map_err(|open| Unready::Open(open.retry_after))?;
        if let Some(rate) = &self.rate {
            rate.count_request();
        }
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        Ok(Lease {
            deployment: Arc::clone(self),
            permit: Some(permit),
            _slot: slot,
            _outstanding: OutstandingGuard(Arc::clone(&self.outstanding)),
        })
    }

    /// Counts tokens the provider reported against the tpm limit.
    pub fn count_tokens(&self, tokens: u32) {
        if let Some(rate) = &self.rate {
            rate.count_tokens(tokens);
        }
    }
}

/// The deployment's own view of its rpm/tpm allowance, in fixed one-minute windows: a
/// deployment that used its allowance is skipped until the window turns, before the provider
/// has to say 429.
struct RateWindow {
    rpm: Option<u32>,
    tpm: Option<u32>,
    state: Mutex<WindowState>,
}

struct WindowState {
    started: Instant,
    requests: u32,
    tokens: u64,
}

impl RateWindow {
    fn current(&self) -> std::sync::MutexGuard<'_, WindowState> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.started.elapsed() >= RATE_WINDOW {
            *state = WindowState {
                started: Instant::now(),
                requests: 0,
                tokens: 0,
            };
        }
        state
    }

    /// `Err(wait)` when the window's allowance is used up.
    fn check(&self) -> Result<(), Duration> {
        let state = self.current();
        let spent = self.rpm.is_some_and(|rpm| state.requests >= rpm)
            || self.tpm.is_some_and(|tpm| state.tokens >= u64::from(tpm));
        if spent {
            Err(RATE_WINDOW.saturating_sub(state.started.elapsed()))
        } else {
            Ok(())
        }
    }

    fn count_request(&self) {
        self.current().requests += 1;
    }

    fn count_tokens(&self, tokens: u32) {
        self.current().tokens += u64::from(tokens);
    }
}
