//! Tasks through their life in the core: admission (idempotency, the queue bound),
//! events and watchers, results of assignments, requeue with backoff, the two deadlines, and
//! the one place a task becomes terminal ([`Core::finish`]).

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, SystemTime},
};

use drover_api::{
    DroverError, ErrorReason,
    model::task::{TaskSpec, WorkKind},
    pb,
};
use tokio::{
    sync::{broadcast, oneshot},
    time::Instant,
};

use super::{Core, Page, Runtime, Submitted, Timer, Watch, error};
use crate::{
    metrics,
    store::{MAX_EVENTS_PER_TASK, TaskRecord},
};

/// Events buffered per watcher before it counts as lagging.
const WATCH_BUFFER: usize = 256;

impl Core {
    pub(super) fn submit(
        &mut self,
        spec: TaskSpec,
        wire: pb::TaskSpec,
    ) -> Result<Submitted, DroverError> {
        if let Some(key) = &spec.idempotency_key
            && let Some(existing) = self.store.by_idempotency_key(&spec.tenant, key)
        {
            return Ok(Submitted {
                id: existing.id.clone(),
                created: false,
                state: existing.state,
            });
        }
        let queued = self.browser_queue.len() + self.ai_queue.len();
        if queued >= self.config.max_queued {
            metrics::rejected("queue_full");
            return Err(DroverError::new(
                ErrorReason::QueueFull,
                format!("the queue holds {queued} tasks, its limit; retry after the delay given"),
            )
            .retry_after(Duration::from_secs(1)));
        }
        let now = Instant::now();
        let id = loop {
            let id = format!("t{:016x}", fastrand::u64(..));
            if self.store.get(&id).is_none() {
                break id;
            }
        };
        self.next_seq += 1;
        let record = TaskRecord {
            id: id.clone(),
            seq: self.next_seq,
            deadline: now + spec.timeout,
            queue_deadline: now + spec.queue_timeout.min(spec.timeout),
            enqueued_at: now,
            spec: Arc::new(spec),
            wire_spec: Arc::new(wire),
            state: pb::TaskState::Queued,
            attempt: 1,
            created_at: SystemTime::now(),
            started_at: None,
            finished_at: None,
            outputs: Vec::new(),
            output_bytes: 0,
            error: None,
            worker_id: String::new(),
            next_step: 0,
            events: VecDeque::new(),
            next_sequence: 1,
        };
        let (deadline, queue_deadline) = (record.deadline, record.queue_deadline);
        let priority = record.spec.priority;
        self.store.insert(record);
        self.runtime.insert(id.clone(), Runtime::default());
        let position = self.browser_queue.ahead_of(priority) + self.ai_queue.ahead_of(priority);
        self.enqueue(&id, false);
        self.push_event(
            &id,
            pb::task_event::Detail::Queued(pb::TaskQueued {
                position: position as u32,
            }),
        );
        self.add_timer(queue_deadline, Timer::QueueDeadline(id.clone()));
        self.add_timer(deadline, Timer::TaskDeadline(id.clone()));
        metrics::submitted();
        Ok(Submitted {
            id,
            created: true,
            state: pb::TaskState::Queued,
        })
    }

    /// The kind of worker the task's next steps need, if any steps are left.
    pub(super) fn next_kind(&self, id: &str) -> Option<WorkKind> {
        let record = self.store.get(id)?;
        record
            .spec
            .steps
            .get(record.next_step)
            .map(|s| s.kind.work_kind())
    }

    /// Puts the task in the ready queue of its next steps' kind; `front` for a task that was
    /// already in line (requeue, next segment).
    pub(super) fn enqueue(&mut self, id: &str, front: bool) {
        let Some(kind) = self.next_kind(id) else {
            return;
        };
        let Some(record) = self.store.get_mut(id) else {
            return;
        };
        record.enqueued_at = Instant::now();
        let (priority, tenant) = (record.spec.priority, record.spec.tenant.clone());
        let queue = match kind {
            WorkKind::Browser => &mut self.browser_queue,
            WorkKind::Ai => &mut self.ai_queue,
        };
        // The core checks the bound on admission; work already admitted always fits.
        let _ = queue.push(priority, &tenant, id.to_owned(), front);
        if let Some(runtime) = self.runtime.get_mut(id) {
            runtime.queued = Some(kind);
        }
    }

    /// Takes the task out of the ready queue, if it is there.
    fn dequeue(&mut self, id: &str) {
        let Some(kind) = self.runtime.get_mut(id).and_then(|r| r.queued.take()) else {
            return;
        };
        let Some(record) = self.store.get(id) else {
            return;
        };
        let (priority, tenant) = (record.spec.priority, record.spec.tenant.clone());
        match kind {
            WorkKind::Browser => self.browser_queue.remove(priority, &tenant, id),
            WorkKind::Ai => self.ai_queue.remove(priority, &tenant, id),
        };
    }

