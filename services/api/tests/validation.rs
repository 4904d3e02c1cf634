//! Validation of the v1 task model through the public conversions: every step kind, hostile
//! input, and references between steps. Each test asserts the exact field path reported.

use std::collections::HashMap;

use drover_api::{
    StepKind, TaskSpec, UrlPolicy, ValidationError,
    convert::{browser_job, chat_request},
    limits::{MAX_REPORTED_VIOLATIONS, MAX_STEPS, MAX_TYPED_TEXT},
    model::{
        browser::{ExtractTarget, ImageFormat, Isolation},
        task::{Priority, WorkKind},
    },
    pb::{self, step::Kind},
};

fn step(name: &str, kind: Kind) -> pb::Step {
    pb::Step {
        name: name.into(),
        timeout: None,
        kind: Some(kind),
    }
}

fn navigate(url: &str) -> Kind {
    Kind::Navigate(pb::NavigateStep {
        url: url.into(),
        ..Default::default()
    })
}

fn extract(selector: &str) -> Kind {
    Kind::Extract(pb::ExtractStep {
        selector: selector.into(),
        ..Default::default()
    })
}

fn chat(content: &str) -> Kind {
    Kind::Chat(pb::ChatSpec {
        model_group: "default".into(),
        messages: vec![pb::ChatMessage {
            role: pb::ChatRole::User as i32,
            content: content.into(),
        }],
        ..Default::default()
    })
}

fn task(steps: Vec<pb::Step>) -> pb::TaskSpec {
    pb::TaskSpec {
        steps,
        ..Default::default()
    }
}

fn refused(spec: pb::TaskSpec) -> ValidationError {
    TaskSpec::try_from(spec).expect_err("the spec should be refused")
}

/// Asserts that `field` is reported with a description containing `needle`.
#[track_caller]
fn assert_violation(err: &ValidationError, field: &str, needle: &str) {
    assert!(
        err.violations
            .iter()
            .any(|v| v.field == field && v.description.contains(needle)),
        "expected {field}: …{needle}… in: {err}"
    );
}

/// A one-step task that should be refused at `field` with `needle`.
#[track_caller]
fn assert_step_refused(kind: Kind, field: &str, needle: &str) {
    assert_violation(&refused(task(vec![step("", kind)])), field, needle);
}

