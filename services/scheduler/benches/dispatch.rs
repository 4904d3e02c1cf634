//! What the scheduler itself costs: submit→assign latency and submit/complete throughput with
//! no-op work, so every microsecond measured is orchestration.
//!
//! The `drover-scheduler` binary runs as a separate process; this bench runs the client and
//! two no-op workers (real `drover-worker` attach loops over gRPC, 64 slots each) whose
//! executor notes when each assignment arrives and answers at once.
//!
//! - **latency**: tasks submitted one at a time; for each, the time from calling `SubmitTask`
//!   to the assignment reaching a worker (p50, p90, p99);
//! - **throughput**: many tasks submitted by 8 concurrent clients; submits accepted per second,
//!   and tasks completed per second (submit of the first to the last one finished).
//!
//! # Running
//!
//! ```text
//! cargo bench -p drover-scheduler --bench dispatch     # full run
//! cargo test  -p drover-scheduler --bench dispatch     # smoke run, debug
//! ```
//!
//! `DROVER_BENCH_LATENCY_TASKS` (1000) and `DROVER_BENCH_THROUGHPUT_TASKS` (20000) override the
//! counts. Numbers are comparable only within one run.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use drover_api::pb::{self, scheduler_service_client::SchedulerServiceClient};
use drover_worker::{Executor, Progress, Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Notes when each task's assignment arrived; answers at once.
#[derive(Default)]
struct NoopExecutor {
    arrivals: Mutex<HashMap<String, Instant>>,
}

impl Executor for NoopExecutor {
    async fn run(
        &self,
        assignment: pb::Assignment,
        _progress: Progress,
        _cancel: CancellationToken,
    ) -> Result<Vec<pb::StepOutput>, pb::Error> {
        if let Ok(mut arrivals) = self.arrivals.lock() {
            arrivals.insert(assignment.task_id.clone(), Instant::now());
        }
        Ok(assignment
            .steps
            .iter()
            .map(|s| pb::StepOutput {
                step: s.step.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
                index: s.index,
                duration: Some(prost_types::Duration::default()),
                value: Some(pb::step_output::Value::None(pb::NoOutput {})),
            })
            .collect())
    }

    fn capacity(&self) -> u32 {
        64
    }

    fn session_keys(&self) -> Vec<String> {
        Vec::new()
    }
}

struct Scheduler {
    child: Child,
    addr: String,
}

impl Scheduler {
    fn start() -> Result<Self, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover-scheduler"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
            .env("DROVER_LOG", "warn")
            .env("DROVER_SCHEDULER_MAX_QUEUED", "1000000")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start drover-scheduler: {e}"))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let addr = line
            .trim()
            .strip_prefix("drover-scheduler listening on ")
            .ok_or_else(|| format!("unexpected first line {line:?}"))?
            .to_owned();
        Ok(Self { child, addr })
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn task(i: u64) -> pb::TaskSpec {
    pb::TaskSpec {
        tenant: format!("tenant{}", i % 4),
        steps: vec![pb::Step {
            name: "open".into(),
            timeout: None,
            kind: Some(pb::step::Kind::Navigate(pb::NavigateStep {
                url: "about:blank".into(),
                ..Default::default()
            })),
        }],
        ..Default::default()
    }
}

fn count(name: &str, full: usize, smoke: usize) -> usize {
    let full_run = std::env::args().any(|a| a == "--bench");
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full_run { full } else { smoke })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

async fn wait_until_idle(client: &mut SchedulerServiceClient<Channel>) -> Result<(), String> {
    loop {
        let status = client
            .get_cluster_status(pb::GetClusterStatusRequest {})
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        let queued: u32 = status.queue.iter().map(|q| q.queued).sum();
        if queued == 0 && status.running == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn bench() -> Result<(), String> {
    let latency_tasks = count("DROVER_BENCH_LATENCY_TASKS", 1000, 20);
    let throughput_tasks = count("DROVER_BENCH_THROUGHPUT_TASKS", 20_000, 200);
    let scheduler = Scheduler::start()?;
    let url = format!("http://{}", scheduler.addr);
    let executor = Arc::new(NoopExecutor::default());
    let mut workers = Vec::new();
    for i in 0..2 {
        let config = WorkerConfig::new(
            url.clone(),
            format!("noop-{i}"),
            pb::WorkerKind::Browser,
            64,
        );
        workers.push(Worker::start(config, Arc::clone(&executor)).map_err(|e| e.to_string())?);
    }
    let channel = Channel::from_shared(url.clone())
        .map_err(|e| e.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut client = SchedulerServiceClient::new(channel.clone());
    // Wait until both workers are attached and have granted credit.
    for _ in 0..500 {
        let status = client
            .get_cluster_status(pb::GetClusterStatusRequest {})
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        if status.workers.len() == 2 && status.workers.iter().all(|w| w.credit > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Latency: one task at a time.
    let mut latencies = Vec::with_capacity(latency_tasks);
    for i in 0..latency_tasks as u64 {
        let sent = Instant::now();
        let id = client
            .submit_task(pb::SubmitTaskRequest {
                task: Some(task(i)),
            })
            .await
            .map_err(|e| e.to_string())?
            .into_inner()
            .task_id;
        let arrived = loop {
            if let Some(at) = executor
                .arrivals
                .lock()
                .ok()
                .and_then(|a| a.get(&id).copied())
            {
                break at;
            }
            tokio::task::yield_now().await;
        };
        latencies.push(arrived.duration_since(sent));
    }
    wait_until_idle(&mut client).await?;
    latencies.sort_unstable();

    // Throughput: 8 concurrent submitters.
    let started = Instant::now();
    let mut submitters = tokio::task::JoinSet::new();
    let per = throughput_tasks / 8;
    for s in 0..8u64 {
        let mut client = SchedulerServiceClient::new(channel.clone());
        submitters.spawn(async move {
            for i in 0..per as u64 {
                client
                    .submit_task(pb::SubmitTaskRequest {
                        task: Some(task(s * 1_000_000 + i)),
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        });
    }
    while let Some(done) = submitters.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let submitted_in = started.elapsed();
    wait_until_idle(&mut client).await?;
    let completed_in = started.elapsed();
    let total = per * 8;

    println!(
        "\n## scheduler dispatch (no-op work; separate scheduler process; 2 workers × 64 slots)\n"
    );
    println!("| measure | value |\n|---|---:|");
    println!(
        "| submit→assign p50 ms ({latency_tasks} tasks, one at a time) | {} |",
        ms(percentile(&latencies, 50.0))
    );
    println!(
        "| submit→assign p90 ms | {} |",
        ms(percentile(&latencies, 90.0))
    );
    println!(
        "| submit→assign p99 ms | {} |",
        ms(percentile(&latencies, 99.0))
    );
    println!(
        "| submits accepted per second ({total} tasks, 8 clients) | {:.0} |",
        total as f64 / submitted_in.as_secs_f64()
    );
    println!(
        "| tasks completed per second (first submit to last finished) | {:.0} |",
        total as f64 / completed_in.as_secs_f64()
    );
    for worker in workers {
        worker.shutdown().await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match bench().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dispatch bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
