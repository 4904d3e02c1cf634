//! What outlives a single stream: the table of running assignments (with the token that stops
//! each and why it was stopped), the bounded outbox of results waiting to be sent, the drain
//! flag, and the notifications that wake the stream when any of it changes.
//!
//! One `std::sync::Mutex` guards it all; it is held only for map and queue operations, never
//! across an `.await`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use drover_api::pb;
use tokio::{
    sync::{Notify, mpsc},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use crate::{config::WorkerConfig, telemetry};

/// Why a run was stopped before it returned on its own.
#[derive(Clone, Debug)]
pub(crate) enum StopCause {
    /// The scheduler sent `CancelAssignment`, with its reason if any.
    Hub(Option<pb::Error>),
    /// The assignment's deadline passed.
    Deadline,
    /// A drain's grace ran out.
    Drain,
    /// The scheduler no longer recognises it, or the worker shuts down: send no result.
    Discard,
}

struct RunEntry {
    cancel: CancellationToken,
    cause: Option<StopCause>,
}

#[derive(Default)]
struct State {
    runs: HashMap<String, RunEntry>,
    outbox: VecDeque<pb::AssignmentResult>,
    connected: bool,
    credit: u32,
    drain: Option<Instant>,
}

/// A snapshot of the worker, for status pages and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerStatus {
    /// A stream is up and the scheduler welcomed it.
    pub connected: bool,
    /// Assignments running now.
    pub in_flight: u32,
    /// Credit granted on the current stream and not yet used by an assignment.
    pub credit: u32,
    /// Results waiting for a stream.
    pub buffered_results: u32,
    /// The worker takes no more work and ends once in-flight work is done.
    pub draining: bool,
}

/// State shared by the attach loop, the stream and every run.
pub(crate) struct Shared {
    pub(crate) config: WorkerConfig,
    pub(crate) kind: &'static str,
    /// Where [`crate::Progress`] handles queue messages; the stream drains it.
    pub(crate) progress_tx: mpsc::Sender<pb::AssignmentProgress>,
    /// Fires the whole worker down (shutdown); every run's token is a child of it.
    pub(crate) shutdown: CancellationToken,
    state: Mutex<State>,
    /// Wakes the stream (one permit is kept if it is not listening).
    wake: Notify,
    /// Wakes everyone waiting for a state change (drain completion while disconnected).
    changed: Notify,
}