fn every_step_kind() -> Vec<pb::Step> {
    vec![
        step("open", navigate("https://shop.test/products")),
        step(
            "accept",
            Kind::Click(pb::ClickStep {
                selector: "#accept".into(),
                ..Default::default()
            }),
        ),
        step(
            "search",
            Kind::TypeText(pb::TypeTextStep {
                selector: "input[name=q]".into(),
                text: "lamps".into(),
                press_enter: true,
                ..Default::default()
            }),
        ),
        step(
            "results",
            Kind::WaitFor(pb::WaitForStep {
                condition: Some(pb::wait_for_step::Condition::Selector(
                    "table.results".into(),
                )),
                state: pb::ElementState::Visible as i32,
            }),
        ),
        step(
            "idle",
            Kind::WaitFor(pb::WaitForStep {
                condition: Some(pb::wait_for_step::Condition::LoadState(
                    pb::LoadState::NetworkIdle as i32,
                )),
                state: 0,
            }),
        ),
        step(
            "links",
            Kind::Extract(pb::ExtractStep {
                selector: "a.product".into(),
                target: pb::ExtractTarget::Attribute as i32,
                attribute: "href".into(),
                all: true,
            }),
        ),
        step("table", extract("table.results")),
        step(
            "count",
            Kind::Evaluate(pb::EvaluateStep {
                expression: "document.querySelectorAll('tr').length".into(),
                await_promise: false,
            }),
        ),
        step(
            "shot",
            Kind::Screenshot(pb::ScreenshotStep {
                format: pb::ImageFormat::Jpeg as i32,
                full_page: true,
                ..Default::default()
            }),
        ),
        step(
            "print",
            Kind::Pdf(pb::PdfStep {
                landscape: true,
                ..Default::default()
            }),
        ),
        step(
            "jar",
            Kind::GetCookies(pb::GetCookiesStep {
                urls: vec!["https://shop.test/".into()],
            }),
        ),
        step(
            "login",
            Kind::SetCookies(pb::SetCookiesStep {
                cookies: vec![pb::Cookie {
                    name: "sid".into(),
                    value: "abc123".into(),
                    domain: "shop.test".into(),
                    same_site: pb::SameSite::Lax as i32,
                    ..Default::default()
                }],
            }),
        ),
        step("export", Kind::ExportCookies(pb::ExportCookiesStep {})),
        step(
            "summary",
            Kind::Chat(pb::ChatSpec {
                model_group: "summarize".into(),
                messages: vec![
                    pb::ChatMessage {
                        role: pb::ChatRole::System as i32,
                        content: "Be brief.".into(),
                    },
                    pb::ChatMessage {
                        role: pb::ChatRole::User as i32,
                        content: "Summarise ${steps.table.text} from ${steps.open.url}".into(),
                    },
                ],
                sampling: Some(pb::SamplingParams {
                    temperature: Some(0.0),
                    ..Default::default()
                }),
                response_format: Some(pb::ResponseFormat {
                    format: Some(pb::response_format::Format::JsonSchema(
                        pb::JsonSchemaFormat {
                            name: "summary".into(),
                            schema_json:
                                r#"{"type":"object","properties":{"text":{"type":"string"}}}"#
                                    .into(),
                            strict: true,
                        },
                    )),
                }),
                cache: 0,
            }),
        ),
        step(
            "vectors",
            Kind::Embed(pb::EmbedSpec {
                model_group: "embed".into(),
                inputs: vec!["${steps.summary.content}".into()],
                dimensions: 256,
            }),
        ),
    ]
}

#[test]
fn a_task_with_every_step_kind_converts_and_round_trips() {
    let spec = TaskSpec::try_from(task(every_step_kind())).expect("valid task");
    assert_eq!(spec.tenant, "default");
    assert_eq!(spec.priority, Priority::Normal);
    assert_eq!(spec.steps.len(), 15);
    let kinds: Vec<&str> = spec.steps.iter().map(|s| s.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "navigate",
            "click",
            "type_text",
            "wait_for",
            "wait_for",
            "extract",
            "extract",
            "evaluate",
            "screenshot",
            "pdf",
            "get_cookies",
            "set_cookies",
            "export_cookies",
            "chat",
            "embed"
        ]
    );
    match &spec.steps[1].kind {
        StepKind::Click(click) => assert_eq!(click.click_count, 1, "0 means one click"),
        other => panic!("unexpected {other:?}"),
    }
    match &spec.steps[5].kind {
        StepKind::Extract(e) => assert_eq!(e.target, ExtractTarget::Attribute("href".into())),
        other => panic!("unexpected {other:?}"),
    }
    match &spec.steps[8].kind {
        StepKind::Screenshot(s) => assert_eq!(s.format, ImageFormat::Jpeg { quality: 80 }),
        other => panic!("unexpected {other:?}"),
    }
    // Browser steps share one assignment; each AI step is its own.
    let runs: Vec<_> = spec
        .work_runs()
        .into_iter()
        .map(|(k, r)| (k, r.start, r.end))
        .collect();
    assert_eq!(
        runs,
        [
            (WorkKind::Browser, 0, 13),
            (WorkKind::Ai, 13, 14),
            (WorkKind::Ai, 14, 15)
        ]
    );

    let wire = pb::TaskSpec::from(spec.clone());
    assert_eq!(TaskSpec::try_from(wire).expect("round trip"), spec);
}

