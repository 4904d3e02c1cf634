//! [`Client`] and [`ClientBuilder`]: one channel to the scheduler, and every unary call
//! through the shared [`ResilienceLayer`].
//!
//! Which calls retry: reading a task, cancelling one, the cluster status, and submitting a
//! task that carries an idempotency key (a repeat returns the first task) may be repeated
//! safely, so they retry transient failures with jittered backoff within one deadline. A
//! submit without a key could queue the task twice, so it is tried once.

use std::{fmt, future::Future, time::Duration};

use drover_api::pb::{self, scheduler_service_client::SchedulerServiceClient};
use drover_resilience::{BackoffPolicy, GrpcClassifier, ResilienceLayer, RetryPolicy, grpc};
use tonic::transport::{Channel, Endpoint};
use tower::{Layer, ServiceExt};

use crate::{error::ClientError, watch::TaskEvents};

/// Largest message accepted or sent: task outputs carry screenshots and PDFs (the scheduler
/// bounds them per task).
const MAX_MESSAGE: usize = 80 * 1024 * 1024;

/// The retry layer every unary call goes through; idempotent calls and single attempts share
/// one retry budget.
type Retry = ResilienceLayer<GrpcClassifier>;

/// A connection to Drover's scheduler. Cheap to clone: clones share the channel and the retry
/// budget.
#[derive(Clone)]
pub struct Client {
    grpc: SchedulerServiceClient<Channel>,
    url: String,
    /// For calls that are safe to repeat.
    retrying: Retry,
    /// For submits without an idempotency key: one attempt, same deadline.
    once: Retry,
    pub(crate) watch: WatchSettings,
}

/// How a watch stream resumes after its connection breaks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WatchSettings {
    /// Consecutive failed reopenings before the stream gives up.
    pub(crate) reconnects: u32,
    /// The wait before each reopening.
    pub(crate) backoff: BackoffPolicy,
}

/// What a submit returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The task's id.
    pub id: String,
    /// False when an earlier task with the same tenant and idempotency key was returned.
    pub created: bool,
    /// The task's state when the scheduler answered.
    pub state: pb::TaskState,
}

impl Client {
    /// Connects to the scheduler at `url` (`http://host:port`, or `host:port`) with the
    /// default settings; fails if nothing answers within 5 seconds.
    pub async fn connect(url: impl Into<String>) -> Result<Self, ClientError> {
        Self::builder(url).connect().await
    }

    /// Settings for a client of the scheduler at `url`.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// The scheduler's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queues a task. Tasks with an idempotency key are retried on transient failures (a
    /// repeat returns the first task, with `created = false`); tasks without one are sent
    /// once.
    pub async fn submit(&self, task: impl Into<pb::TaskSpec>) -> Result<Submitted, ClientError> {
        let task = task.into();
        let layer = if task.idempotency_key.is_empty() {
            &self.once
        } else {
            &self.retrying
        };
        let request = pb::SubmitTaskRequest { task: Some(task) };
        let answer = self
            .call(
                layer,
                request,
                |mut c, r| async move { c.submit_task(r).await },
            )
            .await?;
        Ok(Submitted {
            state: answer.state(),
            id: answer.task_id,
            created: answer.created,
        })
    }

    /// Reads a task with its step outputs so far.
    pub async fn get(&self, task_id: impl Into<String>) -> Result<pb::Task, ClientError> {
        self.get_task(task_id.into(), false).await
    }

    /// Reads a task without its step outputs (they can be large: screenshots, PDFs).
    pub async fn get_without_outputs(
        &self,
        task_id: impl Into<String>,
    ) -> Result<pb::Task, ClientError> {
        self.get_task(task_id.into(), true).await
    }

    async fn get_task(&self, task_id: String, omit_outputs: bool) -> Result<pb::Task, ClientError> {
        let request = pb::GetTaskRequest {
            task_id,
            omit_outputs,
        };
        let answer = self
            .call(&self.retrying, request, |mut c, r| async move {
                c.get_task(r).await
            })
            .await?;
        answer
            .task
            .ok_or_else(|| tonic::Status::internal("GetTask answered without a task").into())
    }

    /// Follows a task's events in order, from the first retained one, until its terminal
    /// event (the stream then ends). A broken stream is reopened after the last event seen.
    pub fn watch(&self, task_id: impl Into<String>) -> TaskEvents {
        self.watch_after(task_id, 0)
    }

