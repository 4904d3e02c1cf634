//! One deadline for all attempts: retries spend it and never extend it.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_resilience::{
    BackoffPolicy, Deadline, ResilienceError, ResilienceLayer, RetryPolicy, with_deadline,
};
use support::Fake;
use tokio::time::Instant;
use tonic::Status;
use tower::{Layer, ServiceExt};

type Attempt = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// Every attempt hangs for `hang`, then fails transiently.
fn slow_failing(hang: Duration) -> Fake<impl Fn(usize, ()) -> Attempt + Clone> {
    Fake::new(move |_, ()| -> Attempt {
        Box::pin(async move {
            tokio::time::sleep(hang).await;
            Err(Status::unavailable("slow and failing"))
        })
    })
}

fn patient_policy() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(5)
        .idempotent(true)
        .per_attempt_timeout(Duration::from_millis(400))
        .total_timeout(Duration::from_secs(1))
        .backoff(BackoffPolicy::new(Duration::from_millis(100), Duration::from_millis(300)).seed(9))
}

#[tokio::test(start_paused = true)]
async fn total_time_never_exceeds_the_policy_deadline() {
    let inner = slow_failing(Duration::from_secs(5));
    let service = ResilienceLayer::grpc(patient_policy(), "svc").layer(inner.clone());
    let started = Instant::now();
    let error = service
        .oneshot(())
        .await
        .expect_err("every attempt times out");
    let elapsed = started.elapsed();
    assert!(elapsed <= Duration::from_secs(1), "{elapsed:?}");
    assert!(
        inner.calls() >= 2,
        "a timed-out idempotent attempt is retried"
    );
    assert!(
        matches!(error, ResilienceError::DeadlineExceeded { .. }),
        "{error:?}"
    );
    assert_eq!(Status::from(error).code(), tonic::Code::DeadlineExceeded);
}

#[tokio::test(start_paused = true)]
async fn a_caller_deadline_set_with_with_deadline_bounds_all_attempts() {
    let inner = slow_failing(Duration::from_millis(150));
    let service = ResilienceLayer::grpc(patient_policy(), "svc").layer(inner.clone());
    let started = Instant::now();
    let caller = Deadline::after(Duration::from_millis(500));
    let result = with_deadline(caller, service.oneshot(())).await;
    assert!(result.is_err());
    assert!(
        started.elapsed() <= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_parsed_from_grpc_timeout_bounds_all_attempts() {
    let mut incoming = tonic::metadata::MetadataMap::new();
    incoming.insert("grpc-timeout", "300m".parse().expect("ascii"));
    let caller = Deadline::from_metadata(&incoming).expect("valid grpc-timeout");

    let inner = slow_failing(Duration::from_secs(5));
    let service = ResilienceLayer::grpc(patient_policy(), "svc").layer(inner.clone());
    let started = Instant::now();
    // The response future is created outside the scope and awaited inside it: the layer reads
    // the caller's deadline when it first runs.
    let call = service.oneshot(());
    let error = with_deadline(caller, call).await.expect_err("times out");
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    assert_eq!(inner.calls(), 1, "the first attempt used all 300 ms");
    assert!(matches!(
        error,
        ResilienceError::DeadlineExceeded { attempts: 1, .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn each_attempt_sees_min_of_per_attempt_timeout_and_time_left() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&seen);
    let inner = Fake::new(move |call, ()| {
        let left = Deadline::current().map(|d| d.remaining());
        recorder.lock().expect("not poisoned").push(left);
        async move {
            if call < 3 {
                tokio::time::sleep(Duration::from_millis(350)).await;
            }
            Err::<(), _>(Status::unavailable("failing"))
        }
    });
    let no_backoff = BackoffPolicy::new(Duration::ZERO, Duration::ZERO);
    let service = ResilienceLayer::grpc(patient_policy().backoff(no_backoff), "svc").layer(inner);
    service.oneshot(()).await.expect_err("keeps failing");
    // Attempts 1 and 2 (t=0, 350 ms) get the 400 ms per-attempt timeout; the rest start at
    // 700 ms, when only 300 ms of the 1 s total are left.
    let ms = |n| Some(Duration::from_millis(n));
    assert_eq!(
        *seen.lock().expect("not poisoned"),
        [ms(400), ms(400), ms(300), ms(300), ms(300)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_expired_caller_deadline_makes_no_attempt() {
    let inner = slow_failing(Duration::ZERO);
    let service = ResilienceLayer::grpc(patient_policy(), "svc").layer(inner.clone());
    let expired = Deadline::after(Duration::ZERO);
    let error = with_deadline(expired, service.oneshot(()))
        .await
        .expect_err("no time");
    assert_eq!(inner.calls(), 0);
    assert!(matches!(
        error,
        ResilienceError::DeadlineExceeded { attempts: 0, .. }
    ));
}