#[test]
fn navigate_urls_are_vetted() {
    assert_step_refused(
        navigate("file:///etc/passwd"),
        "steps[0].navigate.url",
        r#"scheme "file" is not allowed"#,
    );
    assert_step_refused(
        navigate("http://169.254.169.254/latest/"),
        "steps[0].navigate.url",
        "metadata",
    );
    assert_step_refused(navigate(""), "steps[0].navigate.url", "must not be empty");
    assert_step_refused(
        navigate("javascript:${steps.x.text}"),
        "steps[0].navigate.url",
        "scheme",
    );
    assert_step_refused(
        Kind::Navigate(pb::NavigateStep {
            url: "https://a.test/".into(),
            referer: "ftp://x/".into(),
            ..Default::default()
        }),
        "steps[0].navigate.referer",
        "http or https",
    );
    assert_step_refused(
        Kind::Navigate(pb::NavigateStep {
            url: "https://a.test/".into(),
            wait_until: 17,
            ..Default::default()
        }),
        "steps[0].navigate.wait_until",
        "unknown value 17",
    );
}

#[test]
fn click_and_type_are_checked() {
    assert_step_refused(
        Kind::Click(pb::ClickStep::default()),
        "steps[0].click.selector",
        "must not be empty",
    );
    assert_step_refused(
        Kind::Click(pb::ClickStep {
            selector: "a".into(),
            click_count: 4,
            ..Default::default()
        }),
        "steps[0].click.click_count",
        "between 1 and 3",
    );
    assert_step_refused(
        Kind::Click(pb::ClickStep {
            selector: "a".into(),
            button: 9,
            ..Default::default()
        }),
        "steps[0].click.button",
        "unknown value 9",
    );
    assert_step_refused(
        Kind::TypeText(pb::TypeTextStep {
            selector: "input".into(),
            text: "x".repeat(MAX_TYPED_TEXT + 1),
            ..Default::default()
        }),
        "steps[0].type_text.text",
        "at most 65536",
    );
    assert_step_refused(
        Kind::TypeText(pb::TypeTextStep::default()),
        "steps[0].type_text.selector",
        "must not be empty",
    );
}

#[test]
fn wait_for_needs_exactly_one_sensible_condition() {
    assert_step_refused(
        Kind::WaitFor(pb::WaitForStep::default()),
        "steps[0].wait_for",
        "selector or load_state",
    );
    assert_step_refused(
        Kind::WaitFor(pb::WaitForStep {
            condition: Some(pb::wait_for_step::Condition::LoadState(1)),
            state: pb::ElementState::Visible as i32,
        }),
        "steps[0].wait_for.state",
        "only to a selector",
    );
    assert_step_refused(
        Kind::WaitFor(pb::WaitForStep {
            condition: Some(pb::wait_for_step::Condition::LoadState(99)),
            state: 0,
        }),
        "steps[0].wait_for.load_state",
        "unknown value 99",
    );
}

#[test]
fn extract_attribute_rules() {
    assert_step_refused(
        Kind::Extract(pb::ExtractStep {
            selector: "a".into(),
            target: pb::ExtractTarget::Attribute as i32,
            ..Default::default()
        }),
        "steps[0].extract.attribute",
        "is required",
    );
    assert_step_refused(
        Kind::Extract(pb::ExtractStep {
            selector: "a".into(),
            attribute: "href".into(),
            ..Default::default()
        }),
        "steps[0].extract.attribute",
        "applies only",
    );
    assert_step_refused(
        Kind::Extract(pb::ExtractStep {
            selector: "a".into(),
            target: -3,
            ..Default::default()
        }),
        "steps[0].extract.target",
        "unknown value -3",
    );
}

