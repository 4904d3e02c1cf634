//! The scheduler's public API against the real binary, with real workers (the
//! `drover-worker` crate running a fake executor) over real gRPC: a task end to end, a
//! workflow across browser and AI workers, idempotent resubmits, a full queue, queue
//! timeouts, cancellation of running work, invalid tasks and the streaming submit.

mod common;

use common::*;
use drover_api::{ErrorReason, pb};
use futures::StreamExt;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_end_to_end_and_every_read_answers() {
    let scheduler = Scheduler::start(FAST);
    let mut client = scheduler.client().await;

    // The binary serves gRPC health for the public API.
    let mut health = tonic_health::pb::health_client::HealthClient::new(scheduler.channel().await);
    let served = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "drover.v1.SchedulerService".into(),
        })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(
        served.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let executor = FakeExecutor::new(Behaviour::Work, 2);
    let _worker = scheduler.worker("browser-1", pb::WorkerKind::Browser, 2, executor.clone());
    wait_for_worker(&mut client, "browser-1").await;

    let steps = vec![
        navigate("open", "https://example.test/page"),
        extract("headline", "h1"),
    ];
    let id = submit(&mut client, spec("alpha", steps)).await;
    let (task, events) = finish(&mut client, &id).await;

    assert_eq!(state(&task), pb::TaskState::Succeeded, "{task:#?}");
    assert_eq!(task.worker_id, "browser-1");
    assert_eq!(task.attempt, 1);
    assert!(task.error.is_none());
    let names: Vec<(&str, u32)> = task
        .outputs
        .iter()
        .map(|o| (o.step.as_str(), o.index))
        .collect();
    assert_eq!(names, [("open", 0), ("headline", 1)]);
    assert!(matches!(
        &task.outputs[1].value,
        Some(pb::step_output::Value::Extract(e)) if e.values == ["text of h1"]
    ));
    assert!(task.created_at.is_some() && task.started_at.is_some() && task.finished_at.is_some());

    // Events: increasing sequence from 1; QUEUED, ASSIGNED, any STEP_COMPLETED, FINISHED.
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=events.len() as u64).collect::<Vec<_>>());
    assert!(events.iter().all(|e| e.task_id == id));
    use pb::task_event::Detail;
    assert!(
        matches!(events[0].detail, Some(Detail::Queued(_))),
        "{events:#?}"
    );
    assert_eq!(events[0].state, pb::TaskState::Queued as i32);
    match &events[1].detail {
        Some(Detail::Assigned(a)) => {
            assert_eq!(a.worker_id, "browser-1");
            assert_eq!(a.attempt, 1);
        }
        other => panic!("second event is not ASSIGNED: {other:?}"),
    }
    let middle = &events[2..events.len() - 1];
    assert!(
        middle
            .iter()
            .all(|e| matches!(e.detail, Some(Detail::StepCompleted(_)))),
        "{events:#?}"
    );
    let completed: Vec<u32> = middle
        .iter()
        .filter_map(|e| match &e.detail {
            Some(Detail::StepCompleted(c)) => c.output.as_ref().map(|o| o.index),
            _ => None,
        })
        .collect();
    assert!(completed.windows(2).all(|w| w[0] < w[1]), "{completed:?}");
    let last = events.last().expect("events");
    assert_eq!(last.state, pb::TaskState::Succeeded as i32);

    // A watch of a finished task replays what is retained and ends; after_sequence skips.
    let replay = watch_to_end(&mut client, &id).await;
    assert_eq!(replay.len(), events.len());
    let mut tail = client
        .watch_task(pb::WatchTaskRequest {
            task_id: id.clone(),
            after_sequence: events.len() as u64 - 1,
        })
        .await
        .expect("watch")
        .into_inner();
    let only = tail.next().await.expect("one event").expect("ok");
    assert!(only.event.as_ref().is_some_and(is_finished));
    assert!(tail.next().await.is_none());

    // GetTask without outputs.
    let bare = client
        .get_task(pb::GetTaskRequest {
            task_id: id.clone(),
            omit_outputs: true,
        })
        .await
        .expect("get")
        .into_inner()
        .task
        .expect("task");
    assert!(bare.outputs.is_empty());
    assert_eq!(bare.id, id);
    let unknown = client
        .get_task(pb::GetTaskRequest {
            task_id: "t-nope".into(),
            omit_outputs: false,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // ListTasks: tenant filter, newest first, paging.
    let mut alpha = vec![id.clone()];
    for i in 0..2 {
        let id = submit(
            &mut client,
            browse("alpha", &format!("https://example.test/{i}")),
        )
        .await;
        finish(&mut client, &id).await;
        alpha.push(id);
    }
    let beta = submit(&mut client, browse("beta", "https://example.test/b")).await;
    finish(&mut client, &beta).await;
    let first = client
        .list_tasks(pb::ListTasksRequest {
            tenant: "alpha".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(first.tasks.len(), 2);
    assert!(!first.next_page_token.is_empty());
    assert!(first.tasks.iter().all(|t| t.outputs.is_empty()));
    let second = client
        .list_tasks(pb::ListTasksRequest {
            tenant: "alpha".into(),
            page_size: 2,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(second.tasks.len(), 1);
    assert!(second.next_page_token.is_empty());
    let listed: Vec<String> = first
        .tasks
        .iter()
        .chain(&second.tasks)
        .map(|t| t.id.clone())
        .collect();
    let newest_first: Vec<String> = alpha.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);
    let all = client
        .list_tasks(pb::ListTasksRequest {
            states: vec![pb::TaskState::Succeeded as i32],
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.tasks.len(), 4);
    assert_eq!(all.tasks[0].id, beta);
    let none = client
        .list_tasks(pb::ListTasksRequest {
            tenant: "alpha".into(),
            states: vec![pb::TaskState::Failed as i32],
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(none.tasks.is_empty() && none.next_page_token.is_empty());

    // RunTask: submit and wait, with the outputs.
    let ran = client
        .run_task(pb::RunTaskRequest {
            task: Some(spec(
                "gamma",
                vec![
                    navigate("open", "https://example.test/run"),
                    extract("x", "p"),
                ],
            )),
        })
        .await
        .expect("run")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(state(&ran), pb::TaskState::Succeeded);
    assert_eq!(ran.outputs.len(), 2);

    // GetClusterStatus: the worker, its slots, the queue per priority.
    let status = cluster(&mut client).await;
    assert_eq!(status.workers.len(), 1);
    let worker = &status.workers[0];
    assert_eq!(worker.worker_id, "browser-1");
    assert_eq!(worker.kind, pb::WorkerKind::Browser as i32);
    assert_eq!(worker.slots, 2);
    assert_eq!(worker.in_flight, 0);
    assert!(!worker.quarantined && !worker.draining);
    assert!(worker.connected_for.is_some());
    assert_eq!(status.queue.len(), 4, "one depth per priority");
    assert!(status.queue.iter().all(|q| q.queued == 0));
    assert_eq!(status.running, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_crosses_worker_kinds_and_carries_referenced_outputs() {
    let scheduler = Scheduler::start(FAST);
    let mut client = scheduler.client().await;
    let browser = FakeExecutor::new(Behaviour::Work, 2);
    let ai = FakeExecutor::new(Behaviour::Work, 2);
    let _browser = scheduler.worker("browser-1", pb::WorkerKind::Browser, 2, browser.clone());
    let _ai = scheduler.worker("ai-1", pb::WorkerKind::Ai, 2, ai.clone());
    wait_for_worker(&mut client, "browser-1").await;
    wait_for_worker(&mut client, "ai-1").await;

    let steps = vec![
        navigate("open", "https://example.test/news"),
        extract("headline", "h1"),
        chat("summary", "Summarise: ${steps.headline.text}"),
        navigate("after", "https://example.test/next"),
    ];
    let id = submit(&mut client, spec("alpha", steps)).await;
    let (task, events) = finish(&mut client, &id).await;
    assert_eq!(state(&task), pb::TaskState::Succeeded, "{task:#?}");

    // Every step's output, in step order.
    let names: Vec<(&str, u32)> = task
        .outputs
        .iter()
        .map(|o| (o.step.as_str(), o.index))
        .collect();
    assert_eq!(
        names,
        [("open", 0), ("headline", 1), ("summary", 2), ("after", 3)]
    );
    assert!(matches!(
        &task.outputs[2].value,
        Some(pb::step_output::Value::Chat(c)) if c.content == "summary of [text of h1]"
    ));

    // The browser runs before and after the chat are separate assignments.
    let runs: Vec<Vec<u32>> = browser
        .of_task(&id)
        .iter()
        .map(|s| s.assignment.steps.iter().map(|i| i.index).collect())
        .collect();
    assert_eq!(runs, [vec![0, 1], vec![3]]);

    // The AI assignment carries the chat step only, and the output it references.
    let chats = ai.of_task(&id);
    assert_eq!(chats.len(), 1);
    let assignment = &chats[0].assignment;
    let indexes: Vec<u32> = assignment.steps.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [2]);
    assert_eq!(assignment.inputs.len(), 1, "{:#?}", assignment.inputs);
    let input = &assignment.inputs[0];
    assert_eq!((input.step.as_str(), input.index), ("headline", 1));
    assert!(matches!(
        &input.value,
        Some(pb::step_output::Value::Extract(e)) if e.values == ["text of h1"]
    ));

    // One ASSIGNED event per assignment, on the right workers.
    let assigned: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.detail {
            Some(pb::task_event::Detail::Assigned(a)) => Some(a.worker_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(assigned, ["browser-1", "ai-1", "browser-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resubmit_with_the_same_idempotency_key_returns_the_same_task() {
    let scheduler = Scheduler::start(FAST);
    let mut client = scheduler.client().await;
    let keyed = |tenant: &str| pb::TaskSpec {
        idempotency_key: "order-42".into(),
        ..browse(tenant, "https://example.test/")
    };
    let submitter = client.clone();
    let submit_full = |spec: pb::TaskSpec| {
        let mut client = submitter.clone();
        async move {
            client
                .submit_task(pb::SubmitTaskRequest { task: Some(spec) })
                .await
                .expect("submit")
                .into_inner()
        }
    };
    let first = submit_full(keyed("alpha")).await;
    assert!(first.created);
    assert_eq!(first.state, pb::TaskState::Queued as i32);
    let again = submit_full(keyed("alpha")).await;
    assert_eq!(again.task_id, first.task_id);
    assert!(!again.created);
    // The key is per tenant.
    let other = submit_full(keyed("beta")).await;
    assert!(other.created);
    assert_ne!(other.task_id, first.task_id);
    assert_eq!(queued(&mut client).await, 2, "the repeat queued nothing");

    // Still the same task once it has finished.
    let executor = FakeExecutor::new(Behaviour::Work, 1);
    let _worker = scheduler.worker("browser-1", pb::WorkerKind::Browser, 1, executor.clone());
    let (task, _) = finish(&mut client, &first.task_id).await;
    assert_eq!(state(&task), pb::TaskState::Succeeded);
    let late = submit_full(keyed("alpha")).await;
    assert_eq!(late.task_id, first.task_id);
    assert!(!late.created);
    assert_eq!(late.state, pb::TaskState::Succeeded as i32);
    finish(&mut client, &other.task_id).await;
    assert_eq!(executor.of_task(&first.task_id).len(), 1, "ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_with_retry_info_and_keeps_what_it_holds() {
    let scheduler = Scheduler::start(&format!("{FAST}max_queued = 3\n"));
    let mut client = scheduler.client().await;
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(
            submit(
                &mut client,
                browse("alpha", &format!("https://example.test/{i}")),
            )
            .await,
        );
    }
    let refused = client
        .submit_task(pb::SubmitTaskRequest {
            task: Some(browse("alpha", "https://example.test/one-too-many")),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let error = drover_error(&refused);
    assert_eq!(error.reason, ErrorReason::QueueFull);
    assert!(error.retry_after.is_some_and(|d| !d.is_zero()), "{error:?}");

    // The batch path refuses the same way, in band.
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    sender
        .send(pb::SubmitTasksRequest {
            task: Some(browse("alpha", "https://example.test/batch")),
            client_ref: "b".into(),
        })
        .await
        .expect("queue");
    drop(sender);
    let mut answers = client
        .submit_tasks(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .expect("submit_tasks")
        .into_inner();
    match answers.next().await.expect("answer").expect("ok").result {
        Some(pb::submit_tasks_response::Result::Error(e)) => {
            assert_eq!(e.reason, pb::ErrorReason::QueueFull as i32);
            assert!(e.retry_after.is_some());
        }
        other => panic!("expected a queue-full error, got {other:?}"),
    }

    // What was accepted is unaffected, and runs once a worker comes.
    assert_eq!(queued(&mut client).await, 3);
    for id in &held {
        assert_eq!(state(&get(&mut client, id).await), pb::TaskState::Queued);
    }
    let executor = FakeExecutor::new(Behaviour::Work, 2);
    let _worker = scheduler.worker("browser-1", pb::WorkerKind::Browser, 2, executor);
    for id in &held {
        let (task, _) = finish(&mut client, id).await;
        assert_eq!(state(&task), pb::TaskState::Succeeded);
    }
    // And room is back.
    submit(&mut client, browse("alpha", "https://example.test/room")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_no_worker_takes_within_its_queue_timeout_expires() {
    let scheduler = Scheduler::start(FAST);
    let mut client = scheduler.client().await;
    // An AI worker is there, but the task needs a browser.
    let _ai = scheduler.worker(
        "ai-1",
        pb::WorkerKind::Ai,
        1,
        FakeExecutor::new(Behaviour::Work, 1),
    );
    let spec = pb::TaskSpec {
        queue_timeout: Some(millis(300)),
        ..browse("alpha", "https://example.test/")
    };
    let id = submit(&mut client, spec).await;
    let (task, events) = finish(&mut client, &id).await;
    assert_eq!(state(&task), pb::TaskState::Expired, "{task:#?}");
    assert!(task.started_at.is_none());
    let error = task.error.expect("an error");
    assert_eq!(error.reason, pb::ErrorReason::DeadlineExceeded as i32);
    assert!(error.message.contains("queue timeout"), "{}", error.message);
    assert_eq!(events.len(), 2, "QUEUED then FINISHED: {events:#?}");
    assert_eq!(events[1].state, pb::TaskState::Expired as i32);
    assert_eq!(queued(&mut client).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_task_stops_its_worker_and_frees_the_slot() {
    let scheduler = Scheduler::start(FAST);
    let mut client = scheduler.client().await;
    let executor = FakeExecutor::new(Behaviour::Work, 1);
    let _worker = scheduler.worker("browser-1", pb::WorkerKind::Browser, 1, executor.clone());
    wait_for_worker(&mut client, "browser-1").await;

    let id = submit(&mut client, browse("alpha", "https://example.test/hang")).await;
    eventually("the executor to start the task", || {
        let running = executor.of_task(&id).len() == 1;
        async move { running.then_some(()) }
    })
    .await;
    assert_eq!(state(&get(&mut client, &id).await), pb::TaskState::Running);

    let answer = client
        .cancel_task(pb::CancelTaskRequest {
            task_id: id.clone(),
            reason: "changed my mind".into(),
        })
        .await
        .expect("cancel")
        .into_inner();
    assert_eq!(answer.state, pb::TaskState::Cancelled as i32);
    // Cancelled at once, not when the worker gets round to it.
    let task = get(&mut client, &id).await;
    assert_eq!(state(&task), pb::TaskState::Cancelled);
    let error = task.error.expect("an error");
    assert_eq!(error.reason, pb::ErrorReason::Cancelled as i32);
    assert!(
        error.message.contains("changed my mind"),
        "{}",
        error.message
    );

    eventually("the executor's token to fire", || {
        let seen = executor.of_task(&id);
        async move { (seen[0].cancelled && seen[0].returned).then_some(()) }
    })
    .await;
    let (_, events) = finish(&mut client, &id).await;
    assert_eq!(
        events.last().map(|e| e.state),
        Some(pb::TaskState::Cancelled as i32)
    );

    // Cancelling again changes nothing.
    let again = client
        .cancel_task(pb::CancelTaskRequest {
            task_id: id.clone(),
            reason: String::new(),
        })
        .await
        .expect("cancel")
        .into_inner();
    assert_eq!(again.state, pb::TaskState::Cancelled as i32);

    // The one slot is free again: the next task runs on the same worker.
    let next = submit(&mut client, browse("alpha", "https://example.test/next")).await;
    let (task, _) = finish(&mut client, &next).await;
    assert_eq!(state(&task), pb::TaskState::Succeeded, "{task:#?}");
    assert_eq!(task.worker_id, "browser-1");

    // A queued task cancels too.
    let executor_busy = submit(&mut client, browse("alpha", "https://example.test/hang")).await;
    eventually("the worker to be busy", || {
        let busy = executor.of_task(&executor_busy).len() == 1;
        async move { busy.then_some(()) }
    })
    .await;
    let waiting = submit(&mut client, browse("alpha", "https://example.test/later")).await;
    let answer = client
        .cancel_task(pb::CancelTaskRequest {
            task_id: waiting.clone(),
            reason: String::new(),
        })
        .await
        .expect("cancel")
        .into_inner();
    assert_eq!(answer.state, pb::TaskState::Cancelled as i32);
    assert_eq!(queued(&mut client).await, 0);
    assert!(executor.of_task(&waiting).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tasks_are_refused_naming_the_field_and_queue_nothing() {
    let scheduler = Scheduler::start(FAST);
    let mut client = scheduler.client().await;
    submit(&mut client, browse("alpha", "https://example.test/")).await;
    let before = queued(&mut client).await;
    assert_eq!(before, 1);

    let cases: Vec<(pb::TaskSpec, &str)> = vec![
        (
            browse("alpha", "file:///etc/passwd"),
            "task.steps[0].navigate.url",
        ),
        (spec("alpha", Vec::new()), "task.steps"),
        (
            browse("alpha", "http://169.254.169.254/latest/meta-data/"),
            "task.steps[0].navigate.url",
        ),
        (
            spec(
                "alpha",
                vec![
                    chat("summary", "about ${steps.later.text}"),
                    extract("later", "h1"),
                ],
            ),
            "task.steps[0].chat.messages[0].content",
        ),
        (
            pb::TaskSpec {
                tenant: "not a tenant!".into(),
                ..browse("x", "https://example.test/")
            },
            "task.tenant",
        ),
    ];
    for (spec, field) in cases {
        let refused = client
            .submit_task(pb::SubmitTaskRequest { task: Some(spec) })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        let error = drover_error(&refused);
        assert_eq!(error.reason, ErrorReason::InvalidArgument);
        assert!(
            error.violations.iter().any(|v| v.field == field),
            "no violation names {field}: {:?}",
            error.violations
        );
    }
    let missing = client
        .submit_task(pb::SubmitTaskRequest { task: None })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(
        drover_error(&missing)
            .violations
            .iter()
            .any(|v| v.field == "task")
    );

    assert_eq!(queued(&mut client).await, before);
    let listed = client
        .list_tasks(pb::ListTasksRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.tasks.len(), 1, "nothing invalid was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_submit_answers_each_item_in_order_and_survives_a_bad_one() {
    let scheduler = Scheduler::start(FAST);
    let mut client = scheduler.client().await;
    let items = vec![
        pb::SubmitTasksRequest {
            task: Some(browse("alpha", "https://example.test/1")),
            client_ref: "first".into(),
        },
        pb::SubmitTasksRequest {
            task: Some(browse("alpha", "file:///etc/passwd")),
            client_ref: "bad".into(),
        },
        pb::SubmitTasksRequest {
            task: Some(browse("alpha", "https://example.test/3")),
            client_ref: "third".into(),
        },
    ];
    let answers: Vec<pb::SubmitTasksResponse> = client
        .submit_tasks(futures::stream::iter(items))
        .await
        .expect("submit_tasks")
        .into_inner()
        .map(|item| item.expect("stream item"))
        .collect()
        .await;
    let refs: Vec<&str> = answers.iter().map(|a| a.client_ref.as_str()).collect();
    assert_eq!(refs, ["first", "bad", "third"]);
    use pb::submit_tasks_response::Result as Answer;
    let mut ids = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        match (&answer.result, i) {
            (Some(Answer::Submitted(s)), 0 | 2) => {
                assert!(s.created);
                ids.push(s.task_id.clone());
            }
            (Some(Answer::Error(e)), 1) => {
                assert_eq!(e.reason, pb::ErrorReason::InvalidArgument as i32);
                assert!(
                    e.violations
                        .iter()
                        .any(|v| v.field == "task.steps[0].navigate.url"),
                    "{e:?}"
                );
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(queued(&mut client).await, 2);

    let executor = FakeExecutor::new(Behaviour::Work, 2);
    let _worker = scheduler.worker("browser-1", pb::WorkerKind::Browser, 2, executor);
    for id in &ids {
        let (task, _) = finish(&mut client, id).await;
        assert_eq!(state(&task), pb::TaskState::Succeeded);
    }
}
