//! End-to-end tests of `page::run_step`, `prepare` and `reset` against a real Chromium and a
//! site served by the test on 127.0.0.1:0. Wall-clock bounds here are sanity bounds only.

mod support;

use std::{collections::BTreeSet, time::Duration};

use drover_api::{
    StepKind, UrlPolicy,
    model::{
        browser::{
            BrowserOptions, ElementState, ExtractTarget, ImageFormat, LoadState, MouseButton, Pdf,
            ResourceKind, TypeText, Viewport, WaitFor,
        },
        output::{OutputValue, PriorOutputs},
    },
};
use drover_browser_pool::{
    error::StepError,
    page::{Overrides, StepEnv, prepare, reset, run_step},
};
use support::{browser::TestBrowser, site::Site, steps::*};
use tokio::time::Instant;

#[tokio::test]
async fn navigate_reports_final_url_title_and_status() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;

    let out = ok(&page, goto(&site.url("/"), LoadState::Load)).await;
    assert_eq!(
        out,
        OutputValue::Navigate {
            url: site.url("/"),
            title: "Drover test site".into(),
            status: 200
        }
    );
    let missing = ok(&page, goto(&site.url("/nope"), LoadState::DomContentLoaded)).await;
    assert!(
        matches!(missing, OutputValue::Navigate { status: 404, .. }),
        "{missing:?}"
    );

    let redirect = site.url(&format!("/redirect?to={}", site.url("/form")));
    let out = ok(&page, goto(&redirect, LoadState::NetworkIdle)).await;
    assert!(
        matches!(&out, OutputValue::Navigate { url, status: 200, title } if *url == site.url("/form") && title == "Form"),
        "{out:?}"
    );

    let data = ok(
        &page,
        goto("data:text/html,<title>inline</title>", LoadState::Load),
    )
    .await;
    assert!(
        matches!(&data, OutputValue::Navigate { title, .. } if title == "inline"),
        "{data:?}"
    );

    // A port nothing listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let closed = format!("http://{closed}/");
    let refused = run(&page, goto(&closed, LoadState::Load)).await;
    assert!(
        matches!(&refused, Err(StepError::Failed(m)) if m.contains(&closed) && m.contains("ERR_CONNECTION_REFUSED")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn form_fill_and_submit_echoes_the_values() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;
    ok(&page, goto(&site.url("/form"), LoadState::Load)).await;

    let type_into = |selector: &str, text: &str, clear_first: bool, press_enter: bool| {
        StepKind::TypeText(TypeText {
            selector: tpl(selector),
            text: tpl(text),
            clear_first,
            press_enter,
        })
    };
    ok(&page, type_into("#name", "Zoë & co", true, false)).await;
    ok(&page, type_into("#city", "Ghent", false, false)).await;
    ok(&page, click("#send", MouseButton::Left, 1, true)).await;
    assert_eq!(texts(&page, "#method").await, ["GET"]);
    assert_eq!(texts(&page, "#v-name").await, ["Zoë & co"]);
    assert_eq!(texts(&page, "#v-city").await, ["Ghent"]);

    // The POST form: typing appends unless cleared, and Enter in an input submits.
    ok(&page, goto(&site.url("/form"), LoadState::Load)).await;
    ok(&page, type_into("#note", "line one", false, false)).await;
    ok(&page, type_into("#code", "X-42", false, true)).await;
    ok(&page, wait_for("#echo", ElementState::Visible)).await;
    assert_eq!(texts(&page, "#method").await, ["POST"]);
    assert_eq!(texts(&page, "#v-note").await, ["line one"]);
    assert_eq!(texts(&page, "#v-code").await, ["X-42"]);
}

#[tokio::test]
async fn clicks_use_the_requested_button_and_count() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;
    ok(&page, goto(&site.url("/clicks"), LoadState::Load)).await;
    ok(&page, click("#target", MouseButton::Left, 2, false)).await;
    ok(&page, click("#target", MouseButton::Right, 1, false)).await;
    ok(&page, click("#target", MouseButton::Middle, 1, false)).await;
    // `type:button:detail`; a context menu event carries no click count.
    assert_eq!(
        texts(&page, "#log li").await,
        [
            "click:0:1",
            "click:0:2",
            "dblclick:0:2",
            "contextmenu:2:0",
            "auxclick:2:1",
            "auxclick:1:1"
        ]
    );
    // A click waits for its element to become visible: one that never appears times out.
    let started = Instant::now();
    let missing = run_within(
        &page,
        click("#nowhere", MouseButton::Left, 1, false),
        &PriorOutputs::new(),
        Duration::from_millis(400),
    )
    .await;
    assert!(
        matches!(missing, Err(StepError::Timeout { .. })),
        "{missing:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(350));
}

#[tokio::test]
async fn extract_reads_first_all_and_attributes_and_renders_references() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;
    ok(&page, goto(&site.url("/"), LoadState::Load)).await;

    assert_eq!(
        texts(&page, "#items td.name").await,
        ["apple", "pear", "plum"]
    );
    let first = ok(&page, extract("td.price", ExtractTarget::Text, false)).await;
    assert_eq!(first, OutputValue::Extract(vec!["3".into()]));
    let kinds = ok(
        &page,
        extract("a.nav", ExtractTarget::Attribute("data-kind".into()), true),
    )
    .await;
    assert_eq!(
        kinds,
        OutputValue::Extract(vec!["cookies".into(), String::new()])
    );
    let inner = text_of(
        ok(
            &page,
            extract("#items tr.item", ExtractTarget::InnerHtml, false),
        )
        .await,
    );
    assert_eq!(
        inner,
        [r#"<td class="name">apple</td><td class="price">3</td>"#]
    );
    let outer = text_of(ok(&page, extract("h1", ExtractTarget::OuterHtml, false)).await);
    assert_eq!(outer, ["<h1>Inventory</h1>"]);

    assert_eq!(
        ok(&page, extract(".absent", ExtractTarget::Text, true)).await,
        OutputValue::Extract(vec![])
    );
    let none = run(&page, extract(".absent", ExtractTarget::Text, false)).await;
    assert_eq!(
        none,
        Err(StepError::Failed(
            r#"selector ".absent" matched no element"#.into()
        ))
    );
    for bad in [
        extract("td[", ExtractTarget::Text, false),
        wait_for("##x", ElementState::Attached),
        click("a:nope(", MouseButton::Left, 1, false),
    ] {
        let name = bad.name();
        let err = run(&page, bad).await;
        assert!(
            matches!(&err, Err(StepError::Failed(m)) if m.starts_with("invalid selector")),
            "{name}: {err:?}"
        );
    }

    // `${steps.<name>.<field>}` references render from earlier outputs.
    let mut prior = PriorOutputs::new();
    let link = ok(&page, extract("#to-form", ExtractTarget::Text, false)).await;
    prior.insert("link", link);
    prior.insert("pick", OutputValue::Extract(vec!["#city".into()]));
    let out = run_within(
        &page,
        goto("${steps.link.text}", LoadState::Load),
        &prior,
        STEP,
    )
    .await;
    assert!(
        matches!(&out, Ok(OutputValue::Navigate { title, .. }) if title == "Form"),
        "{out:?}"
    );
    let typed = StepKind::TypeText(TypeText {
        selector: tpl("${steps.pick.text}"),
        text: tpl("from ${steps.link.count} link"),
        clear_first: false,
        press_enter: false,
    });
    run_within(&page, typed, &prior, STEP)
        .await
        .expect("templated type_text");
    assert_eq!(
        json(&page, "document.querySelector('#city').value").await,
        "from 1 link"
    );
    let dangling = run(
        &page,
        extract("${steps.never.text}", ExtractTarget::Text, false),
    )
    .await;
    assert!(
        matches!(&dangling, Err(StepError::Failed(m)) if m.contains("steps.never.text")),
        "{dangling:?}"
    );
}

#[tokio::test]
async fn evaluate_returns_json_and_reports_exceptions() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;
    ok(&page, goto(&site.url("/"), LoadState::Load)).await;

    assert_eq!(
        json(
            &page,
            "({ rows: document.querySelectorAll('tr.item').length, ok: true })"
        )
        .await,
        serde_json::json!({"rows": 3, "ok": true})
    );
    assert_eq!(
        json(&page, "Promise.resolve([1, 'two'])").await,
        serde_json::json!([1, "two"])
    );
    let body = "const r = await fetch('/slow?ms=10'); return { status: r.status, text: (await r.text()).includes('waited') };";
    assert_eq!(
        json(&page, body).await,
        serde_json::json!({"status": 200, "text": true})
    );
    assert_eq!(json(&page, "undefined").await, serde_json::Value::Null);

    let thrown = run(&page, evaluate("throw new TypeError('boom')")).await;
    assert_eq!(
        thrown,
        Err(StepError::Failed("script threw: TypeError: boom".into()))
    );
    let rejected = run(&page, evaluate("return Promise.reject(new Error('nope'))")).await;
    assert_eq!(
        rejected,
        Err(StepError::Failed("script threw: Error: nope".into()))
    );
    let string = run(&page, evaluate("throw 'plain'")).await;
    assert_eq!(string, Err(StepError::Failed("script threw: plain".into())));
}

