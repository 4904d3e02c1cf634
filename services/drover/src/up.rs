//! `drover up`: the scheduler, a browser pool and an AI router in one process, on embedded
//! defaults (see [`crate::up_config`] for the settings and their layering).
//!
//! # Start
//! 1. Load and check every setting (exit 2 listing every problem).
//! 2. No AI provider configured: start the stand-in provider in-process and say so first,
//!    on stdout, labelled as a stand-in.
//! 3. Install the process's one Prometheus exporter; bind and serve the scheduler.
//! 4. Start the AI router (its own gRPC port, `127.0.0.1:0` by default) and attach it to the
//!    scheduler as an AI worker over loopback gRPC; start the browser pool, which attaches as
//!    a browser worker the same way.
//! 5. When the scheduler lists both workers, print `drover up: scheduler listening on ADDR`
//!    last: from then on tasks can be submitted.
//!
//! # Stop (SIGTERM or SIGINT)
//! Workers drain first, while the scheduler still serves, so running assignments finish or
//! go back: the pool stops its worker, drains its tasks (`drain_grace_secs`) and closes every
//! browser (no Chromium process is left); the router's worker drains and its server stops.
//! Then the scheduler stops, then the stand-in. Exit 0. A part that fails on its own stops
//! the rest the same way and exits 1.

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use drover_ai_router::{Router, upstream::install_crypto_provider, worker::AiExecutor};
use drover_api::pb;
use drover_browser_pool::config::ProcessEnv;
use drover_standin_provider::{StandIn, StandInConfig};
use drover_worker::{Worker, WorkerConfig};
use tokio::{net::TcpListener, task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::up_config::{AiProvider, UpConfig, router_config};

/// `drover up --help`.
pub const HELP: &str = "drover up: the scheduler, a browser pool and an AI router in one process

usage: drover up [--listen ADDR] [--browsers N] [--pages-per-browser N]
                 [--metrics-listen ADDR|off] [--config FILE] [--ai-config FILE]

  --listen ADDR             the scheduler's gRPC address (default 127.0.0.1:50051)
  --browsers N              browsers kept running (default 2)
  --pages-per-browser N     tasks one browser runs at once (default 4)
  --metrics-listen ADDR|off the process's Prometheus /metrics (default 127.0.0.1:9451)
  --config FILE             TOML with optional [scheduler], [browser_pool] and [ai_router]
                            sections, each as that service's own file (env DROVER_CONFIG)
  --ai-config FILE          an ai-router file (env DROVER_AI_ROUTER_CONFIG); without one,
                            and without deployments in [ai_router], AI steps go to an
                            in-process STAND-IN provider (fake answers, not a model)

Settings: embedded defaults < --config sections < DROVER_SCHEDULER_*, DROVER_BROWSER_POOL_*,
DROVER_AI_ROUTER_* < these flags. The pool and router listen on 127.0.0.1:0 by default and
attach to the scheduler as workers. Prints `drover up: scheduler listening on ADDR` when
ready. SIGTERM or SIGINT drains the workers, closes every browser and exits 0.
Logs go to stderr (DROVER_LOG=debug for more).";

/// How long `drover up` waits for both workers to attach before giving up.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// How long the scheduler's and router's calls under way may finish after the stop.
const SERVER_GRACE: Duration = Duration::from_secs(10);

/// Runs `drover up` with `args` (after `up`).
pub async fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let config = match UpConfig::load(args, &ProcessEnv) {
        Ok(config) => config,
        Err(problems) => {
            eprintln!("drover up: invalid configuration:");
            for problem in problems {
                eprintln!("  {problem}");
            }
            return ExitCode::from(2);
        }
    };
    let signal = CancellationToken::new();
    tokio::spawn({
        let signal = signal.clone();
        async move {
            drover_runtime::wait_for_signal().await;
            signal.cancel();
        }
    });
    match Running::start(config, &signal).await {
        Ok(running) => running.serve_until_stopped(&signal).await,
        Err(failure) => {
            eprintln!("drover up: {}", failure.message);
            failure.code
        }
    }
}

