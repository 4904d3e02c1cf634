//! State-machine tests for [`super::CircuitBreaker`], driven by paused tokio time.

use super::*;
use crate::classify::FailureClass;

const TRANSIENT: Outcome = Outcome::Failure(FailureClass::Transient);

fn breaker() -> CircuitBreaker {
    CircuitBreaker::new(
        "test-endpoint",
        BreakerConfig {
            failure_ratio: 0.5,
            minimum_calls: 4,
            window: Duration::from_secs(10),
            consecutive_failures: 3,
            open_interval: Duration::from_secs(1),
            max_open_interval: Duration::from_secs(3),
            half_open_probes: 1,
        },
    )
}

/// A breaker that three failures opened and whose open interval has just passed.
async fn half_open_breaker() -> CircuitBreaker {
    let breaker = breaker();
    (0..3).for_each(|_| call(&breaker, TRANSIENT));
    tokio::time::advance(Duration::from_secs(1)).await;
    breaker
}

fn call(breaker: &CircuitBreaker, outcome: Outcome) {
    breaker
        .try_acquire()
        .expect("breaker should admit")
        .record(&outcome);
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_and_open_fails_fast() {
    let breaker = breaker();
    call(&breaker, TRANSIENT);
    call(&breaker, TRANSIENT);
    assert_eq!(breaker.state(), BreakerState::Closed);
    call(&breaker, TRANSIENT);
    assert_eq!(breaker.state(), BreakerState::Open);
    let open = breaker.try_acquire().expect_err("open must fail fast");
    assert_eq!(open.retry_after, Duration::from_secs(1));
    assert_eq!(&*open.endpoint, "test-endpoint");
}

#[tokio::test(start_paused = true)]
async fn failure_ratio_opens_once_the_minimum_is_reached() {
    let breaker = breaker();
    for outcome in [TRANSIENT, Outcome::Success, TRANSIENT] {
        call(&breaker, outcome);
    }
    assert_eq!(breaker.state(), BreakerState::Closed, "below minimum_calls");
    call(&breaker, Outcome::Success);
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "the success did not trip it"
    );
    call(&breaker, Outcome::Failure(FailureClass::FatalEndpoint));
    assert_eq!(breaker.state(), BreakerState::Open, "3 of 5 failed");
}

#[tokio::test(start_paused = true)]
async fn caller_faults_and_rate_limits_do_not_trip() {
    let breaker = breaker();
    for _ in 0..20 {
        call(&breaker, Outcome::Failure(FailureClass::FatalRequest));
        call(
            &breaker,
            Outcome::Failure(FailureClass::ContextLengthExceeded),
        );
        call(
            &breaker,
            Outcome::Failure(FailureClass::RateLimited { retry_after: None }),
        );
        call(&breaker, Outcome::Failure(FailureClass::RetryRefused));
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_probe_success_closes() {
    let breaker = half_open_breaker().await;
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    let probe = breaker.try_acquire().expect("one probe allowed");
    assert!(breaker.try_acquire().is_err(), "only one probe at a time");
    probe.record(&Outcome::Success);
    assert_eq!(breaker.state(), BreakerState::Closed);
    // A fresh start: the earlier failures are forgotten.
    call(&breaker, TRANSIENT);
    call(&breaker, TRANSIENT);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_probe_failure_reopens_with_a_longer_interval() {
    let breaker = half_open_breaker().await;
    call(&breaker, TRANSIENT);
    assert_eq!(breaker.state(), BreakerState::Open);
    let open = breaker.try_acquire().expect_err("reopened");
    assert_eq!(open.retry_after, Duration::from_secs(2), "interval doubled");
    tokio::time::advance(Duration::from_secs(2)).await;
    call(&breaker, TRANSIENT);
    let open = breaker.try_acquire().expect_err("reopened again");
    assert_eq!(
        open.retry_after,
        Duration::from_secs(3),
        "capped at the max"
    );
}

#[tokio::test(start_paused = true)]
async fn abandoned_probe_frees_its_slot() {
    let breaker = half_open_breaker().await;
    drop(breaker.try_acquire().expect("probe"));
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert!(
        breaker.try_acquire().is_ok(),
        "the dropped probe released its slot"
    );
}

#[tokio::test(start_paused = true)]
async fn late_reports_from_a_previous_phase_are_ignored() {
    let breaker = breaker();
    let slow_call = breaker.try_acquire().expect("closed");
    (0..3).for_each(|_| call(&breaker, TRANSIENT));
    tokio::time::advance(Duration::from_secs(1)).await;
    let probe = breaker.try_acquire().expect("probe");
    slow_call.record(&Outcome::Success);
    assert_eq!(
        breaker.state(),
        BreakerState::HalfOpen,
        "a stale success must not close it"
    );
    probe.record(&TRANSIENT);
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn open_error_becomes_unavailable_with_retry_info() {
    let status = tonic::Status::from(BreakerOpen {
        endpoint: "ep".into(),
        retry_after: Duration::from_millis(1500),
    });
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let info = status.get_details_retry_info().expect("retry info");
    assert_eq!(info.retry_delay, Some(Duration::from_millis(1500)));
}
