//! `drover`: every Drover service in one binary, all of them in one process, and a client.
//!
//! # Commands
//! - **Services** (multi-call): `drover scheduler|browser-pool|ai-router|standin-provider
//!   ARGS…` run exactly what the separate `drover-<service>` binaries run: the same flags, the
//!   same first stdout line (`drover-scheduler listening on ADDR`, ...), the same exit codes.
//!   Each service crate owns its command line in its `cli` module; this crate only dispatches.
//! - **`drover up`** ([`up`], settings in [`up_config`]): scheduler, browser pool and AI router
//!   in one process on embedded defaults, the pool and router attached to the scheduler as
//!   workers over loopback gRPC, the stand-in provider when no AI provider is configured.
//! - **`drover demo`** ([`demo`], [`demo_site`]): the example workflows end to end.
//! - **Client** ([`submit`], [`inspect`]): `drover submit FILE… [--wait]`, `drover watch ID`,
//!   `drover get ID`, `drover cancel ID [--reason TEXT]`, `drover status`, each talking to
//!   `--scheduler URL` (env `DROVER_SCHEDULER`, default `http://127.0.0.1:50051`) through
//!   [`client`]. Task files are read by [`task_file`]; values are shown by [`display`].
//!
//! # Layout
//! `main.rs` installs the tracing subscriber (once, for every command) and the runtime, and
//! calls [`run`], which dispatches on the first argument.

pub mod client;
pub mod demo;
pub mod demo_site;
pub mod display;
pub mod inspect;
pub mod submit;
pub mod task_file;
pub mod up;
pub mod up_config;

use std::process::ExitCode;

/// `drover --help`.
pub const HELP: &str = "drover: browser automation and AI work at fleet scale

usage: drover COMMAND [ARGS...]

Run Drover:
  up                   scheduler, browser pool and AI router in one process (drover up --help)
  scheduler ARGS       the scheduler alone        (same as drover-scheduler)
  browser-pool ARGS    the browser pool alone     (same as drover-browser-pool)
  ai-router ARGS       the AI router alone        (same as drover-ai-router)
  standin-provider ARGS  the stand-in AI provider (same as drover-standin-provider)

Try it:
  demo                 run the example workflows end to end (what `make demo` runs)
  demo-site            serve the examples' site on 127.0.0.1:50070, for drover submit

Use it (each takes --scheduler URL; env DROVER_SCHEDULER; default http://127.0.0.1:50051):
  submit FILE... [--wait]       submit tasks from YAML or JSON files; --wait follows them
                                and prints a result table (exit 1 if any did not succeed)
  watch ID                      print a task's events as they happen
  get ID                        a task's state, times, error and outputs
  cancel ID [--reason TEXT]     cancel a task
  status                        workers, slots, credit, health and queue depth

Logs go to stderr (DROVER_LOG=debug for more).";

/// Whether `command` runs a service (logs at `info` by default) rather than a client
/// command (logs at `warn`, so its output is not buried).
pub fn is_service(command: &str) -> bool {
    matches!(
        command,
        "up" | "scheduler" | "browser-pool" | "ai-router" | "standin-provider"
    )
}

/// Runs the command `args` (without the program name) names.
pub async fn run(args: Vec<String>) -> ExitCode {
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{HELP}");
        return ExitCode::from(2);
    };
    let rest = rest.to_vec();
    match command.as_str() {
        "scheduler" => drover_scheduler::cli::main(rest).await,
        "browser-pool" => drover_browser_pool::cli::main(rest).await,
        "ai-router" => drover_ai_router::cli::main(rest).await,
        "standin-provider" => drover_standin_provider::cli::main(rest).await,
        "up" => up::run(&rest).await,
        "demo" => demo::run(&rest).await,
        "demo-site" => demo_site::run(&rest).await,
        "submit" | "watch" | "get" | "cancel" | "status" => client_command(command, &rest).await,
        "help" | "--help" | "-h" => {
            println!("{HELP}");
            ExitCode::SUCCESS
        }
        "--version" | "version" => {
            println!("drover {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("drover: unknown command {other:?}\n\n{HELP}");
            ExitCode::from(2)
        }
    }
}

async fn client_command(command: &str, args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let outcome = match client::take_scheduler(args, |name| std::env::var(name).ok()) {
        Ok((scheduler, args)) => match command {
            "submit" => submit::run(&scheduler, &args).await,
            "watch" => inspect::watch(&scheduler, &args).await,
            "get" => inspect::get(&scheduler, &args).await,
            "cancel" => inspect::cancel(&scheduler, &args).await,
            _ => inspect::status(&scheduler, &args).await,
        },
        Err(e) => Err(e),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            for line in e.message.lines() {
                eprintln!("drover {command}: {line}");
            }
            ExitCode::from(e.code)
        }
    }
}
