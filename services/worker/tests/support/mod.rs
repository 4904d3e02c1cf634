//! Test fixtures: a scripted hub (a real `WorkerHubService` gRPC server on 127.0.0.1:0 whose
//! every stream the test drives by hand) and a small executor whose behaviour each assignment
//! picks through its `task_id`.

#![allow(dead_code)]

use std::{
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use drover_api::{
    DroverError, ErrorReason,
    pb::{
        self,
        attach_request::Message as Up,
        attach_response::Message as Down,
        worker_hub_service_server::{WorkerHubService, WorkerHubServiceServer},
    },
};
use drover_worker::{Executor, Progress, WorkerConfig};
use futures::Stream;
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

/// How long a test waits for any one message before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// A hub server the test scripts: each `Attach` call becomes a [`HubStream`].
pub struct ScriptedHub {
    pub addr: SocketAddr,
    streams: mpsc::UnboundedReceiver<HubStream>,
    kill: CancellationToken,
    server: JoinHandle<()>,
}

impl ScriptedHub {
    /// A hub on an ephemeral port.
    pub async fn start() -> Self {
        Self::bind("127.0.0.1:0".parse().expect("address")).await
    }

    /// A hub on `addr` (to come back on the same port after [`ScriptedHub::kill`]).
    pub async fn bind(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind hub");
        let addr = listener.local_addr().expect("hub address");
        let (streams_tx, streams) = mpsc::unbounded_channel();
        let kill = CancellationToken::new();
        let service = HubService {
            streams: streams_tx,
            kill: kill.clone(),
        };
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(WorkerHubServiceServer::new(service))
                .serve_with_incoming(TcpIncoming::from(listener))
                .await;
        });
        Self {
            addr,
            streams,
            kill,
            server,
        }
    }

    /// The URL a worker dials.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next stream a worker opens.
    pub async fn next_stream(&mut self) -> HubStream {
        tokio::time::timeout(WAIT, self.streams.recv())
            .await
            .expect("no worker attached in time")
            .expect("hub stopped")
    }

    /// Whether a worker opens a stream within `within`.
    pub async fn attaches_within(&mut self, within: Duration) -> bool {
        matches!(
            tokio::time::timeout(within, self.streams.recv()).await,
            Ok(Some(_))
        )
    }

    /// A crash: every open stream fails with UNAVAILABLE and the port stops listening.
    pub async fn kill(self) -> SocketAddr {
        self.kill.cancel();
        self.server.abort();
        let _ = self.server.await;
        self.addr
    }
}

#[derive(Clone)]
struct HubService {
    streams: mpsc::UnboundedSender<HubStream>,
    kill: CancellationToken,
}

type Downstream = Pin<Box<dyn Stream<Item = Result<pb::AttachResponse, Status>> + Send>>;

#[tonic::async_trait]
impl WorkerHubService for HubService {
    type AttachStream = Downstream;

