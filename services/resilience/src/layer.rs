//! [`ResilienceLayer`]: the `tower::Layer` every outgoing Drover call goes through.
//!
//! The layer is configuration only: a [`RetryPolicy`], the endpoint's name, a shared
//! [`RetryBudget`], an optional shared [`CircuitBreaker`] and a [`Classifier`](crate::Classifier). Wrapping a
//! service yields a [`Resilient`] service (see [`crate::service`]) that runs the retry loop.

use std::fmt;
use std::sync::Arc;

use metrics::SharedString;
use tower::Layer;

use crate::breaker::CircuitBreaker;
use crate::budget::RetryBudget;
use crate::classifier::{GrpcClassifier, HttpClassifier};
use crate::policy::RetryPolicy;
use crate::service::Resilient;
use crate::telemetry::endpoint_label;

/// Applies Drover's retry, deadline and circuit-breaker discipline to a service.
///
/// Clones (and every service it wraps) share one budget and one breaker; build one layer per
/// endpoint (or per endpoint group that should share a budget).
#[derive(Clone)]
pub struct ResilienceLayer<C> {
    settings: LayerSettings<C>,
}

/// What every service wrapped by one layer reads; cheap to clone (the budget and breaker are
/// shared handles).
#[derive(Clone)]
pub(crate) struct LayerSettings<C> {
    pub(crate) policy: RetryPolicy,
    pub(crate) endpoint: SharedString,
    pub(crate) budget: RetryBudget,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) classifier: C,
}

impl<C> ResilienceLayer<C> {
    /// A layer for `endpoint` (a short name used as a metric label; a URL is stripped of
    /// credentials and query) with its own default [`RetryBudget`] and no circuit breaker.
    pub fn new(policy: RetryPolicy, endpoint: &str, classifier: C) -> Self {
        Self {
            settings: LayerSettings {
                policy,
                endpoint: endpoint_label(endpoint),
                budget: RetryBudget::default(),
                breaker: None,
                classifier,
            },
        }
    }

    /// Draws retries from `budget` (shared with whatever else holds a clone of it).
    pub fn with_budget(mut self, budget: RetryBudget) -> Self {
        self.settings.budget = budget;
        self
    }

    /// Guards calls with `breaker`; its state outlives requests and is shared with other
    /// holders (e.g. a router's status page).
    pub fn with_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.settings.breaker = Some(breaker);
        self
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.settings.policy
    }

    /// The sanitised endpoint name used in metrics and errors.
    pub fn endpoint(&self) -> &SharedString {
        &self.settings.endpoint
    }

    /// The shared retry budget.
    pub fn budget(&self) -> &RetryBudget {
        &self.settings.budget
    }

    /// The circuit breaker, if one guards this layer.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.settings.breaker.as_ref()
    }
}

impl ResilienceLayer<GrpcClassifier> {
    /// A layer for gRPC clients (errors are [`tonic::Status`]); pair it with
    /// [`crate::grpc::unary`].
    pub fn grpc(policy: RetryPolicy, endpoint: &str) -> Self {
        Self::new(policy, endpoint, GrpcClassifier)
    }
}

impl ResilienceLayer<HttpClassifier> {
    /// A layer for services returning [`http::Response`].
    pub fn http(policy: RetryPolicy, endpoint: &str) -> Self {
        Self::new(policy, endpoint, HttpClassifier)
    }
}

impl<S, C: Clone> Layer<S> for ResilienceLayer<C> {
    type Service = Resilient<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Resilient::new(inner, Arc::new(self.settings.clone()))
    }
}

impl<C> fmt::Debug for ResilienceLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.settings, f)
    }
}

impl<C> fmt::Debug for LayerSettings<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResilienceLayer")
            .field("endpoint", &self.endpoint)
            .field("policy", &self.policy)
            .field("budget", &self.budget.config())
            .field("breaker", &self.breaker.as_ref().map(CircuitBreaker::state))
            .finish_non_exhaustive()
    }
}
