//! The shared retry budget, and the metrics the layer emits, observed with a debugging
//! recorder scoped to each test.

mod support;

use std::time::Duration;

use drover_resilience::telemetry::{
    ATTEMPTS_TOTAL, BREAKER_STATE, BREAKER_TRANSITIONS_TOTAL, BUDGET_EXHAUSTED_TOTAL,
    GIVE_UPS_TOTAL, RETRIES_TOTAL,
};
use drover_resilience::{
    BackoffPolicy, BreakerConfig, BudgetConfig, CircuitBreaker, ResilienceLayer, RetryBudget,
    RetryPolicy,
};
use support::{Fake, LocalMetrics};
use tonic::Status;
use tower::{Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn budget_exhaustion_stops_retries_across_requests() {
    let metrics = LocalMetrics::install();
    let budget = RetryBudget::new(BudgetConfig {
        retry_ratio: 0.2,
        window: Duration::from_secs(10),
        min_retries_per_second: 1.0, // a floor of 10 retries per window
    });
    let policy = RetryPolicy::default()
        .max_attempts(3)
        .backoff(BackoffPolicy::new(Duration::from_millis(1), Duration::from_millis(2)).seed(5));
    let inner = Fake::new(|_, ()| async { Err::<(), _>(Status::unavailable("down")) });
    let service = ResilienceLayer::grpc(policy, "flaky")
        .with_budget(budget.clone())
        .layer(inner.clone());

    let requests = 100;
    for _ in 0..requests {
        service.clone().oneshot(()).await.expect_err("always down");
    }

    let retries = inner.calls() - requests;
    // Without a budget every request would retry twice: 200 retries.
    assert!(
        retries <= 10 + 20,
        "retries {retries} exceed floor + ratio·requests"
    );
    assert!(
        retries >= 25,
        "the budget should still allow retries: {retries}"
    );
    assert_eq!(budget.usage(), (requests as u64, retries as u64));
    let refused = metrics.counter(BUDGET_EXHAUSTED_TOTAL, &[("endpoint", "flaky")]);
    assert!(refused >= 60, "refused retries are counted: {refused}");
    assert_eq!(
        metrics.counter(GIVE_UPS_TOTAL, &[("reason", "budget_exhausted")]),
        refused
    );
    assert_eq!(
        metrics.counter(
            RETRIES_TOTAL,
            &[("endpoint", "flaky"), ("class", "transient")]
        ),
        retries as u64
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_retries_and_give_ups_are_counted() {
    let metrics = LocalMetrics::install();
    let inner = Fake::new(|call, fatal: bool| async move {
        match (fatal, call) {
            (true, _) => Err(Status::invalid_argument("bad")),
            (false, 1 | 2) => Err(Status::unavailable("blip")),
            (false, _) => Ok(()),
        }
    });
    let policy = RetryPolicy::default().backoff(BackoffPolicy::new(
        Duration::from_millis(5),
        Duration::from_millis(10),
    ));
    let service = ResilienceLayer::grpc(policy, "https://user:secret@provider.example/v1?key=k")
        .layer(inner.clone());

    service
        .clone()
        .oneshot(false)
        .await
        .expect("third attempt succeeds");
    let endpoint = [("endpoint", "https://provider.example/v1")];
    assert_eq!(metrics.counter(ATTEMPTS_TOTAL, &endpoint), 3);
    assert_eq!(metrics.counter(RETRIES_TOTAL, &[("class", "transient")]), 2);
    assert_eq!(metrics.counter(GIVE_UPS_TOTAL, &[]), 0);

    service.oneshot(true).await.expect_err("fatal");
    assert_eq!(metrics.counter(ATTEMPTS_TOTAL, &endpoint), 4);
    assert_eq!(metrics.counter(GIVE_UPS_TOTAL, &[("reason", "fatal")]), 1);
    assert_eq!(
        metrics.counter(ATTEMPTS_TOTAL, &[("endpoint", "secret")]),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn breaker_transitions_and_state_gauge_are_recorded() {
    let metrics = LocalMetrics::install();
    let breaker = CircuitBreaker::new(
        "db",
        BreakerConfig {
            consecutive_failures: 2,
            ..BreakerConfig::default()
        },
    );
    assert_eq!(metrics.gauge(BREAKER_STATE, "db"), Some(0.0));
    let inner = Fake::new(|_, ()| async { Err::<(), _>(Status::unavailable("down")) });
    let service = ResilienceLayer::grpc(RetryPolicy::default().single_attempt(), "db")
        .with_breaker(breaker)
        .layer(inner);
    for _ in 0..3 {
        let _ = service.clone().oneshot(()).await;
    }
    assert_eq!(metrics.gauge(BREAKER_STATE, "db"), Some(2.0));
    let opened = [("endpoint", "db"), ("from", "closed"), ("to", "open")];
    assert_eq!(metrics.counter(BREAKER_TRANSITIONS_TOTAL, &opened), 1);
    assert_eq!(
        metrics.counter(GIVE_UPS_TOTAL, &[("reason", "circuit_open")]),
        1
    );
}
