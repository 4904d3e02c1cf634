//! The public API (`drover.v1.SchedulerService`). Handlers validate (INVALID_ARGUMENT names
//! every offending field; nothing reaches the core unless it is valid), ask the core, and
//! convert back. Errors become statuses once, through [`DroverError`].

use std::{pin::Pin, time::Duration};

use drover_api::{DroverError, ErrorReason, UrlPolicy, convert, pb};
use drover_resilience::Deadline;
use futures::{Stream, StreamExt};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::{
    core::{Command, SchedulerHandle, Submitted},
    store::is_terminal,
};

/// Largest `ListTasks` page.
const MAX_PAGE: usize = 1_000;
/// Items buffered per response stream.
const STREAM_BUFFER: usize = 64;

/// The public service.
#[derive(Clone)]
pub struct SchedulerApi {
    core: SchedulerHandle,
    url_policy: UrlPolicy,
}

impl SchedulerApi {
    /// A service over `core`, validating URLs with `url_policy`.
    pub(crate) fn new(core: SchedulerHandle, url_policy: UrlPolicy) -> Self {
        Self { core, url_policy }
    }

    /// Validates and submits one spec.
    async fn submit(&self, spec: Option<pb::TaskSpec>) -> Result<Submitted, Status> {
        let Some(wire) = spec else {
            return Err(DroverError::from(drover_api::ValidationError::single(
                "task",
                "is required",
            ))
            .into());
        };
        let spec = convert::task_spec(wire.clone(), &self.url_policy)
            .map_err(|e| DroverError::from(e.prefixed("task")))?;
        let submitted = self
            .core
            .ask(|reply| Command::Submit {
                spec: Box::new(spec),
                wire: Box::new(wire),
                reply,
            })
            .await??;
        Ok(submitted)
    }

    async fn get(&self, id: &str, with_outputs: bool) -> Result<pb::Task, Status> {
        let id = id.to_owned();
        self.core
            .ask(|reply| Command::Get {
                id: id.clone(),
                with_outputs,
                reply,
            })
            .await?
            .ok_or_else(|| not_found(&id))
    }
}

fn not_found(id: &str) -> Status {
    DroverError::new(ErrorReason::NotFound, format!("no task {id:?}")).into()
}