#[tokio::test]
async fn endless_script_and_missing_selector_time_out_at_the_deadline() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;
    ok(&page, goto(&site.url("/"), LoadState::Load)).await;
    let deadline = Duration::from_millis(800);

    let started = Instant::now();
    let waited = run_within(
        &page,
        wait_for("#never", ElementState::Attached),
        &PriorOutputs::new(),
        deadline,
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        matches!(waited, Err(StepError::Timeout { .. })),
        "{waited:?}"
    );
    assert!(
        elapsed >= deadline - Duration::from_millis(50),
        "{elapsed:?}"
    );
    assert!(elapsed < deadline + Duration::from_secs(5), "{elapsed:?}");

    // The page is stuck in the loop from here on; the pool would discard it.
    let started = Instant::now();
    let looped = run_within(
        &page,
        evaluate("while (true) {}"),
        &PriorOutputs::new(),
        deadline,
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        matches!(&looped, Err(e @ StepError::Timeout { .. }) if e.discards_page()),
        "{looped:?}"
    );
    assert!(
        elapsed >= deadline - Duration::from_millis(50),
        "{elapsed:?}"
    );
    assert!(elapsed < deadline + Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn wait_for_reaches_element_and_load_states() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;
    ok(
        &page,
        goto(&site.url("/delayed"), LoadState::DomContentLoaded),
    )
    .await;
    ok(&page, wait_for("#late", ElementState::Visible)).await;
    ok(&page, wait_for("#soon-hidden", ElementState::Hidden)).await;
    assert_eq!(texts(&page, "#late").await, ["arrived"]);
    ok(
        &page,
        StepKind::WaitFor(WaitFor::LoadState(LoadState::Load)),
    )
    .await;
    ok(
        &page,
        StepKind::WaitFor(WaitFor::LoadState(LoadState::NetworkIdle)),
    )
    .await;
    ok(&page, evaluate("document.querySelector('#late').remove()")).await;
    ok(&page, wait_for("#late", ElementState::Detached)).await;
    ok(&page, wait_for("h1, #soon-hidden", ElementState::Attached)).await;

    // A wait started before a navigation carries on in the new document.
    ok(
        &page,
        evaluate("setTimeout(() => { location.href = '/delayed'; }, 100)"),
    )
    .await;
    ok(&page, wait_for("#late", ElementState::Visible)).await;
}

