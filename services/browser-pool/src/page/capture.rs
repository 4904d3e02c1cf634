//! The `screenshot` and `pdf` steps.
//!
//! Screenshots call `Page.captureScreenshot` directly: chromiumoxide's full-page mode resizes
//! the device metrics and then *clears* them, which would wipe a task's viewport override,
//! and its element mode adds the scroll offset twice. Here a full page or an element is a
//! clip in document coordinates with `captureBeyondViewport`, leaving emulation untouched.

use base64::Engine as _;
use bytes::Bytes;
use chromiumoxide::{
    Page,
    cdp::browser_protocol::page::{
        CaptureScreenshotFormat, CaptureScreenshotParams, GetLayoutMetricsParams, PrintToPdfParams,
        Viewport,
    },
};
use drover_api::model::{
    browser::{ImageFormat, Pdf, Screenshot},
    output::OutputValue,
};
use serde_json::{Value, json};

use super::{clock::Clock, js};
use crate::error::StepError;

/// Runs the `screenshot` step; `selector` is the rendered element selector, if any.
pub(crate) async fn screenshot(
    page: &Page,
    clock: &Clock,
    step: &Screenshot,
    selector: Option<&str>,
) -> Result<OutputValue, StepError> {
    let mut params = CaptureScreenshotParams::default();
    let content_type = match step.format {
        ImageFormat::Png => {
            params.format = Some(CaptureScreenshotFormat::Png);
            "image/png"
        }
        ImageFormat::Jpeg { quality } => {
            params.format = Some(CaptureScreenshotFormat::Jpeg);
            params.quality = Some(i64::from(quality));
            "image/jpeg"
        }
    };
    let clip = match selector {
        Some(selector) => {
            let page_box = js::call(page, clock, "pageBox", &[json!(selector)]).await?;
            let number = |key: &str| {
                page_box
                    .get(key)
                    .and_then(Value::as_f64)
                    .unwrap_or_default()
            };
            Some((number("x"), number("y"), number("width"), number("height")))
        }
        None if step.full_page => {
            let metrics = clock
                .cdp(page.execute(GetLayoutMetricsParams::default()))
                .await?;
            let size = &metrics.result.css_content_size;
            Some((0.0, 0.0, size.width, size.height))
        }
        None => None,
    };
    if let Some((x, y, width, height)) = clip {
        params.clip = Some(Viewport {
            x,
            y,
            width,
            height,
            scale: 1.0,
        });
        params.capture_beyond_viewport = Some(true);
    }
    let reply = clock.cdp(page.execute(params)).await?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(AsRef::<[u8]>::as_ref(&reply.result.data))
        .map_err(|e| StepError::Failed(format!("screenshot data is not base64: {e}")))?;
    Ok(binary(content_type, data))
}

/// Runs the `pdf` step.
pub(crate) async fn pdf(page: &Page, clock: &Clock, step: &Pdf) -> Result<OutputValue, StepError> {
    let params = PrintToPdfParams {
        landscape: Some(step.landscape),
        print_background: Some(step.print_background),
        scale: Some(step.scale),
        paper_width: Some(step.paper_width_inches),
        paper_height: Some(step.paper_height_inches),
        ..Default::default()
    };
    let data = clock.cdp(page.pdf(params)).await?;
    Ok(binary("application/pdf", data))
}

fn binary(content_type: &str, data: Vec<u8>) -> OutputValue {
    OutputValue::Binary {
        content_type: content_type.to_owned(),
        data: Bytes::from(data),
    }
}
