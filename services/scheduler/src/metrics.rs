//! The scheduler's metrics, named in one place (the `/metrics` endpoint serves them).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `drover_scheduler_tasks_submitted_total` | counter | |
//! | `drover_scheduler_tasks_rejected_total` | counter | `reason` |
//! | `drover_scheduler_tasks_finished_total` | counter | `state` |
//! | `drover_scheduler_task_attempts` | histogram (attempts a finished task took) | |
//! | `drover_scheduler_queue_depth` | gauge | `kind` (browser, ai) |
//! | `drover_scheduler_queue_wait_seconds` | histogram (schedule-to-start) | |
//! | `drover_scheduler_assignments_total` | counter | |
//! | `drover_scheduler_requeues_total` | counter | `reason` |
//! | `drover_scheduler_stale_results_total` | counter (results of superseded assignments) | |
//! | `drover_scheduler_workers` | gauge | |
//! | `drover_scheduler_workers_quarantined_total` | counter | |

use std::time::Duration;

use drover_api::pb;

use crate::queue::FairQueue;

pub(crate) fn submitted() {
    metrics::counter!("drover_scheduler_tasks_submitted_total").increment(1);
}

pub(crate) fn rejected(reason: &'static str) {
    metrics::counter!("drover_scheduler_tasks_rejected_total", "reason" => reason).increment(1);
}

pub(crate) fn finished(state: pb::TaskState, attempts: u32) {
    let state = match state {
        pb::TaskState::Succeeded => "succeeded",
        pb::TaskState::Failed => "failed",
        pb::TaskState::Cancelled => "cancelled",
        pb::TaskState::Expired => "expired",
        _ => "other",
    };
    metrics::counter!("drover_scheduler_tasks_finished_total", "state" => state).increment(1);
    metrics::histogram!("drover_scheduler_task_attempts").record(f64::from(attempts));
}

pub(crate) fn queue_depths(browser: &FairQueue, ai: &FairQueue) {
    metrics::gauge!("drover_scheduler_queue_depth", "kind" => "browser").set(browser.len() as f64);
    metrics::gauge!("drover_scheduler_queue_depth", "kind" => "ai").set(ai.len() as f64);
}

pub(crate) fn queue_wait(waited: Duration) {
    metrics::histogram!("drover_scheduler_queue_wait_seconds").record(waited.as_secs_f64());
}

pub(crate) fn assigned() {
    metrics::counter!("drover_scheduler_assignments_total").increment(1);
}

pub(crate) fn requeued(reason: &'static str) {
    metrics::counter!("drover_scheduler_requeues_total", "reason" => reason).increment(1);
}

pub(crate) fn stale_result() {
    metrics::counter!("drover_scheduler_stale_results_total").increment(1);
}

pub(crate) fn workers(count: usize) {
    metrics::gauge!("drover_scheduler_workers").set(count as f64);
}

pub(crate) fn quarantined() {
    metrics::counter!("drover_scheduler_workers_quarantined_total").increment(1);
}