#[tokio::test]
async fn screenshots_decode_and_pdf_starts_with_its_magic() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;
    let options = BrowserOptions {
        viewport: Some(Viewport {
            width: 640,
            height: 480,
        }),
        ..Default::default()
    };
    let guard = prepare(&page, &options, Instant::now() + STEP)
        .await
        .expect("prepare");
    assert!(guard.is_none(), "no request blocking was asked for");
    ok(&page, goto(&site.url("/tall"), LoadState::Load)).await;

    let (kind, png) = binary(ok(&page, screenshot(ImageFormat::Png, false, None)).await);
    assert_eq!((kind.as_str(), png_size(&png)), ("image/png", (640, 480)));
    let (_, full) = binary(ok(&page, screenshot(ImageFormat::Png, true, None)).await);
    let (width, height) = png_size(&full);
    assert!(
        width == 640 && height > 3000,
        "full page is {width}x{height}"
    );
    let (_, element) = binary(ok(&page, screenshot(ImageFormat::Png, false, Some("#box"))).await);
    assert_eq!(png_size(&element), (120, 80));
    // The full-page capture left the task's viewport alone.
    assert_eq!(
        json(&page, "[innerWidth, innerHeight]").await,
        serde_json::json!([640, 480])
    );

    let (kind, jpeg) = binary(
        ok(
            &page,
            screenshot(ImageFormat::Jpeg { quality: 50 }, false, None),
        )
        .await,
    );
    assert_eq!(
        (kind.as_str(), &jpeg[..2]),
        ("image/jpeg", &[0xFF, 0xD8][..])
    );

    let pdf = StepKind::Pdf(Pdf {
        landscape: true,
        print_background: true,
        scale: 1.0,
        paper_width_inches: 8.5,
        paper_height_inches: 11.0,
    });
    let (kind, data) = binary(ok(&page, pdf).await);
    assert_eq!(
        (kind.as_str(), &data[..4]),
        ("application/pdf", &b"%PDF"[..])
    );
}

