//! The `drover` binary end to end, as separate processes on 127.0.0.1:0: the multi-call
//! services start and answer health; `drover up` (one browser, the stand-in provider) runs a
//! submitted browser + chat task from a file, `drover get`/`status` show it, bad task files
//! and refused tasks are reported by field, and SIGTERM exits 0 leaving no Chromium process.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines},
    net::TcpListener,
    process::{Child, ChildStdout, Command},
    time::timeout,
};

const DROVER: &str = env!("CARGO_BIN_EXE_drover");

/// A folder of this test's own, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("drover-cmd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `drover ARGS` with a quiet log and no inherited Drover settings.
fn drover(args: &[&str]) -> Command {
    let mut command = Command::new(DROVER);
    command
        .args(args)
        .env("DROVER_LOG", "warn")
        .env_remove("DROVER_SCHEDULER")
        .env_remove("DROVER_CONFIG")
        .env_remove("DROVER_AI_ROUTER_CONFIG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// A service process and its stdout lines.
struct Service {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Service {
    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("drover starts");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The next stdout line.
    async fn line(&mut self) -> String {
        timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("a stdout line in time")
            .expect("stdout readable")
            .expect("stdout open")
    }

    /// Lines up to and including the first containing `needle`.
    async fn lines_until(&mut self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self.line().await;
            let done = line.contains(needle);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }

    /// SIGTERM, then the exit code (within `within`).
    async fn terminate(mut self, within: Duration) -> Option<i32> {
        let pid = self.child.id().expect("running") as i32;
        nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        let status = timeout(within, self.child.wait())
            .await
            .expect("exits in time after SIGTERM")
            .unwrap();
        status.code()
    }
}

/// The address at the end of a `... listening on ADDR` line (an `http://` prefix dropped).
fn address_in(line: &str) -> SocketAddr {
    let last = line.rsplit(' ').next().unwrap();
    last.trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|_| panic!("no address at the end of {line:?}"))
}

async fn assert_serving(addr: SocketAddr) {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("health reachable");
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32, "{addr}");
}

/// A plain HTTP GET over loopback; the status line.
async fn http_status(addr: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer.lines().next().unwrap_or_default().to_owned()
}

/// Serves one small page on 127.0.0.1:0 until the test ends.
async fn serve_page() -> SocketAddr {
    const PAGE: &str = "<!doctype html><html><head><title>Drover test</title></head>\
        <body><h1 id=\"greeting\">Hello from the test page</h1></body></html>";
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{PAGE}",
                    PAGE.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

/// Processes whose command line mentions `folder` (Chromium and its helpers run with their
/// profile inside it).
fn processes_using(folder: &Path) -> Vec<String> {
    let me = std::process::id() as i32;
    drover_browser_pool::procfs::processes_mentioning(folder)
        .into_iter()
        .filter(|p| p.pid != me)
        .map(|p| {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
            format!(
                "{}: {}",
                p.pid,
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            )
        })
        .collect()
}

/// Runs a client command to completion: (exit code, stdout, stderr).
async fn client(args: &[&str]) -> (Option<i32>, String, String) {
    let output = timeout(
        Duration::from_secs(60),
        drover(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output(),
    )
    .await
    .expect("the command ends in time")
    .expect("drover runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_call_services_start_and_answer_health() {
    let profiles = TempDir::new("multi");
    let profiles_root = profiles.0.display().to_string();
    let mut scheduler = Service::spawn(drover(&[
        "scheduler",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
    ]));
    let mut router = Service::spawn(drover(&[
        "ai-router",
        "--standin",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
    ]));
    let mut pool = Service::spawn(drover(&[
        "browser-pool",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--browsers",
        "1",
        "--pages-per-browser",
        "1",
        "--profiles-root",
        &profiles_root,
    ]));
    let mut standin = Service::spawn(drover(&["standin-provider", "--listen", "127.0.0.1:0"]));

    let first = scheduler.line().await;
    assert!(
        first.starts_with("drover-scheduler listening on "),
        "{first}"
    );
    assert_serving(address_in(&first)).await;

    let lines = router.lines_until("drover-ai-router listening on").await;
    assert!(lines[0].contains("STAND-IN"), "labelled first: {lines:?}");
    assert_serving(address_in(lines.last().unwrap())).await;

    let first = pool.line().await;
    assert!(
        first.starts_with("drover-browser-pool listening on "),
        "{first}"
    );
    assert_serving(address_in(&first)).await;

    let first = standin.line().await;
    assert!(
        first.starts_with("drover-standin-provider: a stand-in for an OpenAI-compatible provider, listening on http://"),
        "{first}"
    );
    let status = http_status(address_in(&first), "/_standin/stats").await;
    assert!(status.contains(" 200 "), "{status}");

    // The same exits as the separate binaries: 0 after SIGTERM, 2 for a bad flag.
    let grace = Duration::from_secs(30);
    let (a, b, c, d) = tokio::join!(
        scheduler.terminate(grace),
        router.terminate(grace),
        pool.terminate(grace),
        standin.terminate(grace)
    );
    assert_eq!([a, b, c, d], [Some(0); 4]);
    assert!(processes_using(&profiles.0).is_empty());
    let (code, _, stderr) = client(&["scheduler", "--listen", "nowhere"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("drover-scheduler: --listen"), "{stderr}");
    let (code, _, stderr) = client(&["no-such-command"]).await;
    assert_eq!(code, Some(2), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_task_files_are_refused_naming_the_field() {
    let dir = TempDir::new("bad");
    let good = dir.write(
        "good.yaml",
        "steps:\n  - navigate: { url: \"about:blank\" }\n",
    );
    let bad = dir.write(
        "bad.yaml",
        "tenant: t\nsteps:\n  - name: open\n    navigate: { url: \"about:blank\", wait_untill: load }\n",
    );
    let worse = dir.write(
        "worse.json",
        r#"{"steps": [{"chat": {"messages": [{"role": "CHAT_ROLE_BOSS"}]}}]}"#,
    );
    // Nothing listens there: files are checked before anything is sent.
    let (code, stdout, stderr) = client(&[
        "submit",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        worse.to_str().unwrap(),
        "--scheduler",
        "http://127.0.0.1:9",
    ])
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty(), "nothing submitted: {stdout}");
    assert!(
        stderr.contains("bad.yaml: steps[0].navigate") && stderr.contains("wait_untill"),
        "{stderr}"
    );
    assert!(
        stderr.contains("worse.json: steps[0].chat.messages[0].role"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drover_up_runs_a_task_file_and_stops_cleanly() {
    let dir = TempDir::new("up");
    let profiles = dir.0.join("profiles");
    let page = serve_page().await;
    let mut up = drover(&[
        "up",
        "--browsers",
        "1",
        "--pages-per-browser",
        "2",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
    ]);
    up.env("DROVER_BROWSER_POOL_PROFILES_ROOT", &profiles)
        .env("DROVER_BROWSER_POOL_DRAIN_GRACE_SECS", "5");
    let mut up = Service::spawn(up);
    let lines = up.lines_until("drover up: scheduler listening on ").await;
    assert!(
        lines[0].contains("STAND-IN") && lines[0].contains("not a model"),
        "the stand-in is named first: {lines:?}"
    );
    let scheduler = format!("http://{}", address_in(lines.last().unwrap()));

    let task = dir.write(
        "task.yaml",
        &format!(
            r##"
tenant: test
timeout: 60s
steps:
  - name: open
    navigate: {{ url: "http://{page}/" }}
  - name: greeting
    extract: {{ selector: "#greeting" }}
  - name: summary
    chat:
      model_group: default
      messages:
        - {{ role: CHAT_ROLE_USER, content: "Summarise: ${{steps.greeting.text}}" }}
"##
        ),
    );
    let (code, stdout, stderr) = client(&[
        "submit",
        task.to_str().unwrap(),
        "--wait",
        "--scheduler",
        &scheduler,
    ])
    .await;
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let id = stdout.split_whitespace().next().unwrap().to_owned();
    assert!(
        stdout.contains("TASK") && stdout.contains("FIRST ERROR"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with(&id) && l.contains("succeeded"));
    assert!(row.is_some(), "a succeeded row for {id}: {stdout}");
    assert!(stderr.contains("steps 3/3"), "progress: {stderr}");

    let (code, stdout, _) = client(&["get", &id, "--scheduler", &scheduler]).await;
    assert_eq!(code, Some(0));
    assert!(stdout.contains("\"Hello from the test page\""), "{stdout}");
    assert!(stdout.contains("stand-in answer:"), "{stdout}");

    let (code, stdout, _) = client(&["status", "--scheduler", &scheduler]).await;
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("browser") && stdout.contains(" ai "),
        "{stdout}"
    );

    // The scheduler's own refusal names the field.
    let blocked = dir.write(
        "blocked.json",
        r#"{"steps": [{"navigate": {"url": "file:///etc/passwd"}}]}"#,
    );
    let (code, _, stderr) = client(&[
        "submit",
        blocked.to_str().unwrap(),
        "--scheduler",
        &scheduler,
    ])
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("INVALID_ARGUMENT") && stderr.contains("task.steps[0].navigate.url"),
        "{stderr}"
    );

    assert!(
        !processes_using(&profiles).is_empty(),
        "the pool's browser runs"
    );
    assert_eq!(up.terminate(Duration::from_secs(40)).await, Some(0));
    let left = processes_using(&profiles);
    assert!(left.is_empty(), "Chromium processes left: {left:?}");
}
