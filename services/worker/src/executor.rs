//! The seam between the hub stream and the work itself: the [`Executor`] trait the browser pool
//! and the AI router implement, and the [`Progress`] handle a run reports finished steps
//! through. Nothing here touches the network: progress goes into a bounded queue that the
//! stream drains, so an executor never waits on the scheduler.

use std::{future::Future, sync::Arc};

use drover_api::pb;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What runs the work.
pub trait Executor: Send + Sync + 'static {
    /// Runs one assignment's steps. Each finished step's output may be reported through
    /// `progress` as it completes; the returned value is every output of the assignment's steps
    /// in order, or an in-band error (build one with [`drover_api::DroverError::to_pb`]).
    ///
    /// Must stop promptly when `cancel` fires (the scheduler cancelled the assignment, its
    /// deadline passed, or the worker is draining); whatever it returns then is replaced by a
    /// cancellation error. A run that ignores `cancel` is dropped after the configured grace,
    /// so it should release what it holds through drop guards.
    fn run(
        &self,
        assignment: pb::Assignment,
        progress: Progress,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<Vec<pb::StepOutput>, pb::Error>> + Send;

    /// Slots this worker could use right now: at most the configured slots, fewer under
    /// memory pressure or while the executor itself drains. Polled at every heartbeat and
    /// whenever an assignment finishes, so it must be cheap.
    fn capacity(&self) -> u32;

    /// Affinity keys whose sessions this worker holds, for the hello and for results.
    fn session_keys(&self) -> Vec<String>;
}

/// Time left until an assignment's deadline: zero when it has passed or is unset or invalid
/// (the worker itself stops the run at the deadline; executors use this to bound their own
/// waits).
pub fn time_left(assignment_deadline: Option<&prost_types::Timestamp>) -> std::time::Duration {
    assignment_deadline
        .and_then(|at| crate::run::time_until(*at))
        .unwrap_or_default()
}

/// Reports one assignment's finished steps to the scheduler. Cheap to clone; never blocks.
#[derive(Clone, Debug)]
pub struct Progress {
    assignment_id: Arc<str>,
    queue: mpsc::Sender<pb::AssignmentProgress>,
}

impl Progress {
    pub(crate) fn new(
        assignment_id: Arc<str>,
        queue: mpsc::Sender<pb::AssignmentProgress>,
    ) -> Self {
        Self {
            assignment_id,
            queue,
        }
    }

    /// The assignment this handle reports for.
    pub fn assignment_id(&self) -> &str {
        &self.assignment_id
    }

    /// Queues a finished step's output for the scheduler. Returns `false` when it was dropped
    /// because the queue is full (the stream is down or slow): progress is advisory, the result
    /// still carries every output.
    pub fn send(&self, output: pb::StepOutput) -> bool {
        let message = pb::AssignmentProgress {
            assignment_id: self.assignment_id.to_string(),
            output: Some(output),
        };
        match self.queue.try_send(message) {
            Ok(()) => true,
            Err(_) => {
                tracing::debug!(assignment_id = %self.assignment_id, "progress dropped: queue full");
                false
            }
        }
    }
}
