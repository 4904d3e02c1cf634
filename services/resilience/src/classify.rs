//! What a failed call means: retry it, wait and retry, stop using the endpoint, or give up.
//!
//! Every gRPC status and HTTP/provider response is mapped to one [`FailureClass`]. The class
//! answers two separate questions the layer asks: *may this request be tried again?* and *is
//! this the endpoint's fault?* (only then does the circuit breaker hear about it).
//!
//! Decisions made here, with the reason:
//! - gRPC `UNAVAILABLE`, `UNKNOWN`, `INTERNAL`, `ABORTED` are [`FailureClass::Transient`]. In
//!   tonic, `UNKNOWN`/`INTERNAL` mostly come from transport trouble (HTTP/2 resets, a server
//!   that panicked mid-call), which another try usually gets past.
//! - `DEADLINE_EXCEEDED` (and HTTP 504) is transient only for idempotent calls: the server may
//!   have done the work, so repeating a non-idempotent call could do it twice.
//! - `DATA_LOSS` is [`FailureClass::FatalEndpoint`]: the replica reports unrecoverable
//!   corruption; repeating the call there will not help, another replica may serve.
//! - `RESOURCE_EXHAUSTED`, HTTP 429 and any failure carrying a server-requested delay
//!   (`grpc-retry-pushback-ms`, `Retry-After` on 503) are [`FailureClass::RateLimited`]: the
//!   server is alive and pacing us. Note tonic also reports an over-size message as
//!   `RESOURCE_EXHAUSTED`; it will be retried up to the attempt limit and then surface.
//! - OpenAI's `429 insufficient_quota` is not a rate limit but an unpaid account:
//!   [`FailureClass::FatalEndpoint`], so the router moves to another deployment.

use std::time::Duration;

use http::HeaderMap;
use tonic::Code;
use tonic_types::StatusExt;

use crate::retry_after::{Pushback, grpc_pushback, http_retry_after};

/// Why a call failed, as far as retrying and endpoint health are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// The request itself is wrong (bad argument, conflict, too large, cancelled by the
    /// caller): no endpoint will accept it, so it is never retried anywhere.
    FatalRequest,
    /// The prompt does not fit the model's context window. Fatal for this request on this
    /// model, but a caller may fall back to a model with a bigger window.
    ContextLengthExceeded,
    /// The endpoint cannot serve this caller (auth, missing method, unpaid account): stop using
    /// it for this request; another endpoint may serve. Counts against the circuit breaker.
    FatalEndpoint,
    /// A failure that another try is likely to get past (unavailable, reset, 5xx). Counts
    /// against the circuit breaker.
    Transient,
    /// The server asked us to slow down. `retry_after` is the delay it asked for, if any; the
    /// layer never waits less than that.
    RateLimited {
        /// The delay the server requested, when it said one.
        retry_after: Option<Duration>,
    },
    /// The server explicitly asked not to retry (negative `grpc-retry-pushback-ms`).
    RetryRefused,
}

impl FailureClass {
    /// Whether another attempt of the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient | Self::RateLimited { .. })
    }

    /// Whether the failure is the endpoint's fault and so feeds its circuit breaker.
    ///
    /// Rate limiting does not count: the endpoint is healthy and pacing us, and the layer
    /// already answers it by waiting; tripping the breaker would turn a pacing signal into an
    /// outage.
    pub fn counts_against_endpoint(&self) -> bool {
        matches!(self, Self::Transient | Self::FatalEndpoint)
    }

    /// The server-requested delay, if this class carries one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A short, stable name for metric labels and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::FatalRequest => "fatal_request",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::FatalEndpoint => "fatal_endpoint",
            Self::Transient => "transient",
            Self::RateLimited { .. } => "rate_limited",
            Self::RetryRefused => "retry_refused",
        }
    }
}

/// The verdict on one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call did what was asked.
    Success,
    /// The call failed, for this reason.
    Failure(FailureClass),
}

