//! Workers that misbehave, fail or go away, against the real binary over real gRPC: credit is
//! a hard limit, unrenewed leases come back, failing workers are quarantined, a lost worker's
//! assignments run elsewhere, and affinity routes a session's work to the worker holding it.
//! In every case each task reaches exactly one terminal state (each is watched to its end).

mod common;

use std::time::Duration;

use common::*;
use drover_api::{ErrorReason, pb};
use pb::attach_response::Message as Down;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_never_acks_gets_only_its_credit_and_loses_the_leases() {
    let scheduler =
        Scheduler::start("heartbeat_interval_ms = 100\nlease_ms = 800\nreconnect_grace_ms = 300\n");
    let mut client = scheduler.client().await;
    let mut silent = RawWorker::attach(&scheduler, "silent", pb::WorkerKind::Browser, 4).await;
    assert_eq!(
        silent.welcome.lease_duration,
        Some(millis(800)),
        "the welcome names the lease"
    );
    silent.grant(2).await;

    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            submit(
                &mut client,
                browse("alpha", &format!("https://example.test/{i}")),
            )
            .await,
        );
    }

    // Exactly two assignments, though five tasks wait and the worker has four slots.
    let mut assigned = Vec::new();
    while assigned.len() < 2 {
        match silent.next_within(PATIENCE).await {
            Some(Down::Assign(a)) => assigned.push(a),
            other => panic!("expected an assignment, got {other:?}"),
        }
    }
    for a in &assigned {
        assert_eq!(a.attempt, 1);
        assert!(a.lease_expires_at.is_some() && a.deadline.is_some());
        assert_eq!(a.steps.len(), 1);
    }
    let status = cluster(&mut client).await;
    assert_eq!(status.running, 2);
    assert_eq!(queued(&mut client).await, 3);

    // No ack, no heartbeat: the leases expire, the scheduler takes the work back (telling the
    // worker) and never sends more, because the worker granted no more credit.
    let mut cancelled = Vec::new();
    let until = tokio::time::Instant::now() + PATIENCE;
    while cancelled.len() < 2 {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match silent.next_within(left).await {
            Some(Down::Cancel(c)) => {
                let reason = c.reason.expect("a reason");
                assert_eq!(reason.reason, pb::ErrorReason::WorkerLost as i32);
                cancelled.push(c.assignment_id);
            }
            Some(Down::Assign(a)) => panic!("an assignment beyond the credit: {a:?}"),
            other => panic!("expected the leases to be withdrawn, got {other:?}"),
        }
    }
    cancelled.sort();
    let mut sent: Vec<String> = assigned.iter().map(|a| a.assignment_id.clone()).collect();
    sent.sort();
    assert_eq!(cancelled, sent);

    // Taken back, the two are waiting in the queue again (after their short backoff).
    eventually("the lost tasks to be queued again", || {
        let mut client = client.clone();
        async move { (queued(&mut client).await == 5).then_some(()) }
    })
    .await;
    for a in &assigned {
        let task = get(&mut client, &a.task_id).await;
        assert_eq!(state(&task), pb::TaskState::Queued, "{task:#?}");
        assert_eq!(task.attempt, 2);
    }
    assert_eq!(cluster(&mut client).await.running, 0);

    // A good worker comes later and runs everything, the two lost ones as attempt 2.
    let executor = FakeExecutor::new(Behaviour::Work, 2);
    let _good = scheduler.worker("good", pb::WorkerKind::Browser, 2, executor.clone());
    for id in &ids {
        let (task, events) = finish(&mut client, id).await;
        assert_eq!(state(&task), pb::TaskState::Succeeded, "{task:#?}");
        assert_eq!(task.worker_id, "good");
        let lost = assigned.iter().any(|a| &a.task_id == id);
        assert_eq!(task.attempt, if lost { 2 } else { 1 }, "{events:#?}");
        let requeued = events
            .iter()
            .filter(|e| matches!(e.detail, Some(pb::task_event::Detail::Requeued(_))))
            .count();
        assert_eq!(requeued, usize::from(lost));
        assert_eq!(executor.of_task(id).len(), 1);
    }

    // A result the silent worker sends now, for a withdrawn assignment, changes nothing.
    silent
        .send(pb::attach_request::Message::Result(pb::AssignmentResult {
            assignment_id: assigned[0].assignment_id.clone(),
            outcome: Some(pb::assignment_result::Outcome::Error(
                drover_api::DroverError::new(ErrorReason::InvalidArgument, "late").to_pb(),
            )),
            session_keys: Vec::new(),
        }))
        .await;
    // Let the stale result reach the core (a status call is answered after it).
    tokio::time::sleep(Duration::from_millis(100)).await;
    cluster(&mut client).await;
    let task = get(&mut client, &assigned[0].task_id).await;
    assert_eq!(state(&task), pb::TaskState::Succeeded);
    assert!(task.error.is_none());
    let status = cluster(&mut client).await;
    let silent_status = status
        .workers
        .iter()
        .find(|w| w.worker_id == "silent")
        .expect("the silent worker is still attached");
    assert_eq!(silent_status.in_flight, 0);
    assert_eq!(silent_status.credit, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_failing_everything_is_quarantined_while_tasks_retry_elsewhere() {
    let scheduler = Scheduler::start(&format!(
        "{FAST}quarantine_below = 0.5\nquarantine_ms = 600000\n"
    ));
    let mut client = scheduler.client().await;
    let failing = FakeExecutor::new(Behaviour::Fail(ErrorReason::Transient), 2);
    let healthy = FakeExecutor::new(Behaviour::Work, 2);
    let _failing = scheduler.worker("failing", pb::WorkerKind::Browser, 2, failing.clone());
    let _healthy = scheduler.worker("healthy", pb::WorkerKind::Browser, 2, healthy.clone());
    wait_for_worker(&mut client, "failing").await;
    wait_for_worker(&mut client, "healthy").await;

    let mut ids = Vec::new();
    for i in 0..16 {
        let spec = pb::TaskSpec {
            retry_policy: Some(pb::RetryPolicy {
                max_attempts: 10,
                initial_backoff: Some(millis(20)),
                max_backoff: Some(millis(100)),
            }),
            ..browse("alpha", &format!("https://example.test/slow/{i}"))
        };
        ids.push(submit(&mut client, spec).await);
    }
    for id in &ids {
        let (task, events) = finish(&mut client, id).await;
        assert_eq!(state(&task), pb::TaskState::Succeeded, "{task:#?}");
        assert_eq!(task.worker_id, "healthy");
        // Every failed attempt was requeued as TRANSIENT, one attempt at a time.
        let requeues: Vec<u32> = events
            .iter()
            .filter_map(|e| match &e.detail {
                Some(pb::task_event::Detail::Requeued(r)) => {
                    assert_eq!(
                        r.cause.as_ref().map(|c| c.reason),
                        Some(pb::ErrorReason::Transient as i32)
                    );
                    Some(r.next_attempt)
                }
                _ => None,
            })
            .collect();
        assert_eq!(requeues, (2..task.attempt + 1).collect::<Vec<_>>());
        assert_eq!(healthy.of_task(id).len(), 1, "ran to success once");
    }

    let status = cluster(&mut client).await;
    let failing_status = status
        .workers
        .iter()
        .find(|w| w.worker_id == "failing")
        .expect("failing worker listed");
    let healthy_status = status
        .workers
        .iter()
        .find(|w| w.worker_id == "healthy")
        .expect("healthy worker listed");
    assert!(failing_status.quarantined, "{failing_status:?}");
    // Back on probation at the threshold: one more failure would quarantine it again.
    assert!(failing_status.health <= 0.5, "{failing_status:?}");
    assert!(!healthy_status.quarantined, "{healthy_status:?}");
    assert!(healthy_status.health > 0.9, "{healthy_status:?}");
    assert!(
        healthy.count() > failing.count(),
        "healthy ran {}, failing ran {}",
        healthy.count(),
        failing.count()
    );

    // Quarantined means no new work, even with the healthy worker busy.
    let before = failing.count();
    let more: Vec<String> = futures::future::join_all((0..4).map(|i| {
        let mut client = client.clone();
        async move {
            submit(
                &mut client,
                browse("alpha", &format!("https://example.test/slow/more{i}")),
            )
            .await
        }
    }))
    .await;
    for id in &more {
        let (task, _) = finish(&mut client, id).await;
        assert_eq!(state(&task), pb::TaskState::Succeeded);
        assert_eq!(task.attempt, 1);
    }
    assert_eq!(failing.count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_workers_assignments_are_requeued_and_finish_elsewhere() {
    let scheduler = Scheduler::start(FAST);
    let mut client = scheduler.client().await;
    let doomed = FakeExecutor::new(Behaviour::Hang, 3);
    let doomed_worker = scheduler.worker("doomed", pb::WorkerKind::Browser, 3, doomed.clone());
    wait_for_worker(&mut client, "doomed").await;

    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            submit(
                &mut client,
                browse("alpha", &format!("https://example.test/{i}")),
            )
            .await,
        );
    }
    eventually("the doomed worker to hold all three", || {
        let running = doomed.running();
        async move { (running == 3).then_some(()) }
    })
    .await;
    let rescuer = FakeExecutor::new(Behaviour::Work, 3);
    let _rescuer = scheduler.worker("rescuer", pb::WorkerKind::Browser, 3, rescuer.clone());
    wait_for_worker(&mut client, "rescuer").await;
    assert_eq!(rescuer.count(), 0, "nothing was left to give the rescuer");

    // The doomed worker goes away without sending a result.
    doomed_worker.shutdown().await;
    for id in &ids {
        let (task, events) = finish(&mut client, id).await;
        assert_eq!(state(&task), pb::TaskState::Succeeded, "{task:#?}");
        assert_eq!(task.worker_id, "rescuer");
        assert_eq!(task.attempt, 2);
        let requeued: Vec<&pb::TaskRequeued> = events
            .iter()
            .filter_map(|e| match &e.detail {
                Some(pb::task_event::Detail::Requeued(r)) => {
                    // Back in the queue, no longer running on the lost worker.
                    assert_eq!(e.state, pb::TaskState::Queued as i32, "{e:#?}");
                    Some(r)
                }
                _ => None,
            })
            .collect();
        assert_eq!(requeued.len(), 1, "{events:#?}");
        assert_eq!(requeued[0].next_attempt, 2);
        assert_eq!(
            requeued[0].cause.as_ref().map(|c| c.reason),
            Some(pb::ErrorReason::WorkerLost as i32)
        );
        let rescued = rescuer.of_task(id);
        assert_eq!(rescued.len(), 1);
        assert_eq!(rescued[0].assignment.attempt, 2);
    }
    assert!(doomed.seen().iter().all(|s| s.cancelled && s.returned));
    let status = cluster(&mut client).await;
    assert_eq!(status.workers.len(), 1, "the doomed worker is gone");
    assert_eq!(status.running, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_with_an_affinity_key_goes_to_the_worker_holding_its_session() {
    let scheduler = Scheduler::start(FAST);
    let mut client = scheduler.client().await;
    let holder = FakeExecutor::new(Behaviour::Work, 4);
    let _holder = scheduler.worker("holder", pb::WorkerKind::Browser, 4, holder.clone());
    wait_for_worker(&mut client, "holder").await;

    let with_key = |url: &str| pb::TaskSpec {
        affinity_key: "session-K".into(),
        ..browse("alpha", url)
    };
    // The first task opens the session on the only worker, which then reports holding it.
    let first = submit(&mut client, with_key("https://example.test/login")).await;
    let (task, _) = finish(&mut client, &first).await;
    assert_eq!(state(&task), pb::TaskState::Succeeded);
    assert_eq!(task.worker_id, "holder");
    assert_eq!(
        holder.of_task(&first)[0].assignment.affinity_key,
        "session-K"
    );

    // Load the holder with unrelated work, then bring an idle worker.
    let busy = submit(&mut client, browse("alpha", "https://example.test/hang")).await;
    eventually("the holder to be busy", || {
        let started = holder.of_task(&busy).len() == 1;
        async move { started.then_some(()) }
    })
    .await;
    let idle = FakeExecutor::new(Behaviour::Work, 4);
    let _idle = scheduler.worker("idle", pb::WorkerKind::Browser, 4, idle.clone());
    wait_for_worker(&mut client, "idle").await;

    // Work without a key goes to the less loaded worker...
    let plain = submit(&mut client, browse("alpha", "https://example.test/plain")).await;
    let (task, _) = finish(&mut client, &plain).await;
    assert_eq!(task.worker_id, "idle");
    // ...but the session's next task goes to the worker holding it.
    let second = submit(&mut client, with_key("https://example.test/account")).await;
    let (task, _) = finish(&mut client, &second).await;
    assert_eq!(state(&task), pb::TaskState::Succeeded);
    assert_eq!(task.worker_id, "holder", "affinity beats load");
    assert!(idle.of_task(&second).is_empty());

    client
        .cancel_task(pb::CancelTaskRequest {
            task_id: busy.clone(),
            reason: String::new(),
        })
        .await
        .expect("cancel");
    finish(&mut client, &busy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_task_falls_back_to_any_worker_after_the_affinity_wait() {
    let scheduler = Scheduler::start(
        "heartbeat_interval_ms = 100\nlease_ms = 1500\nreconnect_grace_ms = 300\n\
         affinity_wait_ms = 300\n",
    );
    let mut client = scheduler.client().await;
    let holder = FakeExecutor::new(Behaviour::Work, 1);
    let _holder = scheduler.worker("holder", pb::WorkerKind::Browser, 1, holder.clone());
    wait_for_worker(&mut client, "holder").await;
    let with_key = |url: &str| pb::TaskSpec {
        affinity_key: "session-K".into(),
        ..browse("alpha", url)
    };
    let first = submit(&mut client, with_key("https://example.test/login")).await;
    finish(&mut client, &first).await;

    // The holder's only slot is taken; the keyed task waits for it, then runs elsewhere.
    let busy = submit(&mut client, browse("alpha", "https://example.test/hang")).await;
    eventually("the holder to be busy", || {
        let started = holder.of_task(&busy).len() == 1;
        async move { started.then_some(()) }
    })
    .await;
    let other = FakeExecutor::new(Behaviour::Work, 1);
    let _other = scheduler.worker("other", pb::WorkerKind::Browser, 1, other.clone());
    wait_for_worker(&mut client, "other").await;
    let keyed = submit(&mut client, with_key("https://example.test/account")).await;
    let (task, _) = finish(&mut client, &keyed).await;
    assert_eq!(state(&task), pb::TaskState::Succeeded);
    assert_eq!(task.worker_id, "other");
    client
        .cancel_task(pb::CancelTaskRequest {
            task_id: busy.clone(),
            reason: String::new(),
        })
        .await
        .expect("cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_missing_step_outputs_does_not_make_the_task_succeed() {
    let scheduler = Scheduler::start(FAST);
    let mut client = scheduler.client().await;
    let mut raw = RawWorker::attach(&scheduler, "sloppy", pb::WorkerKind::Browser, 1).await;
    raw.grant(1).await;
    let id = submit(
        &mut client,
        spec(
            "alpha",
            vec![
                navigate("open", "https://example.test/"),
                extract("x", "h1"),
            ],
        ),
    )
    .await;
    let assignment = match raw.next_within(PATIENCE).await {
        Some(Down::Assign(a)) => a,
        other => panic!("expected an assignment, got {other:?}"),
    };
    assert_eq!(assignment.steps.len(), 2);
    // A "success" with one output for two steps.
    raw.send(pb::attach_request::Message::Result(pb::AssignmentResult {
        assignment_id: assignment.assignment_id.clone(),
        outcome: Some(pb::assignment_result::Outcome::Outputs(
            pb::AssignmentOutputs {
                outputs: vec![pb::StepOutput {
                    step: "open".into(),
                    index: 0,
                    duration: None,
                    value: Some(pb::step_output::Value::None(pb::NoOutput {})),
                }],
            },
        )),
        session_keys: Vec::new(),
    }))
    .await;
    let (task, _) = finish(&mut client, &id).await;
    assert_eq!(state(&task), pb::TaskState::Failed, "{task:#?}");
    let error = task.error.clone().expect("an error");
    assert_eq!(error.reason, pb::ErrorReason::Internal as i32);
    assert!(error.message.contains("sloppy"), "{}", error.message);
    assert!(
        task.outputs.is_empty(),
        "no partial outputs kept: {task:#?}"
    );
    let status = cluster(&mut client).await;
    assert!(status.workers[0].health < 1.0, "counted against the worker");
}
