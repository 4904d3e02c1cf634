//! The whole system as separate processes on 127.0.0.1: a scheduler, three browser pools and
//! an ai-router (against its stand-in provider), all started from the `drover` binary's
//! multi-call subcommands, and a client submitting mixed workflows. One browser pool is
//! SIGKILLed mid-run: its assignments are requeued and every task still reaches exactly one
//! terminal state with the right outputs. And session affinity across two pools: a task
//! keyed like an earlier sign-in runs on the same pool and is signed in.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use drover_api::pb::{self, scheduler_service_client::SchedulerServiceClient};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tonic::transport::Channel;

/// A process started from the `drover` binary, killed (and its Chromium swept) on drop.
struct Proc {
    child: Child,
    addr: String,
    profiles: Option<PathBuf>,
}

impl Proc {
    fn start(args: &[&str], profiles: Option<PathBuf>) -> Proc {
        let mut command = Command::new(env!("CARGO_BIN_EXE_drover"));
        command
            .args(args)
            .env("DROVER_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = &profiles {
            command.arg("--profiles-root").arg(dir);
        }
        let mut child = command.spawn().expect("start drover");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the process printed its address")
                .expect("stdout line");
            if let Some((_, addr)) = line.split_once(" listening on ") {
                break addr.trim().to_owned();
            }
        };
        // Keep reading stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Proc {
            child,
            addr,
            profiles,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.profiles {
            sweep_chromium(dir);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills Chromium processes whose command line names `dir` (what a SIGKILLed pool left to
/// its supervisor); returns how many there were.
fn sweep_chromium(dir: &std::path::Path) -> usize {
    let mut found = 0;
    for _ in 0..50 {
        let left = drover_browser_pool::procfs::processes_mentioning(dir);
        found = left.len();
        if found == 0 {
            break;
        }
        for process in left {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(process.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    found
}

/// A one-page site: `/item/N` shows a table whose cells name N.
async fn site() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind site");
    let addr = listener.local_addr().expect("site addr");
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let Ok(n) = stream.read(&mut buffer).await else {
                    return;
                };
                let head = String::from_utf8_lossy(&buffer[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let n = path.rsplit('/').next().unwrap_or("0");
                let body = format!(
                    "<!doctype html><title>item {n}</title><table id=t><tr><td>item-{n}</td></tr>\
                     <tr><td>price-{n}</td></tr></table>"
                );
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\
                     cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), server)
}

fn navigate(name: &str, url: String) -> pb::Step {
    pb::Step {
        name: name.into(),
        timeout: None,
        kind: Some(pb::step::Kind::Navigate(pb::NavigateStep {
            url,
            ..Default::default()
        })),
    }
}

fn extract(name: &str) -> pb::Step {
    pb::Step {
        name: name.into(),
        timeout: None,
        kind: Some(pb::step::Kind::Extract(pb::ExtractStep {
            selector: "#t td".into(),
            all: true,
            ..Default::default()
        })),
    }
}

fn chat(name: &str, content: &str) -> pb::Step {
    pb::Step {
        name: name.into(),
        timeout: None,
        kind: Some(pb::step::Kind::Chat(pb::ChatSpec {
            model_group: "default".into(),
            messages: vec![pb::ChatMessage {
                role: pb::ChatRole::User as i32,
                content: content.into(),
            }],
            cache: pb::CacheMode::Bypass as i32,
            ..Default::default()
        })),
    }
}

/// Task `i` of the mix: browser only, browser then AI, or AI only.
fn task(i: usize, site: &str) -> pb::TaskSpec {
    let steps = match i % 3 {
        0 => vec![
            navigate("open", format!("{site}/item/{i}")),
            extract("cells"),
        ],
        1 => vec![
            navigate("open", format!("{site}/item/{i}")),
            extract("cells"),
            chat("summary", "Summarise: ${steps.cells.values}"),
        ],
        _ => vec![chat("answer", &format!("What is {i}?"))],
    };
    pb::TaskSpec {
        tenant: format!("tenant{}", i % 4),
        steps,
        retry_policy: Some(pb::RetryPolicy {
            max_attempts: 4,
            initial_backoff: Some(prost_types::Duration {
                seconds: 0,
                nanos: 100_000_000,
            }),
            max_backoff: None,
        }),
        timeout: Some(prost_types::Duration {
            seconds: 120,
            nanos: 0,
        }),
        ..Default::default()
    }
}

/// Checks a finished task's outputs against what task `i` must produce.
fn check(i: usize, task: &pb::Task) {
    assert_eq!(
        task.state,
        pb::TaskState::Succeeded as i32,
        "task {i} ({}) ended {:?}: {:?}",
        task.id,
        pb::TaskState::try_from(task.state),
        task.error
    );
    let value = |step: &str| {
        task.outputs
            .iter()
            .find(|o| o.step == step)
            .and_then(|o| o.value.clone())
            .unwrap_or_else(|| panic!("task {i}: no output for {step}"))
    };
    if i % 3 != 2 {
        match value("cells") {
            pb::step_output::Value::Extract(e) => {
                assert_eq!(
                    e.values,
                    [format!("item-{i}"), format!("price-{i}")],
                    "task {i}"
                )
            }
            other => panic!("task {i}: extract gave {other:?}"),
        }
    }
    let answer = match i % 3 {
        1 => Some("summary"),
        2 => Some("answer"),
        _ => None,
    };
    if let Some(step) = answer {
        match value(step) {
            pb::step_output::Value::Chat(c) => assert!(!c.content.is_empty(), "task {i}"),
            other => panic!("task {i}: chat gave {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_mixed_workflows_survive_a_killed_browser_pool() {
    let (site, _site_server) = site().await;
    let config = std::env::temp_dir().join(format!("drover-e2e-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "heartbeat_interval_ms = 300\nlease_ms = 2000\nreconnect_grace_ms = 500\n",
    )
    .expect("scheduler config");
    let scheduler = Proc::start(
        &[
            "scheduler",
            "--config",
            config.to_str().expect("utf-8 path"),
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
        ],
        None,
    );
    let hub = format!("http://{}", scheduler.addr);
    let mut pools: Vec<Proc> = (0..3)
        .map(|n| {
            let profiles =
                std::env::temp_dir().join(format!("dre{}-{n}", std::process::id() % 100_000));
            Proc::start(
                &[
                    "browser-pool",
                    "--listen",
                    "127.0.0.1:0",
                    "--metrics-listen",
                    "off",
                    "--browsers",
                    "1",
                    "--pages-per-browser",
                    "3",
                    "--scheduler",
                    &hub,
                    "--worker-id",
                    &format!("pool-{n}"),
                    "--drain-grace-secs",
                    "5",
                ],
                Some(profiles),
            )
        })
        .collect();
    let _router = Proc::start(
        &[
            "ai-router",
            "--standin",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--scheduler",
            &hub,
            "--worker-id",
            "ai-0",
        ],
        None,
    );
    let channel = Channel::from_shared(hub.clone())
        .expect("uri")
        .connect()
        .await
        .expect("connect to the scheduler");
    let mut client = SchedulerServiceClient::new(channel.clone());

    // The killer: two seconds into the run (about a tenth of it), SIGKILL the first pool
    // seen holding work. It polls on its own so a slow status loop below cannot miss the
    // window.
    let pids: Vec<u32> = pools.iter().map(|p| p.child.id()).collect();
    let killer = {
        let mut client = SchedulerServiceClient::new(channel.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            for _ in 0..1200 {
                let status = client
                    .get_cluster_status(pb::GetClusterStatusRequest {})
                    .await
                    .expect("status")
                    .into_inner();
                if let Some(busy) = status
                    .workers
                    .iter()
                    .find(|w| w.worker_id.starts_with("pool-") && w.in_flight > 0)
                {
                    let n: usize = busy.worker_id["pool-".len()..]
                        .parse()
                        .expect("pool number");
                    nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pids[n] as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    )
                    .expect("SIGKILL the pool");
                    return Some(n);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        })
    };
    let total = 300;
    let mut ids = Vec::with_capacity(total);
    for i in 0..total {
        let id = client
            .submit_task(pb::SubmitTaskRequest {
                task: Some(task(i, &site)),
            })
            .await
            .expect("submitted")
            .into_inner()
            .task_id;
        ids.push(id);
    }

    let started = Instant::now();
    let mut terminal: HashMap<usize, pb::Task> = HashMap::new();
    while terminal.len() < total {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{} of {total} tasks finished after 5 minutes",
            terminal.len()
        );
        for (i, id) in ids.iter().enumerate() {
            if terminal.contains_key(&i) {
                continue;
            }
            let task = client
                .get_task(pb::GetTaskRequest {
                    task_id: id.clone(),
                    omit_outputs: false,
                })
                .await
                .expect("get")
                .into_inner()
                .task
                .expect("task");
            let state = pb::TaskState::try_from(task.state).expect("state");
            if matches!(
                state,
                pb::TaskState::Succeeded
                    | pb::TaskState::Failed
                    | pb::TaskState::Cancelled
                    | pb::TaskState::Expired
            ) {
                terminal.insert(i, task);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let killed = killer.await.expect("killer task");
    let Some(n) = killed else {
        panic!("no browser pool was seen holding work to kill");
    };
    pools[n].kill();
    for (i, task) in &terminal {
        check(*i, task);
    }
    assert!(
        terminal.values().any(|t| t.attempt > 1),
        "the killed pool's assignments were requeued"
    );
    // Each task reached exactly one terminal state: one FINISHED event in its history.
    // Each task reached exactly one terminal state (one FINISHED event), and every step's
    // completion was recorded once — browser steps from the pool's result, AI steps from the
    // router's progress.
    for (i, id) in ids.iter().enumerate().take(60) {
        let mut events = client
            .watch_task(pb::WatchTaskRequest {
                task_id: id.clone(),
                after_sequence: 0,
            })
            .await
            .expect("watch")
            .into_inner();
        let mut finished = 0;
        let mut steps = std::collections::HashSet::new();
        while let Some(event) = events.message().await.expect("event") {
            match event.event.and_then(|e| e.detail) {
                Some(pb::task_event::Detail::Finished(_)) => finished += 1,
                Some(pb::task_event::Detail::StepCompleted(done)) => {
                    steps.insert(done.output.expect("output").index);
                }
                _ => {}
            }
        }
        assert_eq!(finished, 1, "task {id}");
        assert_eq!(
            steps.len(),
            terminal[&i].outputs.len(),
            "task {id}: step events"
        );
    }
    let _ = std::fs::remove_file(&config);
}

fn type_text(name: &str, selector: &str, text: &str, enter: bool) -> pb::Step {
    pb::Step {
        name: name.into(),
        timeout: None,
        kind: Some(pb::step::Kind::TypeText(pb::TypeTextStep {
            selector: selector.into(),
            text: text.into(),
            press_enter: enter,
            ..Default::default()
        })),
    }
}

fn wait_for(name: &str, selector: &str) -> pb::Step {
    pb::Step {
        name: name.into(),
        timeout: None,
        kind: Some(pb::step::Kind::WaitFor(pb::WaitForStep {
            condition: Some(pb::wait_for_step::Condition::Selector(selector.into())),
            ..Default::default()
        })),
    }
}

fn text_of(task: &pb::Task, step: &str) -> String {
    match task
        .outputs
        .iter()
        .find(|o| o.step == step)
        .and_then(|o| o.value.clone())
    {
        Some(pb::step_output::Value::Extract(e)) => e.values.concat(),
        other => panic!("task {}: {step} gave {other:?}", task.id),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_affinity_keyed_task_lands_where_its_session_lives_and_sees_its_cookies() {
    let stop_site = tokio_util::sync::CancellationToken::new();
    let site = drover::demo_site::start("127.0.0.1:0".parse().expect("addr"), stop_site.clone())
        .await
        .expect("demo site");
    let scheduler = Proc::start(
        &[
            "scheduler",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
        ],
        None,
    );
    let hub = format!("http://{}", scheduler.addr);
    let _pools: Vec<Proc> = (0..2)
        .map(|n| {
            let profiles =
                std::env::temp_dir().join(format!("dra{}-{n}", std::process::id() % 100_000));
            Proc::start(
                &[
                    "browser-pool",
                    "--listen",
                    "127.0.0.1:0",
                    "--metrics-listen",
                    "off",
                    "--browsers",
                    "1",
                    "--pages-per-browser",
                    "2",
                    "--scheduler",
                    &hub,
                    "--worker-id",
                    &format!("pool-{n}"),
                ],
                Some(profiles),
            )
        })
        .collect();
    let channel = Channel::from_shared(hub)
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = SchedulerServiceClient::new(channel);
    let session = |key: &str, steps: Vec<pb::Step>| pb::TaskSpec {
        tenant: "acme".into(),
        affinity_key: key.into(),
        browser: Some(pb::BrowserOptions {
            isolation: pb::Isolation::Session as i32,
            ..Default::default()
        }),
        steps,
        ..Default::default()
    };
    // Three users, so a lucky placement cannot pass for routing (1 in 8).
    for user in ["ada", "grace", "edsger"] {
        let key = format!("user-{user}");
        let login = client
            .run_task(pb::RunTaskRequest {
                task: Some(session(
                    &key,
                    vec![
                        navigate("open", format!("http://{site}/login")),
                        type_text("user", "#user", user, false),
                        type_text("password", "#password", "pw", true),
                        wait_for("signed-in", "#who"),
                    ],
                )),
            })
            .await
            .expect("login runs")
            .into_inner()
            .task
            .expect("task");
        assert_eq!(
            login.state,
            pb::TaskState::Succeeded as i32,
            "{:?}",
            login.error
        );
        let reuse = client
            .run_task(pb::RunTaskRequest {
                task: Some(session(
                    &key,
                    vec![
                        navigate("account", format!("http://{site}/account")),
                        pb::Step {
                            name: "who".into(),
                            timeout: None,
                            kind: Some(pb::step::Kind::Extract(pb::ExtractStep {
                                selector: "#who".into(),
                                ..Default::default()
                            })),
                        },
                    ],
                )),
            })
            .await
            .expect("reuse runs")
            .into_inner()
            .task
            .expect("task");
        assert_eq!(
            reuse.state,
            pb::TaskState::Succeeded as i32,
            "{:?}",
            reuse.error
        );
        assert_eq!(reuse.worker_id, login.worker_id, "{user}: same worker");
        assert_eq!(
            text_of(&reuse, "who"),
            user,
            "the session's cookie came along"
        );
    }
    stop_site.cancel();
}