#[test]
fn evaluate_screenshot_and_pdf_bounds() {
    assert_step_refused(
        Kind::Evaluate(pb::EvaluateStep::default()),
        "steps[0].evaluate.expression",
        "must not be empty",
    );
    assert_step_refused(
        Kind::Screenshot(pb::ScreenshotStep {
            quality: 50,
            ..Default::default()
        }),
        "steps[0].screenshot.quality",
        "only to IMAGE_FORMAT_JPEG",
    );
    assert_step_refused(
        Kind::Screenshot(pb::ScreenshotStep {
            format: pb::ImageFormat::Jpeg as i32,
            quality: 101,
            ..Default::default()
        }),
        "steps[0].screenshot.quality",
        "between 1 and 100",
    );
    assert_step_refused(
        Kind::Pdf(pb::PdfStep {
            scale: 5.0,
            ..Default::default()
        }),
        "steps[0].pdf.scale",
        "between 0.1 and 2",
    );
    assert_step_refused(
        Kind::Pdf(pb::PdfStep {
            paper_width_inches: f64::NAN,
            ..Default::default()
        }),
        "steps[0].pdf.paper_width_inches",
        "NaN",
    );
}

#[test]
fn cookie_steps_are_checked() {
    assert_step_refused(
        Kind::GetCookies(pb::GetCookiesStep {
            urls: vec!["https://a.test/".into(), "file:///x".into()],
        }),
        "steps[0].get_cookies.urls[1]",
        "scheme",
    );
    assert_step_refused(
        Kind::GetCookies(pb::GetCookiesStep {
            urls: vec!["https://a.test/".into(); 33],
        }),
        "steps[0].get_cookies.urls",
        "at most 32",
    );
    assert_step_refused(
        Kind::SetCookies(pb::SetCookiesStep::default()),
        "steps[0].set_cookies.cookies",
        "1 to 300",
    );
    let bad = pb::SetCookiesStep {
        cookies: vec![
            pb::Cookie {
                name: "a b".into(),
                domain: "a.test".into(),
                ..Default::default()
            },
            pb::Cookie {
                name: "ok".into(),
                value: "x;y".into(),
                domain: "a.test".into(),
                ..Default::default()
            },
            pb::Cookie {
                name: "nowhere".into(),
                ..Default::default()
            },
        ],
    };
    let err = refused(task(vec![step("", Kind::SetCookies(bad))]));
    assert_violation(&err, "steps[0].set_cookies.cookies[0].name", "not allowed");
    assert_violation(&err, "steps[0].set_cookies.cookies[1].value", "';'");
    assert_violation(&err, "steps[0].set_cookies.cookies[2]", "domain or url");
}

#[test]
fn chat_and_embed_are_checked() {
    let bad_chat = pb::ChatSpec {
        model_group: "".into(),
        messages: vec![pb::ChatMessage {
            role: 0,
            content: "hi".into(),
        }],
        sampling: Some(pb::SamplingParams {
            temperature: Some(3.0),
            top_p: Some(0.0),
            stop: vec!["a".into(); 5],
            ..Default::default()
        }),
        response_format: Some(pb::ResponseFormat {
            format: Some(pb::response_format::Format::JsonSchema(
                pb::JsonSchemaFormat {
                    name: "s".into(),
                    schema_json: "[1, 2]".into(),
                    strict: false,
                },
            )),
        }),
        cache: 7,
    };
    let err = refused(task(vec![step("", Kind::Chat(bad_chat))]));
    assert_violation(&err, "steps[0].chat.model_group", "must not be empty");
    assert_violation(&err, "steps[0].chat.messages[0].role", "must be set");
    assert_violation(
        &err,
        "steps[0].chat.sampling.temperature",
        "between 0 and 2",
    );
    assert_violation(&err, "steps[0].chat.sampling.top_p", "above 0");
    assert_violation(&err, "steps[0].chat.sampling.stop", "at most 4");
    assert_violation(
        &err,
        "steps[0].chat.response_format.json_schema.schema_json",
        "JSON object",
    );
    assert_violation(&err, "steps[0].chat.cache", "unknown value 7");

    assert_step_refused(
        Kind::Chat(pb::ChatSpec {
            model_group: "g".into(),
            ..Default::default()
        }),
        "steps[0].chat.messages",
        "1 to 256",
    );
    assert_step_refused(
        Kind::Embed(pb::EmbedSpec {
            model_group: "e".into(),
            ..Default::default()
        }),
        "steps[0].embed.inputs",
        "1 to 2048",
    );
    assert_step_refused(
        Kind::Embed(pb::EmbedSpec {
            model_group: "e".into(),
            inputs: vec!["x".into()],
            dimensions: 1 << 20,
        }),
        "steps[0].embed.dimensions",
        "between 1 and 65536",
    );
}

