//! Putting a generated tonic client method behind the layer.
//!
//! Generated clients are called as `client.method(request).await`, not as a `tower::Service`
//! over the typed message, and the layer needs the latter to replay the request on retry.
//! [`unary`] adapts one method: it wraps each message in a fresh `tonic::Request`, sets
//! `grpc-timeout` from the attempt's scoped deadline (so the server stops working when we stop
//! waiting), and unwraps the response message.
//!
//! Metadata that every call needs (auth) belongs in an interceptor on the client. Streaming
//! methods should not be retried through this helper once the stream is under way; see
//! [`crate::RetryPolicy::single_attempt`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::Service;

use crate::deadline::Deadline;

/// Adapts one unary method of a generated tonic client into a
/// `Service<Req, Response = Resp, Error = tonic::Status>`.
///
/// `call` receives a clone of `client` (tonic clients are cheap handles over a channel) and
/// the prepared request.
///
/// ```no_run
/// use std::time::Duration;
/// use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
/// use tower::{ServiceBuilder, ServiceExt};
/// use drover_resilience::{ResilienceLayer, RetryPolicy, grpc};
///
/// # async fn example() -> Result<(), tonic::Status> {
/// let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051").connect_lazy();
/// let policy = RetryPolicy::default()
///     .per_attempt_timeout(Duration::from_secs(1))
///     .total_timeout(Duration::from_secs(3))
///     .idempotent(true);
/// let health = ServiceBuilder::new()
///     // Retries, deadline and metrics for every call to the scheduler.
///     .layer(ResilienceLayer::grpc(policy, "scheduler"))
///     .service(grpc::unary(
///         HealthClient::new(channel),
///         |mut client, request: tonic::Request<HealthCheckRequest>| async move {
///             client.check(request).await
///         },
///     ))
///     .map_err(tonic::Status::from);
/// let reply = health
///     .oneshot(HealthCheckRequest { service: "drover.v1.Scheduler".into() })
///     .await?;
/// println!("serving status: {}", reply.status);
/// # Ok(())
/// # }
/// ```
pub fn unary<C, Req, Resp, F, Fut>(client: C, call: F) -> GrpcUnary<C, F>
where
    C: Clone,
    F: Fn(C, tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
{
    GrpcUnary { client, call }
}

/// The service built by [`unary`].
#[derive(Clone, Debug)]
pub struct GrpcUnary<C, F> {
    client: C,
    call: F,
}

impl<C, Req, Resp, F, Fut> Service<Req> for GrpcUnary<C, F>
where
    C: Clone,
    F: Fn(C, tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
{
    type Response = Resp;
    type Error = tonic::Status;
    type Future = UnaryResponse<Fut>;

    /// Always ready: generated client methods wait for the channel themselves.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, message: Req) -> Self::Future {
        let mut request = tonic::Request::new(message);
        let deadline = Deadline::current();
        if let Some(deadline) = deadline {
            request.set_timeout(deadline.remaining());
        }
        UnaryResponse {
            inner: (self.call)(self.client.clone(), request),
            deadline,
        }
    }
}

/// How close to its deadline an attempt must be for a `CANCELLED` answer to count as the
/// server enforcing the attempt's `grpc-timeout` (whose encoding may round down a little).
const DEADLINE_SLACK: std::time::Duration = std::time::Duration::from_millis(20);

/// A tonic server answers a call whose `grpc-timeout` ran out with `CANCELLED` ("Timeout
/// expired"), which classifies as "the caller gave up" and is never retried. Arriving as the
/// attempt's own deadline passes, it is that deadline: `DEADLINE_EXCEEDED`, retried when the
/// call is safe to repeat.
fn expired_as_deadline_exceeded(
    status: tonic::Status,
    deadline: Option<Deadline>,
) -> tonic::Status {
    let at_deadline = deadline.is_some_and(|d| d.remaining() <= DEADLINE_SLACK);
    if status.code() == tonic::Code::Cancelled && at_deadline {
        tonic::Status::deadline_exceeded(status.message())
    } else {
        status
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`GrpcUnary`]: the method's future, minus the
    /// `tonic::Response` wrapper, with a server's "timeout expired" read as the deadline.
    #[derive(Debug)]
    pub struct UnaryResponse<Fut> {
        #[pin]
        inner: Fut,
        deadline: Option<Deadline>,
    }
}

impl<Fut, Resp> Future for UnaryResponse<Fut>
where
    Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
{
    type Output = Result<Resp, tonic::Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let deadline = *this.deadline;
        this.inner.poll(cx).map(|result| {
            result
                .map(tonic::Response::into_inner)
                .map_err(|status| expired_as_deadline_exceeded(status, deadline))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_cancel_at_the_deadline_is_the_deadline_and_any_other_stays_a_cancel() {
        let cancelled = |_client: (), _request: tonic::Request<()>| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err::<tonic::Response<()>, _>(tonic::Status::cancelled("Timeout expired"))
        };
        let at_deadline = with_deadline(Deadline::after(Duration::from_millis(100)), async {
            unary((), cancelled).oneshot(()).await
        })
        .await;
        assert_eq!(
            at_deadline.unwrap_err().code(),
            tonic::Code::DeadlineExceeded
        );
        let early = with_deadline(Deadline::after(Duration::from_secs(5)), async {
            unary((), cancelled).oneshot(()).await
        })
        .await;
        assert_eq!(early.unwrap_err().code(), tonic::Code::Cancelled);
    }
    use crate::deadline::with_deadline;
    use std::time::Duration;
    use tower::ServiceExt;

    #[tokio::test(start_paused = true)]
    async fn sets_grpc_timeout_from_the_scoped_deadline_and_unwraps() {
        let echo_timeout = |_client: (), request: tonic::Request<u32>| async move {
            let timeout = request
                .metadata()
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(tonic::Response::new((request.into_inner(), timeout)))
        };
        let service = unary((), echo_timeout);
        let deadline = Deadline::after(Duration::from_millis(1500));
        let (message, timeout) = with_deadline(deadline, service.clone().oneshot(7))
            .await
            .expect("ok");
        assert_eq!(message, 7);
        let sent = timeout.expect("grpc-timeout set");
        assert_eq!(
            crate::deadline::parse_grpc_timeout(&sent),
            Some(Duration::from_millis(1500))
        );

        let (_, timeout) = service.oneshot(8).await.expect("ok");
        assert_eq!(timeout, None, "no deadline in scope, no header");
    }
}
