//! The CDP operations a browser's actor runs as its own subtasks: opening pages and contexts,
//! closing them *verifiably*, listing targets and probing health. Each is bounded by a
//! timeout, because chromiumoxide's own command timeout is long and a hung browser must not
//! hang its actor.

use std::{sync::Arc, time::Duration};

use chromiumoxide::{
    Browser, Page,
    cdp::browser_protocol::{
        browser::BrowserContextId,
        emulation::SetFocusEmulationEnabledParams,
        target::{
            CloseTargetParams, CreateBrowserContextParams, CreateTargetParams, GetTargetsParams,
            TargetId,
        },
    },
};
use tokio::time::{Instant, sleep, timeout};

/// Bounds a CDP call, flattening its error into text.
pub(crate) async fn bounded<T, E: std::fmt::Display>(
    limit: Duration,
    what: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {limit:?}")),
    }
}

/// Creates a browser context: its own cookies, storage and cache.
pub(crate) async fn create_context(
    browser: &Browser,
    limit: Duration,
) -> Result<BrowserContextId, String> {
    let params = CreateBrowserContextParams::builder()
        .dispose_on_detach(true)
        .build();
    bounded(
        limit,
        "create browser context",
        browser.create_browser_context(params),
    )
    .await
}

/// Opens a blank page in `context`, shown and focused as a lone tab would be.
pub(crate) async fn open_page(
    browser: &Browser,
    context: &BrowserContextId,
    limit: Duration,
) -> Result<Page, String> {
    let params = CreateTargetParams::builder()
        .url("about:blank")
        .browser_context_id(context.clone())
        .build()
        .map_err(|e| format!("create target: {e}"))?;
    let page = bounded(limit, "open page", browser.new_page(params)).await?;
    // The pages of a browser are tabs of one window, and only the newest is shown: the
    // others get no animation frames, and Chromium acknowledges mouse input to them only
    // after a 5 s timeout (measured: a form's submit click took 5.1 s). Focus emulation makes
    // every page count as shown and focused, for the page's life.
    let focus = SetFocusEmulationEnabledParams::new(true);
    match bounded(limit, "emulate focus", page.execute(focus)).await {
        Ok(_) => Ok(page),
        Err(e) => {
            let _ = bounded(limit, "close page", page.close()).await;
            Err(e)
        }
    }
}

/// A fresh context with one page, for an isolated task (or to keep as a spare).
pub(crate) async fn open_isolated(
    browser: &Browser,
    limit: Duration,
) -> Result<(BrowserContextId, Page), String> {
    let context = create_context(browser, limit).await?;
    match open_page(browser, &context, limit).await {
        Ok(page) => Ok((context, page)),
        Err(e) => {
            let _ = dispose_context(browser, context, limit).await;
            Err(e)
        }
    }
}

/// The ids of the browser's page targets.
pub(crate) async fn page_targets(
    browser: &Browser,
    limit: Duration,
) -> Result<Vec<TargetId>, String> {
    let reply = bounded(
        limit,
        "list targets",
        browser.execute(GetTargetsParams::default()),
    )
    .await?;
    Ok(reply
        .result
        .target_infos
        .into_iter()
        .filter(|t| t.r#type == "page")
        .map(|t| t.target_id)
        .collect())
}

/// Closes a page and checks the target is really gone: `Page.close` answers before Chromium
/// destroys the target (and can lose a race with a navigation), so the target list is
/// polled, and `Target.closeTarget` is sent again if the target lingers.
pub(crate) async fn close_page_verified(browser: &Browser, page: Page, limit: Duration) -> bool {
    let target = page.target_id().clone();
    let _ = bounded(limit, "close page", page.close()).await;
    let until = Instant::now() + limit;
    let mut asked_again = false;
    while Instant::now() < until {
        match page_targets(browser, limit).await {
            Ok(targets) if !targets.contains(&target) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        if !asked_again && Instant::now() + limit / 2 > until {
            asked_again = true;
            let _ = bounded(
                limit,
                "close target",
                browser.execute(CloseTargetParams::new(target.clone())),
            )
            .await;
        }
        sleep(Duration::from_millis(25)).await;
    }
    tracing::warn!(?target, "page target still present after close");
    false
}

/// Disposes a context, closing every page in it.
pub(crate) async fn dispose_context(
    browser: &Browser,
    context: BrowserContextId,
    limit: Duration,
) -> Result<(), String> {
    bounded(
        limit,
        "dispose browser context",
        browser.dispose_browser_context(context),
    )
    .await
}

/// A cheap round trip that a hung browser cannot answer.
pub(crate) async fn probe(browser: &Arc<Browser>, limit: Duration) -> Result<(), String> {
    bounded(limit, "health probe", browser.version())
        .await
        .map(drop)
}