#[tokio::test]
async fn cookies_set_read_back_and_export_stay_in_their_context() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.isolated_page().await;
    // Set by the server, then by the step (before any page of the site is open).
    let set = StepKind::SetCookies {
        cookies: vec![cookie("session", "s-1", &site.url("/"))],
    };
    ok(&page, set).await;
    ok(&page, goto(&site.url("/cookies/set"), LoadState::Load)).await;
    let current = names(ok(&page, StepKind::GetCookies { urls: vec![] }).await);
    assert_eq!(
        current,
        BTreeSet::from(["flavour=oatmeal".to_owned(), "session=s-1".to_owned()])
    );

    ok(&page, goto(&site.url("/cookies/show"), LoadState::Load)).await;
    let header = texts(&page, "#header").await.join("");
    assert!(
        header.contains("flavour=oatmeal") && header.contains("session=s-1"),
        "{header}"
    );
    assert!(texts(&page, "#js").await.join("").contains("session=s-1"));

    // Another host's cookies are read only when asked for by URL.
    let other = StepKind::SetCookies {
        cookies: vec![cookie("elsewhere", "1", &site.other_host_url("/"))],
    };
    ok(&page, other).await;
    let by_url = names(
        ok(
            &page,
            StepKind::GetCookies {
                urls: vec![site.other_host_url("/")],
            },
        )
        .await,
    );
    assert_eq!(by_url, BTreeSet::from(["elsewhere=1".to_owned()]));
    let exported = names(ok(&page, StepKind::ExportCookies).await);
    assert_eq!(
        exported,
        BTreeSet::from([
            "flavour=oatmeal".into(),
            "session=s-1".into(),
            "elsewhere=1".into()
        ])
    );

    // The export is scoped to the page's browser context.
    let stranger = browser.isolated_page().await;
    assert!(names(ok(&stranger, StepKind::ExportCookies).await).is_empty());
    let shared = browser.page().await;
    assert!(names(ok(&shared, StepKind::ExportCookies).await).is_empty());
}

#[tokio::test]
async fn link_local_targets_are_refused_without_a_request() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;
    ok(&page, goto(&site.url("/"), LoadState::Load)).await;
    for refused in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "file:///etc/passwd",
    ] {
        let out = run(&page, goto(refused, LoadState::Load)).await;
        assert!(
            matches!(&out, Err(StepError::UrlBlocked(_))),
            "{refused}: {out:?}"
        );
    }
    // Nothing was opened: the page is still where it was.
    assert_eq!(
        page.url().await.expect("page url").as_deref(),
        Some(site.url("/").as_str())
    );

    // A redirect to a refused literal address is caught as it happens.
    let started = Instant::now();
    let redirect = site.url("/redirect?to=http://169.254.169.254/latest/");
    let out = run(&page, goto(&redirect, LoadState::Load)).await;
    assert!(
        matches!(&out, Err(StepError::UrlBlocked(m)) if m.contains("169.254.169.254")),
        "{out:?}"
    );
    assert!(started.elapsed() < STEP, "refused before the deadline");
}

