//! Starts Chromium and takes it down completely.
//!
//! Chromium is started directly (the binary under `/usr/lib/chromium`, not Debian's wrapper
//! script, which adds flags from `/etc/chromium.d`) as the leader of its own process group, with a
//! fresh profile, its own `TMPDIR`, config and cache folders, all under one folder per launch. Shutdown kills the whole
//! group and tree, waits every process that became ours, and removes that folder — lock
//! files, crash leftovers and Chromium's `org.chromium.Chromium.*` temp folders included.
//!
//! The pool makes its process a *child subreaper* ([`become_subreaper`]): Chromium's helpers
//! are orphaned when the browser process dies, and its crashpad handlers daemonize at start
//! (double fork, a process group of their own); without it they would be reparented to PID 1,
//! which in a container may reap them late or never. (`--disable-crashpad-for-testing` would
//! avoid crashpad but makes Chromium 156's network service crash in a loop.)

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use nix::{
    sys::{
        signal::{Signal, kill, killpg},
        wait::{WaitPidFlag, WaitStatus, waitpid},
    },
    unistd::Pid,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    task::JoinHandle,
    time::{Instant, sleep, timeout},
};

use crate::procfs;

/// Debian's `chromium-headless-shell`: the same Chromium built as a headless-only browser,
/// without the desktop browser's UI layer that `chromium --headless` still runs. Measured
/// with the pool's bench (Chromium 156, 2 cores): a pooled task costs about half the CPU and
/// half the memory it costs in the full browser, and every step kind behaves the same.
pub const HEADLESS_SHELL: &str = "/usr/lib/chromium/chromium-headless-shell";

/// Debian's full `chromium`, used when the headless shell is not installed.
pub const FULL_CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// The binary a pool launches unless told otherwise: the headless shell if it is installed,
/// else the full Chromium.
pub fn default_executable() -> PathBuf {
    [HEADLESS_SHELL, FULL_CHROMIUM]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from(FULL_CHROMIUM))
}

/// How to start Chromium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchConfig {
    /// The Chromium binary itself.
    pub executable: PathBuf,
    /// Where per-launch folders (profile + temp) are created.
    pub profiles_root: PathBuf,
    /// Window size, which is also the default viewport.
    pub window: (u32, u32),
    /// Pass `--no-sandbox` (required when running as root).
    pub no_sandbox: bool,
    /// Extra switches, without the leading `--`.
    pub extra_args: Vec<String>,
    /// How long Chromium may take to print its DevTools endpoint.
    pub launch_timeout: Duration,
}

impl Default for LaunchConfig {
    fn default() -> Self {
        Self {
            executable: default_executable(),
            profiles_root: std::env::temp_dir().join("drover-bp"),
            window: (1280, 800),
            no_sandbox: nix::unistd::geteuid().is_root(),
            extra_args: Vec::new(),
            launch_timeout: Duration::from_secs(20),
        }
    }
}

/// Why Chromium could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The process could not be spawned (missing binary, permissions).
    #[error("cannot start {path}: {source}")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The per-launch folder could not be created.
    #[error("cannot create browser folder {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Chromium exited or stayed silent before printing its DevTools endpoint.
    #[error(
        "chromium printed no DevTools endpoint within {within:?}; its last words: {last_words}"
    )]
    NoEndpoint {
        /// How long it had.
        within: Duration,
        /// The last lines it printed on stderr (D-Bus noise left out).
        last_words: String,
    },
    /// The folder path is too long for Chromium's singleton socket.
    #[error(
        "browser folder {path} is too long: Chromium's socket path under it would exceed \
         {MAX_SOCKET_PATH} bytes; choose a shorter profiles_root"
    )]
    PathTooLong {
        /// The folder.
        path: PathBuf,
    },
}

/// The longest Unix socket path (`sun_path` is 108 bytes with its terminating NUL).
const MAX_SOCKET_PATH: usize = 107;
/// What Chromium appends to `TMPDIR` for its singleton socket.
const SOCKET_SUFFIX: &str = "/org.chromium.Chromium.XXXXXX/SingletonSocket";

