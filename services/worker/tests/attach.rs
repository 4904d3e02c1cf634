//! The worker against a scripted hub over real gRPC on 127.0.0.1: the protocol as
//! `proto/drover/v1/worker_hub.proto` describes it, one behaviour per test.

mod support;

use std::time::Duration;

use drover_api::pb::{self, attach_request::Message as Up};
use drover_worker::Worker;
use support::{ScriptedHub, TestExecutor, config, error_reason, outputs};

const HEARTBEAT: Duration = Duration::from_millis(100);

/// Waits until `check` holds, polling the worker's status (bounded).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn hello_then_welcome_then_credit_for_every_slot() {
    let mut hub = ScriptedHub::start().await;
    let worker = Worker::start(config(&hub.url(), 3), TestExecutor::new(3)).expect("start");
    let mut stream = hub.next_stream().await;

    let hello = stream.hello().await;
    assert_eq!(hello.worker_id, "worker-1");
    assert_eq!(hello.kind, pb::WorkerKind::Browser as i32);
    assert_eq!(hello.slots, 3);
    assert_eq!(hello.labels.get("region").map(String::as_str), Some("test"));
    assert_eq!(hello.version, "test-version");
    assert_eq!(hello.session_keys, vec!["session-a".to_owned()]);
    assert!(hello.in_flight_assignment_ids.is_empty());
    assert!(
        !worker.status().connected,
        "not connected before the welcome"
    );

    stream.welcome(HEARTBEAT, Vec::new());
    let credit = stream.credit().await;
    assert_eq!((credit.grant, credit.revoke), (3, 0));
    let status = worker.status();
    assert!(status.connected);
    assert_eq!(status.credit, 3);
    worker.shutdown().await;
}

#[tokio::test]
async fn an_assignment_is_acked_reports_progress_returns_its_result_and_frees_its_credit() {
    let mut hub = ScriptedHub::start().await;
    let worker = Worker::start(config(&hub.url(), 2), TestExecutor::new(2)).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    assert_eq!(stream.credit().await.grant, 2);

    stream.assign("a-1", "echo", 3);
    assert_eq!(stream.ack().await, "a-1");
    for index in 0..3 {
        match stream.next().await {
            Up::Progress(progress) => {
                assert_eq!(progress.assignment_id, "a-1");
                let output = progress.output.expect("output");
                assert_eq!(
                    (output.index, output.step.as_str()),
                    (index, &*format!("s{index}"))
                );
            }
            other => panic!("expected progress {index}, got {other:?}"),
        }
    }
    let result = stream.result().await;
    assert_eq!(result.assignment_id, "a-1");
    let steps: Vec<String> = outputs(&result).into_iter().map(|o| o.step).collect();
    assert_eq!(steps, ["s0", "s1", "s2"]);
    assert_eq!(result.session_keys, vec!["session-a".to_owned()]);
    let credit = stream.credit().await;
    assert_eq!(
        (credit.grant, credit.revoke),
        (1, 0),
        "the freed slot is granted again"
    );

    // An in-band failure travels as the result's error.
    stream.assign("a-2", "fail", 1);
    assert_eq!(stream.ack().await, "a-2");
    let failed = stream.result().await;
    assert_eq!(error_reason(&failed), Some(pb::ErrorReason::StepFailed));
    assert_eq!(stream.credit().await.grant, 1);
    assert_eq!(worker.status().in_flight, 0);
    worker.shutdown().await;
}

