//! The pool against the real Chromium: tenant isolation, sessions, a browser killed mid-task,
//! an endless script, recycling by task count and graceful drain. Pages are `data:` URLs and
//! cookies are set through steps, so these tests need no web server.

use std::time::Duration;

use drover_api::{
    Step, StepKind, Template,
    model::{
        browser::{BrowserOptions, Cookie, Evaluate, Isolation, LoadState, Navigate, Viewport},
        output::{OutputValue, PriorOutputs},
    },
};
use drover_browser_pool::{
    actor::ActorSettings,
    error::{PoolError, StepError},
    launcher::LaunchConfig,
    pool::{BrowserPool, PoolConfig, TaskRun},
    procfs,
};
use tokio::time::Instant;

fn config(name: &str, browsers: usize) -> PoolConfig {
    PoolConfig {
        browsers,
        pages_per_browser: 2,
        launch: LaunchConfig {
            profiles_root: std::env::temp_dir().join(format!("dp-{}-{name}", std::process::id())),
            ..LaunchConfig::default()
        },
        actor: ActorSettings {
            spare_isolated: 1,
            health_interval: Duration::from_millis(500),
            ..ActorSettings::default()
        },
        supervise_interval: Duration::from_millis(100),
        relaunch_backoff_base: Duration::from_millis(50),
        ..PoolConfig::default()
    }
}

fn step(name: &str, kind: StepKind) -> Step {
    Step {
        name: name.into(),
        timeout: None,
        kind,
    }
}

fn evaluate(expression: &str) -> StepKind {
    StepKind::Evaluate(Evaluate {
        expression: Template::literal(expression),
        await_promise: true,
    })
}

fn navigate(url: &str) -> StepKind {
    StepKind::Navigate(Navigate {
        url: Template::literal(url),
        wait_until: LoadState::Load,
        referer: None,
    })
}

fn set_cookie(name: &str) -> StepKind {
    StepKind::SetCookies {
        cookies: vec![Cookie {
            name: name.into(),
            value: "1".into(),
            domain: None,
            path: None,
            expires: Some(std::time::SystemTime::now() + Duration::from_secs(3600)),
            http_only: false,
            secure: false,
            same_site: None,
            url: Some("http://shop.test/".into()),
        }],
    }
}

fn get_cookies() -> StepKind {
    StepKind::GetCookies {
        urls: vec!["http://shop.test/".into()],
    }
}

fn task(
    tenant: &str,
    isolation: Isolation,
    key: Option<&str>,
    steps: Vec<Step>,
    within: Duration,
) -> TaskRun {
    TaskRun {
        tenant: tenant.into(),
        browser: BrowserOptions {
            isolation,
            ..BrowserOptions::default()
        },
        affinity_key: key.map(str::to_owned),
        steps: steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| (i as u32, s))
            .collect(),
        prior: PriorOutputs::new(),
        deadline: Instant::now() + within,
    }
}

fn cookie_names(outputs: &[drover_api::model::output::StepOutput]) -> Vec<String> {
    match &outputs.last().expect("an output").value {
        OutputValue::Cookies(cookies) => cookies.iter().map(|c| c.name.clone()).collect(),
        other => panic!("cookies expected, got {other:?}"),
    }
}

/// Pids of every browser process tree the pool runs now.
fn browser_trees(pool: &BrowserPool) -> Vec<procfs::ProcStat> {
    pool.browsers()
        .iter()
        .flat_map(|b| procfs::process_tree(b.stats().pid as i32, b.stats().pid as i32))
        .collect()
}

#[track_caller]
fn assert_all_gone(trees: &[procfs::ProcStat]) {
    for p in trees {
        if let Some(now) = procfs::stat(p.pid) {
            assert_ne!(
                now.pgrp, p.pgrp,
                "chromium process {} remains (state {})",
                p.pid, now.state
            );
        }
    }
}

const LONG: Duration = Duration::from_secs(30);

/// Runs, in the background, a one-step task that evaluates `script` (something slow).
fn spawn_waiting_task(
    pool: &BrowserPool,
    script: &'static str,
) -> tokio::task::JoinHandle<Result<Vec<drover_api::model::output::StepOutput>, PoolError>> {
    let pool = pool.clone();
    tokio::spawn(async move {
        pool.run(task(
            "t",
            Isolation::Shared,
            None,
            vec![step("wait", evaluate(script))],
            LONG,
        ))
        .await
    })
}