/// Classifies a gRPC status returned by an attempt.
///
/// `idempotent` says whether repeating the call is safe even if the server already did it;
/// it decides `DEADLINE_EXCEEDED`. A server-requested delay (`grpc-retry-pushback-ms`, or a
/// `google.rpc.RetryInfo` detail) on a retryable status makes it [`FailureClass::RateLimited`];
/// a negative pushback makes a retryable status [`FailureClass::RetryRefused`].
pub fn classify_status(status: &tonic::Status, idempotent: bool) -> FailureClass {
    let base = match status.code() {
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::AlreadyExists
        | Code::Cancelled => FailureClass::FatalRequest,
        Code::Unauthenticated
        | Code::PermissionDenied
        | Code::NotFound
        | Code::Unimplemented
        | Code::DataLoss => FailureClass::FatalEndpoint,
        Code::DeadlineExceeded if !idempotent => FailureClass::FatalRequest,
        // `Ok` as an error is a protocol oddity (e.g. a stream closed without a message):
        // treat it like `Unknown`.
        Code::Ok
        | Code::Unknown
        | Code::Internal
        | Code::Unavailable
        | Code::Aborted
        | Code::DeadlineExceeded => FailureClass::Transient,
        Code::ResourceExhausted => FailureClass::RateLimited { retry_after: None },
    };
    if !base.is_retryable() {
        return base;
    }
    match grpc_pushback(status.metadata()) {
        Some(Pushback::Refused) => FailureClass::RetryRefused,
        Some(Pushback::After(delay)) => FailureClass::RateLimited {
            retry_after: Some(delay),
        },
        None => match status.get_details_retry_info() {
            Some(info) if info.retry_delay.is_some() => FailureClass::RateLimited {
                retry_after: info.retry_delay,
            },
            _ => base,
        },
    }
}

/// Classifies an HTTP response by status and headers; `None` means success (1xx–3xx).
///
/// Without the body this cannot see a context-length error; use [`classify_openai_error`]
/// where the body is at hand.
pub fn classify_http(status: u16, headers: &HeaderMap, idempotent: bool) -> Option<FailureClass> {
    let class = match status {
        100..=399 => return None,
        400 | 409 | 413 | 422 => FailureClass::FatalRequest,
        401 | 402 | 403 | 404 | 405 | 410 | 501 => FailureClass::FatalEndpoint,
        // 408: the server gave up before reading the whole request; 425: it declined early
        // data. Neither processed the request.
        408 | 425 => FailureClass::Transient,
        429 => FailureClass::RateLimited {
            retry_after: http_retry_after(headers),
        },
        503 => match http_retry_after(headers) {
            Some(delay) => FailureClass::RateLimited {
                retry_after: Some(delay),
            },
            None => FailureClass::Transient,
        },
        504 if !idempotent => FailureClass::FatalRequest,
        500..=599 => FailureClass::Transient,
        // Any other 4xx says the request is wrong; anything else is not HTTP we understand.
        400..=499 => FailureClass::FatalRequest,
        _ => FailureClass::Transient,
    };
    Some(class)
}

/// Classifies a failed OpenAI-compatible provider response, looking into the body for the
/// cases the status alone cannot tell: context length exceeded (so callers can fall back to a
/// bigger model) and `insufficient_quota` on a 429 (an unpaid account, not a rate limit).
///
/// The body is matched textually rather than parsed: providers disagree on the JSON shape,
/// while the code and message phrases are stable. Success statuses are classified as
/// [`FailureClass::Transient`] only if the caller insists on calling this for them; call it for
/// error responses.
pub fn classify_openai_error(status: u16, headers: &HeaderMap, body: &[u8]) -> FailureClass {
    let body = String::from_utf8_lossy(body).to_ascii_lowercase();
    if (400..500).contains(&status) && mentions_context_length(&body) {
        return FailureClass::ContextLengthExceeded;
    }
    if status == 429 && body.contains("insufficient_quota") {
        return FailureClass::FatalEndpoint;
    }
    // Provider calls (chat, embeddings) have no side effects beyond cost: safe to repeat.
    classify_http(status, headers, true).unwrap_or(FailureClass::Transient)
}

