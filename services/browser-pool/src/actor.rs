//! One actor per browser: the only owner of a `chromiumoxide::Browser` and of the contexts
//! and pages inside it. Callers talk to it through a [`BrowserHandle`].
//!
//! The actor keeps, per browser:
//! - one *shared* context per tenant and one *session* context per (tenant, affinity key),
//!   each with idle pages reused across tasks (least recently used contexts are evicted past
//!   a bound);
//! - whether each idle page of those is clean (reset eagerly to about:blank) or *parked*
//!   with its last task's document, to be cleaned when it is lent again (the deferred reset,
//!   see [`crate::page::park`] and [`ActorSettings::deferred_reset`]); a page parked for
//!   [`ActorSettings::freeze_after`] is frozen, and idle pages are lent newest first, so a
//!   busy pool reuses running pages and leaves the frozen ones at the bottom;
//! - a few *spare isolated* contexts, each with a page, created in the background so an
//!   isolated task does not pay for context + page creation on its path;
//! - the leases it handed out, so a periodic sweep can compare `Target.getTargets` with its
//!   own records and close orphans.
//!
//! A separate task polls chromiumoxide's `Handler`; it ignores messages chromiumoxide cannot
//! parse (Chromium 156 sends some) but treats any WebSocket or IO error as the browser's death.
//! Death cancels every lease at once, fails waiting acquires, and ends the actor, which then
//! reaps the whole process tree. The supervisor in [`crate::pool`] starts a replacement.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use chromiumoxide::{
    Browser, Page, cdp::browser_protocol::browser::BrowserContextId, error::CdpError,
    handler::HandlerConfig,
};
use futures::StreamExt;
use tokio::{
    sync::{mpsc, oneshot},
    task::{JoinHandle, JoinSet},
    time::{Instant, MissedTickBehavior, interval},
};
use tokio_util::sync::CancellationToken;

use crate::{
    browser_ops as ops,
    launcher::{ChromiumProcess, LaunchConfig, LaunchError},
    lease::{ContextKey, PageLease, PageState, Returned},
};

/// The chromiumoxide handler's `request_timeout`: how long it keeps a command with no answer
/// before failing it. Drover bounds every call itself (the actor's by `cdp_timeout`, a step's
/// by its deadline), so this is a backstop that must not cut a step short, as the actor's
/// 10 s `cdp_timeout` did when it was used here.
pub const COMMAND_CEILING: Duration = Duration::from_secs(300);

/// Settings for each browser's actor.
#[derive(Debug, Clone)]
pub struct ActorSettings {
    /// Idle pages kept open per browser for reuse.
    pub idle_pages: usize,
    /// Spare isolated contexts kept ready per browser.
    pub spare_isolated: usize,
    /// Shared and session contexts kept per browser (least recently used evicted).
    pub max_contexts: usize,
    /// Bound on each CDP call the actor makes.
    pub cdp_timeout: Duration,
    /// How often the browser is probed and its memory sampled.
    pub health_interval: Duration,
    /// How often targets are compared with the actor's records.
    pub sweep_interval: Duration,
    /// Shared and session pages are parked (frozen with their document) when returned and
    /// cleaned when lent again, mostly by the next task's own navigation, instead of being
    /// reset to about:blank at once: one document load per task instead of two. Off, every
    /// returned page is reset eagerly.
    pub deferred_reset: bool,
    /// How long a parked page stays shown and running before it is hidden and frozen (zero:
    /// at once). Freezing stops an idle document's timers and scripts but costs a suspend
    /// and a resume (see [`crate::page::freeze`]), which a page lent again within this time
    /// never pays.
    pub freeze_after: Duration,
    /// Every this many pages parked by this browser (0: never), the page being parked also
    /// gets a full JavaScript garbage collection. Chromium purges a renderer's memory when
    /// its pages freeze; pages a busy pool keeps lending never idle long enough to freeze,
    /// and without this their renderers' heaps grew: measured with pool_modes' soak (2,000
    /// tasks at concurrency 4), +21% with no collection, +2.7% and a third less memory with
    /// one every 16 parked pages, at no measurable cost in tasks per second.
    pub collect_garbage_every: u32,
}

impl Default for ActorSettings {
    fn default() -> Self {
        Self {
            idle_pages: 4,
            spare_isolated: 2,
            max_contexts: 32,
            cdp_timeout: Duration::from_secs(10),
            health_interval: Duration::from_secs(5),
            sweep_interval: Duration::from_secs(30),
            deferred_reset: true,
            freeze_after: Duration::from_secs(1),
            collect_garbage_every: 16,
        }
    }
}

