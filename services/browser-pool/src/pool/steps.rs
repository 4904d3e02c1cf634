//! Running one task on a lent page: cleaning the page first if it still holds the
//! previous task's document (waking it if it is frozen), then preparing it with the task's
//! options and running its steps in order, each with its own deadline.

use drover_api::{
    Step, StepKind,
    model::output::{OutputValue, StepOutput},
};
use tokio::time::Instant;

use super::{BrowserPool, TaskRun};
use crate::{
    error::{PoolError, StepError},
    lease::{PageLease, PageState},
    metrics as m, page,
};

/// Parked pages a task tries to wake before it gives up on the browser.
const WAKE_ATTEMPTS: usize = 3;

/// Whether a lent page still has to be thawed (see `page::freeze`).
#[derive(Clone, Copy)]
pub(super) enum Thaw {
    /// Not frozen, or already woken.
    Done,
    /// Frozen: the task's first step, a navigate, wakes it on the way.
    WithFirstStep,
}

impl BrowserPool {
    /// Borrows a page and, if it was parked with the previous task's document, wakes it
    /// (thawing it if it was frozen, and resetting it in full unless the task starts by
    /// navigating). A page that cannot be woken is the pool's fault, not the task's: it is
    /// discarded and another page taken. A task that starts by navigating and sets no page
    /// options lets its first step do that work instead: on a frozen page it thaws the page
    /// on the way ([`Thaw::WithFirstStep`]), on a page parked but not yet frozen there is
    /// nothing to thaw.
    pub(super) async fn clean_lease(&self, task: &TaskRun) -> Result<(PageLease, Thaw), PoolError> {
        let navigates_first = task
            .steps
            .first()
            .is_some_and(|(_, step)| matches!(step.kind, StepKind::Navigate(_)));
        let mut last = None;
        for _ in 0..WAKE_ATTEMPTS {
            let mut lease = self.lease(task).await?;
            let state = lease.state();
            if state == PageState::Clean {
                return Ok((lease, Thaw::Done));
            }
            if navigates_first && !page::needs_prepare(&task.browser) {
                let thaw = match state {
                    PageState::Frozen => Thaw::WithFirstStep,
                    PageState::Clean | PageState::Parked => Thaw::Done,
                };
                return Ok((lease, thaw));
            }
            let gone = lease.gone().clone();
            let woken = tokio::select! {
                r = page::wake(lease.page(), state, navigates_first, task.deadline) => r,
                () = gone.cancelled() => Err(StepError::BrowserGone("the browser crashed".into())),
                () = self.state.abort.cancelled() => {
                    return Err(PoolError::Cancelled { outputs: Vec::new() });
                }
            };
            match woken {
                // Reset in full: the first step needs no care any more.
                Ok(()) if !navigates_first => {
                    lease.state = PageState::Clean;
                    return Ok((lease, Thaw::Done));
                }
                Ok(()) => return Ok((lease, Thaw::Done)),
                Err(error @ StepError::Timeout { .. }) if Instant::now() >= task.deadline => {
                    lease.discard();
                    return Err(PoolError::Prepare(error));
                }
                Err(error) => {
                    tracing::debug!(%error, "cannot wake a parked page; taking another");
                    lease.discard();
                    last = Some(error);
                }
            }
        }
        let why = last.map_or_else(String::new, |e| e.to_string());
        Err(PoolError::BrowserFailed(format!(
            "cannot clean a pooled page: {why}"
        )))
    }

    pub(super) async fn run_steps(
        &self,
        task: &TaskRun,
        lease: &mut PageLease,
        thaw: Thaw,
        on_step: &mut (dyn FnMut(&StepOutput) + Send),
    ) -> Result<Vec<StepOutput>, PoolError> {
        let config = &self.state.config;
        let gone = lease.gone().clone();
        let abort = self.state.abort.clone();
        // Recorded first: whatever prepare gets to set, the reset undoes.
        lease.record_overrides(page::Overrides::of(&task.browser));
        let prepared = tokio::select! {
            r = page::prepare(lease.page(), &task.browser, task.deadline) => r,
            () = gone.cancelled() => Err(StepError::BrowserGone("the browser crashed".into())),
            () = abort.cancelled() => return Err(PoolError::Cancelled { outputs: Vec::new() }),
        };
        let _request_policy = match prepared {
            Ok(policy) => policy,
            Err(e) => {
                if e.discards_page() {
                    lease.discard();
                }
                return Err(PoolError::Prepare(e));
            }
        };
        let mut prior = task.prior.clone();
        let mut outputs = Vec::with_capacity(task.steps.len());
        let mut total_bytes = 0usize;
        // A woken page still holding the previous task's document: the first step (a
        // navigate, see `clean_lease`) must replace it and forget it.
        let mut replace_document = lease.needs_reset();
        for (index, step) in &task.steps {
            let started = Instant::now();
            let deadline = step
                .timeout
                .map_or(task.deadline, |t| (started + t).min(task.deadline));
            let env = page::StepEnv {
                page: lease.page(),
                deadline,
                url_policy: &config.url_policy,
                max_output_bytes: config.max_step_output_bytes,
            };
            let run = async {
                if std::mem::take(&mut replace_document) {
                    match thaw {
                        Thaw::Done => page::run_navigate_away(&env, &step.kind, &prior).await,
                        Thaw::WithFirstStep => {
                            page::wake_and_navigate_away(&env, &step.kind, &prior).await
                        }
                    }
                } else {
                    page::run_step(&env, &step.kind, &prior).await
                }
            };
            let result = tokio::select! {
                r = run => r,
                () = gone.cancelled() => Err(StepError::BrowserGone("the browser crashed".into())),
                () = abort.cancelled() => Err(StepError::Failed("the pool is shutting down".into())),
            };
            let result = result.and_then(|value| {
                total_bytes += value.size();
                if total_bytes > config.max_task_output_bytes {
                    Err(StepError::TooLarge(format!(
                        "the task's outputs exceed {} bytes",
                        config.max_task_output_bytes
                    )))
                } else {
                    Ok(value)
                }
            });
            let outcome = if result.is_ok() { "ok" } else { "error" };
            metrics::histogram!(m::STEP_SECONDS, "kind" => step.kind.name(), "outcome" => outcome)
                .record(started.elapsed().as_secs_f64());
            match result {
                Ok(value) => {
                    prior.insert(step.name.clone(), value.clone());
                    let done = output(step, *index, started, value);
                    on_step(&done);
                    outputs.push(done);
                }
                Err(error) => {
                    if error.discards_page() {
                        lease.discard();
                    }
                    if abort.is_cancelled() {
                        return Err(PoolError::Cancelled { outputs });
                    }
                    return Err(PoolError::Step {
                        step: step.name.clone(),
                        index: *index,
                        error,
                        outputs,
                    });
                }
            }
        }
        Ok(outputs)
    }
}

fn output(step: &Step, index: u32, started: Instant, value: OutputValue) -> StepOutput {
    StepOutput {
        step: step.name.clone(),
        index,
        duration: started.elapsed(),
        value,
    }
}
