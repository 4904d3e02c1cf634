//! The circuit breaker as the layer uses it: open fails fast without calling the endpoint.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use drover_resilience::{
    BreakerConfig, BreakerState, CircuitBreaker, ResilienceError, ResilienceLayer,
};
use support::{Fake, quick_policy};
use tonic::Status;
use tonic_types::StatusExt;
use tower::{Layer, ServiceExt};

fn breaker() -> CircuitBreaker {
    CircuitBreaker::new(
        "browser-pool",
        BreakerConfig {
            consecutive_failures: 2,
            open_interval: Duration::from_secs(1),
            max_open_interval: Duration::from_secs(4),
            ..BreakerConfig::default()
        },
    )
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_fast_fails_half_opens_and_recovers() {
    let healthy = Arc::new(AtomicBool::new(false));
    let switch = Arc::clone(&healthy);
    let inner = Fake::new(move |_, ()| {
        let up = switch.load(Ordering::SeqCst);
        async move {
            if up {
                Ok(())
            } else {
                Err(Status::unavailable("down"))
            }
        }
    });
    let breaker = breaker();
    let service = ResilienceLayer::grpc(quick_policy().single_attempt(), "browser-pool")
        .with_breaker(breaker.clone())
        .layer(inner.clone());
    let call = || service.clone().oneshot(());

    call().await.expect_err("down");
    call().await.expect_err("down");
    assert_eq!(breaker.state(), BreakerState::Open);

    // Open: fails fast, the endpoint is not called, the caller learns when to come back.
    let error = call().await.expect_err("open");
    assert_eq!(inner.calls(), 2);
    assert!(
        matches!(error, ResilienceError::CircuitOpen(_)),
        "{error:?}"
    );
    let status = Status::from(error);
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let info = status.get_details_retry_info().expect("retry info");
    assert_eq!(info.retry_delay, Some(Duration::from_secs(1)));

    // Half-open after the interval; a bad probe reopens for twice as long.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    call().await.expect_err("probe fails");
    assert_eq!(inner.calls(), 3);
    assert_eq!(breaker.state(), BreakerState::Open);
    let reopened = call().await.expect_err("open again");
    assert_eq!(reopened.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(inner.calls(), 3);

    // A good probe closes it; calls flow again.
    tokio::time::advance(Duration::from_secs(2)).await;
    healthy.store(true, Ordering::SeqCst);
    call().await.expect("probe succeeds");
    assert_eq!(breaker.state(), BreakerState::Closed);
    call().await.expect("closed");
    assert_eq!(inner.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opening_mid_call_stops_the_retries() {
    let inner = Fake::new(|_, ()| async { Err::<(), _>(Status::unavailable("down")) });
    let breaker = breaker();
    let service = ResilienceLayer::grpc(quick_policy().max_attempts(5), "browser-pool")
        .with_breaker(breaker.clone())
        .layer(inner.clone());
    let error = service.oneshot(()).await.expect_err("down");
    assert_eq!(inner.calls(), 2, "the second failure opened the breaker");
    assert!(
        matches!(error, ResilienceError::CircuitOpen(_)),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn caller_errors_do_not_open_the_breaker() {
    let inner = Fake::new(|_, ()| async { Err::<(), _>(Status::invalid_argument("bad")) });
    let breaker = breaker();
    let service = ResilienceLayer::grpc(quick_policy(), "browser-pool")
        .with_breaker(breaker.clone())
        .layer(inner.clone());
    for _ in 0..10 {
        service.clone().oneshot(()).await.expect_err("bad request");
    }
    assert_eq!(inner.calls(), 10);
    assert_eq!(breaker.state(), BreakerState::Closed);
}
