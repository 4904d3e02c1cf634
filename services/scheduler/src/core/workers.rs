//! Workers in the core: their streams, credit, health and sessions, and the live
//! assignments with their leases. A dropped stream gives its assignments a short grace to be
//! claimed by the worker's next hello; a lease not renewed by heartbeats requeues its work.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use drover_api::{ErrorReason, model::task::WorkKind, pb};
use tokio::{sync::mpsc, time::Instant};
use tonic::Status;

use super::{Core, error};
use crate::metrics;

/// Where the core's messages to one worker go (bounded; the core never waits on it).
pub(crate) type Outbound = mpsc::Sender<Result<pb::AttachResponse, Status>>;

/// Weight of the newest result in a worker's health score.
const HEALTH_ALPHA: f64 = 0.2;
/// Results a worker must have before it can be quarantined.
const HEALTH_MIN_RESULTS: u32 = 5;

/// One connected worker.
pub(super) struct WorkerConn {
    pub(super) id: String,
    pub(super) kind: WorkKind,
    pub(super) labels: HashMap<String, String>,
    pub(super) slots: u32,
    pub(super) credit: u32,
    pub(super) in_flight: HashSet<String>,
    pub(super) health: f64,
    results: u32,
    pub(super) quarantined_until: Option<Instant>,
    pub(super) draining: bool,
    connected_at: Instant,
    outbound: Outbound,
}

impl WorkerConn {
    /// Whether the worker may be sent an assignment now.
    pub(super) fn can_take(&self, now: Instant) -> bool {
        self.credit > 0
            && !self.draining
            && self.quarantined_until.is_none_or(|until| until <= now)
            && (self.in_flight.len() as u32) < self.slots
    }

    /// Sends without waiting; false when the worker cannot keep up or is gone.
    pub(super) fn send(&self, message: pb::attach_response::Message) -> bool {
        self.outbound
            .try_send(Ok(pb::AttachResponse {
                message: Some(message),
            }))
            .is_ok()
    }
}

/// An assignment a worker holds.
pub(super) struct Live {
    pub(super) task_id: String,
    /// The connection it was sent on; 0 while its worker is disconnected.
    pub(super) conn: u64,
    pub(super) worker_id: String,
    pub(super) steps: std::ops::Range<usize>,
    pub(super) lease_until: Instant,
}

/// Every worker and live assignment.
#[derive(Default)]
pub(super) struct Workers {
    pub(super) conns: HashMap<u64, WorkerConn>,
    pub(super) live: HashMap<String, Live>,
    /// Affinity key → the worker id holding its session.
    pub(super) sessions: HashMap<String, String>,
    next_conn: u64,
    next_assignment: u64,
}

impl Workers {
    pub(super) fn has_live(&self) -> bool {
        !self.live.is_empty()
    }

    pub(super) fn conn_of(&self, worker_id: &str) -> Option<u64> {
        self.conns
            .iter()
            .find(|(_, w)| w.id == worker_id)
            .map(|(conn, _)| *conn)
    }

    pub(super) fn new_assignment_id(&mut self, task_id: &str, attempt: u32) -> String {
        self.next_assignment += 1;
        format!("{task_id}-{attempt}-{}", self.next_assignment)
    }

    fn record_result(&mut self, conn: u64, good: bool, quarantine: Duration, below: f64) {
        let Some(worker) = self.conns.get_mut(&conn) else {
            return;
        };
        let sample = if good { 1.0 } else { 0.0 };
        worker.health = (1.0 - HEALTH_ALPHA) * worker.health + HEALTH_ALPHA * sample;
        worker.results += 1;
        if worker.health < below && worker.results >= HEALTH_MIN_RESULTS {
            tracing::warn!(worker = %worker.id, health = worker.health, ?quarantine, "worker quarantined");
            worker.quarantined_until = Some(Instant::now() + quarantine);
            // It comes back on probation: one more failure sends it back.
            worker.health = below;
            metrics::quarantined();
        }
    }
}

/// Failures that say something about the worker rather than the task.
fn worker_fault(reason: ErrorReason) -> bool {
    matches!(
        reason,
        ErrorReason::BrowserCrashed
            | ErrorReason::Internal
            | ErrorReason::WorkerLost
            | ErrorReason::Transient
            | ErrorReason::Draining
    )
}

