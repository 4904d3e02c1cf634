//! The scheduler's core: one task (an actor) owns the queue, the task store, the connected
//! workers and every live assignment, and changes them only in reaction to a [`Command`] or
//! a timer. One owner makes "each task reaches exactly one terminal state" a local property:
//! there is no second writer to race with.
//!
//! - [`tasks`](self::tasks): submit, cancel, events, results, requeue, finish, timers;
//! - [`workers`](self::workers): attach, credit, heartbeats, leases, detach;
//! - [`dispatch`](self::dispatch): matching queued work to workers with credit.

mod dispatch;
mod tasks;
mod workers;

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    time::Duration,
};

use drover_api::{
    DroverError, ErrorReason,
    model::task::{TaskSpec, WorkKind},
    pb,
};
use tokio::{
    sync::{broadcast, mpsc, oneshot},
    time::Instant,
};
use tonic::Status;

use crate::{
    config::SchedulerConfig,
    queue::FairQueue,
    store::{InMemoryStore, TaskStore},
};

pub(crate) use workers::Outbound;

/// Commands waiting for the core at most; senders wait beyond it (backpressure).
const COMMAND_QUEUE: usize = 8_192;
/// Commands handled before the queue is matched against workers again.
const BATCH: usize = 256;

/// What the core answers a submit with.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The task's id.
    pub id: String,
    /// False when an earlier task with the same idempotency key was returned.
    pub created: bool,
    /// Its state now.
    pub state: pb::TaskState,
}

/// A watch: the retained events after the requested sequence, then live ones.
pub struct Watch {
    /// Events already retained.
    pub backlog: Vec<pb::TaskEvent>,
    /// Later events; `None` when the task already finished.
    pub live: Option<broadcast::Receiver<pb::TaskEvent>>,
}

/// A page of tasks.
pub struct Page {
    /// The tasks, newest first, without outputs.
    pub tasks: Vec<pb::Task>,
    /// Where the next page starts, if there is one.
    pub next: Option<u64>,
}

/// A request to the core.
pub enum Command {
    /// Queue a validated task (`wire` is the spec as it will be returned).
    Submit {
        spec: Box<TaskSpec>,
        wire: Box<pb::TaskSpec>,
        reply: oneshot::Sender<Result<Submitted, DroverError>>,
    },
    /// Cancel a task.
    Cancel {
        id: String,
        reason: String,
        reply: oneshot::Sender<Result<pb::TaskState, DroverError>>,
    },
    /// Read a task.
    Get {
        id: String,
        with_outputs: bool,
        reply: oneshot::Sender<Option<pb::Task>>,
    },
    /// Follow a task's events.
    Watch {
        id: String,
        after: u64,
        reply: oneshot::Sender<Result<Watch, DroverError>>,
    },
    /// Be told the task, with outputs, when it reaches a terminal state.
    AwaitTerminal {
        id: String,
        reply: oneshot::Sender<pb::Task>,
    },
    /// List tasks.
    List {
        tenant: Option<String>,
        states: Vec<pb::TaskState>,
        before: Option<u64>,
        limit: usize,
        reply: oneshot::Sender<Page>,
    },
    /// Workers, slots and queue depth.
    Status {
        reply: oneshot::Sender<pb::GetClusterStatusResponse>,
    },
    /// A worker's stream opened with this hello; `outbound` carries what the core sends it.
    Attach {
        hello: pb::WorkerHello,
        outbound: Outbound,
        reply: oneshot::Sender<Result<u64, Status>>,
    },
    /// A message from connection `conn`.
    FromWorker {
        conn: u64,
        message: pb::attach_request::Message,
    },
    /// Connection `conn` ended.
    Detached { conn: u64 },
}

/// Something the core must do at a given time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The task must have been assigned by now.
    QueueDeadline(String),
    /// The task must have finished by now.
    TaskDeadline(String),
    /// The task's retry backoff is over: back into the queue.
    Requeue(String),
    /// A task held back for its session's worker may go to any worker now: match again.
    Dispatch,
}

/// Per-task state that is not stored: who is waiting on it, and its live assignment.
#[derive(Default)]
struct Runtime {
    watchers: Option<broadcast::Sender<pb::TaskEvent>>,
    waiters: Vec<oneshot::Sender<pb::Task>>,
    assignment: Option<String>,
    /// The worker of the last failed attempt: others are preferred for the next.
    avoid: Option<String>,
    /// Whether the task is in a ready queue now (and of which kind).
    queued: Option<WorkKind>,
    /// Steps of the live assignment whose STEP_COMPLETED event progress already carried; the
    /// result's other outputs get theirs when it lands, so executors need not report twice.
    reported: std::collections::HashSet<u32>,
}

/// The actor's state.
pub(crate) struct Core {
    config: SchedulerConfig,
    store: Box<dyn TaskStore>,
    browser_queue: FairQueue,
    ai_queue: FairQueue,
    runtime: HashMap<String, Runtime>,
    timers: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    timer_seq: u64,
    workers: workers::Workers,
    next_seq: u64,
    next_lease_check: Instant,
    /// The pending [`Timer::Dispatch`] wake-up, if any.
    dispatch_wake: Option<Instant>,
}

