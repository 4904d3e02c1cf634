//! Fixtures for the scheduler's integration tests: the real `drover-scheduler` binary on
//! 127.0.0.1:0 with a temporary TOML config (killed on drop), task specs, a fake
//! [`Executor`] whose behaviour a test picks, and a raw hub client for workers that misbehave
//! in ways the real worker never would.
//!
//! Waiting is bounded everywhere: [`eventually`] polls a condition until a generous limit, so a
//! slow machine makes a test slower, never flaky; nothing asserts on how fast anything is.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use drover_api::{DroverError, ErrorReason, pb};
use drover_worker::{Executor, Progress, Worker, WorkerConfig};
use futures::StreamExt;
use pb::{
    scheduler_service_client::SchedulerServiceClient,
    worker_hub_service_client::WorkerHubServiceClient,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// How long any single wait in a test may take before it counts as a failure.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Settings most tests want: short heartbeats and leases so lost work comes back quickly.
pub const FAST: &str = "heartbeat_interval_ms = 100\nlease_ms = 1500\nreconnect_grace_ms = 300\n\
                        affinity_wait_ms = 5000\n";

/// A `drover-scheduler` process, killed when dropped.
pub struct Scheduler {
    child: Child,
    addr: String,
    config: tempfile_path::TempPath,
}

/// A config file removed on drop (no extra crate for one file).
mod tempfile_path {
    use std::path::PathBuf;

    pub struct TempPath(pub PathBuf);

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl Scheduler {
    /// Starts the binary with `toml` as its config file. Its logs go to stderr when
    /// `DROVER_TEST_LOGS` is set (they are dropped otherwise).
    pub fn start(toml: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "drover-scheduler-test-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, toml).expect("write the config file");
        let config = tempfile_path::TempPath(path);
        let logs = std::env::var_os("DROVER_TEST_LOGS").is_some();
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover-scheduler"))
            .arg("--config")
            .arg(&config.0)
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
            .env_remove("DROVER_SCHEDULER_CONFIG")
            .env("DROVER_LOG", "info,drover_scheduler=debug")
            .stdout(Stdio::piped())
            .stderr(if logs {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start drover-scheduler");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the first line");
        let addr = line
            .trim()
            .strip_prefix("drover-scheduler listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            addr,
            config,
        }
    }

    /// `http://host:port`, for workers.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A connected channel.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.endpoint())
            .expect("uri")
            .connect()
            .await
            .expect("connect to the scheduler")
    }

    /// A client of the public API.
    pub async fn client(&self) -> SchedulerServiceClient<Channel> {
        SchedulerServiceClient::new(self.channel().await)
    }

    /// Starts a real worker (the `drover-worker` crate) running `executor`.
    pub fn worker(
        &self,
        id: &str,
        kind: pb::WorkerKind,
        slots: u32,
        executor: Arc<FakeExecutor>,
    ) -> Worker {
        let mut config = WorkerConfig::new(self.endpoint(), id, kind, slots);
        config.reconnect_base = Duration::from_millis(50);
        config.reconnect_cap = Duration::from_millis(500);
        config.cancel_grace = Duration::from_secs(1);
        config.default_heartbeat_interval = Duration::from_millis(100);
        Worker::start(config, executor).expect("worker config")
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `Some`, or panics naming `what` after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Specs.

/// A navigate step.
pub fn navigate(name: &str, url: &str) -> pb::Step {
    pb::Step {
        name: name.into(),
        kind: Some(pb::step::Kind::Navigate(pb::NavigateStep {
            url: url.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// An extract step (first match's text).
pub fn extract(name: &str, selector: &str) -> pb::Step {
    pb::Step {
        name: name.into(),
        kind: Some(pb::step::Kind::Extract(pb::ExtractStep {
            selector: selector.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// A chat step with one user message (templated).
pub fn chat(name: &str, message: &str) -> pb::Step {
    pb::Step {
        name: name.into(),
        kind: Some(pb::step::Kind::Chat(pb::ChatSpec {
            model_group: "default".into(),
            messages: vec![pb::ChatMessage {
                role: pb::ChatRole::User as i32,
                content: message.into(),
            }],
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// A task of `steps` for `tenant`, retrying quickly (50 ms first backoff, 5 attempts).
pub fn spec(tenant: &str, steps: Vec<pb::Step>) -> pb::TaskSpec {
    pb::TaskSpec {
        tenant: tenant.into(),
        steps,
        retry_policy: Some(pb::RetryPolicy {
            max_attempts: 5,
            initial_backoff: Some(millis(50)),
            max_backoff: Some(millis(200)),
        }),
        timeout: Some(seconds(60)),
        ..Default::default()
    }
}

/// A one-step browser task opening `url`.
pub fn browse(tenant: &str, url: &str) -> pb::TaskSpec {
    spec(tenant, vec![navigate("open", url)])
}

/// A wire duration of `ms` milliseconds.
pub fn millis(ms: u64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// A wire duration of `s` seconds.
pub fn seconds(s: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: s,
        nanos: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Calls.

/// Submits `spec`; panics on an error.
pub async fn submit(client: &mut SchedulerServiceClient<Channel>, spec: pb::TaskSpec) -> String {
    client
        .submit_task(pb::SubmitTaskRequest { task: Some(spec) })
        .await
        .expect("submit")
        .into_inner()
        .task_id
}

/// Every event of the task until its stream ends (bounded by [`PATIENCE`]).
pub async fn watch_to_end(
    client: &mut SchedulerServiceClient<Channel>,
    id: &str,
) -> Vec<pb::TaskEvent> {
    let mut stream = client
        .watch_task(pb::WatchTaskRequest {
            task_id: id.into(),
            after_sequence: 0,
        })
        .await
        .expect("watch")
        .into_inner();
    let mut events = Vec::new();
    let collect = async {
        while let Some(item) = stream.next().await {
            events.push(item.expect("watch item").event.expect("event"));
        }
    };
    tokio::time::timeout(PATIENCE, collect)
        .await
        .unwrap_or_else(|_| panic!("task {id}'s watch did not end"));
    events
}

/// The task (with outputs).
pub async fn get(client: &mut SchedulerServiceClient<Channel>, id: &str) -> pb::Task {
    client
        .get_task(pb::GetTaskRequest {
            task_id: id.into(),
            omit_outputs: false,
        })
        .await
        .expect("get")
        .into_inner()
        .task
        .expect("task")
}

/// Waits for the task's terminal state (watching it to the end) and returns the task and its
/// events. Asserts the events end with exactly one FINISHED.
pub async fn finish(
    client: &mut SchedulerServiceClient<Channel>,
    id: &str,
) -> (pb::Task, Vec<pb::TaskEvent>) {
    let events = watch_to_end(client, id).await;
    let finished = events.iter().filter(|e| is_finished(e)).count();
    assert_eq!(
        finished, 1,
        "task {id} finished {finished} times: {events:#?}"
    );
    assert!(
        events.last().is_some_and(is_finished),
        "task {id}'s last event is not FINISHED: {events:#?}"
    );
    (get(client, id).await, events)
}

/// Whether the event is the terminal one.
pub fn is_finished(event: &pb::TaskEvent) -> bool {
    matches!(event.detail, Some(pb::task_event::Detail::Finished(_)))
}

/// The task's state.
pub fn state(task: &pb::Task) -> pb::TaskState {
    pb::TaskState::try_from(task.state).expect("a known state")
}

/// The cluster status.
pub async fn cluster(client: &mut SchedulerServiceClient<Channel>) -> pb::GetClusterStatusResponse {
    client
        .get_cluster_status(pb::GetClusterStatusRequest {})
        .await
        .expect("cluster status")
        .into_inner()
}

/// Tasks queued at every priority.
pub async fn queued(client: &mut SchedulerServiceClient<Channel>) -> u32 {
    cluster(client).await.queue.iter().map(|q| q.queued).sum()
}

/// Waits until the scheduler lists worker `id` with credit to spend.
pub async fn wait_for_worker(client: &mut SchedulerServiceClient<Channel>, id: &str) {
    eventually(&format!("worker {id} to attach with credit"), || {
        let mut client = client.clone();
        async move {
            cluster(&mut client)
                .await
                .workers
                .iter()
                .any(|w| w.worker_id == id && w.credit > 0)
                .then_some(())
        }
    })
    .await;
}

/// The Drover error a failed call carries.
pub fn drover_error(status: &tonic::Status) -> DroverError {
    DroverError::from_status(status)
        .unwrap_or_else(|| panic!("no Drover error details in {status:?}"))
}

// ---------------------------------------------------------------------------------------------
// The fake executor.

/// What a [`FakeExecutor`] does with an assignment.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Produce an output per step. A navigate URL containing `/hang` waits until cancelled;
    /// one containing `/slow` takes 300 ms.
    Work,
    /// Fail every assignment with this reason.
    Fail(ErrorReason),
    /// Wait until cancelled, whatever the assignment.
    Hang,
}

/// One assignment as the executor saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub assignment: pb::Assignment,
    /// The run's cancellation token fired.
    pub cancelled: bool,
    /// The run returned (by itself or after cancellation).
    pub returned: bool,
}

/// An [`Executor`] that fakes browser and AI work and records what it was given.
pub struct FakeExecutor {
    behaviour: Behaviour,
    slots: u32,
    seen: Mutex<Vec<Seen>>,
    /// Affinity keys of the assignments it completed: the sessions it "holds".
    sessions: Mutex<Vec<String>>,
}

impl FakeExecutor {
    /// A new executor with `behaviour`, reporting `slots` free capacity.
    pub fn new(behaviour: Behaviour, slots: u32) -> Arc<Self> {
        Arc::new(Self {
            behaviour,
            slots,
            seen: Mutex::new(Vec::new()),
            sessions: Mutex::new(Vec::new()),
        })
    }

    /// Every assignment received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Assignments received so far.
    pub fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    /// Assignments of `task_id` received so far.
    pub fn of_task(&self, task_id: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.assignment.task_id == task_id)
            .collect()
    }

    /// Assignments running now (received, not returned).
    pub fn running(&self) -> usize {
        self.seen().iter().filter(|s| !s.returned).count()
    }

    fn update(&self, assignment_id: &str, change: impl FnOnce(&mut Seen)) {
        let mut seen = self.seen.lock().expect("lock");
        if let Some(s) = seen
            .iter_mut()
            .rev()
            .find(|s| s.assignment.assignment_id == assignment_id)
        {
            change(s);
        }
    }
}

/// Marks the run returned when the future ends or is dropped.
struct Returned<'a> {
    executor: &'a FakeExecutor,
    id: String,
}

impl Drop for Returned<'_> {
    fn drop(&mut self) {
        self.executor.update(&self.id, |s| s.returned = true);
    }
}

impl Executor for FakeExecutor {
    async fn run(
        &self,
        assignment: pb::Assignment,
        progress: Progress,
        cancel: CancellationToken,
    ) -> Result<Vec<pb::StepOutput>, pb::Error> {
        let id = assignment.assignment_id.clone();
        self.seen.lock().expect("lock").push(Seen {
            assignment: assignment.clone(),
            cancelled: false,
            returned: false,
        });
        let _returned = Returned {
            executor: self,
            id: id.clone(),
        };
        match self.behaviour {
            Behaviour::Work => {}
            Behaviour::Fail(reason) => {
                return Err(DroverError::new(reason, "the fake executor fails everything").to_pb());
            }
            Behaviour::Hang => {
                cancel.cancelled().await;
                self.update(&id, |s| s.cancelled = true);
                return Err(DroverError::new(ErrorReason::Cancelled, "stopped").to_pb());
            }
        }
        let mut outputs = Vec::new();
        for indexed in &assignment.steps {
            let step = indexed.step.as_ref().expect("step");
            let value = match step.kind.as_ref().expect("step kind") {
                pb::step::Kind::Navigate(nav) => {
                    if nav.url.contains("/hang") {
                        cancel.cancelled().await;
                        self.update(&id, |s| s.cancelled = true);
                        return Err(DroverError::new(ErrorReason::Cancelled, "stopped").to_pb());
                    }
                    if nav.url.contains("/slow") {
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_millis(300)) => {}
                            () = cancel.cancelled() => {
                                self.update(&id, |s| s.cancelled = true);
                                return Err(DroverError::new(ErrorReason::Cancelled, "stopped").to_pb());
                            }
                        }
                    }
                    pb::step_output::Value::Navigate(pb::NavigateOutput {
                        url: nav.url.clone(),
                        title: format!("title of {}", nav.url),
                        status: 200,
                    })
                }
                pb::step::Kind::Extract(ex) => pb::step_output::Value::Extract(pb::ExtractOutput {
                    values: vec![format!("text of {}", ex.selector)],
                }),
                pb::step::Kind::Chat(_) => {
                    // What a real router would send: the message with its references resolved.
                    let referenced: Vec<String> = assignment
                        .inputs
                        .iter()
                        .filter_map(|o| match &o.value {
                            Some(pb::step_output::Value::Extract(e)) => e.values.first().cloned(),
                            _ => None,
                        })
                        .collect();
                    pb::step_output::Value::Chat(pb::ChatCompletion {
                        content: format!("summary of [{}]", referenced.join(", ")),
                        model: "fake".into(),
                        ..Default::default()
                    })
                }
                _ => pb::step_output::Value::None(pb::NoOutput {}),
            };
            let output = pb::StepOutput {
                step: step.name.clone(),
                index: indexed.index,
                duration: Some(millis(1)),
                value: Some(value),
            };
            progress.send(output.clone());
            outputs.push(output);
        }
        if !assignment.affinity_key.is_empty() {
            let mut sessions = self.sessions.lock().expect("lock");
            if !sessions.contains(&assignment.affinity_key) {
                sessions.push(assignment.affinity_key.clone());
            }
        }
        Ok(outputs)
    }

    fn capacity(&self) -> u32 {
        self.slots
    }

    fn session_keys(&self) -> Vec<String> {
        self.sessions.lock().expect("lock").clone()
    }
}

// ---------------------------------------------------------------------------------------------
// A raw hub stream, for workers that break the protocol's expectations.

/// A worker stream driven message by message.
pub struct RawWorker {
    pub out: mpsc::Sender<pb::AttachRequest>,
    pub inbound: tonic::Streaming<pb::AttachResponse>,
    pub welcome: pb::HubWelcome,
}

impl RawWorker {
    /// Attaches as `id` and waits for the welcome.
    pub async fn attach(scheduler: &Scheduler, id: &str, kind: pb::WorkerKind, slots: u32) -> Self {
        let mut client = WorkerHubServiceClient::new(scheduler.channel().await);
        let (out, queued) = mpsc::channel(64);
        let hello = pb::WorkerHello {
            worker_id: id.into(),
            kind: kind as i32,
            slots,
            labels: HashMap::new(),
            ..Default::default()
        };
        out.send(pb::AttachRequest {
            message: Some(pb::attach_request::Message::Hello(hello)),
        })
        .await
        .expect("queue the hello");
        let outbound = tokio_stream::wrappers::ReceiverStream::new(queued);
        let mut inbound = client.attach(outbound).await.expect("attach").into_inner();
        let welcome = match inbound.message().await.expect("welcome") {
            Some(pb::AttachResponse {
                message: Some(pb::attach_response::Message::Welcome(welcome)),
            }) => welcome,
            other => panic!("expected a welcome, got {other:?}"),
        };
        Self {
            out,
            inbound,
            welcome,
        }
    }

    /// Sends one message.
    pub async fn send(&self, message: pb::attach_request::Message) {
        self.out
            .send(pb::AttachRequest {
                message: Some(message),
            })
            .await
            .expect("send on the hub stream");
    }

    /// Grants `n` credits.
    pub async fn grant(&self, n: u32) {
        self.send(pb::attach_request::Message::Credit(pb::CreditUpdate {
            grant: n,
            revoke: 0,
        }))
        .await;
    }

    /// The next message from the scheduler within `limit`; `None` if none came.
    pub async fn next_within(&mut self, limit: Duration) -> Option<pb::attach_response::Message> {
        match tokio::time::timeout(limit, self.inbound.message()).await {
            Ok(Ok(Some(response))) => response.message,
            Ok(Ok(None)) => None,
            Ok(Err(status)) => panic!("hub stream failed: {status}"),
            Err(_) => None,
        }
    }
}