/// The switches every browser gets. Each one is here for a reason:
const BASE_SWITCHES: &[&str] = &[
    "headless",
    "disable-gpu",
    // No calls home: the machine may have no route out, and Drover must not make any.
    "disable-background-networking",
    "disable-component-update",
    "disable-sync",
    "disable-breakpad",
    "disable-domain-reliability",
    "metrics-recording-only",
    "no-first-run",
    "no-default-browser-check",
    "no-pings",
    "disable-extensions",
    "disable-default-apps",
    "password-store=basic",
    "use-mock-keychain",
    // Pooled pages sit in the background between tasks: keep their timers and renderers at
    // full speed.
    "disable-background-timer-throttling",
    "disable-backgrounding-occluded-windows",
    "disable-renderer-backgrounding",
    // Small /dev/shm in containers otherwise crashes renderers.
    "disable-dev-shm-usage",
    // BackForwardCache: a pooled page leaves every task's document for about:blank, and the
    // cache would keep each one frozen in memory instead of unloading it.
    // RenderDocument: with it, every cross-document navigation of a page builds a new frame
    // host, and in the renderer a new frame, widget and compositor, which a page that lives
    // for many tasks pays on each one (a fresh page's first navigation reuses its initial
    // frame either way). Off, a same-site navigation reuses them, as Chromium did by default
    // until recently: measured with pool_modes, pooled tasks ran ~35% more per second.
    "disable-features=Translate,MediaRouter,OptimizationHints,AcceptCHFrame,BackForwardCache,RenderDocument",
    "mute-audio",
    "hide-scrollbars",
    // Chromium picks a free port and prints the endpoint on stderr.
    "remote-debugging-port=0",
    "remote-debugging-address=127.0.0.1",
];

/// A running Chromium process tree and the folder it owns.
#[derive(Debug)]
pub struct ChromiumProcess {
    child: Child,
    pid: i32,
    ws_url: String,
    folder: PathBuf,
    /// Daemonized helpers (crashpad) seen at launch. They may exit with the browser, and a
    /// zombie's command line is empty, so they are remembered by pid; only we can reap them,
    /// so the pids stay theirs until we do.
    daemons: Vec<procfs::ProcStat>,
    stderr_drain: JoinHandle<()>,
    reaped: bool,
}

impl ChromiumProcess {
    /// Starts a browser labelled `label` (used in its folder's name).
    pub async fn launch(config: &LaunchConfig, label: &str) -> Result<Self, LaunchError> {
        // Short names: Chromium puts a Unix socket under TMPDIR, and those paths are limited.
        let folder = config.profiles_root.join(folder_name(label));
        let profile = folder.join("p");
        let tmp = folder.join("t");
        if tmp.as_os_str().len() + SOCKET_SUFFIX.len() > MAX_SOCKET_PATH {
            return Err(LaunchError::PathTooLong { path: folder });
        }
        for dir in [&profile, &tmp] {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| LaunchError::Folder {
                    path: dir.clone(),
                    source,
                })?;
        }
        let mut command = Command::new(&config.executable);
        command
            .args(switches(config, &profile))
            .arg("about:blank")
            .env("TMPDIR", &tmp)
            // Crashpad's database and the disk cache default to ~/.config and ~/.cache: keep
            // them in the folder too, so shutdown removes them and can find crashpad by it.
            .env("XDG_CONFIG_HOME", folder.join("c"))
            .env("XDG_CACHE_HOME", folder.join("k"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own group, so one signal reaches every helper it starts.
            .process_group(0)
            // A last resort if this handle is dropped without `shutdown`.
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| LaunchError::Spawn {
            path: config.executable.clone(),
            source,
        })?;
        let pid = child.id().map_or(0, |id| id as i32);
        let Some(stderr) = child.stderr.take() else {
            return Err(LaunchError::NoEndpoint {
                within: Duration::ZERO,
                last_words: "stderr was not captured".into(),
            });
        };
        let mut lines = BufReader::new(stderr).lines();
        let mut last_words: Vec<String> = Vec::new();
        let found = timeout(config.launch_timeout, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return Some(url.trim().to_owned());
                }
                tracing::trace!(pid, line, "chromium stderr");
                if !line.trim().is_empty() && !line.contains("dbus") {
                    if last_words.len() == 4 {
                        last_words.remove(0);
                    }
                    last_words.push(line);
                }
            }
            None
        })
        .await;
        // Keep reading stderr for the browser's life: a full pipe would block Chromium.
        let stderr_drain = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::trace!(pid, line, "chromium stderr");
            }
        });
        let mut process = Self {
            child,
            pid,
            ws_url: String::new(),
            daemons: Vec::new(),
            folder,
            stderr_drain,
            reaped: false,
        };
        match found {
            Ok(Some(url)) => {
                process.ws_url = url;
                let tree = procfs::process_tree(pid, pid);
                process.daemons = procfs::processes_mentioning(&process.folder)
                    .into_iter()
                    .filter(|p| !tree.iter().any(|t| t.pid == p.pid))
                    .collect();
                Ok(process)
            }
            _ => {
                process.shutdown_now().await;
                Err(LaunchError::NoEndpoint {
                    within: config.launch_timeout,
                    last_words: last_words.join(" | "),
                })
            }
        }
    }

    /// The browser process's id (also its process group id).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The DevTools WebSocket URL.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// The folder holding this browser's profile and temp files.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Memory of the whole process tree (PSS where available).
    pub fn memory_bytes(&self) -> u64 {
        procfs::tree_memory_bytes(self.pid, self.pid)
    }

    /// True once the browser process has exited (crashed or killed).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Kills the whole tree at once, reaps every process that became ours, and removes the
    /// folder. Callers close gracefully first (CDP `Browser.close`) when they have time.
    pub async fn shutdown_now(&mut self) {
        if self.reaped {
            return;
        }
        let mut members = procfs::process_tree(self.pid, self.pid);
        // Crashpad daemonizes out of the tree and the group; it names this folder in its
        // arguments, and as the subreaper we are its parent, so we kill and reap it too.
        let daemons = std::mem::take(&mut self.daemons);
        for stray in daemons
            .into_iter()
            .chain(procfs::processes_mentioning(&self.folder))
        {
            if !members.iter().any(|m| m.pid == stray.pid) {
                members.push(stray);
            }
        }
        let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        for member in members.iter().filter(|m| m.pgrp != self.pid) {
            let _ = kill(Pid::from_raw(member.pid), Signal::SIGKILL);
        }
        let _ = self.child.wait().await;
        reap_orphans(self.pid, &members, Duration::from_secs(2)).await;
        self.stderr_drain.abort();
        if let Err(e) = tokio::fs::remove_dir_all(&self.folder).await {
            tracing::warn!(folder = %self.folder.display(), error = %e, "cannot remove browser folder");
        }
        self.reaped = true;
    }
}

