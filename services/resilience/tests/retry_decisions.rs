//! Which failures are retried, how often, and how long the layer waits between attempts.

mod support;

use std::time::Duration;

use drover_resilience::{
    BreakerConfig, BreakerState, CircuitBreaker, FailureClass, FnClassifier, Outcome,
    ResilienceError, ResilienceLayer,
};
use support::{Fake, quick_policy, with_pushback};
use tokio::time::Instant;
use tonic::Status;
use tonic_types::StatusExt;
use tower::{Layer, ServiceExt};

fn always(
    status: Status,
) -> Fake<impl Fn(usize, ()) -> std::future::Ready<Result<(), Status>> + Clone> {
    Fake::new(move |_, ()| std::future::ready(Err(status.clone())))
}

#[tokio::test(start_paused = true)]
async fn fatal_request_is_tried_exactly_once() {
    let inner = always(Status::invalid_argument("field `url` is empty"));
    let service = ResilienceLayer::grpc(quick_policy(), "svc").layer(inner.clone());
    let error = service.oneshot(()).await.expect_err("fatal");
    assert_eq!(inner.calls(), 1);
    let status = Status::from(error);
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(status.message(), "field `url` is empty");
}

#[tokio::test(start_paused = true)]
async fn fatal_endpoint_is_tried_once_and_charged_to_the_breaker() {
    let breaker = CircuitBreaker::new(
        "svc",
        BreakerConfig {
            consecutive_failures: 1,
            ..BreakerConfig::default()
        },
    );
    let inner = always(Status::permission_denied("key revoked"));
    let layer = ResilienceLayer::grpc(quick_policy(), "svc").with_breaker(breaker.clone());
    let error = layer
        .layer(inner.clone())
        .oneshot(())
        .await
        .expect_err("fatal");
    assert_eq!(inner.calls(), 1);
    assert!(
        matches!(error, ResilienceError::Inner { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_up_to_max_attempts() {
    let inner = always(Status::unavailable("connection reset"));
    let service = ResilienceLayer::grpc(quick_policy().max_attempts(4), "svc").layer(inner.clone());
    let error = service.oneshot(()).await.expect_err("keeps failing");
    assert_eq!(inner.calls(), 4);
    assert!(
        matches!(error, ResilienceError::Inner { attempts: 4, .. }),
        "{error:?}"
    );
    assert_eq!(Status::from(error).code(), tonic::Code::Unavailable);
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_succeeds_returns_the_success() {
    let inner = Fake::new(|call, name: &'static str| async move {
        if call < 3 {
            Err(Status::unavailable("warming up"))
        } else {
            Ok(format!("hi {name}"))
        }
    });
    let service = ResilienceLayer::grpc(quick_policy(), "svc").layer(inner.clone());
    assert_eq!(
        service.oneshot("ann").await.expect("third try works"),
        "hi ann"
    );
    assert_eq!(inner.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn negative_pushback_means_exactly_one_attempt() {
    let inner = always(with_pushback(Status::unavailable("draining"), "-1"));
    let service = ResilienceLayer::grpc(quick_policy(), "svc").layer(inner.clone());
    service.oneshot(()).await.expect_err("refused");
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_in_full_never_shortened() {
    let started = Instant::now();
    let inner = Fake::new(move |call, ()| async move {
        match call {
            1 => Err(with_pushback(
                Status::resource_exhausted("slow down"),
                "2000",
            )),
            _ => Ok(started.elapsed()),
        }
    });
    // Backoff alone would wait at most 40 ms.
    let service = ResilienceLayer::grpc(quick_policy(), "svc").layer(inner.clone());
    let second_attempt_at = service.oneshot(()).await.expect("second attempt succeeds");
    assert!(
        second_attempt_at >= Duration::from_secs(2),
        "{second_attempt_at:?}"
    );
    assert!(
        second_attempt_at <= Duration::from_millis(2040),
        "{second_attempt_at:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_deadline_gives_up_without_sleeping() {
    let inner = always(with_pushback(Status::resource_exhausted("quota"), "10000"));
    let policy = quick_policy().total_timeout(Duration::from_secs(3));
    let service = ResilienceLayer::grpc(policy, "svc").layer(inner.clone());
    let started = Instant::now();
    let error = service.oneshot(()).await.expect_err("cannot fit the wait");
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "gave up without sleeping"
    );
    assert_eq!(inner.calls(), 1);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(10)));
    let status = Status::from(error);
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let info = status
        .get_details_retry_info()
        .expect("retry info passed on");
    assert_eq!(info.retry_delay, Some(Duration::from_secs(10)));
}

#[tokio::test(start_paused = true)]
async fn deadline_exceeded_is_retried_only_when_idempotent() {
    let inner = always(Status::deadline_exceeded("upstream slow"));
    let service = ResilienceLayer::grpc(quick_policy(), "svc").layer(inner.clone());
    service.oneshot(()).await.expect_err("not idempotent");
    assert_eq!(inner.calls(), 1);

    let inner = always(Status::deadline_exceeded("upstream slow"));
    let service =
        ResilienceLayer::grpc(quick_policy().idempotent(true), "svc").layer(inner.clone());
    service.oneshot(()).await.expect_err("still slow");
    assert_eq!(inner.calls(), 3);
}

fn http_response(status: u16, retry_after: Option<&'static str>) -> http::Response<()> {
    let mut builder = http::Response::builder().status(status);
    if let Some(value) = retry_after {
        builder = builder.header("retry-after", value);
    }
    builder.body(()).expect("valid response")
}

#[tokio::test(start_paused = true)]
async fn http_gives_back_the_last_5xx_response_after_giving_up() {
    let inner = Fake::new(|_, ()| async { Ok::<_, std::io::Error>(http_response(502, None)) });
    let service = ResilienceLayer::http(quick_policy(), "provider").layer(inner.clone());
    let response = service.oneshot(()).await.expect("a response, not an error");
    assert_eq!(response.status(), 502);
    assert_eq!(inner.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn http_429_waits_for_retry_after_seconds() {
    let started = Instant::now();
    let inner = Fake::new(move |call, ()| async move {
        Ok::<_, std::io::Error>(match call {
            1 => http_response(429, Some("3")),
            _ => http_response(200, None),
        })
    });
    let service = ResilienceLayer::http(quick_policy(), "provider").layer(inner.clone());
    let response = service.oneshot(()).await.expect("ok");
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn fn_classifier_decides_for_unknown_response_types() {
    // A stand-in for reqwest::Response: the router classifies it by status code.
    let inner =
        Fake::new(|call, ()| async move { Ok::<u16, ()>(if call == 1 { 500 } else { 200 }) });
    let classifier = FnClassifier(|result: &Result<u16, ()>, _idempotent: bool| match result {
        Ok(code) if *code < 400 => Outcome::Success,
        Ok(_) => Outcome::Failure(FailureClass::Transient),
        Err(()) => Outcome::Failure(FailureClass::Transient),
    });
    let service = ResilienceLayer::new(quick_policy(), "router", classifier).layer(inner.clone());
    assert_eq!(service.oneshot(()).await.expect("second try"), 200);
    assert_eq!(inner.calls(), 2);
}
