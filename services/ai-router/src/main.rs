//! `drover-ai-router`: Drover's AI router as a standalone gRPC service.
//!
//! Reads its deployments and groups from `--config FILE` (or `DROVER_AI_ROUTER_CONFIG`),
//! applies `DROVER_AI_ROUTER_*` overrides and flags, serves `drover.v1.AiRouterService` with
//! health, reflection and Prometheus metrics, and stops gracefully on SIGTERM or SIGINT.
//! `--standin` runs without any provider: it starts the stand-in provider in-process and
//! routes the `default` group to it, and says so first thing. A bad configuration exits 2
//! with every problem listed. Everything but the tracing subscriber lives in
//! [`drover_ai_router::cli`], which `drover ai-router` runs too.

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
    drover_ai_router::cli::main(std::env::args().skip(1).collect()).await
}
