//! Per-task page preparation ([`prepare`]) and the reset between tasks ([`reset`]).
//!
//! `prepare` applies a task's [`BrowserOptions`] that live on the page: viewport, user
//! agent, request blocking. `reset` undoes all of them whatever the task did, leaves the page
//! on an empty `about:blank` and verifies that it did; the pool closes and replaces a page
//! whose reset fails. What lives in the browser context (cookies, storage) is the pool's
//! concern, by isolation level.
//!
//! The baseline `reset` returns to is "no emulation override": launch browsers without
//! chromiumoxide's default viewport (`BrowserConfig::builder().viewport(None)`), so a fresh
//! page and a reset page look the same.

use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        emulation::{ClearDeviceMetricsOverrideParams, SetDeviceMetricsOverrideParams},
        fetch,
        network::SetUserAgentOverrideParams,
        page::ResetNavigationHistoryParams,
    },
};
use drover_api::model::browser::{BrowserOptions, LoadState};
use tokio::time::Instant;

use super::{clock::Clock, js, navigate, requests::RequestPolicy};
use crate::error::StepError;

/// Applies a task's page-level options. The returned guard keeps request blocking alive;
/// end or drop it when the task is done (before [`reset`]).
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
/// Returns false when the page did not leave in time (a busy script, an unload trick).
async fn leave_by_script(page: &Page, deadline: Instant) -> bool {
    let window = Clock::new(deadline.min(Instant::now() + LEAVE_BY_SCRIPT));
    // The reply may be lost when the navigation destroys the context: that is success too.
    let _ = js::value(page, &window, "location.replace('about:blank')").await;
    loop {
        // A bare expression: this loop runs every few milliseconds on every reset.
        if let Ok(href) = js::value(page, &window, "location.href").await
            && href.as_str() == Some("about:blank")
        {
            return true;
        }
        if window.remaining().is_zero() {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Returns the page to a blank, override-free state and verifies it.
pub async fn reset(page: &Page, deadline: Instant) -> Result<(), StepError> {
    let clock = Clock::new(deadline);
    // Each is harmless when the task never set it; all are undone before leaving the
    // task's document, so nothing of the task applies to the navigation away.
    clock
        .cdp(page.execute(fetch::DisableParams::default()))
        .await?;
    clock
        .cdp(page.execute(ClearDeviceMetricsOverrideParams::default()))
        .await?;
    // An empty user agent removes the override (Chromium treats "" as "none").
    clock
        .cdp(page.execute(SetUserAgentOverrideParams::new(String::new())))
        .await?;
    if !leave_by_script(page, deadline).await {
        navigate::goto(page, &clock, "about:blank", None, LoadState::Load, |_| {
            Ok(())
        })
        .await?;
    }
    // A pooled page serves many tasks: forget their history so it does not grow with them
    // (and a task cannot go `history.back()` into the previous task's pages).
    clock
        .cdp(page.execute(ResetNavigationHistoryParams::default()))
        .await?;
    let state = js::call(page, &clock, "blankness", &[]).await?;
    let href = state.get("href").and_then(serde_json::Value::as_str);
    let empty = state.get("empty").and_then(serde_json::Value::as_bool);
    if href != Some("about:blank") || empty != Some(true) {
        return Err(StepError::Failed(format!(
            "reset did not leave an empty about:blank page: {state}"
        )));
    }
    Ok(())
}