    /// Like [`Client::watch`], skipping events up to and including `sequence`.
    pub fn watch_after(&self, task_id: impl Into<String>, sequence: u64) -> TaskEvents {
        TaskEvents::new(self.clone(), task_id.into(), sequence)
    }

    /// Cancels a queued or running task; returns its state after the call (a finished task is
    /// left as it was). `reason` (at most 1024 characters) is recorded in the task's error.
    pub async fn cancel(
        &self,
        task_id: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<pb::TaskState, ClientError> {
        let request = pb::CancelTaskRequest {
            task_id: task_id.into(),
            reason: reason.into(),
        };
        let answer = self
            .call(&self.retrying, request, |mut c, r| async move {
                c.cancel_task(r).await
            })
            .await?;
        Ok(answer.state())
    }

    /// Submits a task and waits for it to finish; returns the finished task with its outputs.
    ///
    /// A task that ran and failed (or was cancelled, or expired) is returned, not an error:
    /// check [`pb::Task::state`] and [`crate::TaskExt::failure`]. Errors are failed calls.
    /// To keep the task's id when following it fails, call [`Client::submit`] and then
    /// [`Client::wait`].
    pub async fn run(&self, task: impl Into<pb::TaskSpec>) -> Result<pb::Task, ClientError> {
        let submitted = self.submit(task).await?;
        self.wait(submitted.id).await
    }

    /// Waits for a submitted task to finish; returns it with its outputs.
    pub async fn wait(&self, task_id: impl Into<String>) -> Result<pb::Task, ClientError> {
        use futures::TryStreamExt;
        let task_id = task_id.into();
        let mut events = self.watch(task_id.clone());
        while events.try_next().await?.is_some() {}
        self.get(task_id).await
    }

    /// Workers, their slots and the queue depth per priority.
    pub async fn cluster_status(&self) -> Result<pb::GetClusterStatusResponse, ClientError> {
        self.call(
            &self.retrying,
            pb::GetClusterStatusRequest {},
            |mut c, r| async move { c.get_cluster_status(r).await },
        )
        .await
    }

    /// The generated gRPC client over the same channel, for calls this crate does not wrap
    /// (`ListTasks`, `SubmitTasks`). Calls made with it are not retried.
    pub fn grpc(&self) -> SchedulerServiceClient<Channel> {
        self.grpc.clone()
    }

    /// One unary call through `layer`: each attempt sends `request` with `grpc-timeout` set
    /// to the time that attempt has left.
    async fn call<Req, Resp, F, Fut>(
        &self,
        layer: &Retry,
        request: Req,
        method: F,
    ) -> Result<Resp, ClientError>
    where
        Req: Clone + Send + 'static,
        Resp: Send + 'static,
        F: Fn(SchedulerServiceClient<Channel>, tonic::Request<Req>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>> + Send + 'static,
    {
        layer
            .layer(grpc::unary(self.grpc.clone(), method))
            .oneshot(request)
            .await
            .map_err(ClientError::from)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("retry", self.retrying.policy())
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Client`]; every one has a default.
#[derive(Clone, Debug)]
#[must_use]
pub struct ClientBuilder {
    url: String,
    connect_timeout: Duration,
    request_timeout: Duration,
    attempt_timeout: Duration,
    max_attempts: u32,
    backoff: BackoffPolicy,
    watch_reconnects: u32,
    max_message_size: usize,
}

impl ClientBuilder {
    fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(10),
            max_attempts: 3,
            backoff: BackoffPolicy::new(Duration::from_millis(100), Duration::from_secs(2)),
            watch_reconnects: 5,
            max_message_size: MAX_MESSAGE,
        }
    }

    /// How long opening the connection may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The most one unary call may take, every attempt and wait included (default 30 s). A
    /// shorter deadline scoped around the call with [`crate::with_deadline`] wins.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The most one attempt of a unary call may take (default 10 s); the scheduler is told
    /// through `grpc-timeout`.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Attempts per retryable call, the first included (default 3; at most
    /// [`drover_resilience::MAX_ATTEMPTS_LIMIT`]). 1 turns retries off.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The jittered wait between attempts and between watch reopenings: full jitter from
    /// `base`, doubling up to `cap` (default 100 ms to 2 s). A server's requested delay is
    /// never shortened.
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff = BackoffPolicy::new(base, cap);
        self
    }

    /// How many consecutive times a broken watch stream is reopened before it fails with
    /// [`ClientError::WatchEnded`] or the last error (default 5; 0 never reopens).
    pub fn watch_reconnects(mut self, reconnects: u32) -> Self {
        self.watch_reconnects = reconnects;
        self
    }

    /// The largest message sent or received (default 80 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Connects now; fails if the scheduler does not answer within the connect timeout.
    pub async fn connect(self) -> Result<Client, ClientError> {
        let endpoint = self.endpoint()?;
        let channel = endpoint.connect().await.map_err(|e| ClientError::Connect {
            url: self.url(),
            reason: drover_api::error::error_chain(&e),
        })?;
        Ok(self.client(channel))
    }

    /// A client that connects on its first call (and reconnects whenever needed); only the
    /// URL is checked now.
    pub fn connect_lazy(self) -> Result<Client, ClientError> {
        let channel = self.endpoint()?.connect_lazy();
        Ok(self.client(channel))
    }

    /// The URL with `http://` added to a bare `host:port`.
    fn url(&self) -> String {
        if self.url.contains("://") {
            self.url.clone()
        } else {
            format!("http://{}", self.url)
        }
    }

    fn endpoint(&self) -> Result<Endpoint, ClientError> {
        let url = self.url();
        Endpoint::from_shared(url.clone())
            .map(|endpoint| {
                endpoint
                    .connect_timeout(self.connect_timeout)
                    .tcp_nodelay(true)
            })
            .map_err(|e| ClientError::InvalidUrl {
                url,
                reason: drover_api::error::error_chain(&e),
            })
    }

    fn client(self, channel: Channel) -> Client {
        let url = self.url();
        let policy = RetryPolicy::default()
            .max_attempts(self.max_attempts)
            .backoff(self.backoff)
            .per_attempt_timeout(self.attempt_timeout)
            .total_timeout(self.request_timeout);
        // Retries for calls that are safe to repeat, bounded by one budget for the client.
        let retrying = ResilienceLayer::grpc(policy.idempotent(true), &url);
        // A submit without a key: the deadline and metrics of the layer, never a retry.
        let once = ResilienceLayer::grpc(policy.single_attempt(), &url)
            .with_budget(retrying.budget().clone());
        Client {
            grpc: SchedulerServiceClient::new(channel)
                .max_decoding_message_size(self.max_message_size)
                .max_encoding_message_size(self.max_message_size),
            url,
            retrying,
            once,
            watch: WatchSettings {
                reconnects: self.watch_reconnects,
                backoff: self.backoff,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_host_and_port_is_an_http_url() {
        let builder = Client::builder("127.0.0.1:50051");
        assert_eq!(builder.url(), "http://127.0.0.1:50051");
        let builder = Client::builder("https://drover.internal:443");
        assert_eq!(builder.url(), "https://drover.internal:443");
    }

    #[tokio::test]
    async fn a_lazy_client_checks_only_the_url() {
        let client = Client::builder("127.0.0.1:9")
            .connect_lazy()
            .expect("a URL");
        assert_eq!(client.url(), "http://127.0.0.1:9");
        let error = Client::builder("http://bad host:1")
            .connect_lazy()
            .expect_err("not a URL");
        assert!(matches!(error, ClientError::InvalidUrl { .. }), "{error:?}");
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
    }

    #[tokio::test]
    async fn connecting_to_nothing_fails_with_the_cause() {
        // Port 9 (discard) on loopback: nothing listens in a test environment.
        let error = Client::builder("http://127.0.0.1:9")
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .expect_err("nothing listens");
        assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
        assert!(error.is_retryable());
        assert!(error.to_string().contains("127.0.0.1:9"), "{error}");
    }

    #[tokio::test]
    async fn calls_to_an_unreachable_scheduler_fail_unavailable() {
        let client = Client::builder("http://127.0.0.1:9")
            .backoff(Duration::from_millis(1), Duration::from_millis(5))
            .connect_lazy()
            .expect("a URL");
        let error = client.get("t1").await.expect_err("nothing listens");
        assert_eq!(error.code(), tonic::Code::Unavailable, "{error}");
        assert!(error.is_retryable());
    }
}
