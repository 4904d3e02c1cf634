//! `drover-scheduler`: accepts tasks and assigns each piece of work, exactly once and against
//! credit, to a worker that has room.
//!
//! - [`api`]: the public `SchedulerService` (submit, watch, cancel, list, run-and-wait);
//! - [`hub`]: the `WorkerHubService` streams workers attach on;
//! - `core`: the one owner of the queue, tasks, workers and leases;
//! - [`queue`]: priorities and fairness across tenants; [`store`]: task records behind a trait;
//! - [`config`], [`metrics`], [`server`]; [`cli`]: the command line the binary and `drover
//!   scheduler` share.

pub mod api;
pub mod cli;
pub mod config;
pub(crate) mod core;
pub mod hub;
pub mod metrics;
pub mod queue;
pub mod server;
pub mod store;

pub use config::SchedulerConfig;
