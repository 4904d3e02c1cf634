//! Matching queued work to workers: each assignment goes to exactly one worker that granted
//! credit for it. Among eligible workers (right kind, every selector label, credit, not
//! quarantined or draining) the choice is: the worker holding the task's session (affinity),
//! then least loaded, then healthiest; the worker of a failed attempt is tried last.

use std::{collections::HashSet, time::SystemTime};

use drover_api::{model::task::WorkKind, pb};
use tokio::time::Instant;

use super::{Core, workers::Live};
use crate::{metrics, store::TaskRecord};

impl Core {
    /// Assigns queued work while some worker has credit and some task can be placed.
    pub(super) fn dispatch(&mut self) {
        // The earliest time a task held back for its session's worker may go elsewhere.
        let mut held_until: Option<Instant> = None;
        for kind in [WorkKind::Browser, WorkKind::Ai] {
            loop {
                let now = Instant::now();
                let any_room = self
                    .workers
                    .conns
                    .values()
                    .any(|w| w.kind == kind && w.can_take(now));
                if !any_room {
                    break;
                }
                let mut chosen = None;
                let picked = {
                    let (queue, store, workers, runtime, config) = match kind {
                        WorkKind::Browser => (
                            &mut self.browser_queue,
                            &self.store,
                            &self.workers,
                            &self.runtime,
                            &self.config,
                        ),
                        WorkKind::Ai => (
                            &mut self.ai_queue,
                            &self.store,
                            &self.workers,
                            &self.runtime,
                            &self.config,
                        ),
                    };
                    queue.pop(|id| {
                        let Some(record) = store.get(id) else {
                            return false;
                        };
                        let avoid = runtime.get(id).and_then(|r| r.avoid.as_deref());
                        chosen = place(
                            record,
                            kind,
                            workers,
                            avoid,
                            config.affinity_wait_ms,
                            now,
                            &mut held_until,
                        );
                        chosen.is_some()
                    })
                };
                match (picked, chosen) {
                    (Some(id), Some(conn)) => self.assign(&id, conn),
                    _ => break,
                }
            }
        }
        if let Some(at) = held_until
            && self.dispatch_wake.is_none_or(|pending| pending > at)
        {
            self.dispatch_wake = Some(at);
            self.add_timer(at, super::Timer::Dispatch);
        }
    }

    /// Sends the task's next run of steps to worker `conn`.
    fn assign(&mut self, id: &str, conn: u64) {
        if let Some(runtime) = self.runtime.get_mut(id) {
            runtime.queued = None;
        }
        let Some(record) = self.store.get(id) else {
            return;
        };
        let Some(steps) = record
            .spec
            .work_runs()
            .into_iter()
            .find(|(_, range)| range.start == record.next_step)
            .map(|(_, range)| range)
        else {
            return;
        };
        let attempt = record.attempt;
        let assignment_id = self.workers.new_assignment_id(id, attempt);
        let lease_until = Instant::now() + self.config.lease();
        let message =
            assignment_message(record, &assignment_id, steps.clone(), self.config.lease());
        let queue_wait = record.enqueued_at.elapsed();
        let first_start = record.started_at.is_none();
        let Some(worker) = self.workers.conns.get_mut(&conn) else {
            self.enqueue(id, true);
            return;
        };
        if !worker.send(pb::attach_response::Message::Assign(message)) {
            // The worker cannot keep up with its own stream: it is as good as gone.
            tracing::warn!(worker = %worker.id, "worker's stream is full or closed; detaching it");
            self.detached(conn);
            self.enqueue(id, true);
            return;
        }
        worker.credit -= 1;
        worker.in_flight.insert(assignment_id.clone());
        let worker_id = worker.id.clone();
        self.workers.live.insert(
            assignment_id.clone(),
            Live {
                task_id: id.to_owned(),
                conn,
                worker_id: worker_id.clone(),
                steps,
                lease_until,
            },
        );
        if let Some(runtime) = self.runtime.get_mut(id) {
            runtime.assignment = Some(assignment_id);
        }
        if let Some(record) = self.store.get_mut(id) {
            record.state = pb::TaskState::Running;
            record.worker_id = worker_id.clone();
            record.started_at.get_or_insert_with(SystemTime::now);
        }
        if first_start {
            metrics::queue_wait(queue_wait);
        }
        metrics::assigned();
        self.push_event(
            id,
            pb::task_event::Detail::Assigned(pb::TaskAssigned { worker_id, attempt }),
        );
    }
}

