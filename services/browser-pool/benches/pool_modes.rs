//! How much the warm page pool buys: the same small task (navigate to a local page, wait for
//! `load`, extract the text of its table's 21 rows) run in four modes, each at concurrency 1,
//! 2, 4 and 8, against the real Chromium:
//!
//! - **pooled**: a [`BrowserPool`](drover_browser_pool::pool::BrowserPool) of 2 browsers ×
//!   8 pages, shared isolation, one tenant: a warm page per task, reset afterwards in the
//!   pool's default mode, the *deferred* reset (`ActorSettings::deferred_reset`: the page is
//!   parked frozen with its document, and the next task's own navigate replaces it; the
//!   eager mode, a reset to about:blank on return, is that setting turned off);
//! - **page-per-task**: one long-lived browser; a new page per task, closed afterwards;
//! - **context-per-task**: one long-lived browser; a new browser context + page per task,
//!   disposed afterwards;
//! - **browser-per-task**: a Chromium launched per task and killed afterwards.
//!
//! All modes run the steps through the pool's own step code, so they differ only in the
//! page, context and browser lifecycle (see `support/modes.rs`). Then a soak: 2,000 pooled
//! tasks at concurrency 4 on the same two browsers (recycling off), with the memory of both
//! browsers' process trees sampled before a warm-up of 500 tasks, after it, and after each
//! quarter (idle parked pages keep their last document, so the soak also shows that this
//! holds steady). The warm-up is long enough for every pooled page to have served tasks and reach
//! its steady size (after 100 tasks some of the 16 pages had not, and the soak's first
//! quarter showed that as "growth"); its own growth is printed separately. Finally it checks
//! `/proc` for chromium processes left behind.
//!
//! # Running
//!
//! ```text
//! cargo bench -p drover-browser-pool --bench pool_modes               # full run, release
//! cargo test  -p drover-browser-pool --bench pool_modes               # smoke run, debug
//! ```
//!
//! `cargo bench` passes `--bench`, which selects the full counts (about 7–10 minutes on
//! 2 cores); without it (`cargo test`, or the binary run by hand) the counts are tiny: a smoke
//! check that every mode works, not a measurement. Environment variables override either:
//! `DROVER_BENCH_TASKS` (tasks per row of the pooled and page-per-task modes; 200),
//! `DROVER_BENCH_CONTEXT_TASKS` (context-per-task, the slowest per task after a browser launch;
//! 100), `DROVER_BENCH_BROWSER_TASKS` (browser-per-task; 24), `DROVER_BENCH_SOAK_TASKS` (2000),
//! `DROVER_BENCH_SOAK_WARMUP` (pooled tasks before the soak's "before" sample; 500),
//! `DROVER_BENCH_WARMUP_ROUNDS` (warm-up tasks per row, as rounds of `concurrency` tasks; 2,
//! browser-per-task always 1), `DROVER_BENCH_CONCURRENCY` (`1,2,4,8`), `DROVER_BENCH_MODES`
//! (which modes, comma-separated by their printed names; all four), `DROVER_BENCH_CHROMIUM`
//! (the Chromium binary of every mode; the pool's default, the headless shell when installed:
//! `/usr/lib/chromium/chromium` compares the full browser) and `DROVER_BENCH_CHROMIUM_ARGS`
//! (extra Chromium switches, space-separated, given to *every* mode's browsers alike: for
//! trying launcher flags; none by default). `RUST_LOG` sets the log filter (default `warn`).
//!
//! # Reading the output
//!
//! One Markdown table row per mode × concurrency: successful tasks per second of wall time
//! (closed loop: each of `concurrency` workers starts its next task when the last one ends),
//! p50 / p95 task latency, and failed tasks (every task should succeed; failures are counted
//! and a few messages printed, never a panic). Then pooled ÷ each other mode's tasks/s per
//! concurrency (DESIGN.md asks ≥ 3 against page-per-task and ≥ 10 against browser-per-task),
//! the soak's memory samples (the first taken before the warm-up, the rest after it), the
//! warm-up's own growth, then the soak's growth from after the warm-up to the end (asked:
//! < 5%, on summed PSS; PSS splits shared pages with every process mapping them, Chromiums of
//! other jobs included, so the private-memory growth is printed too), leftover chromium
//! processes (must be 0) and the total wall time. The process exits non-zero if any task failed or anything was left behind.
//! SIGINT or SIGTERM stops it cleanly: running tasks finish, every browser is shut down and
//! reaped, partial results are printed, and it exits with 130.
//! Numbers are only comparable within one run on one machine.

