//! `drover submit FILE… [--wait]`: reads every task file first (nothing is submitted if one
//! is bad), submits each task and prints `ID  SOURCE` per task on stdout. With `--wait` it
//! follows every task's `WatchTask` stream, keeps one progress line on stderr (rewritten in
//! place on a terminal, a line per change otherwise), then prints a table (task, file,
//! state, duration, attempts, first error) and exits 1 if any task did not succeed.

use std::{
    collections::BTreeSet,
    io::{IsTerminal, Write as _},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use drover_api::pb;
use tokio::{sync::mpsc, time::Instant};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::{
    client::{CommandError, connect, describe_status},
    display, task_file,
};

type Client = pb::scheduler_service_client::SchedulerServiceClient<Channel>;

/// How often a broken watch stream is reopened before the task is reported as unknown.
const WATCH_RETRIES: u32 = 5;

/// Runs `drover submit` with `args` (without `--scheduler`).
pub async fn run(scheduler: &str, args: &[String]) -> Result<ExitCode, CommandError> {
    let mut wait = false;
    let mut files = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--wait" => wait = true,
            flag if flag.starts_with("--") => {
                return Err(CommandError::usage(format!("unknown flag {flag:?}")));
            }
            file => files.push(PathBuf::from(file)),
        }
    }
    if files.is_empty() {
        return Err(CommandError::usage(
            "usage: drover submit FILE... [--wait] [--scheduler URL]",
        ));
    }
    // Every file is read before anything is submitted, and every problem is reported.
    let mut tasks = Vec::new();
    let mut problems = Vec::new();
    for file in &files {
        match task_file::load(file) {
            Ok(loaded) => tasks.extend(loaded),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(CommandError::usage(problems.join("\n")));
    }
    let mut client = connect(scheduler).await?;
    let mut submitted = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let answer = client
            .submit_task(pb::SubmitTaskRequest {
                task: Some(task.spec.clone()),
            })
            .await;
        match answer {
            Ok(answer) => {
                let answer = answer.into_inner();
                let note = if answer.created {
                    ""
                } else {
                    "  (already submitted: same idempotency key)"
                };
                println!("{}  {}{note}", answer.task_id, task.source);
                submitted.push(Followed::new(answer.task_id, task));
            }
            Err(status) => {
                refused += 1;
                eprintln!(
                    "drover submit: {}: refused: {}",
                    task.source,
                    describe_status(&status)
                );
            }
        }
    }
    let _ = std::io::stdout().flush();
    if !wait {
        return Ok(if refused > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let all_succeeded = follow(client, &mut submitted).await;
    print!("{}", result_table(&submitted));
    Ok(if refused == 0 && all_succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A submitted task as `--wait` follows it.
struct Followed {
    id: String,
    source: String,
    steps: usize,
    state: i32,
    steps_done: BTreeSet<u32>,
    /// The first error seen: a requeue's cause, or the final error.
    first_error: Option<pb::Error>,
    task: Option<pb::Task>,
    /// Why following it failed, if it did.
    lost: Option<String>,
}

impl Followed {
    fn new(id: String, task: task_file::LoadedTask) -> Self {
        Self {
            id,
            source: task.source,
            steps: task.spec.steps.len(),
            state: pb::TaskState::Queued as i32,
            steps_done: BTreeSet::new(),
            first_error: None,
            task: None,
            lost: None,
        }
    }

    fn ended(&self) -> bool {
        display::is_terminal(self.state) || self.lost.is_some()
    }
}

/// What a watcher tells the display.
enum Update {
    Event(usize, pb::TaskEvent),
    Lost(usize, String),
}

/// Follows every task to its end, drawing progress; true if all succeeded.
async fn follow(client: Client, tasks: &mut [Followed]) -> bool {
    let (tx, mut rx) = mpsc::channel(256);
    for (index, task) in tasks.iter().enumerate() {
        tokio::spawn(watch_one(
            client.clone(),
            index,
            task.id.clone(),
            tx.clone(),
        ));
    }
    drop(tx);
    let mut progress = Progress::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    while !tasks.iter().all(Followed::ended) {
        tokio::select! {
            update = rx.recv() => match update {
                Some(Update::Event(index, event)) => apply(&mut tasks[index], event),
                Some(Update::Lost(index, why)) => tasks[index].lost = Some(why),
                None => break,
            },
            _ = tick.tick() => {}
        }
        progress.draw(tasks);
    }
    progress.finish();
    // The records, for attempts and times (the events carry neither whole).
    let mut client = client;
    for task in tasks.iter_mut() {
        let record = client
            .get_task(pb::GetTaskRequest {
                task_id: task.id.clone(),
                omit_outputs: true,
            })
            .await;
        match record {
            Ok(record) => {
                if let Some(record) = record.into_inner().task {
                    task.state = record.state;
                    if task.first_error.is_none() {
                        task.first_error = record.error.clone();
                    }
                    task.task = Some(record);
                }
            }
            Err(status) if task.lost.is_none() => task.lost = Some(describe_status(&status)),
            Err(_) => {}
        }
    }
    tasks
        .iter()
        .all(|t| t.state == pb::TaskState::Succeeded as i32)
}

fn apply(task: &mut Followed, event: pb::TaskEvent) {
    use pb::task_event::Detail;
    task.state = event.state;
    match event.detail {
        Some(Detail::StepCompleted(step)) => {
            if let Some(output) = step.output {
                task.steps_done.insert(output.index);
            }
        }
        Some(Detail::Requeued(requeued)) if task.first_error.is_none() => {
            task.first_error = requeued.cause;
        }
        Some(Detail::Finished(finished)) if task.first_error.is_none() => {
            task.first_error = finished.error;
        }
        _ => {}
    }
}

/// Watches one task until it ends, reopening a broken stream after the last event seen.
async fn watch_one(mut client: Client, index: usize, id: String, tx: mpsc::Sender<Update>) {
    let mut after = 0;
    let mut failures = 0;
    loop {
        let opened = client
            .watch_task(pb::WatchTaskRequest {
                task_id: id.clone(),
                after_sequence: after,
            })
            .await;
        let why = match opened {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                let mut why = "the watch stream ended early".to_owned();
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(pb::WatchTaskResponse { event: Some(event) }) => {
                            failures = 0;
                            after = after.max(event.sequence);
                            let terminal = display::is_terminal(event.state);
                            if tx.send(Update::Event(index, event)).await.is_err() || terminal {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(status) => {
                            why = describe_status(&status);
                            break;
                        }
                    }
                }
                why
            }
            Err(status) if status.code() == tonic::Code::NotFound => {
                let _ = tx.send(Update::Lost(index, describe_status(&status))).await;
                return;
            }
            Err(status) => describe_status(&status),
        };
        failures += 1;
        if failures > WATCH_RETRIES {
            let _ = tx.send(Update::Lost(index, why)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(failures))).await;
    }
}

/// The one progress line on stderr.
struct Progress {
    started: Instant,
    terminal: bool,
    last: String,
}

impl Progress {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            last: String::new(),
        }
    }

    fn draw(&mut self, tasks: &[Followed]) {
        let line = progress_line(tasks);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let elapsed = display::duration(self.started.elapsed());
            let _ = write!(err, "\r\x1b[2K{line} [{elapsed}]");
        } else if line != self.last {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
        self.last = line;
    }

    fn finish(&self) {
        if self.terminal && !self.last.is_empty() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// `waiting for 3 tasks: 1 queued, 1 running, 1 succeeded; steps 4/9`.
fn progress_line(tasks: &[Followed]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for task in tasks {
        let name = if task.lost.is_some() {
            "unknown".to_owned()
        } else {
            display::state_name(task.state)
        };
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    let states: Vec<String> = counts.iter().map(|(n, c)| format!("{c} {n}")).collect();
    let done: usize = tasks.iter().map(|t| t.steps_done.len()).sum();
    let total: usize = tasks.iter().map(|t| t.steps).sum();
    format!(
        "waiting for {} tasks: {}; steps {done}/{total}",
        tasks.len(),
        states.join(", ")
    )
}

/// The result table `--wait` ends with.
fn result_table(tasks: &[Followed]) -> String {
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let record = t.task.as_ref();
            let took = record
                .and_then(|r| display::between(r.created_at.as_ref(), r.finished_at.as_ref()))
                .map(display::duration)
                .unwrap_or_else(|| "-".to_owned());
            let attempts = record
                .map(|r| r.attempt.to_string())
                .unwrap_or_else(|| "-".to_owned());
            let error = match (&t.lost, &t.first_error) {
                (Some(lost), _) => format!("not followed: {}", display::clip(lost, 100)),
                (None, Some(error)) => display::error_line(error, 100),
                (None, None) => "-".to_owned(),
            };
            vec![
                t.id.clone(),
                t.source.clone(),
                display::state_name(t.state),
                took,
                attempts,
                error,
            ]
        })
        .collect();
    display::table(
        &[
            "TASK",
            "FILE",
            "STATE",
            "DURATION",
            "ATTEMPTS",
            "FIRST ERROR",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn followed(state: pb::TaskState, steps_done: &[u32]) -> Followed {
        Followed {
            id: "t".into(),
            source: "f.yaml".into(),
            steps: 2,
            state: state as i32,
            steps_done: steps_done.iter().copied().collect(),
            first_error: None,
            task: None,
            lost: None,
        }
    }

    #[test]
    fn the_progress_line_counts_states_and_steps() {
        let tasks = [
            followed(pb::TaskState::Running, &[0]),
            followed(pb::TaskState::Running, &[]),
            followed(pb::TaskState::Succeeded, &[0, 1]),
        ];
        assert_eq!(
            progress_line(&tasks),
            "waiting for 3 tasks: 2 running, 1 succeeded; steps 3/6"
        );
    }

    #[test]
    fn the_table_shows_the_first_error() {
        let mut task = followed(pb::TaskState::Failed, &[]);
        task.first_error = Some(pb::Error {
            reason: pb::ErrorReason::StepFailed as i32,
            message: "no such element".into(),
            step: "table".into(),
            ..Default::default()
        });
        let text = result_table(&[task]);
        assert!(
            text.contains("t     f.yaml  failed  -         -         STEP_FAILED: no such element (step table)"),
            "{text}"
        );
    }
}
