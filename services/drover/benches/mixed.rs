//! The end-to-end comparison for the benchmark report (`make bench`): the same mixed workload
//! through a whole Drover (`drover up` as its own process: scheduler, browser pool, AI router)
//! in its **pooled** mode and in its **page-per-task** mode (`[browser_pool] idle_pages = 0`:
//! every returned page is closed and every task opens a new one), at 3 and 10 concurrent
//! sessions, with faults injected all along:
//!
//! - **browser kills**: every [`KILL_EVERY`] a Chromium browser process of the pool is
//!   SIGKILLed (the pool replaces it; its tasks fail transiently and the scheduler retries);
//! - **provider faults**: the AI router's group has three deployments on one stand-in
//!   provider, one answering 10% of requests with a 500, one 5% with a 429 and
//!   `Retry-After: 1`, one healthy.
//!
//! The workload cycles through three tasks: open a page, extract its table and ask the AI to
//! summarise it; open a page, extract and screenshot; an AI question alone. Each session runs
//! its tasks back to back through `RunTask`. Reported per run: task latency p50/p95 as the
//! client saw it, queue wait (created → started), CPU seconds per task (the `drover up`
//! process tree's CPU time, Chromium's included, over the tasks), memory growth of that tree
//! over the run (PSS after a fault-free warm-up, then after the run) and the success rate.
//!
//! ```text
//! cargo bench -p drover --bench mixed   # 1000 tasks per run; DROVER_BENCH_TASKS overrides
//! cargo test  -p drover --bench mixed   # smoke run, debug build
//! ```

mod support;

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use drover_api::pb::{self, scheduler_service_client::SchedulerServiceClient};
use drover_browser_pool::procfs;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use support::{ms, percentile, start};

/// How often a browser is killed during a measured run.
const KILL_EVERY: Duration = Duration::from_secs(4);
/// Tasks run before measuring, without faults: pages, contexts and connections warm up.
const WARM_UP: usize = 30;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Pooled,
    PagePerTask,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Pooled => "pooled",
            Mode::PagePerTask => "page-per-task",
        }
    }
}

/// The AI router's configuration: one group over three deployments of the stand-in, two of
/// them faulty (the `+spec` model suffix is the stand-in's per-request behaviour).
fn router_config(standin: &str) -> String {
    let deployment = |name: &str, spec: &str| {
        format!(
            "[[deployments]]\nname = \"{name}\"\nbase_url = \"{standin}/v1\"\nmodel = \"stand-in{spec}\"\n\n"
        )
    };
    format!(
        "listen = \"127.0.0.1:0\"\n\n{}{}{}[[groups]]\nname = \"default\"\ndeployments = [\"flaky\", \"limited\", \"steady\"]\n",
        deployment("flaky", "+fail-rate=0.1,status=500"),
        deployment("limited", "+fail-rate=0.05,status=429,retry-after=1"),
        deployment("steady", ""),
    )
}

fn step(name: &str, kind: pb::step::Kind) -> pb::Step {
    pb::Step {
        name: name.into(),
        timeout: None,
        kind: Some(kind),
    }
}

fn chat(content: String) -> pb::step::Kind {
    pb::step::Kind::Chat(pb::ChatSpec {
        model_group: "default".into(),
        messages: vec![pb::ChatMessage {
            role: pb::ChatRole::User as i32,
            content,
        }],
        cache: pb::CacheMode::Bypass as i32,
        ..Default::default()
    })
}

/// The `n`th task of the mix.
fn task(site: &str, n: usize) -> pb::TaskSpec {
    let open = || {
        step(
            "open",
            pb::step::Kind::Navigate(pb::NavigateStep {
                url: format!("http://{site}/products"),
                ..Default::default()
            }),
        )
    };
    let rows = || {
        step(
            "rows",
            pb::step::Kind::Extract(pb::ExtractStep {
                selector: "#products tbody tr".into(),
                all: true,
                ..Default::default()
            }),
        )
    };
    let steps = match n % 3 {
        0 => vec![
            open(),
            rows(),
            step("summary", chat("Summarise: ${steps.rows.values}".into())),
        ],
        1 => vec![
            open(),
            rows(),
            step(
                "shot",
                pb::step::Kind::Screenshot(pb::ScreenshotStep::default()),
            ),
        ],
        _ => vec![step(
            "answer",
            chat(format!("Question {n}: what is 2 + 2?")),
        )],
    };
    pb::TaskSpec {
        tenant: "bench".into(),
        timeout: Some(prost_types::Duration {
            seconds: 60,
            nanos: 0,
        }),
        retry_policy: Some(pb::RetryPolicy {
            max_attempts: 4,
            initial_backoff: Some(prost_types::Duration {
                seconds: 0,
                nanos: 100_000_000,
            }),
            max_backoff: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
        }),
        steps,
        ..Default::default()
    }
}

