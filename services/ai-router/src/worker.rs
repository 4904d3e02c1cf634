//! The ai-router as a scheduler worker: an [`Executor`] that runs an assignment's AI steps
//! (chat, embeddings) on the [`Router`], rendering each step's templates against the
//! outputs the assignment carries and those of its own earlier steps.

use std::sync::Arc;

use drover_api::{
    DroverError, ErrorReason, UrlPolicy, convert,
    model::{
        output::{OutputValue, StepOutput},
        task::StepKind,
    },
    pb,
};
use drover_resilience::Deadline;
use drover_worker::{Executor, Progress, time_left};
use tokio_util::sync::CancellationToken;

use crate::{
    Router,
    request::{ChatCall, EmbedCall},
};

/// Runs AI assignments on a shared router.
pub struct AiExecutor {
    router: Arc<Router>,
    slots: u32,
}

impl AiExecutor {
    /// An executor over `router` taking at most `slots` assignments at once.
    pub fn new(router: Arc<Router>, slots: u32) -> Self {
        Self { router, slots }
    }
}

impl Executor for AiExecutor {
    async fn run(
        &self,
        assignment: pb::Assignment,
        progress: Progress,
        cancel: CancellationToken,
    ) -> Result<Vec<pb::StepOutput>, pb::Error> {
        let deadline = Deadline::after(time_left(assignment.deadline.as_ref()));
        let steps = convert::assignment_steps(assignment.steps, &UrlPolicy::default())
            .map_err(|e| DroverError::from(e).to_pb())?;
        let mut known = convert::prior_outputs(assignment.inputs);
        let mut outputs = Vec::with_capacity(steps.len());
        for (index, step) in steps {
            let started = std::time::Instant::now();
            let step_deadline = match step.timeout.map(Deadline::after) {
                Some(own) if own.instant() < deadline.instant() => own,
                _ => deadline,
            };
            let name = step.name.clone();
            let run = async {
                match step.kind {
                    StepKind::Chat(spec) => {
                        let call = ChatCall::render(spec, &known)?;
                        let (answer, _) = self.router.chat(&call, step_deadline).await;
                        answer.map(OutputValue::Chat)
                    }
                    StepKind::Embed(spec) => {
                        let call = EmbedCall::render(spec, &known)?;
                        let (answer, _) = self.router.embed(&call, step_deadline).await;
                        answer.map(OutputValue::Embed)
                    }
                    other => Err(DroverError::new(
                        ErrorReason::InvalidArgument,
                        format!("a {} step is not AI work", other.name()),
                    )),
                }
            };
            let value = tokio::select! {
                () = cancel.cancelled() => Err(DroverError::new(ErrorReason::Cancelled, "the assignment was cancelled")),
                value = run => value,
            }
            .map_err(|e| e.in_step(name.clone()).to_pb())?;
            known.insert(name.clone(), value.clone());
            let output: pb::StepOutput = StepOutput {
                step: name,
                index,
                duration: started.elapsed(),
                value,
            }
            .into();
            progress.send(output.clone());
            outputs.push(output);
        }
        Ok(outputs)
    }

    fn capacity(&self) -> u32 {
        self.slots
    }

    fn session_keys(&self) -> Vec<String> {
        Vec::new()
    }
}
