//! # drover-resilience
//!
//! The one retry/timeout/circuit-breaker layer every outgoing Drover call goes through, gRPC
//! between services and HTTP to AI providers alike. It is the only retry loop in Drover:
//! clients below it (tonic channels, async-openai with its own retries switched off) try once.
//!
//! ## What it owns
//! - **Classification** ([`classify`], [`classifier`]): what a gRPC status or HTTP/provider
//!   response means — fatal for the request, context length exceeded, fatal for the endpoint,
//!   transient, rate limited (with the server's delay), or "do not retry".
//! - **Backoff** ([`backoff`]): capped exponential delays with full or decorrelated jitter.
//! - **Retry budget** ([`budget`]): retries capped at a ratio of recent requests, shared by
//!   every request through a layer, so retries cannot multiply an outage.
//! - **Deadline** ([`deadline`]): one deadline for all attempts, from the caller or the policy,
//!   carried in a task-local scope; retries spend it, never extend it.
//! - **Circuit breaker** ([`breaker`]): per endpoint, the only failure state that outlives a
//!   request; open fails fast with `UNAVAILABLE` + `RetryInfo`.
//! - **The layer** ([`ResilienceLayer`] → [`Resilient`]) that puts them together, and a
//!   helper ([`grpc::unary`]) that puts a generated tonic method behind it.
//!
//! ## How a call flows
//! `poll_ready` waits on the inner service; `call` fixes the deadline (caller's scoped
//! deadline or `now + total_timeout`, the sooner) and counts the request into the budget.
//! Each attempt takes a breaker permit, runs under `min(per_attempt_timeout, time left)` with
//! that attempt deadline in scope, and is classified. Success or a fatal class ends the call;
//! a transient or rate-limited failure waits `max(backoff, retry_after)` and tries again if
//! attempts remain, the wait fits before the deadline, and the budget allows. Everything lives
//! in the response future: dropping it cancels the attempt and the wait. Streams are never
//! retried once under way (use [`RetryPolicy::single_attempt`]).
//!
//! ## Metrics
//! Emitted through the `metrics` facade (names in [`telemetry`]); the `endpoint` label is the
//! layer's endpoint name with any credentials or query stripped.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `drover_resilience_attempts_total` | counter | `endpoint` |
//! | `drover_resilience_retries_total` | counter | `endpoint`, `class` |
//! | `drover_resilience_budget_exhausted_total` | counter | `endpoint` |
//! | `drover_resilience_give_ups_total` | counter | `endpoint`, `reason` |
//! | `drover_resilience_breaker_transitions_total` | counter | `endpoint`, `from`, `to` |
//! | `drover_resilience_breaker_state` | gauge (0 closed, 1 half-open, 2 open) | `endpoint` |
//!
//! ## Usage
//! ```
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//! use drover_resilience::{
//!     BackoffPolicy, BreakerConfig, CircuitBreaker, ResilienceLayer, RetryPolicy, with_deadline,
//!     Deadline,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let policy = RetryPolicy::default()
//!     .max_attempts(3)
//!     .backoff(BackoffPolicy::new(Duration::from_millis(20), Duration::from_secs(1)))
//!     .per_attempt_timeout(Duration::from_millis(500))
//!     .total_timeout(Duration::from_secs(2));
//! let breaker = CircuitBreaker::new("provider-a", BreakerConfig::default());
//! let service = ServiceBuilder::new()
//!     .layer(ResilienceLayer::grpc(policy, "provider-a").with_breaker(breaker.clone()))
//!     .service_fn(|name: String| async move {
//!         Ok::<_, tonic::Status>(format!("hello {name}"))
//!     });
//! // A caller's deadline (e.g. parsed from its incoming `grpc-timeout`) bounds every attempt.
//! let reply = with_deadline(Deadline::after(Duration::from_secs(1)), service.oneshot("ai".into()))
//!     .await
//!     .map_err(tonic::Status::from);
//! assert_eq!(reply.ok().as_deref(), Some("hello ai"));
//! assert_eq!(breaker.state(), drover_resilience::BreakerState::Closed);
//! # }
//! ```
//!
//! ## Layout
//! `classify` + `retry_after` (what failures mean), `classifier` (the layer's view of it),
//! `backoff`, `budget`, `deadline`, `breaker` (+ `window`, their rolling counters), `policy`,
//! `layer` + `service` (the retry loop), `error`, `grpc`, `telemetry`.

#![deny(missing_docs)]

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod classifier;
pub mod classify;
pub mod deadline;
pub mod error;
pub mod grpc;
pub mod layer;
pub mod policy;
pub mod retry_after;
pub mod service;
pub mod telemetry;
mod window;

pub use backoff::{Backoff, BackoffPolicy, Jitter};
pub use breaker::{BreakerConfig, BreakerOpen, BreakerState, CircuitBreaker, Permit};
pub use budget::{BudgetConfig, RetryBudget};
pub use classifier::{Classifier, FnClassifier, GrpcClassifier, HttpClassifier};
pub use classify::{FailureClass, Outcome, classify_http, classify_openai_error, classify_status};
pub use deadline::{Deadline, parse_grpc_timeout, with_deadline};
pub use error::ResilienceError;
pub use layer::ResilienceLayer;
pub use policy::{MAX_ATTEMPTS_LIMIT, RetryPolicy};
pub use service::Resilient;
