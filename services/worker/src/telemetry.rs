//! The worker's metrics, emitted through the `metrics` facade. Every series carries a `kind`
//! label (`browser`, `ai`) because the all-in-one `drover up` runs both workers in one process.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `drover_worker_connected` | gauge (0/1) | `kind` |
//! | `drover_worker_in_flight` | gauge | `kind` |
//! | `drover_worker_assignments_total` | counter | `kind`, `outcome` |
//! | `drover_worker_reconnects_total` | counter | `kind` |
//! | `drover_worker_results_dropped_total` | counter | `kind` |

use drover_api::pb;

/// Gauge: 1 while a welcomed stream is up.
pub const CONNECTED: &str = "drover_worker_connected";
/// Gauge: assignments running now.
pub const IN_FLIGHT: &str = "drover_worker_in_flight";
/// Counter: assignments by how they ended (see [`Outcome`]).
pub const ASSIGNMENTS: &str = "drover_worker_assignments_total";
/// Counter: streams re-established after one was lost.
pub const RECONNECTS: &str = "drover_worker_reconnects_total";
/// Counter: results dropped because the buffer kept while disconnected was full.
pub const RESULTS_DROPPED: &str = "drover_worker_results_dropped_total";

/// How an assignment ended, as the `outcome` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The executor returned outputs.
    Succeeded,
    /// The executor returned an error.
    Failed,
    /// The scheduler cancelled it.
    Cancelled,
    /// Its deadline passed first.
    DeadlineExceeded,
    /// A drain's grace ran out first.
    Drained,
    /// The scheduler no longer knew it, or the worker shut down: no result sent.
    Discarded,
    /// It arrived without credit and was refused.
    Refused,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Drained => "drained",
            Self::Discarded => "discarded",
            Self::Refused => "refused",
        }
    }
}

/// The `kind` label value.
pub(crate) fn kind_label(kind: pb::WorkerKind) -> &'static str {
    match kind {
        pb::WorkerKind::Browser => "browser",
        pb::WorkerKind::Ai => "ai",
        pb::WorkerKind::Unspecified => "unspecified",
    }
}

pub(crate) fn set_connected(kind: &'static str, connected: bool) {
    metrics::gauge!(CONNECTED, "kind" => kind).set(if connected { 1.0 } else { 0.0 });
}

pub(crate) fn set_in_flight(kind: &'static str, in_flight: usize) {
    metrics::gauge!(IN_FLIGHT, "kind" => kind).set(in_flight as f64);
}

pub(crate) fn count_assignment(kind: &'static str, outcome: Outcome) {
    metrics::counter!(ASSIGNMENTS, "kind" => kind, "outcome" => outcome.as_str()).increment(1);
}

pub(crate) fn count_reconnect(kind: &'static str) {
    metrics::counter!(RECONNECTS, "kind" => kind).increment(1);
}

pub(crate) fn count_result_dropped(kind: &'static str) {
    metrics::counter!(RESULTS_DROPPED, "kind" => kind).increment(1);
}
