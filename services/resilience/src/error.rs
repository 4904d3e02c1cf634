//! The layer's error, and its one mapping to a gRPC status.

use std::time::Duration;

use metrics::SharedString;
use tonic_types::{ErrorDetails, StatusExt};

use crate::breaker::BreakerOpen;

/// Why a call through the layer failed.
///
/// A service whose failures arrive as `Ok` (HTTP: a 503 is a response) gets its last response
/// back as `Ok` after the layer gives up; only `Err`s from the inner service become
/// [`ResilienceError::Inner`].
#[derive(Debug, thiserror::Error)]
pub enum ResilienceError<E> {
    /// The inner service's error from the last attempt: it was fatal, or the layer ran out of
    /// attempts, budget or time to try again.
    #[error("{endpoint}: {source} (after {attempts} attempt(s))")]
    Inner {
        /// The sanitised endpoint name.
        endpoint: SharedString,
        /// The inner service's error.
        source: E,
        /// Attempts made (0 if the inner service failed before any attempt, in `poll_ready`).
        attempts: u32,
        /// The delay the server asked for, when it was rate limiting.
        retry_after: Option<Duration>,
    },
    /// The deadline passed while an attempt was in flight, before any attempt, or the last
    /// attempt hit its per-attempt timeout.
    #[error("{endpoint}: deadline exceeded after {attempts} attempt(s)")]
    DeadlineExceeded {
        /// The sanitised endpoint name.
        endpoint: SharedString,
        /// Attempts made.
        attempts: u32,
    },
    /// The endpoint's circuit breaker is open; the inner service was not called (again).
    #[error(transparent)]
    CircuitOpen(#[from] BreakerOpen),
}

impl<E> ResilienceError<E> {
    /// The inner service's error, if this wraps one.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Inner { source, .. } => Some(source),
            _ => None,
        }
    }

    /// How long the server (or breaker) asked the caller to wait, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Inner { retry_after, .. } => *retry_after,
            Self::DeadlineExceeded { .. } => None,
            Self::CircuitOpen(open) => Some(open.retry_after),
        }
    }
}

impl From<ResilienceError<tonic::Status>> for tonic::Status {
    /// Keeps the last status as it was (code, message, metadata, details); if the server asked
    /// for a delay and the status carries no details yet, adds a `google.rpc.RetryInfo` so the
    /// delay reaches our own caller too.
    fn from(error: ResilienceError<tonic::Status>) -> Self {
        match error {
            ResilienceError::Inner {
                source,
                retry_after: Some(delay),
                ..
            } if source.details().is_empty() => tonic::Status::with_error_details_and_metadata(
                source.code(),
                source.message(),
                ErrorDetails::with_retry_info(Some(delay)),
                source.metadata().clone(),
            ),
            ResilienceError::Inner { source, .. } => source,
            ResilienceError::DeadlineExceeded { .. } => {
                tonic::Status::deadline_exceeded(error.to_string())
            }
            ResilienceError::CircuitOpen(open) => open.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner(
        status: tonic::Status,
        retry_after: Option<Duration>,
    ) -> ResilienceError<tonic::Status> {
        ResilienceError::Inner {
            endpoint: "ep".into(),
            source: status,
            attempts: 2,
            retry_after,
        }
    }

    #[test]
    fn last_status_is_preserved_and_gains_retry_info() {
        let mut last = tonic::Status::resource_exhausted("slow down");
        last.metadata_mut()
            .insert("x-trace", "abc".parse().expect("ascii"));
        let status = tonic::Status::from(inner(last, Some(Duration::from_secs(4))));
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(status.message(), "slow down");
        assert_eq!(
            status.metadata().get("x-trace").map(|v| v.to_str().ok()),
            Some(Some("abc"))
        );
        let info = status.get_details_retry_info().expect("retry info added");
        assert_eq!(info.retry_delay, Some(Duration::from_secs(4)));

        let status = tonic::Status::from(inner(tonic::Status::not_found("gone"), None));
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert!(status.details().is_empty());
    }

    #[test]
    fn deadline_becomes_deadline_exceeded() {
        let error: ResilienceError<tonic::Status> = ResilienceError::DeadlineExceeded {
            endpoint: "ep".into(),
            attempts: 3,
        };
        let status = tonic::Status::from(error);
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(
            status.message().contains("3 attempt"),
            "{}",
            status.message()
        );
    }
}
