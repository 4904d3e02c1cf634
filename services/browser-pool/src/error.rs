//! The browser-pool's errors, and how each maps to Drover's error classes (and so to a gRPC
//! status) in one place.

use std::time::Duration;

use drover_api::{DroverError, ErrorReason};

/// Why one step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The step's deadline passed; the page may still be busy and must be discarded.
    #[error("timed out after {after:?}")]
    Timeout {
        /// How long the step had.
        after: Duration,
    },
    /// The step failed on the page: a selector never matched or is invalid, a script threw,
    /// a navigation failed. The page is still usable.
    #[error("{0}")]
    Failed(String),
    /// The URL (after references resolved, or its resolved address) is not allowed.
    #[error("{0}")]
    UrlBlocked(String),
    /// The browser or the page's target went away (crash, kill, closed connection).
    #[error("browser connection lost: {0}")]
    BrowserGone(String),
    /// An output exceeded its size bound.
    #[error("{0}")]
    TooLarge(String),
}

impl StepError {
    /// True when the page must not be reused after this error.
    pub fn discards_page(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::BrowserGone(_))
    }

    /// Drover's class for this error.
    pub fn reason(&self) -> ErrorReason {
        match self {
            Self::Timeout { .. } => ErrorReason::DeadlineExceeded,
            Self::Failed(_) => ErrorReason::StepFailed,
            Self::UrlBlocked(_) => ErrorReason::UrlBlocked,
            Self::BrowserGone(_) => ErrorReason::BrowserCrashed,
            Self::TooLarge(_) => ErrorReason::PayloadTooLarge,
        }
    }

    /// The error as Drover reports it, naming the step.
    pub fn in_step(&self, step: &str) -> DroverError {
        DroverError::new(self.reason(), format!("step {step:?}: {self}")).in_step(step)
    }
}

/// How a chromiumoxide failure reads as a step error: a lost connection means the browser is
/// gone (transient; the page is discarded), a protocol-level refusal means the step failed on
/// a still-usable page.
impl From<chromiumoxide::error::CdpError> for StepError {
    fn from(err: chromiumoxide::error::CdpError) -> Self {
        use chromiumoxide::error::CdpError as E;
        match err {
            E::Ws(_)
            | E::Io(_)
            | E::NoResponse
            | E::ChannelSendError(_)
            | E::UnexpectedWsMessage(_)
            | E::LaunchExit(..)
            | E::LaunchTimeout(_)
            | E::LaunchIo(..) => Self::BrowserGone(err.to_string()),
            // chromiumoxide's own timeout of one command (fixed at 30 s for every command a
            // `Page` sends): only reachable when Drover's deadline is longer, and the target
            // is as unusable as after our own timeout.
            E::Timeout => Self::Timeout {
                after: crate::page::CHROMIUMOXIDE_COMMAND_TIMEOUT,
            },
            E::Chrome(e) if target_is_gone(&e.message) => Self::BrowserGone(e.message),
            E::Chrome(e) => Self::Failed(format!("browser refused: {}", e.message)),
            E::JavascriptException(details) => Self::Failed(format!(
                "script threw: {}",
                details
                    .exception
                    .as_ref()
                    .and_then(|e| e.description.as_deref())
                    .and_then(|d| d.lines().next())
                    .unwrap_or(&details.text)
            )),
            other => Self::Failed(other.to_string()),
        }
    }
}

/// Protocol errors that mean the page's target (not just one command) is gone.
fn target_is_gone(message: &str) -> bool {
    [
        "Target closed",
        "Session with given id not found",
        "No target with given id",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Why a task could not run (or finish) in the pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The request is invalid.
    #[error(transparent)]
    Invalid(#[from] drover_api::ValidationError),
    /// The pool is draining for shutdown.
    #[error("the browser pool is draining and takes no new work")]
    Draining,
    /// System memory is above the high watermark.
    #[error("the browser pool is under memory pressure and takes no new work")]
    Overloaded {
        /// When to come back.
        retry_after: Duration,
    },
    /// Too many tasks already wait for a page.
    #[error("too many tasks are waiting for a page")]
    QueueFull {
        /// When to come back.
        retry_after: Duration,
    },
    /// No browser is running right now (all are being replaced).
    #[error("no browser is available right now")]
    NoBrowser,
    /// Chromium refused to open a page or context.
    #[error("the browser could not open a page: {0}")]
    BrowserFailed(String),
    /// The task's deadline passed before it got a page.
    #[error("the task's deadline passed while waiting {waited:?} for a page")]
    DeadlineExceeded {
        /// How long it waited.
        waited: Duration,
    },
    /// Applying the task's browser options to the page failed.
    #[error("preparing the page failed: {0}")]
    Prepare(StepError),
    /// A step failed; the outputs of the steps before it are kept.
    #[error("step {step:?} (steps[{index}]) failed: {error}")]
    Step {
        /// The failing step's name.
        step: String,
        /// Its position in the task.
        index: u32,
        /// Why.
        error: StepError,
        /// Outputs of the steps that finished.
        outputs: Vec<drover_api::model::output::StepOutput>,
    },
    /// The pool shut down before the task finished (drain grace period over).
    #[error("the browser pool shut down before the task finished")]
    Cancelled {
        /// Outputs of the steps that finished.
        outputs: Vec<drover_api::model::output::StepOutput>,
    },
    /// No browser could be launched at start.
    #[error("cannot launch browsers: {0}")]
    Launch(String),
}

impl PoolError {
    /// A short label for metrics.
    pub fn outcome_label(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::Draining => "draining",
            Self::Overloaded { .. } => "overloaded",
            Self::QueueFull { .. } => "queue_full",
            Self::NoBrowser | Self::BrowserFailed(_) | Self::Launch(_) => "no_browser",
            Self::DeadlineExceeded { .. } => "deadline",
            Self::Prepare(_) => "prepare_failed",
            Self::Step { error, .. } => match error {
                StepError::Timeout { .. } => "step_timeout",
                StepError::BrowserGone(_) => "browser_crashed",
                _ => "step_failed",
            },
            Self::Cancelled { .. } => "cancelled",
        }
    }
}

impl From<PoolError> for DroverError {
    fn from(error: PoolError) -> Self {
        let message = error.to_string();
        match error {
            PoolError::Invalid(e) => e.into(),
            PoolError::Draining => {
                DroverError::new(ErrorReason::Draining, message).retry_after(Duration::from_secs(1))
            }
            PoolError::Overloaded { retry_after } | PoolError::QueueFull { retry_after } => {
                DroverError::new(ErrorReason::QueueFull, message).retry_after(retry_after)
            }
            PoolError::NoBrowser | PoolError::BrowserFailed(_) => {
                DroverError::new(ErrorReason::Transient, message)
                    .retry_after(Duration::from_secs(1))
            }
            PoolError::DeadlineExceeded { .. } => {
                DroverError::new(ErrorReason::DeadlineExceeded, message)
            }
            PoolError::Prepare(e) => DroverError::new(e.reason(), message),
            PoolError::Step { step, error, .. } => error.in_step(&step),
            PoolError::Cancelled { .. } => DroverError::new(ErrorReason::Cancelled, message),
            PoolError::Launch(_) => DroverError::new(ErrorReason::Internal, message),
        }
    }
}
