//! `drover-client` (clients/rust) against a real `drover up` on 127.0.0.1:0 (one browser with
//! real Chromium, the stand-in AI provider): submit and watch every event in order, get,
//! cancel a running task, an idempotent resubmit, INVALID_ARGUMENT naming its field, and
//! `run` of the crate's example workflow. Failures the real scheduler does not produce on
//! demand (transient errors, broken streams) are tested in clients/rust/tests.
//!
//! The tests share one `drover up`: the first to need it starts it, the last to finish stops
//! it with SIGTERM (and sweeps any Chromium left behind if it does not exit in time).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, Weak, mpsc},
    time::{Duration, Instant},
};

use drover_client::{Client, ErrorReason, TaskBuilder, TaskExt, pb};
use futures::StreamExt;
use tokio::time::timeout;

/// The crate's example, so `run` is tested on exactly the workflow it shows.
#[allow(dead_code)]
#[path = "../../../clients/rust/examples/submit.rs"]
mod example;

/// Longest any one test waits for the system.
const WAIT: Duration = Duration::from_secs(90);

/// A running `drover up`, stopped when the last test holding it is done.
struct DroverUp {
    child: Child,
    url: String,
    profiles: PathBuf,
}

/// The shared instance, while some test holds it.
static SHARED: Mutex<Weak<DroverUp>> = Mutex::new(Weak::new());

/// The shared `drover up`, started if no test holds it.
fn drover_up() -> Arc<DroverUp> {
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(up) = shared.upgrade() {
        return up;
    }
    let up = Arc::new(DroverUp::start());
    *shared = Arc::downgrade(&up);
    up
}

impl DroverUp {
    fn start() -> Self {
        let profiles = std::env::temp_dir().join(unique("drover-rust-client"));
        std::fs::create_dir_all(&profiles).expect("profiles folder");
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["up", "--listen", "127.0.0.1:0", "--metrics-listen", "off"])
            .args(["--browsers", "1", "--pages-per-browser", "4"])
            .env("DROVER_LOG", "warn")
            .env("DROVER_BROWSER_POOL_PROFILES_ROOT", &profiles)
            .env("DROVER_BROWSER_POOL_DRAIN_GRACE_SECS", "5")
            .env_remove("DROVER_SCHEDULER")
            .env_remove("DROVER_CONFIG")
            .env_remove("DROVER_AI_ROUTER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("drover up starts");
        let stdout = child.stdout.take().expect("stdout");
        // From here on, a failure still stops the process (Drop).
        let mut up = Self {
            child,
            url: String::new(),
            profiles,
        };
        let (address, found) = mpsc::channel();
        // Reads every line, so the process never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("drover up: scheduler listening on ") {
                    let _ = address.send(addr.trim().to_owned());
                }
            }
        });
        let addr = found
            .recv_timeout(WAIT)
            .expect("drover up prints its scheduler address");
        up.url = format!("http://{addr}");
        up
    }
}

impl Drop for DroverUp {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(40);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            eprintln!("drover up did not stop within 40 s after SIGTERM; killing it");
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let left = kill_processes_using(&self.profiles);
        if left > 0 {
            eprintln!("killed {left} Chromium process(es) drover up left behind");
        }
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

/// Kills processes whose command line names `folder` (Chromium runs with its profile in
/// it); how many there were.
fn kill_processes_using(folder: &Path) -> usize {
    let left = drover_browser_pool::procfs::processes_mentioning(folder);
    for process in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(process.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    left.len()
}

/// The shared `drover up` and a client of it.
async fn connect() -> (Arc<DroverUp>, Client) {
    let up = tokio::task::spawn_blocking(drover_up)
        .await
        .expect("drover up starts");
    let client = Client::connect(up.url.clone())
        .await
        .expect("the scheduler answers");
    (up, client)
}

/// A key no other test (or run) uses.
fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    )
}