/// Phrases providers use for "prompt longer than the model's window": OpenAI/Azure's code,
/// OpenAI/vLLM's message, and the Anthropic-compatible wording.
fn mentions_context_length(lowercase_body: &str) -> bool {
    [
        "context_length_exceeded",
        "maximum context length",
        "context window",
        "prompt is too long",
    ]
    .iter()
    .any(|phrase| lowercase_body.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use tonic_types::ErrorDetails;

    #[test]
    fn grpc_codes_map_to_documented_classes() {
        let class = |code, idempotent| classify_status(&tonic::Status::new(code, "x"), idempotent);
        for code in [
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::OutOfRange,
        ] {
            assert_eq!(class(code, true), FailureClass::FatalRequest, "{code:?}");
        }
        assert_eq!(class(Code::AlreadyExists, true), FailureClass::FatalRequest);
        assert_eq!(class(Code::Cancelled, true), FailureClass::FatalRequest);
        for code in [
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::NotFound,
        ] {
            assert_eq!(class(code, true), FailureClass::FatalEndpoint, "{code:?}");
        }
        assert_eq!(
            class(Code::Unimplemented, false),
            FailureClass::FatalEndpoint
        );
        assert_eq!(class(Code::DataLoss, true), FailureClass::FatalEndpoint);
        for code in [
            Code::Unavailable,
            Code::Unknown,
            Code::Internal,
            Code::Aborted,
        ] {
            assert_eq!(class(code, false), FailureClass::Transient, "{code:?}");
        }
        assert_eq!(class(Code::DeadlineExceeded, true), FailureClass::Transient);
        assert_eq!(
            class(Code::DeadlineExceeded, false),
            FailureClass::FatalRequest
        );
        assert_eq!(
            class(Code::ResourceExhausted, false),
            FailureClass::RateLimited { retry_after: None }
        );
    }

    #[test]
    fn grpc_pushback_and_retry_info_set_the_delay() {
        let mut status = tonic::Status::resource_exhausted("slow down");
        status
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", "1500".parse().expect("ascii"));
        assert_eq!(
            classify_status(&status, false),
            FailureClass::RateLimited {
                retry_after: Some(Duration::from_millis(1500))
            }
        );

        let status = tonic::Status::with_error_details(
            Code::ResourceExhausted,
            "quota",
            ErrorDetails::with_retry_info(Some(Duration::from_secs(3))),
        );
        assert_eq!(
            classify_status(&status, false).retry_after(),
            Some(Duration::from_secs(3))
        );

        let mut status = tonic::Status::unavailable("draining");
        status
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", "-1".parse().expect("ascii"));
        assert_eq!(classify_status(&status, true), FailureClass::RetryRefused);
    }

    #[test]
    fn http_statuses_map_to_documented_classes() {
        let none = HeaderMap::new();
        assert_eq!(classify_http(200, &none, false), None);
        assert_eq!(classify_http(304, &none, false), None);
        for status in [400, 409, 413, 422] {
            assert_eq!(
                classify_http(status, &none, true),
                Some(FailureClass::FatalRequest)
            );
        }
        for status in [401, 403, 404, 405, 501] {
            assert_eq!(
                classify_http(status, &none, true),
                Some(FailureClass::FatalEndpoint)
            );
        }
        for status in [408, 500, 502, 503] {
            assert_eq!(
                classify_http(status, &none, false),
                Some(FailureClass::Transient)
            );
        }
        assert_eq!(
            classify_http(504, &none, true),
            Some(FailureClass::Transient)
        );
        assert_eq!(
            classify_http(504, &none, false),
            Some(FailureClass::FatalRequest)
        );

        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        let seven = Some(FailureClass::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        });
        assert_eq!(classify_http(429, &headers, false), seven);
        assert_eq!(classify_http(503, &headers, false), seven);
        assert_eq!(
            classify_http(429, &none, false),
            Some(FailureClass::RateLimited { retry_after: None })
        );
    }

    #[test]
    fn openai_bodies_reveal_context_length_and_quota() {
        let none = HeaderMap::new();
        let body = br#"{"error":{"message":"too long","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
        assert_eq!(
            classify_openai_error(400, &none, body),
            FailureClass::ContextLengthExceeded
        );
        let body =
            br#"{"error":{"message":"This model's maximum context length is 4096 tokens."}}"#;
        assert_eq!(
            classify_openai_error(400, &none, body),
            FailureClass::ContextLengthExceeded
        );
        let body = br#"{"error":{"message":"bad field","type":"invalid_request_error"}}"#;
        assert_eq!(
            classify_openai_error(400, &none, body),
            FailureClass::FatalRequest
        );
        let body = br#"{"error":{"code":"insufficient_quota"}}"#;
        assert_eq!(
            classify_openai_error(429, &none, body),
            FailureClass::FatalEndpoint
        );
        let body = br#"{"error":{"code":"rate_limit_exceeded"}}"#;
        assert_eq!(
            classify_openai_error(429, &none, body),
            FailureClass::RateLimited { retry_after: None }
        );
        assert_eq!(
            classify_openai_error(502, &none, b""),
            FailureClass::Transient
        );
    }
}
