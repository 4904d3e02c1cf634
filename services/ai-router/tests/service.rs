//! The `drover-ai-router` binary as a user runs it: a separate process on 127.0.0.1:0 with a
//! TOML file naming a stand-in provider, called over real gRPC. Answers (unary and
//! streamed), bad input refused naming the field, status, health, /metrics, and SIGTERM.

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use drover_api::{DroverError, ErrorReason, pb};
use pb::ai_router_service_client::AiRouterServiceClient;
use tonic::{Code, transport::Channel};

struct Service {
    child: Child,
    addr: String,
    metrics: String,
    config: std::path::PathBuf,
}

impl Service {
    fn start(toml: &str) -> Self {
        let metrics = free_port();
        let config = std::env::temp_dir().join(format!("air-{}.toml", std::process::id()));
        std::fs::write(&config, toml).expect("config file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover-ai-router"))
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", &metrics])
            .env("TEST_KEY", KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start drover-ai-router");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let addr = line
            .trim()
            .strip_prefix("drover-ai-router listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            addr,
            metrics,
            config,
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("signal");
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let _ = std::fs::remove_file(&self.config);
                return status;
            }
            assert!(Instant::now() < until, "no exit within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("metrics endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("response");
    body
}

fn chat_request(group: &str, messages: Vec<pb::ChatMessage>) -> pb::ChatRequest {
    pb::ChatRequest {
        chat: Some(pb::ChatSpec {
            model_group: group.into(),
            messages,
            ..Default::default()
        }),
        tenant: String::new(),
    }
}

fn user(text: &str) -> pb::ChatMessage {
    pb::ChatMessage {
        role: pb::ChatRole::User as i32,
        content: text.into(),
    }
}

/// The offending field of a refused call.
fn fields(status: &tonic::Status) -> Vec<String> {
    DroverError::from_status(status)
        .map(|e| e.violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_routes_refuses_bad_input_and_stops_on_sigterm() {
    let provider = standin().await;
    let service = Service::start(&format!(
        "{}
        [[groups]]
        name = \"default\"
        deployments = [\"d\"]",
        deployment("d", &provider, "m", ""),
    ));
    let channel = service.channel().await;
    let mut client = AiRouterServiceClient::new(channel.clone());

    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "drover.v1.AiRouterService".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // A unary answer, with the upstream time in a header.
    let response = client
        .chat(chat_request("default", vec![user("hello")]))
        .await
        .expect("answer");
    let upstream: u64 = response
        .metadata()
        .get("drover-upstream-us")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("upstream header");
    assert!(upstream > 0);
    let completion = response.into_inner().completion.expect("completion");
    assert_eq!(completion.deployment, "d");
    assert!(!completion.content.is_empty());

    // The same answer streamed: deltas, then the completion.
    let mut stream = client
        .chat_stream(pb::ChatStreamRequest {
            chat: chat_request("default", vec![user("hello")]).chat,
            tenant: String::new(),
        })
        .await
        .expect("stream opens")
        .into_inner();
    let mut text = String::new();
    let mut done = None;
    while let Some(item) = stream.message().await.expect("stream item") {
        match item.event.expect("event") {
            pb::chat_stream_response::Event::Delta(delta) => text.push_str(&delta.content),
            pb::chat_stream_response::Event::Completion(c) => done = Some(c),
        }
    }
    let done = done.expect("a final completion");
    assert_eq!(done.content, text);
    assert_eq!(done.content, completion.content);

    // Bad input: each refused naming its field; the service keeps serving.
    let empty = client
        .chat(chat_request("default", vec![]))
        .await
        .expect_err("no messages");
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(
        fields(&empty).iter().any(|f| f == "chat.messages"),
        "{empty:?}"
    );

    let unknown = client
        .chat(chat_request("nope", vec![user("x")]))
        .await
        .expect_err("unknown group");
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(fields(&unknown), ["chat.model_group"]);

    let big = "x".repeat(500 * 1024);
    let oversized = client
        .chat(chat_request(
            "default",
            (0..10).map(|_| user(&big)).collect(),
        ))
        .await
        .expect_err("over the request bound");
    assert_eq!(oversized.code(), Code::InvalidArgument);
    assert_eq!(fields(&oversized), ["chat.messages"]);
    assert_eq!(
        DroverError::from_status(&oversized).map(|e| e.reason),
        Some(ErrorReason::PayloadTooLarge)
    );

    let embed = client
        .embed(pb::EmbedRequest {
            embed: Some(pb::EmbedSpec {
                model_group: "default".into(),
                inputs: vec!["a".into(), "b".into()],
                dimensions: 4,
            }),
            tenant: String::new(),
        })
        .await
        .expect("embeddings")
        .into_inner()
        .result
        .expect("result");
    assert_eq!(embed.embeddings.len(), 2);
    assert_eq!(embed.embeddings[0].values.len(), 4);

    let status = client
        .get_router_status(pb::GetRouterStatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.deployments.len(), 1);
    let d = &status.deployments[0];
    assert_eq!((d.name.as_str(), d.model_group.as_str()), ("d", "default"));
    assert_eq!(d.breaker, pb::BreakerState::Closed as i32);
    assert!(!d.disabled);

    let scrape = http_get(&service.metrics, "/metrics");
    for name in [
        "drover_ai_router_requests_total",
        "drover_ai_router_overhead_seconds",
        "drover_ai_router_upstream_seconds",
        "drover_ai_router_breaker_state",
    ] {
        assert!(
            scrape.contains(name),
            "{name} missing from /metrics:\n{scrape}"
        );
    }
    assert!(!scrape.contains(KEY), "no key in metrics");

    // Hang up first, so the graceful stop has no connection to wait for.
    drop(client);
    drop(channel);
    let status = service.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_bad_configuration_exits_2_listing_every_problem() {
    let config = std::env::temp_dir().join(format!("air-bad-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "[[deployments]]\nname = \"a\"\nbase_url = \"ftp://x\"\nmodel = \"\"\n\n[[groups]]\nname = \"g\"\ndeployments = [\"ghost\"]\n",
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_drover-ai-router"))
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&config);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in ["base_url", "model", "ghost"] {
        assert!(stderr.contains(needle), "{needle} missing from:\n{stderr}");
    }
}
