//! Browser steps and options: wire ⇄ domain.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{non_empty, template};
use crate::{
    limits::*,
    model::browser::*,
    pb,
    url_policy::UrlPolicy,
    validate::{FieldPath, Violations},
};

/// Converts browser options on their own (a worker reading an assignment's options).
pub fn browser_options(pb: pb::BrowserOptions) -> Result<BrowserOptions, crate::ValidationError> {
    let mut v = Violations::new();
    let options = options(pb, &FieldPath::new("browser"), &mut v);
    v.finish(options)
}

pub(super) fn options(
    pb: pb::BrowserOptions,
    path: &FieldPath,
    v: &mut Violations,
) -> BrowserOptions {
    let isolation = match v.enumeration(&path.field("isolation"), pb.isolation) {
        Some(pb::Isolation::Isolated) => Isolation::Isolated,
        Some(pb::Isolation::Session) => Isolation::Session,
        Some(pb::Isolation::Unspecified) | None => Isolation::Shared,
    };
    let mut block_resources = std::collections::BTreeSet::new();
    for (i, raw) in pb.block_resources.iter().enumerate() {
        let field = path.field("block_resources").index(i);
        let kind = match v.enumeration(&field, *raw) {
            Some(pb::ResourceKind::Image) => Some(ResourceKind::Image),
            Some(pb::ResourceKind::Media) => Some(ResourceKind::Media),
            Some(pb::ResourceKind::Font) => Some(ResourceKind::Font),
            Some(pb::ResourceKind::Stylesheet) => Some(ResourceKind::Stylesheet),
            Some(pb::ResourceKind::Unspecified) => {
                v.add(&field, "must name a resource kind");
                None
            }
            None => None,
        };
        block_resources.extend(kind);
    }
    let viewport = pb.viewport.and_then(|vp| {
        let at = path.field("viewport");
        let ok_w = v.check_range(&at.field("width"), vp.width, 1, MAX_VIEWPORT_SIDE);
        let ok_h = v.check_range(&at.field("height"), vp.height, 1, MAX_VIEWPORT_SIDE);
        (ok_w && ok_h).then_some(Viewport {
            width: vp.width,
            height: vp.height,
        })
    });
    let user_agent = non_empty(pb.user_agent).filter(|ua| {
        let at = path.field("user_agent");
        let ok = v.check_len(&at, ua, 1, MAX_USER_AGENT);
        if ok && ua.chars().any(char::is_control) {
            v.add(&at, "must not contain control characters");
            return false;
        }
        ok
    });
    BrowserOptions {
        isolation,
        block_resources,
        block_third_party: pb.block_third_party,
        viewport,
        user_agent,
    }
}

pub(super) fn options_to_pb(options: BrowserOptions) -> pb::BrowserOptions {
    pb::BrowserOptions {
        isolation: match options.isolation {
            Isolation::Shared => pb::Isolation::Unspecified,
            Isolation::Isolated => pb::Isolation::Isolated,
            Isolation::Session => pb::Isolation::Session,
        } as i32,
        block_resources: options
            .block_resources
            .into_iter()
            .map(|kind| match kind {
                ResourceKind::Image => pb::ResourceKind::Image as i32,
                ResourceKind::Media => pb::ResourceKind::Media as i32,
                ResourceKind::Font => pb::ResourceKind::Font as i32,
                ResourceKind::Stylesheet => pb::ResourceKind::Stylesheet as i32,
            })
            .collect(),
        block_third_party: options.block_third_party,
        viewport: options.viewport.map(|vp| pb::Viewport {
            width: vp.width,
            height: vp.height,
        }),
        user_agent: options.user_agent.unwrap_or_default(),
    }
}

pub(super) fn load_state(raw: i32, path: &FieldPath, v: &mut Violations) -> LoadState {
    match v.enumeration(path, raw) {
        Some(pb::LoadState::DomContentLoaded) => LoadState::DomContentLoaded,
        Some(pb::LoadState::NetworkIdle) => LoadState::NetworkIdle,
        _ => LoadState::Load,
    }
}

fn load_state_to_pb(state: LoadState) -> i32 {
    let wire = match state {
        LoadState::Load => pb::LoadState::Unspecified,
        LoadState::DomContentLoaded => pb::LoadState::DomContentLoaded,
        LoadState::NetworkIdle => pb::LoadState::NetworkIdle,
    };
    wire as i32
}

/// Checks a URL template: fully when literal, by its visible scheme when templated.
fn url(
    value: &str,
    path: &FieldPath,
    v: &mut Violations,
    policy: &UrlPolicy,
) -> Option<crate::Template> {
    let parsed = template(value, path, v, 1, MAX_URL)?;
    let verdict = if parsed.is_literal() {
        policy.check(value).map(drop)
    } else {
        policy.check_prefix(parsed.literal_prefix())
    };
    match verdict {
        Ok(()) => Some(parsed),
        Err(why) => {
            v.add(path, why);
            None
        }
    }
}

