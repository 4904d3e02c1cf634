//! The reset between two tasks on one pooled page, in both modes: deferred (the default: the
//! page is parked with its document, frozen if it stays idle, and cleaned by the next task;
//! tested both while still running and once frozen) and eager (reset to about:blank when
//! returned). Each test runs two tasks of one tenant on a pool that keeps a
//! single idle page, and proves it was the same page through `sessionStorage`, which belongs
//! to the page (the tab) and survives its navigations. Against the real Chromium and the
//! local test site.

mod support;

use std::{sync::atomic::Ordering::Relaxed, time::Duration};

use drover_api::{
    Step, StepKind,
    model::{
        browser::{BrowserOptions, Isolation, LoadState},
        output::{OutputValue, PriorOutputs, StepOutput},
    },
};
use drover_browser_pool::{
    actor::ActorSettings,
    launcher::LaunchConfig,
    pool::{BrowserPool, PoolConfig, TaskRun},
};
use support::{
    site::Site,
    steps::{evaluate, goto},
};
use tokio::time::Instant;

const LONG: Duration = Duration::from_secs(30);

/// How the pool under test resets a returned page.
#[derive(Debug, Clone, Copy)]
enum Reset {
    /// To about:blank at once.
    Eager,
    /// Parked with its document, frozen after `freeze_after` idle, its garbage collected
    /// on every `collect_garbage_every`th park (0: never).
    Deferred {
        freeze_after: Duration,
        collect_garbage_every: u32,
    },
}

/// Deferred, and never frozen within a test: the next task gets the page still running.
const PARKED: Reset = Reset::Deferred {
    freeze_after: Duration::from_secs(3600),
    collect_garbage_every: 0,
};
/// Deferred, and frozen as soon as it is returned: the next task must thaw it.
const FROZEN: Reset = Reset::Deferred {
    freeze_after: Duration::ZERO,
    collect_garbage_every: 0,
};
/// Deferred, never frozen within a test, its garbage collected on every park.
const COLLECTED: Reset = Reset::Deferred {
    freeze_after: Duration::from_secs(3600),
    collect_garbage_every: 1,
};

/// One browser keeping one idle page (and no spare isolated context), so consecutive tasks
/// of a tenant get the same page.
async fn pool(name: &str, reset: Reset) -> BrowserPool {
    let (deferred_reset, freeze_after, collect_garbage_every) = match reset {
        Reset::Eager => (false, Duration::ZERO, 0),
        Reset::Deferred {
            freeze_after,
            collect_garbage_every,
        } => (true, freeze_after, collect_garbage_every),
    };
    let config = PoolConfig {
        browsers: 1,
        pages_per_browser: 2,
        launch: LaunchConfig {
            profiles_root: std::env::temp_dir().join(format!("dr-{}-{name}", std::process::id())),
            ..LaunchConfig::default()
        },
        actor: ActorSettings {
            idle_pages: 1,
            spare_isolated: 0,
            deferred_reset,
            freeze_after,
            collect_garbage_every,
            ..ActorSettings::default()
        },
        supervise_interval: Duration::from_millis(100),
        ..PoolConfig::default()
    };
    BrowserPool::start(config).await.expect("pool")
}

fn task(isolation: Isolation, kinds: Vec<StepKind>) -> TaskRun {
    TaskRun {
        tenant: "t".into(),
        browser: BrowserOptions {
            isolation,
            ..BrowserOptions::default()
        },
        affinity_key: (isolation == Isolation::Session).then(|| "k".into()),
        steps: kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| {
                let step = Step {
                    name: format!("s{i}"),
                    timeout: None,
                    kind,
                };
                (i as u32, step)
            })
            .collect(),
        prior: PriorOutputs::new(),
        deadline: Instant::now() + LONG,
    }
}

async fn run(pool: &BrowserPool, isolation: Isolation, kinds: Vec<StepKind>) -> Vec<StepOutput> {
    pool.run(task(isolation, kinds)).await.expect("task")
}

/// The JSON an evaluate step returned, parsed.
fn value(output: &StepOutput) -> serde_json::Value {
    match &output.value {
        OutputValue::Evaluate(json) => serde_json::from_str(json).expect("JSON"),
        other => panic!("an evaluate output expected, got {other:?}"),
    }
}

fn nav(url: &str) -> StepKind {
    goto(url, LoadState::Load)
}