/// Lifecycle of a browser, as status pages show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BrowserPhase {
    /// Serving.
    Ready = 1,
    /// Finishing its tasks before it is replaced.
    Draining = 2,
    /// Ended (crashed, recycled or shut down).
    Gone = 3,
}

/// Live counters of one browser, shared with the pool for placement, status and metrics.
#[derive(Debug)]
pub struct BrowserStats {
    /// The pool's id for this browser.
    pub id: u32,
    /// The browser process's pid.
    pub pid: u32,
    /// When it was launched.
    pub started_at: Instant,
    phase: AtomicU8,
    /// Leases out now.
    pub in_use: AtomicU32,
    /// Idle pages kept for reuse.
    pub idle_pages: AtomicU32,
    /// Contexts open (shared, session, isolated and spare).
    pub contexts: AtomicU32,
    /// Tasks that ran on it.
    pub tasks_served: AtomicU64,
    /// Memory of its process tree at the last sample.
    pub memory_bytes: AtomicU64,
}

impl BrowserStats {
    /// The current phase.
    pub fn phase(&self) -> BrowserPhase {
        match self.phase.load(Ordering::Relaxed) {
            1 => BrowserPhase::Ready,
            2 => BrowserPhase::Draining,
            _ => BrowserPhase::Gone,
        }
    }

    fn set_phase(&self, phase: BrowserPhase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }
}

/// Why a page could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    /// The browser takes no new work.
    #[error("browser is draining")]
    Draining,
    /// The browser died or was shut down.
    #[error("browser is gone: {0}")]
    Gone(String),
    /// Chromium refused or did not answer.
    #[error("cannot open a page: {0}")]
    Cdp(String),
}

/// Why an actor ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorExit {
    /// The browser died or stopped answering.
    Crashed(String),
    /// It was drained (recycling) and shut down.
    Drained,
    /// It was told to shut down.
    Shutdown,
}

enum Request {
    Acquire {
        key: ContextKey,
        reply: oneshot::Sender<Result<PageLease, AcquireError>>,
    },
    Drain,
    Shutdown,
}

/// The way to one browser's actor. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BrowserHandle {
    requests: mpsc::Sender<Request>,
    stats: Arc<BrowserStats>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Acquire { key, .. } => write!(f, "Acquire({key:?})"),
            Self::Drain => f.write_str("Drain"),
            Self::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl BrowserHandle {
    /// Launches a browser and starts its actor. The join handle yields why it ended.
    pub async fn launch(
        id: u32,
        launch: &LaunchConfig,
        settings: ActorSettings,
    ) -> Result<(Self, JoinHandle<ActorExit>), LaunchError> {
        let mut process = ChromiumProcess::launch(launch, &format!("b{id}")).await?;
        let config = HandlerConfig {
            viewport: None,
            request_timeout: COMMAND_CEILING,
            ..HandlerConfig::default()
        };
        let (browser, mut handler) =
            match Browser::connect_with_config(process.ws_url(), config).await {
                Ok(pair) => pair,
                Err(e) => {
                    process.shutdown_now().await;
                    return Err(LaunchError::NoEndpoint {
                        within: launch.launch_timeout,
                        last_words: format!("cannot connect to DevTools: {e}"),
                    });
                }
            };
        let gone = CancellationToken::new();
        let polling = tokio::spawn({
            let gone = gone.clone();
            let pid = process.pid();
            async move {
                while let Some(event) = handler.next().await {
                    if let Err(error) = event {
                        if is_fatal(&error) {
                            // Already cancelled: the actor is closing the browser on purpose.
                            if gone.is_cancelled() {
                                tracing::debug!(pid, %error, "browser connection closed");
                            } else {
                                tracing::warn!(pid, %error, "browser connection lost");
                            }
                            break;
                        }
                        tracing::debug!(pid, %error, "ignoring a CDP message chromiumoxide cannot use");
                    }
                }
                gone.cancel();
            }
        });
        // Chromium opens a tab at start; the pool never uses the default context, so close it
        // now rather than let it hold a renderer until the first orphan sweep.
        if let Ok(targets) = ops::page_targets(&browser, settings.cdp_timeout).await {
            for target in targets {
                let close =
                    chromiumoxide::cdp::browser_protocol::target::CloseTargetParams::new(target);
                let _ = ops::bounded(
                    settings.cdp_timeout,
                    "close the start tab",
                    browser.execute(close),
                )
                .await;
            }
        }
        let stats = Arc::new(BrowserStats {
            id,
            pid: u32::try_from(process.pid()).unwrap_or(0),
            started_at: Instant::now(),
            phase: AtomicU8::new(BrowserPhase::Ready as u8),
            in_use: AtomicU32::new(0),
            idle_pages: AtomicU32::new(0),
            contexts: AtomicU32::new(0),
            tasks_served: AtomicU64::new(0),
            memory_bytes: AtomicU64::new(0),
        });
        // Bounded: acquires beyond this wait at the pool, which bounds them itself.
        let (requests, inbox) = mpsc::channel(256);
        let (returns_tx, returns) = mpsc::unbounded_channel();
        let actor = Actor {
            browser: Arc::new(browser),
            process,
            polling,
            gone,
            settings,
            stats: Arc::clone(&stats),
            inbox,
            returns,
            returns_tx,
            contexts: HashMap::new(),
            spares: VecDeque::new(),
            spares_pending: 0,
            leases: HashMap::new(),
            next_lease: 0,
            pages_opening: 0,
            jobs: JoinSet::new(),
            draining: false,
            parked_since_collection: 0,
        };
        let task = tokio::spawn(actor.run());
        Ok((Self { requests, stats }, task))
    }

    /// This browser's counters.
    pub fn stats(&self) -> &Arc<BrowserStats> {
        &self.stats
    }

    /// A page in `key`'s context.
    pub async fn acquire(&self, key: ContextKey) -> Result<PageLease, AcquireError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Acquire { key, reply })
            .await
            .map_err(|_| AcquireError::Gone("actor ended".into()))?;
        answer
            .await
            .unwrap_or_else(|_| Err(AcquireError::Gone("actor ended".into())))
    }

    /// Stop taking work; shut down once every lease is back.
    pub fn drain(&self) {
        self.stats.set_phase(BrowserPhase::Draining);
        let _ = self.requests.try_send(Request::Drain);
    }

    /// Shut down now; leases still out see their browser gone.
    pub async fn shutdown(&self) {
        let _ = self.requests.send(Request::Shutdown).await;
    }
}

