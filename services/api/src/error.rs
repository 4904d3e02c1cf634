//! Drover's error classes and how they travel: as a `tonic::Status` with standard google.rpc
//! details (ErrorInfo, BadRequest, RetryInfo) for a failed call, or as a `pb::Error` inside a
//! result. Every service maps its own errors into [`DroverError`] once, and this module turns
//! that into the wire form, so codes and details are the same everywhere.

use std::{fmt, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    pb,
    validate::{FieldViolation, ValidationError, to_proto_duration},
};

/// The ErrorInfo domain of every Drover error.
pub const ERROR_DOMAIN: &str = "drover.dev";

/// The documented classes of Drover errors (the proto's `ErrorReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    /// The request is malformed.
    InvalidArgument,
    /// The prompt exceeds the model's context window.
    ContextLengthExceeded,
    /// An endpoint refused the call for good.
    EndpointRejected,
    /// A passing fault.
    Transient,
    /// An upstream asked to slow down.
    RateLimited,
    /// A bounded queue is full.
    QueueFull,
    /// Out of time.
    DeadlineExceeded,
    /// Cancelled by a client or a drain.
    Cancelled,
    /// Every endpoint's breaker is open.
    CircuitOpen,
    /// No such task or resource.
    NotFound,
    /// The browser crashed or hung.
    BrowserCrashed,
    /// A step failed on the page.
    StepFailed,
    /// The URL is not allowed.
    UrlBlocked,
    /// A payload exceeded its bound.
    PayloadTooLarge,
    /// The worker went away.
    WorkerLost,
    /// A model stream ended without a finish reason.
    StreamTruncated,
    /// The service is draining.
    Draining,
    /// A broken invariant.
    Internal,
}

impl ErrorReason {
    /// The reason as carried in ErrorInfo (the proto name without `ERROR_REASON_`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::ContextLengthExceeded => "CONTEXT_LENGTH_EXCEEDED",
            Self::EndpointRejected => "ENDPOINT_REJECTED",
            Self::Transient => "TRANSIENT",
            Self::RateLimited => "RATE_LIMITED",
            Self::QueueFull => "QUEUE_FULL",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::Cancelled => "CANCELLED",
            Self::CircuitOpen => "CIRCUIT_OPEN",
            Self::NotFound => "NOT_FOUND",
            Self::BrowserCrashed => "BROWSER_CRASHED",
            Self::StepFailed => "STEP_FAILED",
            Self::UrlBlocked => "URL_BLOCKED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::WorkerLost => "WORKER_LOST",
            Self::StreamTruncated => "STREAM_TRUNCATED",
            Self::Draining => "DRAINING",
            Self::Internal => "INTERNAL",
        }
    }

    /// Every reason, in proto order.
    pub const ALL: [ErrorReason; 18] = [
        Self::InvalidArgument,
        Self::ContextLengthExceeded,
        Self::EndpointRejected,
        Self::Transient,
        Self::RateLimited,
        Self::QueueFull,
        Self::DeadlineExceeded,
        Self::Cancelled,
        Self::CircuitOpen,
        Self::NotFound,
        Self::BrowserCrashed,
        Self::StepFailed,
        Self::UrlBlocked,
        Self::PayloadTooLarge,
        Self::WorkerLost,
        Self::StreamTruncated,
        Self::Draining,
        Self::Internal,
    ];

    /// Parses an ErrorInfo reason.
    pub fn parse(reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == reason)
    }

    /// The gRPC code a call failing for this reason returns. Chosen so that the resilience
    /// layer's classification of the code matches the reason: only reasons worth retrying map
    /// to UNAVAILABLE or RESOURCE_EXHAUSTED.
    pub fn code(self) -> Code {
        match self {
            Self::InvalidArgument
            | Self::ContextLengthExceeded
            | Self::UrlBlocked
            | Self::PayloadTooLarge => Code::InvalidArgument,
            Self::EndpointRejected | Self::StepFailed => Code::FailedPrecondition,
            Self::Transient
            | Self::CircuitOpen
            | Self::BrowserCrashed
            | Self::WorkerLost
            | Self::StreamTruncated
            | Self::Draining => Code::Unavailable,
            Self::RateLimited | Self::QueueFull => Code::ResourceExhausted,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Cancelled => Code::Cancelled,
            Self::NotFound => Code::NotFound,
            Self::Internal => Code::Internal,
        }
    }

    fn to_pb(self) -> pb::ErrorReason {
        // The proto enum lists the reasons in the same order, from 1.
        let index = Self::ALL.iter().position(|r| *r == self).unwrap_or(0) as i32 + 1;
        pb::ErrorReason::try_from(index).unwrap_or(pb::ErrorReason::Unspecified)
    }

    fn from_pb(reason: i32) -> Option<Self> {
        usize::try_from(reason - 1)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as Drover reports it: a class, a message without secrets, and what the caller can
/// do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct DroverError {
    /// The class.
    pub reason: ErrorReason,
    /// What happened. Never contains secrets.
    pub message: String,
    /// The failing step, by name.
    pub step: Option<String>,
    /// When to try again, if known.
    pub retry_after: Option<Duration>,
    /// Offending fields, for invalid arguments.
    pub violations: Vec<FieldViolation>,
}

