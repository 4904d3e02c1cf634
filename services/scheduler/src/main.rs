//! `drover-scheduler`: Drover's scheduler as a standalone gRPC service (public API and worker
//! hub on one port), with health, reflection and Prometheus metrics. Settings: defaults <
//! `--config FILE` (TOML) < `DROVER_SCHEDULER_*` < flags. Stops gracefully on SIGTERM or
//! SIGINT; a bad configuration exits 2 with every problem listed. Everything but the tracing
//! subscriber lives in [`drover_scheduler::cli`], which `drover scheduler` runs too.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    drover_runtime::init_logging("info");
    drover_scheduler::cli::main(std::env::args().skip(1).collect()).await
}
