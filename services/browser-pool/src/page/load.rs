//! Waiting for load states. chromiumoxide waits only for `load`, with its own fixed timeout;
//! Drover watches CDP events itself: `Page.lifecycleEvent` (which chromiumoxide switches on
//! for every page) for DOMContentLoaded / load / networkIdle of one navigation, and the
//! Network domain for "500 ms without requests" on a document that is already loaded.
//!
//! Watches subscribe *before* the action that navigates (chromiumoxide delivers commands and
//! listener registrations in order), so no event can slip between the action and the wait.

use std::{collections::HashSet, sync::Arc, time::Duration};

use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        network::{
            EventLoadingFailed, EventLoadingFinished, EventRequestWillBeSent,
            EventResponseReceived, LoaderId,
        },
        page::{EventLifecycleEvent, EventNavigatedWithinDocument, FrameId},
    },
};
use drover_api::model::browser::LoadState;
use futures::{StreamExt, stream::BoxStream};

use super::clock::Clock;
use crate::error::StepError;

/// How long the network must be silent to count as idle.
const NETWORK_QUIET: Duration = Duration::from_millis(500);

/// The `Page.lifecycleEvent` name of a load state; Chromium's `networkIdle` means no
/// network connections for 500 ms.
pub(crate) fn lifecycle_name(state: LoadState) -> &'static str {
    match state {
        LoadState::DomContentLoaded => "DOMContentLoaded",
        LoadState::Load => "load",
        LoadState::NetworkIdle => "networkIdle",
    }
}

/// One event of a [`NavigationWatch`].
pub(crate) enum NavEvent {
    /// A document reached a lifecycle point.
    Lifecycle(Arc<EventLifecycleEvent>),
    /// A response arrived.
    Response(Arc<EventResponseReceived>),
    /// A request (or a redirect of one) is being sent.
    Request(Arc<EventRequestWillBeSent>),
    /// A navigation stayed in the same document.
    WithinDocument(Arc<EventNavigatedWithinDocument>),
}

/// The events of the page's main-frame navigations, from the moment of subscription.
pub(crate) struct NavigationWatch {
    events: BoxStream<'static, NavEvent>,
}

impl NavigationWatch {
    /// Subscribes; call before the action that navigates.
    pub(crate) async fn start(page: &Page, clock: &Clock) -> Result<Self, StepError> {
        let lifecycle = clock
            .cdp(page.event_listener::<EventLifecycleEvent>())
            .await?;
        let responses = clock
            .cdp(page.event_listener::<EventResponseReceived>())
            .await?;
        let requests = clock
            .cdp(page.event_listener::<EventRequestWillBeSent>())
            .await?;
        let within = clock
            .cdp(page.event_listener::<EventNavigatedWithinDocument>())
            .await?;
        let events = futures::stream::select_all([
            lifecycle.map(NavEvent::Lifecycle).boxed(),
            responses.map(NavEvent::Response).boxed(),
            requests.map(NavEvent::Request).boxed(),
            within.map(NavEvent::WithinDocument).boxed(),
        ])
        .boxed();
        Ok(Self { events })
    }

    /// The next event, within the deadline.
    pub(crate) async fn next_event(&mut self, clock: &Clock) -> Result<NavEvent, StepError> {
        match clock.bound(async { Ok(self.events.next().await) }).await? {
            Some(event) => Ok(event),
            // Listeners end when chromiumoxide drops the target.
            None => Err(StepError::BrowserGone("the page's target went away".into())),
        }
    }

    /// Waits for the next main-frame navigation (one an action started) to reach `state`;
    /// a same-document navigation (a fragment link, `history.pushState`) counts at once.
    pub(crate) async fn next_navigation(
        &mut self,
        clock: &Clock,
        frame: &FrameId,
        state: LoadState,
    ) -> Result<(), StepError> {
        let wanted = lifecycle_name(state);
        let mut loader: Option<LoaderId> = None;
        loop {
            match self.next_event(clock).await? {
                NavEvent::WithinDocument(ev) if &ev.frame_id == frame => return Ok(()),
                NavEvent::Lifecycle(ev) if &ev.frame_id == frame => {
                    // `init` opens a new document: from then on only its events count, not
                    // late ones of the document being replaced.
                    if ev.name == "init" {
                        loader = Some(ev.loader_id.clone());
                    } else if ev.name == wanted && loader.as_ref() == Some(&ev.loader_id) {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }
}

enum NetEvent {
    Started(String),
    Ended(String),
}

/// Waits until the network has been silent for 500 ms with no request seen starting and not
/// ending, for a document that may already be loaded (Chromium's own `networkIdle` fires once
/// per navigation and cannot be asked for after the fact).
pub(crate) async fn network_quiet(page: &Page, clock: &Clock) -> Result<(), StepError> {
    let started = clock
        .cdp(page.event_listener::<EventRequestWillBeSent>())
        .await?;
    let finished = clock
        .cdp(page.event_listener::<EventLoadingFinished>())
        .await?;
    let failed = clock
        .cdp(page.event_listener::<EventLoadingFailed>())
        .await?;
    let mut events = futures::stream::select_all([
        started
            .map(|e| NetEvent::Started(e.request_id.as_ref().to_owned()))
            .boxed(),
        finished
            .map(|e| NetEvent::Ended(e.request_id.as_ref().to_owned()))
            .boxed(),
        failed
            .map(|e| NetEvent::Ended(e.request_id.as_ref().to_owned()))
            .boxed(),
    ]);
    let mut in_flight = HashSet::new();
    clock
        .bound(async {
            loop {
                match tokio::time::timeout(NETWORK_QUIET, events.next()).await {
                    Err(_) if in_flight.is_empty() => return Ok(()),
                    Err(_) => {}
                    Ok(Some(NetEvent::Started(id))) => {
                        in_flight.insert(id);
                    }
                    Ok(Some(NetEvent::Ended(id))) => {
                        in_flight.remove(&id);
                    }
                    Ok(None) => {
                        return Err(StepError::BrowserGone("the page's target went away".into()));
                    }
                }
            }
        })
        .await
}
