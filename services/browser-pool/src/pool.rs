//! The pool: a fixed number of warm browsers behind one bounded set of page slots.
//!
//! A task ([`TaskRun`]) flows like this: it waits (bounded, see [`PoolConfig::max_waiting`])
//! for one of `browsers × pages_per_browser` slots; a browser is picked (the one holding the
//! task's session, else the least loaded ready one); its actor lends a page in the task's
//! context ([`ContextKey`]); the page is prepared with the task's options, the steps run in
//! order with per-step deadlines, then the page is returned and its actor resets it. If the
//! browser dies mid-task, the lease's `gone` signal fails the task at once with a transient
//! error.
//!
//! With the deferred reset ([`ActorSettings::deferred_reset`], the default) the actor only
//! parks a returned shared or session page (and freezes it if it stays idle), and the task
//! that next leases it finishes the job: it wakes the page first and, when its own first step is a navigate, lets that
//! navigation replace the previous document (history forgotten before the second step);
//! otherwise it resets the page in full before preparing it. See [`crate::page::wake`].
//!
//! The supervisor (the private `supervisor` module) keeps the browsers alive: replaces dead ones with
//! jittered backoff, recycles them by task count, age or memory, and stops the pool taking
//! work while system memory is above its high watermark.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use drover_api::{
    Step, UrlPolicy,
    convert::BrowserJob,
    model::{
        browser::{BrowserOptions, Isolation},
        output::{PriorOutputs, StepOutput},
    },
};
use tokio::{
    sync::Semaphore,
    time::{Instant, timeout_at},
};
use tokio_util::sync::CancellationToken;

use crate::{
    actor::{AcquireError, ActorSettings, BrowserHandle, BrowserPhase},
    error::PoolError,
    launcher::LaunchConfig,
    lease::{ContextKey, PageLease},
    metrics as m,
    supervisor::Supervisor,
};

mod steps;

/// How the pool runs. Every field has a default suited to a 2-core, few-GiB machine.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Browsers kept running.
    pub browsers: usize,
    /// Tasks one browser runs at once.
    pub pages_per_browser: usize,
    /// Tasks allowed to wait for a slot; beyond this, RESOURCE_EXHAUSTED at once.
    pub max_waiting: usize,
    /// How to start Chromium.
    pub launch: LaunchConfig,
    /// Per-browser actor settings.
    pub actor: ActorSettings,
    /// Recycle a browser after this many tasks (0: never).
    pub max_tasks_per_browser: u64,
    /// Recycle a browser after this age.
    pub max_browser_age: Duration,
    /// Recycle a browser whose process tree uses more memory than this.
    pub max_browser_memory_bytes: u64,
    /// Above this share of system memory used, take no work and recycle the largest browser.
    pub memory_high_watermark: f64,
    /// Time limit for a task that names none.
    pub default_task_timeout: Duration,
    /// Largest output of one step.
    pub max_step_output_bytes: usize,
    /// Largest total output of one task.
    pub max_task_output_bytes: usize,
    /// Which URLs tasks may open.
    pub url_policy: UrlPolicy,
    /// First delay before relaunching a browser that keeps failing.
    pub relaunch_backoff_base: Duration,
    /// Largest delay between relaunches.
    pub relaunch_backoff_cap: Duration,
    /// How often the supervisor checks browsers and memory.
    pub supervise_interval: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            browsers: 2,
            pages_per_browser: 4,
            max_waiting: 256,
            launch: LaunchConfig::default(),
            actor: ActorSettings::default(),
            max_tasks_per_browser: 1000,
            max_browser_age: Duration::from_secs(3600),
            max_browser_memory_bytes: 1536 * 1024 * 1024,
            memory_high_watermark: 0.75,
            default_task_timeout: Duration::from_secs(300),
            max_step_output_bytes: 32 * 1024 * 1024,
            max_task_output_bytes: 64 * 1024 * 1024,
            url_policy: UrlPolicy::default(),
            relaunch_backoff_base: Duration::from_millis(250),
            relaunch_backoff_cap: Duration::from_secs(30),
            supervise_interval: Duration::from_millis(500),
        }
    }
}

