//! The browser pool as a scheduler worker: an [`Executor`] that runs an assignment's browser
//! steps as one [`TaskRun`] (one page session), with the earlier outputs it references, and
//! reports each step as progress when it finishes. Its
//! capacity follows the pool's: zero while draining or under memory pressure, so the worker
//! withdraws its credit instead of accepting work it cannot start.

use drover_api::{DroverError, ErrorReason, convert, model::output::StepOutput, pb};
use drover_worker::{Executor, Progress, time_left};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::pool::{BrowserPool, TaskRun};

/// The largest step output sent as progress while the assignment runs; larger ones reach
/// the scheduler only with the result.
const MAX_PROGRESS_OUTPUT_BYTES: usize = 64 * 1024;

/// Runs browser assignments on a pool.
pub struct BrowserExecutor {
    pool: BrowserPool,
    slots: u32,
}

impl BrowserExecutor {
    /// An executor over `pool` taking at most `slots` assignments at once.
    pub fn new(pool: BrowserPool, slots: u32) -> Self {
        Self { pool, slots }
    }
}

impl Executor for BrowserExecutor {
    async fn run(
        &self,
        assignment: pb::Assignment,
        progress: Progress,
        cancel: CancellationToken,
    ) -> Result<Vec<pb::StepOutput>, pb::Error> {
        let invalid = |e: drover_api::ValidationError| DroverError::from(e).to_pb();
        let steps = convert::assignment_steps(assignment.steps, &self.pool.config().url_policy)
            .map_err(invalid)?;
        let browser =
            convert::browser_options(assignment.browser.unwrap_or_default()).map_err(invalid)?;
        let task = TaskRun {
            tenant: if assignment.tenant.is_empty() {
                drover_api::limits::DEFAULT_TENANT.to_owned()
            } else {
                assignment.tenant
            },
            browser,
            affinity_key: (!assignment.affinity_key.is_empty()).then_some(assignment.affinity_key),
            steps,
            prior: convert::prior_outputs(assignment.inputs),
            deadline: Instant::now() + time_left(assignment.deadline.as_ref()),
        };
        // Each step is reported as it finishes, so watchers see it then, except where the
        // progress would only repeat what the result carries moments later: the last step,
        // and a large output (a screenshot, a PDF). The scheduler records those steps from
        // the result.
        let last_step = task.steps.last().map(|(index, _)| *index);
        let mut report = |output: &StepOutput| {
            if Some(output.index) != last_step && output.value.size() <= MAX_PROGRESS_OUTPUT_BYTES {
                progress.send(output.clone().into());
            }
        };
        // Dropping the run on cancel releases its page through the lease's drop.
        let outputs = tokio::select! {
            () = cancel.cancelled() => {
                return Err(DroverError::new(ErrorReason::Cancelled, "the assignment was cancelled").to_pb());
            }
            outputs = self.pool.run_reporting(task, &mut report) => {
                outputs.map_err(|e| DroverError::from(e).to_pb())?
            }
        };
        Ok(outputs.into_iter().map(Into::into).collect())
    }

    fn capacity(&self) -> u32 {
        self.slots.min(self.pool.available_capacity() as u32)
    }

    fn session_keys(&self) -> Vec<String> {
        self.pool.session_keys()
    }
}
