//! [`Resilient`]: the service a [`crate::ResilienceLayer`] wraps around an inner service, and
//! the one retry loop in Drover.
//!
//! One call, step by step:
//! 1. `poll_ready` waits for the inner service; `call` takes that ready service (leaving a
//!    clone behind) and the request, and returns a future. Nothing runs until it is polled.
//! 2. The call's deadline is fixed once: the earliest of the caller's scoped deadline and
//!    `now + total_timeout`. The request is counted into the shared retry budget.
//! 3. Each attempt asks the circuit breaker for a permit (open → fail fast, inner untouched),
//!    then calls a clone of the typed request with `min(per_attempt_timeout, time left)`,
//!    scoped as the attempt's deadline so the inner service can forward it (`grpc-timeout`).
//! 4. The classifier judges the result; the breaker hears it. Success and fatal classes
//!    return at once. Transient and rate-limited failures retry if attempts remain, the wait
//!    `max(backoff, retry_after)` fits before the deadline, and the budget allows.
//!
//! Every wait and timeout lives inside the returned future: dropping it cancels the attempt in
//! flight and the backoff sleep, and releases the request. No task is spawned.
//!
//! Retries replay the typed request, so a stream already under way is never retried: wrap
//! streaming calls with [`crate::RetryPolicy::single_attempt`], or retry only the stream's
//! opening call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Service, ServiceExt};

use crate::backoff::Backoff;
use crate::classifier::Classifier;
use crate::classify::{FailureClass, Outcome};
use crate::deadline::{Deadline, with_deadline};
use crate::error::ResilienceError;
use crate::layer::LayerSettings;
use crate::telemetry::{self, GiveUp};

/// The response future of [`Resilient`]: boxed, `Send`, owns everything it needs.
pub type ResilientFuture<T, E> =
    Pin<Box<dyn Future<Output = Result<T, ResilienceError<E>>> + Send + 'static>>;

/// An inner service wrapped in Drover's retry/deadline/breaker discipline; built by
/// [`crate::ResilienceLayer`].
pub struct Resilient<S, C> {
    inner: S,
    settings: Arc<LayerSettings<C>>,
}

impl<S, C> Resilient<S, C> {
    pub(crate) fn new(inner: S, settings: Arc<LayerSettings<C>>) -> Self {
        Self { inner, settings }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, C> Clone for Resilient<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for Resilient<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resilient")
            .field("inner", &self.inner)
            .field("settings", &self.settings)
            .finish()
    }
}

impl<S, C, R> Service<R> for Resilient<S, C>
where
    R: Clone + Send + 'static,
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    C: Classifier<S::Response, S::Error> + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = ResilienceError<S::Error>;
    type Future = ResilientFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|source| ResilienceError::Inner {
                endpoint: self.settings.endpoint.clone(),
                source,
                attempts: 0,
                retry_after: None,
            })
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The ready service goes with this call; `self` keeps an unready clone for the next.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let call = RetryLoop {
            settings: Arc::clone(&self.settings),
            caller_deadline: Deadline::current(),
        };
        Box::pin(call.run(ready, request))
    }
}

/// How one attempt ended, before classification.
enum AttemptEnd<T, E> {
    Finished(Result<T, E>),
    TimedOut,
}

struct RetryLoop<C> {
    settings: Arc<LayerSettings<C>>,
    /// Seen when `call` ran; the scope around the first poll is consulted too.
    caller_deadline: Option<Deadline>,
}

