//! The actor's loop: requests, returned pages, finished subtasks and timers, one at a time.
//! Nothing here waits on Chromium: CDP work runs as subtasks whose results come back as
//! [`JobDone`] messages.
//!
//! Returned pages are handled in `returns`; the lease that next takes a parked page carries
//! its state, and the task cleans the page (see [`crate::page::wake`]).

use std::sync::{Arc, atomic::Ordering};

use super::{returns::freeze_check_period, *};
use crate::page::Overrides;

impl Actor {
    pub(super) async fn run(mut self) -> ActorExit {
        let mut health = interval(self.settings.health_interval);
        health.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut sweep = interval(self.settings.sweep_interval);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        sweep.reset(); // the first sweep after one interval, not at once
        let mut freeze = interval(freeze_check_period(self.settings.freeze_after));
        freeze.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.refill_spares();
        let exit = loop {
            if self.draining && self.leases.is_empty() {
                break ActorExit::Drained;
            }
            // Biased, in this order: a page returned before the next acquire was sent must be
            // taken back first, or the acquire would open a new page while it is reset.
            tokio::select! {
                biased;
                () = self.gone.cancelled() => {
                    break ActorExit::Crashed("connection to the browser lost".into());
                }
                Some(returned) = self.returns.recv() => self.take_back(returned),
                Some(done) = self.jobs.join_next() => match done {
                    Ok(JobDone::Health(Err(why))) => break ActorExit::Crashed(why),
                    Ok(done) => self.finished(done),
                    Err(e) => tracing::error!(error = %e, "browser subtask failed"),
                },
                request = self.inbox.recv() => match request {
                    Some(Request::Acquire { key, reply }) => self.acquire(key, reply),
                    Some(Request::Drain) => self.draining = true,
                    Some(Request::Shutdown) | None => break ActorExit::Shutdown,
                },
                _ = health.tick() => self.check_health(),
                _ = sweep.tick() => self.start_sweep(),
                _ = freeze.tick() => self.freeze_idle(),
            }
        };
        self.stop(&exit).await;
        exit
    }

    fn lease_for(
        &mut self,
        key: ContextKey,
        page: Page,
        isolated_context: Option<BrowserContextId>,
        state: PageState,
    ) -> PageLease {
        self.next_lease += 1;
        let lease_id = self.next_lease;
        self.leases.insert(
            lease_id,
            LeaseRecord {
                key,
                isolated_context,
            },
        );
        self.stats.in_use.fetch_add(1, Ordering::Relaxed);
        PageLease {
            lease_id,
            page,
            browser_id: self.stats.id,
            gone: self.gone.child_token(),
            returns: self.returns_tx.clone(),
            reusable: true,
            overrides: Overrides::default(),
            state,
        }
    }

    fn acquire(&mut self, key: ContextKey, reply: Reply) {
        if self.draining {
            let _ = reply.send(Err(AcquireError::Draining));
            return;
        }
        if key == ContextKey::Isolated {
            match self.spares.pop_front() {
                Some((context, page)) => {
                    self.stats.contexts.fetch_sub(1, Ordering::Relaxed);
                    self.deliver(key, Ok((page, PageState::Clean)), Some(context), reply);
                    self.refill_spares();
                }
                None => self.spawn_open_isolated(reply),
            }
            return;
        }
        let entry = match self.contexts.get_mut(&key) {
            Some(entry) => entry,
            None => {
                self.evict_contexts();
                self.spawn_create_context(key.clone());
                self.contexts
                    .entry(key.clone())
                    .or_insert_with(|| ContextEntry {
                        id: None,
                        waiting: Vec::new(),
                        resetting: 0,
                        idle: Vec::new(),
                        leased: 0,
                        last_used: Instant::now(),
                    })
            }
        };
        entry.last_used = Instant::now();
        entry.leased += 1;
        match (&entry.id, entry.idle.pop()) {
            (_, Some(idle)) => {
                self.stats.idle_pages.fetch_sub(1, Ordering::Relaxed);
                self.deliver(key, Ok((idle.page, idle.state)), None, reply);
            }
            // A page of this context is being reset: it comes back in a few milliseconds,
            // sooner than a new page would open.
            (Some(_), None) if entry.resetting > entry.waiting.len() => entry.waiting.push(reply),
            (Some(context), None) => {
                let context = context.clone();
                self.spawn_open_page(key, context, reply);
            }
            (None, None) => entry.waiting.push(reply),
        }
    }

    /// Hands a page and what it holds (or the failure to get one) to an acquire.
    pub(super) fn deliver(
        &mut self,
        key: ContextKey,
        result: Result<(Page, PageState), String>,
        isolated_context: Option<BrowserContextId>,
        reply: Reply,
    ) {
        match result {
            Ok((page, state)) => {
                let lease = self.lease_for(key, page, isolated_context, state);
                // A caller that gave up meanwhile drops the lease, which returns the page.
                let _ = reply.send(Ok(lease));
            }
            Err(why) => {
                self.unlease_entry(&key);
                if let Some(context) = isolated_context {
                    self.spawn_dispose(context);
                }
                let _ = reply.send(Err(AcquireError::Cdp(why)));
            }
        }
    }

