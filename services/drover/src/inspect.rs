//! The client commands that look at or act on tasks already submitted, and at the cluster:
//! `drover watch ID` (events as they come), `drover get ID` (state and outputs summarised),
//! `drover cancel ID [--reason TEXT]` and `drover status` (workers, slots, credit, health and
//! queue depth per priority). Each takes `--scheduler URL` (see [`crate::client`]).

use std::{fmt::Write as _, process::ExitCode};

use drover_api::pb;
use tokio_stream::StreamExt;

use crate::{
    client::{CommandError, connect},
    display,
};

/// `drover watch ID`: prints each event until the task ends; exits 0 if it succeeded.
pub async fn watch(scheduler: &str, args: &[String]) -> Result<ExitCode, CommandError> {
    let id = one_id("watch", args)?;
    let mut client = connect(scheduler).await?;
    let mut events = client
        .watch_task(pb::WatchTaskRequest {
            task_id: id.clone(),
            after_sequence: 0,
        })
        .await?
        .into_inner();
    let mut last_state = pb::TaskState::Unspecified as i32;
    while let Some(item) = events.next().await {
        let Some(event) = item?.event else { continue };
        println!("{}", display::event_line(&event));
        last_state = event.state;
    }
    if !display::is_terminal(last_state) {
        // The stream ended early (a scheduler restart, say): the record says where it is.
        let task = get_task(scheduler, &id, true).await?;
        last_state = task.state;
        println!("{id}: {}", display::state_name(last_state));
    }
    Ok(exit_for(last_state))
}

/// `drover get ID`: the task's state, times, error and outputs, one line each.
pub async fn get(scheduler: &str, args: &[String]) -> Result<ExitCode, CommandError> {
    let id = one_id("get", args)?;
    let task = get_task(scheduler, &id, false).await?;
    print!("{}", describe_task(&task));
    Ok(ExitCode::SUCCESS)
}

/// `drover cancel ID [--reason TEXT]`: prints the task's state after the call.
pub async fn cancel(scheduler: &str, args: &[String]) -> Result<ExitCode, CommandError> {
    let mut reason = String::new();
    let mut ids = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--reason" => {
                reason = it
                    .next()
                    .cloned()
                    .ok_or_else(|| CommandError::usage("--reason needs a value"))?;
            }
            flag if flag.starts_with("--") => {
                return Err(CommandError::usage(format!("unknown flag {flag:?}")));
            }
            id => ids.push(id.to_owned()),
        }
    }
    let id = one_id("cancel", &ids)?;
    let mut client = connect(scheduler).await?;
    let state = client
        .cancel_task(pb::CancelTaskRequest {
            task_id: id.clone(),
            reason,
        })
        .await?
        .into_inner()
        .state;
    println!("{id}: {}", display::state_name(state));
    Ok(ExitCode::SUCCESS)
}

/// `drover status`: every worker, tasks running, and the queue per priority.
pub async fn status(scheduler: &str, args: &[String]) -> Result<ExitCode, CommandError> {
    if let Some(extra) = args.first() {
        return Err(CommandError::usage(format!(
            "unexpected argument {extra:?}"
        )));
    }
    let mut client = connect(scheduler).await?;
    let status = client
        .get_cluster_status(pb::GetClusterStatusRequest {})
        .await?
        .into_inner();
    print!("{}", describe_status(scheduler, &status));
    Ok(ExitCode::SUCCESS)
}