/// The handle API handlers use to talk to the core.
#[derive(Clone)]
pub struct SchedulerHandle {
    commands: mpsc::Sender<Command>,
}

impl SchedulerHandle {
    /// Sends `command`; `Err` when the core has stopped.
    pub async fn send(&self, command: Command) -> Result<(), Status> {
        self.commands
            .send(command)
            .await
            .map_err(|_| Status::unavailable("the scheduler is shutting down"))
    }

    /// Sends a command built around a reply channel and waits for the answer.
    pub async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Status> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply)).await?;
        answer
            .await
            .map_err(|_| Status::unavailable("the scheduler is shutting down"))
    }
}

/// Starts the core on its own task; it stops when every handle is dropped.
pub fn start(config: SchedulerConfig) -> SchedulerHandle {
    let (commands, inbox) = mpsc::channel(COMMAND_QUEUE);
    let core = Core {
        store: Box::new(InMemoryStore::new(config.max_finished)),
        browser_queue: FairQueue::new(usize::MAX, config.tenant_weights.clone()),
        ai_queue: FairQueue::new(usize::MAX, config.tenant_weights.clone()),
        runtime: HashMap::new(),
        timers: BinaryHeap::new(),
        timer_seq: 0,
        workers: workers::Workers::default(),
        next_seq: 0,
        next_lease_check: Instant::now(),
        dispatch_wake: None,
        config,
    };
    tokio::spawn(core.run(inbox));
    SchedulerHandle { commands }
}

impl Core {
    async fn run(mut self, mut inbox: mpsc::Receiver<Command>) {
        loop {
            let wake = self.next_wake();
            tokio::select! {
                command = inbox.recv() => {
                    let Some(command) = command else { break };
                    self.handle(command);
                    // Take what else is waiting before matching, so a burst of submits or
                    // credits is matched once.
                    for _ in 1..BATCH {
                        match inbox.try_recv() {
                            Ok(command) => self.handle(command),
                            Err(_) => break,
                        }
                    }
                }
                () = tokio::time::sleep_until(wake) => self.on_timers(),
            }
            self.dispatch();
            crate::metrics::queue_depths(&self.browser_queue, &self.ai_queue);
        }
        tracing::debug!("scheduler core stopped");
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Submit { spec, wire, reply } => {
                let _ = reply.send(self.submit(*spec, *wire));
            }
            Command::Cancel { id, reason, reply } => {
                let _ = reply.send(self.cancel(&id, &reason));
            }
            Command::Get {
                id,
                with_outputs,
                reply,
            } => {
                let _ = reply.send(self.store.get(&id).map(|r| r.to_pb(with_outputs)));
            }
            Command::Watch { id, after, reply } => {
                let _ = reply.send(self.watch(&id, after));
            }
            Command::AwaitTerminal { id, reply } => self.await_terminal(&id, reply),
            Command::List {
                tenant,
                states,
                before,
                limit,
                reply,
            } => {
                let _ = reply.send(self.list(tenant.as_deref(), &states, before, limit));
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Attach {
                hello,
                outbound,
                reply,
            } => {
                let _ = reply.send(self.attach(hello, outbound));
            }
            Command::FromWorker { conn, message } => self.on_worker_message(conn, message),
            Command::Detached { conn } => self.detached(conn),
        }
    }

    fn add_timer(&mut self, at: Instant, timer: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, timer)));
        // Timers of finished tasks stay in the heap until they fire; when they outnumber the
        // live tasks' by far, drop them, so the heap follows live tasks, not throughput.
        if self.timers.len() > 4 * self.runtime.len() + 1024 {
            let runtime = &self.runtime;
            self.timers.retain(|Reverse((_, _, timer))| match timer {
                Timer::QueueDeadline(id) | Timer::TaskDeadline(id) | Timer::Requeue(id) => {
                    runtime.contains_key(id)
                }
                Timer::Dispatch => true,
            });
        }
    }

    fn next_wake(&self) -> Instant {
        let timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
        let lease = if self.workers.has_live() {
            Some(self.next_lease_check)
        } else {
            None
        };
        match (timer, lease) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            // Nothing scheduled: sleep until a command arrives.
            (None, None) => Instant::now() + Duration::from_secs(3600),
        }
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, timer))) = self.timers.pop() else {
                break;
            };
            match timer {
                Timer::QueueDeadline(id) => self.queue_deadline_passed(&id),
                Timer::TaskDeadline(id) => self.task_deadline_passed(&id),
                Timer::Requeue(id) => self.backoff_over(&id),
                // Matching runs after every wake-up.
                Timer::Dispatch => self.dispatch_wake = None,
            }
        }
        if now >= self.next_lease_check {
            self.check_leases(now);
            self.next_lease_check = now + self.config.heartbeat_interval() / 2;
        }
    }
}

/// An error of `reason` in the in-band form.
pub(crate) fn error(reason: ErrorReason, message: impl Into<String>) -> pb::Error {
    DroverError::new(reason, message).to_pb()
}