pub(super) fn navigate(
    pb: pb::NavigateStep,
    path: &FieldPath,
    v: &mut Violations,
    policy: &UrlPolicy,
) -> Option<Navigate> {
    let url = url(&pb.url, &path.field("url"), v, policy);
    let wait_until = load_state(pb.wait_until, &path.field("wait_until"), v);
    let referer = non_empty(pb.referer).filter(|r| {
        let at = path.field("referer");
        if !v.check_len(&at, r, 1, MAX_URL) {
            return false;
        }
        match url::Url::parse(r) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => true,
            _ => {
                v.add(&at, "must be an absolute http or https URL");
                false
            }
        }
    });
    Some(Navigate {
        url: url?,
        wait_until,
        referer,
    })
}

pub(super) fn click(pb: pb::ClickStep, path: &FieldPath, v: &mut Violations) -> Option<Click> {
    let selector = template(&pb.selector, &path.field("selector"), v, 1, MAX_SELECTOR);
    let button = match v.enumeration(&path.field("button"), pb.button) {
        Some(pb::MouseButton::Right) => MouseButton::Right,
        Some(pb::MouseButton::Middle) => MouseButton::Middle,
        _ => MouseButton::Left,
    };
    let click_count = match pb.click_count {
        0 => Some(1),
        n @ 1..=3 => Some(n as u8),
        n => {
            v.add(
                &path.field("click_count"),
                format!("is {n}; must be between 1 and 3"),
            );
            None
        }
    };
    Some(Click {
        selector: selector?,
        button,
        click_count: click_count?,
        wait_for_navigation: pb.wait_for_navigation,
    })
}

pub(super) fn type_text(
    pb: pb::TypeTextStep,
    path: &FieldPath,
    v: &mut Violations,
) -> Option<TypeText> {
    let selector = template(&pb.selector, &path.field("selector"), v, 1, MAX_SELECTOR);
    let text = template(&pb.text, &path.field("text"), v, 0, MAX_TYPED_TEXT);
    Some(TypeText {
        selector: selector?,
        text: text?,
        clear_first: pb.clear_first,
        press_enter: pb.press_enter,
    })
}

pub(super) fn wait_for(
    pb: pb::WaitForStep,
    path: &FieldPath,
    v: &mut Violations,
) -> Option<WaitFor> {
    let state = match v.enumeration(&path.field("state"), pb.state) {
        Some(pb::ElementState::Visible) => ElementState::Visible,
        Some(pb::ElementState::Hidden) => ElementState::Hidden,
        Some(pb::ElementState::Detached) => ElementState::Detached,
        _ => ElementState::Attached,
    };
    match pb.condition {
        Some(pb::wait_for_step::Condition::Selector(selector)) => Some(WaitFor::Selector {
            selector: template(&selector, &path.field("selector"), v, 1, MAX_SELECTOR)?,
            state,
        }),
        Some(pb::wait_for_step::Condition::LoadState(raw)) => {
            if pb.state != 0 {
                v.add(&path.field("state"), "applies only to a selector condition");
            }
            Some(WaitFor::LoadState(load_state(
                raw,
                &path.field("load_state"),
                v,
            )))
        }
        None => {
            v.add(path, "must set selector or load_state");
            None
        }
    }
}

pub(super) fn extract(
    pb: pb::ExtractStep,
    path: &FieldPath,
    v: &mut Violations,
) -> Option<Extract> {
    let selector = template(&pb.selector, &path.field("selector"), v, 1, MAX_SELECTOR);
    let attribute_at = path.field("attribute");
    let target = match v.enumeration(&path.field("target"), pb.target)? {
        pb::ExtractTarget::Attribute => {
            if pb.attribute.is_empty() {
                v.add(
                    &attribute_at,
                    "is required when target is EXTRACT_TARGET_ATTRIBUTE",
                );
                return None;
            }
            if !v.check_name(
                &attribute_at,
                &pb.attribute,
                256,
                |c| !c.is_whitespace() && !c.is_control(),
                "an attribute name without spaces",
            ) {
                return None;
            }
            ExtractTarget::Attribute(pb.attribute)
        }
        other => {
            if !pb.attribute.is_empty() {
                v.add(
                    &attribute_at,
                    "applies only when target is EXTRACT_TARGET_ATTRIBUTE",
                );
            }
            match other {
                pb::ExtractTarget::InnerHtml => ExtractTarget::InnerHtml,
                pb::ExtractTarget::OuterHtml => ExtractTarget::OuterHtml,
                _ => ExtractTarget::Text,
            }
        }
    };
    Some(Extract {
        selector: selector?,
        target,
        all: pb.all,
    })
}