    /// Appends an event to the task's log and tells its watchers.
    pub(super) fn push_event(&mut self, id: &str, detail: pb::task_event::Detail) {
        let Some(record) = self.store.get_mut(id) else {
            return;
        };
        let event = pb::TaskEvent {
            task_id: id.to_owned(),
            sequence: record.next_sequence,
            at: Some(SystemTime::now().into()),
            state: record.state as i32,
            detail: Some(detail),
        };
        record.next_sequence += 1;
        if record.events.len() >= MAX_EVENTS_PER_TASK {
            record.events.pop_front();
        }
        record.events.push_back(event.clone());
        if let Some(watchers) = self.runtime.get(id).and_then(|r| r.watchers.as_ref()) {
            let _ = watchers.send(event);
        }
    }

    pub(super) fn watch(&mut self, id: &str, after: u64) -> Result<Watch, DroverError> {
        let Some(record) = self.store.get(id) else {
            return Err(not_found(id));
        };
        let backlog = record
            .events
            .iter()
            .filter(|e| e.sequence > after)
            .cloned()
            .collect();
        if record.is_terminal() {
            return Ok(Watch {
                backlog,
                live: None,
            });
        }
        let max = self.config.max_watchers_per_task;
        let runtime = self.runtime.entry(id.to_owned()).or_default();
        let sender = runtime
            .watchers
            .get_or_insert_with(|| broadcast::channel(WATCH_BUFFER).0);
        if sender.receiver_count() >= max {
            return Err(DroverError::new(
                ErrorReason::QueueFull,
                format!("task {id} already has {max} watchers"),
            ));
        }
        Ok(Watch {
            backlog,
            live: Some(sender.subscribe()),
        })
    }

    pub(super) fn await_terminal(&mut self, id: &str, reply: oneshot::Sender<pb::Task>) {
        match self.store.get(id) {
            Some(record) if record.is_terminal() => {
                let _ = reply.send(record.to_pb(true));
            }
            Some(_) => self
                .runtime
                .entry(id.to_owned())
                .or_default()
                .waiters
                .push(reply),
            // Dropping the reply tells the caller the task is unknown.
            None => {}
        }
    }

    pub(super) fn list(
        &self,
        tenant: Option<&str>,
        states: &[pb::TaskState],
        before: Option<u64>,
        limit: usize,
    ) -> Page {
        let filter = |r: &TaskRecord| {
            tenant.is_none_or(|t| r.spec.tenant == t)
                && (states.is_empty() || states.contains(&r.state))
        };
        let records = self.store.list(before, limit + 1, &filter);
        let next = (records.len() > limit).then(|| records[limit - 1].seq);
        Page {
            tasks: records.iter().take(limit).map(|r| r.to_pb(false)).collect(),
            next,
        }
    }

    pub(super) fn cancel(&mut self, id: &str, reason: &str) -> Result<pb::TaskState, DroverError> {
        let Some(record) = self.store.get(id) else {
            return Err(not_found(id));
        };
        if record.is_terminal() {
            return Ok(record.state);
        }
        let message = if reason.is_empty() {
            "cancelled by a client".to_owned()
        } else {
            format!("cancelled by a client: {reason}")
        };
        let cause = error(ErrorReason::Cancelled, message);
        self.stop_assignment(id, &cause);
        self.finish(id, pb::TaskState::Cancelled, Some(cause));
        Ok(pb::TaskState::Cancelled)
    }

    /// Ends the task's live assignment, if any: the worker is told to stop and its slot is
    /// counted free; a late result is discarded.
    fn stop_assignment(&mut self, id: &str, cause: &pb::Error) {
        if let Some(assignment) = self.runtime.get_mut(id).and_then(|r| r.assignment.take()) {
            self.withdraw(&assignment, cause.clone());
        }
    }

    /// Makes the task terminal, once: records why, tells waiters and watchers, lets the store
    /// retire it.
    pub(super) fn finish(&mut self, id: &str, state: pb::TaskState, cause: Option<pb::Error>) {
        self.dequeue(id);
        let Some(record) = self.store.get_mut(id) else {
            return;
        };
        if record.is_terminal() {
            return;
        }
        record.state = state;
        record.finished_at = Some(SystemTime::now());
        record.error = cause.clone();
        metrics::finished(state, record.attempt);
        self.push_event(
            id,
            pb::task_event::Detail::Finished(pb::TaskFinished { error: cause }),
        );
        // Dropping the runtime's sender ends every watch after the final event.
        if let Some(runtime) = self.runtime.remove(id)
            && let Some(record) = self.store.get(id)
        {
            let task = record.to_pb(true);
            for waiter in runtime.waiters {
                let _ = waiter.send(task.clone());
            }
        }
        self.store.finished(id);
    }

    /// A result arrived for the task's assignment `steps` (already checked to be current).
    pub(super) fn assignment_done(
        &mut self,
        id: &str,
        steps: std::ops::Range<usize>,
        outcome: Option<pb::assignment_result::Outcome>,
        worker_id: &str,
    ) {
        let reported = match self.runtime.get_mut(id) {
            Some(runtime) => {
                runtime.assignment = None;
                std::mem::take(&mut runtime.reported)
            }
            None => Default::default(),
        };
        match outcome {
            Some(pb::assignment_result::Outcome::Outputs(outputs)) => {
                for output in outputs
                    .outputs
                    .iter()
                    .filter(|o| !reported.contains(&o.index))
                {
                    self.push_event(
                        id,
                        pb::task_event::Detail::StepCompleted(pb::StepCompleted {
                            output: Some(output.clone()),
                        }),
                    );
                }
                self.steps_done(id, steps, outputs.outputs)
            }
            Some(pb::assignment_result::Outcome::Error(e)) => self.attempt_failed(id, e, worker_id),
            None => self.attempt_failed(
                id,
                error(
                    ErrorReason::Internal,
                    "the worker sent a result with no outcome",
                ),
                worker_id,
            ),
        }
    }

