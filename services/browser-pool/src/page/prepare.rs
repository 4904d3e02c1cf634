//! Per-task page preparation ([`prepare`]) and the reset between tasks ([`reset`]).
//!
//! `prepare` applies a task's [`BrowserOptions`] that live on the page: viewport, user
//! agent, request blocking. [`Overrides::of`] names which of them a task's options touch;
//! the lease records that *before* `prepare` runs (so a prepare that fails halfway is still
//! undone in full) and hands it back with the page. `reset` undoes exactly those, leaves the
//! page on an empty `about:blank` and verifies that it did; the pool closes and replaces a
//! page whose reset fails. What lives in the browser context (cookies, storage) is the pool's
//! concern, by isolation level. With the deferred reset (the `handover` module) a returned
//! page is parked instead, and `reset` runs only when the page's next task does not begin
//! with a navigate, or when parking fails; [`undo_overrides`] and [`forget_history`] are
//! shared with it.
//!
//! Nothing but `prepare` sets these overrides on a pooled page (steps only evaluate script,
//! which cannot reach CDP emulation, and capture without emulation), so a page whose tasks
//! asked for none needs no undo: the default task's reset is one navigation and two calls.
//!
//! The baseline `reset` returns to is "no emulation override": launch browsers without
//! chromiumoxide's default viewport (`BrowserConfig::builder().viewport(None)`), so a fresh
//! page and a reset page look the same.

use std::sync::Arc;

use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        emulation::{ClearDeviceMetricsOverrideParams, SetDeviceMetricsOverrideParams},
        fetch,
        network::SetUserAgentOverrideParams,
        page::{EventFrameNavigated, ResetNavigationHistoryParams},
    },
};
use drover_api::model::browser::{BrowserOptions, LoadState};
use futures::StreamExt;
use tokio::time::Instant;

use super::{clock::Clock, js, navigate, requests::RequestPolicy};
use crate::error::StepError;

/// Which page-level overrides a task may have left on its page, so that [`reset`] undoes
/// those and skips the rest. Combine with [`Overrides::merge`]; the default is "none".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    viewport: bool,
    user_agent: bool,
    requests: bool,
}

impl Overrides {
    /// Every override: for a page whose history is unknown.
    pub const ALL: Self = Self {
        viewport: true,
        user_agent: true,
        requests: true,
    };

    /// What [`prepare`] may set for `options` (whether or not it gets that far).
    pub fn of(options: &BrowserOptions) -> Self {
        Self {
            viewport: options.viewport.is_some(),
            user_agent: options.user_agent.is_some(),
            requests: !options.block_resources.is_empty() || options.block_third_party,
        }
    }

    /// Both sets together.
    #[must_use]
    pub fn merge(self, other: Self) -> Self {
        Self {
            viewport: self.viewport || other.viewport,
            user_agent: self.user_agent || other.user_agent,
            requests: self.requests || other.requests,
        }
    }

    /// True when nothing needs undoing.
    pub fn is_empty(self) -> bool {
        self == Self::default()
    }
}

/// Whether [`prepare`] has anything to do for `options`.
pub fn needs_prepare(options: &BrowserOptions) -> bool {
    options.viewport.is_some()
        || options.user_agent.is_some()
        || !options.block_resources.is_empty()
        || options.block_third_party
}

/// Applies a task's page-level options. The returned guard keeps request blocking alive;
/// end or drop it when the task is done (before [`reset`], which must be told
/// [`Overrides::of`] the same options).
pub async fn prepare(
    page: &Page,
    options: &BrowserOptions,
    deadline: Instant,
) -> Result<Option<RequestPolicy>, StepError> {
    let clock = Clock::new(deadline);
    if let Some(viewport) = options.viewport {
        let metrics = SetDeviceMetricsOverrideParams::new(
            i64::from(viewport.width),
            i64::from(viewport.height),
            1.0,
            false,
        );
        clock.cdp(page.execute(metrics)).await?;
    }
    if let Some(user_agent) = &options.user_agent {
        clock
            .cdp(page.execute(SetUserAgentOverrideParams::new(user_agent.clone())))
            .await?;
    }
    RequestPolicy::start(page, options, &clock).await
}

/// How long a page may take to leave its document by script before reset falls back to a
/// browser-initiated navigation.
const LEAVE_BY_SCRIPT: std::time::Duration = std::time::Duration::from_secs(1);