pub(super) fn evaluate(
    pb: pb::EvaluateStep,
    path: &FieldPath,
    v: &mut Violations,
) -> Option<Evaluate> {
    Some(Evaluate {
        expression: template(&pb.expression, &path.field("expression"), v, 1, MAX_SCRIPT)?,
        await_promise: pb.await_promise,
    })
}

pub(super) fn screenshot(
    pb: pb::ScreenshotStep,
    path: &FieldPath,
    v: &mut Violations,
) -> Option<Screenshot> {
    let quality_at = path.field("quality");
    let format = match v.enumeration(&path.field("format"), pb.format)? {
        pb::ImageFormat::Jpeg => match pb.quality {
            0 => ImageFormat::Jpeg { quality: 80 },
            q @ 1..=100 => ImageFormat::Jpeg { quality: q as u8 },
            q => {
                v.add(&quality_at, format!("is {q}; must be between 1 and 100"));
                return None;
            }
        },
        _ => {
            if pb.quality != 0 {
                v.add(&quality_at, "applies only to IMAGE_FORMAT_JPEG");
            }
            ImageFormat::Png
        }
    };
    let selector = match non_empty(pb.selector) {
        Some(s) => Some(template(&s, &path.field("selector"), v, 1, MAX_SELECTOR)?),
        None => None,
    };
    Some(Screenshot {
        format,
        full_page: pb.full_page,
        selector,
    })
}

pub(super) fn pdf(pb: pb::PdfStep, path: &FieldPath, v: &mut Violations) -> Option<Pdf> {
    let default_zero = |value: f64, default: f64| if value == 0.0 { default } else { value };
    let scale = default_zero(pb.scale, 1.0);
    let width = default_zero(pb.paper_width_inches, 8.5);
    let height = default_zero(pb.paper_height_inches, 11.0);
    let ok = [
        v.check_range(&path.field("scale"), scale, 0.1, 2.0),
        v.check_range(&path.field("paper_width_inches"), width, 1.0, 100.0),
        v.check_range(&path.field("paper_height_inches"), height, 1.0, 100.0),
    ];
    ok.iter().all(|ok| *ok).then_some(Pdf {
        landscape: pb.landscape,
        print_background: pb.print_background,
        scale,
        paper_width_inches: width,
        paper_height_inches: height,
    })
}

pub(super) fn cookie_urls(
    urls: Vec<String>,
    path: &FieldPath,
    v: &mut Violations,
    policy: &UrlPolicy,
) -> Vec<String> {
    if !v.check_count(path, urls.len(), 0, MAX_COOKIE_URLS, "URLs") {
        return Vec::new();
    }
    for (i, raw) in urls.iter().enumerate() {
        if let Err(why) = policy.check(raw) {
            v.add(&path.index(i), why);
        }
    }
    urls
}

