//! `drover`: the one binary for Drover's services, `drover up` and the client commands (see
//! the crate docs). Installs the log subscriber once, for whichever command runs.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default_level = match args.first() {
        Some(command) if drover::is_service(command) => "info",
        _ => "warn",
    };
    drover_runtime::init_logging(default_level);
    drover::run(args).await
}