mod support;

use std::{process::ExitCode, sync::Arc, time::Duration};

use drover_browser_pool::{
    launcher::{LaunchConfig, become_subreaper},
    pool::BrowserPool,
};
use tokio::{
    signal::unix::{SignalKind, signal},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use support::{
    measure::{Run, chromium_children, pool_memory, run_tasks},
    modes::{Mode, POOL_BROWSERS, Runner, pool_config, task_steps},
    report::{SOAK_CONCURRENCY, Soak, print_ratios, print_soak, print_table},
    site::{ROWS, Site},
};

/// Pause before each memory sample, so pages just reset are at rest.
const SETTLE: Duration = Duration::from_secs(2);
/// The soak runs in this many parts, memory sampled after each.
const SOAK_PARTS: usize = 4;

/// How much to run; see the module docs for the variables.
struct Settings {
    tasks: usize,
    context_tasks: usize,
    browser_tasks: usize,
    soak_tasks: usize,
    soak_warmup: usize,
    warmup_rounds: usize,
    chromium_args: Vec<String>,
    concurrency: Vec<usize>,
    /// Modes to run (every mode by default).
    modes: Vec<Mode>,
}

impl Settings {
    /// Full counts under `cargo bench`, smoke counts otherwise; the environment overrides.
    fn from_env(full: bool) -> Result<Settings, String> {
        let pick = |full_value, smoke_value| if full { full_value } else { smoke_value };
        let settings = Settings {
            tasks: env_count("DROVER_BENCH_TASKS", pick(200, 8))?,
            context_tasks: env_count("DROVER_BENCH_CONTEXT_TASKS", pick(100, 8))?,
            browser_tasks: env_count("DROVER_BENCH_BROWSER_TASKS", pick(24, 2))?,
            soak_tasks: env_count("DROVER_BENCH_SOAK_TASKS", pick(2000, 40))?,
            soak_warmup: env_count("DROVER_BENCH_SOAK_WARMUP", pick(500, 8))?,
            warmup_rounds: env_count("DROVER_BENCH_WARMUP_ROUNDS", pick(2, 1))?,
            chromium_args: std::env::var("DROVER_BENCH_CHROMIUM_ARGS")
                .map(|args| args.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            concurrency: match std::env::var("DROVER_BENCH_CONCURRENCY") {
                Ok(list) => parse_list(&list).ok_or_else(|| {
                    format!("DROVER_BENCH_CONCURRENCY={list:?}: want e.g. 1,2,4,8")
                })?,
                Err(_) => vec![1, 2, 4, 8],
            },
            modes: match std::env::var("DROVER_BENCH_MODES") {
                Ok(list) => list
                    .split(',')
                    .map(|name| {
                        Mode::ALL
                            .into_iter()
                            .find(|mode| mode.name() == name.trim())
                            .ok_or_else(|| format!("DROVER_BENCH_MODES: unknown mode {name:?}"))
                    })
                    .collect::<Result<_, _>>()?,
                Err(_) => Mode::ALL.to_vec(),
            },
        };
        Ok(settings)
    }
}

fn env_count(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("{name}={value:?} is not a count")),
        Err(_) => Ok(default),
    }
}