fn submitted_pb(s: Submitted) -> pb::SubmitTaskResponse {
    pb::SubmitTaskResponse {
        task_id: s.id,
        created: s.created,
        state: s.state as i32,
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl pb::scheduler_service_server::SchedulerService for SchedulerApi {
    async fn submit_task(
        &self,
        request: Request<pb::SubmitTaskRequest>,
    ) -> Result<Response<pb::SubmitTaskResponse>, Status> {
        let submitted = self.submit(request.into_inner().task).await?;
        Ok(Response::new(submitted_pb(submitted)))
    }

    type SubmitTasksStream = BoxStream<pb::SubmitTasksResponse>;

    async fn submit_tasks(
        &self,
        request: Request<Streaming<pb::SubmitTasksRequest>>,
    ) -> Result<Response<Self::SubmitTasksStream>, Status> {
        let mut incoming = request.into_inner();
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let api = self.clone();
        tokio::spawn(async move {
            while let Some(item) = incoming.next().await {
                let item = match item {
                    Ok(item) => item,
                    Err(status) => {
                        let _ = sender.send(Err(status)).await;
                        return;
                    }
                };
                let client_ref: String = item.client_ref.chars().take(256).collect();
                let result = match api.submit(item.task).await {
                    Ok(s) => pb::submit_tasks_response::Result::Submitted(submitted_pb(s)),
                    Err(status) => pb::submit_tasks_response::Result::Error(
                        DroverError::from_status(&status)
                            .unwrap_or_else(|| {
                                DroverError::new(ErrorReason::Internal, status.message())
                            })
                            .to_pb(),
                    ),
                };
                let response = pb::SubmitTasksResponse {
                    client_ref,
                    result: Some(result),
                };
                if sender.send(Ok(response)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn get_task(
        &self,
        request: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::GetTaskResponse>, Status> {
        let request = request.into_inner();
        let task = self.get(&request.task_id, !request.omit_outputs).await?;
        Ok(Response::new(pb::GetTaskResponse { task: Some(task) }))
    }

    type WatchTaskStream = BoxStream<pb::WatchTaskResponse>;

    async fn watch_task(
        &self,
        request: Request<pb::WatchTaskRequest>,
    ) -> Result<Response<Self::WatchTaskStream>, Status> {
        let request = request.into_inner();
        let watch = self
            .core
            .ask(|reply| Command::Watch {
                id: request.task_id.clone(),
                after: request.after_sequence,
                reply,
            })
            .await??;
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            let mut last = request.after_sequence;
            for event in watch.backlog {
                last = event.sequence;
                let terminal = is_terminal_event(&event);
                if sender
                    .send(Ok(pb::WatchTaskResponse { event: Some(event) }))
                    .await
                    .is_err()
                    || terminal
                {
                    return;
                }
            }
            let Some(mut live) = watch.live else { return };
            loop {
                let event = tokio::select! {
                    () = sender.closed() => return,
                    event = live.recv() => event,
                };
                match event {
                    Ok(event) if event.sequence <= last => {}
                    Ok(event) => {
                        last = event.sequence;
                        let terminal = is_terminal_event(&event);
                        if sender
                            .send(Ok(pb::WatchTaskResponse { event: Some(event) }))
                            .await
                            .is_err()
                            || terminal
                        {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        let status: Status = DroverError::new(
                            ErrorReason::QueueFull,
                            format!(
                                "this watcher fell {missed} events behind; watch again with \
                                 after_sequence = {last}"
                            ),
                        )
                        .into();
                        let _ = sender.send(Err(status)).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn cancel_task(
        &self,
        request: Request<pb::CancelTaskRequest>,
    ) -> Result<Response<pb::CancelTaskResponse>, Status> {
        let request = request.into_inner();
        if request.reason.chars().count() > 1024 {
            return Err(DroverError::from(drover_api::ValidationError::single(
                "reason",
                "at most 1024 characters",
            ))
            .into());
        }
        let state = self
            .core
            .ask(|reply| Command::Cancel {
                id: request.task_id,
                reason: request.reason,
                reply,
            })
            .await??;
        Ok(Response::new(pb::CancelTaskResponse {
            state: state as i32,
        }))
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        let request = request.into_inner();
        let limit = match request.page_size {
            0 => 50,
            n if n as usize > MAX_PAGE => {
                return Err(DroverError::from(drover_api::ValidationError::single(
                    "page_size",
                    "at most 1000",
                ))
                .into());
            }
            n => n as usize,
        };
        let before = if request.page_token.is_empty() {
            None
        } else {
            Some(request.page_token.parse::<u64>().map_err(|_| {
                DroverError::from(drover_api::ValidationError::single(
                    "page_token",
                    "is not a token this service issued",
                ))
            })?)
        };
        let mut states = Vec::new();
        for (i, state) in request.states.iter().enumerate() {
            match pb::TaskState::try_from(*state) {
                Ok(s) if s != pb::TaskState::Unspecified => states.push(s),
                _ => {
                    return Err(DroverError::from(drover_api::ValidationError::single(
                        format!("states[{i}]"),
                        "is not a task state",
                    ))
                    .into());
                }
            }
        }
        let tenant = (!request.tenant.is_empty()).then_some(request.tenant);
        let page = self
            .core
            .ask(|reply| Command::List {
                tenant,
                states,
                before,
                limit,
                reply,
            })
            .await?;
        Ok(Response::new(pb::ListTasksResponse {
            tasks: page.tasks,
            next_page_token: page.next.map(|n| n.to_string()).unwrap_or_default(),
        }))
    }

    async fn run_task(
        &self,
        request: Request<pb::RunTaskRequest>,
    ) -> Result<Response<pb::RunTaskResponse>, Status> {
        let caller = Deadline::from_metadata(request.metadata());
        let submitted = self.submit(request.into_inner().task).await?;
        let id = submitted.id;
        let wait = self.core.ask(|reply| Command::AwaitTerminal {
            id: id.clone(),
            reply,
        });
        // The task's own timeout ends it anyway; the caller's deadline may end the wait first.
        let limit = caller.map_or(Duration::from_secs(24 * 3600), |d| d.remaining());
        let task = match tokio::time::timeout(limit, wait).await {
            Ok(Ok(task)) => task,
            Ok(Err(status)) => return Err(status),
            Err(_) => {
                return Err(DroverError::new(
                    ErrorReason::DeadlineExceeded,
                    format!("task {id} is still running; follow it with WatchTask"),
                )
                .into());
            }
        };
        Ok(Response::new(pb::RunTaskResponse { task: Some(task) }))
    }

    async fn get_cluster_status(
        &self,
        _request: Request<pb::GetClusterStatusRequest>,
    ) -> Result<Response<pb::GetClusterStatusResponse>, Status> {
        let status = self.core.ask(|reply| Command::Status { reply }).await?;
        Ok(Response::new(status))
    }
}

fn is_terminal_event(event: &pb::TaskEvent) -> bool {
    pb::TaskState::try_from(event.state).is_ok_and(is_terminal)
}
