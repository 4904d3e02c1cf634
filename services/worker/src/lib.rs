//! # drover-worker
//!
//! The worker side of the scheduler's hub stream (`drover.v1.WorkerHubService/Attach`),
//! written once and embedded by the browser pool and the AI router. A service implements
//! [`Executor`] (run an assignment's steps, report its free capacity and held sessions) and
//! calls [`Worker::start`]; this crate does everything between that executor and the scheduler.
//!
//! ## What it owns
//! - **The attach loop** ([`worker`]): dial, hello, welcome, serve; on a lost stream, redial
//!   with full-jitter exponential backoff (`tokio-retry` over `drover-resilience`'s
//!   [`BackoffPolicy`](drover_resilience::BackoffPolicy)); end after a drain or shutdown.
//! - **One stream** (`session`): credit (grant free slots, revoke on capacity drops, refuse
//!   assignments beyond it), acks, progress, results, heartbeats, cancels, drains.
//! - **Runs** (`run`): each assignment on its own child `CancellationToken` and deadline;
//!   what ended it becomes the `AssignmentResult`.
//! - **What outlives a stream** ([`state`]): the run table and the bounded outbox of results
//!   waiting for a stream.
//! - [`config`], [`executor`] (the trait and the [`Progress`] handle) and [`telemetry`].
//!
//! ## How an assignment flows
//! The scheduler sends `Assignment` against credit the worker granted. The stream task checks
//! the credit (none left: refuse with a `QUEUE_FULL` result), registers the run, sends
//! `AssignmentAck` and spawns [`Executor::run`]. Finished steps go through [`Progress`] into a
//! bounded queue the stream drains (dropped, never waited on, when it is full). The run's
//! result goes to the outbox and wakes the stream, which sends queued progress first, then the
//! result, then grants the freed slot again. If the stream is down meanwhile, the result waits
//! in the outbox (bounded; oldest dropped) and the next hello lists the assignment as in
//! flight, so the scheduler keeps its lease; the result follows the welcome.
//!
//! Delivery is at-least-once, like the protocol: a result handed to a stream that breaks
//! before it reaches the wire is lost, and the scheduler requeues that assignment when its
//! lease expires.
//!
//! ## Usage
//! ```no_run
//! use std::sync::Arc;
//! use drover_api::pb;
//! use drover_worker::{Executor, Progress, Worker, WorkerConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! struct Echo;
//!
//! impl Executor for Echo {
//!     async fn run(
//!         &self,
//!         assignment: pb::Assignment,
//!         progress: Progress,
//!         _cancel: CancellationToken,
//!     ) -> Result<Vec<pb::StepOutput>, pb::Error> {
//!         let outputs: Vec<pb::StepOutput> = assignment
//!             .steps
//!             .iter()
//!             .map(|s| pb::StepOutput { index: s.index, ..Default::default() })
//!             .collect();
//!         for output in &outputs {
//!             progress.send(output.clone());
//!         }
//!         Ok(outputs)
//!     }
//!     fn capacity(&self) -> u32 { 4 }
//!     fn session_keys(&self) -> Vec<String> { Vec::new() }
//! }
//!
//! # async fn demo() -> Result<(), drover_worker::WorkerError> {
//! let config = WorkerConfig::new("http://127.0.0.1:50051", "pool-1", pb::WorkerKind::Browser, 4);
//! let worker = Worker::start(config, Arc::new(Echo))?;
//! // ... on SIGTERM:
//! worker.drain(std::time::Duration::from_secs(30)).await;
//! # Ok(())
//! # }
//! ```
//!
//! ## Metrics
//! See [`telemetry`]: `drover_worker_connected`, `drover_worker_in_flight`,
//! `drover_worker_assignments_total{outcome}`, `drover_worker_reconnects_total`,
//! `drover_worker_results_dropped_total`, each with a `kind` label.

pub mod config;
pub mod executor;
mod run;
mod session;
pub mod state;
pub mod telemetry;
pub mod worker;

pub use config::WorkerConfig;
pub use executor::{Executor, Progress, time_left};
pub use state::WorkerStatus;
pub use worker::{Worker, WorkerError};
