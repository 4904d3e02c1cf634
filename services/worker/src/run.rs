//! One assignment's life on this worker: spawn the executor under the assignment's own
//! cancellation token and deadline, wait for it (giving a stopped run a bounded grace), and
//! turn what happened into the `AssignmentResult` the scheduler gets. The result goes to the
//! outbox in [`crate::state`], never straight to the network, so a run never waits on the
//! stream and a result produced while disconnected is sent after the next welcome.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use drover_api::{DroverError, ErrorReason, pb};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    executor::{Executor, Progress},
    state::{Shared, StopCause},
    telemetry::{self, Outcome},
};

/// Starts `assignment` (already registered under `cancel` in the run table).
pub(crate) fn spawn<E: Executor>(
    shared: &Arc<Shared>,
    executor: &Arc<E>,
    tracker: &TaskTracker,
    assignment: pb::Assignment,
    cancel: CancellationToken,
) {
    let shared = Arc::clone(shared);
    let executor = Arc::clone(executor);
    let id: Arc<str> = Arc::from(assignment.assignment_id.as_str());
    let time_left = assignment.deadline.and_then(time_until);
    tracker.spawn(async move {
        let progress = Progress::new(Arc::clone(&id), shared.progress_tx.clone());
        let run = executor.run(assignment, progress, cancel.clone());
        tokio::pin!(run);
        let deadline = async {
            match time_left {
                Some(left) => tokio::time::sleep(left).await,
                None => std::future::pending().await,
            }
        };
        let returned = tokio::select! {
            outcome = &mut run => Some(outcome),
            () = cancel.cancelled() => None,
            () = deadline => {
                shared.stop_run(&id, StopCause::Deadline);
                None
            }
        };
        if returned.is_none() {
            // Stopped: the executor saw the token; give it a bounded time to release what it
            // holds, then drop it. Its answer is replaced by the stop's error either way.
            if tokio::time::timeout(shared.config.cancel_grace, &mut run)
                .await
                .is_err()
            {
                tracing::warn!(assignment_id = %id, "executor ignored cancellation; dropped");
            }
        }
        let cause = shared.finish_run(&id);
        let (outcome, label) = settle(returned, cause);
        telemetry::count_assignment(shared.kind, label);
        let Some(outcome) = outcome else {
            tracing::debug!(assignment_id = %id, "result discarded");
            return;
        };
        shared.push_result(pb::AssignmentResult {
            assignment_id: id.to_string(),
            outcome: Some(outcome),
            session_keys: executor.session_keys(),
        });
    });
}

/// The result a run ends with and its metrics label; `None` when no result is sent. A stop
/// overrides whatever the executor returned.
fn settle(
    returned: Option<Result<Vec<pb::StepOutput>, pb::Error>>,
    cause: Option<StopCause>,
) -> (Option<pb::assignment_result::Outcome>, Outcome) {
    use pb::assignment_result::Outcome as Wire;
    let error =
        |reason, message: &str| Some(Wire::Error(DroverError::new(reason, message).to_pb()));
    match (cause, returned) {
        (Some(StopCause::Discard), _) => (None, Outcome::Discarded),
        (Some(StopCause::Hub(reason)), _) => {
            let message = reason
                .map(|r| r.message)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "cancelled by the scheduler".to_owned());
            (error(ErrorReason::Cancelled, &message), Outcome::Cancelled)
        }
        (Some(StopCause::Deadline), _) => (
            error(
                ErrorReason::DeadlineExceeded,
                "the task's deadline passed while the assignment ran",
            ),
            Outcome::DeadlineExceeded,
        ),
        // DRAINING, not CANCELLED: the task itself was not cancelled, so the scheduler should
        // run it elsewhere.
        (Some(StopCause::Drain), _) => (
            error(
                ErrorReason::Draining,
                "the worker drained before the assignment finished",
            ),
            Outcome::Drained,
        ),
        (None, Some(Ok(outputs))) => (
            Some(Wire::Outputs(pb::AssignmentOutputs { outputs })),
            Outcome::Succeeded,
        ),
        (None, Some(Err(error))) => (Some(Wire::Error(error)), Outcome::Failed),
        // The token fired without a recorded cause: the worker is shutting down.
        (None, None) => (None, Outcome::Discarded),
    }
}

/// Time until a wire timestamp; zero if it has passed, `None` if it is not a valid time.
pub(crate) fn time_until(at: prost_types::Timestamp) -> Option<Duration> {
    let at = SystemTime::try_from(at).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(outcome: &Option<pb::assignment_result::Outcome>) -> Option<i32> {
        match outcome {
            Some(pb::assignment_result::Outcome::Error(e)) => Some(e.reason),
            _ => None,
        }
    }

    #[test]
    fn a_stop_overrides_what_the_executor_returned() {
        let ok = Some(Ok(Vec::new()));
        let (outcome, label) = settle(ok.clone(), Some(StopCause::Hub(None)));
        assert_eq!(reason(&outcome), Some(pb::ErrorReason::Cancelled as i32));
        assert_eq!(label, Outcome::Cancelled);

        let (outcome, label) = settle(None, Some(StopCause::Drain));
        assert_eq!(reason(&outcome), Some(pb::ErrorReason::Draining as i32));
        assert_eq!(label, Outcome::Drained);

        let (outcome, _) = settle(None, Some(StopCause::Deadline));
        assert_eq!(
            reason(&outcome),
            Some(pb::ErrorReason::DeadlineExceeded as i32)
        );

        assert_eq!(
            settle(ok.clone(), Some(StopCause::Discard)),
            (None, Outcome::Discarded)
        );
        assert_eq!(settle(None, None), (None, Outcome::Discarded));
        let (outcome, label) = settle(ok, None);
        assert!(matches!(
            outcome,
            Some(pb::assignment_result::Outcome::Outputs(_))
        ));
        assert_eq!(label, Outcome::Succeeded);
    }

    #[test]
    fn deadlines_in_the_past_leave_no_time() {
        let past = prost_types::Timestamp::from(SystemTime::now() - Duration::from_secs(5));
        assert_eq!(time_until(past), Some(Duration::ZERO));
        let future = prost_types::Timestamp::from(SystemTime::now() + Duration::from_secs(60));
        assert!(time_until(future).is_some_and(|d| d > Duration::from_secs(50)));
    }
}