impl Core {
    pub(super) fn attach(
        &mut self,
        hello: pb::WorkerHello,
        outbound: Outbound,
    ) -> Result<u64, Status> {
        let kind = match pb::WorkerKind::try_from(hello.kind) {
            Ok(pb::WorkerKind::Browser) => WorkKind::Browser,
            Ok(pb::WorkerKind::Ai) => WorkKind::Ai,
            _ => {
                return Err(Status::invalid_argument(
                    "hello.kind: must be BROWSER or AI",
                ));
            }
        };
        if hello.worker_id.is_empty() || hello.worker_id.len() > 128 {
            return Err(Status::invalid_argument(
                "hello.worker_id: 1 to 128 characters",
            ));
        }
        if hello.slots == 0 || hello.slots > 10_000 {
            return Err(Status::invalid_argument("hello.slots: 1 to 10000"));
        }
        if hello.labels.len() > 32 {
            return Err(Status::invalid_argument("hello.labels: at most 32 entries"));
        }
        // A reconnect while the old stream still looks open: the old one is gone.
        if let Some(old) = self.workers.conn_of(&hello.worker_id) {
            self.detached(old);
        }
        if self.workers.conns.len() >= self.config.max_workers {
            return Err(Status::resource_exhausted(format!(
                "{} workers are connected, the limit",
                self.config.max_workers
            )));
        }
        self.workers.next_conn += 1;
        let conn = self.workers.next_conn;
        let now = Instant::now();
        let lease = self.config.lease();
        let mut in_flight = HashSet::new();
        let mut unknown = Vec::new();
        for id in hello.in_flight_assignment_ids {
            match self.workers.live.get_mut(&id) {
                Some(live) if live.worker_id == hello.worker_id => {
                    live.conn = conn;
                    live.lease_until = now + lease;
                    in_flight.insert(id);
                }
                _ => unknown.push(id),
            }
        }
        for key in hello.session_keys {
            self.workers.sessions.insert(key, hello.worker_id.clone());
        }
        let welcome = pb::attach_response::Message::Welcome(pb::HubWelcome {
            heartbeat_interval: Some(to_pb_duration(self.config.heartbeat_interval())),
            lease_duration: Some(to_pb_duration(lease)),
            unknown_assignment_ids: unknown,
        });
        let worker = WorkerConn {
            id: hello.worker_id,
            kind,
            labels: hello.labels,
            slots: hello.slots,
            credit: 0,
            in_flight,
            health: 1.0,
            results: 0,
            quarantined_until: None,
            draining: false,
            connected_at: now,
            outbound,
        };
        if !worker.send(welcome) {
            return Err(Status::unavailable(
                "the worker's stream closed during the hello",
            ));
        }
        tracing::info!(worker = %worker.id, ?kind, slots = worker.slots, "worker attached");
        self.workers.conns.insert(conn, worker);
        metrics::workers(self.workers.conns.len());
        Ok(conn)
    }

    pub(super) fn on_worker_message(&mut self, conn: u64, message: pb::attach_request::Message) {
        use pb::attach_request::Message;
        let now = Instant::now();
        let lease = self.config.lease();
        match message {
            Message::Hello(_) => {
                tracing::warn!(conn, "a second hello on one stream; ignored");
            }
            Message::Credit(update) => {
                if let Some(worker) = self.workers.conns.get_mut(&conn) {
                    let room = worker.slots.saturating_sub(worker.in_flight.len() as u32);
                    worker.credit = worker
                        .credit
                        .saturating_add(update.grant)
                        .saturating_sub(update.revoke)
                        .min(room);
                }
            }
            Message::Ack(ack) => self.renew(conn, &ack.assignment_id, now + lease),
            Message::Heartbeat(beat) => {
                for id in &beat.assignment_ids {
                    self.renew(conn, id, now + lease);
                }
            }
            Message::Progress(progress) => {
                let task = self
                    .workers
                    .live
                    .get(&progress.assignment_id)
                    .filter(|l| l.conn == conn)
                    .map(|l| l.task_id.clone());
                if let (Some(task), Some(output)) = (task, progress.output) {
                    if let Some(runtime) = self.runtime.get_mut(&task) {
                        runtime.reported.insert(output.index);
                    }
                    self.push_event(
                        &task,
                        pb::task_event::Detail::StepCompleted(pb::StepCompleted {
                            output: Some(output),
                        }),
                    );
                }
            }
            Message::Result(result) => self.result(conn, result),
        }
    }

    fn renew(&mut self, conn: u64, assignment: &str, until: Instant) {
        if let Some(live) = self.workers.live.get_mut(assignment)
            && live.conn == conn
        {
            live.lease_until = live.lease_until.max(until);
        }
    }