#[tokio::test]
async fn heartbeats_list_running_assignments_and_load() {
    let mut hub = ScriptedHub::start().await;
    let worker = Worker::start(config(&hub.url(), 2), TestExecutor::new(2)).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    stream.credit().await;
    stream.assign("h-1", "hang", 1);
    assert_eq!(stream.ack().await, "h-1");

    // The first heartbeat may predate the ack; within a few the running id shows up.
    let mut seen = None;
    for _ in 0..5 {
        let heartbeat = stream.heartbeat().await;
        if !heartbeat.assignment_ids.is_empty() {
            seen = Some(heartbeat);
            break;
        }
    }
    let heartbeat = seen.expect("a heartbeat listing the running assignment");
    assert_eq!(heartbeat.assignment_ids, vec!["h-1".to_owned()]);
    assert!(
        (heartbeat.load - 0.5).abs() < 1e-9,
        "load {}",
        heartbeat.load
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn cancel_stops_the_run_and_sends_a_cancelled_result() {
    let mut hub = ScriptedHub::start().await;
    let executor = TestExecutor::new(1);
    let worker = Worker::start(config(&hub.url(), 1), executor.clone()).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    assert_eq!(stream.credit().await.grant, 1);
    stream.assign("c-1", "hang", 1);
    assert_eq!(stream.ack().await, "c-1");

    stream.cancel("c-1");
    let result = stream.result().await;
    assert_eq!(result.assignment_id, "c-1");
    // The executor claimed success after the cancel; the worker reports the cancel.
    assert_eq!(error_reason(&result), Some(pb::ErrorReason::Cancelled));
    assert_eq!(
        executor
            .cancels_seen
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(stream.credit().await.grant, 1);
    worker.shutdown().await;
}

#[tokio::test]
async fn capacity_drop_revokes_unused_credit_and_recovery_grants_it_back() {
    let mut hub = ScriptedHub::start().await;
    let executor = TestExecutor::new(4);
    let worker = Worker::start(config(&hub.url(), 4), executor.clone()).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    assert_eq!(stream.credit().await.grant, 4);

    executor.set_capacity(1);
    let revoke = stream.credit().await;
    assert_eq!((revoke.grant, revoke.revoke), (0, 3));
    assert_eq!(worker.status().credit, 1);

    // Capacity above the configured slots never grants beyond them.
    executor.set_capacity(10);
    let grant = stream.credit().await;
    assert_eq!((grant.grant, grant.revoke), (3, 0));
    worker.shutdown().await;
}

#[tokio::test]
async fn more_assignments_than_credit_are_refused() {
    let mut hub = ScriptedHub::start().await;
    let worker = Worker::start(config(&hub.url(), 1), TestExecutor::new(1)).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    assert_eq!(stream.credit().await.grant, 1);

    stream.assign("x-1", "hang", 1);
    stream.assign("x-2", "hang", 1);
    assert_eq!(stream.ack().await, "x-1");
    let refused = stream.result().await;
    assert_eq!(refused.assignment_id, "x-2");
    assert_eq!(error_reason(&refused), Some(pb::ErrorReason::QueueFull));
    assert_eq!(worker.status().in_flight, 1);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_lost_stream_reconnects_and_the_running_assignment_reports_on_the_new_one() {
    let mut hub = ScriptedHub::start().await;
    let worker = Worker::start(config(&hub.url(), 2), TestExecutor::new(2)).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    assert_eq!(stream.credit().await.grant, 2);
    stream.assign("r-1", "slow:600", 1);
    assert_eq!(stream.ack().await, "r-1");

    stream.hang_up();
    let mut again = hub.next_stream().await;
    let hello = again.hello().await;
    assert_eq!(hello.worker_id, "worker-1", "same id across reconnects");
    assert_eq!(hello.in_flight_assignment_ids, vec!["r-1".to_owned()]);
    again.welcome(HEARTBEAT, Vec::new());
    let credit = again.credit().await;
    assert_eq!(
        (credit.grant, credit.revoke),
        (1, 0),
        "one slot is still busy"
    );
    let result = again.result().await;
    assert_eq!(result.assignment_id, "r-1");
    assert_eq!(outputs(&result).len(), 1);
    assert_eq!(again.credit().await.grant, 1);
    worker.shutdown().await;
}

#[tokio::test]
async fn results_produced_while_the_scheduler_is_down_are_sent_after_it_returns() {
    let mut hub = ScriptedHub::start().await;
    let worker = Worker::start(config(&hub.url(), 1), TestExecutor::new(1)).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    stream.credit().await;
    stream.assign("d-1", "slow:200", 1);
    assert_eq!(stream.ack().await, "d-1");

    // The scheduler crashes; the run finishes while nothing listens.
    let addr = hub.kill().await;
    eventually("the result is buffered", || {
        let status = worker.status();
        !status.connected && status.in_flight == 0 && status.buffered_results == 1
    })
    .await;

    let mut hub = ScriptedHub::bind(addr).await;
    let mut stream = hub.next_stream().await;
    let hello = stream.hello().await;
    assert_eq!(
        hello.in_flight_assignment_ids,
        vec!["d-1".to_owned()],
        "a buffered result keeps its assignment in flight"
    );
    stream.welcome(HEARTBEAT, Vec::new());
    let result = stream.result().await;
    assert_eq!(result.assignment_id, "d-1");
    assert_eq!(outputs(&result).len(), 1);
    assert_eq!(stream.credit().await.grant, 1);
    assert_eq!(worker.status().buffered_results, 0);
    worker.shutdown().await;
}

#[tokio::test]
async fn assignments_the_scheduler_no_longer_knows_are_stopped_without_a_result() {
    let mut hub = ScriptedHub::start().await;
    let executor = TestExecutor::new(2);
    let worker = Worker::start(config(&hub.url(), 2), executor.clone()).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    stream.credit().await;
    stream.assign("u-1", "hang", 1);
    assert_eq!(stream.ack().await, "u-1");
    stream.hang_up();

    let mut again = hub.next_stream().await;
    assert_eq!(
        again.hello().await.in_flight_assignment_ids,
        vec!["u-1".to_owned()]
    );
    again.welcome(HEARTBEAT, vec!["u-1".to_owned()]);
    // Either the slot is already free at the first grant, or it is granted once the run stops;
    // no result may arrive in between.
    let mut granted = 0;
    while granted < 2 {
        match again.next().await {
            Up::Credit(credit) => granted += credit.grant,
            other => panic!("expected only credit, got {other:?}"),
        }
    }
    assert_eq!(
        executor
            .cancels_seen
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_drain_from_the_scheduler_finishes_in_flight_work_closes_and_does_not_reconnect() {
    let mut hub = ScriptedHub::start().await;
    let worker = Worker::start(config(&hub.url(), 2), TestExecutor::new(2)).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    assert_eq!(stream.credit().await.grant, 2);
    stream.assign("g-1", "slow:300", 1);
    assert_eq!(stream.ack().await, "g-1");

    stream.drain(Duration::from_secs(3));
    let revoke = stream.credit().await;
    assert_eq!(
        (revoke.grant, revoke.revoke),
        (0, 1),
        "unused credit is taken back"
    );
    let result = stream.result().await;
    assert_eq!(result.assignment_id, "g-1");
    assert_eq!(outputs(&result).len(), 1, "finished within the grace");
    stream.closed().await;
    tokio::time::timeout(support::WAIT, worker.finished())
        .await
        .expect("the attach loop ends after the drain");
    assert!(
        !hub.attaches_within(Duration::from_millis(500)).await,
        "no reconnect after a drain"
    );
    assert!(!worker.status().connected);
}

#[tokio::test]
async fn a_local_drain_cancels_what_outlives_its_grace() {
    let mut hub = ScriptedHub::start().await;
    let worker = Worker::start(config(&hub.url(), 2), TestExecutor::new(2)).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    stream.credit().await;
    stream.assign("l-1", "hang", 1);
    assert_eq!(stream.ack().await, "l-1");

    let (drained, ()) = tokio::join!(
        tokio::time::timeout(support::WAIT, worker.drain(Duration::from_millis(200))),
        async {
            assert_eq!(stream.credit().await.revoke, 1);
            // Assignments that cross the drain are refused, not run.
            stream.assign("l-2", "echo", 1);
            let refused = stream.result().await;
            assert_eq!(refused.assignment_id, "l-2");
            assert_eq!(error_reason(&refused), Some(pb::ErrorReason::Draining));
            let result = stream.result().await;
            assert_eq!(result.assignment_id, "l-1");
            assert_eq!(error_reason(&result), Some(pb::ErrorReason::Draining));
            stream.closed().await;
        }
    );
    drained.expect("drain returns once the stream is closed");
    assert!(!hub.attaches_within(Duration::from_millis(300)).await);
    let status = worker.status();
    assert!(status.draining && !status.connected && status.in_flight == 0);
}

#[tokio::test]
async fn the_deadline_stops_a_run_with_deadline_exceeded() {
    let mut hub = ScriptedHub::start().await;
    let worker = Worker::start(config(&hub.url(), 1), TestExecutor::new(1)).expect("start");
    let mut stream = hub.next_stream().await;
    stream.hello().await;
    stream.welcome(HEARTBEAT, Vec::new());
    stream.credit().await;
    let mut assignment = support::assignment("t-1", "hang", 1);
    let deadline = std::time::SystemTime::now() + Duration::from_millis(150);
    assignment.deadline = Some(deadline.into());
    stream.send(pb::attach_response::Message::Assign(assignment));
    assert_eq!(stream.ack().await, "t-1");
    let result = stream.result().await;
    assert_eq!(
        error_reason(&result),
        Some(pb::ErrorReason::DeadlineExceeded)
    );
    worker.shutdown().await;
}

/// Metrics go to a recorder local to this thread, so the runtime here is single-threaded.
#[test]
fn metrics_count_outcomes_reconnects_and_connection_state() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let snapshot = runtime.block_on(async {
        let mut hub = ScriptedHub::start().await;
        let worker = Worker::start(config(&hub.url(), 2), TestExecutor::new(2)).expect("start");
        let mut stream = hub.next_stream().await;
        stream.hello().await;
        stream.welcome(HEARTBEAT, Vec::new());
        stream.credit().await;
        stream.assign("m-1", "echo", 1);
        stream.ack().await;
        let _progress = stream.next().await;
        stream.result().await;
        stream.hang_up();
        let mut again = hub.next_stream().await;
        again.hello().await;
        again.welcome(HEARTBEAT, Vec::new());
        again.credit().await;
        // Read while the worker is still attached.
        let snapshot = snapshotter.snapshot();
        worker.shutdown().await;
        snapshot
    });

    let mut values = std::collections::HashMap::new();
    for (key, _, _, value) in snapshot.into_vec() {
        let key = key.key();
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let value = match value {
            DebugValue::Counter(count) => count as f64,
            DebugValue::Gauge(value) => value.into_inner(),
            DebugValue::Histogram(_) => continue,
        };
        values.insert(format!("{}{{{}}}", key.name(), labels.join(",")), value);
    }
    let get = |name: &str| values.get(name).copied();
    assert_eq!(
        get("drover_worker_assignments_total{kind=browser,outcome=succeeded}"),
        Some(1.0),
        "{values:?}"
    );
    assert_eq!(
        get("drover_worker_reconnects_total{kind=browser}"),
        Some(1.0)
    );
    assert_eq!(get("drover_worker_connected{kind=browser}"), Some(1.0));
    assert_eq!(get("drover_worker_in_flight{kind=browser}"), Some(0.0));
}
