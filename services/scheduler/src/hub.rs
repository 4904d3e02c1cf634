//! The worker hub (`drover.v1.WorkerHubService/Attach`): one bidirectional stream per worker.
//! The first message must be the hello; after it, every message is handed to the core as
//! it arrives, and the core's messages go out through a bounded channel the core never waits
//! on (a worker that cannot keep up is detached and its work requeued).

use std::{pin::Pin, time::Duration};

use drover_api::pb;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::core::{Command, SchedulerHandle};

/// Messages buffered toward one worker.
const OUTBOUND_BUFFER: usize = 1_024;
/// How long a new stream may take to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The hub service.
#[derive(Clone)]
pub struct WorkerHub {
    core: SchedulerHandle,
}

impl WorkerHub {
    /// A hub feeding `core`.
    pub(crate) fn new(core: SchedulerHandle) -> Self {
        Self { core }
    }
}

type Outgoing = Pin<Box<dyn Stream<Item = Result<pb::AttachResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::worker_hub_service_server::WorkerHubService for WorkerHub {
    type AttachStream = Outgoing;

    async fn attach(
        &self,
        request: Request<Streaming<pb::AttachRequest>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let mut incoming = request.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, incoming.next())
            .await
            .map_err(|_| Status::deadline_exceeded("no hello within 10 s"))?;
        let hello = match first {
            Some(Ok(pb::AttachRequest {
                message: Some(pb::attach_request::Message::Hello(hello)),
            })) => hello,
            Some(Ok(_)) => {
                return Err(Status::invalid_argument(
                    "the first message must be a hello",
                ));
            }
            Some(Err(status)) => return Err(status),
            None => return Err(Status::cancelled("the stream closed before its hello")),
        };
        let (outbound, outgoing) = mpsc::channel(OUTBOUND_BUFFER);
        let conn = self
            .core
            .ask(|reply| Command::Attach {
                hello,
                outbound,
                reply,
            })
            .await??;
        let core = self.core.clone();
        tokio::spawn(async move {
            while let Some(message) = incoming.next().await {
                match message {
                    Ok(pb::AttachRequest {
                        message: Some(message),
                    }) => {
                        if core
                            .send(Command::FromWorker { conn, message })
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(status) => {
                        tracing::debug!(conn, %status, "worker stream failed");
                        break;
                    }
                }
            }
            let _ = core.send(Command::Detached { conn }).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(outgoing))))
    }
}