    fn result(&mut self, conn: u64, result: pb::AssignmentResult) {
        let Some(worker_id) = self.workers.conns.get(&conn).map(|w| w.id.clone()) else {
            return;
        };
        for key in &result.session_keys {
            self.workers.sessions.insert(key.clone(), worker_id.clone());
        }
        if let Some(worker) = self.workers.conns.get_mut(&conn) {
            worker.in_flight.remove(&result.assignment_id);
        }
        // A result for an assignment that was withdrawn, expired or superseded is dropped.
        let Some(live) = self.workers.live.remove(&result.assignment_id) else {
            metrics::stale_result();
            return;
        };
        if live.worker_id != worker_id {
            self.workers.live.insert(result.assignment_id, live);
            return;
        }
        // A success must carry one output per step, in step order; anything else is the
        // worker's bug, and must not pass for a finished task.
        let outcome = match result.outcome {
            Some(pb::assignment_result::Outcome::Outputs(outputs))
                if !outputs
                    .outputs
                    .iter()
                    .map(|o| o.index as usize)
                    .eq(live.steps.clone()) =>
            {
                let indexes: Vec<u32> = outputs.outputs.iter().map(|o| o.index).collect();
                Some(pb::assignment_result::Outcome::Error(error(
                    ErrorReason::Internal,
                    format!(
                        "worker {worker_id} reported success with outputs for steps {indexes:?}; \
                         the assignment was steps {}..{}",
                        live.steps.start, live.steps.end
                    ),
                )))
            }
            other => other,
        };
        let good = match &outcome {
            Some(pb::assignment_result::Outcome::Error(e)) => {
                !worker_fault(drover_api::DroverError::from_pb(e).reason)
            }
            _ => true,
        };
        self.workers.record_result(
            conn,
            good,
            std::time::Duration::from_millis(self.config.quarantine_ms),
            self.config.quarantine_below,
        );
        self.assignment_done(&live.task_id, live.steps, outcome, &worker_id);
    }

    /// Takes an assignment back from its worker (cancel, deadline, lease expiry): the worker
    /// is told to stop, its slot is counted free, and a late result will be dropped.
    pub(super) fn withdraw(&mut self, assignment: &str, cause: pb::Error) {
        let Some(live) = self.workers.live.remove(assignment) else {
            return;
        };
        if let Some(worker) = self.workers.conns.get_mut(&live.conn) {
            worker.in_flight.remove(assignment);
            worker.send(pb::attach_response::Message::Cancel(pb::CancelAssignment {
                assignment_id: assignment.to_owned(),
                reason: Some(cause),
            }));
        }
    }

    pub(super) fn detached(&mut self, conn: u64) {
        let Some(worker) = self.workers.conns.remove(&conn) else {
            return;
        };
        tracing::info!(worker = %worker.id, in_flight = worker.in_flight.len(), "worker detached");
        metrics::workers(self.workers.conns.len());
        // Its assignments wait briefly for the worker to come back and claim them.
        let grace =
            Instant::now() + std::time::Duration::from_millis(self.config.reconnect_grace_ms);
        for id in worker.in_flight {
            if let Some(live) = self.workers.live.get_mut(&id) {
                live.conn = 0;
                live.lease_until = live.lease_until.min(grace);
            }
        }
    }

    pub(super) fn check_leases(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .workers
            .live
            .iter()
            .filter(|(_, live)| live.lease_until <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let Some(live) = self.workers.live.get(&id) else {
                continue;
            };
            let (task, worker_id, conn) = (live.task_id.clone(), live.worker_id.clone(), live.conn);
            let why = if conn == 0 {
                format!("worker {worker_id} went away")
            } else {
                format!("worker {worker_id} stopped renewing the lease")
            };
            tracing::warn!(assignment = %id, task = %task, %why, "assignment lost; requeueing");
            let cause = error(ErrorReason::WorkerLost, why);
            self.withdraw(&id, cause.clone());
            if conn != 0 {
                self.workers.record_result(
                    conn,
                    false,
                    std::time::Duration::from_millis(self.config.quarantine_ms),
                    self.config.quarantine_below,
                );
            }
            if let Some(runtime) = self.runtime.get_mut(&task) {
                runtime.assignment = None;
            }
            self.attempt_failed(&task, cause, &worker_id);
        }
    }

    pub(super) fn status(&self) -> pb::GetClusterStatusResponse {
        let now = Instant::now();
        let workers = self
            .workers
            .conns
            .values()
            .map(|w| pb::WorkerStatus {
                worker_id: w.id.clone(),
                kind: match w.kind {
                    WorkKind::Browser => pb::WorkerKind::Browser,
                    WorkKind::Ai => pb::WorkerKind::Ai,
                } as i32,
                labels: w.labels.clone(),
                slots: w.slots,
                credit: w.credit,
                in_flight: w.in_flight.len() as u32,
                health: w.health,
                quarantined: w.quarantined_until.is_some_and(|u| u > now),
                draining: w.draining,
                connected_for: Some(to_pb_duration(now.duration_since(w.connected_at))),
            })
            .collect();
        use drover_api::model::task::Priority;
        let queue = Priority::ALL
            .iter()
            .rev()
            .map(|p| pb::QueueDepth {
                priority: match p {
                    Priority::Low => pb::Priority::Low,
                    Priority::Normal => pb::Priority::Normal,
                    Priority::High => pb::Priority::High,
                    Priority::Urgent => pb::Priority::Urgent,
                } as i32,
                queued: (self.browser_queue.len_at(*p) + self.ai_queue.len_at(*p)) as u32,
            })
            .collect();
        pb::GetClusterStatusResponse {
            workers,
            queue,
            running: self.workers.live.len() as u32,
        }
    }
}

pub(super) fn to_pb_duration(d: std::time::Duration) -> prost_types::Duration {
    drover_api::validate::to_proto_duration(d)
}
