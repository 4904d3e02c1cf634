//! Measuring: running a fixed number of tasks at a fixed concurrency ([`run_tasks`]), latency
//! percentiles, the memory of the pool's browsers, and chromium processes left behind.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use drover_api::Step;
use drover_browser_pool::{pool::BrowserPool, procfs};
use tokio::{task::JoinSet, time::Instant};
use tokio_util::sync::CancellationToken;

use super::modes::Runner;

/// How many distinct error messages a run keeps for printing.
const KEPT_ERRORS: usize = 3;

/// What one run of tasks measured.
#[derive(Debug, Default)]
pub struct Run {
    /// Tasks run (fewer than asked if the bench was stopped).
    pub tasks: usize,
    /// From the first task's start to the last task's end.
    pub wall: Duration,
    /// Latency of each successful task, sorted.
    pub latencies: Vec<Duration>,
    /// Failed tasks.
    pub errors: usize,
    /// A few distinct error messages.
    pub error_samples: Vec<String>,
}

impl Run {
    /// Successful tasks per second of wall time.
    pub fn tasks_per_s(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.latencies.len() as f64 / secs
        } else {
            0.0
        }
    }

    /// The `p`-th latency percentile (nearest rank), in milliseconds; 0 without successes.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let rank = (p / 100.0 * self.latencies.len() as f64).ceil() as usize;
        let at = rank.clamp(1, self.latencies.len()) - 1;
        self.latencies[at].as_secs_f64() * 1000.0
    }

    fn record_error(&mut self, error: String) {
        self.errors += 1;
        if self.error_samples.len() < KEPT_ERRORS && !self.error_samples.contains(&error) {
            self.error_samples.push(error);
        }
    }
}

/// Runs `tasks` tasks on `runner`, `concurrency` at a time: each of `concurrency` workers
/// takes the next task as soon as its previous one ends (a closed loop, no pacing). Once
/// `stop` fires, no new task starts; those running finish (each is bounded).
pub async fn run_tasks(
    runner: &Arc<Runner>,
    steps: &Arc<Vec<(u32, Step)>>,
    concurrency: usize,
    tasks: usize,
    stop: &CancellationToken,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (runner, steps, next) = (Arc::clone(runner), Arc::clone(steps), Arc::clone(&next));
        let stop = stop.clone();
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            while !stop.is_cancelled() && next.fetch_add(1, Ordering::Relaxed) < tasks {
                let began = Instant::now();
                let outcome = runner.run_task(&steps).await;
                outcomes.push(outcome.map(|()| began.elapsed()));
            }
            outcomes
        });
    }
    let mut run = Run::default();
    let mut lost_workers = 0;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(outcomes) => {
                for outcome in outcomes {
                    match outcome {
                        Ok(latency) => run.latencies.push(latency),
                        Err(e) => run.record_error(e),
                    }
                }
            }
            Err(e) => {
                lost_workers += 1;
                run.record_error(format!("worker failed: {e}"));
            }
        }
    }
    run.wall = started.elapsed();
    run.tasks = run.latencies.len() + run.errors;
    if lost_workers > 0 && !stop.is_cancelled() {
        // A failed worker leaves its tasks unaccounted for: count them as errors.
        let missing = tasks.saturating_sub(run.tasks);
        run.errors += missing;
        run.tasks = tasks;
    }
    run.latencies.sort();
    run
}

/// The pool's browsers (by pid) and the summed memory (PSS) of their process trees.
pub fn pool_memory(pool: &BrowserPool) -> (Vec<u32>, u64) {
    let mut pids: Vec<u32> = pool.browsers().iter().map(|b| b.stats().pid).collect();
    pids.sort_unstable();
    let bytes = pids
        .iter()
        .map(|&pid| procfs::tree_memory_bytes(pid as i32, pid as i32))
        .sum();
    (pids, bytes)
}

/// Processes named `chrom*` (chromium, chrome_crashpad…) whose parent is this process,
/// zombies included: what shutdown failed to kill or reap.
pub fn chromium_children() -> Vec<procfs::ProcStat> {
    let me = std::process::id() as i32;
    procfs::all_processes()
        .into_iter()
        .filter(|p| p.ppid == me)
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{}/comm", p.pid))
                .is_ok_and(|comm| comm.starts_with("chrom"))
        })
        .collect()
}

/// Mebibytes, for printing.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