fn describe_status(scheduler: &str, status: &pb::GetClusterStatusResponse) -> String {
    let mut out = format!(
        "scheduler {scheduler}: {} workers, {} tasks running\n",
        status.workers.len(),
        status.running
    );
    if !status.workers.is_empty() {
        let rows: Vec<Vec<String>> = status
            .workers
            .iter()
            .map(|w| {
                let state = if w.draining {
                    "draining"
                } else if w.quarantined {
                    "quarantined"
                } else {
                    "ready"
                };
                vec![
                    w.worker_id.clone(),
                    display::kind_name(w.kind),
                    w.slots.to_string(),
                    w.credit.to_string(),
                    w.in_flight.to_string(),
                    format!("{:.2}", w.health),
                    state.to_owned(),
                    w.connected_for
                        .as_ref()
                        .and_then(display::from_pb_duration)
                        .map(display::duration)
                        .unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&display::table(
            &[
                "WORKER",
                "KIND",
                "SLOTS",
                "CREDIT",
                "IN-FLIGHT",
                "HEALTH",
                "STATE",
                "CONNECTED",
            ],
            &rows,
        ));
    }
    let queue: Vec<String> = status
        .queue
        .iter()
        .map(|q| format!("{} {}", display::priority_name(q.priority), q.queued))
        .collect();
    let queue = if queue.is_empty() {
        "empty".to_owned()
    } else {
        queue.join(", ")
    };
    let _ = writeln!(out, "queue: {queue}");
    out
}

/// Reads one task.
pub async fn get_task(
    scheduler: &str,
    id: &str,
    omit_outputs: bool,
) -> Result<pb::Task, CommandError> {
    let mut client = connect(scheduler).await?;
    client
        .get_task(pb::GetTaskRequest {
            task_id: id.to_owned(),
            omit_outputs,
        })
        .await?
        .into_inner()
        .task
        .ok_or_else(|| CommandError::failed(format!("the scheduler sent no task for {id}")))
}

/// A task as `drover get` prints it.
pub fn describe_task(task: &pb::Task) -> String {
    let mut out = format!("task {}: {}", task.id, display::state_name(task.state));
    if task.attempt > 0 {
        let _ = write!(out, " (attempt {})", task.attempt);
    }
    if !task.worker_id.is_empty() {
        let _ = write!(out, " on {}", task.worker_id);
    }
    out.push('\n');
    if let Some(spec) = &task.spec {
        if !spec.tenant.is_empty() {
            let _ = writeln!(out, "tenant: {}", spec.tenant);
        }
        let _ = writeln!(out, "steps: {}", spec.steps.len());
    }
    for (label, at) in [
        ("created", &task.created_at),
        ("started", &task.started_at),
        ("finished", &task.finished_at),
    ] {
        if let Some(at) = at {
            let _ = writeln!(out, "{label}: {}", display::timestamp(at));
        }
    }
    if let Some(took) = display::between(task.created_at.as_ref(), task.finished_at.as_ref()) {
        let _ = writeln!(out, "duration: {}", display::duration(took));
    }
    if let Some(error) = &task.error {
        let _ = writeln!(out, "error: {}", display::error_line(error, 400));
    }
    if !task.outputs.is_empty() {
        out.push_str("outputs:\n");
        for output in &task.outputs {
            let _ = writeln!(
                out,
                "  {} ({}): {}",
                output.step,
                display::output_kind(output),
                display::output_summary(output)
            );
        }
    }
    out
}

fn one_id(command: &str, args: &[String]) -> Result<String, CommandError> {
    match args {
        [id] if !id.starts_with("--") => Ok(id.clone()),
        [] => Err(CommandError::usage(format!(
            "usage: drover {command} TASK_ID"
        ))),
        _ => Err(CommandError::usage(format!(
            "drover {command} takes one task id, got {args:?}"
        ))),
    }
}

/// 0 for a task that succeeded, 1 for any other end.
pub fn exit_for(state: i32) -> ExitCode {
    if state == pb::TaskState::Succeeded as i32 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lists_workers_and_the_queue() {
        let status = pb::GetClusterStatusResponse {
            workers: vec![pb::WorkerStatus {
                worker_id: "w1".into(),
                kind: pb::WorkerKind::Ai as i32,
                slots: 4,
                credit: 3,
                in_flight: 1,
                health: 1.0,
                ..Default::default()
            }],
            queue: vec![pb::QueueDepth {
                priority: pb::Priority::Normal as i32,
                queued: 7,
            }],
            running: 1,
        };
        let text = describe_status("http://s", &status);
        assert!(text.contains("1 workers, 1 tasks running"), "{text}");
        assert!(
            text.contains("w1      ai    4      3       1          1.00    ready"),
            "{text}"
        );
        assert!(text.contains("queue: normal 7"), "{text}");
    }
}
