//! [`ClientError`]: every way a call to the scheduler can fail, with what the scheduler said
//! about it (gRPC code, Drover reason, offending fields, when to retry) read once from the
//! status details by [`DroverError::from_status`].

use std::{fmt, time::Duration};

use drover_api::{DroverError, ErrorReason, FieldViolation};
use drover_resilience::{ResilienceError, classify_status};
use tonic::Code;
use tonic_types::StatusExt;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The scheduler address is not a URL a gRPC channel can use.
    #[error("scheduler address {url:?} is not usable: {reason}")]
    InvalidUrl {
        /// The address as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection to the scheduler could be made ([`crate::ClientBuilder::connect`]).
    #[error("cannot reach the scheduler at {url}: {reason}")]
    Connect {
        /// The scheduler's URL.
        url: String,
        /// The transport error and its causes.
        reason: String,
    },
    /// The scheduler, or the transport on its behalf, answered with an error status.
    #[error("{0}")]
    Call(Box<CallError>),
    /// A watch stream kept ending before the task's terminal event, and reopening it after
    /// the last event seen did not help.
    #[error(
        "watching task {task_id}: the stream ended after event {last_sequence} without a \
         terminal event"
    )]
    WatchEnded {
        /// The watched task.
        task_id: String,
        /// The last event delivered (0 if none).
        last_sequence: u64,
    },
}

/// A failed call: the status as received and, when the scheduler sent them, Drover's details.
#[derive(Debug)]
pub struct CallError {
    status: tonic::Status,
    drover: Option<DroverError>,
}

impl CallError {
    /// The status as received (code, message, metadata, raw details).
    pub fn status(&self) -> &tonic::Status {
        &self.status
    }

    /// Drover's reading of the details, if the status carries a `drover.dev` ErrorInfo.
    pub fn drover_error(&self) -> Option<&DroverError> {
        self.drover.as_ref()
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.drover {
            Some(error) => {
                write!(f, "{}: {}", error.reason, error.message)?;
                if let Some(step) = &error.step {
                    write!(f, " (step {step})")?;
                }
                Ok(())
            }
            None => write!(f, "{:?}: {}", self.status.code(), self.status.message()),
        }
    }
}

impl ClientError {
    /// The gRPC code: the status's for a failed call, `INVALID_ARGUMENT` for an unusable
    /// address, `UNAVAILABLE` when the scheduler could not be reached or a watch could not be
    /// resumed.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidUrl { .. } => Code::InvalidArgument,
            Self::Connect { .. } | Self::WatchEnded { .. } => Code::Unavailable,
            Self::Call(call) => call.status.code(),
        }
    }

    /// Drover's error class, when the scheduler said one.
    pub fn reason(&self) -> Option<ErrorReason> {
        self.drover_error().map(|e| e.reason)
    }

    /// Drover's details of a failed call, when the scheduler sent them.
    pub fn drover_error(&self) -> Option<&DroverError> {
        match self {
            Self::Call(call) => call.drover.as_ref(),
            _ => None,
        }
    }

    /// The status of a failed call.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            Self::Call(call) => Some(&call.status),
            _ => None,
        }
    }

    /// Every offending field of an invalid request (e.g. `task.steps[0].navigate.url`);
    /// empty for other errors.
    pub fn violations(&self) -> &[FieldViolation] {
        self.drover_error().map_or(&[], |e| e.violations.as_slice())
    }

    /// The violation naming `field` exactly, if there is one.
    pub fn violation(&self, field: &str) -> Option<&FieldViolation> {
        self.violations().iter().find(|v| v.field == field)
    }

    /// How long the scheduler asked the caller to wait before trying again (a full queue,
    /// rate limiting), from Drover's details or a bare `google.rpc.RetryInfo`.
    pub fn retry_after(&self) -> Option<Duration> {
        let Self::Call(call) = self else { return None };
        call.drover
            .as_ref()
            .and_then(|e| e.retry_after)
            .or_else(|| call.status.get_details_retry_info()?.retry_delay)
    }

    /// Whether the same call may succeed later: the scheduler was unreachable or
    /// overloaded, or the failure was transient. The client has already retried idempotent
    /// calls within their deadline; this is for the caller's own, longer-term decision.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InvalidUrl { .. } => false,
            Self::Connect { .. } | Self::WatchEnded { .. } => true,
            Self::Call(call) => classify_status(&call.status, false).is_retryable(),
        }
    }
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        let drover = DroverError::from_status(&status);
        Self::Call(Box::new(CallError { status, drover }))
    }
}

