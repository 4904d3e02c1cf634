//! The launcher against the real Chromium: the switches Drover relies on reach the process,
//! chromiumoxide can drive it, and shutdown leaves no process (not even a zombie) and no
//! folder behind — after a clean run and after a SIGKILL of the browser process.

use std::time::Duration;

use drover_browser_pool::{
    launcher::{ChromiumProcess, LaunchConfig, become_subreaper},
    procfs,
};
use futures::StreamExt;

fn config(root: &std::path::Path) -> LaunchConfig {
    LaunchConfig {
        profiles_root: root.to_path_buf(),
        ..LaunchConfig::default()
    }
}

fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Every process of the browser (tree, group and the daemons naming its folder) is gone from
/// /proc: a zombie would still be listed. Pids grow until they wrap, so within a test a
/// listed pid with a Chromium name is ours.
#[track_caller]
fn assert_tree_gone(members: &[procfs::ProcStat]) {
    for member in members {
        let comm =
            std::fs::read_to_string(format!("/proc/{}/comm", member.pid)).unwrap_or_default();
        if let Some(stat) = procfs::stat(member.pid) {
            assert!(
                !comm.contains("chrom"),
                "chromium process {} ({}) still present in state {}",
                member.pid,
                comm.trim(),
                stat.state
            );
        }
    }
}

/// The browser's processes: its tree and group, plus the daemons (crashpad) naming its folder.
fn everything_of(browser: &ChromiumProcess) -> Vec<procfs::ProcStat> {
    let mut members = procfs::process_tree(browser.pid(), browser.pid());
    members.extend(procfs::processes_mentioning(browser.folder()));
    members
}

fn scratch_root(name: &str) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("dl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_reach_chromium_and_shutdown_leaves_nothing() {
    become_subreaper();
    let root = scratch_root("clean");
    let mut browser = ChromiumProcess::launch(&config(&root), "t")
        .await
        .expect("launch");
    let args = cmdline(browser.pid());
    for wanted in [
        "--headless",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--remote-debugging-port=0",
    ] {
        assert!(
            args.iter().any(|a| a == wanted),
            "{wanted} missing from {args:?}"
        );
    }
    assert!(args.iter().any(|a| a.starts_with("--user-data-dir=")
        && a.contains(&format!("dl-{}-clean", std::process::id()))));
    assert!(
        !args.iter().any(|a| a.starts_with("----")),
        "a doubled prefix would be ignored: {args:?}"
    );
    assert!(
        browser.ws_url().starts_with("ws://127.0.0.1:"),
        "{}",
        browser.ws_url()
    );

    // chromiumoxide drives it.
    let (cdp, mut handler) = chromiumoxide::Browser::connect(browser.ws_url())
        .await
        .expect("connect");
    let polling = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let page = cdp.new_page("about:blank").await.expect("page");
    let two: i64 = page.evaluate("1 + 1").await.unwrap().into_value().unwrap();
    assert_eq!(two, 2);
    assert!(
        browser.memory_bytes() > 10 * 1024 * 1024,
        "a browser uses some memory"
    );

    let members = everything_of(&browser);
    assert!(
        members.len() > 1,
        "chromium starts helper processes: {members:?}"
    );
    // Chromium's daemonized helpers (crashpad) leave the tree and the group, and as the
    // subreaper we are their parent: each must name this browser's folder, or shutdown could
    // not find it.
    let me = std::process::id() as i32;
    let strays: Vec<_> = procfs::all_processes()
        .into_iter()
        .filter(|p| p.ppid == me && p.pid != browser.pid() && p.state != 'Z')
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{}/comm", p.pid))
                .is_ok_and(|c| c.contains("chrom"))
        })
        .filter(|p| !members.iter().any(|m| m.pid == p.pid))
        .collect();
    assert!(
        strays.is_empty(),
        "chromium daemons this browser's shutdown would miss: {strays:?}"
    );
    let folder = browser.folder().to_path_buf();
    assert!(folder.join("p").exists());
    browser.shutdown_now().await;
    polling.abort();
    assert_tree_gone(&members);
    assert!(!folder.exists(), "browser folder removed");
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_browser_is_still_reaped_completely() {
    become_subreaper();
    let root = scratch_root("killed");
    let mut browser = ChromiumProcess::launch(&config(&root), "k")
        .await
        .expect("launch");
    let members = everything_of(&browser);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(browser.pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // SIGKILL is asynchronous: every thread must be torn down, which a loaded machine may
    // take a moment to schedule.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !browser.has_exited() {
        assert!(
            std::time::Instant::now() < until,
            "the killed browser never exited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    browser.shutdown_now().await;
    assert_tree_gone(&members);
    assert!(!browser.folder().exists());
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn a_folder_too_long_for_chromiums_socket_is_refused_up_front() {
    let root = std::env::temp_dir().join("x".repeat(120));
    let err = ChromiumProcess::launch(&config(&root), "long")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("too long"), "{err}");
}

#[tokio::test]
async fn a_missing_binary_is_a_clear_error() {
    let root = scratch_root("missing");
    let config = LaunchConfig {
        executable: "/nonexistent/chromium".into(),
        ..config(&root)
    };
    let err = ChromiumProcess::launch(&config, "m").await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/chromium"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}