/// The worker connection to send `record`'s next steps to, if any can take them now.
fn place(
    record: &TaskRecord,
    kind: WorkKind,
    workers: &super::workers::Workers,
    avoid: Option<&str>,
    affinity_wait_ms: u64,
    now: Instant,
    held_until: &mut Option<Instant>,
) -> Option<u64> {
    let selector = &record.spec.worker_selector;
    let eligible = |w: &super::workers::WorkerConn| {
        w.kind == kind
            && w.can_take(now)
            && selector.iter().all(|(k, v)| w.labels.get(k) == Some(v))
    };
    // Affinity applies to browser work: that is where sessions live.
    if kind == WorkKind::Browser
        && let Some(key) = &record.spec.affinity_key
        && let Some(holder) = workers.sessions.get(key)
        && let Some(conn) = workers.conn_of(holder)
    {
        let worker = &workers.conns[&conn];
        if eligible(worker) {
            return Some(conn);
        }
        let waited = now.duration_since(record.enqueued_at);
        if waited < std::time::Duration::from_millis(affinity_wait_ms) {
            *held_until = Some(
                held_until
                    .unwrap_or(now + std::time::Duration::from_secs(3600))
                    .min(record.enqueued_at + std::time::Duration::from_millis(affinity_wait_ms)),
            );
            return None;
        }
    }
    workers
        .conns
        .iter()
        .filter(|(_, w)| eligible(w))
        .min_by(|(_, a), (_, b)| {
            let key = |w: &super::workers::WorkerConn| {
                (
                    avoid == Some(w.id.as_str()),
                    w.in_flight.len() as f64 / f64::from(w.slots.max(1)),
                    -w.health,
                )
            };
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0)
                .then(ka.1.total_cmp(&kb.1))
                .then(ka.2.total_cmp(&kb.2))
        })
        .map(|(conn, _)| *conn)
}

/// The assignment message for `record`'s steps `steps`: the steps with their task indexes
/// and names, and the earlier outputs they reference.
fn assignment_message(
    record: &TaskRecord,
    assignment_id: &str,
    steps: std::ops::Range<usize>,
    lease: std::time::Duration,
) -> pb::Assignment {
    let spec = &record.spec;
    let mut referenced: HashSet<&str> = HashSet::new();
    for step in &spec.steps[steps.clone()] {
        for (_, template) in step.kind.templates() {
            for reference in template.references() {
                referenced.insert(reference.step.as_str());
            }
        }
    }
    let inputs = record
        .outputs
        .iter()
        .filter(|o| referenced.contains(o.step.as_str()))
        .cloned()
        .collect();
    let indexed = steps
        .clone()
        .filter_map(|i| {
            let mut step = record.wire_spec.steps.get(i)?.clone();
            // Unnamed steps are named by their place in the task, not in the assignment.
            step.name = spec.steps[i].name.clone();
            Some(pb::IndexedStep {
                index: i as u32,
                step: Some(step),
            })
        })
        .collect();
    let remaining = record.deadline.saturating_duration_since(Instant::now());
    pb::Assignment {
        assignment_id: assignment_id.to_owned(),
        task_id: record.id.clone(),
        attempt: record.attempt,
        lease_expires_at: Some((SystemTime::now() + lease).into()),
        deadline: Some((SystemTime::now() + remaining).into()),
        tenant: spec.tenant.clone(),
        affinity_key: spec.affinity_key.clone().unwrap_or_default(),
        browser: record.wire_spec.browser.clone(),
        steps: indexed,
        inputs,
    }
}
