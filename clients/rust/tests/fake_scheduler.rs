//! The client against a scripted `SchedulerService` on 127.0.0.1:0, for what a healthy
//! scheduler never does: transient failures (which calls retry and which do not), a watch
//! stream that breaks mid-way (reopened after the last event), a watch on a finished task
//! with nothing left to send, and a server that never answers (the deadline ends the call).
//! The real scheduler is exercised in `services/drover/tests/rust_client.rs`.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use drover_api::pb::{
    self,
    scheduler_service_server::{SchedulerService, SchedulerServiceServer},
};
use drover_client::{Client, ClientError, DroverError, ErrorReason, TaskBuilder};
use futures::{Stream, StreamExt};
use tokio::net::TcpListener;
use tonic::{Code, Request, Response, Status, transport::server::TcpIncoming};

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::WatchTaskResponse, Status>> + Send>>;

/// What the fake answers, scripted per test, and what it saw.
#[derive(Default)]
struct Script {
    /// Failures returned before `SubmitTask` succeeds.
    submit_failures: VecDeque<Status>,
    /// Failures returned before `GetTask` succeeds.
    get_failures: VecDeque<Status>,
    /// `GetTask` never answers.
    get_hangs: bool,
    /// The state `GetTask` reports.
    task_state: pb::TaskState,
    /// Per `WatchTask` call: the items of the stream it returns, or the status it fails with.
    watches: VecDeque<Result<Vec<Result<pb::TaskEvent, Status>>, Status>>,
    // What the fake saw.
    submits: u32,
    gets: u32,
    get_timeouts: Vec<Option<String>>,
    watch_after: Vec<u64>,
}

#[derive(Clone)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().expect("script lock")
    }
}

#[tonic::async_trait]
impl SchedulerService for Fake {
    async fn submit_task(
        &self,
        _request: Request<pb::SubmitTaskRequest>,
    ) -> Result<Response<pb::SubmitTaskResponse>, Status> {
        let mut script = self.script();
        script.submits += 1;
        if let Some(status) = script.submit_failures.pop_front() {
            return Err(status);
        }
        Ok(Response::new(pb::SubmitTaskResponse {
            task_id: "t1".into(),
            created: true,
            state: pb::TaskState::Queued as i32,
        }))
    }

    type SubmitTasksStream =
        Pin<Box<dyn Stream<Item = Result<pb::SubmitTasksResponse, Status>> + Send>>;