    fn steps_done(
        &mut self,
        id: &str,
        steps: std::ops::Range<usize>,
        outputs: Vec<pb::StepOutput>,
    ) {
        let max = self.config.max_task_output_bytes;
        let Some(record) = self.store.get_mut(id) else {
            return;
        };
        let added: usize = outputs.iter().map(output_size).sum();
        if record.output_bytes + added > max {
            let cause = error(
                ErrorReason::PayloadTooLarge,
                format!(
                    "the task's outputs exceed {max} bytes (steps {}..{})",
                    steps.start, steps.end
                ),
            );
            self.finish(id, pb::TaskState::Failed, Some(cause));
            return;
        }
        record.output_bytes += added;
        record.outputs.extend(outputs);
        record.next_step = steps.end;
        if record.next_step >= record.spec.steps.len() {
            self.finish(id, pb::TaskState::Succeeded, None);
        } else {
            // The next run of steps keeps the task's place in line.
            self.enqueue(id, true);
        }
    }

    /// An attempt failed: retry if the failure is worth it and the policy allows, else fail.
    pub(super) fn attempt_failed(&mut self, id: &str, cause: pb::Error, worker_id: &str) {
        let Some(record) = self.store.get_mut(id) else {
            return;
        };
        if record.is_terminal() {
            return;
        }
        let reason = DroverError::from_pb(&cause).reason;
        let policy = record.spec.retry_policy;
        let retryable = matches!(
            reason,
            ErrorReason::Transient
                | ErrorReason::BrowserCrashed
                | ErrorReason::WorkerLost
                | ErrorReason::RateLimited
                | ErrorReason::CircuitOpen
                | ErrorReason::QueueFull
                | ErrorReason::StreamTruncated
                | ErrorReason::Draining
        );
        if !retryable || record.attempt >= policy.max_attempts {
            self.finish(id, pb::TaskState::Failed, Some(cause));
            return;
        }
        record.attempt += 1;
        // Back to waiting for a worker (after the backoff); no longer running anywhere.
        record.state = pb::TaskState::Queued;
        let next_attempt = record.attempt;
        // Exponential from the policy's first delay, with equal jitter, never past the
        // task's deadline.
        let exponent = (next_attempt - 2).min(16);
        let ceiling = policy
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(policy.max_backoff);
        let delay = ceiling.mul_f64(0.5 + fastrand::f64() / 2.0);
        let at = (Instant::now() + delay).min(record.deadline);
        metrics::requeued(reason.as_str());
        if let Some(runtime) = self.runtime.get_mut(id) {
            runtime.avoid = Some(worker_id.to_owned());
        }
        self.push_event(
            id,
            pb::task_event::Detail::Requeued(pb::TaskRequeued {
                cause: Some(cause),
                next_attempt,
            }),
        );
        self.add_timer(at, Timer::Requeue(id.to_owned()));
    }

    pub(super) fn backoff_over(&mut self, id: &str) {
        if self.store.get(id).is_some_and(|r| !r.is_terminal()) {
            self.enqueue(id, true);
        }
    }

    pub(super) fn queue_deadline_passed(&mut self, id: &str) {
        let Some(record) = self.store.get(id) else {
            return;
        };
        // Only a task never assigned expires; one that started is bounded by its timeout.
        if record.state != pb::TaskState::Queued || record.started_at.is_some() {
            return;
        }
        let waited = record.queue_deadline.duration_since(record.enqueued_at);
        let cause = error(
            ErrorReason::DeadlineExceeded,
            format!("no worker took the task within its queue timeout ({waited:?})"),
        );
        self.finish(id, pb::TaskState::Expired, Some(cause));
    }

    pub(super) fn task_deadline_passed(&mut self, id: &str) {
        let Some(record) = self.store.get(id) else {
            return;
        };
        if record.is_terminal() {
            return;
        }
        let never_started = record.started_at.is_none();
        let cause = error(
            ErrorReason::DeadlineExceeded,
            format!(
                "the task did not finish within its timeout ({:?})",
                record.spec.timeout
            ),
        );
        self.stop_assignment(id, &cause);
        let state = if never_started {
            pb::TaskState::Expired
        } else {
            pb::TaskState::Failed
        };
        self.finish(id, state, Some(cause));
    }
}

fn not_found(id: &str) -> DroverError {
    DroverError::new(ErrorReason::NotFound, format!("no task {id:?}"))
}

/// Bytes a step output holds (what the size bound counts).
pub(super) fn output_size(output: &pb::StepOutput) -> usize {
    use prost::Message;
    output.encoded_len()
}
