//! `drover-ai-router`: Drover's AI router as a standalone gRPC service.
//!
//! Reads its deployments and groups from `--config FILE` (or `DROVER_AI_ROUTER_CONFIG`),
//! applies `DROVER_AI_ROUTER_*` overrides and flags, serves `drover.v1.AiRouterService` with
//! health, reflection and Prometheus metrics, and stops gracefully on SIGTERM or SIGINT.
//! `--standin` runs without any provider: it starts the stand-in provider in-process and
//! routes the `default` group to it, and says so first thing. A bad configuration exits 2
//! with every problem listed. Everything but installing the log subscriber lives in
//! [`drover_ai_router::cli`], which `drover ai-router` runs too.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    drover_runtime::init_logging("info");
    drover_ai_router::cli::main(std::env::args().skip(1).collect()).await
}
