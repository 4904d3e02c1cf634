//! What every client command shares: the scheduler's address (`--scheduler URL`, else
//! `DROVER_SCHEDULER`, else `http://127.0.0.1:50051`), the connection, and one way to report a
//! failed call: the scheduler's reason, message and each offending field, read with
//! [`DroverError::from_status`].

use std::{fmt::Write as _, time::Duration};

use drover_api::{DroverError, pb::scheduler_service_client::SchedulerServiceClient};
use tonic::transport::{Channel, Endpoint};

/// The scheduler a client command talks to when nothing says otherwise.
pub const DEFAULT_SCHEDULER: &str = "http://127.0.0.1:50051";

/// Largest answer accepted: task outputs carry screenshots and PDFs (the scheduler bounds
/// them per task).
const MAX_MESSAGE: usize = 80 * 1024 * 1024;

/// A client command's failure, with the exit code it ends with.
#[derive(Debug)]
pub struct CommandError {
    /// What to print (after `drover <command>: `).
    pub message: String,
    /// 2 for usage errors and bad input files, 1 for the rest.
    pub code: u8,
}

impl CommandError {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }

    /// A failure (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<tonic::Status> for CommandError {
    fn from(status: tonic::Status) -> Self {
        Self::failed(describe_status(&status))
    }
}

/// The arguments of a client command with `--scheduler URL` taken out, and the URL.
pub fn take_scheduler(
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>), CommandError> {
    let mut url = env("DROVER_SCHEDULER").filter(|u| !u.is_empty());
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--scheduler" {
            url = Some(
                it.next()
                    .cloned()
                    .ok_or_else(|| CommandError::usage("--scheduler needs a value"))?,
            );
        } else if let Some(value) = arg.strip_prefix("--scheduler=") {
            url = Some(value.to_owned());
        } else {
            rest.push(arg.clone());
        }
    }
    let url = url.unwrap_or_else(|| DEFAULT_SCHEDULER.to_owned());
    // `host:port` alone is common enough to accept.
    let url = if url.contains("://") {
        url
    } else {
        format!("http://{url}")
    };
    Ok((url, rest))
}

/// Connects to the scheduler at `url` (failing within a few seconds if nothing answers).
pub async fn connect(url: &str) -> Result<SchedulerServiceClient<Channel>, CommandError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| CommandError::usage(format!("--scheduler {url:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    let channel = endpoint.connect().await.map_err(|e| {
        CommandError::failed(format!(
            "cannot reach the scheduler at {url}: {}",
            drover_api::error::error_chain(&e)
        ))
    })?;
    Ok(SchedulerServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

/// A failed call as a person reads it: Drover's reason and message, then each offending field
/// on its own line, and when to retry; a status without Drover details as code and message.
pub fn describe_status(status: &tonic::Status) -> String {
    match DroverError::from_status(status) {
        Some(error) => describe_error(&error),
        None => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// A Drover error with its offending fields and retry hint.
pub fn describe_error(error: &DroverError) -> String {
    let mut text = format!("{}: {}", error.reason, error.message);
    if let Some(step) = &error.step {
        let _ = write!(text, " (step {step})");
    }
    for violation in &error.violations {
        // The message often already lists the fields; the lines say it one field per line.
        let _ = write!(text, "\n  {}: {}", violation.field, violation.description);
    }
    if let Some(after) = error.retry_after {
        let _ = write!(text, "\n  retry after {after:?}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::{ErrorReason, ValidationError};

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_flag_beats_the_environment_which_beats_the_default() {
        let (url, rest) = take_scheduler(&args(&["a", "--scheduler", "h:1", "b"]), |_| {
            Some("http://env:2".into())
        })
        .unwrap();
        assert_eq!(url, "http://h:1");
        assert_eq!(rest, args(&["a", "b"]));
        let (url, _) = take_scheduler(&[], |_| Some("http://env:2".into())).unwrap();
        assert_eq!(url, "http://env:2");
        let (url, _) = take_scheduler(&[], |_| None).unwrap();
        assert_eq!(url, DEFAULT_SCHEDULER);
        assert!(take_scheduler(&args(&["--scheduler"]), |_| None).is_err());
    }

    #[test]
    fn statuses_are_described_with_each_field() {
        let status = tonic::Status::from(ValidationError::single(
            "task.steps[0].navigate.url",
            "scheme \"file\" is not allowed",
        ));
        let text = describe_status(&status);
        assert!(text.starts_with("INVALID_ARGUMENT"), "{text}");
        assert!(
            text.contains("\n  task.steps[0].navigate.url: scheme \"file\" is not allowed"),
            "{text}"
        );
        let status = tonic::Status::from(
            DroverError::new(ErrorReason::QueueFull, "queue is full")
                .retry_after(Duration::from_secs(2)),
        );
        assert!(describe_status(&status).contains("retry after 2s"));
        assert_eq!(
            describe_status(&tonic::Status::not_found("no")),
            "NotFound: no"
        );
    }
}
