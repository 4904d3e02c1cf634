//! What happens to a page a task gives back: a shared or session page is reset to
//! about:blank at once or, with [`ActorSettings::deferred_reset`], parked (overrides undone,
//! document kept) and recorded as needing a reset, and now and then its garbage collected;
//! a page still parked after [`ActorSettings::freeze_after`] is frozen by a periodic check.
//! An isolated page's context is disposed. Every parked, frozen or reset page then serves a
//! waiting acquire or goes back to the idle stack.

use std::sync::atomic::Ordering;

use super::*;
use crate::{metrics as m, page::Park};

/// How long resetting (or parking) a returned page may take before the page is replaced
/// instead.
const RESET_TIMEOUT: Duration = Duration::from_secs(5);

impl Actor {
    pub(super) fn take_back(&mut self, returned: Returned) {
        let Some(record) = self.leases.remove(&returned.lease_id) else {
            return;
        };
        self.stats.in_use.fetch_sub(1, Ordering::Relaxed);
        self.stats.tasks_served.fetch_add(1, Ordering::Relaxed);
        if let Some(context) = record.isolated_context {
            // Disposing the context closes its page and drops its cookies and storage.
            self.spawn_dispose(context);
            return;
        }
        self.unlease_entry(&record.key);
        let idle_total = self.stats.idle_pages.load(Ordering::Relaxed) as usize;
        let keep = returned.reusable && !self.draining && idle_total < self.settings.idle_pages;
        match self.contexts.get_mut(&record.key) {
            Some(entry) if keep => {
                // Off the task's path: the task has answered already, and a waiting acquire
                // for this context takes the page as soon as it is parked or clean.
                entry.resetting += 1;
                let key = record.key;
                let (page, overrides) = (returned.page, returned.overrides);
                // Eager resets do not count towards the next garbage collection.
                let park = self.settings.deferred_reset.then(|| self.park_kind());
                self.jobs.spawn(async move {
                    let deadline = Instant::now() + RESET_TIMEOUT;
                    if let Some(park) = park {
                        match crate::page::park(&page, overrides, park, deadline).await {
                            Ok(()) => {
                                metrics::counter!(m::RETURNED_PAGES, "then" => park.label())
                                    .increment(1);
                                let state = match park {
                                    Park::Freeze => PageState::Frozen,
                                    Park::Keep | Park::CollectGarbage => PageState::Parked,
                                };
                                return JobDone::Reset {
                                    key,
                                    page,
                                    ok: true,
                                    state,
                                };
                            }
                            Err(error) => {
                                tracing::debug!(%error, "cannot park a page; resetting it now");
                            }
                        }
                    }
                    // Overrides again: parking may have failed before undoing them all.
                    let ok = crate::page::reset(&page, overrides, deadline).await.is_ok();
                    let then = if ok { "reset" } else { "failed" };
                    metrics::counter!(m::RETURNED_PAGES, "then" => then).increment(1);
                    JobDone::Reset {
                        key,
                        page,
                        ok,
                        state: PageState::Clean,
                    }
                });
            }
            _ => self.spawn_close(returned.page),
        }
    }

    /// What parking a returned page does besides undoing its task's overrides.
    fn park_kind(&mut self) -> Park {
        if self.settings.freeze_after.is_zero() {
            return Park::Freeze; // which purges the renderer's memory anyway
        }
        let every = self.settings.collect_garbage_every;
        if every == 0 {
            return Park::Keep;
        }
        self.parked_since_collection += 1;
        if self.parked_since_collection < every {
            return Park::Keep;
        }
        self.parked_since_collection = 0;
        Park::CollectGarbage
    }

    pub(super) fn reset_done(&mut self, key: ContextKey, page: Page, ok: bool, state: PageState) {
        let Some(entry) = self.contexts.get_mut(&key) else {
            self.spawn_close(page);
            return;
        };
        entry.resetting = entry.resetting.saturating_sub(1);
        let waiter =
            (!entry.waiting.is_empty() && entry.id.is_some()).then(|| entry.waiting.remove(0));
        match (ok && !self.draining, waiter) {
            (true, Some(reply)) => self.deliver(key, Ok((page, state)), None, reply),
            (true, None) => {
                let idle = IdlePage {
                    page,
                    state,
                    since: Instant::now(),
                };
                // Lent newest first (`pop`), except that a frozen page goes to the bottom:
                // the running ones cost nothing to lend again.
                match state {
                    PageState::Frozen => entry.idle.insert(0, idle),
                    PageState::Clean | PageState::Parked => entry.idle.push(idle),
                }
                self.stats.idle_pages.fetch_add(1, Ordering::Relaxed);
            }
            (false, waiter) => {
                tracing::debug!("a page failed reset; replacing it");
                let context = entry.id.clone();
                self.spawn_close(page);
                if let (Some(reply), Some(context)) = (waiter, context) {
                    self.spawn_open_page(key, context, reply);
                }
            }
        }
    }

    /// Freezes the pages that have stayed parked (shown, running) for
    /// [`ActorSettings::freeze_after`]. Each is out of `idle` while it is frozen and counted
    /// as being reset, so an acquire meanwhile waits a moment for it rather than opening a
    /// new page.
    pub(super) fn freeze_idle(&mut self) {
        let Some(due) = Instant::now().checked_sub(self.settings.freeze_after) else {
            return;
        };
        let is_due = |idle: &IdlePage| idle.state == PageState::Parked && idle.since <= due;
        for (key, entry) in &mut self.contexts {
            if !entry.idle.iter().any(is_due) {
                continue;
            }
            let (freezing, keep) = std::mem::take(&mut entry.idle)
                .into_iter()
                .partition::<Vec<_>, _>(is_due);
            entry.idle = keep;
            entry.resetting += freezing.len();
            self.stats
                .idle_pages
                .fetch_sub(freezing.len() as u32, Ordering::Relaxed);
            for IdlePage { page, .. } in freezing {
                let key = key.clone();
                self.jobs.spawn(async move {
                    let deadline = Instant::now() + RESET_TIMEOUT;
                    let frozen = crate::page::freeze(&page, deadline).await;
                    if let Err(error) = &frozen {
                        tracing::debug!(%error, "cannot freeze a parked page; replacing it");
                    }
                    let outcome = if frozen.is_ok() { "ok" } else { "failed" };
                    metrics::counter!(m::IDLE_PAGES_FROZEN, "outcome" => outcome).increment(1);
                    JobDone::Reset {
                        key,
                        page,
                        ok: frozen.is_ok(),
                        state: PageState::Frozen,
                    }
                });
            }
        }
    }
}

/// How often parked pages are checked for freezing: often enough that none stays running
/// much past `freeze_after`, and at most a few times a second.
pub(super) fn freeze_check_period(freeze_after: Duration) -> Duration {
    (freeze_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
}
