//! The four ways the bench runs one task, and the task itself.
//!
//! Every mode runs the same steps through the same step code the pool uses
//! ([`page::prepare`] then [`page::run_step`] per step, with the pool's default options and URL
//! policy), so the modes differ only in where the page comes from and what happens to it after
//! the task:
//!
//! - [`Mode::Pooled`]: a [`BrowserPool`] lends a warm page and resets it afterwards, with
//!   the pool's default reset mode: deferred ([`ActorSettings::deferred_reset`]), so a
//!   returned page is parked frozen and the next task's navigate replaces its document;
//! - [`Mode::PagePerTask`]: one long-lived browser; a new page in its default context per
//!   task, closed afterwards;
//! - [`Mode::ContextPerTask`]: one long-lived browser; a new browser context and a page in
//!   it per task, the context disposed afterwards;
//! - [`Mode::BrowserPerTask`]: a Chromium launched, connected and given a page per task, and
//!   killed and reaped afterwards.
//!
//! The non-pooled modes drive their own `chromiumoxide::Browser`, connected to a
//! [`ChromiumProcess`] started by the pool's launcher (same binary, same switches).

use std::time::Duration;

use chromiumoxide::{
    Browser, Page,
    cdp::browser_protocol::{
        browser::BrowserContextId,
        target::{CreateBrowserContextParams, CreateTargetParams},
    },
    error::CdpError,
    handler::HandlerConfig,
};
use drover_api::{
    Step, StepKind, Template,
    model::{
        browser::{BrowserOptions, Extract, ExtractTarget, LoadState, Navigate},
        output::{OutputValue, PriorOutputs},
    },
};
use drover_browser_pool::{
    actor::ActorSettings,
    launcher::{ChromiumProcess, LaunchConfig},
    page::{self, StepEnv},
    pool::{BrowserPool, PoolConfig, TaskRun},
};
use futures::StreamExt;
use tokio::{task::JoinHandle, time::Instant};

use super::site::ROWS;

/// Time one task may take, steps included.
const TASK_LIMIT: Duration = Duration::from_secs(30);
/// Bound on each page, context or browser lifecycle call of the non-pooled modes.
const LIFECYCLE_LIMIT: Duration = Duration::from_secs(30);
/// Browsers in the pooled mode.
pub const POOL_BROWSERS: usize = 2;

/// How tasks get their page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A warm page from the pool.
    Pooled,
    /// A new page per task in one long-lived browser.
    PagePerTask,
    /// A new context + page per task in one long-lived browser.
    ContextPerTask,
    /// A new browser per task.
    BrowserPerTask,
}

impl Mode {
    /// Every mode, in the order the bench runs and prints them.
    pub const ALL: [Mode; 4] = [
        Mode::Pooled,
        Mode::PagePerTask,
        Mode::ContextPerTask,
        Mode::BrowserPerTask,
    ];

    /// The name printed in the table.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Pooled => "pooled",
            Mode::PagePerTask => "page-per-task",
            Mode::ContextPerTask => "context-per-task",
            Mode::BrowserPerTask => "browser-per-task",
        }
    }
}

/// The task: open the page (waiting for `load`), then read the text of every table row.
pub fn task_steps(url: &str) -> Vec<(u32, Step)> {
    let navigate = StepKind::Navigate(Navigate {
        url: Template::literal(url),
        wait_until: LoadState::Load,
        referer: None,
    });
    let extract = StepKind::Extract(Extract {
        selector: Template::literal("#items tr"),
        target: ExtractTarget::Text,
        all: true,
    });
    [("open", navigate), ("rows", extract)]
        .into_iter()
        .enumerate()
        .map(|(i, (name, kind))| {
            let step = Step {
                name: name.into(),
                timeout: None,
                kind,
            };
            (i as u32, step)
        })
        .collect()
}

/// The pooled mode's configuration: [`POOL_BROWSERS`] × `pages` slots, a warm page kept for
/// each slot, recycling after `max_tasks_per_browser` tasks (0: never); the rest, the
/// deferred reset included, as deployed.
pub fn pool_config(launch: &LaunchConfig, pages: usize, max_tasks_per_browser: u64) -> PoolConfig {
    PoolConfig {
        browsers: POOL_BROWSERS,
        pages_per_browser: pages,
        launch: launch.clone(),
        actor: ActorSettings {
            idle_pages: pages,
            ..ActorSettings::default()
        },
        max_tasks_per_browser,
        ..PoolConfig::default()
    }
}

/// What one mode needs to run tasks.
pub enum Runner {
    /// The pool.
    Pooled(BrowserPool),
    /// One browser, a page per task.
    PagePerTask(LabBrowser),
    /// One browser, a context per task.
    ContextPerTask(LabBrowser),
    /// Launches a browser per task.
    BrowserPerTask(LaunchConfig),
}

impl Runner {
    /// Starts what `mode` keeps running between tasks.
    pub async fn start(mode: Mode, launch: &LaunchConfig, pages: usize) -> Result<Runner, String> {
        Ok(match mode {
            Mode::Pooled => Runner::Pooled(
                BrowserPool::start(pool_config(
                    launch,
                    pages,
                    PoolConfig::default().max_tasks_per_browser,
                ))
                .await
                .map_err(|e| format!("cannot start the pool: {e}"))?,
            ),
            Mode::PagePerTask => Runner::PagePerTask(LabBrowser::launch(launch, "page").await?),
            Mode::ContextPerTask => {
                Runner::ContextPerTask(LabBrowser::launch(launch, "ctx").await?)
            }
            Mode::BrowserPerTask => Runner::BrowserPerTask(launch.clone()),
        })
    }