#[test]
fn ten_thousand_steps_are_refused_with_one_violation() {
    let huge = task(vec![step("", extract("p")); 10_000]);
    let err = refused(huge);
    assert_eq!(err.violations.len(), 1, "{err}");
    assert_violation(&err, "steps", &format!("1 to {MAX_STEPS}"));
    assert_violation(&refused(task(vec![])), "steps", "has 0 steps");
}

#[test]
fn many_bad_steps_give_a_bounded_error() {
    let err = refused(task(vec![
        step("", Kind::Click(pb::ClickStep::default()));
        MAX_STEPS
    ]));
    assert_eq!(err.violations.len(), MAX_REPORTED_VIOLATIONS);
    assert_eq!(err.unreported, MAX_STEPS - MAX_REPORTED_VIOLATIONS);
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut spec = task(vec![
        step("Bad Name", navigate("file:///x")),
        pb::Step::default(),
    ]);
    spec.priority = 42;
    spec.tenant = "a tenant!".into();
    spec.idempotency_key = "k".repeat(300);
    let err = refused(spec);
    assert_violation(&err, "priority", "unknown value 42");
    assert_violation(&err, "tenant", "not allowed");
    assert_violation(&err, "idempotency_key", "at most 256");
    assert_violation(&err, "steps[0].name", "not allowed");
    assert_violation(&err, "steps[0].navigate.url", "scheme");
    assert_violation(&err, "steps[1]", "must set one step kind");
}

#[test]
fn oversized_and_control_strings_are_refused() {
    let mut spec = task(vec![step("", extract(&"p".repeat(5000)))]);
    spec.affinity_key = "a\u{0}b".into();
    spec.labels = HashMap::from([("k".repeat(64), "v".into())]);
    let err = refused(spec);
    assert_violation(&err, "steps[0].extract.selector", "at most 4096");
    assert_violation(&err, "affinity_key", "control characters");
    assert_violation(&err, &format!("labels[{:?}]", "k".repeat(64)), "at most 63");
}

#[test]
fn references_must_point_backwards_at_offered_fields() {
    // A cycle: each step reads the other. The earlier one's reference is forward.
    let cyclic = task(vec![
        step("a", chat("${steps.b.content}")),
        step("b", chat("${steps.a.content}")),
    ]);
    let err = refused(cyclic);
    assert_violation(&err, "steps[0].chat.messages[0].content", "runs later");
    assert_eq!(
        err.violations.len(),
        1,
        "the backward reference is fine: {err}"
    );

    let own = refused(task(vec![step("me", chat("${steps.me.content}"))]));
    assert_violation(&own, "steps[0].chat.messages[0].content", "its own step");

    let unknown = refused(task(vec![step("a", chat("${steps.ghost.text}"))]));
    assert_violation(
        &unknown,
        "steps[0].chat.messages[0].content",
        r#"unknown step "ghost""#,
    );

    let wrong_field = refused(task(vec![
        step("shot", Kind::Screenshot(pb::ScreenshotStep::default())),
        step("ask", chat("${steps.shot.text}")),
    ]));
    assert_violation(
        &wrong_field,
        "steps[1].chat.messages[0].content",
        "offers no text fields",
    );

    let malformed = refused(task(vec![step("a", extract("${steps.a"))]));
    assert_violation(&malformed, "steps[0].extract.selector", "not closed");

    let by_position = TaskSpec::try_from(task(vec![
        step("", extract("h1")),
        step("", navigate("https://a.test/?q=${steps.step0.text}")),
    ]));
    assert!(
        by_position.is_ok(),
        "default names are referenceable: {by_position:?}"
    );
}

