//! `drover demo`: Drover's main job end to end on one machine. It serves the example site
//! ([`crate::demo_site`]) on 127.0.0.1:50070, starts `drover up` as a child process (the
//! stand-in AI provider answers, labelled as such), runs the workflows in `examples/`
//! (table → AI summary; form fill + screenshot; sign in, then reuse the session), prints each
//! result and a one-screen summary (tasks, p50/p95 latency, queue wait), and stops
//! everything: `drover up` drains and closes its browsers, the site stops.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use drover_api::pb::{self, scheduler_service_client::SchedulerServiceClient};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::{display, task_file};

/// `drover demo --help`.
pub const HELP: &str = "drover demo: run the example workflows end to end

usage: drover demo [--examples DIR]

Serves the example site on 127.0.0.1:50070 (the address the examples use), starts
`drover up` (scheduler, one browser, the AI router with its stand-in provider), runs every
examples/*.yaml (03-log-in before 04-reuse-session), prints the results and a summary, then
stops everything. `drover demo-site` serves the site alone, for `drover submit`.";

/// Where the examples expect the site.
pub const SITE: &str = "127.0.0.1:50070";

/// How long one example may take.
const EXAMPLE_LIMIT: Duration = Duration::from_secs(120);

/// Runs `drover demo` with `args` (after `demo`).
pub async fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let examples = match args {
        [] => PathBuf::from("examples"),
        [flag, dir] if flag == "--examples" => PathBuf::from(dir),
        _ => {
            eprintln!("drover demo: unknown arguments {args:?} (see --help)");
            return ExitCode::from(2);
        }
    };
    match demo(&examples).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(why) => {
            eprintln!("drover demo: {why}");
            ExitCode::FAILURE
        }
    }
}

/// `drover up`, started as a child and stopped with SIGTERM.
struct Up {
    child: Child,
}

impl Up {
    fn start() -> Result<(Self, String), String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find drover itself: {e}"))?;
        let mut child = Command::new(exe)
            .args([
                "up",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "off",
                "--browsers",
                "1",
                "--pages-per-browser",
                "4",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start drover up: {e}"))?;
        let stdout = child.stdout.take().ok_or("drover up has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(
                    "drover up stopped before it was ready (see its messages above)".into(),
                );
            };
            println!("  | {line}");
            if let Some((_, addr)) = line.split_once("scheduler listening on ") {
                break addr.trim().to_owned();
            }
        };
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                println!("  | {line}");
            }
        });
        Ok((Self { child }, address))
    }

    /// SIGTERM, then wait (bounded); true when it exited 0.
    fn stop(mut self) -> bool {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(90);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return false;
                }
            }
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The example files, in name order.
fn example_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no example files in {}", dir.display()));
    }
    Ok(files)
}

/// One finished example.
struct Ran {
    name: String,
    task: pb::Task,
    latency: Duration,
}

async fn run_one(
    client: &mut SchedulerServiceClient<Channel>,
    name: String,
    spec: pb::TaskSpec,
) -> Result<Ran, String> {
    let started = Instant::now();
    let mut request = tonic::Request::new(pb::RunTaskRequest { task: Some(spec) });
    request.set_timeout(EXAMPLE_LIMIT);
    let task = client
        .run_task(request)
        .await
        .map_err(|s| format!("{name}: {}", crate::client::describe_status(&s)))?
        .into_inner()
        .task
        .ok_or_else(|| format!("{name}: the scheduler answered without the task"))?;
    Ok(Ran {
        name,
        task,
        latency: started.elapsed(),
    })
}

async fn demo(examples: &Path) -> Result<bool, String> {
    let files = example_files(examples)?;
    let mut tasks = Vec::new();
    for file in &files {
        let loaded = task_file::load(file).map_err(|e| e.to_string())?;
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (i, task) in loaded.into_iter().enumerate() {
            let name = if i == 0 {
                stem.clone()
            } else {
                format!("{stem}[{i}]")
            };
            tasks.push((name, task.spec));
        }
    }
    let stop_site = CancellationToken::new();
    let site = crate::demo_site::start(
        SITE.parse().map_err(|e| format!("{SITE}: {e}"))?,
        stop_site.clone(),
    )
    .await
    .map_err(|e| format!("cannot serve the example site on {SITE}: {e}"))?;
    println!("drover demo: example site on http://{site}");
    println!("drover demo: starting drover up (scheduler, one browser, AI router)…");
    let (up, scheduler) = Up::start()?;
    let outcome = run_examples(&scheduler, tasks).await;
    println!("drover demo: stopping drover up…");
    let clean = up.stop();
    stop_site.cancel();
    let ran = outcome?;
    print_report(&ran);
    if clean {
        println!("drover demo: everything stopped cleanly (drover up exited 0, browsers closed).");
    } else {
        println!("drover demo: drover up did not stop cleanly.");
    }
    let all_ok = ran
        .iter()
        .all(|r| r.task.state == pb::TaskState::Succeeded as i32);
    Ok(all_ok && clean)
}

async fn run_examples(
    scheduler: &str,
    tasks: Vec<(String, pb::TaskSpec)>,
) -> Result<Vec<Ran>, String> {
    let client = crate::client::connect(&format!("http://{scheduler}"))
        .await
        .map_err(|e| e.message)?;
    // Examples that reuse a session run after the ones that create it: everything whose
    // affinity key was used by an earlier file waits for the first wave.
    let mut first_wave = Vec::new();
    let mut second_wave = Vec::new();
    let mut keys = std::collections::HashSet::new();
    for (name, spec) in tasks {
        if spec.affinity_key.is_empty() || keys.insert(spec.affinity_key.clone()) {
            first_wave.push((name, spec));
        } else {
            second_wave.push((name, spec));
        }
    }
    let mut ran = Vec::new();
    for wave in [first_wave, second_wave] {
        let mut running = tokio::task::JoinSet::new();
        for (name, spec) in wave {
            let mut client = client.clone();
            println!("drover demo: running {name}");
            running.spawn(async move { run_one(&mut client, name, spec).await });
        }
        while let Some(done) = running.join_next().await {
            ran.push(done.map_err(|e| e.to_string())??);
        }
    }
    ran.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ran)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

fn print_report(ran: &[Ran]) {
    println!();
    for r in ran {
        let state = display::state_name(r.task.state);
        println!(
            "== {} — {state} in {}",
            r.name,
            display::duration(r.latency)
        );
        if let Some(error) = &r.task.error {
            println!("   error: {}", display::error_line(error, 200));
        }
        for output in &r.task.outputs {
            let took = output
                .duration
                .as_ref()
                .and_then(display::from_pb_duration)
                .map(display::duration)
                .unwrap_or_default();
            println!(
                "   {:<10} {:>7}  {}",
                output.step,
                took,
                display::output_summary(output)
            );
        }
    }
    let mut latencies: Vec<Duration> = ran.iter().map(|r| r.latency).collect();
    latencies.sort_unstable();
    let mut waits: Vec<Duration> = ran
        .iter()
        .filter_map(|r| display::between(r.task.created_at.as_ref(), r.task.started_at.as_ref()))
        .collect();
    waits.sort_unstable();
    let succeeded = ran
        .iter()
        .filter(|r| r.task.state == pb::TaskState::Succeeded as i32)
        .count();
    println!();
    println!(
        "{}",
        display::table(
            &[
                "tasks",
                "succeeded",
                "latency p50",
                "latency p95",
                "queue wait p50",
                "queue wait p95"
            ],
            &[vec![
                ran.len().to_string(),
                succeeded.to_string(),
                display::duration(percentile(&latencies, 50.0)),
                display::duration(percentile(&latencies, 95.0)),
                display::duration(percentile(&waits, 50.0)),
                display::duration(percentile(&waits, 95.0)),
            ]],
        )
    );
}
