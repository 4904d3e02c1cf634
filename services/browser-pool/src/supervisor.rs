//! Keeps the pool's browsers alive and healthy.
//!
//! - A browser that ends (crash, hang, kill) is removed at once and replaced; a browser that
//!   keeps dying is relaunched with jittered exponential backoff instead of in a tight loop.
//! - A browser is *recycled* (drained while the others serve, then replaced) after
//!   `max_tasks_per_browser` tasks, after `max_browser_age`, or when its process tree uses
//!   more than `max_browser_memory_bytes`.
//! - Above `memory_high_watermark` of system memory the pool takes no new work (its capacity
//!   reads 0) and the largest browser is recycled; it takes work again below the watermark
//!   minus a small margin, so it does not flap.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

use drover_resilience::{Backoff, BackoffPolicy, Jitter};
use tokio::{
    task::{JoinHandle, JoinSet},
    time::{Instant, MissedTickBehavior, interval, sleep_until},
};
use tokio_util::sync::CancellationToken;

use crate::{
    actor::{ActorExit, BrowserHandle, BrowserPhase},
    error::PoolError,
    launcher::LaunchError,
    metrics as m,
    pool::PoolState,
};

/// Below the watermark by this much before the pool takes work again.
const PRESSURE_HYSTERESIS: f64 = 0.05;
/// A browser that lived this long before crashing resets the relaunch backoff.
const STABLE_UPTIME: Duration = Duration::from_secs(30);

type Launched = (
    u32,
    Result<(BrowserHandle, JoinHandle<ActorExit>), LaunchError>,
);

