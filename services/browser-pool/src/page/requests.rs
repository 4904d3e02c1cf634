//! Per-task request blocking through CDP request interception (`Fetch`).
//!
//! `Fetch.enable` pauses only what the patterns match: with resource kinds alone, only those
//! resource types (so unrelated requests never take the extra round trip); with third-party
//! blocking, every request. Each paused request is answered exactly once, failed with
//! `BlockedByClient` or continued untouched, so nothing hangs. "Third party" means a host
//! other than the host of the task's first main-frame document request; main-frame
//! documents themselves are never blocked (the navigate step vets those).

use std::collections::HashSet;

use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        fetch::{
            ContinueRequestParams, DisableParams, EnableParams, EventRequestPaused,
            FailRequestParams, RequestPattern, RequestStage,
        },
        network::{ErrorReason, ResourceType},
        page::FrameId,
    },
};
use drover_api::model::browser::{BrowserOptions, ResourceKind};
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::clock::Clock;
use crate::error::StepError;

/// A task's request blocking, live while this guard is held. Dropping it stops the event
/// handler at once; [`RequestPolicy::end`] first switches interception off so that no
/// request can be left paused.
#[derive(Debug)]
pub struct RequestPolicy {
    handler: JoinHandle<()>,
}

impl RequestPolicy {
    /// Starts blocking what `options` asks for; `None` when it asks for nothing.
    pub(crate) async fn start(
        page: &Page,
        options: &BrowserOptions,
        clock: &Clock,
    ) -> Result<Option<Self>, StepError> {
        if options.block_resources.is_empty() && !options.block_third_party {
            return Ok(None);
        }
        let patterns: Vec<RequestPattern> = if options.block_third_party {
            vec![pattern(None)]
        } else {
            options
                .block_resources
                .iter()
                .map(|k| pattern(Some(resource_type(*k))))
                .collect()
        };
        let main_frame = clock.cdp(page.mainframe()).await?;
        // Listen before enabling, so the first paused request already has a handler.
        let events = clock
            .cdp(page.event_listener::<EventRequestPaused>())
            .await?;
        let rules = Rules {
            blocked: options
                .block_resources
                .iter()
                .map(|k| resource_type(*k))
                .collect(),
            third_party: options.block_third_party,
            main_frame,
            first_party: None,
        };
        let guard = Self {
            handler: tokio::spawn(answer_paused(page.clone(), events, rules)),
        };
        let enable = EnableParams {
            patterns: Some(patterns),
            handle_auth_requests: None,
        };
        // On error the guard drops here and stops the handler.
        clock.cdp(page.execute(enable)).await?;
        Ok(Some(guard))
    }

    /// Switches interception off (letting anything still paused through), then stops the
    /// handler.
    pub async fn end(self, page: &Page, deadline: tokio::time::Instant) -> Result<(), StepError> {
        let clock = Clock::new(deadline);
        clock.cdp(page.execute(DisableParams::default())).await?;
        Ok(())
    }
}

impl Drop for RequestPolicy {
    fn drop(&mut self) {
        self.handler.abort();
    }
}

fn pattern(resource_type: Option<ResourceType>) -> RequestPattern {
    RequestPattern {
        url_pattern: Some("*".into()),
        resource_type,
        request_stage: Some(RequestStage::Request),
    }
}

fn resource_type(kind: ResourceKind) -> ResourceType {
    match kind {
        ResourceKind::Image => ResourceType::Image,
        ResourceKind::Media => ResourceType::Media,
        ResourceKind::Font => ResourceType::Font,
        ResourceKind::Stylesheet => ResourceType::Stylesheet,
    }
}

/// What the handler blocks.
struct Rules {
    blocked: HashSet<ResourceType>,
    third_party: bool,
    main_frame: Option<FrameId>,
    /// The host of the first main-frame document, once seen.
    first_party: Option<String>,
}

impl Rules {
    fn blocks(&mut self, request: &EventRequestPaused) -> bool {
        let host = host_of(&request.request.url);
        if request.resource_type == ResourceType::Document
            && Some(&request.frame_id) == self.main_frame.as_ref()
        {
            if self.first_party.is_none() {
                self.first_party = host;
            }
            return false;
        }
        if self.blocked.contains(&request.resource_type) {
            return true;
        }
        self.third_party && self.first_party.is_some() && host != self.first_party
    }
}

/// `host[:port]` of an absolute URL; `None` for URLs without one (data:, blob:).
fn host_of(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

async fn answer_paused(
    page: Page,
    mut events: chromiumoxide::listeners::EventStream<EventRequestPaused>,
    mut rules: Rules,
) {
    while let Some(request) = events.next().await {
        let id = request.request_id.clone();
        let answered = if rules.blocks(&request) {
            page.execute(FailRequestParams::new(id, ErrorReason::BlockedByClient))
                .await
                .map(drop)
        } else {
            page.execute(ContinueRequestParams::new(id)).await.map(drop)
        };
        // A request can be cancelled by the page before our answer lands; that is fine.
        // A lost connection ends the stream anyway.
        if let Err(err) = answered {
            tracing::debug!(url = %request.request.url, %err, "paused request not answered");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_keeps_the_port_and_ignores_credentials() {
        assert_eq!(
            host_of("http://127.0.0.1:8080/a?b").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            host_of("https://u:p@Shop.Test/x").as_deref(),
            Some("shop.test")
        );
        assert_eq!(host_of("data:text/plain,hi"), None);
    }
}