impl Shared {
    pub(crate) fn new(
        config: WorkerConfig,
        progress_tx: mpsc::Sender<pb::AssignmentProgress>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            kind: telemetry::kind_label(config.kind),
            config,
            progress_tx,
            shutdown,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than stopping the worker would, so a poisoned lock is used as is.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn notify(&self) {
        self.wake.notify_one();
        self.changed.notify_waiters();
    }

    /// Resolves when the stream should look at the state again.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Registers a run; `None` if one with this id already runs.
    pub(crate) fn insert_run(&self, id: &str) -> Option<CancellationToken> {
        let mut state = self.lock();
        if state.runs.contains_key(id) {
            return None;
        }
        let cancel = self.shutdown.child_token();
        state.runs.insert(
            id.to_owned(),
            RunEntry {
                cancel: cancel.clone(),
                cause: None,
            },
        );
        telemetry::set_in_flight(self.kind, state.runs.len());
        Some(cancel)
    }

    /// Stops a run for `cause` (the first cause recorded wins). `false` if it is not running.
    pub(crate) fn stop_run(&self, id: &str, cause: StopCause) -> bool {
        let mut state = self.lock();
        let Some(entry) = state.runs.get_mut(id) else {
            return false;
        };
        entry.cause.get_or_insert(cause);
        entry.cancel.cancel();
        true
    }

    /// Stops every run for `cause`.
    pub(crate) fn stop_all(&self, cause: StopCause) {
        let mut state = self.lock();
        for entry in state.runs.values_mut() {
            entry.cause.get_or_insert_with(|| cause.clone());
            entry.cancel.cancel();
        }
    }

    /// Removes a finished run and returns why it was stopped, if it was.
    pub(crate) fn finish_run(&self, id: &str) -> Option<StopCause> {
        let mut state = self.lock();
        let cause = state.runs.remove(id).and_then(|entry| entry.cause);
        telemetry::set_in_flight(self.kind, state.runs.len());
        drop(state);
        self.notify();
        cause
    }

    /// Queues a result for the stream. When the outbox is full the oldest result is dropped:
    /// the scheduler requeues that assignment once its lease runs out.
    pub(crate) fn push_result(&self, result: pb::AssignmentResult) {
        let mut state = self.lock();
        while state.outbox.len() >= self.config.max_buffered_results {
            if let Some(dropped) = state.outbox.pop_front() {
                tracing::warn!(
                    assignment_id = %dropped.assignment_id,
                    max = self.config.max_buffered_results,
                    "result buffer full while disconnected; dropping the oldest result"
                );
                telemetry::count_result_dropped(self.kind);
            }
        }
        state.outbox.push_back(result);
        drop(state);
        self.notify();
    }

    /// Takes the oldest queued result.
    pub(crate) fn pop_result(&self) -> Option<pb::AssignmentResult> {
        self.lock().outbox.pop_front()
    }

    /// Puts back a result that could not be sent, at the front so order is kept.
    pub(crate) fn unpop_result(&self, result: pb::AssignmentResult) {
        let mut state = self.lock();
        if state.outbox.len() >= self.config.max_buffered_results {
            tracing::warn!(
                assignment_id = %result.assignment_id,
                "result buffer full; dropping a result that failed to send"
            );
            telemetry::count_result_dropped(self.kind);
            return;
        }
        state.outbox.push_front(result);
    }

    /// Stops the named runs and drops their queued results (the scheduler no longer knows
    /// them).
    pub(crate) fn discard(&self, ids: &[String]) {
        let mut state = self.lock();
        for id in ids {
            if let Some(entry) = state.runs.get_mut(id) {
                entry.cause = Some(StopCause::Discard);
                entry.cancel.cancel();
            }
        }
        state
            .outbox
            .retain(|result| !ids.contains(&result.assignment_id));
    }

    /// Assignments the scheduler should keep leased: running ones and those whose result
    /// waits in the outbox.
    pub(crate) fn in_flight_ids(&self) -> Vec<String> {
        let state = self.lock();
        let mut ids: Vec<String> = state.runs.keys().cloned().collect();
        ids.extend(state.outbox.iter().map(|r| r.assignment_id.clone()));
        ids.sort();
        ids.dedup();
        ids
    }

    /// Assignments running now, sorted.
    pub(crate) fn running_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().runs.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// How many assignments run now.
    pub(crate) fn running(&self) -> u32 {
        u32::try_from(self.lock().runs.len()).unwrap_or(u32::MAX)
    }

    /// Records whether a welcomed stream is up.
    pub(crate) fn set_connected(&self, connected: bool) {
        let mut state = self.lock();
        state.connected = connected;
        if !connected {
            state.credit = 0;
        }
        telemetry::set_connected(self.kind, connected);
    }

    /// Records the credit outstanding on the current stream.
    pub(crate) fn set_credit(&self, credit: u32) {
        self.lock().credit = credit;
    }

    /// Starts draining (idempotent; the first grace wins). After `grace`, runs still going
    /// are stopped.
    pub(crate) fn begin_drain(self: &Arc<Self>, grace: Duration) {
        {
            let mut state = self.lock();
            if state.drain.is_some() {
                return;
            }
            state.drain = Some(Instant::now() + grace);
        }
        tracing::info!(grace_ms = grace.as_millis() as u64, "worker draining");
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(grace) => shared.stop_all(StopCause::Drain),
                () = shared.shutdown.cancelled() => {}
            }
        });
        self.notify();
    }

    /// When the drain started plus its grace, if draining.
    pub(crate) fn drain_deadline(&self) -> Option<Instant> {
        self.lock().drain
    }

    /// Draining, and nothing left to run or to send.
    pub(crate) fn drained(&self) -> bool {
        let state = self.lock();
        state.drain.is_some() && state.runs.is_empty() && state.outbox.is_empty()
    }

    /// Resolves once [`Shared::drained`] holds.
    pub(crate) async fn wait_drained(&self) {
        loop {
            let changed = self.changed.notified();
            if self.drained() {
                return;
            }
            changed.await;
        }
    }

    /// Resolves with the drain's deadline once a drain has begun.
    pub(crate) async fn wait_drain_started(&self) -> Instant {
        loop {
            let changed = self.changed.notified();
            if let Some(deadline) = self.drain_deadline() {
                return deadline;
            }
            changed.await;
        }
    }

    /// Queued results, for the final warning when a drain gives up on them.
    pub(crate) fn buffered(&self) -> usize {
        self.lock().outbox.len()
    }

    pub(crate) fn status(&self) -> WorkerStatus {
        let state = self.lock();
        WorkerStatus {
            connected: state.connected,
            in_flight: u32::try_from(state.runs.len()).unwrap_or(u32::MAX),
            credit: state.credit,
            buffered_results: u32::try_from(state.outbox.len()).unwrap_or(u32::MAX),
            draining: state.drain.is_some(),
        }
    }
}