/// One finished task as the client saw it.
struct Sample {
    latency: Duration,
    queue_wait: Duration,
    succeeded: bool,
}

fn since(from: Option<&prost_types::Timestamp>, to: Option<&prost_types::Timestamp>) -> Duration {
    let nanos = |t: &prost_types::Timestamp| t.seconds as i128 * 1_000_000_000 + t.nanos as i128;
    match (from, to) {
        (Some(from), Some(to)) => {
            Duration::from_nanos((nanos(to) - nanos(from)).clamp(0, u64::MAX as i128) as u64)
        }
        _ => Duration::ZERO,
    }
}

/// Runs `total` tasks of the mix over `sessions` concurrent sessions.
async fn run_tasks(
    client: &SchedulerServiceClient<Channel>,
    site: &str,
    sessions: usize,
    total: usize,
) -> Result<Vec<Sample>, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..sessions {
        let (mut client, next, site) = (client.clone(), Arc::clone(&next), site.to_owned());
        lanes.spawn(async move {
            let mut samples = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return Ok::<_, String>(samples);
                }
                let started = Instant::now();
                let task = client
                    .run_task(pb::RunTaskRequest {
                        task: Some(task(&site, n)),
                    })
                    .await
                    .map_err(|s| format!("RunTask: {s}"))?
                    .into_inner()
                    .task
                    .ok_or("RunTask returned no task")?;
                samples.push(Sample {
                    latency: started.elapsed(),
                    queue_wait: since(task.created_at.as_ref(), task.started_at.as_ref()),
                    succeeded: task.state == pb::TaskState::Succeeded as i32,
                });
            }
        });
    }
    let mut samples = Vec::with_capacity(total);
    while let Some(lane) = lanes.join_next().await {
        samples.extend(lane.map_err(|e| e.to_string())??);
    }
    Ok(samples)
}

/// CPU time (user + system) of `root`'s process tree, including the children it reaped
/// (browsers killed or recycled during the run).
fn tree_cpu(root: i32) -> Duration {
    let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let ticks: u64 = procfs::process_tree(root, -1)
        .iter()
        .filter_map(|p| {
            let cpu = procfs::cpu_ticks(p.pid)?;
            Some(
                cpu.own
                    + if p.pid == root {
                        cpu.reaped_children
                    } else {
                        0
                    },
            )
        })
        .sum();
    Duration::from_secs_f64(ticks as f64 / ticks_per_second)
}

fn tree_memory(root: i32) -> u64 {
    procfs::process_tree(root, -1)
        .iter()
        .filter_map(|p| procfs::process_memory_bytes(p.pid))
        .sum()
}

