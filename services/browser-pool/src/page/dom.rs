//! The steps that act on elements: `click`, `type_text`, `wait_for` and `extract`.
//!
//! Element lookups run in the page (`dom.js`) rather than through `DOM.querySelector`: one
//! round trip instead of three (document, query, resolve), the browser's own error for an
//! invalid selector, and no node ids that go stale across navigations. Input goes through
//! CDP `Input.*` events so pages see trusted clicks and key presses.

use std::time::Duration;

use chromiumoxide::{
    Page,
    cdp::browser_protocol::input::{
        DispatchKeyEventParams, DispatchKeyEventType, DispatchMouseEventParams,
        DispatchMouseEventType, InsertTextParams, MouseButton as CdpButton,
    },
};
use drover_api::model::{
    browser::{
        Click, ElementState, Extract, ExtractTarget, LoadState, MouseButton, TypeText, WaitFor,
    },
    output::OutputValue,
};
use serde_json::{Value, json};

use super::{
    clock::Clock,
    js,
    load::{self, NavigationWatch},
};
use crate::error::StepError;

/// Pause before trying a wait again in a document that replaced the one it ran in.
const RETRY_AFTER_NAVIGATION: Duration = Duration::from_millis(50);

/// The longest one in-page wait call runs; a longer wait is several calls, so no single CDP
/// command comes near [`super::CHROMIUMOXIDE_COMMAND_TIMEOUT`].
pub(crate) const IN_PAGE_WAIT_CHUNK: Duration = Duration::from_secs(20);

/// Clicks the first element matching `selector` once it is visible.
pub(crate) async fn click(
    page: &Page,
    clock: &Clock,
    step: &Click,
    selector: &str,
) -> Result<OutputValue, StepError> {
    wait_for_element(page, clock, selector, ElementState::Visible).await?;
    let point = js::call(page, clock, "clickPoint", &[json!(selector)]).await?;
    let coordinate = |axis: &str| point.get(axis).and_then(Value::as_f64).unwrap_or_default();
    let (x, y) = (coordinate("x"), coordinate("y"));
    // Subscribe before the click so the navigation it starts cannot be missed.
    let mut watch = match step.wait_for_navigation {
        true => Some(NavigationWatch::start(page, clock).await?),
        false => None,
    };
    let button = match step.button {
        MouseButton::Left => CdpButton::Left,
        MouseButton::Right => CdpButton::Right,
        MouseButton::Middle => CdpButton::Middle,
    };
    clock
        .cdp(page.execute(DispatchMouseEventParams::new(
            DispatchMouseEventType::MouseMoved,
            x,
            y,
        )))
        .await?;
    // A double click is press/release with click count 1, then 2 (as a user's would be).
    for count in 1..=i64::from(step.click_count.max(1)) {
        for kind in [
            DispatchMouseEventType::MousePressed,
            DispatchMouseEventType::MouseReleased,
        ] {
            let mut event = DispatchMouseEventParams::new(kind, x, y);
            event.button = Some(button.clone());
            event.click_count = Some(count);
            clock.cdp(page.execute(event)).await?;
        }
    }
    if let Some(watch) = &mut watch {
        let frame = main_frame(page, clock).await?;
        watch
            .next_navigation(clock, &frame, LoadState::Load)
            .await?;
    }
    Ok(OutputValue::None)
}

/// Types text into the first element matching `selector`.
///
/// The text is inserted with `Input.insertText` (one event, any Unicode text, `input` events
/// fire) rather than key by key: chromiumoxide's key table knows only a US keyboard's
/// characters. Enter is a real key press, so forms submit as they would for a user.
pub(crate) async fn type_text(
    page: &Page,
    clock: &Clock,
    step: &TypeText,
    selector: &str,
    text: &str,
) -> Result<OutputValue, StepError> {
    wait_for_element(page, clock, selector, ElementState::Visible).await?;
    js::call(
        page,
        clock,
        "focus",
        &[json!(selector), json!(step.clear_first)],
    )
    .await?;
    if !text.is_empty() {
        clock.cdp(page.execute(InsertTextParams::new(text))).await?;
    }
    if step.press_enter {
        for kind in [DispatchKeyEventType::KeyDown, DispatchKeyEventType::KeyUp] {
            let mut key = DispatchKeyEventParams::new(kind.clone());
            key.key = Some("Enter".into());
            key.code = Some("Enter".into());
            key.windows_virtual_key_code = Some(13);
            key.native_virtual_key_code = Some(13);
            if kind == DispatchKeyEventType::KeyDown {
                key.text = Some("\r".into());
            }
            clock.cdp(page.execute(key)).await?;
        }
    }
    Ok(OutputValue::None)
}