/// Why `drover up` could not start.
struct StartFailure {
    message: String,
    code: ExitCode,
}

impl StartFailure {
    fn config(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: ExitCode::from(2),
        }
    }
}

/// Everything `drover up` started, in the order it stops them (reversed).
#[derive(Default)]
struct Parts {
    standin: Option<StandIn>,
    scheduler: Option<(
        CancellationToken,
        JoinHandle<Result<(), tonic::transport::Error>>,
    )>,
    router: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    ai_worker: Option<Worker>,
    pool: Option<JoinHandle<Result<(), drover_browser_pool::error::PoolError>>>,
    /// Cancelled first on stop: the pool and router drain and stop.
    workers_stop: CancellationToken,
    pool_drain_grace: Duration,
}

struct Running {
    parts: Parts,
}

impl Running {
    async fn start(config: UpConfig, signal: &CancellationToken) -> Result<Self, StartFailure> {
        let mut parts = Parts {
            pool_drain_grace: config.browser_pool.drain_grace,
            ..Parts::default()
        };
        match Self::start_parts(config, signal, &mut parts).await {
            Ok(()) => Ok(Self { parts }),
            Err(failure) => {
                parts.stop().await;
                Err(failure)
            }
        }
    }

    async fn start_parts(
        config: UpConfig,
        signal: &CancellationToken,
        parts: &mut Parts,
    ) -> Result<(), StartFailure> {
        // The stand-in first, so that the first lines say AI answers are not a model's.
        let router_config = match config.ai {
            AiProvider::Configured(router) => router,
            AiProvider::StandIn(table) => {
                let standin = StandIn::start(StandInConfig::default())
                    .await
                    .map_err(|e| {
                        StartFailure::config(format!("cannot start the stand-in provider: {e}"))
                    })?;
                let url = standin.base_url();
                println!(
                    "drover up: no AI provider configured; AI steps go to the STAND-IN provider at \
                     {url} (deterministic fake answers, not a model)"
                );
                println!(
                    "drover up: for a real provider pass --ai-config FILE (or set \
                     DROVER_AI_ROUTER_CONFIG)"
                );
                parts.standin = Some(standin);
                router_config(&table, Some(&url), &ProcessEnv)
                    .map_err(|p| StartFailure::config(p.join("\n  ")))?
            }
        };
        let standin_label = if parts.standin.is_some() {
            "stand-in provider".to_owned()
        } else {
            format!("{} deployments", router_config.deployments.len())
        };

        drover_runtime::install_metrics(config.scheduler.metrics_listen)
            .map_err(StartFailure::config)?;

        let scheduler_listener = bind(config.scheduler.listen).await?;
        let scheduler_addr = local_addr(&scheduler_listener)?;
        let scheduler_url = format!("http://{}", dial_address(scheduler_addr));
        let scheduler_stop = CancellationToken::new();
        parts.scheduler = Some((
            scheduler_stop.clone(),
            tokio::spawn(drover_scheduler::server::serve(
                config.scheduler.clone(),
                config.browser_pool.pool.url_policy.clone(),
                scheduler_listener,
                scheduler_stop,
            )),
        ));

        install_crypto_provider();
        let router = Router::new(&router_config, |var| std::env::var(var).ok())
            .map(Arc::new)
            .map_err(|e| StartFailure::config(e.to_string()))?;
        let router_listener = bind(router_config.listen).await?;
        let router_addr = local_addr(&router_listener)?;
        parts.router = Some(tokio::spawn(drover_ai_router::server::serve(
            router_listener,
            Arc::clone(&router),
            parts.workers_stop.clone(),
        )));
        let ai_worker_id = format!("ai-{}", std::process::id());
        let ai_slots = 256;
        let ai_worker = Worker::start(
            WorkerConfig::new(
                scheduler_url.clone(),
                ai_worker_id.clone(),
                pb::WorkerKind::Ai,
                ai_slots,
            ),
            Arc::new(AiExecutor::new(router, ai_slots)),
        )
        .map_err(|e| StartFailure::config(format!("cannot attach the ai-router: {e}")))?;
        parts.ai_worker = Some(ai_worker);

        let mut pool_config = config.browser_pool;
        pool_config.scheduler = Some(scheduler_url.clone());
        let pool_worker_id = pool_config.worker_id.clone();
        let shape = format!(
            "{} {} x {} pages",
            pool_config.pool.browsers,
            if pool_config.pool.browsers == 1 {
                "browser"
            } else {
                "browsers"
            },
            pool_config.pool.pages_per_browser
        );
        let pool_listener = bind(pool_config.listen).await?;
        let pool_addr = local_addr(&pool_listener)?;
        let pool = tokio::spawn(drover_browser_pool::server::run(
            pool_config,
            pool_listener,
            parts.workers_stop.clone(),
        ));
        parts.pool = Some(pool);

        enum Startup {
            Ready(Result<(), StartFailure>),
            PoolEnded(String),
            Signal,
        }
        let pool = parts.pool.as_mut().expect("just started");
        let workers = [pool_worker_id.as_str(), ai_worker_id.as_str()];
        let startup = tokio::select! {
            ready = wait_until_attached(&scheduler_url, &workers) => Startup::Ready(ready),
            ended = pool => Startup::PoolEnded(match ended {
                Ok(Ok(())) => "the browser pool stopped while starting".to_owned(),
                Ok(Err(e)) => format!("the browser pool did not start: {e}"),
                Err(e) => format!("the browser pool task failed: {e}"),
            }),
            () = signal.cancelled() => Startup::Signal,
        };
        match startup {
            Startup::Ready(ready) => ready?,
            Startup::PoolEnded(message) => {
                parts.pool = None;
                return Err(StartFailure {
                    message,
                    code: ExitCode::FAILURE,
                });
            }
            Startup::Signal => {
                return Err(StartFailure {
                    message: "stopped by a signal while starting".to_owned(),
                    code: ExitCode::SUCCESS,
                });
            }
        }
        println!(
            "drover up: browser pool listening on {pool_addr} ({shape}), worker {pool_worker_id}"
        );
        println!(
            "drover up: ai-router listening on {router_addr} ({standin_label}), worker {ai_worker_id}"
        );
        if let Some(addr) = config.scheduler.metrics_listen {
            println!("drover up: metrics on http://{addr}/metrics");
        }
        // Last: whoever waits for this line may submit at once.
        println!("drover up: scheduler listening on {scheduler_addr}");
        Ok(())
    }

