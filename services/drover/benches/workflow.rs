//! How much of a browser + AI workflow's time is orchestration: `drover up` (scheduler, a
//! browser pool, the AI router with its stand-in provider) runs as a separate process; this
//! bench serves the demo site and runs the same workflow many times through `RunTask`:
//! navigate to a product table, extract its rows, ask the AI to summarise them.
//!
//! For each task, **work** is the sum of its steps' own durations as the workers measured
//! them (browser steps in the page; the AI step including the router and the provider), and
//! **orchestration** is everything else the caller waited for: the gRPC calls, queueing,
//! assignment, page acquisition and release, moving outputs between workers. The target
//! (issue #5) is orchestration under 5% of end-to-end time.
//!
//! # Running
//!
//! ```text
//! cargo bench -p drover --bench workflow       # 200 tasks at concurrency 1 and 4
//! cargo test  -p drover --bench workflow       # smoke run, debug
//! ```
//!
//! `DROVER_BENCH_TASKS` (200) overrides the count per concurrency. Numbers are comparable only
//! within one run.

mod support;

use std::time::{Duration, Instant};

use drover_api::pb::{self, scheduler_service_client::SchedulerServiceClient};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use support::{Process, ms, percentile};

/// Starts `drover up` (2 browsers × 4 pages, the stand-in AI) and returns its scheduler's
/// address.
fn start_up() -> Result<(Process, String), String> {
    support::start(
        &[
            "up",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--browsers",
            "2",
            "--pages-per-browser",
            "4",
        ],
        "scheduler listening on ",
    )
}

fn workflow(site: &str) -> pb::TaskSpec {
    let step = |name: &str, kind: pb::step::Kind| pb::Step {
        name: name.into(),
        timeout: None,
        kind: Some(kind),
    };
    pb::TaskSpec {
        tenant: "bench".into(),
        steps: vec![
            step(
                "open",
                pb::step::Kind::Navigate(pb::NavigateStep {
                    url: format!("http://{site}/products"),
                    ..Default::default()
                }),
            ),
            step(
                "rows",
                pb::step::Kind::Extract(pb::ExtractStep {
                    selector: "#products tbody tr".into(),
                    all: true,
                    ..Default::default()
                }),
            ),
            step(
                "summary",
                pb::step::Kind::Chat(pb::ChatSpec {
                    model_group: "default".into(),
                    messages: vec![pb::ChatMessage {
                        role: pb::ChatRole::User as i32,
                        content: "Summarise: ${steps.rows.values}".into(),
                    }],
                    cache: pb::CacheMode::Bypass as i32,
                    ..Default::default()
                }),
            ),
        ],
        ..Default::default()
    }
}

/// One task's end-to-end time and the work inside it.
struct Sample {
    total: Duration,
    work: Duration,
    /// Where the orchestration went, from the task's events (scheduler clock).
    legs: Legs,
}

/// The orchestration of one task split by where it happens. Each leg is measured between two
/// of the task's events (stamped by the scheduler) less the step durations inside it.
#[derive(Default, Clone, Copy)]
struct Legs {
    /// The caller's `RunTask` round trip outside the task's queued→finished span.
    call: Duration,
    /// Queued → assigned to the browser worker.
    dispatch: Duration,
    /// Assigned to the browser worker → its steps recorded, less the browser steps' durations:
    /// two stream hops, page acquire and hand-over, release.
    browser_worker: Duration,
    /// Browser steps recorded → assigned to the AI worker.
    handoff: Duration,
    /// Assigned to the AI worker → the chat step recorded, less the chat step's duration.
    ai_worker: Duration,
    /// Last step recorded → finished.
    finish: Duration,
}

impl Legs {
    const NAMES: [&str; 6] = [
        "call",
        "dispatch",
        "browser worker",
        "hand-off",
        "AI worker",
        "finish",
    ];

    fn get(&self, index: usize) -> Duration {
        [
            self.call,
            self.dispatch,
            self.browser_worker,
            self.handoff,
            self.ai_worker,
            self.finish,
        ][index]
    }
}

fn instant_of(event: &pb::TaskEvent) -> Duration {
    let at = event.at.unwrap_or_default();
    Duration::new(at.seconds.max(0) as u64, at.nanos.max(0) as u32)
}

fn step_duration(output: Option<&pb::StepOutput>) -> Duration {
    output
        .and_then(|o| o.duration.as_ref())
        .map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
        .unwrap_or_default()
}

/// Replays a finished task's events and splits its orchestration into [`Legs`].
async fn legs_of(
    client: &mut SchedulerServiceClient<Channel>,
    task_id: &str,
    total: Duration,
) -> Result<Legs, String> {
    use pb::task_event::Detail;
    let mut events = client
        .watch_task(pb::WatchTaskRequest {
            task_id: task_id.into(),
            after_sequence: 0,
        })
        .await
        .map_err(|s| s.to_string())?
        .into_inner();
    let mut seen = Vec::new();
    while let Some(message) = events.message().await.map_err(|s| s.to_string())? {
        let Some(event) = message.event else { continue };
        let done = matches!(event.detail, Some(Detail::Finished(_)));
        seen.push(event);
        if done {
            break;
        }
    }
    let of_kind = |pick: fn(&Detail) -> bool| -> Vec<&pb::TaskEvent> {
        seen.iter()
            .filter(|e| e.detail.as_ref().is_some_and(pick))
            .collect()
    };
    let queued = *of_kind(|d| matches!(d, Detail::Queued(_)))
        .first()
        .ok_or("no queued event")?;
    let assigned = of_kind(|d| matches!(d, Detail::Assigned(_)));
    let steps = of_kind(|d| matches!(d, Detail::StepCompleted(_)));
    let finished = seen.last().ok_or("no events")?;
    let [browser_assigned, ai_assigned] = assigned[..] else {
        return Err(format!("{} assignments, expected 2", assigned.len()));
    };
    let [_, extracted, chatted] = steps[..] else {
        return Err(format!("{} step events, expected 3", steps.len()));
    };
    let output = |e: &pb::TaskEvent| match &e.detail {
        Some(Detail::StepCompleted(s)) => s.output.clone(),
        _ => None,
    };
    let browser_work: Duration = steps[..2]
        .iter()
        .map(|e| step_duration(output(e).as_ref()))
        .sum();
    let chat_work = step_duration(output(chatted).as_ref());
    let span =
        |from: &pb::TaskEvent, to: &pb::TaskEvent| instant_of(to).saturating_sub(instant_of(from));
    Ok(Legs {
        call: total.saturating_sub(span(queued, finished)),
        dispatch: span(queued, browser_assigned),
        browser_worker: span(browser_assigned, extracted).saturating_sub(browser_work),
        handoff: span(extracted, ai_assigned),
        ai_worker: span(ai_assigned, chatted).saturating_sub(chat_work),
        finish: span(chatted, finished),
    })
}