    async fn submit_tasks(
        &self,
        _request: Request<tonic::Streaming<pb::SubmitTasksRequest>>,
    ) -> Result<Response<Self::SubmitTasksStream>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn get_task(
        &self,
        request: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::GetTaskResponse>, Status> {
        let hangs = {
            let mut script = self.script();
            script.gets += 1;
            let timeout = request
                .metadata()
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            script.get_timeouts.push(timeout);
            if let Some(status) = script.get_failures.pop_front() {
                return Err(status);
            }
            script.get_hangs
        };
        if hangs {
            futures::future::pending::<()>().await;
        }
        let task = pb::Task {
            id: request.into_inner().task_id,
            state: self.script().task_state as i32,
            ..Default::default()
        };
        Ok(Response::new(pb::GetTaskResponse { task: Some(task) }))
    }

    type WatchTaskStream = EventStream;

    async fn watch_task(
        &self,
        request: Request<pb::WatchTaskRequest>,
    ) -> Result<Response<Self::WatchTaskStream>, Status> {
        let mut script = self.script();
        script.watch_after.push(request.get_ref().after_sequence);
        let items = script
            .watches
            .pop_front()
            .unwrap_or_else(|| Err(Status::internal("no watch scripted")))?;
        let items = items
            .into_iter()
            .map(|item| item.map(|event| pb::WatchTaskResponse { event: Some(event) }));
        Ok(Response::new(Box::pin(futures::stream::iter(items))))
    }

    async fn cancel_task(
        &self,
        _request: Request<pb::CancelTaskRequest>,
    ) -> Result<Response<pb::CancelTaskResponse>, Status> {
        Ok(Response::new(pb::CancelTaskResponse {
            state: pb::TaskState::Cancelled as i32,
        }))
    }

    async fn list_tasks(
        &self,
        _request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn run_task(
        &self,
        _request: Request<pb::RunTaskRequest>,
    ) -> Result<Response<pb::RunTaskResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn get_cluster_status(
        &self,
        _request: Request<pb::GetClusterStatusRequest>,
    ) -> Result<Response<pb::GetClusterStatusResponse>, Status> {
        Ok(Response::new(pb::GetClusterStatusResponse {
            running: 2,
            ..Default::default()
        }))
    }
}

/// Serves `script` on 127.0.0.1:0; a client with quick backoff, and the fake to inspect.
async fn start(script: Script) -> (Client, Fake) {
    let fake = Fake(Arc::new(Mutex::new(script)));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let service = SchedulerServiceServer::new(fake.clone());
    // The server lives as long as the test's runtime.
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let client = Client::builder(format!("http://{addr}"))
        .backoff(Duration::from_millis(1), Duration::from_millis(10))
        .connect()
        .await
        .expect("connect to the fake");
    (client, fake)
}

fn event(sequence: u64, state: pb::TaskState) -> Result<pb::TaskEvent, Status> {
    Ok(pb::TaskEvent {
        task_id: "t1".into(),
        sequence,
        state: state as i32,
        ..Default::default()
    })
}

fn spec(key: &str) -> pb::TaskSpec {
    TaskBuilder::new("t")
        .idempotency_key(key)
        .navigate("open", "about:blank")
        .build()
}

#[tokio::test]
async fn a_submit_with_an_idempotency_key_is_retried() {
    let (client, fake) = start(Script {
        submit_failures: [Status::unavailable("restarting")].into(),
        ..Default::default()
    })
    .await;
    let submitted = client.submit(spec("k1")).await.expect("the retry succeeds");
    assert_eq!(submitted.id, "t1");
    assert_eq!(submitted.state, pb::TaskState::Queued);
    assert_eq!(fake.script().submits, 2);
}

#[tokio::test]
async fn a_submit_without_a_key_is_sent_once() {
    let (client, fake) = start(Script {
        submit_failures: [Status::unavailable("restarting")].into(),
        ..Default::default()
    })
    .await;
    let error = client.submit(spec("")).await.expect_err("not retried");
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(fake.script().submits, 1, "a repeat could queue it twice");
}

#[tokio::test]
async fn reads_retry_transient_failures_but_not_fatal_ones() {
    let queue_full: Status = DroverError::new(ErrorReason::QueueFull, "busy")
        .retry_after(Duration::from_millis(5))
        .into();
    let (client, fake) = start(Script {
        get_failures: [Status::unavailable("reset"), queue_full].into(),
        task_state: pb::TaskState::Running,
        ..Default::default()
    })
    .await;
    let task = client.get("t1").await.expect("third attempt succeeds");
    assert_eq!(task.state(), pb::TaskState::Running);
    assert_eq!(fake.script().gets, 3);
    let timeouts = fake.script().get_timeouts.clone();
    assert!(
        timeouts.iter().all(Option::is_some),
        "every attempt tells the server its deadline: {timeouts:?}"
    );

    fake.script().get_failures = [Status::not_found("no task")].into();
    let error = client.get("t9").await.expect_err("not found");
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(fake.script().gets, 4, "a fatal status is not retried");
}

#[tokio::test]
async fn retries_give_up_with_the_last_status() {
    let (client, fake) = start(Script {
        get_failures: (0..10).map(|_| Status::unavailable("down")).collect(),
        ..Default::default()
    })
    .await;
    let error = client.get("t1").await.expect_err("every attempt fails");
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(error.status().map(Status::message), Some("down"));
    assert_eq!(fake.script().gets, 3, "the default max_attempts");
}

#[tokio::test]
async fn a_call_that_never_answers_ends_at_its_deadline() {
    let (client, fake) = start(Script {
        get_hangs: true,
        ..Default::default()
    })
    .await;
    let client = Client::builder(client.url())
        .attempt_timeout(Duration::from_millis(150))
        .request_timeout(Duration::from_millis(500))
        .connect_lazy()
        .expect("a URL");
    let error = client.get("t1").await.expect_err("no answer");
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");
    // The server ends an attempt whose grpc-timeout ran out with CANCELLED; the client still
    // reads it as the deadline, and a read is retried within the call's time.
    assert!(fake.script().gets >= 2, "gets: {}", fake.script().gets);
}

#[tokio::test]
async fn a_broken_watch_is_reopened_after_the_last_event() {
    let (client, fake) = start(Script {
        watches: [
            Ok(vec![
                event(1, pb::TaskState::Queued),
                event(2, pb::TaskState::Running),
                Err(Status::unavailable("connection reset")),
            ]),
            Err(Status::unavailable("still restarting")),
            // A watcher that fell behind is told to come back.
            Ok(vec![Err(DroverError::new(
                ErrorReason::QueueFull,
                "fell behind",
            )
            .into())]),
            Ok(vec![
                event(3, pb::TaskState::Running),
                event(4, pb::TaskState::Succeeded),
                // Never delivered: the stream ends at the terminal event.
                event(5, pb::TaskState::Succeeded),
            ]),
        ]
        .into(),
        ..Default::default()
    })
    .await;
    let events: Vec<_> = client.watch("t1").collect().await;
    let sequences: Vec<u64> = events
        .into_iter()
        .map(|e| e.expect("no error reaches the caller").sequence)
        .collect();
    assert_eq!(sequences, [1, 2, 3, 4]);
    assert_eq!(fake.script().watch_after, [0, 2, 2, 2]);
}

#[tokio::test]
async fn a_watch_gives_up_after_its_reconnects() {
    let (client, fake) = start(Script {
        watches: (0..10).map(|_| Err(Status::unavailable("down"))).collect(),
        ..Default::default()
    })
    .await;
    let client = Client::builder(client.url())
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .watch_reconnects(2)
        .connect_lazy()
        .expect("a URL");
    let events: Vec<_> = client.watch("t1").collect().await;
    assert_eq!(events.len(), 1, "one error, then the end");
    let error = events.into_iter().next().unwrap().expect_err("an error");
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(
        fake.script().watch_after.len(),
        3,
        "the first try and two reopenings"
    );
}

#[tokio::test]
async fn a_watch_of_an_unknown_task_fails_with_not_found() {
    let not_found: Status = DroverError::new(ErrorReason::NotFound, "no task \"t1\"").into();
    let (client, fake) = start(Script {
        watches: [Err(not_found)].into(),
        ..Default::default()
    })
    .await;
    let events: Vec<_> = client.watch("t1").collect().await;
    let error = match events.as_slice() {
        [Err(error)] => error,
        other => panic!("one error expected, got {other:?}"),
    };
    assert_eq!(error.reason(), Some(ErrorReason::NotFound));
    assert_eq!(fake.script().watch_after.len(), 1, "not retried");
}

#[tokio::test]
async fn a_watch_after_the_terminal_event_ends_quietly() {
    let (client, _fake) = start(Script {
        // The server has nothing after sequence 4 and ends the stream at once.
        watches: [Ok(vec![])].into(),
        task_state: pb::TaskState::Succeeded,
        ..Default::default()
    })
    .await;
    let events: Vec<_> = client.watch_after("t1", 4).collect().await;
    assert!(events.is_empty(), "{events:?}");
}

#[tokio::test]
async fn a_stream_that_keeps_ending_early_is_reported() {
    let (client, _fake) = start(Script {
        watches: (0..10).map(|_| Ok(vec![])).collect(),
        task_state: pb::TaskState::Running,
        ..Default::default()
    })
    .await;
    let client = Client::builder(client.url())
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .watch_reconnects(1)
        .connect_lazy()
        .expect("a URL");
    let events: Vec<_> = client.watch_after("t1", 3).collect().await;
    match events.as_slice() {
        [
            Err(ClientError::WatchEnded {
                task_id,
                last_sequence: 3,
            }),
        ] => assert_eq!(task_id, "t1"),
        other => panic!("WatchEnded expected, got {other:?}"),
    }
}

#[tokio::test]
async fn run_waits_for_the_terminal_event_and_reads_the_task() {
    let (client, fake) = start(Script {
        watches: [Ok(vec![
            event(1, pb::TaskState::Queued),
            event(2, pb::TaskState::Failed),
        ])]
        .into(),
        task_state: pb::TaskState::Failed,
        ..Default::default()
    })
    .await;
    let task = client.run(spec("k2")).await.expect("a finished task");
    assert_eq!(task.id, "t1");
    assert_eq!(
        task.state(),
        pb::TaskState::Failed,
        "a failed task is not an error"
    );
    assert_eq!(fake.script().submits, 1);

    assert_eq!(
        client.cancel("t1", "done").await.expect("cancel"),
        pb::TaskState::Cancelled
    );
    assert_eq!(client.cluster_status().await.expect("status").running, 2);
}
