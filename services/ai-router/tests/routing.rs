//! Routing against real stand-in providers over HTTP on 127.0.0.1: weighted selection,
//! failover, removal, fail-fast, parking, breakers, the single deadline and load shedding.

mod common;

use std::time::{Duration, Instant};

use common::*;
use drover_api::{ErrorReason, model::ai::CacheMode};
use drover_resilience::BreakerState;

#[tokio::test]
async fn weighted_selection_follows_the_weights() {
    let provider = standin().await;
    let router = router(&format!(
        "{}{}
        [[groups]]
        name = \"g\"
        deployments = [\"light\", \"heavy\"]",
        deployment("light", &provider, "m-light", "weight = 1"),
        deployment("heavy", &provider, "m-heavy", "weight = 3"),
    ));
    let n = 400;
    for i in 0..n {
        let call = chat("g", &format!("q{i}"), CacheMode::Bypass);
        router.chat(&call, within(10.0)).await.0.expect("answer");
    }
    let heavy = seen(&provider, "m-heavy") as f64 / n as f64;
    assert_eq!(seen(&provider, "m-light") + seen(&provider, "m-heavy"), n);
    // 3:1 → 0.75; ±0.07 is more than four standard deviations at n = 400.
    assert!((heavy - 0.75).abs() < 0.07, "heavy share {heavy}");
}

#[tokio::test]
async fn a_5xx_fails_over_to_another_deployment() {
    let provider = standin().await;
    let router = router(&format!(
        "{}{}
        [[groups]]
        name = \"g\"
        deployments = [\"broken\", \"fine\"]",
        deployment("broken", &provider, "m-a+status=500", "weight = 1000"),
        deployment("fine", &provider, "m-b", "weight = 1"),
    ));
    let (answer, stats) = router
        .chat(&chat("g", "hello", CacheMode::Bypass), within(10.0))
        .await;
    let answer = answer.expect("served by the healthy deployment");
    assert_eq!(answer.deployment, "fine");
    assert_eq!(stats.attempts, 2);
    assert_eq!(seen(&provider, "m-a+status=500"), 1);
}

#[tokio::test]
async fn a_401_removes_the_deployment_and_another_serves() {
    let provider = standin().await;
    let wrong_key =
        deployment("badkey", &provider, "m-a", "weight = 1000").replace("TEST_KEY", "WRONG_KEY");
    let router = router(&format!(
        "{wrong_key}{}
        [[groups]]
        name = \"g\"
        deployments = [\"badkey\", \"fine\"]",
        deployment("fine", &provider, "m-b", "weight = 1"),
    ));
    let first = router
        .chat(&chat("g", "one", CacheMode::Bypass), within(10.0))
        .await
        .0
        .expect("the other deployment serves");
    assert_eq!(first.deployment, "fine");
    assert!(router.deployments()[0].health.is_disabled());
    for i in 0..5 {
        let next = router
            .chat(
                &chat("g", &format!("n{i}"), CacheMode::Bypass),
                within(10.0),
            )
            .await;
        assert_eq!(next.0.expect("served").deployment, "fine");
    }
    assert_eq!(
        provider
            .stats()
            .outcomes
            .get("unauthorized")
            .copied()
            .unwrap_or(0),
        1,
        "the removed deployment is never called again: {:?}",
        provider.stats().outcomes
    );
}

#[tokio::test]
async fn a_400_is_tried_once_in_total() {
    let provider = standin().await;
    let router = router(&format!(
        "{}{}
        [[groups]]
        name = \"g\"
        deployments = [\"a\", \"b\"]
        fallback = \"h\"

        [[groups]]
        name = \"h\"
        deployments = [\"b\"]",
        deployment("a", &provider, "m+status=400", ""),
        deployment("b", &provider, "m+status=400", ""),
    ));
    let (result, stats) = router
        .chat(&chat("g", "bad", CacheMode::Bypass), within(10.0))
        .await;
    let error = result.expect_err("a request fault fails");
    assert_eq!(error.reason, ErrorReason::InvalidArgument);
    assert_eq!(stats.attempts, 1);
    assert_eq!(provider.stats().requests, 1);
}

#[tokio::test]
async fn a_429_with_retry_after_parks_the_deployment_for_that_long() {
    let provider = standin().await;
    let router = router(&format!(
        "{}{}
        [[groups]]
        name = \"g\"
        deployments = [\"limited\", \"fine\"]",
        deployment(
            "limited",
            &provider,
            "m-a+status=429,retry-after=2,fail-first=1",
            "weight = 1000"
        ),
        deployment("fine", &provider, "m-b", "weight = 1"),
    ));
    let parked_at = Instant::now();
    let first = router
        .chat(&chat("g", "x", CacheMode::Bypass), within(10.0))
        .await
        .0
        .expect("served elsewhere");
    assert_eq!(first.deployment, "fine");
    let limited = &router.deployments()[0];
    let until = limited.health.parked_until().expect("parked");
    assert!(
        until.into_std() >= parked_at + Duration::from_millis(1990),
        "parked for the full Retry-After"
    );
    // While parked, the heavily weighted deployment is never tried.
    while Instant::now() < parked_at + Duration::from_millis(1800) {
        let answer = router
            .chat(&chat("g", "y", CacheMode::Bypass), within(10.0))
            .await
            .0
            .expect("served");
        assert_eq!(answer.deployment, "fine");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen(&provider, "m-a+status=429,retry-after=2,fail-first=1"),
        1
    );
    // After the delay it is back (its fault was scripted for the first request only).
    tokio::time::sleep_until((parked_at + Duration::from_millis(2100)).into()).await;
    let back = router
        .chat(&chat("g", "z", CacheMode::Bypass), within(10.0))
        .await
        .0
        .expect("served");
    assert_eq!(back.deployment, "limited");
}

#[tokio::test]
async fn every_deployment_parked_answers_rate_limited_with_a_delay() {
    let provider = standin().await;
    let router = router(&format!(
        "{}
        [[groups]]
        name = \"g\"
        deployments = [\"only\"]",
        deployment("only", &provider, "m+status=429,retry-after=30", ""),
    ));
    let first = router
        .chat(&chat("g", "x", CacheMode::Bypass), within(10.0))
        .await
        .0
        .expect_err("rate-limited");
    assert_eq!(first.reason, ErrorReason::RateLimited);
    let second = router
        .chat(&chat("g", "x", CacheMode::Bypass), within(10.0))
        .await
        .0
        .expect_err("still parked");
    assert_eq!(second.reason, ErrorReason::RateLimited);
    let delay = second.retry_after.expect("says when to come back");
    assert!(delay > Duration::from_secs(25) && delay <= Duration::from_secs(30));
    assert_eq!(
        provider.stats().requests,
        1,
        "a parked deployment is not called"
    );
}

#[tokio::test]
async fn the_breaker_opens_and_recovers_through_half_open() {
    let provider = standin().await;
    provider.set_behavior("status=500").expect("behaviour");
    let router = router(&format!(
        "max_attempts = 1
        breaker_consecutive_failures = 3
        breaker_open_ms = 400
        {}
        [[groups]]
        name = \"g\"
        deployments = [\"d\"]",
        deployment("d", &provider, "m", ""),
    ));
    let breaker = &router.deployments()[0].breaker;
    for _ in 0..3 {
        let e = router
            .chat(&chat("g", "x", CacheMode::Bypass), within(10.0))
            .await
            .0
            .expect_err("500");
        assert_eq!(e.reason, ErrorReason::Transient);
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    let refused = router
        .chat(&chat("g", "x", CacheMode::Bypass), within(10.0))
        .await
        .0
        .expect_err("open");
    assert_eq!(refused.reason, ErrorReason::CircuitOpen);
    assert!(refused.retry_after.is_some());
    assert_eq!(provider.stats().requests, 3, "an open breaker fails fast");

    provider.set_behavior("").expect("healed");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    router
        .chat(&chat("g", "x", CacheMode::Bypass), within(10.0))
        .await
        .0
        .expect("the probe succeeds");
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test]
async fn a_request_never_outlives_its_deadline() {
    let provider = standin().await;
    // Every attempt fails slowly; retries would go on far longer than the deadline.
    provider
        .set_behavior("latency=120ms,status=503")
        .expect("behaviour");
    let router = router(&format!(
        "max_attempts = 10
        backoff_base_ms = 100
        {}{}
        [[groups]]
        name = \"g\"
        deployments = [\"a\", \"b\"]",
        deployment("a", &provider, "m-a", ""),
        deployment("b", &provider, "m-b", ""),
    ));
    for deadline in [0.05, 0.3, 0.7] {
        let started = Instant::now();
        let (result, _) = router
            .chat(&chat("g", "x", CacheMode::Bypass), within(deadline))
            .await;
        let took = started.elapsed();
        let error = result.expect_err("never succeeds");
        assert_eq!(error.reason, ErrorReason::DeadlineExceeded, "{error}");
        // The bound is the deadline itself; the slack covers timer granularity only.
        assert!(
            took <= Duration::from_secs_f64(deadline) + Duration::from_millis(30),
            "{took:?} for a {deadline}s deadline"
        );
    }
    // A slow answer is cut at the deadline too.
    provider.set_behavior("latency=5s").expect("behaviour");
    let started = Instant::now();
    let error = router
        .chat(&chat("g", "slow", CacheMode::Bypass), within(0.2))
        .await
        .0
        .expect_err("too slow");
    assert_eq!(error.reason, ErrorReason::DeadlineExceeded);
    assert!(started.elapsed() <= Duration::from_millis(230));
}

#[tokio::test]
async fn over_the_limit_and_wait_bound_requests_are_shed_at_once() {
    let provider = standin().await;
    provider.set_behavior("latency=1s").expect("behaviour");
    let router = std::sync::Arc::new(router(&format!(
        "queue_wait_ms = 50
        {}
        [[groups]]
        name = \"g\"
        deployments = [\"d\"]",
        deployment("d", &provider, "m", "max_concurrency = 2"),
    )));
    let mut calls = Vec::new();
    for i in 0..5 {
        let router = std::sync::Arc::clone(&router);
        calls.push(tokio::spawn(async move {
            let started = Instant::now();
            let call = chat("g", &format!("q{i}"), CacheMode::Bypass);
            let result = router.chat(&call, within(10.0)).await.0;
            (result, started.elapsed())
        }));
        // The first two take the slots before the rest arrive.
        if i < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut served = 0;
    let mut shed = 0;
    for call in calls {
        let (result, took) = call.await.expect("task");
        match result {
            Ok(_) => served += 1,
            Err(e) => {
                assert_eq!(e.reason, ErrorReason::QueueFull, "{e}");
                assert!(e.retry_after.is_some());
                assert!(
                    took < Duration::from_millis(500),
                    "shed after the wait bound, not the answer"
                );
                shed += 1;
            }
        }
    }
    assert_eq!((served, shed), (2, 3));
    assert_eq!(provider.stats().requests, 2);
}