    /// Runs the task once; `Err` says what went wrong.
    pub async fn run_task(&self, steps: &[(u32, Step)]) -> Result<(), String> {
        match self {
            Runner::Pooled(pool) => run_pooled(pool, steps).await,
            Runner::PagePerTask(lab) => {
                let page = lab.open_page(None).await?;
                let outcome = run_on_page(&page, steps).await;
                let closed = bounded("close page", page.close()).await;
                outcome.and(closed)
            }
            Runner::ContextPerTask(lab) => {
                let params = CreateBrowserContextParams::default();
                let context =
                    bounded("create context", lab.browser.create_browser_context(params)).await?;
                let outcome = match lab.open_page(Some(context.clone())).await {
                    Ok(page) => run_on_page(&page, steps).await,
                    Err(e) => Err(e),
                };
                // Disposing the context closes its page.
                let disposed = bounded(
                    "dispose context",
                    lab.browser.dispose_browser_context(context),
                )
                .await;
                outcome.and(disposed)
            }
            Runner::BrowserPerTask(launch) => {
                let lab = LabBrowser::launch(launch, "task").await?;
                let outcome = match lab.open_page(None).await {
                    Ok(page) => run_on_page(&page, steps).await,
                    Err(e) => Err(e),
                };
                lab.shutdown().await;
                outcome
            }
        }
    }

    /// Shuts down what the mode kept running (every process tree reaped).
    pub async fn stop(self) {
        match self {
            Runner::Pooled(pool) => pool.drain(Duration::from_secs(10)).await,
            Runner::PagePerTask(lab) | Runner::ContextPerTask(lab) => lab.shutdown().await,
            Runner::BrowserPerTask(_) => {}
        }
    }
}

async fn run_pooled(pool: &BrowserPool, steps: &[(u32, Step)]) -> Result<(), String> {
    let task = TaskRun {
        tenant: "bench".into(),
        browser: BrowserOptions::default(),
        affinity_key: None,
        steps: steps.to_vec(),
        prior: PriorOutputs::new(),
        deadline: Instant::now() + TASK_LIMIT,
    };
    let outputs = pool.run(task).await.map_err(|e| e.to_string())?;
    check_rows(outputs.into_iter().last().map(|o| o.value))
}

/// What the pool does with a leased page, minus the lease: prepare, then each step in order.
async fn run_on_page(page: &Page, steps: &[(u32, Step)]) -> Result<(), String> {
    let defaults = PoolConfig::default();
    let deadline = Instant::now() + TASK_LIMIT;
    let _policy = page::prepare(page, &BrowserOptions::default(), deadline)
        .await
        .map_err(|e| format!("prepare: {e}"))?;
    let mut prior = PriorOutputs::new();
    let mut last = None;
    for (_, step) in steps {
        let env = StepEnv {
            page,
            deadline,
            url_policy: &defaults.url_policy,
            max_output_bytes: defaults.max_step_output_bytes,
        };
        let value = page::run_step(&env, &step.kind, &prior)
            .await
            .map_err(|e| format!("step {}: {e}", step.name))?;
        prior.insert(step.name.clone(), value.clone());
        last = Some(value);
    }
    check_rows(last)
}

/// The task succeeded only if it read the header row and every data row.
fn check_rows(last: Option<OutputValue>) -> Result<(), String> {
    match last {
        Some(OutputValue::Extract(rows)) if rows.len() == ROWS + 1 => Ok(()),
        Some(OutputValue::Extract(rows)) => Err(format!(
            "extracted {} rows, expected {}",
            rows.len(),
            ROWS + 1
        )),
        other => Err(format!("unexpected last output: {other:?}")),
    }
}

/// A Chromium started by the pool's launcher and driven directly through chromiumoxide.
pub struct LabBrowser {
    browser: Browser,
    process: ChromiumProcess,
    handler: JoinHandle<()>,
}

impl LabBrowser {
    /// Launches Chromium and connects to it.
    pub async fn launch(launch: &LaunchConfig, label: &str) -> Result<LabBrowser, String> {
        let mut process = ChromiumProcess::launch(launch, label)
            .await
            .map_err(|e| format!("launch: {e}"))?;
        // No viewport override, as in the pool, so pages look the same in every mode.
        let config = HandlerConfig {
            viewport: None,
            ..HandlerConfig::default()
        };
        let connected = bounded(
            "connect",
            Browser::connect_with_config(process.ws_url(), config),
        )
        .await;
        let (browser, mut handler) = match connected {
            Ok(pair) => pair,
            Err(e) => {
                process.shutdown_now().await;
                return Err(e);
            }
        };
        // Keep polling through messages chromiumoxide cannot parse; stop when the
        // connection itself is gone.
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(
                    CdpError::Ws(_)
                    | CdpError::Io(_)
                    | CdpError::ChannelSendError(_)
                    | CdpError::NoResponse,
                ) = event
                {
                    break;
                }
            }
        });
        Ok(LabBrowser {
            browser,
            process,
            handler,
        })
    }

    /// The browser's product string, e.g. `Chrome/156.0.0.0`.
    pub async fn product(&self) -> Option<String> {
        bounded("version", self.browser.version())
            .await
            .ok()
            .map(|v| v.product)
    }

    /// Opens a blank page, in `context` or the default one.
    async fn open_page(&self, context: Option<BrowserContextId>) -> Result<Page, String> {
        let mut params = CreateTargetParams::new("about:blank");
        params.browser_context_id = context;
        bounded("open page", self.browser.new_page(params)).await
    }

    /// Kills and reaps the whole process tree and removes its folder.
    pub async fn shutdown(mut self) {
        self.handler.abort();
        self.process.shutdown_now().await;
    }
}

/// Bounds a lifecycle call, flattening its error into text.
async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(LIFECYCLE_LIMIT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {LIFECYCLE_LIMIT:?}")),
    }
}