async fn run_one(
    mut client: SchedulerServiceClient<Channel>,
    spec: pb::TaskSpec,
) -> Result<Sample, String> {
    let started = Instant::now();
    let task = client
        .run_task(pb::RunTaskRequest { task: Some(spec) })
        .await
        .map_err(|s| s.to_string())?
        .into_inner()
        .task
        .ok_or("no task")?;
    let total = started.elapsed();
    if task.state != pb::TaskState::Succeeded as i32 {
        return Err(format!(
            "task {} ended {:?}: {:?}",
            task.id, task.state, task.error
        ));
    }
    let work = task
        .outputs
        .iter()
        .filter_map(|o| o.duration.as_ref())
        .map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
        .sum();
    let legs = legs_of(&mut client, &task.id, total).await?;
    Ok(Sample { total, work, legs })
}

async fn run_at(
    client: &SchedulerServiceClient<Channel>,
    site: &str,
    concurrency: usize,
    tasks: usize,
) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::with_capacity(tasks);
    let per = tasks.div_ceil(concurrency);
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let spec = workflow(site);
        lanes.spawn(async move {
            let mut lane = Vec::with_capacity(per);
            for _ in 0..per {
                lane.push(run_one(client.clone(), spec.clone()).await?);
            }
            Ok::<_, String>(lane)
        });
    }
    while let Some(lane) = lanes.join_next().await {
        samples.extend(lane.map_err(|e| e.to_string())??);
    }
    Ok(samples)
}

async fn bench() -> Result<(), String> {
    let full = std::env::args().any(|a| a == "--bench");
    let tasks: usize = std::env::var("DROVER_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 200 } else { 8 });
    let stop_site = CancellationToken::new();
    let site = drover::demo_site::start(
        "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        stop_site.clone(),
    )
    .await
    .map_err(|e| e.to_string())?
    .to_string();
    let (_up, scheduler) = start_up()?;
    let channel = Channel::from_shared(format!("http://{scheduler}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let client = SchedulerServiceClient::new(channel);
    run_at(&client, &site, 4, 16).await?; // warm-up: pages, contexts, connections
    println!("\n## workflow orchestration share (drover up: 2 browsers × 4 pages, stand-in AI)\n");
    println!(
        "Task: navigate → extract 5 rows → chat summary, through RunTask. Work = the steps' own durations; orchestration = end-to-end − work.\n"
    );
    println!(
        "| concurrency | tasks | end-to-end p50 ms | p95 ms | work p50 ms | orchestration p50 ms | p95 ms | orchestration share (mean) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut breakdowns = Vec::new();
    for concurrency in [1, 4] {
        let samples = run_at(&client, &site, concurrency, tasks).await?;
        let totals: Vec<Duration> = samples.iter().map(|s| s.total).collect();
        let works: Vec<Duration> = samples.iter().map(|s| s.work).collect();
        let overheads: Vec<Duration> = samples
            .iter()
            .map(|s| s.total.saturating_sub(s.work))
            .collect();
        let total_sum: Duration = totals.iter().sum();
        let overhead_sum: Duration = overheads.iter().sum();
        println!(
            "| {concurrency} | {} | {} | {} | {} | {} | {} | {:.1}% |",
            samples.len(),
            ms(percentile(totals.clone(), 50.0)),
            ms(percentile(totals, 95.0)),
            ms(percentile(works, 50.0)),
            ms(percentile(overheads.clone(), 50.0)),
            ms(percentile(overheads, 95.0)),
            100.0 * overhead_sum.as_secs_f64() / total_sum.as_secs_f64().max(f64::EPSILON),
        );
        breakdowns.push((concurrency, samples));
    }
    println!(
        "\nWhere the orchestration goes (mean ms per task; legs between the task's events, less step time):\n"
    );
    println!("| concurrency | {} |", Legs::NAMES.join(" | "));
    println!("|---:|{}", "---:|".repeat(Legs::NAMES.len()));
    for (concurrency, samples) in breakdowns {
        let means: Vec<String> = (0..Legs::NAMES.len())
            .map(|leg| {
                let sum: Duration = samples.iter().map(|s| s.legs.get(leg)).sum();
                format!(
                    "{:.2}",
                    sum.as_secs_f64() * 1000.0 / samples.len().max(1) as f64
                )
            })
            .collect();
        println!("| {concurrency} | {} |", means.join(" | "));
    }
    stop_site.cancel();
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    support::exit_code("workflow", bench().await)
}
