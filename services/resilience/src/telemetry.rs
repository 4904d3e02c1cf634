//! The metrics this crate emits, named in one place.
//!
//! Only the `metrics` facade is used: whichever recorder the process installs (Prometheus in
//! the services, a debugging recorder in tests) receives them. Labels are the endpoint name
//! (sanitised by [`endpoint_label`]) and small fixed vocabularies; never request data.

use metrics::SharedString;
use std::sync::Arc;

/// Counter: every attempt sent to the inner service. Labels: `endpoint`.
pub const ATTEMPTS_TOTAL: &str = "drover_resilience_attempts_total";
/// Counter: retries started. Labels: `endpoint`, `class` (the failure that caused it).
pub const RETRIES_TOTAL: &str = "drover_resilience_retries_total";
/// Counter: retries refused because the shared budget was spent. Labels: `endpoint`.
pub const BUDGET_EXHAUSTED_TOTAL: &str = "drover_resilience_budget_exhausted_total";
/// Counter: calls that ended in failure. Labels: `endpoint`, `reason` (see [`GiveUp`]).
pub const GIVE_UPS_TOTAL: &str = "drover_resilience_give_ups_total";
/// Counter: circuit breaker state changes. Labels: `endpoint`, `from`, `to`.
pub const BREAKER_TRANSITIONS_TOTAL: &str = "drover_resilience_breaker_transitions_total";
/// Gauge: circuit breaker state, 0 closed, 1 half-open, 2 open. Labels: `endpoint`.
pub const BREAKER_STATE: &str = "drover_resilience_breaker_state";

/// Why the layer stopped without a success; the `reason` label of [`GIVE_UPS_TOTAL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// The failure was fatal for the request (including context length exceeded).
    Fatal,
    /// The endpoint cannot serve the request; another endpoint may.
    EndpointFatal,
    /// The server asked not to be retried.
    RetryRefused,
    /// `max_attempts` were used.
    AttemptsExhausted,
    /// The shared retry budget refused a retry.
    BudgetExhausted,
    /// The deadline passed, or the next wait would not fit before it.
    Deadline,
    /// The circuit breaker is open.
    CircuitOpen,
}

impl GiveUp {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Fatal => "fatal",
            Self::EndpointFatal => "endpoint_fatal",
            Self::RetryRefused => "retry_refused",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::BudgetExhausted => "budget_exhausted",
            Self::Deadline => "deadline",
            Self::CircuitOpen => "circuit_open",
        }
    }
}

/// Makes an endpoint name safe to use as a metric label and in error messages: strips
/// `user:password@` from URL-like names and drops any query string or fragment (where API keys
/// hide), so a URL passed by mistake does not leak a secret.
pub fn endpoint_label(name: &str) -> SharedString {
    let without_query = name.split(['?', '#']).next().unwrap_or_default();
    let cleaned = match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => without_query.to_owned(),
    };
    SharedString::from(Arc::<str>::from(cleaned))
}

pub(crate) fn attempt(endpoint: &SharedString) {
    metrics::counter!(ATTEMPTS_TOTAL, "endpoint" => endpoint.clone()).increment(1);
}

pub(crate) fn retry(endpoint: &SharedString, class: &'static str) {
    metrics::counter!(RETRIES_TOTAL, "endpoint" => endpoint.clone(), "class" => class).increment(1);
}

pub(crate) fn budget_exhausted(endpoint: &SharedString) {
    metrics::counter!(BUDGET_EXHAUSTED_TOTAL, "endpoint" => endpoint.clone()).increment(1);
}

pub(crate) fn give_up(endpoint: &SharedString, reason: GiveUp) {
    metrics::counter!(GIVE_UPS_TOTAL, "endpoint" => endpoint.clone(), "reason" => reason.label())
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_labels_never_carry_credentials_or_queries() {
        let label = |name| endpoint_label(name).to_string();
        assert_eq!(label("scheduler"), "scheduler");
        assert_eq!(
            label("https://user:s3cret@api.example.com/v1?key=abc"),
            "https://api.example.com/v1"
        );
        assert_eq!(label("http://10.0.0.1:8080#frag"), "http://10.0.0.1:8080");
    }
}
