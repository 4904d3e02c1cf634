//! The router: model groups over deployments, and the one retry loop of the request path.
//!
//! [`Router::route`] runs an operation against deployments until one succeeds, the request's
//! single deadline passes, or the failure says retrying is pointless:
//!
//! - **request faults** (400/422) fail at once, tried once in total;
//! - **context length** switches to the group's `context_window_fallback`, if any;
//! - **endpoint faults** (401/403/404) take the deployment out of rotation and move on at once;
//! - **rate limits** park the deployment (for its Retry-After; the HTTP stack already did)
//!   and move on at once;
//! - **transient faults** move on to another deployment after a jittered backoff, within the
//!   shared retry budget and `max_attempts`.
//!
//! A deployment takes a request only with a free concurrency slot and a breaker permit. When
//! every usable one is full, the request waits up to `queue_wait` for the best one's slot, then
//! is shed with RESOURCE_EXHAUSTED; when none is usable (parked, open, disabled) it is refused
//! with RetryInfo saying when the first comes back. That slot wait is the only queue.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use drover_api::{DroverError, ErrorReason};
use drover_resilience::{
    BackoffPolicy, BudgetConfig, Deadline, FailureClass, Jitter, Outcome, RetryBudget,
};
use tokio::time::Instant;

use crate::{
    cache::Cache,
    config::{ConfigError, RouterConfig},
    deployment::{Deployment, Lease, Unready},
    failure::AttemptFailure,
    metrics as m,
    selection::{Candidate, Strategy, order},
};

/// Settings of the request path, from [`RouterConfig`].
#[derive(Debug, Clone)]
pub struct RouterSettings {
    /// Longest wait for a concurrency slot before shedding.
    pub queue_wait: Duration,
    /// A request's deadline when its caller sets none.
    pub default_timeout: Duration,
    /// Attempts per request at most.
    pub max_attempts: u32,
    /// Delay between transient retries.
    pub backoff: BackoffPolicy,
    /// Largest request, in bytes of text.
    pub max_request_bytes: usize,
    /// Chunks buffered per stream.
    pub stream_buffer: usize,
    /// Largest streamed answer, in bytes of content.
    pub max_response_bytes: usize,
}

/// A model group at run time.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) members: Vec<usize>,
    pub(crate) strategy: Strategy,
    pub(crate) fallback: Option<String>,
    pub(crate) context_window_fallback: Option<String>,
}

/// Chat answers and embedding vectors, cached.
pub(crate) type ChatCache = Cache<drover_api::model::output::ChatCompletion, DroverError>;
pub(crate) type VectorCache = Cache<crate::ops::VectorEntry, DroverError>;

/// Routes requests to deployments; cheap to share (`Arc`).
pub struct Router {
    pub(crate) deployments: Vec<Arc<Deployment>>,
    pub(crate) groups: HashMap<String, Group>,
    pub(crate) settings: RouterSettings,
    budget: RetryBudget,
    pub(crate) chat_cache: ChatCache,
    pub(crate) vector_cache: VectorCache,
}

/// Where a routed call ended, for metrics and the overhead measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteStats {
    /// Attempts made.
    pub attempts: u32,
    /// Time spent in HTTP exchanges with providers (request sent to response headers), all
    /// attempts together.
    pub upstream: Duration,
}

/// The reply of one successful routed operation.
pub struct Routed<T> {
    /// What the operation produced.
    pub value: T,
    /// The deployment that served it.
    pub deployment: Arc<Deployment>,
    /// The deployment's slot, still held: a stream keeps it until it ends; drop it otherwise.
    pub lease: Lease,
}