/// Errors after which the connection (and so the browser) is unusable.
fn is_fatal(error: &CdpError) -> bool {
    matches!(
        error,
        CdpError::Ws(_) | CdpError::Io(_) | CdpError::ChannelSendError(_) | CdpError::NoResponse
    )
}

type Reply = oneshot::Sender<Result<PageLease, AcquireError>>;

struct ContextEntry {
    /// `None` while the context is being created; acquires meanwhile wait in `waiting`.
    id: Option<BrowserContextId>,
    /// Acquires waiting for the context to exist or for a page being reset.
    waiting: Vec<Reply>,
    /// Returned pages being reset or parked; each will serve a waiting acquire or go idle.
    resetting: usize,
    idle: Vec<IdlePage>,
    /// Leases out plus pages being opened for it: an entry in use is never evicted.
    leased: usize,
    last_used: Instant,
}

/// A page kept for the context's next task.
struct IdlePage {
    page: Page,
    /// Clean, or parked with its last task's document (running or frozen): the next task
    /// cleans it.
    state: PageState,
    /// When it became idle in this state.
    since: Instant,
}

struct LeaseRecord {
    key: ContextKey,
    /// Set for isolated leases: the context is disposed on return.
    isolated_context: Option<BrowserContextId>,
}

enum JobDone {
    /// A page for a waiting acquire. For an isolated task `isolated_context` is its own
    /// context, disposed when the lease comes back.
    Opened {
        key: ContextKey,
        isolated_context: Option<BrowserContextId>,
        result: Result<Page, String>,
        reply: Reply,
    },
    /// A shared or session context was created (or failed to be).
    ContextCreated {
        key: ContextKey,
        result: Result<BrowserContextId, String>,
    },
    Spare(Result<(BrowserContextId, Page), String>),
    /// A returned page was reset, parked or frozen (`ok`) or failed to be (it is then
    /// closed).
    Reset {
        key: ContextKey,
        page: Page,
        ok: bool,
        /// What it holds now.
        state: PageState,
    },
    Tidied,
    Health(Result<u64, String>),
    Swept(Result<Vec<chromiumoxide::cdp::browser_protocol::target::TargetId>, String>),
}

struct Actor {
    browser: Arc<Browser>,
    process: ChromiumProcess,
    polling: JoinHandle<()>,
    gone: CancellationToken,
    settings: ActorSettings,
    stats: Arc<BrowserStats>,
    inbox: mpsc::Receiver<Request>,
    returns: mpsc::UnboundedReceiver<Returned>,
    returns_tx: mpsc::UnboundedSender<Returned>,
    contexts: HashMap<ContextKey, ContextEntry>,
    spares: VecDeque<(BrowserContextId, Page)>,
    spares_pending: usize,
    leases: HashMap<u64, LeaseRecord>,
    next_lease: u64,
    pages_opening: usize,
    jobs: JoinSet<JobDone>,
    draining: bool,
    /// Pages parked since one last had its garbage collected (see `collect_garbage_every`).
    parked_since_collection: u32,
}

mod returns;
mod run;