/// SIGKILLs one of `root`'s Chromium browser processes every [`KILL_EVERY`] until `stop`;
/// returns how many it killed.
async fn kill_browsers(root: i32, stop: CancellationToken) -> usize {
    let mut killed = 0;
    loop {
        tokio::select! {
            () = stop.cancelled() => return killed,
            () = tokio::time::sleep(KILL_EVERY) => {}
        }
        let browser = procfs::all_processes().into_iter().find(|p| {
            p.ppid == root
                // `chromium`, or `chromium-headle` (the headless shell, cut to 15 bytes).
                && std::fs::read_to_string(format!("/proc/{}/comm", p.pid))
                    .is_ok_and(|c| c.trim().starts_with("chromium"))
        });
        if let Some(browser) = browser {
            let pid = nix::unistd::Pid::from_raw(browser.pid);
            if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// One measured run: a fresh `drover up` in `mode`, warmed up, then `total` tasks with faults.
async fn measure(
    mode: Mode,
    sessions: usize,
    total: usize,
    site: &str,
    config_dir: &Path,
) -> Result<String, String> {
    let up_config = config_dir.join(format!("{}.toml", mode.name()));
    let idle_pages = if mode == Mode::Pooled { 10 } else { 0 };
    std::fs::write(
        &up_config,
        format!("[browser_pool]\nidle_pages = {idle_pages}\n"),
    )
    .map_err(|e| e.to_string())?;
    let router = config_dir.join("router.toml");
    let (up, scheduler) = start(
        &[
            "up",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--browsers",
            "2",
            "--pages-per-browser",
            "5",
            "--config",
            &up_config.display().to_string(),
            "--ai-config",
            &router.display().to_string(),
        ],
        "scheduler listening on ",
    )?;
    let root = up.id() as i32;
    let channel = Channel::from_shared(format!("http://{scheduler}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let client = SchedulerServiceClient::new(channel);
    run_tasks(&client, site, sessions, WARM_UP).await?;
    let (memory_before, cpu_before) = (tree_memory(root), tree_cpu(root));
    let stop = CancellationToken::new();
    let killer = tokio::spawn(kill_browsers(root, stop.clone()));
    let started = Instant::now();
    let samples = run_tasks(&client, site, sessions, total).await;
    let elapsed = started.elapsed();
    stop.cancel();
    let kills = killer.await.unwrap_or(0);
    let samples = samples?;
    let cpu = tree_cpu(root).saturating_sub(cpu_before);
    let memory_after = tree_memory(root);
    drop(up);
    let succeeded = samples.iter().filter(|s| s.succeeded).count();
    let latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    let waits: Vec<Duration> = samples.iter().map(|s| s.queue_wait).collect();
    eprintln!(
        "{} × {sessions}: {} tasks in {:.1} s, {kills} browser kills",
        mode.name(),
        samples.len(),
        elapsed.as_secs_f64()
    );
    Ok(format!(
        "| {} | {sessions} | {} | {:.1} | {} | {} | {} | {} | {:.3} | {:.0} → {:.0} ({:+.1}%) | {kills} | {:.2}% |",
        mode.name(),
        samples.len(),
        samples.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(latencies.clone(), 50.0)),
        ms(percentile(latencies, 95.0)),
        ms(percentile(waits.clone(), 50.0)),
        ms(percentile(waits, 95.0)),
        cpu.as_secs_f64() / samples.len().max(1) as f64,
        memory_before as f64 / MIB,
        memory_after as f64 / MIB,
        100.0 * (memory_after as f64 - memory_before as f64) / (memory_before as f64).max(1.0),
        100.0 * succeeded as f64 / samples.len().max(1) as f64,
    ))
}

async fn bench() -> Result<(), String> {
    let full = std::env::args().any(|a| a == "--bench");
    let total: usize = std::env::var("DROVER_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1000 } else { 12 });
    let config_dir =
        std::env::temp_dir().join(format!("drover-bench-mixed-{}", std::process::id()));
    std::fs::create_dir_all(&config_dir).map_err(|e| e.to_string())?;
    let stop_site = CancellationToken::new();
    let site = drover::demo_site::start(
        "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        stop_site.clone(),
    )
    .await
    .map_err(|e| e.to_string())?
    .to_string();
    let (_standin, standin_url) = start(
        &["standin-provider", "--listen", "127.0.0.1:0"],
        "listening on ",
    )?;
    std::fs::write(config_dir.join("router.toml"), router_config(&standin_url))
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for sessions in [3, 10] {
        for mode in [Mode::Pooled, Mode::PagePerTask] {
            rows.push(measure(mode, sessions, total, &site, &config_dir).await?);
        }
    }
    stop_site.cancel();
    let _ = std::fs::remove_dir_all(&config_dir);
    println!("\n## End to end: pooled against page-per-task, with faults\n");
    println!(
        "`drover up` (2 browsers × 5 pages, stand-in AI behind 3 deployments: 10% 500s, 5% 429s, 1 healthy), \
         a browser SIGKILLed every {} s; tasks cycle page+extract+AI / page+extract+screenshot / AI alone, \
         retry policy 4 attempts. {WARM_UP} fault-free warm-up tasks before each run.\n",
        KILL_EVERY.as_secs()
    );
    println!(
        "| mode | sessions | tasks | tasks/s | latency p50 ms | p95 ms | queue wait p50 ms | p95 ms | CPU s/task | memory MiB (growth) | browser kills | succeeded |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    support::exit_code("mixed", bench().await)
}