    /// Serves until a signal (exit 0) or until a part ends on its own (exit 1), then stops.
    async fn serve_until_stopped(mut self, signal: &CancellationToken) -> ExitCode {
        enum Ended {
            Signal,
            Pool(String),
            Scheduler(String),
        }
        let parts = &mut self.parts;
        let pool = parts.pool.as_mut().expect("started");
        let scheduler = &mut parts.scheduler.as_mut().expect("started").1;
        let ended = tokio::select! {
            () = signal.cancelled() => Ended::Signal,
            ended = pool => Ended::Pool(match ended {
                Ok(Ok(())) => "stopped".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            }),
            ended = scheduler => Ended::Scheduler(match ended {
                Ok(Ok(())) => "stopped".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            }),
        };
        // A finished task is not awaited again.
        let failed = match ended {
            Ended::Signal => None,
            Ended::Pool(why) => {
                parts.pool = None;
                Some(format!("the browser pool ended on its own: {why}"))
            }
            Ended::Scheduler(why) => {
                if let Some((stop, _)) = parts.scheduler.take() {
                    stop.cancel();
                }
                Some(format!("the scheduler ended on its own: {why}"))
            }
        };
        match &failed {
            Some(why) => eprintln!("drover up: {why}; stopping everything"),
            None => eprintln!("drover up: stopping: draining workers, then the scheduler"),
        }
        parts.stop().await;
        eprintln!("drover up: stopped");
        if failed.is_some() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

impl Parts {
    /// Stops whatever was started: workers (pool and router) first, then the scheduler, then
    /// the stand-in.
    async fn stop(&mut self) {
        self.workers_stop.cancel();
        let ai_drain = async {
            if let Some(worker) = self.ai_worker.take() {
                worker.drain(drover_ai_router::cli::SHUTDOWN_GRACE).await;
            }
        };
        let pool = async {
            if let Some(pool) = self.pool.take() {
                // The pool bounds its own drain; a little more covers closing the browsers.
                let bound = self.pool_drain_grace + Duration::from_secs(30);
                match tokio::time::timeout(bound, pool).await {
                    Ok(Ok(Ok(()))) => {}
                    Ok(Ok(Err(e))) => tracing::error!(error = %e, "browser pool failed"),
                    Ok(Err(e)) => tracing::error!(error = %e, "browser pool task failed"),
                    Err(_) => tracing::error!("browser pool did not stop in time"),
                }
            }
        };
        tokio::join!(ai_drain, pool);
        if let Some(router) = self.router.take() {
            bounded("ai-router", router).await;
        }
        if let Some((stop, scheduler)) = self.scheduler.take() {
            stop.cancel();
            bounded("scheduler", scheduler).await;
        }
        if let Some(standin) = self.standin.take() {
            standin.shutdown().await;
        }
    }
}

/// Awaits a server task for at most [`SERVER_GRACE`] (idle client connections do not hold
/// the process).
async fn bounded(name: &str, task: JoinHandle<Result<(), tonic::transport::Error>>) {
    match tokio::time::timeout(SERVER_GRACE, task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "{name} server failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "{name} server task failed"),
        Err(_) => tracing::warn!(grace = ?SERVER_GRACE, "{name}: calls still open; stopping"),
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartFailure> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| StartFailure::config(format!("cannot listen on {addr}: {e}")))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, StartFailure> {
    listener.local_addr().map_err(|e| StartFailure {
        message: format!("cannot read the bound address: {e}"),
        code: ExitCode::FAILURE,
    })
}

/// Where in-process workers dial a listener: its own address, or loopback for a wildcard.
fn dial_address(bound: SocketAddr) -> SocketAddr {
    match bound {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], v4.port()))
        }
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, v6.port()))
        }
        other => other,
    }
}