/// Runs the `wait_for` step.
pub(crate) async fn wait_for(
    page: &Page,
    clock: &Clock,
    step: &WaitFor,
    selector: Option<&str>,
) -> Result<OutputValue, StepError> {
    match (step, selector) {
        (WaitFor::Selector { state, .. }, Some(selector)) => {
            wait_for_element(page, clock, selector, *state).await?;
        }
        (WaitFor::LoadState(state), _) => wait_for_load(page, clock, *state).await?,
        (WaitFor::Selector { .. }, None) => {
            return Err(StepError::Failed("wait_for has no selector".into()));
        }
    }
    Ok(OutputValue::None)
}

/// Runs the `extract` step.
pub(crate) async fn extract(
    page: &Page,
    clock: &Clock,
    step: &Extract,
    selector: &str,
) -> Result<OutputValue, StepError> {
    let (target, attribute) = match &step.target {
        ExtractTarget::Text => ("text", ""),
        ExtractTarget::InnerHtml => ("inner_html", ""),
        ExtractTarget::OuterHtml => ("outer_html", ""),
        ExtractTarget::Attribute(name) => ("attribute", name.as_str()),
    };
    let args = [
        json!(selector),
        json!(target),
        json!(attribute),
        json!(step.all),
    ];
    let values = js::call(page, clock, "extract", &args).await?;
    let values = serde_json::from_value(values)
        .map_err(|e| StepError::Failed(format!("extract returned an unexpected value: {e}")))?;
    Ok(OutputValue::Extract(values))
}

/// Waits until an element matching `selector` reaches `state`, across navigations.
async fn wait_for_element(
    page: &Page,
    clock: &Clock,
    selector: &str,
    state: ElementState,
) -> Result<(), StepError> {
    let state = match state {
        ElementState::Attached => "attached",
        ElementState::Visible => "visible",
        ElementState::Hidden => "hidden",
        ElementState::Detached => "detached",
    };
    retry_in_new_document(clock, || async {
        let in_page_timeout = json!(clock.remaining().min(IN_PAGE_WAIT_CHUNK).as_millis() as u64);
        js::call(
            page,
            clock,
            "waitFor",
            &[json!(selector), json!(state), in_page_timeout],
        )
        .await
    })
    .await
}

/// Waits for the current document to reach a load state.
async fn wait_for_load(page: &Page, clock: &Clock, state: LoadState) -> Result<(), StepError> {
    let ready = match state {
        LoadState::DomContentLoaded => "interactive",
        LoadState::Load | LoadState::NetworkIdle => "complete",
    };
    retry_in_new_document(clock, || async {
        let in_page_timeout = json!(clock.remaining().min(IN_PAGE_WAIT_CHUNK).as_millis() as u64);
        js::call(page, clock, "waitReady", &[json!(ready), in_page_timeout]).await
    })
    .await?;
    if state == LoadState::NetworkIdle {
        load::network_quiet(page, clock).await?;
    }
    Ok(())
}

/// Runs an in-page wait that resolves `true` when done and `false` when its own timer (set
/// to the time left, at most [`IN_PAGE_WAIT_CHUNK`]) ran out; a timer that ran out with time
/// left, or a navigation that replaced the document, starts it again.
async fn retry_in_new_document<F, Fut>(clock: &Clock, wait: F) -> Result<(), StepError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Value, StepError>>,
{
    loop {
        match wait().await {
            Ok(Value::Bool(true)) => return Ok(()),
            Ok(_) if clock.remaining().is_zero() => return Err(clock.timeout()),
            Ok(_) => {}
            Err(err) if js::document_replaced(&err) => {
                clock
                    .bound(async {
                        tokio::time::sleep(RETRY_AFTER_NAVIGATION).await;
                        Ok(())
                    })
                    .await?;
            }
            Err(err) => return Err(err),
        }
    }
}

async fn main_frame(
    page: &Page,
    clock: &Clock,
) -> Result<chromiumoxide::cdp::browser_protocol::page::FrameId, StepError> {
    clock
        .cdp(page.mainframe())
        .await?
        .ok_or_else(|| StepError::Failed("the page has no main frame yet".into()))
}