impl DroverError {
    /// An error of `reason` with `message`.
    pub fn new(reason: ErrorReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            step: None,
            retry_after: None,
            violations: Vec::new(),
        }
    }

    /// Adds when the caller may retry.
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// Names the failing step.
    pub fn in_step(mut self, step: impl Into<String>) -> Self {
        self.step = Some(step.into());
        self
    }

    /// The in-band form, for task results and stream items.
    pub fn to_pb(&self) -> pb::Error {
        pb::Error {
            reason: self.reason.to_pb() as i32,
            message: self.message.clone(),
            step: self.step.clone().unwrap_or_default(),
            retry_after: self.retry_after.map(to_proto_duration),
            violations: self
                .violations
                .iter()
                .map(|v| pb::FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect(),
        }
    }

    /// Reads the in-band form; an unknown reason becomes [`ErrorReason::Internal`].
    pub fn from_pb(error: &pb::Error) -> Self {
        Self {
            reason: ErrorReason::from_pb(error.reason).unwrap_or(ErrorReason::Internal),
            message: error.message.clone(),
            step: (!error.step.is_empty()).then(|| error.step.clone()),
            retry_after: error.retry_after.and_then(|d| {
                (d.seconds >= 0 && d.nanos >= 0)
                    .then(|| Duration::new(d.seconds as u64, d.nanos as u32))
            }),
            violations: error
                .violations
                .iter()
                .map(|v| FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect(),
        }
    }

    /// Reads the details of a failed call: the reason from ErrorInfo, violations from
    /// BadRequest, the delay from RetryInfo. `None` if the status carries no Drover ErrorInfo.
    pub fn from_status(status: &Status) -> Option<Self> {
        let details = status.get_error_details();
        let info = details.error_info()?;
        if info.domain != ERROR_DOMAIN {
            return None;
        }
        let reason = ErrorReason::parse(&info.reason)?;
        Some(Self {
            reason,
            message: status.message().to_owned(),
            step: info.metadata.get("step").cloned(),
            retry_after: details.retry_info().and_then(|r| r.retry_delay),
            violations: details
                .bad_request()
                .map(|b| {
                    b.field_violations
                        .iter()
                        .map(|v| FieldViolation {
                            field: v.field.clone(),
                            description: v.description.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

impl From<ValidationError> for DroverError {
    fn from(err: ValidationError) -> Self {
        Self {
            reason: ErrorReason::InvalidArgument,
            message: err.to_string(),
            step: None,
            retry_after: None,
            violations: err.violations,
        }
    }
}

impl From<DroverError> for Status {
    fn from(err: DroverError) -> Self {
        let mut metadata = std::collections::HashMap::new();
        if let Some(step) = &err.step {
            metadata.insert("step".to_owned(), step.clone());
        }
        let mut details =
            ErrorDetails::with_error_info(err.reason.as_str(), ERROR_DOMAIN, metadata);
        for violation in &err.violations {
            details
                .add_bad_request_violation(violation.field.clone(), violation.description.clone());
        }
        if err.retry_after.is_some() {
            details.set_retry_info(err.retry_after);
        }
        Status::with_error_details(err.reason.code(), err.message, details)
    }
}

impl From<ValidationError> for Status {
    fn from(err: ValidationError) -> Self {
        DroverError::from(err).into()
    }
}

/// An error with its sources on one line (`top: cause: root`), for transport errors whose
/// top line says little ("transport error"). Layers often repeat their inner error's words;
/// each is said once.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut last = text.clone();
    let mut source = error.source();
    while let Some(cause) = source {
        let words = cause.to_string();
        if words != last {
            text.push_str(": ");
            text.push_str(&words);
        }
        last = words;
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_match_the_proto_enum_one_for_one() {
        for reason in ErrorReason::ALL {
            let wire = reason.to_pb();
            assert_eq!(
                wire.as_str_name(),
                format!("ERROR_REASON_{}", reason.as_str())
            );
            assert_eq!(ErrorReason::from_pb(wire as i32), Some(reason));
        }
        assert_eq!(ErrorReason::from_pb(0), None);
        assert_eq!(ErrorReason::from_pb(999), None);
    }

    #[test]
    fn validation_errors_become_invalid_argument_with_field_violations() {
        let err =
            ValidationError::single("steps[2].navigate.url", r#"scheme "file" is not allowed"#)
                .prefixed("task");
        let status = Status::from(err);
        assert_eq!(status.code(), Code::InvalidArgument);
        let back = DroverError::from_status(&status).expect("drover details");
        assert_eq!(back.reason, ErrorReason::InvalidArgument);
        assert_eq!(back.violations[0].field, "task.steps[2].navigate.url");
        assert_eq!(
            back.violations[0].description,
            r#"scheme "file" is not allowed"#
        );
    }

    #[test]
    fn queue_full_carries_retry_info() {
        let status = Status::from(
            DroverError::new(ErrorReason::QueueFull, "queue is full")
                .retry_after(Duration::from_millis(1500)),
        );
        assert_eq!(status.code(), Code::ResourceExhausted);
        let back = DroverError::from_status(&status).unwrap();
        assert_eq!(back.retry_after, Some(Duration::from_millis(1500)));
        assert_eq!(back.reason, ErrorReason::QueueFull);
    }

    #[test]
    fn in_band_errors_round_trip() {
        let err =
            DroverError::new(ErrorReason::StepFailed, "selector never matched").in_step("open");
        assert_eq!(DroverError::from_pb(&err.to_pb()), err);
    }

    #[test]
    fn foreign_statuses_are_not_drover_errors() {
        assert!(DroverError::from_status(&Status::unavailable("x")).is_none());
    }
}
