//! The `drover-scheduler` command line, as a library function so that the `drover-scheduler`
//! binary and `drover scheduler` run the same code: flags and layered settings (defaults <
//! `--config FILE` (TOML) < `DROVER_SCHEDULER_*` < flags), the metrics exporter, the bound
//! address on stdout, and a graceful stop on SIGTERM or SIGINT.

use std::{net::SocketAddr, process::ExitCode, time::Duration};

use crate::{SchedulerConfig, server};

/// `--help`.
pub const HELP: &str = "drover-scheduler: Drover's task queue and worker hub

usage: drover-scheduler [--config FILE] [--listen ADDR] [--metrics-listen ADDR|off]

  --config FILE             settings (TOML; every field of SchedulerConfig, see the README)
  --listen ADDR             gRPC address (default 127.0.0.1:50051; port 0 picks one)
  --metrics-listen ADDR|off Prometheus /metrics address (default 127.0.0.1:9451)

Environment: DROVER_SCHEDULER_CONFIG (the file) and DROVER_SCHEDULER_<SETTING> for listen,
metrics_listen, max_queued, max_finished, heartbeat_interval_ms, lease_ms,
reconnect_grace_ms, affinity_wait_ms and max_task_output_bytes. Flags win over the
environment, which wins over the file. Logs go to stderr (DROVER_LOG=debug for more).";

/// How long calls under way may finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The configuration `args` and the environment describe: defaults < `--config FILE` (or
/// `DROVER_SCHEDULER_CONFIG`) < `DROVER_SCHEDULER_*` < flags.
pub fn load(args: &[String]) -> Result<SchedulerConfig, String> {
    let mut file = std::env::var("DROVER_SCHEDULER_CONFIG").ok();
    let mut listen: Option<SocketAddr> = None;
    let mut metrics: Option<Option<SocketAddr>> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--config" => file = Some(value("--config")?),
            "--listen" => {
                let v = value("--listen")?;
                listen = Some(
                    v.parse()
                        .map_err(|_| format!("--listen: {v:?} is not an address"))?,
                );
            }
            "--metrics-listen" => {
                let v = value("--metrics-listen")?;
                metrics = Some(if v == "off" {
                    None
                } else {
                    Some(
                        v.parse()
                            .map_err(|_| format!("--metrics-listen: {v:?} is not an address"))?,
                    )
                });
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let mut config = match file {
        Some(path) => {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
            SchedulerConfig::from_toml(&text).map_err(|e| e.to_string())?
        }
        None => SchedulerConfig::default(),
    };
    config
        .apply_env(|name| std::env::var(name).ok())
        .map_err(|e| e.to_string())?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if let Some(metrics) = metrics {
        config.metrics_listen = metrics;
    }
    Ok(config)
}

/// Runs the scheduler as the `drover-scheduler` binary does, with `args` (without the program
/// name): `--help`, flags, metrics exporter, bind, the `drover-scheduler listening on ADDR`
/// line on stdout, serve until SIGTERM or SIGINT. Exit codes: 0 after a signal, 2 for a bad
/// configuration or address, 1 if serving fails. The caller installs the tracing subscriber
/// and the Tokio runtime; this installs the process's Prometheus recorder (one per process).
pub async fn main(args: Vec<String>) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let fail = |why: String| {
        eprintln!("drover-scheduler: {why}");
        ExitCode::from(2)
    };
    let config = match load(&args) {
        Ok(config) => config,
        Err(why) => return fail(why),
    };
    if let Err(e) = drover_runtime::install_metrics(config.metrics_listen) {
        return fail(e);
    }
    let listener = match drover_runtime::bind_announced("drover-scheduler", config.listen).await {
        Ok(listener) => listener,
        Err(e) => return fail(e),
    };
    let shutdown = drover_runtime::cancel_on_signal();
    let served = tokio::select! {
        served = server::serve(config, drover_api::UrlPolicy::default(), listener, shutdown.clone()) => served,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Ok(()),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drover-scheduler: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Waits for SIGTERM or SIGINT (shared by every Drover process).
pub use drover_runtime::wait_for_signal;