/// Polls the scheduler until every worker in `ids` is attached with slots.
async fn wait_until_attached(scheduler: &str, ids: &[&str]) -> Result<(), StartFailure> {
    let give_up = Instant::now() + READY_WITHIN;
    let mut last = String::from("the scheduler did not answer");
    while Instant::now() < give_up {
        match crate::client::connect(scheduler).await {
            Ok(mut client) => match client
                .get_cluster_status(pb::GetClusterStatusRequest {})
                .await
            {
                Ok(status) => {
                    let workers = status.into_inner().workers;
                    let missing: Vec<&str> = ids
                        .iter()
                        .copied()
                        .filter(|id| !workers.iter().any(|w| w.worker_id == *id && w.slots > 0))
                        .collect();
                    if missing.is_empty() {
                        return Ok(());
                    }
                    last = format!("workers not attached yet: {}", missing.join(", "));
                }
                Err(status) => last = crate::client::describe_status(&status),
            },
            Err(e) => last = e.message,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(StartFailure {
        message: format!("not ready within {READY_WITHIN:?}: {last}"),
        code: ExitCode::FAILURE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_are_dialled_on_loopback() {
        assert_eq!(
            dial_address("0.0.0.0:5".parse().unwrap()),
            "127.0.0.1:5".parse().unwrap()
        );
        assert_eq!(
            dial_address("[::]:5".parse().unwrap()),
            "[::1]:5".parse().unwrap()
        );
        assert_eq!(
            dial_address("127.0.0.2:5".parse().unwrap()),
            "127.0.0.2:5".parse().unwrap()
        );
    }
}
