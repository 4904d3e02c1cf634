//! Measuring: running a fixed number of tasks at a fixed concurrency ([`run_tasks`]), latency
//! percentiles, the memory of the pool's browsers ([`pool_memory`]), and chromium processes left
//! behind.

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

    /// Adds a later run of the same series (the soak runs in parts between memory samples).
    pub fn absorb(&mut self, later: Run) {
        self.tasks += later.tasks;
        self.wall += later.wall;
        self.errors += later.errors;
        self.latencies.extend(later.latencies);
        self.latencies.sort();
        for error in later.error_samples {
            if self.error_samples.len() < KEPT_ERRORS && !self.error_samples.contains(&error) {
                self.error_samples.push(error);
            }
        }
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

/// The memory of the pool's browsers at one moment.
#[derive(Debug, Clone, Default)]
pub struct PoolMemory {
    /// The browsers' pids, sorted: the same list before and after means the same browsers.
    pub pids: Vec<u32>,
    /// Live processes in their trees.
    pub processes: usize,
    /// Summed PSS: shared pages split between every process on the machine that maps them,
    /// so other Chromiums running alongside lower it.
    pub pss: u64,
    /// Summed private (unshared) memory: what the trees alone hold, whatever else runs.
    pub private: u64,
}

/// Samples the pool's browsers' process trees (zombies left out).
pub fn pool_memory(pool: &BrowserPool) -> PoolMemory {
    let mut memory = PoolMemory {
        pids: pool.browsers().iter().map(|b| b.stats().pid).collect(),
        ..PoolMemory::default()
    };
    memory.pids.sort_unstable();
    for &pid in &memory.pids {
        let tree = procfs::process_tree(pid as i32, pid as i32);
        for process in tree.iter().filter(|p| p.state != 'Z') {
            if let Some((pss, private)) = rollup(process.pid) {
                memory.processes += 1;
                memory.pss += pss;
                memory.private += private;
            }
        }
    }
    memory
}

/// PSS and private bytes of one process, from `/proc/<pid>/smaps_rollup`.
fn rollup(pid: i32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Some((
        field("Pss:"),
        field("Private_Clean:") + field("Private_Dirty:"),
    ))
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