fn parse_list(list: &str) -> Option<Vec<usize>> {
    let values: Vec<usize> = list
        .split(',')
        .map(|v| v.trim().parse().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()?;
    (!values.is_empty()).then_some(values)
}

#[tokio::main]
async fn main() -> ExitCode {
    let started = Instant::now();
    let full = std::env::args().any(|a| a == "--bench");
    let settings = match Settings::from_env(full) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("pool_modes: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,chromiumoxide=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // Chromium's daemonized helpers are reparented to us, so shutdown can reap them.
    become_subreaper();
    let stop = stop_on_signal();
    let launch = LaunchConfig {
        profiles_root: std::env::temp_dir().join("drover-bench"),
        extra_args: settings.chromium_args.clone(),
        executable: std::env::var_os("DROVER_BENCH_CHROMIUM")
            .map_or_else(|| LaunchConfig::default().executable, Into::into),
        ..LaunchConfig::default()
    };
    let site = match Site::start().await {
        Ok(site) => site,
        Err(e) => {
            eprintln!("pool_modes: cannot start the local site: {e}");
            return ExitCode::from(2);
        }
    };
    let url = site.url();
    let steps = Arc::new(task_steps(&url));
    let pages = settings.concurrency.iter().copied().max().unwrap_or(1);

    let mut rows: Vec<(Mode, usize, Run)> = Vec::new();
    let mut product = None;
    for &mode in &settings.modes {
        if stop.is_cancelled() {
            break;
        }
        let (tasks, rounds) = match mode {
            Mode::BrowserPerTask => (settings.browser_tasks, settings.warmup_rounds.min(1)),
            Mode::ContextPerTask => (settings.context_tasks, settings.warmup_rounds),
            _ => (settings.tasks, settings.warmup_rounds),
        };
        let runner = match Runner::start(mode, &launch, pages).await {
            Ok(runner) => Arc::new(runner),
            Err(e) => {
                eprintln!("{}: cannot start: {e}", mode.name());
                for &concurrency in &settings.concurrency {
                    let failed = Run {
                        tasks,
                        errors: tasks,
                        error_samples: vec![e.clone()],
                        ..Run::default()
                    };
                    rows.push((mode, concurrency, failed));
                }
                continue;
            }
        };
        if let Runner::PagePerTask(lab) = &*runner {
            product = lab.product().await;
        }
        for &concurrency in settings
            .concurrency
            .iter()
            .take_while(|_| !stop.is_cancelled())
        {
            let warmup = run_tasks(&runner, &steps, concurrency, rounds * concurrency, &stop).await;
            if warmup.errors > 0 {
                eprintln!(
                    "{} ×{concurrency}: {} of {} warm-up tasks failed: {:?}",
                    mode.name(),
                    warmup.errors,
                    warmup.tasks,
                    warmup.error_samples
                );
            }
            let run = run_tasks(&runner, &steps, concurrency, tasks, &stop).await;
            eprintln!(
                "{} ×{concurrency}: {} tasks in {:.1} s, {} errors",
                mode.name(),
                run.tasks,
                run.wall.as_secs_f64(),
                run.errors
            );
            rows.push((mode, concurrency, run));
        }
        if let Some(runner) = Arc::into_inner(runner) {
            runner.stop().await;
        }
    }

    let soak = if stop.is_cancelled() {
        Err("skipped: the bench was stopped".to_owned())
    } else {
        eprintln!("soak: {} pooled tasks…", settings.soak_tasks);
        soak(&launch, &steps, pages, &settings, &stop).await
    };
    drop(site);
    // Everything was shut down and reaped above; allow a moment for the last exits.
    let until = Instant::now() + Duration::from_secs(3);
    let mut leftovers = chromium_children();
    while !leftovers.is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        leftovers = chromium_children();
    }

    let build = match (cfg!(debug_assertions), stop.is_cancelled()) {
        (_, true) => "STOPPED EARLY: partial results",
        (true, false) => "debug build: smoke numbers only",
        (false, false) => "release build",
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\n## pool_modes ({build}; {} at {}; {cpus} CPUs)\n",
        product.as_deref().unwrap_or("chromium version unknown"),
        launch.executable.display()
    );
    println!(
        "Task: navigate to {} (wait for load), extract the text of its {} table rows. Pooled: \
         {POOL_BROWSERS} browsers × {pages} pages; page- and context-per-task: one browser. \
         Warm-up before each row: {} round(s) of `concurrency` tasks (browser-per-task: {}).\n",
        url,
        ROWS + 1,
        settings.warmup_rounds,
        settings.warmup_rounds.min(1)
    );
    if !settings.chromium_args.is_empty() {
        println!(
            "Extra Chromium switches (every mode): {}\n",
            settings.chromium_args.join(" ")
        );
    }
    print_table(&rows);
    print_ratios(&rows, &settings.concurrency);
    let mut failed = rows.iter().map(|(_, _, run)| run.errors).sum::<usize>();
    match &soak {
        Ok(soak) => {
            failed += soak.run.errors + soak.warmup_errors;
            print_soak(soak, settings.soak_warmup);
        }
        Err(e) => {
            failed += 1;
            println!("Memory soak: {e}\n");
        }
    }
    for (mode, concurrency, run) in rows.iter().filter(|(_, _, run)| run.errors > 0) {
        println!(
            "Errors, {} ×{concurrency}: {:?}",
            mode.name(),
            run.error_samples
        );
    }
    println!(
        "Leftover chromium processes (children of this process, zombies included): {}",
        leftovers.len()
    );
    for p in &leftovers {
        println!("  pid {} state {}", p.pid, p.state);
    }
    println!("Total wall time: {:.1} s", started.elapsed().as_secs_f64());
    if stop.is_cancelled() {
        ExitCode::from(130)
    } else if failed > 0 || !leftovers.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// 2,000 (by default) pooled tasks on two browsers that are never recycled, with their trees'
/// memory sampled before the warm-up, after it, and after each part.
async fn soak(
    launch: &LaunchConfig,
    steps: &Arc<Vec<(u32, drover_api::Step)>>,
    pages: usize,
    settings: &Settings,
    stop: &CancellationToken,
) -> Result<Soak, String> {
    let pool = BrowserPool::start(pool_config(launch, pages, 0))
        .await
        .map_err(|e| format!("cannot start the pool: {e}"))?;
    let runner = Arc::new(Runner::Pooled(pool.clone()));
    tokio::time::sleep(SETTLE).await;
    let before_warmup = pool_memory(&pool);
    let warmup = run_tasks(&runner, steps, SOAK_CONCURRENCY, settings.soak_warmup, stop).await;
    tokio::time::sleep(SETTLE).await;
    let mut samples = vec![(0, pool_memory(&pool))];
    // In parts, with a sample after each, to tell steady growth from a step or noise.
    let mut run = Run::default();
    let mut done = 0;
    for part in 1..=SOAK_PARTS {
        let upto = settings.soak_tasks * part / SOAK_PARTS;
        let tasks = upto - done;
        run.absorb(run_tasks(&runner, steps, SOAK_CONCURRENCY, tasks, stop).await);
        done = upto;
        tokio::time::sleep(SETTLE).await;
        samples.push((run.tasks, pool_memory(&pool)));
    }
    drop(runner);
    pool.drain(Duration::from_secs(10)).await;
    Ok(Soak {
        run,
        warmup_errors: warmup.errors,
        before_warmup,
        samples,
    })
}

/// Fires on SIGINT or SIGTERM: the bench then starts no new task and shuts every browser down
/// properly (a plain kill would leave Chromium trees and their crashpad handlers behind).
fn stop_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    let (mut interrupt, mut terminate) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(interrupt), Ok(terminate)) => (interrupt, terminate),
        _ => {
            eprintln!("pool_modes: cannot handle signals; a kill leaves chromium behind");
            return stop;
        }
    };
    let fire = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("pool_modes: stopping: letting running tasks finish, then shutting down");
        fire.cancel();
    });
    stop
}
