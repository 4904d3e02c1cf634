//! The router's overhead at a fixed request rate: what the router adds to a chat call beyond
//! the provider's own time, with the stand-in provider answering at zero delay.
//!
//! Three processes' worth of work on one machine: this bench runs the stand-in provider (on
//! its own runtime thread) and an open-loop load generator; the `drover-ai-router` binary
//! runs as a separate process, started fresh for each rate with a TOML file naming the
//! stand-in. Every call is a small unary chat with the cache bypassed, over one gRPC
//! connection.
//!
//! Open loop: calls start on a fixed schedule (rate × seconds of them), whether or not the
//! earlier ones have answered, so a slow router cannot slow the load down and hide its own
//! latency. For each call the router reports its time inside provider calls in the
//! `drover-upstream-us` header; **overhead = latency seen by the caller − upstream time**,
//! i.e. everything the router adds, the gRPC hop included. The router's own histogram of
//! the same quantity measured inside the process (no network hop) is read from its
//! `/metrics` afterwards and printed beside it.
//!
//! # Running
//!
//! ```text
//! cargo bench -p drover-ai-router --bench overhead               # 500, 1000, 2000 req/s
//! cargo test  -p drover-ai-router --bench overhead               # smoke run, debug
//! ```
//!
//! `cargo bench` passes `--bench`, selecting the full run (10 s per rate after a 2 s
//! warm-up, about 40 s in all); without it the run is a tiny smoke check. Environment
//! variables override: `DROVER_BENCH_RATES` (`500,1000,2000`), `DROVER_BENCH_SECONDS` (10),
//! `DROVER_BENCH_WARMUP_SECONDS` (2). The target (issue #4): p99 overhead under 1 ms at
//! 1,000 requests/s on a 2-core machine. Numbers are comparable only within one run.

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use drover_api::pb::{self, ai_router_service_client::AiRouterServiceClient};
use drover_standin_provider::{StandIn, StandInConfig};
use tokio::sync::Mutex;
use tonic::transport::Channel;

/// One call's figures, in microseconds.
#[derive(Clone, Copy)]
struct Sample {
    total: u64,
    upstream: u64,
}

struct Settings {
    rates: Vec<u32>,
    seconds: f64,
    warmup_seconds: f64,
}

fn settings() -> Result<Settings, String> {
    let full = std::env::args().any(|a| a == "--bench");
    let number = |name: &str, default: f64| -> Result<f64, String> {
        match std::env::var(name) {
            Ok(v) => v
                .parse::<f64>()
                .ok()
                .filter(|n| *n > 0.0)
                .ok_or_else(|| format!("{name}={v:?}: want a positive number")),
            Err(_) => Ok(default),
        }
    };
    let rates = match std::env::var("DROVER_BENCH_RATES") {
        Ok(list) => list
            .split(',')
            .map(|r| r.trim().parse::<u32>().ok().filter(|r| *r > 0))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("DROVER_BENCH_RATES={list:?}: want e.g. 500,1000,2000"))?,
        Err(_) if full => vec![500, 1000, 2000],
        Err(_) => vec![50],
    };
    Ok(Settings {
        rates,
        seconds: number("DROVER_BENCH_SECONDS", if full { 10.0 } else { 1.0 })?,
        warmup_seconds: number("DROVER_BENCH_WARMUP_SECONDS", if full { 2.0 } else { 0.5 })?,
    })
}

struct Router {
    child: Child,
    addr: String,
    metrics: String,
    config: std::path::PathBuf,
}

impl Router {
    fn start(base_url: &str) -> Result<Self, String> {
        let metrics = free_port();
        let config = std::env::temp_dir().join(format!("drover-bench-{}.toml", std::process::id()));
        let toml = format!(
            "[[deployments]]\nname = \"standin\"\nbase_url = \"{base_url}\"\nmodel = \"standin-1\"\n\
             max_concurrency = 4096\n\n[[groups]]\nname = \"default\"\ndeployments = [\"standin\"]\n"
        );
        std::fs::write(&config, toml).map_err(|e| format!("cannot write the config: {e}"))?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover-ai-router"))
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", &metrics])
            .env("DROVER_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start drover-ai-router: {e}"))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the router's first line: {e}"))?;
        let addr = line
            .trim()
            .strip_prefix("drover-ai-router listening on ")
            .ok_or_else(|| format!("unexpected first line {line:?}"))?
            .to_owned();
        Ok(Self {
            child,
            addr,
            metrics,
            config,
        })
    }

    /// The router's own overhead quantiles (p50, p90, p99) for chat, in microseconds.
    fn internal_overhead(&self) -> Option<[f64; 3]> {
        let scrape = http_get(&self.metrics, "/metrics")?;
        let quantile = |q: &str| {
            scrape.lines().find_map(|line| {
                let rest = line.strip_prefix("drover_ai_router_overhead_seconds{")?;
                (rest.contains("op=\"chat\"") && rest.contains(&format!("quantile=\"{q}\"")))
                    .then(|| line.rsplit(' ').next()?.parse::<f64>().ok())
                    .flatten()
                    .map(|s| s * 1e6)
            })
        };
        Some([quantile("0.5")?, quantile("0.9")?, quantile("0.99")?])
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_file(&self.config);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "127.0.0.1:9462".into())
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

