//! The `drover-ai-router` command line, as a library function so that the `drover-ai-router`
//! binary and `drover ai-router` run the same code: the configuration file (or the in-process
//! stand-in with `--standin`), `DROVER_AI_ROUTER_*` overrides and flags, the metrics exporter,
//! the bound address on stdout, the optional scheduler worker, and a graceful stop on SIGTERM
//! or SIGINT.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use crate::{Router, RouterConfig, server, upstream::install_crypto_provider, worker::AiExecutor};
use drover_standin_provider::{StandIn, StandInConfig};
use drover_worker::{Worker, WorkerConfig};

/// `--help`.
pub const HELP: &str =
    "drover-ai-router: OpenAI-compatible routing behind drover.v1.AiRouterService

usage: drover-ai-router (--config FILE | --standin) [--listen ADDR] [--metrics-listen ADDR|off]
                        [--scheduler URL [--worker-id ID] [--worker-slots N]]

  --config FILE             deployments and model groups (TOML; see the README)
  --standin                 no provider: route group \"default\" to an in-process stand-in
  --listen ADDR             gRPC address (default 127.0.0.1:50062; port 0 picks one)
  --metrics-listen ADDR|off Prometheus /metrics address (default 127.0.0.1:9462)
  --scheduler URL           also take AI steps of tasks from this scheduler (http://host:port)
  --worker-id ID            the worker's name at the scheduler (default ai-<host>-<pid>)
  --worker-slots N          AI steps run at once for the scheduler (default 256)

Environment: DROVER_AI_ROUTER_CONFIG (the file), DROVER_AI_ROUTER_<SETTING> for listen,
metrics_listen, queue_wait_ms, request_timeout_secs, cache_entries, cache_ttl_secs and
max_attempts. Flags win over the environment, which wins over the file. API keys are read
from the variables the deployments name (api_key_env), never from the file.
Logs go to stderr (DROVER_LOG=debug for more).";

/// How long calls under way may finish after SIGTERM.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

struct Args {
    config: Option<String>,
    standin: bool,
    listen: Option<SocketAddr>,
    metrics_listen: Option<Option<SocketAddr>>,
    scheduler: Option<String>,
    worker_id: Option<String>,
    worker_slots: u32,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        config: std::env::var("DROVER_AI_ROUTER_CONFIG").ok(),
        standin: false,
        listen: None,
        metrics_listen: None,
        scheduler: std::env::var("DROVER_AI_ROUTER_SCHEDULER").ok(),
        worker_id: None,
        worker_slots: 256,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--config" => parsed.config = Some(value("--config")?),
            "--standin" => parsed.standin = true,
            "--listen" => {
                let v = value("--listen")?;
                parsed.listen = Some(
                    v.parse()
                        .map_err(|_| format!("--listen: {v:?} is not an address"))?,
                );
            }
            "--metrics-listen" => {
                let v = value("--metrics-listen")?;
                parsed.metrics_listen = Some(if v == "off" {
                    None
                } else {
                    Some(
                        v.parse()
                            .map_err(|_| format!("--metrics-listen: {v:?} is not an address"))?,
                    )
                });
            }
            "--scheduler" => parsed.scheduler = Some(value("--scheduler")?),
            "--worker-id" => parsed.worker_id = Some(value("--worker-id")?),
            "--worker-slots" => {
                let v = value("--worker-slots")?;
                parsed.worker_slots = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--worker-slots: {v:?} is not a positive number"))?;
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(parsed)
}

/// Runs the router as the `drover-ai-router` binary does, with `args` (without the program
/// name): `--help`, the configuration (or `--standin`), metrics exporter, bind, the
/// `drover-ai-router listening on ADDR` line on stdout, serve (and take AI steps with
/// `--scheduler`) until SIGTERM or SIGINT. Exit codes: 0 after a signal, 2 for a bad
/// configuration or address, 1 if serving fails. The caller installs the tracing subscriber
/// and the Tokio runtime; this installs the process's Prometheus recorder (one per process).
pub async fn main(args: Vec<String>) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let fail = |why: String| {
        eprintln!("drover-ai-router: {why}");
        ExitCode::from(2)
    };
    let args = match parse_args(&args) {
        Ok(args) => args,
        Err(why) => return fail(why),
    };
    install_crypto_provider();
    let mut standin = None;
    let mut config = match (&args.config, args.standin) {
        (Some(path), false) => {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => return fail(format!("cannot read {path}: {e}")),
            };
            match RouterConfig::from_toml(&text) {
                Ok(config) => config,
                Err(e) => return fail(e.to_string()),
            }
        }
        (None, true) => {
            let started = StandIn::start(StandInConfig::default()).await;
            let Ok(started) = started else {
                return fail("cannot start the stand-in provider".into());
            };
            println!(
                "drover-ai-router: no provider configured; using the STAND-IN provider at {} \
                 (deterministic fake answers, not a model)",
                started.base_url()
            );
            let config = RouterConfig::standin(&started.base_url());
            standin = Some(started);
            config
        }
        (Some(_), true) => return fail("--config and --standin exclude each other".into()),
        (None, false) => {
            return fail("no configuration: pass --config FILE or --standin (see --help)".into());
        }
    };
    if let Err(e) = config.apply_env(|name| std::env::var(name).ok()) {
        return fail(e.to_string());
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(metrics_listen) = args.metrics_listen {
        config.metrics_listen = metrics_listen;
    }
    let router = match Router::new(&config, |var| std::env::var(var).ok()) {
        Ok(router) => Arc::new(router),
        Err(e) => return fail(e.to_string()),
    };
    if let Err(e) = drover_runtime::install_metrics(config.metrics_listen) {
        return fail(e);
    }
    let listener = match drover_runtime::bind_announced("drover-ai-router", config.listen).await {
        Ok(listener) => listener,
        Err(e) => return fail(e),
    };
    let shutdown = drover_runtime::cancel_on_signal();
    // Calls under way get a grace period after the signal; connections kept open by idle
    // clients do not hold the process beyond it.
    let worker = match &args.scheduler {
        Some(scheduler) => {
            let id = args
                .worker_id
                .clone()
                .unwrap_or_else(|| format!("ai-{}", std::process::id()));
            let config = WorkerConfig::new(
                scheduler.clone(),
                id,
                drover_api::pb::WorkerKind::Ai,
                args.worker_slots,
            );
            let executor = Arc::new(AiExecutor::new(Arc::clone(&router), args.worker_slots));
            match Worker::start(config, executor) {
                Ok(worker) => {
                    println!("drover-ai-router taking AI steps from {scheduler}");
                    Some(worker)
                }
                Err(e) => return fail(format!("cannot attach to the scheduler: {e}")),
            }
        }
        None => None,
    };
    let served = tokio::select! {
        served = server::serve(listener, router, shutdown.clone()) => served,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "calls still open after the grace period; stopping");
            Ok(())
        }
    };
    // The scheduler's assignments get the same grace: finished, or cancelled and handed back.
    if let Some(worker) = worker {
        worker.drain(SHUTDOWN_GRACE).await;
    }
    if let Some(standin) = standin {
        standin.shutdown().await;
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drover-ai-router: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Waits for SIGTERM or SIGINT (shared by every Drover process).
pub use drover_runtime::wait_for_signal;
