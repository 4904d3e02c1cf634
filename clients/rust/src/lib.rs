//! # drover-client
//!
//! A Rust client for Drover's scheduler (`drover.v1.SchedulerService`): build a task, submit
//! it, follow its events as a [`Stream`](futures::Stream), read, cancel or run it to the end.
//! The wire types are [`drover_api::pb`] (re-exported as [`pb`]), generated from `proto/`;
//! this crate adds no wire code of its own.
//!
//! ```no_run
//! use drover_client::{Client, TaskBuilder, TaskExt, message};
//! use futures::StreamExt;
//!
//! # async fn example() -> Result<(), drover_client::ClientError> {
//! let client = Client::connect("http://127.0.0.1:50051").await?;
//! let task = TaskBuilder::new("docs")
//!     .idempotency_key("docs-example-1")
//!     .navigate("open", "data:text/html,<ul><li>alpha</li><li>beta</li></ul>")
//!     .extract("items", "li", true)
//!     .chat(
//!         "summary",
//!         "default",
//!         [message::user("Summarise ${steps.items.values}")],
//!     );
//!
//! // Submit, then follow the events until the terminal one.
//! let submitted = client.submit(task.clone()).await?;
//! let mut events = client.watch(&submitted.id);
//! while let Some(event) = events.next().await {
//!     let event = event?;
//!     println!("{} {:?}", event.sequence, event.state());
//! }
//!
//! // Or in one call: submit and wait (the same key returns the same task).
//! let done = client.run(task).await?;
//! println!("{:?}", done.chat_content("summary"));
//! # Ok(())
//! # }
//! ```
//!
//! ## How a call flows
//! [`Client`] holds one tonic channel. Each unary call (submit, get, cancel, cluster status)
//! goes through a [`drover_resilience::ResilienceLayer`]: one deadline for the whole call
//! ([`ClientBuilder::request_timeout`], or a sooner one scoped with [`with_deadline`]), each
//! attempt bounded by [`ClientBuilder::attempt_timeout`] and told to the scheduler as
//! `grpc-timeout`, transient failures (unavailable, reset, a full queue with its
//! `RetryInfo`) retried with jittered backoff while the deadline and the client's retry
//! budget allow. Only calls that are safe to repeat retry: a submit does only when the task
//! has an idempotency key. [`Client::watch`] opens `WatchTask` and reopens it after the last
//! event seen if the stream breaks. Failures become one [`ClientError`], carrying the gRPC
//! code and Drover's reason, offending fields and retry delay
//! ([`drover_api::DroverError::from_status`]).
//!
//! ## Layout
//! `client` ([`Client`], [`ClientBuilder`]), `watch` ([`TaskEvents`]), `task`
//! ([`TaskBuilder`], [`message`], [`TaskExt`]), `error` ([`ClientError`]).

mod client;
mod error;
mod task;
mod watch;

pub use client::{Client, ClientBuilder, Submitted};
pub use drover_api::{DroverError, ErrorReason, FieldViolation, pb};
pub use drover_resilience::{Deadline, with_deadline};
pub use error::{CallError, ClientError};
pub use task::{TaskBuilder, TaskExt, is_terminal, message};
pub use watch::TaskEvents;