    async fn attach(
        &self,
        request: Request<tonic::Streaming<pb::AttachRequest>>,
    ) -> Result<Response<Downstream>, Status> {
        let mut incoming = request.into_inner();
        let (up_tx, up) = mpsc::unbounded_channel();
        let (down, down_rx) = mpsc::unbounded_channel();
        // Like a real hub, end our side once the worker has ended its own.
        let closed = CancellationToken::new();
        let kill = self.kill.clone();
        tokio::spawn({
            let closed = closed.clone();
            async move {
                loop {
                    tokio::select! {
                        message = incoming.message() => match message {
                            Ok(Some(pb::AttachRequest { message: Some(m) })) => {
                                let _ = up_tx.send(m);
                            }
                            Ok(Some(_)) => {}
                            Ok(None) | Err(_) => break,
                        },
                        () = kill.cancelled() => break,
                    }
                }
                closed.cancel();
            }
        });
        let state = (down_rx, closed, self.kill.clone(), false);
        let stream = futures::stream::unfold(
            state,
            |(mut down_rx, closed, kill, done): (
                mpsc::UnboundedReceiver<Result<pb::AttachResponse, Status>>,
                CancellationToken,
                CancellationToken,
                bool,
            )| async move {
                if done {
                    return None;
                }
                tokio::select! {
                    biased;
                    () = kill.cancelled() => {
                        Some((Err(Status::unavailable("hub killed")), (down_rx, closed, kill, true)))
                    }
                    message = down_rx.recv() => message.map(|m| (m, (down_rx, closed, kill, false))),
                    () = closed.cancelled() => None,
                }
            },
        );
        let _ = self.streams.send(HubStream { up, down });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// One worker stream, as the hub sees it.
pub struct HubStream {
    up: mpsc::UnboundedReceiver<Up>,
    down: mpsc::UnboundedSender<Result<pb::AttachResponse, Status>>,
}

impl HubStream {
    /// The next message, heartbeats included; `None` once the worker closed its side.
    pub async fn recv(&mut self) -> Option<Up> {
        tokio::time::timeout(WAIT, self.up.recv())
            .await
            .expect("worker sent nothing in time")
    }

    /// The next message other than a heartbeat.
    pub async fn next(&mut self) -> Up {
        loop {
            match self.recv().await {
                Some(Up::Heartbeat(_)) => continue,
                Some(message) => return message,
                None => panic!("worker closed the stream"),
            }
        }
    }

    /// The next heartbeat, skipping other messages.
    pub async fn heartbeat(&mut self) -> pb::WorkerHeartbeat {
        loop {
            match self.recv().await {
                Some(Up::Heartbeat(heartbeat)) => return heartbeat,
                Some(_) => continue,
                None => panic!("worker closed the stream"),
            }
        }
    }

    /// Waits for the worker to close its side, skipping heartbeats; panics on anything else.
    pub async fn closed(&mut self) {
        loop {
            match self.recv().await {
                Some(Up::Heartbeat(_)) => continue,
                Some(other) => panic!("expected the stream to close, got {other:?}"),
                None => return,
            }
        }
    }

    pub async fn hello(&mut self) -> pb::WorkerHello {
        match self.next().await {
            Up::Hello(hello) => hello,
            other => panic!("expected a hello, got {other:?}"),
        }
    }

    pub async fn credit(&mut self) -> pb::CreditUpdate {
        match self.next().await {
            Up::Credit(credit) => credit,
            other => panic!("expected a credit update, got {other:?}"),
        }
    }

    pub async fn ack(&mut self) -> String {
        match self.next().await {
            Up::Ack(ack) => ack.assignment_id,
            other => panic!("expected an ack, got {other:?}"),
        }
    }

    pub async fn result(&mut self) -> pb::AssignmentResult {
        match self.next().await {
            Up::Result(result) => result,
            other => panic!("expected a result, got {other:?}"),
        }
    }

    pub fn send(&self, message: Down) {
        let _ = self.down.send(Ok(pb::AttachResponse {
            message: Some(message),
        }));
    }

    pub fn welcome(&self, heartbeat: Duration, unknown: Vec<String>) {
        self.send(Down::Welcome(pb::HubWelcome {
            heartbeat_interval: Some(duration(heartbeat)),
            lease_duration: Some(duration(heartbeat * 3)),
            unknown_assignment_ids: unknown,
        }));
    }

    /// Assigns `id`; `behaviour` picks what the test executor does (see [`TestExecutor`]).
    pub fn assign(&self, id: &str, behaviour: &str, steps: u32) {
        self.send(Down::Assign(assignment(id, behaviour, steps)));
    }

    pub fn cancel(&self, id: &str) {
        self.send(Down::Cancel(pb::CancelAssignment {
            assignment_id: id.to_owned(),
            reason: Some(DroverError::new(ErrorReason::Cancelled, "client cancelled").to_pb()),
        }));
    }

    pub fn drain(&self, grace: Duration) {
        self.send(Down::Drain(pb::DrainWorker {
            grace: Some(duration(grace)),
        }));
    }

    /// The scheduler goes away mid-stream: the stream fails with UNAVAILABLE.
    pub fn hang_up(self) {
        let _ = self
            .down
            .send(Err(Status::unavailable("scheduler restarting")));
    }
}

pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration::try_from(d).expect("duration")
}

pub fn assignment(id: &str, behaviour: &str, steps: u32) -> pb::Assignment {
    pb::Assignment {
        assignment_id: id.to_owned(),
        task_id: behaviour.to_owned(),
        attempt: 1,
        steps: (0..steps)
            .map(|index| pb::IndexedStep {
                index,
                step: Some(pb::Step {
                    name: format!("s{index}"),
                    ..Default::default()
                }),
            })
            .collect(),
        ..Default::default()
    }
}

pub fn error_reason(result: &pb::AssignmentResult) -> Option<pb::ErrorReason> {
    match &result.outcome {
        Some(pb::assignment_result::Outcome::Error(e)) => pb::ErrorReason::try_from(e.reason).ok(),
        _ => None,
    }
}

pub fn outputs(result: &pb::AssignmentResult) -> Vec<pb::StepOutput> {
    match &result.outcome {
        Some(pb::assignment_result::Outcome::Outputs(o)) => o.outputs.clone(),
        other => panic!("expected outputs, got {other:?}"),
    }
}

/// A config with short intervals, so the whole test binary stays quick.
pub fn config(hub: &str, slots: u32) -> WorkerConfig {
    let mut config = WorkerConfig::new(hub, "worker-1", pb::WorkerKind::Browser, slots);
    config.labels.insert("region".into(), "test".into());
    config.version = "test-version".into();
    config.reconnect_base = Duration::from_millis(50);
    config.reconnect_cap = Duration::from_millis(200);
    config.connect_timeout = Duration::from_secs(2);
    config.default_heartbeat_interval = Duration::from_millis(200);
    config.send_timeout = Duration::from_secs(2);
    config.cancel_grace = Duration::from_secs(1);
    config
}

/// Runs assignments by their `task_id`:
/// - `echo`: each step after `step_delay`, reporting progress, outputs named after the steps;
/// - `fail`: a STEP_FAILED error;
/// - `hang`: until cancelled (then claims success, which the worker must override);
/// - `slow:<ms>`: one output after `<ms>` milliseconds, unless cancelled.
pub struct TestExecutor {
    pub capacity: AtomicU32,
    pub step_delay: Duration,
    pub cancels_seen: AtomicU32,
}

impl TestExecutor {
    pub fn new(capacity: u32) -> Arc<Self> {
        Arc::new(Self {
            capacity: AtomicU32::new(capacity),
            step_delay: Duration::from_millis(20),
            cancels_seen: AtomicU32::new(0),
        })
    }