fn list_page() -> &'static str {
    "data:text/html,<title>List</title><ol><li>one</li><li>two</li></ol>"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_then_watch_sees_every_event_in_order_and_get_reads_the_outputs() {
    let (_up, client) = connect().await;
    let submitted = client
        .submit(
            TaskBuilder::new("rust-client")
                .timeout(Duration::from_secs(60))
                .navigate("open", list_page())
                .extract("items", "li", true),
        )
        .await
        .expect("submitted");
    assert!(submitted.created);
    assert!(!submitted.id.is_empty());

    let events: Vec<pb::TaskEvent> = timeout(WAIT, client.watch(&submitted.id).collect::<Vec<_>>())
        .await
        .expect("the task finishes in time")
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("no watch error");
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(sequences, expected, "every event, once, in order");
    assert!(events.iter().all(|e| e.task_id == submitted.id));

    use pb::task_event::Detail;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match &e.detail {
            Some(Detail::Queued(_)) => "queued",
            Some(Detail::Assigned(_)) => "assigned",
            Some(Detail::StepCompleted(_)) => "step",
            Some(Detail::Requeued(_)) => "requeued",
            Some(Detail::Finished(_)) => "finished",
            None => "none",
        })
        .collect();
    assert_eq!(
        kinds,
        ["queued", "assigned", "step", "step", "finished"],
        "{events:?}"
    );
    let steps: Vec<(String, u32)> = events
        .iter()
        .filter_map(|e| match &e.detail {
            Some(Detail::StepCompleted(step)) => {
                step.output.as_ref().map(|o| (o.step.clone(), o.index))
            }
            _ => None,
        })
        .collect();
    assert_eq!(steps, [("open".to_owned(), 0), ("items".to_owned(), 1)]);
    let last = events.last().expect("a terminal event");
    assert_eq!(last.state(), pb::TaskState::Succeeded);
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| !drover_client::is_terminal(e.state())),
        "only the last event is terminal"
    );

    let task = client.get(&submitted.id).await.expect("get");
    assert_eq!(task.id, submitted.id);
    assert_eq!(task.state(), pb::TaskState::Succeeded);
    assert_eq!(
        task.extracted("items"),
        Some(&["one".to_owned(), "two".to_owned()][..])
    );
    assert_eq!(
        task.spec.as_ref().map(|s| s.tenant.as_str()),
        Some("rust-client")
    );
    let summary = client
        .get_without_outputs(&submitted.id)
        .await
        .expect("get without outputs");
    assert_eq!(summary.state(), pb::TaskState::Succeeded);
    assert!(summary.outputs.is_empty());

    // A watch opened after the end replays the retained events, the terminal one last.
    let replay: Vec<u64> = client
        .watch_after(&submitted.id, 2)
        .map(|e| e.expect("replayed").sequence)
        .collect()
        .await;
    assert_eq!(replay, expected[2..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_task_ends_it_cancelled() {
    let (_up, client) = connect().await;
    let submitted = client
        .submit(
            TaskBuilder::new("rust-client")
                .timeout(Duration::from_secs(120))
                .navigate("open", list_page())
                // Never appears: the task runs until it is cancelled (or the step's 30 s
                // limit, far beyond this test's needs).
                .wait_for("never", "#never"),
        )
        .await
        .expect("submitted");
    let mut events = client.watch(&submitted.id);
    // Assigned to the browser worker: running.
    loop {
        let event = timeout(WAIT, events.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .expect("no watch error");
        assert!(!drover_client::is_terminal(event.state()), "{event:?}");
        if matches!(event.detail, Some(pb::task_event::Detail::Assigned(_))) {
            assert_eq!(event.state(), pb::TaskState::Running);
            break;
        }
    }

    let state = client
        .cancel(&submitted.id, "the test is done waiting")
        .await
        .expect("cancel");
    assert_eq!(state, pb::TaskState::Cancelled);

    let last = timeout(WAIT, events.next())
        .await
        .expect("the terminal event in time")
        .expect("a terminal event")
        .expect("no watch error");
    assert_eq!(last.state(), pb::TaskState::Cancelled);
    let error = match &last.detail {
        Some(pb::task_event::Detail::Finished(finished)) => finished.error.clone(),
        other => panic!("a finished event expected, got {other:?}"),
    };
    let error = drover_client::DroverError::from_pb(&error.expect("a cancelled task says why"));
    assert_eq!(error.reason, ErrorReason::Cancelled);
    assert!(
        error.message.contains("the test is done waiting"),
        "{error}"
    );
    assert!(
        events.next().await.is_none(),
        "the stream ends at the terminal event"
    );

    let task = client.get(&submitted.id).await.expect("get");
    assert_eq!(task.state(), pb::TaskState::Cancelled);
    assert_eq!(
        task.failure().map(|e| e.reason),
        Some(ErrorReason::Cancelled)
    );
    // Cancelling a finished task changes nothing.
    assert_eq!(
        client.cancel(&submitted.id, "again").await.expect("cancel"),
        pb::TaskState::Cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resubmit_with_the_same_idempotency_key_returns_the_same_task() {
    let (_up, client) = connect().await;
    let key = unique("resubmit");
    let task = TaskBuilder::new("rust-client")
        .idempotency_key(&key)
        .priority(pb::Priority::High)
        .navigate("open", list_page());

    let first = client.submit(task.clone()).await.expect("first submit");
    assert!(first.created);
    let again = client.submit(task.clone()).await.expect("second submit");
    assert_eq!(again.id, first.id);
    assert!(!again.created, "the earlier task is returned");

    // `run` with the same key waits for that same task.
    let finished = timeout(WAIT, client.run(task.clone()))
        .await
        .expect("the task finishes in time")
        .expect("run");
    assert_eq!(finished.id, first.id);
    assert_eq!(finished.state(), pb::TaskState::Succeeded);

    let other = client
        .submit(task.idempotency_key(unique("other")))
        .await
        .expect("a different key");
    assert_ne!(other.id, first.id);
    assert!(other.created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_arguments_come_back_with_the_offending_field() {
    let (_up, client) = connect().await;
    let error = client
        .submit(
            TaskBuilder::new("rust-client")
                .navigate("open", "about:blank")
                .navigate("secrets", "file:///etc/passwd"),
        )
        .await
        .expect_err("a file: URL is refused");
    assert_eq!(error.code(), tonic::Code::InvalidArgument, "{error}");
    assert_eq!(error.reason(), Some(ErrorReason::InvalidArgument));
    let violation = error
        .violation("task.steps[1].navigate.url")
        .unwrap_or_else(|| panic!("the field is named: {:?}", error.violations()));
    assert!(violation.description.contains("file"), "{violation:?}");
    assert!(!error.is_retryable());

    let error = client
        .cancel("no-such-task", "x".repeat(1025))
        .await
        .expect_err("the reason is too long");
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(
        error.violation("reason").is_some(),
        "{:?}",
        error.violations()
    );

    let error = client.get("no-such-task").await.expect_err("unknown task");
    assert_eq!(error.code(), tonic::Code::NotFound);
    assert_eq!(error.reason(), Some(ErrorReason::NotFound));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_returns_the_example_workflow_with_its_outputs() {
    let (_up, client) = connect().await;
    let task = timeout(WAIT, client.run(example::workflow()))
        .await
        .expect("the workflow finishes in time")
        .expect("run");
    assert_eq!(
        task.state(),
        pb::TaskState::Succeeded,
        "{:?}",
        task.failure()
    );
    assert_eq!(
        task.extracted("fruit"),
        Some(&["apple".to_owned(), "banana".to_owned(), "cherry".to_owned()][..])
    );
    let summary = task.chat_content("summary").expect("a chat answer");
    // The stand-in echoes the start of the prompt: the extracted values reached the model.
    assert!(summary.starts_with("stand-in answer:"), "{summary}");
    assert!(
        summary.contains(r#"["apple","banana","cherry"]"#),
        "{summary}"
    );

    let status = client.cluster_status().await.expect("cluster status");
    let kinds: Vec<pb::WorkerKind> = status.workers.iter().map(|w| w.kind()).collect();
    assert!(
        kinds.contains(&pb::WorkerKind::Browser) && kinds.contains(&pb::WorkerKind::Ai),
        "{status:?}"
    );
}

/// A browser step is reported when it finishes, not when the browser's whole assignment
/// does: the first step's event arrives while the second still waits on a promise that never
/// settles (the task is then cancelled; a cancelled browser assignment returns no outputs, so
/// only progress can have reported the first step).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_steps_are_reported_as_they_finish() {
    let (_up, client) = connect().await;
    let submitted = client
        .submit(
            TaskBuilder::new("rust-client")
                .timeout(Duration::from_secs(60))
                .navigate("open", list_page())
                .step(pb::Step {
                    name: "hang".into(),
                    timeout: None,
                    kind: Some(pb::step::Kind::Evaluate(pb::EvaluateStep {
                        expression: "new Promise(settle => { window.keepUnsettled = settle; })"
                            .into(),
                        await_promise: true,
                    })),
                }),
        )
        .await
        .expect("submitted");
    let mut events = client.watch(&submitted.id);
    let first_step = timeout(WAIT, async {
        while let Some(event) = events.next().await {
            let event = event.expect("no watch error");
            if let Some(pb::task_event::Detail::StepCompleted(step)) = &event.detail {
                return Some((step.output.clone(), event.state()));
            }
            assert!(
                !drover_client::is_terminal(event.state()),
                "the task ended before its first step was reported: {event:?}"
            );
        }
        None
    })
    .await
    .expect("the first step is reported while the second runs")
    .expect("a step event");
    let (output, state) = first_step;
    assert_eq!(output.map(|o| o.step), Some("open".to_owned()));
    assert_eq!(state, pb::TaskState::Running);
    client
        .cancel(&submitted.id, "seen the first step")
        .await
        .expect("cancel");
    let task = client.wait(&submitted.id).await.expect("wait");
    assert_eq!(task.state(), pb::TaskState::Cancelled);
}