/// Leaves a secret in the page three ways: a global, a DOM node, a history entry, and marks
/// the page (tab) with `sessionStorage`.
const LEAVE_SECRET: &str = "window.secret = 's3cret'; \
     document.body.insertAdjacentHTML('beforeend', '<p id=secret>s3cret</p>'); \
     history.pushState({}, '', '#pushed'); \
     sessionStorage.setItem('page', 'first'); true";

/// Waits until the pool's browser has its page back (parked or reset) and idle.
async fn wait_until_idle(pool: &BrowserPool) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = pool.browsers()[0].stats().clone();
        if stats.in_use.load(Relaxed) == 0 && stats.idle_pages.load(Relaxed) == 1 {
            return;
        }
        assert!(Instant::now() < until, "the page never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A task whose first step is not a navigate starts on an empty about:blank with an empty
/// history, whichever reset mode and isolation.
async fn first_evaluate_sees_a_blank_page(name: &str, reset: Reset, isolation: Isolation) {
    let (site, pool) = (Site::start().await, pool(name, reset).await);
    run(
        &pool,
        isolation,
        vec![nav(&site.url("/")), evaluate(LEAVE_SECRET)],
    )
    .await;
    wait_until_idle(&pool).await;
    let seen = run(
        &pool,
        isolation,
        vec![
            evaluate(
                "[location.href, typeof window.secret, document.body.childNodes.length, \
                 history.length]",
            ),
            // Back on the site's origin: the page's sessionStorage says whose page it is.
            nav(&site.url("/form")),
            evaluate("sessionStorage.getItem('page')"),
        ],
    )
    .await;
    assert_eq!(
        value(&seen[0]),
        serde_json::json!(["about:blank", "undefined", 0, 1]),
        "{reset:?}"
    );
    assert_eq!(value(&seen[2]), "first", "the same page served both tasks");
    pool.drain(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_a_first_evaluate_sees_a_blank_page() {
    first_evaluate_sees_a_blank_page("eval-parked", PARKED, Isolation::Shared).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_a_first_evaluate_sees_a_blank_page() {
    first_evaluate_sees_a_blank_page("eval-frozen", FROZEN, Isolation::Shared).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_session_pages_are_cleaned_like_shared_ones() {
    first_evaluate_sees_a_blank_page("eval-session", PARKED, Isolation::Session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_a_first_evaluate_sees_a_blank_page() {
    first_evaluate_sees_a_blank_page("eval-eager", Reset::Eager, Isolation::Shared).await;
}

/// A task whose first step is a navigate cannot reach the previous task's document. Deferred:
/// its history holds only its own page, so `history.back()` goes nowhere. Eager: the history
/// holds the about:blank it started on, then its own page; `back()` could only reach the
/// blank page, which the eager reset verified. Either way nothing of the previous document
/// (global, node) is there. `first_url` and `second_url` differ only by their fragments when
/// `same_document` is set: a fragment navigation would keep the document if nothing else
/// was done.
async fn first_navigate_cannot_go_back(name: &str, reset: Reset, same_document: bool) {
    let deferred = matches!(reset, Reset::Deferred { .. });
    let (site, pool) = (Site::start().await, pool(name, reset).await);
    let (first, second) = if same_document {
        (site.url("/#a"), site.url("/#b"))
    } else {
        (site.url("/"), site.url("/form"))
    };
    run(
        &pool,
        Isolation::Shared,
        vec![nav(&first), evaluate(LEAVE_SECRET)],
    )
    .await;
    wait_until_idle(&pool).await;
    let loads_before = site.hits("/");
    let look = "[location.href, typeof window.secret, !!document.getElementById('secret'), \
                history.length, sessionStorage.getItem('page')]";
    let mut steps = vec![
        nav(&second),
        evaluate(look),
        // A woken page is as visible as a fresh one: it gets animation frames.
        evaluate("new Promise(r => requestAnimationFrame(() => r(document.visibilityState)))"),
    ];
    if deferred {
        steps.extend([
            evaluate("history.back(); new Promise(r => setTimeout(r, 300)).then(() => 1)"),
            evaluate(look),
        ]);
    }
    let started = Instant::now();
    let seen = run(&pool, Isolation::Shared, steps).await;
    match &seen[0].value {
        OutputValue::Navigate { url, .. } => assert_eq!(url, &second),
        other => panic!("a navigate output expected, got {other:?}"),
    }
    let history = if deferred { 1 } else { 2 };
    // The last item shows that the same page served both tasks.
    let clean = serde_json::json!([second, "undefined", false, history, "first"]);
    assert_eq!(value(&seen[1]), clean, "{reset:?}");
    assert_eq!(value(&seen[2]), "visible");
    if deferred {
        assert_eq!(
            value(&seen[4]),
            clean,
            "history.back() must not return to the previous task's document"
        );
    }
    let expected_loads = loads_before + usize::from(same_document);
    assert_eq!(
        site.hits("/"),
        expected_loads,
        "the previous document was not loaded again"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}: a navigation waited for another",
        started.elapsed()
    );
    pool.drain(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_a_first_navigate_cannot_go_back() {
    first_navigate_cannot_go_back("nav-parked", PARKED, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_a_first_navigate_cannot_go_back() {
    first_navigate_cannot_go_back("nav-frozen", FROZEN, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collected_a_first_navigate_cannot_go_back() {
    first_navigate_cannot_go_back("nav-collected", COLLECTED, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_a_first_fragment_navigate_gets_a_new_document() {
    first_navigate_cannot_go_back("nav-fragment", PARKED, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_a_first_fragment_navigate_gets_a_new_document() {
    first_navigate_cannot_go_back("nav-fragment-frozen", FROZEN, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_a_first_navigate_cannot_go_back() {
    first_navigate_cannot_go_back("nav-eager", Reset::Eager, false).await;
}

/// A first navigate that takes a parked page to another renderer process (about:blank after
/// a site's or a data: page) can swap the frame while the page is being thawed, and the thaw
/// then fails; the task must still get a live page: its timers run and it gets animation
/// frames. The race depends on timing (the Go client's tests hit it under load); several
/// rounds here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_a_first_navigate_to_another_renderer_gets_a_live_page() {
    let (site, pool) = (Site::start().await, pool("nav-process", FROZEN).await);
    for round in 0..6 {
        let previous = if round % 2 == 0 {
            site.url("/")
        } else {
            "data:text/html,<p>previous</p>".to_owned()
        };
        run(&pool, Isolation::Shared, vec![nav(&previous)]).await;
        wait_until_idle(&pool).await;
        let seen = run(
            &pool,
            Isolation::Shared,
            vec![
                nav("about:blank"),
                evaluate("new Promise(r => setTimeout(() => r('timers run'), 10))"),
                evaluate(
                    "new Promise(r => requestAnimationFrame(() => r(document.visibilityState)))",
                ),
            ],
        )
        .await;
        assert_eq!(value(&seen[1]), "timers run", "round {round}");
        assert_eq!(value(&seen[2]), "visible", "round {round}");
        wait_until_idle(&pool).await;
    }
    pool.drain(Duration::from_secs(2)).await;
}

/// A parked page's document stays, and is frozen once it has idled for `freeze_after`: then
/// its timers no longer run. The page beacons an image request to the site every 50 ms;
/// once it is frozen, no request arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_parked_page_runs_no_timers() {
    let freeze_after = Duration::from_millis(300);
    let (site, pool) = (
        Site::start().await,
        pool(
            "frozen",
            Reset::Deferred {
                freeze_after,
                collect_garbage_every: 0,
            },
        )
        .await,
    );
    // Twice: a fresh page, then the same page after it was woken (and shown) once.
    for round in 0..2 {
        let before = site.hits("/res/pixel.svg");
        run(
            &pool,
            Isolation::Shared,
            vec![
                nav(&site.url("/")),
                evaluate(
                    "setInterval(() => { new Image().src = '/res/pixel.svg?' + Math.random(); }, 50); \
                     new Promise(r => setTimeout(r, 400)).then(() => 1)",
                ),
            ],
        )
        .await;
        assert!(
            site.hits("/res/pixel.svg") > before,
            "the beacon runs in the task (round {round})"
        );
        wait_until_idle(&pool).await;
        // Frozen within `freeze_after` and the actor's check period (a quarter of it, at
        // least 100 ms); requests sent just before the freeze may still be arriving.
        tokio::time::sleep(freeze_after + Duration::from_millis(500)).await;
        let parked = site.hits("/res/pixel.svg");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            site.hits("/res/pixel.svg"),
            parked,
            "a parked page's timers ran (round {round})"
        );
    }
    // And the page is still good for the next task.
    let next = run(
        &pool,
        Isolation::Shared,
        vec![nav(&site.url("/form")), evaluate("document.title")],
    )
    .await;
    assert_eq!(value(&next[1]), "Form");
    pool.drain(Duration::from_secs(2)).await;
}
