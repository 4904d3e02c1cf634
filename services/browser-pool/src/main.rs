//! `drover-browser-pool`: Drover's browser pool as a standalone gRPC service.
//!
//! Reads its configuration (see `drover_browser_pool::config` for every setting; `--help`
//! lists them), serves `drover.v1.BrowserPoolService` with health and reflection, exposes
//! Prometheus metrics, and on SIGTERM or SIGINT drains: running tasks get the grace period,
//! the rest are cancelled, every Chromium process is reaped, and it exits 0. A bad
//! configuration exits 2 with every problem listed. Everything but installing the log subscriber
//! lives in [`drover_browser_pool::cli`], which `drover browser-pool` runs too.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    drover_runtime::init_logging("info");
    drover_browser_pool::cli::main(std::env::args().skip(1).collect()).await
}
