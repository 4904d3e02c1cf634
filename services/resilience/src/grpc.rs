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
        if let Some(deadline) = Deadline::current() {
            request.set_timeout(deadline.remaining());
        }
        UnaryResponse {
            inner: (self.call)(self.client.clone(), request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`GrpcUnary`]: the method's future, minus the
    /// `tonic::Response` wrapper.
    #[derive(Debug)]
    pub struct UnaryResponse<Fut> {
        #[pin]
        inner: Fut,
    }
}

impl<Fut, Resp> Future for UnaryResponse<Fut>
where
    Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
{
    type Output = Result<Resp, tonic::Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .inner
            .poll(cx)
            .map(|result| result.map(tonic::Response::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
