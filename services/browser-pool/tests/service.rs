//! The `drover-browser-pool` binary as a user runs it: a separate process on 127.0.0.1:0,
//! called over real gRPC. A job runs; bad jobs are refused naming the field; status, health,
//! reflection and /metrics answer; SIGTERM drains and exits 0 with no Chromium left behind.

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use drover_api::{DroverError, ErrorReason, pb};
use drover_browser_pool::procfs;
use pb::browser_pool_service_client::BrowserPoolServiceClient;
use tonic::transport::Channel;

struct Service {
    child: Child,
    addr: String,
    metrics: String,
    profiles_root: std::path::PathBuf,
}

impl Service {
    fn start(name: &str) -> Self {
        let metrics = free_port();
        let profiles_root = std::env::temp_dir().join(format!("ds-{}-{name}", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover-browser-pool"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--browsers",
                "1",
                "--pages-per-browser",
                "2",
            ])
            .args(["--metrics-listen", &metrics, "--drain-grace-secs", "5"])
            .arg("--profiles-root")
            .arg(&profiles_root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start drover-browser-pool");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let addr = line
            .trim()
            .strip_prefix("drover-browser-pool listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            addr,
            metrics,
            profiles_root,
        }
    }

    async fn client(&self) -> BrowserPoolServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        BrowserPoolServiceClient::new(channel)
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let _ = std::fs::remove_dir_all(&self.profiles_root);
                return status;
            }
            assert!(
                Instant::now() < until,
                "the service did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn step(kind: pb::step::Kind) -> pb::Step {
    pb::Step {
        name: String::new(),
        timeout: None,
        kind: Some(kind),
    }
}

const PAGE: &str = "data:text/html,<title>Shop</title><h1>Lamps</h1><table><tr><td>Desk lamp</td><td>12</td></tr></table>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_jobs_reports_status_and_drains_on_sigterm() {
    let service = Service::start("main");
    let mut client = service.client().await;

    // A job: open a page and read from it.
    let job = pb::ExecuteBrowserJobRequest {
        tenant: "acme".into(),
        steps: vec![
            step(pb::step::Kind::Navigate(pb::NavigateStep {
                url: PAGE.into(),
                ..Default::default()
            })),
            step(pb::step::Kind::Extract(pb::ExtractStep {
                selector: "td".into(),
                all: true,
                ..Default::default()
            })),
        ],
        ..Default::default()
    };
    let outputs = client
        .execute_browser_job(job)
        .await
        .expect("job")
        .into_inner()
        .outputs;
    match outputs[1].value.as_ref() {
        Some(pb::step_output::Value::Extract(e)) => assert_eq!(e.values, ["Desk lamp", "12"]),
        other => panic!("extract output expected, got {other:?}"),
    }
    match outputs[0].value.as_ref() {
        Some(pb::step_output::Value::Navigate(n)) => assert_eq!(n.title, "Shop"),
        other => panic!("navigate output expected, got {other:?}"),
    }

    // Bad jobs are refused with the field named, and the service keeps serving.
    let bad = pb::ExecuteBrowserJobRequest {
        steps: vec![
            step(pb::step::Kind::Navigate(pb::NavigateStep {
                url: "file:///etc/passwd".into(),
                ..Default::default()
            })),
            step(pb::step::Kind::Chat(pb::ChatSpec {
                model_group: "g".into(),
                messages: vec![pb::ChatMessage {
                    role: pb::ChatRole::User as i32,
                    content: "hi".into(),
                }],
                ..Default::default()
            })),
        ],
        ..Default::default()
    };
    let status = client.execute_browser_job(bad).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let details = DroverError::from_status(&status).expect("drover error details");
    assert_eq!(details.reason, ErrorReason::InvalidArgument);
    let fields: Vec<&str> = details
        .violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert!(
        fields.contains(&"steps[0].navigate.url") && fields.contains(&"steps[1].chat"),
        "{fields:?}"
    );

    // A step that fails on the page names the step.
    let failing = pb::ExecuteBrowserJobRequest {
        steps: vec![pb::Step {
            name: "boom".into(),
            timeout: None,
            kind: Some(pb::step::Kind::Evaluate(pb::EvaluateStep {
                expression: "throw new Error('nope')".into(),
                await_promise: false,
            })),
        }],
        ..Default::default()
    };
    let status = client
        .execute_browser_job(failing)
        .await
        .expect_err("step fails");
    let details = DroverError::from_status(&status).expect("details");
    assert_eq!(
        (details.reason, details.step.as_deref()),
        (ErrorReason::StepFailed, Some("boom"))
    );

    // Status.
    let pool = client
        .get_pool_status(pb::GetPoolStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pool.browsers.len(), 1);
    assert!(pool.accepting && pool.capacity == 2, "{pool:?}");
    assert!(pool.browsers[0].tasks_served >= 2, "{pool:?}");
    let browser_pid = pool.browsers[0].pid as i32;

    // Health and reflection.
    let channel = Channel::from_shared(format!("http://{}", service.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "drover.v1.BrowserPoolService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers
        .message()
        .await
        .unwrap()
        .expect("a reflection answer");
    let listed = format!("{answer:?}");
    assert!(listed.contains("drover.v1.BrowserPoolService"), "{listed}");

    // Metrics.
    let scrape = http_get(&service.metrics, "/metrics");
    for name in [
        "drover_browser_pool_task_seconds",
        "drover_browser_pool_step_seconds",
        "drover_browser_pool_browsers_launched_total",
        // The shared pages the tasks gave back were parked.
        "drover_browser_pool_returned_pages_total{then=\"parked\"}",
    ] {
        assert!(
            scrape.contains(name),
            "{name} missing from /metrics:\n{scrape}"
        );
    }

    // SIGTERM: drains, exits 0, leaves no Chromium.
    let profiles_root = service.profiles_root.clone();
    let status = service.terminate();
    assert!(status.success(), "exit status {status:?}");
    let leftovers: Vec<_> = procfs::all_processes()
        .into_iter()
        .filter(|p| p.pgrp == browser_pid)
        .chain(procfs::processes_mentioning(&profiles_root))
        .collect();
    assert!(
        leftovers.is_empty(),
        "chromium processes left behind: {leftovers:?}"
    );
}

#[test]
fn a_bad_configuration_exits_2_naming_every_problem() {
    let output = Command::new(env!("CARGO_BIN_EXE_drover-browser-pool"))
        .args([
            "--browsers",
            "0",
            "--memory-high-watermark",
            "3",
            "--nonsense",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "flag --browsers: 0 must be between 1 and 64",
        "flag --memory-high-watermark: 3",
        "flag --nonsense: unknown",
    ] {
        assert!(stderr.contains(needle), "{needle} not named in:\n{stderr}");
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("metrics endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}
