//! The `drover-standin-provider` binary as the router's end-to-end tests run it: the labelled
//! startup line with the bound address, a real answer, exit 0 on SIGTERM, exit 2 on bad flags.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::raw;
use http::Method;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_drover-standin-provider");

#[tokio::test]
async fn binary_announces_itself_serves_and_exits_0_on_sigterm() {
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            "k",
            "--behavior",
            "chunks=2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("startup line within 10s")
    .expect("read");
    let prefix = "drover-standin-provider: a stand-in for an OpenAI-compatible provider, listening on http://";
    let addr = line
        .trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("startup line: {line:?}"));
    let addr: std::net::SocketAddr = addr.parse().expect("bound address");
    assert_ne!(addr.port(), 0);

    let body = common::stream_body("m", "hi").to_string();
    let answer = raw(
        addr,
        Method::POST,
        "/v1/chat/completions",
        &[("authorization", "Bearer k")],
        body,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(common::sse_data(&answer.text()).len(), 2 + 1 + 1);

    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10s")
        .expect("status");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn bad_flags_exit_2_naming_every_problem() {
    let output = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--behavior",
            "stauts=500",
            "--nope",
        ])
        .output()
        .await
        .expect("binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("stauts") && stderr.contains("--nope"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
