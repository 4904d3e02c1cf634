//! One attached stream, from dial to end: send the hello, wait for the welcome, then keep the
//! scheduler's view right until the stream ends — credit (grant what is free, revoke what no
//! longer is), acks, progress, results from the outbox, heartbeats — and react to
//! assignments, cancels and drains.
//!
//! Credit is counted per stream: the scheduler starts every new stream at zero. `credit` is
//! what this worker granted and the scheduler has not yet used; it never exceeds the free
//! slots (`min(capacity, slots) - running`), and an assignment arriving without credit is
//! refused with `QUEUE_FULL` (`DRAINING` while draining) instead of overrunning the slots.

use std::{sync::Arc, time::Duration};

use drover_api::{
    DroverError, ErrorReason,
    pb::{
        self, attach_request::Message as Up, attach_response::Message as Down,
        worker_hub_service_client::WorkerHubServiceClient,
    },
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::task::TaskTracker;
use tonic::transport::{Channel, Endpoint};

use crate::{
    executor::Executor,
    run,
    state::{Shared, StopCause},
    telemetry::{self, Outcome},
};

/// Messages queued for the wire at once. Only the stream task writes to it, so a full queue
/// slows the stream task, never an executor.
const OUTBOUND_BUFFER: usize = 64;

/// Why an attempt to attach failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AttachError {
    #[error("bad scheduler address: {0}")]
    Address(#[source] tonic::transport::Error),
    #[error("cannot connect: {0}")]
    Connect(#[source] tonic::transport::Error),
    #[error("attach refused: {0}")]
    Rpc(#[from] tonic::Status),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("the scheduler closed the stream before welcoming the worker")]
    Closed,
    #[error("the scheduler's first message was not a welcome")]
    NoWelcome,
}

/// Why a stream ended.
#[derive(Debug)]
pub(crate) enum SessionEnd {
    /// Lost (scheduler gone, network, stuck stream): reconnect.
    Lost(String),
    /// Drained and closed: do not reconnect.
    Drained,
    /// The worker shuts down.
    Shutdown,
}

/// A welcomed stream.
pub(crate) struct Attached {
    // Kept so the connection is owned for as long as the stream is used.
    _client: WorkerHubServiceClient<Channel>,
    out: mpsc::Sender<pb::AttachRequest>,
    inbound: tonic::Streaming<pb::AttachResponse>,
    welcome: pb::HubWelcome,
}

/// Dials the scheduler, sends the hello and waits for the welcome.
pub(crate) async fn attach<E: Executor>(
    shared: &Shared,
    executor: &E,
) -> Result<Attached, AttachError> {
    let config = &shared.config;
    let limit = config.connect_timeout;
    let endpoint = Endpoint::from_shared(config.scheduler.clone())
        .map_err(AttachError::Address)?
        .connect_timeout(limit)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(config.keep_alive_interval)
        .keep_alive_timeout(config.keep_alive_interval)
        .keep_alive_while_idle(true);
    let channel = tokio::time::timeout(limit, endpoint.connect())
        .await
        .map_err(|_| AttachError::Timeout(limit))?
        .map_err(AttachError::Connect)?;
    let mut client = WorkerHubServiceClient::new(channel)
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);

    let (out, queued) = mpsc::channel(OUTBOUND_BUFFER);
    let hello = pb::WorkerHello {
        worker_id: config.worker_id.clone(),
        kind: config.kind as i32,
        slots: config.slots,
        labels: config.labels.clone(),
        in_flight_assignment_ids: shared.in_flight_ids(),
        session_keys: executor.session_keys(),
        version: config.version.clone(),
    };
    // The hello goes first; the queue is empty, so this cannot fail.
    let _ = out.try_send(request(Up::Hello(hello)));
    // The outbound half: whatever the stream task queues, until it drops its sender.
    let outbound = futures::stream::unfold(queued, |mut queued| async move {
        queued.recv().await.map(|message| (message, queued))
    });
    let response = tokio::time::timeout(limit, client.attach(outbound))
        .await
        .map_err(|_| AttachError::Timeout(limit))??;
    let mut inbound = response.into_inner();
    let first = tokio::time::timeout(limit, inbound.message())
        .await
        .map_err(|_| AttachError::Timeout(limit))??;
    let welcome = match first {
        Some(pb::AttachResponse {
            message: Some(Down::Welcome(welcome)),
        }) => welcome,
        Some(_) => return Err(AttachError::NoWelcome),
        None => return Err(AttachError::Closed),
    };
    Ok(Attached {
        _client: client,
        out,
        inbound,
        welcome,
    })
}

fn request(message: Up) -> pb::AttachRequest {
    pb::AttachRequest {
        message: Some(message),
    }
}

/// Serves a welcomed stream until it ends: applies the welcome, sends what waited, then keeps
/// the scheduler's view current.
pub(crate) async fn serve<E: Executor>(
    shared: &Arc<Shared>,
    executor: &Arc<E>,
    tracker: &TaskTracker,
    progress: &mut mpsc::Receiver<pb::AssignmentProgress>,
    attached: Attached,
) -> SessionEnd {
    let Attached {
        _client,
        out,
        mut inbound,
        welcome,
    } = attached;
    let mut session = Session {
        shared,
        executor,
        tracker,
        progress,
        out,
        credit: 0,
    };
    let end = session.serve(&mut inbound, welcome).await;
    shared.set_connected(false);
    if matches!(end, SessionEnd::Drained) {
        session.close(&mut inbound).await;
    }
    end
}

/// The stream task's view of one stream.
struct Session<'a, E> {
    shared: &'a Arc<Shared>,
    executor: &'a Arc<E>,
    tracker: &'a TaskTracker,
    progress: &'a mut mpsc::Receiver<pb::AssignmentProgress>,
    out: mpsc::Sender<pb::AttachRequest>,
    /// Granted on this stream and not yet used.
    credit: u32,
}

impl<E: Executor> Session<'_, E> {
    async fn serve(
        &mut self,
        inbound: &mut tonic::Streaming<pb::AttachResponse>,
        welcome: pb::HubWelcome,
    ) -> SessionEnd {
        let config = &self.shared.config;
        let every = welcome
            .heartbeat_interval
            .and_then(|d| Duration::try_from(d).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(config.default_heartbeat_interval);
        if !welcome.unknown_assignment_ids.is_empty() {
            tracing::info!(
                ids = ?welcome.unknown_assignment_ids,
                "scheduler does not know these assignments; stopping them"
            );
            self.shared.discard(&welcome.unknown_assignment_ids);
        }
        self.shared.set_connected(true);
        tracing::info!(
            heartbeat_ms = every.as_millis() as u64,
            "attached to the scheduler"
        );
        if let Err(end) = self.catch_up().await {
            return end;
        }
        let mut heartbeat = tokio::time::interval_at(Instant::now() + every, every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.shared.drained() {
                return SessionEnd::Drained;
            }
            let step = tokio::select! {
                biased;
                () = self.shared.shutdown.cancelled() => return SessionEnd::Shutdown,
                message = inbound.message() => match message {
                    Ok(Some(message)) => self.on_message(message).await,
                    Ok(None) => Err(SessionEnd::Lost("the scheduler closed the stream".into())),
                    Err(status) => Err(SessionEnd::Lost(format!("stream failed: {status}"))),
                },
                Some(progress) = self.progress.recv() => self.send(Up::Progress(progress)).await,
                () = self.shared.woken() => self.catch_up().await,
                _ = heartbeat.tick() => self.heartbeat().await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Sends queued progress, then queued results (so a run's progress precedes its result),
    /// then corrects the credit.
    async fn catch_up(&mut self) -> Result<(), SessionEnd> {
        while let Ok(progress) = self.progress.try_recv() {
            self.send(Up::Progress(progress)).await?;
        }
        while let Some(result) = self.shared.pop_result() {
            self.send_result(result).await?;
        }
        self.reconcile_credit().await
    }

    async fn send_result(&mut self, result: pb::AssignmentResult) -> Result<(), SessionEnd> {
        let message = request(Up::Result(result));
        match self.send_request(message.clone()).await {
            Ok(()) => Ok(()),
            Err(end) => {
                if let Some(Up::Result(result)) = message.message {
                    self.shared.unpop_result(result);
                }
                Err(end)
            }
        }
    }

    /// Grants or revokes so the outstanding credit equals the free slots (none while draining).
    async fn reconcile_credit(&mut self) -> Result<(), SessionEnd> {
        let target = if self.shared.drain_deadline().is_some() {
            0
        } else {
            self.free_slots()
        };
        let update = if target > self.credit {
            pb::CreditUpdate {
                grant: target - self.credit,
                revoke: 0,
            }
        } else if target < self.credit {
            pb::CreditUpdate {
                grant: 0,
                revoke: self.credit - target,
            }
        } else {
            return Ok(());
        };
        self.credit = target;
        self.shared.set_credit(target);
        tracing::debug!(grant = update.grant, revoke = update.revoke, "credit");
        self.send(Up::Credit(update)).await
    }

    fn free_slots(&self) -> u32 {
        let usable = self.executor.capacity().min(self.shared.config.slots);
        usable.saturating_sub(self.shared.running())
    }

    async fn heartbeat(&mut self) -> Result<(), SessionEnd> {
        let slots = self.shared.config.slots.max(1);
        let running = self.shared.running();
        // Memory pressure counts as load: slots the executor cannot use are busy.
        let unusable = slots.saturating_sub(self.executor.capacity());
        let load = (f64::from(running.max(unusable)) / f64::from(slots)).min(1.0);
        self.send(Up::Heartbeat(pb::WorkerHeartbeat {
            assignment_ids: self.shared.running_ids(),
            load,
        }))
        .await?;
        self.reconcile_credit().await
    }

    async fn on_message(&mut self, message: pb::AttachResponse) -> Result<(), SessionEnd> {
        match message.message {
            Some(Down::Assign(assignment)) => self.on_assignment(assignment).await,
            Some(Down::Cancel(cancel)) => {
                let known = self
                    .shared
                    .stop_run(&cancel.assignment_id, StopCause::Hub(cancel.reason));
                tracing::debug!(assignment_id = %cancel.assignment_id, known, "cancel");
                Ok(())
            }
            Some(Down::Drain(drain)) => {
                let grace = drain
                    .grace
                    .and_then(|d| Duration::try_from(d).ok())
                    .unwrap_or(Duration::ZERO);
                self.shared.begin_drain(grace);
                self.reconcile_credit().await
            }
            Some(Down::Welcome(_)) => {
                tracing::debug!("ignoring a second welcome");
                Ok(())
            }
            None => Ok(()),
        }
    }

    async fn on_assignment(&mut self, assignment: pb::Assignment) -> Result<(), SessionEnd> {
        let id = assignment.assignment_id.clone();
        let draining = self.shared.drain_deadline().is_some();
        if self.credit == 0 || draining || self.shared.running() >= self.shared.config.slots {
            let (reason, message) = if draining {
                (ErrorReason::Draining, "the worker is draining")
            } else {
                (
                    ErrorReason::QueueFull,
                    "assignment sent without credit; the worker's slots are full",
                )
            };
            tracing::warn!(assignment_id = %id, credit = self.credit, "refusing assignment");
            telemetry::count_assignment(self.shared.kind, Outcome::Refused);
            return self
                .send(Up::Result(pb::AssignmentResult {
                    assignment_id: id,
                    outcome: Some(pb::assignment_result::Outcome::Error(
                        DroverError::new(reason, message).to_pb(),
                    )),
                    session_keys: self.executor.session_keys(),
                }))
                .await;
        }
        self.credit -= 1;
        self.shared.set_credit(self.credit);
        match self.shared.insert_run(&id) {
            Some(cancel) => {
                self.send(Up::Ack(pb::AssignmentAck {
                    assignment_id: id.clone(),
                }))
                .await?;
                run::spawn(self.shared, self.executor, self.tracker, assignment, cancel);
            }
            // Already running (a duplicate send): acknowledge again, run it once.
            None => {
                self.send(Up::Ack(pb::AssignmentAck { assignment_id: id }))
                    .await?;
            }
        }
        Ok(())
    }

    async fn send(&self, message: Up) -> Result<(), SessionEnd> {
        self.send_request(request(message)).await
    }

    async fn send_request(&self, message: pb::AttachRequest) -> Result<(), SessionEnd> {
        let limit = self.shared.config.send_timeout;
        match tokio::time::timeout(limit, self.out.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(SessionEnd::Lost("the stream's sender closed".into())),
            Err(_) => Err(SessionEnd::Lost(format!(
                "stream stuck: a message waited {limit:?} to be sent"
            ))),
        }
    }

    /// Half-closes the stream after a drain and waits (bounded) for the scheduler to end its
    /// side, so everything queued reaches the wire before the connection goes.
    async fn close(self, inbound: &mut tonic::Streaming<pb::AttachResponse>) {
        let limit = self.shared.config.send_timeout;
        drop(self.out);
        let finished = tokio::time::timeout(limit, async {
            while let Ok(Some(_)) = inbound.message().await {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!("scheduler did not close its side of the stream after the drain");
        }
    }
}