fn request(i: u64) -> pb::ChatRequest {
    pb::ChatRequest {
        chat: Some(pb::ChatSpec {
            model_group: "default".into(),
            messages: vec![pb::ChatMessage {
                role: pb::ChatRole::User as i32,
                content: format!("Summarise row {i} of the price table in one line."),
            }],
            cache: pb::CacheMode::Bypass as i32,
            ..Default::default()
        }),
        tenant: String::new(),
    }
}

/// Runs `rate` calls per second for `seconds`, open loop; returns the samples and errors.
async fn run_at(
    client: &AiRouterServiceClient<Channel>,
    rate: u32,
    seconds: f64,
) -> (Vec<Sample>, u64, Duration) {
    let total_calls = (f64::from(rate) * seconds).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(total_calls as usize)));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..total_calls {
        // The schedule, not the answers, decides when each call starts.
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let mut client = client.clone();
        let samples = Arc::clone(&samples);
        let errors = Arc::clone(&errors);
        calls.spawn(async move {
            let sent = Instant::now();
            match client.chat(request(i)).await {
                Ok(response) => {
                    let total = sent.elapsed().as_micros() as u64;
                    let upstream = response
                        .metadata()
                        .get("drover-upstream-us")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    samples.lock().await.push(Sample { total, upstream });
                }
                Err(e) => {
                    if errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3 {
                        eprintln!("call failed: {e}");
                    }
                }
            }
        });
        // Reap finished calls as we go so the set stays small.
        while calls.try_join_next().is_some() {}
    }
    while calls.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let samples = std::mem::take(&mut *samples.lock().await);
    (
        samples,
        errors.load(std::sync::atomic::Ordering::Relaxed),
        elapsed,
    )
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(micros: f64) -> String {
    format!("{:.3}", micros / 1000.0)
}

fn main() -> std::process::ExitCode {
    let settings = match settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("overhead bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The stand-in gets its own runtime thread, as a separate provider would have its own
    // process.
    let provider_runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("overhead bench: cannot build a runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let provider = match provider_runtime.block_on(StandIn::start(StandInConfig::default())) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("overhead bench: cannot start the stand-in: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let client_runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("overhead bench: cannot build a runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "\n## ai-router overhead (stand-in provider at zero delay; {} CPUs)\n",
        num_cpus()
    );
    println!(
        "Open loop, unary chat, cache bypassed, one gRPC connection; {} s per rate after {} s \
         of warm-up. Overhead = caller latency − upstream time (router-reported); \"in-process\" \
         is the router's own histogram, without the gRPC hop.\n",
        settings.seconds, settings.warmup_seconds
    );
    println!(
        "| target req/s | achieved req/s | calls | errors | overhead p50 ms | p90 ms | p99 ms | \
         in-process p50 / p90 / p99 ms | latency p50 ms | p99 ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    let mut failed = false;
    for &rate in &settings.rates {
        let router = match Router::start(&provider.base_url()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("overhead bench: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let row = client_runtime.block_on(async {
            let channel = Channel::from_shared(format!("http://{}", router.addr))
                .map_err(|e| e.to_string())?
                .tcp_nodelay(true)
                .connect()
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            let client = AiRouterServiceClient::new(channel);
            let _ = run_at(&client, rate, settings.warmup_seconds).await;
            Ok::<_, String>(run_at(&client, rate, settings.seconds).await)
        });
        let (samples, errors, elapsed) = match row {
            Ok(row) => row,
            Err(e) => {
                eprintln!("overhead bench: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        failed |= errors > 0;
        let mut overhead: Vec<u64> = samples
            .iter()
            .map(|s| s.total.saturating_sub(s.upstream))
            .collect();
        overhead.sort_unstable();
        let mut totals: Vec<u64> = samples.iter().map(|s| s.total).collect();
        totals.sort_unstable();
        let internal = router
            .internal_overhead()
            .map(|[a, b, c]| format!("{} / {} / {}", ms(a), ms(b), ms(c)))
            .unwrap_or_else(|| "n/a".into());
        println!(
            "| {rate} | {:.0} | {} | {errors} | {} | {} | {} | {internal} | {} | {} |",
            samples.len() as f64 / elapsed.as_secs_f64(),
            samples.len(),
            ms(percentile(&overhead, 50.0) as f64),
            ms(percentile(&overhead, 90.0) as f64),
            ms(percentile(&overhead, 99.0) as f64),
            ms(percentile(&totals, 50.0) as f64),
            ms(percentile(&totals, 99.0) as f64),
        );
        drop(router);
    }
    provider_runtime.block_on(provider.shutdown());
    if failed {
        eprintln!("some calls failed");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