impl Router {
    /// Builds the router from a checked configuration; `key_of` reads an API key by its
    /// environment variable name (a missing key is a configuration error, named, never shown).
    pub fn new(
        config: &RouterConfig,
        key_of: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        config.check()?;
        let mut problems = Vec::new();
        let mut deployments = Vec::new();
        let mut index = HashMap::new();
        for (i, d) in config.deployments.iter().enumerate() {
            let key = match &d.api_key_env {
                Some(var) => match key_of(var) {
                    Some(key) if !key.is_empty() => Some(key),
                    _ => {
                        problems.push(format!(
                            "deployments[{i}] ({:?}).api_key_env: environment variable {var} is \
                             not set",
                            d.name
                        ));
                        None
                    }
                },
                None => None,
            };
            match Deployment::new(
                d,
                key.as_deref(),
                config.breaker(),
                config.max_response_bytes,
            ) {
                Ok(deployment) => {
                    index.insert(d.name.clone(), deployments.len());
                    deployments.push(Arc::new(deployment));
                }
                Err(why) => problems.push(format!("deployments[{i}] ({:?}): {why}", d.name)),
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        let groups = config
            .groups
            .iter()
            .map(|g| {
                let group = Group {
                    members: g.deployments.iter().map(|name| index[name]).collect(),
                    strategy: g.strategy,
                    fallback: g.fallback.clone(),
                    context_window_fallback: g.context_window_fallback.clone(),
                };
                (g.name.clone(), group)
            })
            .collect();
        let ttl = Duration::from_secs(config.cache_ttl_secs);
        Ok(Self {
            deployments,
            groups,
            settings: RouterSettings {
                queue_wait: config.queue_wait(),
                default_timeout: Duration::from_secs(config.request_timeout_secs),
                max_attempts: config.max_attempts,
                backoff: BackoffPolicy::new(
                    Duration::from_millis(config.backoff_base_ms),
                    Duration::from_millis(config.backoff_cap_ms),
                )
                .jitter(Jitter::Full),
                max_request_bytes: config.max_request_bytes,
                stream_buffer: config.stream_buffer,
                max_response_bytes: config.max_response_bytes,
            },
            budget: RetryBudget::new(BudgetConfig::default()),
            chat_cache: Cache::new(config.cache_entries, ttl),
            vector_cache: Cache::new(config.cache_entries, ttl),
        })
    }

    /// The request path's settings.
    pub fn settings(&self) -> &RouterSettings {
        &self.settings
    }

    /// Every deployment, in configuration order.
    pub fn deployments(&self) -> &[Arc<Deployment>] {
        &self.deployments
    }

    /// The groups each deployment serves, by deployment index.
    pub fn groups_of(&self, deployment: usize) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.contains(&deployment))
            .map(|(name, _)| name.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// Entries in the response caches.
    pub fn cache_entries(&self) -> usize {
        self.chat_cache.len() + self.vector_cache.len()
    }

    /// The deadline of a call whose caller set `caller` (or none).
    pub fn deadline_for(&self, caller: Option<Deadline>) -> Deadline {
        let own = Deadline::after(self.settings.default_timeout);
        match caller {
            Some(caller) if caller.instant() < own.instant() => caller,
            _ => own,
        }
    }

    /// A NOT_FOUND naming `field` unless `group` is configured.
    pub fn check_group(&self, group: &str, field: &str) -> Result<(), DroverError> {
        if self.groups.contains_key(group) {
            return Ok(());
        }
        let mut error = DroverError::new(
            ErrorReason::NotFound,
            format!("{field}: no model group {group:?} is configured"),
        );
        error.violations.push(drover_api::FieldViolation {
            field: field.to_owned(),
            description: format!("unknown model group {group:?}"),
        });
        Err(error)
    }

    /// Deployments to try for `group`, best first: the group's own (ordered by its
    /// strategy), then each fallback group's in turn.
    fn chain(&self, group: &str) -> Vec<(usize, &str)> {
        let mut chain: Vec<(usize, &str)> = Vec::new();
        let mut next = Some(group);
        // Fallback chains were checked acyclic; the bound is belt and braces.
        for _ in 0..self.groups.len() {
            let Some(name) = next else { break };
            let Some((name, g)) = self.groups.get_key_value(name) else {
                break;
            };
            let candidates: Vec<Candidate> = g
                .members
                .iter()
                .map(|&i| {
                    let d = &self.deployments[i];
                    Candidate {
                        weight: d.weight,
                        outstanding: d.outstanding(),
                        latency_micros: d.health.latency.get(),
                    }
                })
                .collect();
            for k in order(g.strategy, &candidates, fastrand::f64()) {
                let i = g.members[k];
                if !chain.iter().any(|(seen, _)| *seen == i) {
                    chain.push((i, name.as_str()));
                }
            }
            next = g.fallback.as_deref();
        }
        chain
    }

    /// Runs `op` on deployments of `group` under the rules in the module docs. The stats
    /// (attempts, upstream time) come back whatever the outcome.
    pub async fn route<T, F, Fut>(
        &self,
        group: &str,
        deadline: Deadline,
        mut op: F,
    ) -> (Result<Routed<T>, DroverError>, RouteStats)
    where
        F: FnMut(Lease) -> Fut,
        Fut: Future<Output = (Lease, Result<T, AttemptFailure>)>,
    {
        let mut stats = RouteStats::default();
        let routed = tokio::time::timeout_at(deadline.instant(), async {
            self.budget.deposit();
            let mut group = group.to_owned();
            let mut excluded: Vec<Exclusion> = vec![Exclusion::None; self.deployments.len()];
            let mut backoff = self.settings.backoff.delays();
            let mut last: Option<DroverError> = None;
            loop {
                if deadline.is_expired() {
                    return Err(deadline_passed(&stats));
                }
                let chain = self.chain(&group);
                let lease = match self.pick(&chain, &excluded).await {
                    Ok(lease) => lease,
                    Err(None) if excluded.contains(&Exclusion::Transient) => {
                        // Everything failed transiently once: any of them may do now.
                        for e in excluded.iter_mut().filter(|e| **e == Exclusion::Transient) {
                            *e = Exclusion::None;
                        }
                        continue;
                    }
                    Err(refusal) => {
                        let refusal = refusal.unwrap_or_else(|| {
                            DroverError::new(
                                ErrorReason::EndpointRejected,
                                format!("no deployment of model group {group:?} can serve"),
                            )
                        });
                        // A failure seen on the way says more than "nothing left to try",
                        // but a pending refusal says when to come back.
                        return Err(match last {
                            Some(last) if refusal.retry_after.is_none() => last,
                            _ => refusal,
                        });
                    }
                };
                stats.attempts += 1;
                let index = self.index_of(&lease.deployment);
                let deployment = Arc::clone(&lease.deployment);
                let started = Instant::now();
                let attempt_deadline = deadline.instant().min(started + deployment.attempt_timeout);
                let (attempt, http_time) =
                    crate::upstream::timed(tokio::time::timeout_at(attempt_deadline, op(lease)))
                        .await;
                let took = started.elapsed();
                // Upstream time is the provider's side of the exchange (request sent to
                // answer received); building the request and reading the reply count as
                // router overhead.
                stats.upstream += http_time.unwrap_or(took);
                let (mut lease, result) = match attempt {
                    Ok(done) => done,
                    Err(_) if deadline.is_expired() => return Err(deadline_passed(&stats)),
                    Err(_) => {
                        m::attempt_failed(&deployment.name, "attempt_timeout");
                        // The lease was dropped with the attempt: the breaker permit settled
                        // neutral, so count the timeout explicitly.
                        if let Ok(permit) = deployment.breaker.try_acquire() {
                            permit.record(&Outcome::Failure(FailureClass::Transient));
                        }
                        let failure = AttemptFailure::transient(format!(
                            "deployment {} did not answer within {:?}",
                            deployment.name, deployment.attempt_timeout
                        ));
                        excluded[index] = Exclusion::Transient;
                        last = Some(failure.error);
                        if !self.may_retry(&stats) {
                            break;
                        }
                        self.pause(&mut backoff, deadline).await;
                        continue;
                    }
                };
                match result {
                    Ok(value) => {
                        lease.settle(&Outcome::Success);
                        deployment.health.latency.record(took.as_micros() as u64);
                        return Ok(Routed {
                            value,
                            deployment,
                            lease,
                        });
                    }
                    Err(failure) => {
                        lease.settle(&Outcome::Failure(failure.class));
                        drop(lease);
                        m::attempt_failed(&deployment.name, failure.class.label());
                        tracing::debug!(
                            deployment = %deployment.name,
                            class = failure.class.label(),
                            error = %failure.error,
                            "attempt failed"
                        );
                        match failure.class {
                            FailureClass::FatalRequest => return Err(failure.error),
                            FailureClass::ContextLengthExceeded => {
                                let served_by = chain
                                    .iter()
                                    .find(|(i, _)| *i == index)
                                    .map(|(_, g)| *g)
                                    .unwrap_or(group.as_str());
                                match self
                                    .groups
                                    .get(served_by)
                                    .and_then(|g| g.context_window_fallback.clone())
                                {
                                    Some(bigger) if bigger != group => {
                                        m::failover("context_length_exceeded");
                                        group = bigger;
                                        excluded.fill(Exclusion::None);
                                        last = Some(failure.error);
                                        continue;
                                    }
                                    _ => return Err(failure.error),
                                }
                            }
                            FailureClass::FatalEndpoint => {
                                deployment.health.disable(failure.error.message.clone());
                                tracing::warn!(
                                    deployment = %deployment.name,
                                    error = %failure.error,
                                    "deployment taken out of rotation"
                                );
                                excluded[index] = Exclusion::ForGood;
                                m::failover(failure.class.label());
                            }
                            FailureClass::RateLimited { retry_after } => {
                                if let Some(delay) = retry_after {
                                    deployment.health.park(delay);
                                }
                                excluded[index] = Exclusion::ForGood;
                                m::failover(failure.class.label());
                            }
                            FailureClass::Transient | FailureClass::RetryRefused => {
                                excluded[index] = Exclusion::Transient;
                                last = Some(failure.error);
                                if !self.may_retry(&stats) {
                                    break;
                                }
                                m::retry(failure.class.label());
                                self.pause(&mut backoff, deadline).await;
                                continue;
                            }
                        }
                        last = Some(failure.error);
                        if stats.attempts >= self.settings.max_attempts {
                            break;
                        }
                    }
                }
            }
            Err(last.unwrap_or_else(|| {
                DroverError::new(ErrorReason::Transient, "every attempt failed")
            }))
        })
        .await;
        let result = match routed {
            Ok(result) => result,
            Err(_) => Err(deadline_passed(&stats)),
        };
        (result, stats)
    }

    fn index_of(&self, deployment: &Arc<Deployment>) -> usize {
        self.deployments
            .iter()
            .position(|d| Arc::ptr_eq(d, deployment))
            .unwrap_or(0)
    }

    /// Whether a transient failure may be retried: attempts left and budget allowing.
    fn may_retry(&self, stats: &RouteStats) -> bool {
        if stats.attempts >= self.settings.max_attempts {
            return false;
        }
        if !self.budget.try_withdraw() {
            m::retry("budget_exhausted");
            return false;
        }
        true
    }

    /// Sleeps the next backoff delay, never past the deadline.
    async fn pause(&self, backoff: &mut drover_resilience::Backoff, deadline: Deadline) {
        let delay = backoff.next().unwrap_or(self.settings.backoff.cap());
        let until = (Instant::now() + delay).min(deadline.instant());
        tokio::time::sleep_until(until).await;
    }

    /// Leases the first usable deployment of `chain`; waits (bounded) for a slot when every
    /// usable one is full. `Err(None)`: nothing left that is not excluded; `Err(Some)`: a
    /// refusal to answer with.
    async fn pick(
        &self,
        chain: &[(usize, &str)],
        excluded: &[Exclusion],
    ) -> Result<Lease, Option<DroverError>> {
        let mut parked: Option<Duration> = None;
        let mut open: Option<Duration> = None;
        let mut full: Option<&Arc<Deployment>> = None;
        let mut any = false;
        for &(i, _) in chain {
            if excluded[i] != Exclusion::None {
                continue;
            }
            let deployment = &self.deployments[i];
            match deployment.try_lease() {
                Ok(lease) => return Ok(lease),
                Err(Unready::Full) => {
                    any = true;
                    full = full.or(Some(deployment));
                }
                Err(Unready::Parked(left)) => {
                    any = true;
                    parked = Some(parked.map_or(left, |p| p.min(left)));
                }
                Err(Unready::Open(left)) => {
                    any = true;
                    open = Some(open.map_or(left, |o| o.min(left)));
                }
                Err(Unready::Disabled(_)) => {}
            }
        }
        if let Some(deployment) = full {
            let waited = Instant::now();
            let leased = deployment.lease_within(self.settings.queue_wait).await;
            m::queue_wait(waited.elapsed());
            return leased.map_err(|why| {
                m::shed();
                let mut error = DroverError::new(
                    ErrorReason::QueueFull,
                    format!(
                        "every deployment is busy (waited {:?} for a slot); try again shortly",
                        self.settings.queue_wait
                    ),
                );
                if let Unready::Parked(left) | Unready::Open(left) = why {
                    error = error.retry_after(left);
                } else {
                    error = error.retry_after(self.settings.queue_wait);
                }
                Some(error)
            });
        }
        if !any {
            return Err(None);
        }
        let error = match (parked, open) {
            (Some(parked), open) => DroverError::new(
                ErrorReason::RateLimited,
                "every deployment is rate-limited; retry after the delay given",
            )
            .retry_after(open.map_or(parked, |o| o.min(parked))),
            (None, Some(open)) => DroverError::new(
                ErrorReason::CircuitOpen,
                "every deployment's circuit breaker is open; retry after the delay given",
            )
            .retry_after(open),
            (None, None) => return Err(None),
        };
        m::shed();
        Err(Some(error))
    }
}

fn deadline_passed(stats: &RouteStats) -> DroverError {
    DroverError::new(
        ErrorReason::DeadlineExceeded,
        format!(
            "the request's deadline passed after {} attempt(s)",
            stats.attempts
        ),
    )
}

/// Whether a deployment is skipped for the rest of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exclusion {
    /// Usable.
    None,
    /// Failed transiently: others first, but it may serve again if all fail.
    Transient,
    /// Refused this request for good (endpoint fault, rate limit).
    ForGood,
}
