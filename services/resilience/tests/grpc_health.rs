//! The layer over real gRPC on TCP 127.0.0.1: a tonic server running `grpc.health.v1.Health`,
//! called through [`drover_resilience::grpc::unary`] and [`ResilienceLayer::grpc`].
//!
//! Real sockets, so real time: backoff is kept to milliseconds.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use drover_resilience::telemetry::{ATTEMPTS_TOTAL, GIVE_UPS_TOTAL};
use drover_resilience::{BackoffPolicy, ResilienceError, ResilienceLayer, RetryPolicy, grpc};
use support::LocalMetrics;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use tonic_health::ServingStatus;
use tonic_health::pb::health_check_response::ServingStatus as WireServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};

const KNOWN_SERVICE: &str = "drover.v1.Scheduler";

struct HealthServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl HealthServer {
    async fn start() -> Self {
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter
            .set_service_status(KNOWN_SERVICE, ServingStatus::Serving)
            .await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async move {
                        let _ = stopped.await;
                    },
                ),
        );
        Self { addr, stop, task }
    }

    async fn shut_down(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("server task")
            .expect("server ran cleanly");
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(3)
        .idempotent(true)
        .per_attempt_timeout(Duration::from_secs(2))
        .total_timeout(Duration::from_secs(10))
        .backoff(BackoffPolicy::new(
            Duration::from_millis(1),
            Duration::from_millis(5),
        ))
}

type HealthCheck =
    BoxCloneService<HealthCheckRequest, HealthCheckResponse, ResilienceError<tonic::Status>>;

/// The health check of the server at `addr`, behind the resilience layer.
fn health_check(addr: SocketAddr) -> HealthCheck {
    let channel: Channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect_lazy();
    ServiceBuilder::new()
        .layer(ResilienceLayer::grpc(policy(), "health"))
        .service(grpc::unary(
            HealthClient::new(channel),
            |mut client, request: tonic::Request<HealthCheckRequest>| async move {
                client.check(request).await
            },
        ))
        .boxed_clone()
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// Checks how many attempts reached the server and why the layer gave up (if it did).
fn assert_attempts(metrics: &LocalMetrics, attempts: u64, give_up: Option<&str>) {
    assert_eq!(
        metrics.counter(ATTEMPTS_TOTAL, &[("endpoint", "health")]),
        attempts
    );
    let give_ups = metrics.counter(GIVE_UPS_TOTAL, &[("endpoint", "health")]);
    match give_up {
        Some(reason) => {
            assert_eq!(give_ups, 1);
            assert_eq!(metrics.counter(GIVE_UPS_TOTAL, &[("reason", reason)]), 1);
        }
        None => assert_eq!(give_ups, 0),
    }
}

#[tokio::test]
async fn serving_service_succeeds_through_the_layer() {
    let metrics = LocalMetrics::install();
    let server = HealthServer::start().await;
    let reply = health_check(server.addr)
        .oneshot(check(KNOWN_SERVICE))
        .await
        .expect("the server is up");
    assert_eq!(reply.status(), WireServingStatus::Serving);
    assert_attempts(&metrics, 1, None);
    server.shut_down().await;
}

#[tokio::test]
async fn unknown_service_is_endpoint_fatal_and_tried_once() {
    let metrics = LocalMetrics::install();
    let server = HealthServer::start().await;
    let error = health_check(server.addr)
        .oneshot(check("no.such.Service"))
        .await
        .expect_err("NOT_FOUND");
    assert!(
        matches!(error, ResilienceError::Inner { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(tonic::Status::from(error).code(), tonic::Code::NotFound);
    assert_attempts(&metrics, 1, Some("endpoint_fatal"));
    server.shut_down().await;
}

#[tokio::test]
async fn refused_connection_is_retried_then_gives_up_unavailable() {
    let metrics = LocalMetrics::install();
    // A port that was free a moment ago: nothing listens there now.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("local addr")
    };
    let error = health_check(addr)
        .oneshot(check(KNOWN_SERVICE))
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(error, ResilienceError::Inner { attempts: 3, .. }),
        "{error:?}"
    );
    assert_eq!(tonic::Status::from(error).code(), tonic::Code::Unavailable);
    assert_attempts(&metrics, 3, Some("attempts_exhausted"));
}