/// One run of browser steps in one page session.
#[derive(Debug, Clone)]
pub struct TaskRun {
    /// Owner.
    pub tenant: String,
    /// Browser settings.
    pub browser: BrowserOptions,
    /// Session key (required for session isolation).
    pub affinity_key: Option<String>,
    /// The steps, each with its position in the task.
    pub steps: Vec<(u32, Step)>,
    /// Outputs of earlier steps that these may reference.
    pub prior: PriorOutputs,
    /// When the run must be done.
    pub deadline: Instant,
}

impl TaskRun {
    /// A direct job, with `default_timeout` when it names none.
    pub fn from_job(job: BrowserJob, default_timeout: Duration) -> Self {
        Self {
            tenant: job.tenant,
            browser: job.browser,
            affinity_key: job.affinity_key,
            steps: job
                .steps
                .into_iter()
                .enumerate()
                .map(|(i, s)| (i as u32, s))
                .collect(),
            prior: PriorOutputs::new(),
            deadline: Instant::now() + job.timeout.unwrap_or(default_timeout),
        }
    }

    fn context_key(&self) -> ContextKey {
        match self.browser.isolation {
            Isolation::Shared => ContextKey::Shared {
                tenant: self.tenant.clone(),
            },
            Isolation::Isolated => ContextKey::Isolated,
            Isolation::Session => ContextKey::Session {
                tenant: self.tenant.clone(),
                key: self.affinity_key.clone().unwrap_or_default(),
            },
        }
    }
}

/// Shared state of the pool, read by tasks and written by the supervisor.
pub(crate) struct PoolState {
    pub config: PoolConfig,
    pub browsers: Mutex<Vec<BrowserHandle>>,
    pub slots: Semaphore,
    pub waiting: AtomicUsize,
    pub running: AtomicUsize,
    pub draining: AtomicBool,
    pub memory_pressure: AtomicBool,
    /// Which browser holds which session (tenant, key); bounded by `MAX_SESSION_ROUTES`.
    pub session_routes: Mutex<HashMap<(String, String), u32>>,
    /// Fires when the drain's grace period is over: running tasks stop.
    pub abort: CancellationToken,
    /// Signalled whenever the supervisor adds a browser.
    pub browser_added: tokio::sync::Notify,
}

const MAX_SESSION_ROUTES: usize = 65_536;