    pub fn set_capacity(&self, capacity: u32) {
        self.capacity.store(capacity, Ordering::SeqCst);
    }

    fn output(step: &pb::IndexedStep) -> pb::StepOutput {
        pb::StepOutput {
            step: step
                .step
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            index: step.index,
            duration: None,
            value: Some(pb::step_output::Value::None(pb::NoOutput {})),
        }
    }

    fn cancelled(&self) -> Result<Vec<pb::StepOutput>, pb::Error> {
        self.cancels_seen.fetch_add(1, Ordering::SeqCst);
        Err(DroverError::new(ErrorReason::Cancelled, "stopped").to_pb())
    }
}

impl Executor for TestExecutor {
    async fn run(
        &self,
        assignment: pb::Assignment,
        progress: Progress,
        cancel: CancellationToken,
    ) -> Result<Vec<pb::StepOutput>, pb::Error> {
        let behaviour = assignment.task_id.as_str();
        if behaviour == "fail" {
            return Err(DroverError::new(ErrorReason::StepFailed, "boom").to_pb());
        }
        if behaviour == "hang" {
            cancel.cancelled().await;
            self.cancels_seen.fetch_add(1, Ordering::SeqCst);
            return Ok(Vec::new());
        }
        if let Some(ms) = behaviour.strip_prefix("slow:") {
            let ms = ms.parse().expect("slow:<ms>");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                () = cancel.cancelled() => return self.cancelled(),
            }
            return Ok(assignment.steps.iter().map(Self::output).collect());
        }
        let mut outputs = Vec::new();
        for step in &assignment.steps {
            tokio::select! {
                () = tokio::time::sleep(self.step_delay) => {}
                () = cancel.cancelled() => return self.cancelled(),
            }
            let output = Self::output(step);
            progress.send(output.clone());
            outputs.push(output);
        }
        Ok(outputs)
    }

    fn capacity(&self) -> u32 {
        self.capacity.load(Ordering::SeqCst)
    }

    fn session_keys(&self) -> Vec<String> {
        vec!["session-a".to_owned()]
    }
}
