//! What a failed attempt means: async-openai's error turned into a `drover-resilience`
//! failure class (which decides retry, failover, parking and removal) and the error a caller
//! would see if this were the last attempt. Provider messages are passed on only where they
//! describe the request; an auth failure's message can echo part of the key, so it is replaced.

use async_openai::error::OpenAIError;
use drover_api::{DroverError, ErrorReason};
use drover_resilience::{FailureClass, classify_openai_error};
use http::HeaderMap;

/// Longest provider message passed on.
const MAX_MESSAGE: usize = 500;

/// One failed attempt.
#[derive(Debug, Clone)]
pub struct AttemptFailure {
    /// How the router treats it.
    pub class: FailureClass,
    /// What the caller sees if nothing else works.
    pub error: DroverError,
}

impl AttemptFailure {
    /// A failure of `class` with `reason` and `message`.
    pub fn new(class: FailureClass, reason: ErrorReason, message: impl Into<String>) -> Self {
        Self {
            class,
            error: DroverError::new(reason, message),
        }
    }

    /// A transient failure (timeouts, broken streams, malformed answers).
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(FailureClass::Transient, ErrorReason::Transient, message)
    }
}

/// Classifies an error of a call to deployment `deployment`.
pub fn classify(deployment: &str, error: &OpenAIError) -> AttemptFailure {
    match error {
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            let e = &api.api_error;
            // Classification looks at the code, type and message as the body would show them.
            let body = format!(
                "{} {} {}",
                e.code.as_deref().unwrap_or_default(),
                e.r#type.as_deref().unwrap_or_default(),
                e.message
            );
            // Delay headers were read (and the deployment parked) below async-openai.
            let class = classify_openai_error(status, &HeaderMap::new(), body.as_bytes());
            let provider_says = shorten(&e.message);
            let (reason, message) = match class {
                FailureClass::FatalRequest => (
                    ErrorReason::InvalidArgument,
                    format!("the provider refused the request (HTTP {status}): {provider_says}"),
                ),
                FailureClass::ContextLengthExceeded => (
                    ErrorReason::ContextLengthExceeded,
                    format!("the prompt does not fit the model's context window: {provider_says}"),
                ),
                FailureClass::FatalEndpoint => (
                    ErrorReason::EndpointRejected,
                    format!(
                        "deployment {deployment} refused the call (HTTP {status}); check its \
                         API key, model and URL"
                    ),
                ),
                FailureClass::RateLimited { .. } => (
                    ErrorReason::RateLimited,
                    format!("deployment {deployment} is rate-limited (HTTP {status})"),
                ),
                FailureClass::Transient | FailureClass::RetryRefused => (
                    ErrorReason::Transient,
                    format!("deployment {deployment} failed (HTTP {status}): {provider_says}"),
                ),
            };
            AttemptFailure::new(class, reason, message)
        }
        OpenAIError::Reqwest(e) => {
            // Without the URL: it is configuration, and callers need not see it.
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not be reached"
            } else if e.is_body() || e.is_decode() {
                "sent a broken or oversized response"
            } else {
                "failed at the HTTP level"
            };
            AttemptFailure::transient(format!("deployment {deployment} {what}"))
        }
        OpenAIError::JSONDeserialize(..) => AttemptFailure::transient(format!(
            "deployment {deployment} sent a response that is not valid OpenAI JSON"
        )),
        OpenAIError::StreamError(e) => AttemptFailure::transient(format!(
            "deployment {deployment} broke its event stream: {}",
            shorten(&e.to_string())
        )),
        other => AttemptFailure::transient(format!(
            "deployment {deployment} failed: {}",
            shorten(&other.to_string())
        )),
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
