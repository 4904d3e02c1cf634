//! Step builders and runners for the page-step tests: each builds one `StepKind` or runs one
//! step on a page with a fresh deadline, panicking with the step's name on failure.

use std::{
    collections::BTreeSet,
    time::{Duration, SystemTime},
};

use chromiumoxide::Page;
use drover_api::{
    StepKind, Template, UrlPolicy,
    model::{
        browser::{
            Click, Cookie, ElementState, Evaluate, Extract, ExtractTarget, ImageFormat, LoadState,
            MouseButton, Navigate, Screenshot, WaitFor,
        },
        output::{OutputValue, PriorOutputs},
    },
};
use drover_browser_pool::{
    error::StepError,
    page::{StepEnv, run_step},
};
use tokio::time::Instant;

/// Deadline of an ordinary step: generous, since a loaded 2-core machine can be slow.
pub const STEP: Duration = Duration::from_secs(15);

pub fn tpl(text: &str) -> Template {
    Template::parse(text).expect("test template")
}

pub async fn run_within(
    page: &Page,
    kind: StepKind,
    prior: &PriorOutputs,
    within: Duration,
) -> Result<OutputValue, StepError> {
    let policy = UrlPolicy::default();
    let env = StepEnv {
        page,
        deadline: Instant::now() + within,
        url_policy: &policy,
        max_output_bytes: 8 << 20,
    };
    run_step(&env, &kind, prior).await
}

pub async fn run(page: &Page, kind: StepKind) -> Result<OutputValue, StepError> {
    run_within(page, kind, &PriorOutputs::new(), STEP).await
}

pub async fn ok(page: &Page, kind: StepKind) -> OutputValue {
    let name = kind.name();
    run(page, kind)
        .await
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

pub fn goto(url: &str, wait_until: LoadState) -> StepKind {
    StepKind::Navigate(Navigate {
        url: tpl(url),
        wait_until,
        referer: None,
    })
}

pub fn extract(selector: &str, target: ExtractTarget, all: bool) -> StepKind {
    StepKind::Extract(Extract {
        selector: tpl(selector),
        target,
        all,
    })
}

pub fn text_of(page_output: OutputValue) -> Vec<String> {
    match page_output {
        OutputValue::Extract(values) => values,
        other => panic!("expected extracted values, got {other:?}"),
    }
}

pub async fn texts(page: &Page, selector: &str) -> Vec<String> {
    text_of(ok(page, extract(selector, ExtractTarget::Text, true)).await)
}

pub fn evaluate(expression: &str) -> StepKind {
    StepKind::Evaluate(Evaluate {
        expression: tpl(expression),
        await_promise: true,
    })
}

pub async fn json(page: &Page, expression: &str) -> serde_json::Value {
    match ok(page, evaluate(expression)).await {
        OutputValue::Evaluate(text) => serde_json::from_str(&text).expect("evaluate gives JSON"),
        other => panic!("expected an evaluate output, got {other:?}"),
    }
}

pub fn click(
    selector: &str,
    button: MouseButton,
    click_count: u8,
    wait_for_navigation: bool,
) -> StepKind {
    StepKind::Click(Click {
        selector: tpl(selector),
        button,
        click_count,
        wait_for_navigation,
    })
}

pub fn wait_for(selector: &str, state: ElementState) -> StepKind {
    StepKind::WaitFor(WaitFor::Selector {
        selector: tpl(selector),
        state,
    })
}

pub fn screenshot(format: ImageFormat, full_page: bool, selector: Option<&str>) -> StepKind {
    StepKind::Screenshot(Screenshot {
        format,
        full_page,
        selector: selector.map(tpl),
    })
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
pub fn png_size(data: &[u8]) -> (u32, u32) {
    assert_eq!(&data[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&data[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    (be(16), be(20))
}

pub fn binary(out: OutputValue) -> (String, Vec<u8>) {
    match out {
        OutputValue::Binary { content_type, data } => (content_type, data.to_vec()),
        other => panic!("expected binary output, got {other:?}"),
    }
}

pub fn cookie(name: &str, value: &str, url: &str) -> Cookie {
    Cookie {
        name: name.into(),
        value: value.into(),
        domain: None,
        path: Some("/".into()),
        expires: Some(SystemTime::now() + Duration::from_secs(3600)),
        http_only: false,
        secure: false,
        same_site: None,
        url: Some(url.into()),
    }
}

pub fn names(out: OutputValue) -> BTreeSet<String> {
    match out {
        OutputValue::Cookies(cookies) => cookies
            .into_iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect(),
        other => panic!("expected cookies, got {other:?}"),
    }
}