impl From<ResilienceError<tonic::Status>> for ClientError {
    /// The last attempt's status (with the server's delay kept as RetryInfo), or
    /// `DEADLINE_EXCEEDED` when the call's deadline ran out.
    fn from(error: ResilienceError<tonic::Status>) -> Self {
        tonic::Status::from(error).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::ValidationError;

    #[test]
    fn invalid_arguments_name_each_field() {
        let status = tonic::Status::from(
            ValidationError::single("steps[0].navigate.url", r#"scheme "file" is not allowed"#)
                .prefixed("task"),
        );
        let error = ClientError::from(status);
        assert_eq!(error.code(), Code::InvalidArgument);
        assert_eq!(error.reason(), Some(ErrorReason::InvalidArgument));
        let violation = error
            .violation("task.steps[0].navigate.url")
            .expect("the field is named");
        assert_eq!(violation.description, r#"scheme "file" is not allowed"#);
        assert!(!error.is_retryable());
        assert!(
            error
                .to_string()
                .starts_with("INVALID_ARGUMENT: task.steps[0].navigate.url"),
            "{error}"
        );
    }

    #[test]
    fn a_full_queue_says_when_to_retry() {
        let status = tonic::Status::from(
            DroverError::new(ErrorReason::QueueFull, "queue is full")
                .retry_after(Duration::from_millis(1500)),
        );
        let error = ClientError::from(status);
        assert_eq!(error.code(), Code::ResourceExhausted);
        assert_eq!(error.reason(), Some(ErrorReason::QueueFull));
        assert_eq!(error.retry_after(), Some(Duration::from_millis(1500)));
        assert!(error.is_retryable());
        assert!(error.violations().is_empty());
    }

    #[test]
    fn the_failing_step_is_shown() {
        let status = tonic::Status::from(
            DroverError::new(ErrorReason::StepFailed, "selector never matched").in_step("open"),
        );
        let error = ClientError::from(status);
        assert_eq!(error.code(), Code::FailedPrecondition);
        assert_eq!(
            error.to_string(),
            "STEP_FAILED: selector never matched (step open)"
        );
    }

    #[test]
    fn foreign_statuses_keep_their_code_and_message() {
        let error = ClientError::from(tonic::Status::unavailable("connection refused"));
        assert_eq!(error.code(), Code::Unavailable);
        assert_eq!(error.reason(), None);
        assert_eq!(error.retry_after(), None);
        assert!(error.is_retryable());
        assert_eq!(error.to_string(), "Unavailable: connection refused");
        assert_eq!(
            error.status().map(tonic::Status::message),
            Some("connection refused")
        );
    }

    #[test]
    fn a_rate_limit_seen_by_the_retry_layer_keeps_its_delay() {
        let error = ClientError::from(ResilienceError::Inner {
            endpoint: "scheduler".into(),
            source: tonic::Status::resource_exhausted("slow down"),
            attempts: 3,
            retry_after: Some(Duration::from_secs(2)),
        });
        assert_eq!(error.code(), Code::ResourceExhausted);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));

        let error = ClientError::from(ResilienceError::<tonic::Status>::DeadlineExceeded {
            endpoint: "scheduler".into(),
            attempts: 2,
        });
        assert_eq!(error.code(), Code::DeadlineExceeded);
    }

    #[test]
    fn local_failures_have_codes_too() {
        let error = ClientError::InvalidUrl {
            url: "::".into(),
            reason: "invalid uri".into(),
        };
        assert_eq!(error.code(), Code::InvalidArgument);
        assert!(!error.is_retryable());
        let error = ClientError::WatchEnded {
            task_id: "t1".into(),
            last_sequence: 4,
        };
        assert_eq!(error.code(), Code::Unavailable);
        assert!(error.to_string().contains("after event 4"), "{error}");
    }
}
