//! [`TaskEvents`]: a task's `WatchTask` stream as a `futures::Stream` that ends with the
//! terminal event and survives a broken connection.
//!
//! The stream keeps the last sequence number it delivered. When the server's stream fails
//! with a retryable status (unavailable, reset, a watcher that fell behind) or ends before the
//! terminal event (a scheduler draining), it waits a jittered backoff and reopens the watch
//! with `after_sequence` = that number, so no event is delivered twice or skipped. A clean end
//! with the task already finished (its terminal event was at or before `after_sequence`) ends
//! the stream. After `watch_reconnects` reopenings in a row without a new event, the last
//! error is delivered and the stream ends.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use drover_api::pb;
use drover_resilience::{Backoff, classify_status};
use futures::{Stream, stream::BoxStream};

use crate::{client::Client, error::ClientError, task::is_terminal};

/// The events of one task, in order, ending after its terminal event (SUCCEEDED, FAILED,
/// CANCELLED or EXPIRED). An error is the last item. Built by [`Client::watch`].
#[must_use = "streams do nothing unless polled"]
pub struct TaskEvents {
    task_id: String,
    inner: BoxStream<'static, Result<pb::TaskEvent, ClientError>>,
}

impl TaskEvents {
    pub(crate) fn new(client: Client, task_id: String, after: u64) -> Self {
        let state = Watch {
            delays: client.watch.backoff.delays(),
            client,
            task_id: task_id.clone(),
            after,
            stream: None,
            failures: 0,
            done: false,
        };
        Self {
            task_id,
            inner: Box::pin(futures::stream::unfold(state, Watch::next)),
        }
    }

    /// The watched task's id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }
}

impl Stream for TaskEvents {
    type Item = Result<pb::TaskEvent, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for TaskEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskEvents")
            .field("task_id", &self.task_id)
            .finish_non_exhaustive()
    }
}

/// The state between two items.
struct Watch {
    client: Client,
    task_id: String,
    /// The last sequence number delivered (or asked to skip).
    after: u64,
    stream: Option<tonic::Streaming<pb::WatchTaskResponse>>,
    /// Reopenings since the last new event.
    failures: u32,
    delays: Backoff,
    done: bool,
}

/// Why the current server stream is gone.
enum Broken {
    /// A status: retried if retryable.
    Status(tonic::Status),
    /// The server ended the stream before the terminal event.
    EndedEarly,
}

impl Watch {
    async fn next(mut self) -> Option<(Result<pb::TaskEvent, ClientError>, Self)> {
        loop {
            if self.done {
                return None;
            }
            let broken = match self.receive().await {
                Ok(Some(event)) => {
                    self.after = event.sequence;
                    self.failures = 0;
                    self.delays = self.client.watch.backoff.delays();
                    self.done = is_terminal(event.state());
                    return Some((Ok(event), self));
                }
                Ok(None) => continue,
                Err(broken) => broken,
            };
            self.stream = None;
            if let Err(error) = self.recover(broken).await {
                self.done = true;
                return Some((Err(error), self));
            }
        }
    }

    /// The next new event, `None` for a message to skip, or why the stream broke.
    async fn receive(&mut self) -> Result<Option<pb::TaskEvent>, Broken> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let request = pb::WatchTaskRequest {
                    task_id: self.task_id.clone(),
                    after_sequence: self.after,
                };
                let opened = self
                    .client
                    .grpc()
                    .watch_task(request)
                    .await
                    .map_err(Broken::Status)?;
                self.stream.insert(opened.into_inner())
            }
        };
        match stream.message().await {
            // A reopened watch never repeats an event, but a server that did would not
            // make this stream repeat one either.
            Ok(Some(pb::WatchTaskResponse { event: Some(event) }))
                if event.sequence > self.after =>
            {
                Ok(Some(event))
            }
            Ok(Some(_)) => Ok(None),
            Ok(None) => Err(Broken::EndedEarly),
            Err(status) => Err(Broken::Status(status)),
        }
    }

    /// Waits to reopen the stream, or says why not: the error to deliver last. `Ok` with
    /// `done` set ends the stream cleanly.
    async fn recover(&mut self, broken: Broken) -> Result<(), ClientError> {
        let (error, wait_at_least) = match broken {
            Broken::Status(status) => {
                // Watching is a read: safe to repeat whatever the failure.
                let class = classify_status(&status, true);
                if !class.is_retryable() {
                    return Err(status.into());
                }
                (ClientError::from(status), class.retry_after())
            }
            Broken::EndedEarly => {
                // The terminal event may be at or before `after` (a watch opened after it):
                // then there is nothing left to deliver.
                let task = self.client.get_without_outputs(&self.task_id).await?;
                if is_terminal(task.state()) {
                    self.done = true;
                    return Ok(());
                }
                (
                    ClientError::WatchEnded {
                        task_id: self.task_id.clone(),
                        last_sequence: self.after,
                    },
                    None,
                )
            }
        };
        if self.failures >= self.client.watch.reconnects {
            return Err(error);
        }
        self.failures += 1;
        let backoff = self.delays.next().unwrap_or_default();
        tokio::time::sleep(backoff.max(wait_at_least.unwrap_or_default())).await;
        Ok(())
    }
}