/// Waits until a task holds a page and runs its steps.
async fn wait_until_running(pool: &BrowserPool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !pool
        .browsers()
        .iter()
        .any(|b| b.stats().in_use.load(std::sync::atomic::Ordering::Relaxed) > 0)
    {
        assert!(Instant::now() < until, "the task never got a page");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_never_cross_tenants_and_sessions_keep_theirs() {
    let pool = BrowserPool::start(config("iso", 1)).await.expect("pool");
    let set = |tenant: &str, isolation, key: Option<&str>, name: &str| {
        let pool = pool.clone();
        let run = task(
            tenant,
            isolation,
            key,
            vec![step("set", set_cookie(name)), step("get", get_cookies())],
            LONG,
        );
        async move { cookie_names(&pool.run(run).await.expect("set cookie")) }
    };
    let seen = |tenant: &str, isolation, key: Option<&str>| {
        let pool = pool.clone();
        let run = task(
            tenant,
            isolation,
            key,
            vec![step("get", get_cookies())],
            LONG,
        );
        async move { cookie_names(&pool.run(run).await.expect("get cookies")) }
    };
    assert_eq!(
        set("a", Isolation::Isolated, None, "a_iso").await,
        ["a_iso"],
        "a task sees its own cookie"
    );
    set("a", Isolation::Shared, None, "a_shared").await;
    // Tenant B sees neither tenant A cookie, shared or isolated.
    for isolation in [Isolation::Shared, Isolation::Isolated] {
        let b = seen("b", isolation, None).await;
        assert!(b.is_empty(), "tenant b saw {b:?} ({isolation:?})");
    }
    // Tenant A's next shared task still sees its shared cookie; a new isolated one does not.
    assert_eq!(seen("a", Isolation::Shared, None).await, ["a_shared"]);
    assert!(
        seen("a", Isolation::Isolated, None).await.is_empty(),
        "isolated contexts are fresh"
    );
    // A session keeps its cookies for the next task with the same key, and only for it.
    set("a", Isolation::Session, Some("user-1"), "logged_in").await;
    assert_eq!(
        seen("a", Isolation::Session, Some("user-1")).await,
        ["logged_in"]
    );
    assert!(
        seen("a", Isolation::Session, Some("user-2"))
            .await
            .is_empty()
    );
    let trees = browser_trees(&pool);
    pool.drain(Duration::from_secs(5)).await;
    assert_all_gone(&trees);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_browser_fails_its_task_fast_and_is_replaced() {
    let pool = BrowserPool::start(config("kill", 1)).await.expect("pool");
    let first = pool.browsers()[0].clone();
    let pid = first.stats().pid as i32;
    let original_tree = procfs::process_tree(pid, pid);
    // A step that would take far longer than the test.
    let running = spawn_waiting_task(&pool, "new Promise(r => setTimeout(r, 60000))");
    wait_until_running(&pool).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // the step is under way
    let killed_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let result = running.await.unwrap();
    let noticed = killed_at.elapsed();
    match result {
        Err(PoolError::Step {
            error: StepError::BrowserGone(_),
            ..
        }) => {}
        other => panic!("expected a browser-gone step error, got {other:?}"),
    }
    let reason = drover_api::DroverError::from(PoolError::Step {
        step: "wait".into(),
        index: 0,
        error: StepError::BrowserGone("x".into()),
        outputs: vec![],
    })
    .reason;
    assert_eq!(
        reason.code(),
        tonic::Code::Unavailable,
        "a crash is transient"
    );
    assert!(
        noticed < Duration::from_secs(1),
        "the crash was noticed after {noticed:?}"
    );

    // A replacement comes up and serves.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let ids: Vec<u32> = pool.browsers().iter().map(|b| b.stats().id).collect();
        if ids.iter().any(|id| *id != first.stats().id) {
            break;
        }
        assert!(Instant::now() < until, "no replacement browser");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        let out = pool
            .run(task(
                "t",
                Isolation::Shared,
                None,
                vec![step("two", evaluate("1 + 1"))],
                LONG,
            ))
            .await;
        assert!(
            matches!(out.as_deref(), Ok([o]) if o.value == OutputValue::Evaluate("2".into())),
            "{out:?}"
        );
    }
    let trees = browser_trees(&pool);
    pool.drain(Duration::from_secs(5)).await;
    assert_all_gone(&original_tree);
    assert_all_gone(&trees);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_script_times_out_and_the_pool_keeps_serving() {
    let pool = BrowserPool::start(config("loop", 1)).await.expect("pool");
    let mut spin = step("spin", evaluate("while (true) {}"));
    spin.timeout = Some(Duration::from_millis(1500));
    let started = Instant::now();
    let result = pool
        .run(task("t", Isolation::Shared, None, vec![spin], LONG))
        .await;
    assert!(
        matches!(result, Err(PoolError::Step { error: StepError::Timeout { .. }, ref step, .. }) if step == "spin"),
        "{result:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1400));
    for _ in 0..3 {
        let ok = pool
            .run(task(
                "t",
                Isolation::Shared,
                None,
                vec![
                    step("open", navigate("data:text/html,<title>ok</title>")),
                    step("t", evaluate("document.title")),
                ],
                LONG,
            ))
            .await
            .expect("the pool keeps serving");
        assert_eq!(ok[1].value, OutputValue::Evaluate("\"ok\"".into()));
    }
    pool.drain(Duration::from_secs(5)).await;
}

/// Every pooled page is shown, not only the newest tab of the browser's window: four tasks at
/// once on fresh pages of one browser each get an animation frame (a hidden page gets none,
/// and its mouse input is acknowledged only after a 5 s timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_of_a_browser_is_shown() {
    let mut config = config("shown", 1);
    config.pages_per_browser = 4;
    let pool = BrowserPool::start(config).await.expect("pool");
    let mut frame = step(
        "frame",
        evaluate("new Promise(r => requestAnimationFrame(() => r(document.visibilityState)))"),
    );
    frame.timeout = Some(Duration::from_secs(3));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (pool, frame) = (pool.clone(), frame.clone());
            tokio::spawn(async move {
                pool.run(task("t", Isolation::Shared, None, vec![frame], LONG))
                    .await
            })
        })
        .collect();
    for task in tasks {
        let outputs = task
            .await
            .expect("joined")
            .expect("every page gets an animation frame");
        assert_eq!(
            outputs[0].value,
            OutputValue::Evaluate("\"visible\"".into())
        );
    }
    pool.drain(Duration::from_secs(5)).await;
}

/// A step's own deadline bounds its commands, not the actor's bound on its own calls: with
/// the actor's CDP bound at 1 s, a step awaiting a 3 s promise still gets its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_may_run_longer_than_the_actors_command_bound() {
    let mut config = config("long-step", 1);
    config.actor.cdp_timeout = Duration::from_secs(1);
    let pool = BrowserPool::start(config).await.expect("pool");
    let outputs = pool
        .run(task(
            "t",
            Isolation::Shared,
            None,
            vec![step(
                "slow",
                evaluate("new Promise(done => setTimeout(() => done(7), 3000))"),
            )],
            LONG,
        ))
        .await
        .expect("the step outlives the actor's command bound");
    assert_eq!(outputs[0].value, OutputValue::Evaluate("7".into()));
    pool.drain(Duration::from_secs(5)).await;
}