    pub(super) fn unlease_entry(&mut self, key: &ContextKey) {
        if let Some(entry) = self.contexts.get_mut(key) {
            entry.leased = entry.leased.saturating_sub(1);
        }
    }

    fn finished(&mut self, done: JobDone) {
        match done {
            JobDone::Opened {
                key,
                isolated_context,
                result,
                reply,
            } => {
                self.pages_opening -= 1;
                let fresh = result.map(|page| (page, PageState::Clean));
                self.deliver(key, fresh, isolated_context, reply);
            }
            JobDone::ContextCreated { key, result } => self.context_created(key, result),
            JobDone::Spare(result) => {
                self.spares_pending -= 1;
                match result {
                    Ok((context, page)) if !self.draining => {
                        self.stats.contexts.fetch_add(1, Ordering::Relaxed);
                        self.spares.push_back((context, page));
                    }
                    Ok((context, _page)) => self.spawn_dispose(context),
                    Err(why) => tracing::warn!(%why, "cannot prepare a spare isolated context"),
                }
            }
            JobDone::Reset {
                key,
                page,
                ok,
                state,
            } => self.reset_done(key, page, ok, state),
            JobDone::Tidied => {}
            JobDone::Health(Ok(memory)) => {
                self.stats.memory_bytes.store(memory, Ordering::Relaxed);
            }
            JobDone::Health(Err(_)) => {} // handled in the loop: it ends the actor
            JobDone::Swept(Ok(targets)) => self.close_orphans(targets),
            JobDone::Swept(Err(why)) => tracing::warn!(%why, "target sweep failed"),
        }
    }

    fn context_created(&mut self, key: ContextKey, result: Result<BrowserContextId, String>) {
        let Some(entry) = self.contexts.get_mut(&key) else {
            // Evicted while being created: nothing waits for it.
            if let Ok(context) = result {
                self.spawn_dispose(context);
            }
            return;
        };
        let waiting = std::mem::take(&mut entry.waiting);
        match result {
            Ok(context) => {
                entry.id = Some(context.clone());
                self.stats.contexts.fetch_add(1, Ordering::Relaxed);
                for reply in waiting {
                    self.spawn_open_page(key.clone(), context.clone(), reply);
                }
            }
            Err(why) => {
                self.contexts.remove(&key);
                for reply in waiting {
                    let _ = reply.send(Err(AcquireError::Cdp(why.clone())));
                }
            }
        }
    }

    /// Keeps shared and session contexts under their bound by disposing the least recently
    /// used ones that no task holds.
    fn evict_contexts(&mut self) {
        while self.contexts.len() >= self.settings.max_contexts {
            let victim = self
                .contexts
                .iter()
                .filter(|(_, e)| e.leased == 0 && e.id.is_some())
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            let Some(key) = victim else { break };
            if let Some(entry) = self.contexts.remove(&key) {
                self.stats
                    .idle_pages
                    .fetch_sub(entry.idle.len() as u32, Ordering::Relaxed);
                if let Some(context) = entry.id {
                    tracing::debug!(?key, "evicting a browser context");
                    self.spawn_dispose(context);
                }
            }
        }
    }

    fn refill_spares(&mut self) {
        while !self.draining
            && self.spares.len() + self.spares_pending < self.settings.spare_isolated
        {
            self.spares_pending += 1;
            let browser = Arc::clone(&self.browser);
            let limit = self.settings.cdp_timeout;
            self.jobs
                .spawn(async move { JobDone::Spare(ops::open_isolated(&browser, limit).await) });
        }
    }

    fn check_health(&mut self) {
        if self.process.has_exited() {
            self.gone.cancel();
            return;
        }
        let browser = Arc::clone(&self.browser);
        let limit = self.settings.cdp_timeout;
        let (pid, pgrp) = (self.process.pid(), self.process.pid());
        self.jobs.spawn(async move {
            let probed = ops::probe(&browser, limit).await;
            let memory =
                tokio::task::spawn_blocking(move || crate::procfs::tree_memory_bytes(pid, pgrp))
                    .await
                    .unwrap_or(0);
            JobDone::Health(probed.map(|()| memory))
        });
    }

    /// True while some page is in flight between records (being opened or reset): a sweep
    /// would take it for an orphan.
    fn pages_in_transit(&self) -> bool {
        self.pages_opening > 0
            || self.spares_pending > 0
            || self.contexts.values().any(|e| e.resetting > 0)
    }

    fn start_sweep(&mut self) {
        if self.pages_in_transit() {
            return; // not every page is in our records yet: sweep next time
        }
        let browser = Arc::clone(&self.browser);
        let limit = self.settings.cdp_timeout;
        self.jobs
            .spawn(async move { JobDone::Swept(ops::page_targets(&browser, limit).await) });
    }