#[tokio::test]
async fn request_blocking_is_observable_at_the_server() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;
    let blocking = |kinds: &[ResourceKind], third_party: bool| BrowserOptions {
        block_resources: kinds.iter().copied().collect(),
        block_third_party: third_party,
        ..Default::default()
    };
    let deadline = || Instant::now() + STEP;

    // Images and stylesheets blocked: neither (nor the font the stylesheet names) is fetched.
    let guard = prepare(
        &page,
        &blocking(&[ResourceKind::Image, ResourceKind::Stylesheet], false),
        deadline(),
    )
    .await
    .expect("prepare")
    .expect("a request policy");
    ok(&page, goto(&site.url("/resources"), LoadState::NetworkIdle)).await;
    guard.end(&page, deadline()).await.expect("end blocking");
    reset(&page, Overrides::ALL, deadline())
        .await
        .expect("reset");
    for path in [
        "/res/style.css",
        "/res/pixel.svg",
        "/res/third.svg",
        "/res/font.woff2",
    ] {
        assert_eq!(site.hits(path), 0, "{path} was fetched");
    }

    // Third-party blocking: the other host's image only.
    let guard = prepare(&page, &blocking(&[], true), deadline())
        .await
        .expect("prepare");
    ok(&page, goto(&site.url("/resources"), LoadState::NetworkIdle)).await;
    drop(guard);
    reset(&page, Overrides::of(&blocking(&[], true)), deadline())
        .await
        .expect("reset");
    assert_eq!(site.hits("/res/third.svg"), 0);
    assert_eq!(
        (site.hits("/res/style.css"), site.hits("/res/pixel.svg")),
        (1, 1)
    );

    // Nothing blocked after reset: everything loads.
    ok(&page, goto(&site.url("/resources"), LoadState::NetworkIdle)).await;
    assert_eq!(site.hits("/res/third.svg"), 1);
    assert_eq!(
        (site.hits("/res/style.css"), site.hits("/res/pixel.svg")),
        (2, 2)
    );
    assert!(site.hits("/res/font.woff2") >= 1);
}

#[tokio::test]
async fn reset_returns_to_blank_without_overrides() {
    let (site, browser) = (Site::start().await, TestBrowser::launch().await);
    let page = browser.page().await;
    let baseline = json(&page, "[innerWidth, innerHeight, navigator.userAgent]").await;

    let options = BrowserOptions {
        viewport: Some(Viewport {
            width: 500,
            height: 400,
        }),
        user_agent: Some("DroverTest/1.0".into()),
        block_resources: BTreeSet::from([ResourceKind::Image]),
        ..Default::default()
    };
    let guard = prepare(&page, &options, Instant::now() + STEP)
        .await
        .expect("prepare");
    ok(&page, goto(&site.url("/"), LoadState::Load)).await;
    assert_eq!(
        json(&page, "[innerWidth, innerHeight, navigator.userAgent]").await,
        serde_json::json!([500, 400, "DroverTest/1.0"])
    );
    ok(
        &page,
        evaluate("document.body.innerHTML = '<p>left behind</p>'; window.leftover = 1"),
    )
    .await;

    drop(guard);
    reset(&page, Overrides::of(&options), Instant::now() + STEP)
        .await
        .expect("reset");
    assert_eq!(
        page.url().await.expect("url").as_deref(),
        Some("about:blank")
    );
    assert_eq!(
        json(&page, "[innerWidth, innerHeight, navigator.userAgent]").await,
        baseline
    );
    assert_eq!(
        json(&page, "[document.body.innerHTML, typeof window.leftover]").await,
        serde_json::json!(["", "undefined"])
    );
    // Interception is off: an image request is not held.
    ok(&page, goto(&site.url("/resources"), LoadState::Load)).await;
    assert_eq!(site.hits("/res/pixel.svg"), 1);
}

#[tokio::test]
async fn oversized_outputs_are_refused() {
    let browser = TestBrowser::launch().await;
    let page = browser.page().await;
    let policy = UrlPolicy::default();
    let env = StepEnv {
        page: &page,
        deadline: Instant::now() + STEP,
        url_policy: &policy,
        max_output_bytes: 1000,
    };
    let big = run_step(&env, &evaluate("'x'.repeat(5000)"), &PriorOutputs::new()).await;
    assert!(
        matches!(&big, Err(StepError::TooLarge(m)) if m.contains("evaluate")),
        "{big:?}"
    );
    let small = run_step(&env, &evaluate("'x'.repeat(10)"), &PriorOutputs::new()).await;
    assert!(small.is_ok(), "{small:?}");
}

#[tokio::test]
async fn test_browser_gets_its_flags_and_leaves_no_process() {
    let mut browser = TestBrowser::launch().await;
    let pid = browser.pid().expect("a launched browser has a pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("read cmdline");
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    for flag in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-sync",
        "--no-first-run",
        "--disable-component-update",
        "--disable-background-networking",
    ] {
        assert!(
            args.iter().any(|a| a == flag),
            "{flag} missing from {args:?}"
        );
    }
    assert!(
        !args.iter().any(|a| a.starts_with("----")),
        "doubled dashes in {args:?}"
    );
    drop(browser);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "chromium {pid} was not reaped"
    );
}