/// Leaves the task's document with a *page-initiated* navigation to about:blank, which
/// inherits the page's origin and so stays in the page's renderer process. A browser-initiated
/// one (CDP `Page.navigate`) gets an opaque origin, and site isolation moves it to a new
/// renderer process: measured here at ~80 ms, plus ~20 ms more on the next task's navigation
/// to move back — more than opening a new page. The inherited origin exposes nothing: a shared
/// page's context belongs to one tenant, and the next task navigates away anyway.
///
/// Waits for the main frame's `Page.frameNavigated` to about:blank (subscribed before the
/// script runs, so it cannot be missed) rather than polling `location.href`: one event instead
/// of a stream of round trips competing with the next task for the CPU.
/// Returns false when the page did not leave in time (a busy script, an unload trick).
async fn leave_by_script(page: &Page, deadline: Instant) -> bool {
    let window = Clock::new(deadline.min(Instant::now() + LEAVE_BY_SCRIPT));
    let Ok(mut navigated) = window
        .cdp(page.event_listener::<EventFrameNavigated>())
        .await
    else {
        return false;
    };
    // The reply may be lost when the navigation destroys the context: that is success too.
    let _ = js::value(page, &window, "location.replace('about:blank')").await;
    let blank = |ev: &Arc<EventFrameNavigated>| {
        ev.frame.parent_id.is_none() && ev.frame.url == "about:blank"
    };
    window
        .bound(async {
            while let Some(ev) = navigated.next().await {
                if blank(&ev) {
                    return Ok(());
                }
            }
            Err(StepError::BrowserGone("the page's target went away".into()))
        })
        .await
        .is_ok()
}

/// Pause before asking again to forget the history of a page whose navigation the browser
/// has not finished committing.
const COMMIT_PENDING_RETRY: std::time::Duration = std::time::Duration::from_millis(2);

/// `Page.resetNavigationHistory`, once the browser has committed the navigation away. The
/// renderer announces the new document (`frameNavigated`) before the browser process has made
/// it the page's active frame, and in that short window the browser refuses with "Not
/// attached to an active page": ask again until the clock runs out.
pub(super) async fn forget_history(page: &Page, clock: &Clock) -> Result<(), StepError> {
    loop {
        let tried = clock
            .cdp(page.execute(ResetNavigationHistoryParams::default()))
            .await;
        match tried {
            Err(StepError::Failed(message))
                if message.contains("Not attached to an active page") =>
            {
                clock
                    .bound(async {
                        tokio::time::sleep(COMMIT_PENDING_RETRY).await;
                        Ok(())
                    })
                    .await?;
            }
            other => return other.map(drop),
        }
    }
}

/// Undoes the page-level `overrides` a task may have left (see [`Overrides`]). Interception
/// goes first: a paused request would hold the page.
pub(super) async fn undo_overrides(
    page: &Page,
    clock: &Clock,
    overrides: Overrides,
) -> Result<(), StepError> {
    if overrides.requests {
        clock
            .cdp(page.execute(fetch::DisableParams::default()))
            .await?;
    }
    if overrides.viewport {
        clock
            .cdp(page.execute(ClearDeviceMetricsOverrideParams::default()))
            .await?;
    }
    if overrides.user_agent {
        // An empty user agent removes the override (Chromium treats "" as "none").
        clock
            .cdp(page.execute(SetUserAgentOverrideParams::new(String::new())))
            .await?;
    }
    Ok(())
}

/// Where the main document is and whether it is an empty about:blank, in one small
/// expression (not the `dom.js` helpers: this runs on every reset).
const BLANKNESS: &str = "({href: location.href, empty: !!document.body && !!document.head \
                         && document.body.childNodes.length === 0 \
                         && document.head.childNodes.length === 0})";

/// Returns the page to a blank state without the `overrides` a task may have left, and
/// verifies it.
pub async fn reset(page: &Page, overrides: Overrides, deadline: Instant) -> Result<(), StepError> {
    let clock = Clock::new(deadline);
    // Undone before leaving the task's document, so nothing of the task applies to the
    // navigation away.
    undo_overrides(page, &clock, overrides).await?;
    if !leave_by_script(page, deadline).await {
        navigate::goto(page, &clock, "about:blank", None, LoadState::Load, |_| {
            Ok(())
        })
        .await?;
    }
    // A pooled page serves many tasks: forget their history so it does not grow with them
    // (and a task cannot go `history.back()` into the previous task's pages). The check is
    // independent of it, so both are in flight at once.
    let (forgot, state) = tokio::join!(
        forget_history(page, &clock),
        js::value(page, &clock, BLANKNESS),
    );
    forgot?;
    let state = state?;
    let href = state.get("href").and_then(serde_json::Value::as_str);
    let empty = state.get("empty").and_then(serde_json::Value::as_bool);
    if href != Some("about:blank") || empty != Some(true) {
        return Err(StepError::Failed(format!(
            "reset did not leave an empty about:blank page: {state}"
        )));
    }
    Ok(())
}
