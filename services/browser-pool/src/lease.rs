//! What a task holds while it runs: a page in the right browser context, borrowed from one
//! browser's actor. The lease goes back on drop, so a page is returned on success, failure,
//! panic and cancellation alike; if the browser dies meanwhile, [`PageLease::gone`] fires at
//! once so the task fails fast instead of waiting for CDP calls to time out.
//!
//! A lease also says whether its page was parked with the previous task's document (the
//! deferred reset, see [`crate::page::park`]): the task must then [`crate::page::wake`] it
//! before anything else.

use chromiumoxide::Page;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::page::Overrides;

/// Which browser context a task's page lives in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContextKey {
    /// The tenant's shared context: pooled pages, cookies shared only within the tenant.
    Shared {
        /// Owner.
        tenant: String,
    },
    /// A fresh context used by this task alone, disposed afterwards.
    Isolated,
    /// A persistent context for one tenant's affinity key.
    Session {
        /// Owner.
        tenant: String,
        /// The affinity key naming the session.
        key: String,
    },
}

/// A page handed back to its browser's actor.
#[derive(Debug)]
pub(crate) struct Returned {
    pub lease_id: u64,
    pub page: Page,
    /// False when the page must be closed rather than reused.
    pub reusable: bool,
    /// What the reset must undo before the page is reused.
    pub overrides: Overrides,
}

/// A page borrowed for one task.
#[derive(Debug)]
pub struct PageLease {
    pub(crate) lease_id: u64,
    pub(crate) page: Page,
    pub(crate) browser_id: u32,
    pub(crate) gone: CancellationToken,
    pub(crate) returns: mpsc::UnboundedSender<Returned>,
    pub(crate) reusable: bool,
    pub(crate) overrides: Overrides,
    pub(crate) state: PageState,
}

/// What a page holds when it is lent, and so what its task must do before its own steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Fresh, or reset to about:blank: ready as it is.
    Clean,
    /// Parked with the previous task's document, still shown and running: lent again before
    /// the actor froze it ([`crate::actor::ActorSettings::freeze_after`]).
    Parked,
    /// Parked with the previous task's document, hidden and frozen: it must be woken first.
    Frozen,
}

impl PageLease {
    /// The page.
    pub fn page(&self) -> &Page {
        &self.page
    }

    /// The browser the page belongs to.
    pub fn browser_id(&self) -> u32 {
        self.browser_id
    }

    /// Fires when the page's browser is gone (crashed, killed or shut down).
    pub fn gone(&self) -> &CancellationToken {
        &self.gone
    }

    /// True when the page still holds the previous task's document: the task must clean it
    /// with [`crate::page::wake`] (which also thaws a frozen page), and if that did not reset
    /// it, run its first step, a navigate, with [`crate::page::run_navigate_away`].
    pub fn needs_reset(&self) -> bool {
        self.state != PageState::Clean
    }

    /// What the page holds; see [`PageState`].
    pub fn state(&self) -> PageState {
        self.state
    }

    /// False once [`Self::discard`] was called.
    pub fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// Records overrides the task is about to set on the page (call *before* setting them),
    /// so the reset after it undoes them; a page's reset undoes only what was recorded.
    pub fn record_overrides(&mut self, overrides: Overrides) {
        self.overrides = self.overrides.merge(overrides);
    }

    /// Marks the page as not reusable (a step timed out, reset failed): it is closed on
    /// return instead of going back to the pool.
    pub fn discard(&mut self) {
        self.reusable = false;
    }
}

impl Drop for PageLease {
    fn drop(&mut self) {
        // Unbounded on purpose: at most one message per lease, and leases are bounded by the
        // pool's slots, so the channel cannot grow past that. (`Page` is a cheap handle.)
        let _ = self.returns.send(Returned {
            lease_id: self.lease_id,
            page: self.page.clone(),
            reusable: self.reusable,
            overrides: self.overrides,
        });
    }
}
