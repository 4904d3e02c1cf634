//! Dropping a call cancels everything it started: no task, no timer, no retained request.

mod support;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use drover_resilience::{BackoffPolicy, Jitter, ResilienceLayer, RetryPolicy};
use support::Fake;
use tokio::runtime::Handle;
use tonic::Status;
use tower::{Layer, ServiceExt};

/// Decorrelated jitter with base = cap waits exactly one second between attempts.
fn one_second_backoff() -> RetryPolicy {
    let backoff = BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(1))
        .jitter(Jitter::Decorrelated);
    RetryPolicy::default().max_attempts(5).backoff(backoff)
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_mid_backoff_leaves_nothing_behind() {
    let request = Arc::new("payload");
    let inner =
        Fake::new(|_, _request: Arc<&str>| async { Err::<(), _>(Status::unavailable("down")) });
    let service = ResilienceLayer::grpc(one_second_backoff(), "svc").layer(inner.clone());

    let mut call = Box::pin(service.oneshot(Arc::clone(&request)));
    // Let the first attempt fail and the loop start its one-second backoff.
    let still_waiting = tokio::time::timeout(Duration::from_millis(500), &mut call).await;
    assert!(
        still_waiting.is_err(),
        "the call should be sleeping between attempts"
    );
    assert_eq!(inner.calls(), 1);
    assert_eq!(
        Arc::strong_count(&request),
        2,
        "the in-flight call holds the request"
    );
    assert_eq!(
        Handle::current().metrics().num_alive_tasks(),
        0,
        "no task was spawned"
    );

    drop(call);
    assert_eq!(
        Arc::strong_count(&request),
        1,
        "dropping the call released the request"
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    tokio::task::yield_now().await;
    assert_eq!(
        inner.calls(),
        1,
        "no attempt ran after the call was dropped"
    );
    assert_eq!(Handle::current().metrics().num_alive_tasks(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_mid_attempt_cancels_the_attempt() {
    // Each attempt's future owns a token; a weak handle tells whether that future still exists.
    let tokens: Arc<Mutex<Vec<Weak<()>>>> = Arc::default();
    let registry = Arc::clone(&tokens);
    let inner = Fake::new(move |_, ()| {
        let token = Arc::new(());
        registry
            .lock()
            .expect("not poisoned")
            .push(Arc::downgrade(&token));
        async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(token);
            Ok::<(), Status>(())
        }
    });
    let service = ResilienceLayer::grpc(one_second_backoff(), "svc").layer(inner.clone());

    let mut call = Box::pin(service.oneshot(()));
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut call)
            .await
            .is_err()
    );
    let attempt = tokens.lock().expect("not poisoned")[0].clone();
    assert!(attempt.upgrade().is_some(), "the attempt is in flight");
    drop(call);
    assert!(
        attempt.upgrade().is_none(),
        "dropping the call dropped the attempt"
    );
    assert_eq!(inner.calls(), 1);
}