pub(super) fn cookies(
    pb: Vec<pb::Cookie>,
    path: &FieldPath,
    v: &mut Violations,
    policy: &UrlPolicy,
) -> Vec<Cookie> {
    if !v.check_count(path, pb.len(), 1, MAX_COOKIES, "cookies") {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(pb.len());
    for (i, c) in pb.into_iter().enumerate() {
        let at = path.index(i);
        let name_ok = v.check_name(
            &at.field("name"),
            &c.name,
            MAX_COOKIE_NAME,
            |c| c.is_ascii_graphic() && !";=,".contains(c),
            "printable ASCII without ';', '=' or ','",
        );
        let value_ok = v.check_len(&at.field("value"), &c.value, 0, MAX_COOKIE_VALUE);
        if value_ok && c.value.chars().any(|ch| ch == ';' || ch.is_control()) {
            v.add(
                &at.field("value"),
                "must not contain ';' or control characters",
            );
        }
        if c.domain.is_empty() && c.url.is_empty() {
            v.add(&at, "must set domain or url");
        }
        if !c.url.is_empty()
            && let Err(why) = policy.check(&c.url)
        {
            v.add(&at.field("url"), why);
        }
        let same_site = match v.enumeration(&at.field("same_site"), c.same_site) {
            Some(pb::SameSite::Strict) => Some(SameSite::Strict),
            Some(pb::SameSite::Lax) => Some(SameSite::Lax),
            Some(pb::SameSite::None) => Some(SameSite::None),
            _ => None,
        };
        let expires = match c.expires {
            Some(ts) if ts.seconds >= 0 && (0..1_000_000_000).contains(&ts.nanos) => {
                Some(UNIX_EPOCH + Duration::new(ts.seconds as u64, ts.nanos as u32))
            }
            Some(_) => {
                v.add(&at.field("expires"), "must be after 1970-01-01");
                None
            }
            None => None,
        };
        if name_ok {
            out.push(Cookie {
                name: c.name,
                value: c.value,
                domain: non_empty(c.domain),
                path: non_empty(c.path),
                expires,
                http_only: c.http_only,
                secure: c.secure,
                same_site,
                url: non_empty(c.url),
            });
        }
    }
    out
}

pub(super) fn cookie_to_pb(c: Cookie) -> pb::Cookie {
    pb::Cookie {
        name: c.name,
        value: c.value,
        domain: c.domain.unwrap_or_default(),
        path: c.path.unwrap_or_default(),
        expires: c.expires.map(|at| {
            let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
            prost_types::Timestamp {
                seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
                nanos: since.subsec_nanos() as i32,
            }
        }),
        http_only: c.http_only,
        secure: c.secure,
        same_site: match c.same_site {
            None => pb::SameSite::Unspecified,
            Some(SameSite::Strict) => pb::SameSite::Strict,
            Some(SameSite::Lax) => pb::SameSite::Lax,
            Some(SameSite::None) => pb::SameSite::None,
        } as i32,
        url: c.url.unwrap_or_default(),
    }
}

/// Domain → wire for the browser step kinds.
pub(super) fn navigate_to_pb(n: Navigate) -> pb::NavigateStep {
    pb::NavigateStep {
        url: n.url.source().to_owned(),
        wait_until: load_state_to_pb(n.wait_until),
        referer: n.referer.unwrap_or_default(),
    }
}

pub(super) fn click_to_pb(c: Click) -> pb::ClickStep {
    pb::ClickStep {
        selector: c.selector.source().to_owned(),
        button: match c.button {
            MouseButton::Left => pb::MouseButton::Unspecified,
            MouseButton::Right => pb::MouseButton::Right,
            MouseButton::Middle => pb::MouseButton::Middle,
        } as i32,
        click_count: u32::from(c.click_count),
        wait_for_navigation: c.wait_for_navigation,
    }
}

pub(super) fn type_text_to_pb(t: TypeText) -> pb::TypeTextStep {
    pb::TypeTextStep {
        selector: t.selector.source().to_owned(),
        text: t.text.source().to_owned(),
        clear_first: t.clear_first,
        press_enter: t.press_enter,
    }
}

pub(super) fn wait_for_to_pb(w: WaitFor) -> pb::WaitForStep {
    use pb::wait_for_step::Condition;
    match w {
        WaitFor::Selector { selector, state } => pb::WaitForStep {
            condition: Some(Condition::Selector(selector.source().to_owned())),
            state: match state {
                ElementState::Attached => pb::ElementState::Unspecified,
                ElementState::Visible => pb::ElementState::Visible,
                ElementState::Hidden => pb::ElementState::Hidden,
                ElementState::Detached => pb::ElementState::Detached,
            } as i32,
        },
        WaitFor::LoadState(state) => pb::WaitForStep {
            condition: Some(Condition::LoadState(load_state_to_pb(state))),
            state: 0,
        },
    }
}

pub(super) fn extract_to_pb(e: Extract) -> pb::ExtractStep {
    let (target, attribute) = match e.target {
        ExtractTarget::Text => (pb::ExtractTarget::Unspecified, String::new()),
        ExtractTarget::InnerHtml => (pb::ExtractTarget::InnerHtml, String::new()),
        ExtractTarget::OuterHtml => (pb::ExtractTarget::OuterHtml, String::new()),
        ExtractTarget::Attribute(name) => (pb::ExtractTarget::Attribute, name),
    };
    pb::ExtractStep {
        selector: e.selector.source().to_owned(),
        target: target as i32,
        attribute,
        all: e.all,
    }
}

pub(super) fn evaluate_to_pb(e: Evaluate) -> pb::EvaluateStep {
    pb::EvaluateStep {
        expression: e.expression.source().to_owned(),
        await_promise: e.await_promise,
    }
}

pub(super) fn screenshot_to_pb(s: Screenshot) -> pb::ScreenshotStep {
    let (format, quality) = match s.format {
        ImageFormat::Png => (pb::ImageFormat::Unspecified, 0),
        ImageFormat::Jpeg { quality } => (pb::ImageFormat::Jpeg, u32::from(quality)),
    };
    pb::ScreenshotStep {
        format: format as i32,
        quality,
        full_page: s.full_page,
        selector: s
            .selector
            .map(|t| t.source().to_owned())
            .unwrap_or_default(),
    }
}

pub(super) fn pdf_to_pb(p: Pdf) -> pb::PdfStep {
    pb::PdfStep {
        landscape: p.landscape,
        print_background: p.print_background,
        scale: p.scale,
        paper_width_inches: p.paper_width_inches,
        paper_height_inches: p.paper_height_inches,
    }
}

/// Seconds since the epoch for a wall-clock time, for callers building timestamps.
pub fn system_time_to_pb(at: SystemTime) -> prost_types::Timestamp {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: since.subsec_nanos() as i32,
    }
}