#[test]
fn step_names_are_unique() {
    let err = refused(task(vec![step("x", extract("a")), step("x", extract("b"))]));
    assert_violation(&err, "steps[1].name", "already the name of steps[0]");
    let clash = refused(task(vec![
        step("step1", extract("a")),
        step("", extract("b")),
    ]));
    assert_violation(&clash, "steps[1].name", r#""step1" is already"#);
}

#[test]
fn task_level_rules() {
    let mut session = task(vec![step("", navigate("https://a.test/"))]);
    session.browser = Some(pb::BrowserOptions {
        isolation: pb::Isolation::Session as i32,
        ..Default::default()
    });
    assert_violation(
        &refused(session.clone()),
        "affinity_key",
        "ISOLATION_SESSION",
    );
    session.affinity_key = "user-42".into();
    let ok = TaskSpec::try_from(session).unwrap();
    assert_eq!(ok.browser.isolation, Isolation::Session);

    let mut times = task(vec![step("", extract("a"))]);
    times.timeout = Some(prost_types::Duration {
        seconds: 10,
        nanos: 0,
    });
    times.queue_timeout = Some(prost_types::Duration {
        seconds: 20,
        nanos: 0,
    });
    times.retry_policy = Some(pb::RetryPolicy {
        max_attempts: 11,
        ..Default::default()
    });
    let err = refused(times);
    assert_violation(&err, "queue_timeout", "at most 10s");
    assert_violation(&err, "retry_policy.max_attempts", "between 1 and 10");

    let mut viewport = task(vec![step("", extract("a"))]);
    viewport.browser = Some(pb::BrowserOptions {
        viewport: Some(pb::Viewport {
            width: 0,
            height: 20_000,
        }),
        block_resources: vec![0, 77],
        ..Default::default()
    });
    let err = refused(viewport);
    assert_violation(&err, "browser.viewport.width", "between 1 and 10000");
    assert_violation(&err, "browser.viewport.height", "between 1 and 10000");
    assert_violation(&err, "browser.block_resources[0]", "must name");
    assert_violation(&err, "browser.block_resources[1]", "unknown value 77");
}

#[test]
fn browser_jobs_refuse_ai_steps_at_their_position() {
    let request = pb::ExecuteBrowserJobRequest {
        steps: vec![
            step("", Kind::Click(pb::ClickStep::default())),
            step("", navigate("https://a.test/")),
            step("", chat("hi")),
        ],
        ..Default::default()
    };
    let err = browser_job(request, &UrlPolicy::default()).unwrap_err();
    assert_violation(&err, "steps[0].click.selector", "must not be empty");
    assert_violation(&err, "steps[2].chat", "not a browser step");
}

#[test]
fn direct_chat_requests_need_a_chat() {
    let err = chat_request(pb::ChatRequest {
        chat: None,
        tenant: String::new(),
    })
    .unwrap_err();
    assert_violation(&err, "chat", "is required");
    let (tenant, spec) = chat_request(pb::ChatRequest {
        chat: Some(pb::ChatSpec {
            model_group: "g".into(),
            messages: vec![pb::ChatMessage {
                role: 2,
                content: "hello".into(),
            }],
            ..Default::default()
        }),
        tenant: "acme".into(),
    })
    .unwrap();
    assert_eq!((tenant.as_str(), spec.messages.len()), ("acme", 1));
}

#[test]
fn an_operator_may_allow_link_local_urls() {
    let spec = task(vec![step("", navigate("http://169.254.169.254/"))]);
    assert!(TaskSpec::try_from(spec.clone()).is_err());
    let permissive = UrlPolicy {
        allow_link_local: true,
    };
    assert!(drover_api::convert::task_spec(spec, &permissive).is_ok());
}
