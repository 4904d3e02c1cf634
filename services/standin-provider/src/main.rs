//! `drover-standin-provider`: runs the stand-in OpenAI-compatible provider until SIGINT or
//! SIGTERM. Flags: `--listen ADDR` (default 127.0.0.1:8089; port 0 picks one), `--api-key KEY`
//! (or `DROVER_STANDIN_API_KEY`), `--behavior SPEC` (the default behaviour). Prints
//! `drover-standin-provider: a stand-in for an OpenAI-compatible provider, listening on
//! http://ADDR` on stdout once bound. Exit codes: 0 on a signal, 2 on bad flags, 1 otherwise.
//! Everything but the tracing subscriber lives in [`drover_standin_provider::cli`], which
//! `drover standin-provider` runs too.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    drover_standin_provider::cli::main(std::env::args().skip(1).collect()).await
}