/// A `wait_for` may wait longer than chromiumoxide lets one command run (30 s): the element
/// appears after 32 s and the step, allowed 50 s, sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_may_outlast_one_browser_command() {
    let pool = BrowserPool::start(config("long-wait", 1))
        .await
        .expect("pool");
    let mut wait = step(
        "late",
        StepKind::WaitFor(drover_api::model::browser::WaitFor::Selector {
            selector: Template::literal("#late"),
            state: drover_api::model::browser::ElementState::Attached,
        }),
    );
    wait.timeout = Some(Duration::from_secs(50));
    let page = "data:text/html,<script>setTimeout(() => { \
        const late = document.createElement('p'); late.id = 'late'; \
        document.body.append(late); }, 32000)</script>";
    let outputs = pool
        .run(task(
            "t",
            Isolation::Shared,
            None,
            vec![step("open", navigate(page)), wait],
            Duration::from_secs(60),
        ))
        .await
        .expect("the wait sees the element after 32 s");
    assert_eq!(outputs.len(), 2);
    pool.drain(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_are_recycled_after_their_task_budget() {
    let mut config = config("recycle", 1);
    config.max_tasks_per_browser = 3;
    let pool = BrowserPool::start(config).await.expect("pool");
    let first_id = pool.browsers()[0].stats().id;
    let first_tree = browser_trees(&pool);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..9 {
        let out = pool
            .run(task(
                "t",
                Isolation::Shared,
                None,
                vec![step("n", evaluate(&format!("{i} * 2")))],
                LONG,
            ))
            .await;
        assert!(out.is_ok(), "task {i}: {out:?}");
        seen.extend(pool.browsers().iter().map(|b| b.stats().id));
        tokio::time::sleep(Duration::from_millis(150)).await; // let the supervisor look
    }
    assert!(
        seen.len() >= 2,
        "a recycled browser is replaced: saw browsers {seen:?}"
    );
    assert!(
        !pool.browsers().iter().any(|b| b.stats().id == first_id),
        "the first browser was recycled"
    );
    assert_all_gone(&first_tree);
    pool.drain(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_finishes_running_work_refuses_new_work_and_leaves_no_process() {
    let pool = BrowserPool::start(config("drain", 1)).await.expect("pool");
    let trees = browser_trees(&pool);
    let slow = spawn_waiting_task(&pool, "new Promise(r => setTimeout(() => r(7), 800))");
    wait_until_running(&pool).await;
    let draining = pool.clone();
    let drain = tokio::spawn(async move { draining.drain(Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refused = pool
        .run(task(
            "t",
            Isolation::Shared,
            None,
            vec![step("n", evaluate("1"))],
            LONG,
        ))
        .await;
    assert!(matches!(refused, Err(PoolError::Draining)), "{refused:?}");
    assert_eq!(
        pool.available_capacity(),
        0,
        "a draining pool offers no capacity"
    );
    let finished = slow
        .await
        .unwrap()
        .expect("running work finishes within the grace period");
    assert_eq!(finished[0].value, OutputValue::Evaluate("7".into()));
    drain.await.unwrap();
    assert_all_gone(&trees);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_past_the_grace_period_is_cancelled_clearly() {
    let pool = BrowserPool::start(config("grace", 1)).await.expect("pool");
    let trees = browser_trees(&pool);
    let slow = spawn_waiting_task(&pool, "new Promise(r => setTimeout(r, 60000))");
    wait_until_running(&pool).await;
    let started = Instant::now();
    pool.drain(Duration::from_millis(300)).await;
    let result = slow.await.unwrap();
    assert!(
        matches!(result, Err(PoolError::Cancelled { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let status = tonic::Status::from(drover_api::DroverError::from(result.unwrap_err()));
    assert_eq!(status.code(), tonic::Code::Cancelled);
    assert_all_gone(&trees);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_memory_watermark_the_pool_takes_no_work_and_recycles() {
    let mut config = config("memory", 1);
    // Any running machine uses more than 0.1% of its memory: pressure from the first look.
    config.memory_high_watermark = 0.001;
    let pool = BrowserPool::start(config).await.expect("pool");
    let first = pool.browsers()[0].stats().id;
    let until = Instant::now() + Duration::from_secs(10);
    while pool.available_capacity() > 0 {
        assert!(Instant::now() < until, "memory pressure never noticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = pool
        .run(task(
            "t",
            Isolation::Shared,
            None,
            vec![step("n", evaluate("1"))],
            LONG,
        ))
        .await;
    let Err(error @ PoolError::Overloaded { .. }) = refused else {
        panic!("expected Overloaded, got {refused:?}");
    };
    let status = tonic::Status::from(drover_api::DroverError::from(error));
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    // The largest (here: the only) browser is recycled.
    while pool.browsers().iter().any(|b| b.stats().id == first) {
        assert!(
            Instant::now() < until,
            "the largest browser was not recycled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.drain(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_a_task_leaves_behind_are_swept() {
    let mut config = config("sweep", 1);
    config.actor.sweep_interval = Duration::from_millis(300);
    let pool = BrowserPool::start(config).await.expect("pool");
    // The task opens a popup the pool knows nothing about.
    let opened = pool
        .run(task(
            "t",
            Isolation::Shared,
            None,
            vec![step(
                "popup",
                evaluate("window.open('about:blank', '_blank') !== null"),
            )],
            LONG,
        ))
        .await
        .expect("popup task");
    assert_eq!(
        opened[0].value,
        OutputValue::Evaluate("true".into()),
        "the popup opened"
    );
    let browser = pool.browsers()[0].stats().clone();
    let ws = page_targets(&pool).await;
    assert!(ws.is_some(), "the pool's browser answers");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        // Known pages: idle pooled pages plus the spare isolated context's page.
        let known = browser
            .idle_pages
            .load(std::sync::atomic::Ordering::Relaxed) as usize
            + 1;
        if page_targets(&pool).await == Some(known) {
            break;
        }
        assert!(Instant::now() < until, "the popup was never swept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.drain(Duration::from_secs(2)).await;
}

/// How many page targets the pool's first browser has, asked over its DevTools endpoint
/// by a second, independent connection.
async fn page_targets(pool: &BrowserPool) -> Option<usize> {
    let pid = pool.browsers().first()?.stats().pid as i32;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let profile = String::from_utf8_lossy(&cmdline)
        .split('\0')
        .find_map(|a| a.strip_prefix("--user-data-dir=").map(str::to_owned))?;
    let port_file =
        std::fs::read_to_string(std::path::Path::new(&profile).join("DevToolsActivePort")).ok()?;
    // The WebSocket endpoint itself: an http:// one makes chromiumoxide fetch it with reqwest,
    // whose TLS provider a workspace build leaves to the binary that installs it.
    let mut lines = port_file.lines();
    let port = lines.next()?.trim().to_owned();
    let path = lines.next()?.trim().to_owned();
    let (mut browser, mut handler) =
        chromiumoxide::Browser::connect(format!("ws://127.0.0.1:{port}{path}"))
            .await
            .ok()?;
    let polling =
        tokio::spawn(
            async move { while futures::StreamExt::next(&mut handler).await.is_some() {} },
        );
    let targets = browser
        .execute(chromiumoxide::cdp::browser_protocol::target::GetTargetsParams::default())
        .await
        .ok()?;
    let count = targets
        .result
        .target_infos
        .iter()
        .filter(|t| t.r#type == "page")
        .count();
    let _ = browser.fetch_targets().await;
    drop(browser);
    polling.abort();
    Some(count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_pages_are_reused_and_reset_between_tasks() {
    let pool = BrowserPool::start(config("reuse", 1)).await.expect("pool");
    // The first task overrides the viewport and user agent; the reset must undo both.
    let mut first = task(
        "t",
        Isolation::Shared,
        None,
        vec![
            step("open", navigate("data:text/html,<p>first</p>")),
            step(
                "look",
                evaluate(
                    "[document.body.textContent, history.length, innerWidth, navigator.userAgent]",
                ),
            ),
        ],
        LONG,
    );
    first.browser.viewport = Some(Viewport {
        width: 500,
        height: 400,
    });
    first.browser.user_agent = Some("DroverTest/1.0".into());
    let first = pool.run(first).await.unwrap();
    assert_eq!(
        first[1].value,
        OutputValue::Evaluate(r#"["first",2,500,"DroverTest/1.0"]"#.into())
    );
    wait_until_idle(&pool).await;
    let pages_before = page_targets(&pool).await.expect("page count");
    // The page went back, was reset off the task's path (blank, history forgotten), and
    // serves the tenant's next task.
    let second = pool
        .run(task(
            "t",
            Isolation::Shared,
            None,
            vec![step(
                "look",
                evaluate(
                    "[location.href, document.body.childNodes.length, history.length, \
                     innerWidth === 500, navigator.userAgent.includes('DroverTest')]",
                ),
            )],
            LONG,
        ))
        .await
        .unwrap();
    assert_eq!(
        second[0].value,
        OutputValue::Evaluate(r#"["about:blank",0,1,false,false]"#.into())
    );
    wait_until_idle(&pool).await;
    assert_eq!(
        page_targets(&pool).await,
        Some(pages_before),
        "the same page, not a second one"
    );
    pool.drain(Duration::from_secs(2)).await;
}

/// Waits until the pool's first browser has no page out and at least one idle page.
async fn wait_until_idle(pool: &BrowserPool) {
    use std::sync::atomic::Ordering::Relaxed;
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = pool.browsers()[0].stats().clone();
        if stats.in_use.load(Relaxed) == 0 && stats.idle_pages.load(Relaxed) > 0 {
            return;
        }
        assert!(Instant::now() < until, "the page never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