impl<C> RetryLoop<C> {
    async fn run<S, R>(
        self,
        mut service: S,
        request: R,
    ) -> Result<S::Response, ResilienceError<S::Error>>
    where
        S: Service<R>,
        R: Clone,
        C: Classifier<S::Response, S::Error>,
    {
        let settings = &*self.settings;
        let policy = &settings.policy;
        let deadline = [self.caller_deadline, Deadline::current()]
            .into_iter()
            .flatten()
            .fold(Deadline::after(policy.call_timeout()), Deadline::min);
        settings.budget.deposit();
        let mut delays = policy.backoff_policy().delays();
        let mut attempts = 0;
        loop {
            let permit = match settings.breaker.as_ref().map(|b| b.try_acquire()) {
                Some(Err(open)) => {
                    telemetry::give_up(&settings.endpoint, GiveUp::CircuitOpen);
                    return Err(open.into());
                }
                Some(Ok(permit)) => Some(permit),
                None => None,
            };
            if deadline.is_expired() {
                return Err(self.give_up_on_deadline(attempts));
            }
            attempts += 1;
            telemetry::attempt(&settings.endpoint);
            let attempt_deadline = policy
                .attempt_timeout()
                .map_or(deadline, |timeout| Deadline::after(timeout).min(deadline));
            // The first attempt uses the service `poll_ready` readied; later ones re-ready it.
            let end = attempt(
                &mut service,
                request.clone(),
                attempt_deadline,
                attempts > 1,
            )
            .await;

            let (outcome, result) = match end {
                AttemptEnd::Finished(result) => (
                    settings
                        .classifier
                        .classify(&result, policy.is_idempotent()),
                    Some(result),
                ),
                // The server may have done the work: retry only what is safe to repeat.
                AttemptEnd::TimedOut if policy.is_idempotent() => {
                    (Outcome::Failure(FailureClass::Transient), None)
                }
                AttemptEnd::TimedOut => (Outcome::Failure(FailureClass::FatalRequest), None),
            };
            if let Some(permit) = permit {
                // A slow endpoint is unhealthy whatever the call's idempotency.
                let health = if result.is_some() {
                    outcome
                } else {
                    Outcome::Failure(FailureClass::Transient)
                };
                permit.record(&health);
            }
            let class = match outcome {
                Outcome::Success => return self.finish(result, attempts, None),
                Outcome::Failure(class) => class,
            };
            let wait = match class {
                FailureClass::FatalRequest | FailureClass::ContextLengthExceeded => {
                    Err(GiveUp::Fatal)
                }
                FailureClass::RetryRefused => Err(GiveUp::RetryRefused),
                FailureClass::FatalEndpoint => Err(GiveUp::EndpointFatal),
                FailureClass::Transient | FailureClass::RateLimited { .. } => {
                    self.plan_retry(&class, attempts, &deadline, &mut delays)
                }
            };
            let wait = match wait {
                Ok(wait) => wait,
                Err(reason) => {
                    // A timed-out attempt has no result to return: it ends on the deadline.
                    let reason = if result.is_some() {
                        reason
                    } else {
                        GiveUp::Deadline
                    };
                    telemetry::give_up(&settings.endpoint, reason);
                    return self.finish(result, attempts, class.retry_after());
                }
            };
            tracing::debug!(
                endpoint = %settings.endpoint,
                attempt = attempts,
                class = class.label(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Decides whether a retryable failure gets another attempt and how long to wait first.
    /// Order matters: attempts and deadline are free to check, the budget is spent only when
    /// the retry will really happen.
    fn plan_retry(
        &self,
        class: &FailureClass,
        attempts: u32,
        deadline: &Deadline,
        delays: &mut Backoff,
    ) -> Result<Duration, GiveUp> {
        let settings = &*self.settings;
        if attempts >= settings.policy.attempts_limit() {
            return Err(GiveUp::AttemptsExhausted);
        }
        // A server-requested delay is never shortened; jitter may only lengthen it.
        let backoff = delays.next().unwrap_or_default();
        let wait = backoff.max(class.retry_after().unwrap_or_default());
        // Sleeping past the deadline would only end in a timeout: give up now instead.
        if wait >= deadline.remaining() {
            return Err(GiveUp::Deadline);
        }
        if !settings.budget.try_withdraw() {
            telemetry::budget_exhausted(&settings.endpoint);
            return Err(GiveUp::BudgetExhausted);
        }
        telemetry::retry(&settings.endpoint, class.label());
        Ok(wait)
    }

    fn give_up_on_deadline<E>(&self, attempts: u32) -> ResilienceError<E> {
        telemetry::give_up(&self.settings.endpoint, GiveUp::Deadline);
        ResilienceError::DeadlineExceeded {
            endpoint: self.settings.endpoint.clone(),
            attempts,
        }
    }

    /// The call's final answer: the last attempt's result, or, when that attempt timed out,
    /// a deadline error.
    fn finish<T, E>(
        &self,
        result: Option<Result<T, E>>,
        attempts: u32,
        retry_after: Option<Duration>,
    ) -> Result<T, ResilienceError<E>> {
        let endpoint = self.settings.endpoint.clone();
        match result {
            Some(result) => result.map_err(|source| ResilienceError::Inner {
                endpoint,
                source,
                attempts,
                retry_after,
            }),
            None => Err(ResilienceError::DeadlineExceeded { endpoint, attempts }),
        }
    }
}

/// Runs one attempt under its own deadline, which is also scoped around the inner `call` and
/// future so the inner service can read it (the gRPC helper sends it as `grpc-timeout`).
async fn attempt<S, R>(
    service: &mut S,
    request: R,
    deadline: Deadline,
    needs_ready: bool,
) -> AttemptEnd<S::Response, S::Error>
where
    S: Service<R>,
{
    let call = async move {
        if needs_ready {
            service.ready().await?;
        }
        deadline.scope_sync(|| service.call(request)).await
    };
    match tokio::time::timeout_at(deadline.instant(), with_deadline(deadline, call)).await {
        Ok(result) => AttemptEnd::Finished(result),
        Err(_elapsed) => AttemptEnd::TimedOut,
    }
}
