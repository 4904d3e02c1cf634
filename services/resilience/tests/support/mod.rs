//! Test fixtures shared by the integration tests: a fake inner service that counts its calls,
//! and a metrics recorder scoped to one test.

#![allow(dead_code)] // each test binary uses a different subset

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use drover_resilience::{BackoffPolicy, RetryPolicy};
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// An inner service answering with `respond(call_number, request)`; clones share the count.
#[derive(Clone)]
pub struct Fake<F> {
    calls: Arc<AtomicUsize>,
    respond: F,
}

impl<F> Fake<F> {
    pub fn new(respond: F) -> Self {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            respond,
        }
    }

    /// How many times the service was called.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl<F, R, Fut, T, E> tower::Service<R> for Fake<F>
where
    F: Fn(usize, R) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Response = T;
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Fut {
        let call_number = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        (self.respond)(call_number, request)
    }
}

/// A status carrying `grpc-retry-pushback-ms`.
pub fn with_pushback(mut status: tonic::Status, millis: &'static str) -> tonic::Status {
    status
        .metadata_mut()
        .insert("grpc-retry-pushback-ms", millis.parse().expect("ascii"));
    status
}

/// A policy with tiny, seeded backoff so tests are about the rule under test, not the jitter.
pub fn quick_policy() -> RetryPolicy {
    RetryPolicy::default()
        .backoff(BackoffPolicy::new(Duration::from_millis(10), Duration::from_millis(40)).seed(1))
}

/// A debugging recorder installed for the current thread until the guard drops. Tokio's
/// current-thread test runtime polls everything on this thread, so it sees every metric.
///
/// The debugging recorder's snapshots drain what they read (counters and gauges swap to 0),
/// so this fixture accumulates: counters add up across reads; a gauge keeps its last non-zero
/// reading (a drained gauge reads 0 until set again).
pub struct LocalMetrics {
    snapshotter: Snapshotter,
    seen: RefCell<HashMap<CompositeKey, Reading>>,
    _guard: metrics::LocalRecorderGuard<'static>,
}

impl LocalMetrics {
    pub fn install() -> Self {
        // Leaked so the guard can be 'static; one small recorder per test is fine.
        let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
        Self {
            snapshotter: recorder.snapshotter(),
            seen: RefCell::default(),
            _guard: metrics::set_default_local_recorder(recorder),
        }
    }

    /// The value of the counter `name` summed over every series whose labels include `labels`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.matching(name, labels)
            .into_iter()
            .map(|reading| match reading {
                Reading::Counter(count) => count,
                _ => 0,
            })
            .sum()
    }

    /// The value of the gauge `name` for `endpoint`, if recorded.
    pub fn gauge(&self, name: &str, endpoint: &str) -> Option<f64> {
        self.matching(name, &[("endpoint", endpoint)])
            .into_iter()
            .find_map(|reading| match reading {
                Reading::Gauge(value) => Some(value),
                _ => None,
            })
    }

    fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<Reading> {
        let mut seen = self.seen.borrow_mut();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let reading = match value {
                DebugValue::Counter(count) => Reading::Counter(count),
                DebugValue::Gauge(value) => Reading::Gauge(value.into_inner()),
                DebugValue::Histogram(_) => Reading::Histogram,
            };
            match (seen.get_mut(&key), reading) {
                (Some(Reading::Counter(total)), Reading::Counter(more)) => *total += more,
                (Some(Reading::Gauge(_)), Reading::Gauge(0.0)) => {}
                (_, reading) => {
                    seen.insert(key, reading);
                }
            }
        }
        seen.iter()
            .filter(|(key, _)| key.key().name() == name)
            .filter(|(key, _)| {
                labels.iter().all(|(k, v)| {
                    key.key()
                        .labels()
                        .any(|label| label.key() == *k && label.value() == *v)
                })
            })
            .map(|(_, reading)| *reading)
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
enum Reading {
    Counter(u64),
    Gauge(f64),
    Histogram,
}
