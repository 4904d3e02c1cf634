//! `drover-scheduler`: Drover's scheduler as a standalone gRPC service (public API and worker
//! hub on one port), with health, reflection and Prometheus metrics. Settings: defaults <
//! `--config FILE` (TOML) < `DROVER_SCHEDULER_*` < flags. Stops gracefully on SIGTERM or
//! SIGINT; a bad configuration exits 2 with every problem listed. Everything but the tracing
//! subscriber lives in [`drover_scheduler::cli`], which `drover scheduler` runs too.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DROVER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    drover_scheduler::cli::main(std::env::args().skip(1).collect()).await
}