impl PoolState {
    /// A snapshot of the browsers now.
    pub fn browsers(&self) -> Vec<BrowserHandle> {
        self.browsers.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// The browser pool. Cheap to clone.
#[derive(Clone)]
pub struct BrowserPool {
    state: Arc<PoolState>,
    supervisor: Arc<Supervisor>,
}

impl BrowserPool {
    /// Launches the browsers and starts supervising them. Fails if none can be launched.
    pub async fn start(config: PoolConfig) -> Result<Self, PoolError> {
        crate::launcher::become_subreaper();
        crate::launcher::sweep_stale_folders(&config.launch.profiles_root);
        let capacity = config.browsers * config.pages_per_browser;
        let state = Arc::new(PoolState {
            slots: Semaphore::new(capacity),
            config,
            browsers: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            memory_pressure: AtomicBool::new(false),
            session_routes: Mutex::new(HashMap::new()),
            abort: CancellationToken::new(),
            browser_added: tokio::sync::Notify::new(),
        });
        let supervisor = Supervisor::start(Arc::clone(&state)).await?;
        metrics::gauge!(m::CAPACITY).set(capacity as f64);
        Ok(Self {
            state,
            supervisor: Arc::new(supervisor),
        })
    }

    /// The pool's configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.state.config
    }

    /// Slots the pool offers now: 0 while draining or under memory pressure (a worker
    /// advertises this as its credit).
    pub fn available_capacity(&self) -> usize {
        if self.state.draining.load(Ordering::Relaxed)
            || self.state.memory_pressure.load(Ordering::Relaxed)
        {
            0
        } else {
            self.state.config.browsers * self.state.config.pages_per_browser
        }
    }

    /// The browsers now, for status pages.
    pub fn browsers(&self) -> Vec<BrowserHandle> {
        self.state.browsers()
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.state.running.load(Ordering::Relaxed)
    }

    /// True while the pool takes work.
    pub fn accepting(&self) -> bool {
        self.available_capacity() > 0
    }

    /// Runs a direct job.
    pub async fn run_job(&self, job: BrowserJob) -> Result<Vec<StepOutput>, PoolError> {
        self.run(TaskRun::from_job(
            job,
            self.state.config.default_task_timeout,
        ))
        .await
    }

    /// Runs browser steps in one page session and returns their outputs in order.
    pub async fn run(&self, task: TaskRun) -> Result<Vec<StepOutput>, PoolError> {
        self.run_reporting(task, &mut |_| {}).await
    }

    /// [`Self::run`], calling `on_step` with each step's output as soon as the step is done
    /// (the scheduler's worker streams them as progress).
    pub async fn run_reporting(
        &self,
        task: TaskRun,
        on_step: &mut (dyn FnMut(&StepOutput) + Send),
    ) -> Result<Vec<StepOutput>, PoolError> {
        let started = Instant::now();
        let result = self.run_inner(task, on_step).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome_label(),
        };
        metrics::histogram!(m::TASK_SECONDS, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn run_inner(
        &self,
        task: TaskRun,
        on_step: &mut (dyn FnMut(&StepOutput) + Send),
    ) -> Result<Vec<StepOutput>, PoolError> {
        let state = &self.state;
        if state.draining.load(Ordering::Relaxed) {
            return Err(PoolError::Draining);
        }
        if state.memory_pressure.load(Ordering::Relaxed) {
            return Err(PoolError::Overloaded {
                retry_after: Duration::from_secs(2),
            });
        }
        // In flight from admission: a drain waits for tasks still waiting for a page, too.
        let _running = RunningGuard::enter(&state.running);
        let waited = Instant::now();
        let permit = {
            let waiting = WaitingGuard::enter(&state.waiting, state.config.max_waiting)?;
            let permit = tokio::select! {
                permit = timeout_at(task.deadline, state.slots.acquire()) => permit,
                () = state.abort.cancelled() => return Err(PoolError::Cancelled { outputs: Vec::new() }),
            };
            drop(waiting);
            match permit {
                Ok(Ok(permit)) => permit,
                Ok(Err(_closed)) => {
                    return Err(PoolError::Cancelled {
                        outputs: Vec::new(),
                    });
                }
                Err(_elapsed) => {
                    return Err(PoolError::DeadlineExceeded {
                        waited: waited.elapsed(),
                    });
                }
            }
        };
        let (mut lease, thaw) = self.clean_lease(&task).await?;
        metrics::histogram!(m::ACQUIRE_WAIT).record(waited.elapsed().as_secs_f64());
        let result = self.run_steps(&task, &mut lease, thaw, on_step).await;
        // Returning the lease hands the page to its browser's actor, which resets and
        // verifies it off this task's path (or closes it if the task spoiled it).
        drop(lease);
        drop(permit);
        result
    }

    /// Borrows a page for the task, trying a second browser if the first is going away.
    async fn lease(&self, task: &TaskRun) -> Result<PageLease, PoolError> {
        let key = task.context_key();
        let mut last = PoolError::NoBrowser;
        for _ in 0..3 {
            let browser = match self.pick(&key) {
                Some(browser) => browser,
                // Every browser is being replaced (a crash, or recycling a single browser):
                // wait for the supervisor to add one, within the task's deadline.
                None => tokio::select! {
                    picked = timeout_at(task.deadline, self.wait_for_browser(&key)) => match picked {
                        Ok(browser) => browser,
                        Err(_elapsed) => return Err(last),
                    },
                    () = self.state.abort.cancelled() => return Err(PoolError::Cancelled { outputs: Vec::new() }),
                },
            };
            let acquired = tokio::select! {
                r = timeout_at(task.deadline, browser.acquire(key.clone())) => r,
                () = self.state.abort.cancelled() => return Err(PoolError::Cancelled { outputs: Vec::new() }),
            };
            match acquired {
                Ok(Ok(lease)) => {
                    if let ContextKey::Session { tenant, key } = &key {
                        self.route_session(tenant, key, lease.browser_id());
                    }
                    return Ok(lease);
                }
                Ok(Err(AcquireError::Draining | AcquireError::Gone(_))) => {
                    last = PoolError::NoBrowser
                }
                Ok(Err(AcquireError::Cdp(why))) => last = PoolError::BrowserFailed(why),
                Err(_elapsed) => {
                    return Err(PoolError::DeadlineExceeded {
                        waited: Duration::ZERO,
                    });
                }
            }
        }
        Err(last)
    }

    async fn wait_for_browser(&self, key: &ContextKey) -> BrowserHandle {
        loop {
            let added = self.state.browser_added.notified();
            if let Some(browser) = self.pick(key) {
                return browser;
            }
            added.await;
        }
    }

    /// The browser holding the task's session, else the least loaded ready browser.
    fn pick(&self, key: &ContextKey) -> Option<BrowserHandle> {
        let browsers = self.state.browsers.lock().ok()?;
        let ready = |b: &&BrowserHandle| b.stats().phase() == BrowserPhase::Ready;
        if let ContextKey::Session { tenant, key } = key {
            let routed = self
                .state
                .session_routes
                .lock()
                .ok()
                .and_then(|routes| routes.get(&(tenant.clone(), key.clone())).copied());
            if let Some(browser) =
                routed.and_then(|id| browsers.iter().filter(ready).find(|b| b.stats().id == id))
            {
                return Some(browser.clone());
            }
        }
        browsers
            .iter()
            .filter(ready)
            .min_by_key(|b| b.stats().in_use.load(Ordering::Relaxed))
            .cloned()
    }

    /// Affinity keys whose sessions this pool holds (any tenant), for the scheduler.
    pub fn session_keys(&self) -> Vec<String> {
        match self.state.session_routes.lock() {
            Ok(routes) => routes.keys().map(|(_, key)| key.clone()).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn route_session(&self, tenant: &str, key: &str, browser: u32) {
        if let Ok(mut routes) = self.state.session_routes.lock() {
            if routes.len() >= MAX_SESSION_ROUTES {
                // Forgetting routes only costs a session its cookies; memory stays bounded.
                routes.clear();
            }
            routes.insert((tenant.to_owned(), key.to_owned()), browser);
        }
    }

    /// Stops taking work, lets running tasks finish within `grace`, stops the rest, and shuts
    /// every browser down (their process trees reaped).
    pub async fn drain(&self, grace: Duration) {
        self.state.draining.store(true, Ordering::Relaxed);
        metrics::gauge!(m::CAPACITY).set(0.0);
        let until = Instant::now() + grace;
        while self.state.running.load(Ordering::Relaxed) > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.state.abort.cancel();
        self.state.slots.close();
        // Give stopped tasks a moment to return their pages before the browsers go.
        let settle = Instant::now() + Duration::from_secs(2);
        while self.state.running.load(Ordering::Relaxed) > 0 && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.supervisor.shutdown().await;
    }
}

/// Counts a task waiting for a slot; refuses it when too many already wait.
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn enter(waiting: &'a AtomicUsize, limit: usize) -> Result<Self, PoolError> {
        if waiting.fetch_add(1, Ordering::Relaxed) >= limit {
            waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(PoolError::QueueFull {
                retry_after: Duration::from_secs(1),
            });
        }
        Ok(Self(waiting))
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a running task, for drain and metrics.
struct RunningGuard<'a>(&'a AtomicUsize);

impl<'a> RunningGuard<'a> {
    fn enter(running: &'a AtomicUsize) -> Self {
        let now = running.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!(m::PAGES_IN_USE).set(now as f64);
        Self(running)
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        let now = self.0.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        metrics::gauge!(m::PAGES_IN_USE).set(now as f64);
    }
}
