//! The `navigate` step, and [`goto`], the one way this module opens a URL (reset uses it for
//! `about:blank`).
//!
//! `Page.navigate` is sent directly rather than through chromiumoxide's `goto`, which waits
//! only for `load` and reports neither the HTTP status nor redirects. The reply carries the
//! navigation's loader id; the main document's request has that id as its request id, which
//! is how the status is found among `Network.responseReceived` events.

use std::collections::{HashMap, HashSet};

use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        network::ResourceType,
        page::{NavigateParams, NavigatedWithinDocumentNavigationType, StopLoadingParams},
    },
};
use drover_api::model::{
    browser::{LoadState, Navigate},
    output::OutputValue,
};
use serde_json::Value;

use super::{
    StepEnv,
    clock::Clock,
    egress, js,
    load::{NavEvent, NavigationWatch, lifecycle_name},
};
use crate::error::StepError;

/// Where a navigation ended.
pub(crate) struct Landed {
    /// The main document's URL after redirects.
    pub(crate) url: String,
    /// Its title.
    pub(crate) title: String,
    /// Its HTTP status; 0 when no response was seen (about:blank, data:, cache-less cases).
    pub(crate) status: u16,
    /// False for a same-document navigation (a fragment change): the document that was there
    /// before, with its scripts and state, is still the page's document.
    pub(crate) new_document: bool,
}

impl Landed {
    /// The `navigate` step's output.
    pub(crate) fn into_output(self) -> OutputValue {
        OutputValue::Navigate {
            url: self.url,
            title: self.title,
            status: self.status,
        }
    }
}

/// Runs the `navigate` step with its rendered URL; [`Landed::into_output`] is its output.
pub(crate) async fn navigate(
    env: &StepEnv<'_>,
    clock: &Clock,
    step: &Navigate,
    raw_url: &str,
) -> Result<Landed, StepError> {
    let policy = env.url_policy;
    let url = egress::vet_target(policy, raw_url, clock).await?;
    let landed = goto(
        env.page,
        clock,
        &url,
        step.referer.as_deref(),
        step.wait_until,
        |target| egress::vet_literal(policy, target),
    )
    .await?;
    egress::vet_literal(policy, &landed.url)?;
    Ok(landed)
}

/// Opens `url` in the main frame and waits until it reaches `state`. Every redirect of a
/// document request is passed to `vet_redirect` as it happens; a refusal stops the loading
/// at once (rather than waiting for a connection to a refused address to time out).
pub(crate) async fn goto(
    page: &Page,
    clock: &Clock,
    url: &str,
    referer: Option<&str>,
    state: LoadState,
    vet_redirect: impl Fn(&str) -> Result<(), StepError>,
) -> Result<Landed, StepError> {
    let mut watch = NavigationWatch::start(page, clock).await?;
    let mut params = NavigateParams::new(url);
    params.referrer = referer.map(str::to_owned);
    let command = clock.cdp(page.execute(params));
    tokio::pin!(command);

    let wanted = lifecycle_name(state);
    // Events arrive before the reply names the navigation's loader: keep what matters.
    let mut reached: HashSet<(String, String)> = HashSet::new();
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut loader: Option<Option<String>> = None;
    let (status, new_document) = loop {
        if let Some(loader) = &loader {
            let Some(loader) = loader else {
                break (0, false); // a same-document navigation: nothing to load
            };
            if reached.contains(&(loader.clone(), wanted.to_owned())) {
                break (statuses.get(loader).copied().unwrap_or(0), true);
            }
        }
        tokio::select! {
            reply = &mut command, if loader.is_none() => {
                let reply = reply?.result;
                if let Some(error) = reply.error_text {
                    return Err(StepError::Failed(format!("navigation to {url} failed: {error}")));
                }
                if reply.is_download == Some(true) {
                    return Err(StepError::Failed(format!("navigation to {url} started a download")));
                }
                loader = Some(reply.loader_id.map(|id| id.as_ref().to_owned()));
            }
            event = watch.next_event(clock) => match event? {
                NavEvent::Lifecycle(ev) => {
                    reached.insert((ev.loader_id.as_ref().to_owned(), ev.name.clone()));
                }
                NavEvent::WithinDocument(ev)
                    if ev.navigation_type == NavigatedWithinDocumentNavigationType::Fragment =>
                {
                    // chromiumoxide 0.9.1 never answers a `Page.navigate` that stays in the
                    // document (it waits for a load that does not come): the main frame's
                    // fragment navigation is the answer. (Its own navigation record lingers
                    // until its request timeout and queues the page's next `Page.navigate`
                    // behind it; callers that can avoid such a navigation do.)
                    let main_frame = clock.cdp(page.mainframe()).await?;
                    if main_frame.as_ref() == Some(&ev.frame_id) {
                        break (0, false);
                    }
                }
                NavEvent::Response(ev) if ev.r#type == ResourceType::Document => {
                    let status = u16::try_from(ev.response.status).unwrap_or(0);
                    statuses.insert(ev.request_id.as_ref().to_owned(), status);
                }
                NavEvent::Request(ev)
                    if ev.r#type == Some(ResourceType::Document) && ev.redirect_response.is_some() =>
                {
                    if let Err(refused) = vet_redirect(&ev.request.url) {
                        // Best effort: the step fails as refused whether or not this lands.
                        let _ = clock.cdp(page.execute(StopLoadingParams::default())).await;
                        return Err(refused);
                    }
                }
                _ => {}
            },
        }
    };
    // A bare expression, not the `dom.js` helpers: this runs after every navigation.
    let here = js::value(
        page,
        clock,
        "({href: location.href, title: document.title})",
    )
    .await?;
    let text = |key: &str| {
        here.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Landed {
        url: text("href"),
        title: text("title"),
        status,
        new_document,
    })
}