    /// Closes page targets the actor has no record of (leaked by a failed close, or opened
    /// by a page's script with `window.open`).
    fn close_orphans(
        &mut self,
        targets: Vec<chromiumoxide::cdp::browser_protocol::target::TargetId>,
    ) {
        if self.pages_in_transit() || !self.leases.is_empty() {
            // Leased pages may have opened popups that belong to the running task.
            return;
        }
        let known: HashSet<_> = self
            .contexts
            .values()
            .flat_map(|e| e.idle.iter().map(|idle| &idle.page))
            .chain(self.spares.iter().map(|(_, p)| p))
            .map(|p| p.target_id().clone())
            .collect();
        let orphans: Vec<_> = targets.into_iter().filter(|t| !known.contains(t)).collect();
        if orphans.is_empty() {
            return;
        }
        tracing::info!(count = orphans.len(), "closing orphaned page targets");
        let browser = Arc::clone(&self.browser);
        let limit = self.settings.cdp_timeout;
        self.jobs.spawn(async move {
            for target in orphans {
                let close =
                    chromiumoxide::cdp::browser_protocol::target::CloseTargetParams::new(target);
                let _ = ops::bounded(limit, "close orphan", browser.execute(close)).await;
            }
            JobDone::Tidied
        });
    }

    fn spawn_open_isolated(&mut self, reply: Reply) {
        let browser = Arc::clone(&self.browser);
        let limit = self.settings.cdp_timeout;
        self.pages_opening += 1;
        self.jobs.spawn(async move {
            let (isolated_context, result) = match ops::open_isolated(&browser, limit).await {
                Ok((context, page)) => (Some(context), Ok(page)),
                Err(why) => (None, Err(why)),
            };
            JobDone::Opened {
                key: ContextKey::Isolated,
                isolated_context,
                result,
                reply,
            }
        });
    }

    pub(super) fn spawn_open_page(
        &mut self,
        key: ContextKey,
        context: BrowserContextId,
        reply: Reply,
    ) {
        let browser = Arc::clone(&self.browser);
        let limit = self.settings.cdp_timeout;
        self.pages_opening += 1;
        self.jobs.spawn(async move {
            let result = ops::open_page(&browser, &context, limit).await;
            JobDone::Opened {
                key,
                isolated_context: None,
                result,
                reply,
            }
        });
    }

    fn spawn_create_context(&mut self, key: ContextKey) {
        let browser = Arc::clone(&self.browser);
        let limit = self.settings.cdp_timeout;
        self.jobs.spawn(async move {
            JobDone::ContextCreated {
                key,
                result: ops::create_context(&browser, limit).await,
            }
        });
    }

    pub(super) fn spawn_close(&mut self, page: Page) {
        let browser = Arc::clone(&self.browser);
        let limit = self.settings.cdp_timeout;
        self.jobs.spawn(async move {
            ops::close_page_verified(&browser, page, limit).await;
            JobDone::Tidied
        });
    }

    pub(super) fn spawn_dispose(&mut self, context: BrowserContextId) {
        let browser = Arc::clone(&self.browser);
        let limit = self.settings.cdp_timeout;
        self.jobs.spawn(async move {
            if let Err(why) = ops::dispose_context(&browser, context, limit).await {
                tracing::warn!(%why, "cannot dispose a browser context");
            }
            JobDone::Tidied
        });
    }

    /// Ends the browser: every lease sees it gone, waiting acquires fail, the process tree is
    /// closed (gracefully when the browser still answers) and reaped.
    async fn stop(&mut self, exit: &ActorExit) {
        self.stats.set_phase(BrowserPhase::Gone);
        self.gone.cancel();
        let why = match exit {
            ActorExit::Crashed(why) => why.clone(),
            ActorExit::Drained => "browser recycled".into(),
            ActorExit::Shutdown => "browser shut down".into(),
        };
        for entry in self.contexts.values_mut() {
            for reply in entry.waiting.drain(..) {
                let _ = reply.send(Err(AcquireError::Gone(why.clone())));
            }
        }
        self.inbox.close();
        while let Ok(request) = self.inbox.try_recv() {
            if let Request::Acquire { reply, .. } = request {
                let _ = reply.send(Err(AcquireError::Gone(why.clone())));
            }
        }
        // Pending page opens hold their replies: aborting drops them, which callers see as
        // the actor ending.
        self.jobs.shutdown().await;
        if !matches!(exit, ActorExit::Crashed(_)) {
            // Let Chromium exit on its own first: it flushes and stops its helpers.
            let close = chromiumoxide::cdp::browser_protocol::browser::CloseParams::default();
            let _ = ops::bounded(
                Duration::from_secs(2),
                "close browser",
                self.browser.execute(close),
            )
            .await;
        }
        self.process.shutdown_now().await;
        self.polling.abort();
        self.stats
            .in_use
            .store(self.leases.len() as u32, Ordering::Relaxed);
        self.stats.idle_pages.store(0, Ordering::Relaxed);
        self.stats.contexts.store(0, Ordering::Relaxed);
        tracing::info!(browser = self.stats.id, ?exit, "browser ended");
    }
}
