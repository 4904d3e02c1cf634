//! [`Worker`]: the handle a service keeps, and the attach loop behind it — dial, serve the
//! stream until it ends, wait a jittered backoff, dial again — until the worker drains or shuts
//! down. Runs outlive streams: a lost stream never stops an assignment, and the loop owns the
//! [`TaskTracker`] every run is spawned on.

use std::{sync::Arc, time::Duration};

use drover_resilience::{BackoffPolicy, Jitter};
use tokio::{sync::mpsc, task::JoinHandle, time::Instant};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    config::WorkerConfig,
    executor::Executor,
    session::{self, SessionEnd},
    state::{Shared, StopCause, WorkerStatus},
    telemetry,
};

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The config has problems, one per entry.
    #[error("invalid worker config: {}", .0.join("; "))]
    Config(Vec<String>),
}

/// A running worker: attached (or reattaching) to the scheduler, running what it assigns.
/// Dropping it shuts it down without a drain, like [`Worker::shutdown`] without the wait.
pub struct Worker {
    shared: Arc<Shared>,
    finished: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Worker {
    /// Checks `config` and spawns the attach loop on the current Tokio runtime.
    pub fn start<E: Executor>(config: WorkerConfig, executor: Arc<E>) -> Result<Self, WorkerError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(WorkerError::Config(problems));
        }
        let (progress_tx, progress_rx) = mpsc::channel(config.progress_buffer);
        let shared = Arc::new(Shared::new(config, progress_tx, CancellationToken::new()));
        shared.set_connected(false);
        telemetry::set_in_flight(shared.kind, 0);
        let finished = CancellationToken::new();
        let task = tokio::spawn(attach_loop(
            Arc::clone(&shared),
            executor,
            progress_rx,
            finished.clone(),
        ));
        Ok(Self {
            shared,
            finished,
            task: Some(task),
        })
    }

    /// The worker's id, as sent in every hello.
    pub fn worker_id(&self) -> &str {
        &self.shared.config.worker_id
    }

    /// A snapshot: connected, running, credit outstanding, results waiting, draining.
    pub fn status(&self) -> WorkerStatus {
        self.shared.status()
    }

    /// Stops taking work (revokes all credit), lets in-flight assignments finish for up to
    /// `grace` (then cancels them; their results say DRAINING so the scheduler runs them
    /// elsewhere), sends every result, closes the stream and ends the loop without
    /// reconnecting. Returns once the loop has ended. A drain already under way (for example
    /// one the scheduler asked for) keeps its own grace.
    pub async fn drain(&self, grace: Duration) {
        self.shared.begin_drain(grace);
        self.finished.cancelled().await;
    }

    /// Resolves when the attach loop has ended: after a drain (asked for by the scheduler or
    /// through [`Worker::drain`]) or a shutdown.
    pub async fn finished(&self) {
        self.finished.cancelled().await;
    }

    /// Stops at once: closes the stream without sending anything more and cancels running
    /// assignments (the scheduler requeues them when it sees the stream go). Waits for the runs
    /// to return, each bounded by the configured cancel grace.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::error!(%error, "worker attach loop panicked");
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// Dials, serves, backs off and dials again until a drain completes or the worker shuts down.
async fn attach_loop<E: Executor>(
    shared: Arc<Shared>,
    executor: Arc<E>,
    mut progress: mpsc::Receiver<drover_api::pb::AssignmentProgress>,
    finished: CancellationToken,
) {
    let config = &shared.config;
    let tracker = TaskTracker::new();
    let policy =
        BackoffPolicy::new(config.reconnect_base, config.reconnect_cap).jitter(Jitter::Full);
    let mut delays = policy.delays();
    let mut attached_before = false;
    loop {
        if shared.drained() {
            break;
        }
        if attached_before {
            // Even the first redial waits a jittered delay, so a fleet that lost the same
            // scheduler does not come back in lockstep.
            let wait = delays.next().unwrap_or(config.reconnect_cap);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shared.shutdown.cancelled() => break,
                () = shared.wait_drained() => break,
                () = drain_give_up(&shared) => break,
            }
        }
        let dial = tokio_retry::Retry::start(delays.by_ref(), || async {
            session::attach(&shared, executor.as_ref())
                .await
                .inspect_err(|error| tracing::warn!(%error, "cannot attach to the scheduler"))
        });
        let attached = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => break,
            () = shared.wait_drained() => break,
            () = drain_give_up(&shared) => break,
            attached = dial => attached,
        };
        let Ok(attached) = attached else {
            // The delay sequence is endless, so this is not reached; start it over if it is.
            delays = policy.delays();
            continue;
        };
        if attached_before {
            telemetry::count_reconnect(shared.kind);
        }
        attached_before = true;
        let started = Instant::now();
        match session::serve(&shared, &executor, &tracker, &mut progress, attached).await {
            SessionEnd::Lost(reason) => {
                tracing::warn!(%reason, "lost the scheduler stream; reconnecting");
                // A stream that held for a while earns a fresh backoff; one that keeps
                // dropping straight after the welcome keeps backing off further.
                if started.elapsed() >= config.reconnect_cap {
                    delays = policy.delays();
                }
            }
            SessionEnd::Drained => {
                tracing::info!("drained; stream closed");
                break;
            }
            SessionEnd::Shutdown => break,
        }
    }
    if shared.buffered() > 0 {
        tracing::warn!(
            results = shared.buffered(),
            "worker stopped with results it could not send; the scheduler will requeue them"
        );
    }
    shared.stop_all(StopCause::Discard);
    tracker.close();
    if tokio::time::timeout(config.cancel_grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("runs still going after the cancel grace; leaving them");
    }
    shared.set_connected(false);
    finished.cancel();
}

/// Resolves when a drain has waited long enough for a stream to send its last results: its
/// grace, the cancel grace, one dial and one backoff. Pending while not draining.
async fn drain_give_up(shared: &Shared) {
    let deadline = shared.wait_drain_started().await;
    let config = &shared.config;
    let slack = config.cancel_grace + config.connect_timeout + config.reconnect_cap;
    tokio::time::sleep_until(deadline + slack).await;
    tracing::warn!(
        results = shared.buffered(),
        "drain could not reach the scheduler in time; giving up on the remaining results"
    );
}