impl Drop for ChromiumProcess {
    fn drop(&mut self) {
        if !self.reaped {
            // Not shut down properly (a panic, or a dropped future): still take the whole
            // group down; tokio reaps the leader (`kill_on_drop`).
            let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
            let _ = std::fs::remove_dir_all(&self.folder);
        }
    }
}

/// The command-line switches for one browser (without the binary and the start URL).
pub fn switches(config: &LaunchConfig, profile: &Path) -> Vec<String> {
    let mut args: Vec<String> = BASE_SWITCHES.iter().map(|s| format!("--{s}")).collect();
    if config.no_sandbox {
        args.push("--no-sandbox".into());
    }
    args.push(format!(
        "--window-size={},{}",
        config.window.0, config.window.1
    ));
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend(
        config
            .extra_args
            .iter()
            .map(|a| format!("--{}", a.trim_start_matches('-'))),
    );
    args
}

/// Makes this process the reaper of its orphaned descendants (see the module docs).
pub fn become_subreaper() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!(error = %e, "cannot become a child subreaper; orphaned chromium helpers are left to PID 1");
    }
}

/// Removes folders that earlier pool processes left behind (a crash skips their cleanup):
/// any folder whose owning process no longer runs.
pub fn sweep_stale_folders(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let owner = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok());
        let alive = owner.is_some_and(|pid| procfs::stat(pid).is_some_and(|p| p.state != 'Z'));
        if !alive {
            tracing::info!(folder = ?entry.path(), "removing a stale browser folder");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `<owner pid>-<label>-<n>`: the owner's pid lets a later pool remove what a crashed one left.
fn folder_name(label: &str) -> String {
    static LAUNCHES: AtomicU32 = AtomicU32::new(0);
    let n = LAUNCHES.fetch_add(1, Ordering::Relaxed);
    format!("{}-{label}-{n}", std::process::id())
}

/// Waits (without blocking) for the processes of a killed tree that were reparented to us.
async fn reap_orphans(leader: i32, members: &[procfs::ProcStat], within: Duration) {
    let me = std::process::id() as i32;
    let until = Instant::now() + within;
    for member in members.iter().filter(|m| m.pid != leader) {
        let pid = Pid::from_raw(member.pid);
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(_) => break,
                // Not (yet) our child: gone, reaped elsewhere, or still being reparented.
                Err(_) => match procfs::stat(member.pid) {
                    None => break,
                    Some(p) if p.ppid != me && p.ppid != leader => break,
                    Some(_) => {}
                },
            }
            if Instant::now() >= until {
                tracing::warn!(pid = member.pid, "chromium helper not reaped in time");
                break;
            }
            sleep(Duration::from_millis(10)).await;
        }
    }
}
