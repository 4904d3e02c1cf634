//! `drover-browser-pool`: warm Chromium browsers with pooled pages, isolation between
//! tenants, crash recovery, recycling and memory limits.
//!
//! # How a task flows
//!
//! ```text
//! BrowserPoolService.ExecuteBrowserJob ─┐          (server: validate, deadline from grpc-timeout)
//! scheduler assignment (worker) ────────┴─► pool::BrowserPool::run
//!    wait for a slot (bounded) ─► pick a browser (session route, else least loaded)
//!    ─► actor lends a page in the task's context (lease) ─► page::prepare
//!    ─► page::run_step × N (each bounded by its deadline, raced against the browser's death)
//!    ─► page::reset ─► the lease returns the page (or it is closed and replaced)
//! ```
//!
//! # Layout
//! - [`launcher`]: starts Chromium in its own process group with its own folder; kills and
//!   reaps the whole tree (crashpad included) and removes the folder.
//! - [`actor`]: one actor per browser, the only owner of its `chromiumoxide::Browser`: shared
//!   per-tenant contexts, session contexts, spare isolated contexts, verified page close,
//!   orphan sweep, health probe.
//! - [`lease`]: a borrowed page that goes back on drop and knows when its browser died.
//! - [`pool`] and the private `supervisor`: slots, placement, the step loop, relaunch with
//!   backoff, recycling by tasks/age/memory, the system-memory watchdog, drain.
//! - [`page`]: everything done to one page: each step kind, request blocking, URL vetting,
//!   prepare and reset.
//! - [`server`], [`config`], [`metrics`]: the gRPC service (with health and reflection), the
//!   layered configuration, and the metric names; [`cli`]: the command line the binary and
//!   `drover browser-pool` share.
//! - [`procfs`]: process trees and memory from `/proc` and cgroups.
//!
//! # Isolation
//! `shared` tasks reuse pooled pages in a context per tenant (cookies shared within a tenant,
//! never across tenants); `isolated` tasks get a fresh context disposed afterwards (a few are
//! kept ready); `session` tasks use a context kept for their affinity key, so a later task
//! with the same key finds its cookies.

pub mod actor;
mod browser_ops;
pub mod cli;
pub mod config;
pub mod error;
pub mod launcher;
pub mod lease;
pub mod metrics;
pub mod page;
pub mod pool;
pub mod procfs;
pub mod server;
mod supervisor;
pub mod worker;