pub(crate) struct Supervisor {
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Supervisor {
    /// Launches the configured browsers, then supervises them in the background. Fails only if
    /// not one browser starts.
    pub async fn start(state: Arc<PoolState>) -> Result<Self, PoolError> {
        let mut looper = Loop {
            state: Arc::clone(&state),
            exits: JoinSet::new(),
            launching: JoinSet::new(),
            next_id: 0,
            failures: 0,
            next_launch_at: Instant::now(),
            relaunch_delays: relaunch_delays(&state.config),
            recycle_reasons: HashMap::new(),
            uptime: HashMap::new(),
        };
        for _ in 0..state.config.browsers {
            looper.launch();
        }
        let mut first_error = None;
        while let Some(done) = looper.launching.join_next().await {
            if let Ok((id, result)) = done
                && let Err(e) = looper.launched(id, result)
            {
                first_error.get_or_insert(e);
            }
        }
        if state.browsers.lock().map_or(true, |b| b.is_empty()) {
            return Err(PoolError::Launch(
                first_error.map_or_else(|| "no browser started".into(), |e| e.to_string()),
            ));
        }
        let stop = CancellationToken::new();
        let task = tokio::spawn(looper.run(stop.clone()));
        Ok(Self {
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Stops supervising and shuts every browser down, waiting until each is reaped.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct Loop {
    state: Arc<PoolState>,
    exits: JoinSet<(u32, ActorExit)>,
    launching: JoinSet<Launched>,
    next_id: u32,
    failures: u32,
    next_launch_at: Instant,
    /// Delays between relaunches while browsers keep failing; renewed once one is stable.
    relaunch_delays: Backoff,
    recycle_reasons: HashMap<u32, &'static str>,
    uptime: HashMap<u32, Instant>,
}

impl Loop {
    async fn run(mut self, stop: CancellationToken) {
        let mut tick = interval(self.state.config.supervise_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                Some(Ok((id, exit))) = self.exits.join_next() => {
                    self.ended(id, exit);
                    self.supervise();
                }
                Some(Ok((id, result))) = self.launching.join_next() => {
                    let _ = self.launched(id, result);
                }
                _ = tick.tick() => self.supervise(),
                () = sleep_until(self.next_launch_at), if self.missing() > 0 => self.supervise(),
            }
        }
        self.shutdown_all().await;
    }

    /// Browsers short of the configured number (ready or being launched).
    fn missing(&self) -> usize {
        if self.state.draining.load(Ordering::Relaxed) {
            return 0;
        }
        let ready = self.state.browsers.lock().map_or(0, |browsers| {
            browsers
                .iter()
                .filter(|b| b.stats().phase() == BrowserPhase::Ready)
                .count()
        });
        self.state
            .config
            .browsers
            .saturating_sub(ready + self.launching.len())
    }

    fn launch(&mut self) {
        self.next_id += 1;
        let id = self.next_id;
        let launch = self.state.config.launch.clone();
        let settings = self.state.config.actor.clone();
        self.launching
            .spawn(async move { (id, BrowserHandle::launch(id, &launch, settings).await) });
    }

    fn launched(
        &mut self,
        id: u32,
        result: Result<(BrowserHandle, JoinHandle<ActorExit>), LaunchError>,
    ) -> Result<(), LaunchError> {
        match result {
            Ok((handle, actor)) => {
                metrics::counter!(m::BROWSERS_LAUNCHED).increment(1);
                self.uptime.insert(id, Instant::now());
                self.exits.spawn(async move {
                    (
                        id,
                        actor
                            .await
                            .unwrap_or_else(|e| ActorExit::Crashed(format!("actor panicked: {e}"))),
                    )
                });
                if let Ok(mut browsers) = self.state.browsers.lock() {
                    browsers.push(handle);
                }
                self.state.browser_added.notify_waiters();
                Ok(())
            }
            Err(e) => {
                tracing::error!(browser = id, error = %e, "browser launch failed");
                self.back_off();
                Err(e)
            }
        }
    }

    fn back_off(&mut self) {
        self.failures = self.failures.saturating_add(1);
        let delay = self
            .relaunch_delays
            .next()
            .unwrap_or(self.state.config.relaunch_backoff_cap);
        self.next_launch_at = Instant::now() + delay;
        tracing::warn!(
            failures = self.failures,
            ?delay,
            "delaying the next browser launch"
        );
    }

    fn ended(&mut self, id: u32, exit: ActorExit) {
        if let Ok(mut browsers) = self.state.browsers.lock() {
            browsers.retain(|b| b.stats().id != id);
        }
        metrics::gauge!(m::BROWSER_MEMORY, "browser" => id.to_string()).set(0.0);
        let started = self.uptime.remove(&id);
        let reason = match &exit {
            ActorExit::Crashed(why) => {
                tracing::warn!(browser = id, %why, "browser crashed; replacing it");
                if started.is_some_and(|at| at.elapsed() >= STABLE_UPTIME) {
                    self.failures = 0;
                    self.relaunch_delays = relaunch_delays(&self.state.config);
                }
                self.back_off_if_failing();
                "crashed"
            }
            ActorExit::Drained => self.recycle_reasons.remove(&id).unwrap_or("recycled"),
            ActorExit::Shutdown => "shutdown",
        };
        metrics::counter!(m::BROWSERS_ENDED, "reason" => reason).increment(1);
    }

    /// The first crash is replaced at once; repeated ones back off.
    fn back_off_if_failing(&mut self) {
        if self.failures > 0 {
            self.back_off();
        } else {
            self.failures = 1;
        }
    }

    fn supervise(&mut self) {
        let state = Arc::clone(&self.state);
        let config = &state.config;
        let browsers = self.state.browsers();
        for browser in &browsers {
            let stats = browser.stats();
            metrics::gauge!(m::BROWSER_MEMORY, "browser" => stats.id.to_string())
                .set(stats.memory_bytes.load(Ordering::Relaxed) as f64);
        }
        self.watch_memory(&browsers);
        for browser in browsers
            .iter()
            .filter(|b| b.stats().phase() == BrowserPhase::Ready)
        {
            let stats = browser.stats();
            let reason = if config.max_tasks_per_browser > 0
                && stats.tasks_served.load(Ordering::Relaxed) >= config.max_tasks_per_browser
            {
                Some("tasks")
            } else if stats.started_at.elapsed() >= config.max_browser_age {
                Some("age")
            } else if stats.memory_bytes.load(Ordering::Relaxed) >= config.max_browser_memory_bytes
            {
                Some("memory")
            } else {
                None
            };
            if let Some(reason) = reason {
                self.recycle(browser, reason);
            }
        }
        if Instant::now() >= self.next_launch_at {
            for _ in 0..self.missing() {
                self.launch();
            }
        }
    }

    fn watch_memory(&mut self, browsers: &[BrowserHandle]) {
        let Some(used) = crate::procfs::memory_used_ratio() else {
            return;
        };
        metrics::gauge!(m::SYSTEM_MEMORY).set(used);
        let watermark = self.state.config.memory_high_watermark;
        let pressure = &self.state.memory_pressure;
        let was = pressure.load(Ordering::Relaxed);
        let now = if was {
            used >= watermark - PRESSURE_HYSTERESIS
        } else {
            used >= watermark
        };
        pressure.store(now, Ordering::Relaxed);
        if now != was {
            tracing::warn!(
                used,
                watermark,
                pressure = now,
                "system memory pressure changed"
            );
            let capacity = if now {
                0
            } else {
                self.state.config.browsers * self.state.config.pages_per_browser
            };
            metrics::gauge!(m::CAPACITY).set(capacity as f64);
        }
        let draining = browsers
            .iter()
            .any(|b| b.stats().phase() == BrowserPhase::Draining);
        if now && !draining {
            let largest = browsers
                .iter()
                .filter(|b| b.stats().phase() == BrowserPhase::Ready)
                .max_by_key(|b| b.stats().memory_bytes.load(Ordering::Relaxed));
            if let Some(largest) = largest {
                self.recycle(largest, "memory_pressure");
            }
        }
    }

    fn recycle(&mut self, browser: &BrowserHandle, reason: &'static str) {
        let id = browser.stats().id;
        tracing::info!(browser = id, reason, "recycling browser");
        self.recycle_reasons.insert(id, reason);
        browser.drain();
    }

    async fn shutdown_all(&mut self) {
        // Launches under way finish (bounded by the launch timeout) so none is left running.
        while let Some(done) = self.launching.join_next().await {
            if let Ok((id, result)) = done {
                let _ = self.launched(id, result);
            }
        }
        let browsers = self.state.browsers();
        for browser in &browsers {
            browser.shutdown().await;
        }
        while let Some(done) = self.exits.join_next().await {
            if let Ok((id, exit)) = done {
                self.ended(id, exit);
            }
        }
    }
}

/// Full-jitter exponential delays, the same discipline as every retry in Drover.
fn relaunch_delays(config: &crate::pool::PoolConfig) -> Backoff {
    BackoffPolicy::new(config.relaunch_backoff_base, config.relaunch_backoff_cap)
        .jitter(Jitter::Full)
        .delays()
}
