//! A Chromium for one test, launched through chromiumoxide: Debian's binary itself (not the
//! `/usr/bin/chromium` wrapper), headless, a fresh profile directory removed at drop, no
//! default viewport override (so a reset page matches a fresh one), and a handler task that
//! survives the CDP events chromiumoxide 0.9.1 cannot parse but stops on a lost connection.
//! Dropping a [`TestBrowser`] kills and reaps the process and removes the profile along with
//! Chromium's temp folders. At most [`MAX_BROWSERS`] run at
//! once across the test binary's threads, to keep a 2-core machine responsive.
//!
//! The pool's own launcher will replace this fixture; it stays deliberately small.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use chromiumoxide::{
    Browser, BrowserConfig, Page, cdp::browser_protocol::browser::BrowserContextId,
    cdp::browser_protocol::target::CreateTargetParams, error::CdpError,
};
use futures::StreamExt;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Browsers alive at once across all tests of the binary.
pub const MAX_BROWSERS: usize = 3;
static SLOTS: Semaphore = Semaphore::const_new(MAX_BROWSERS);
static PROFILES: AtomicUsize = AtomicUsize::new(0);

/// A launched test browser.
pub struct TestBrowser {
    /// The chromiumoxide handle.
    pub browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    profile: PathBuf,
    _slot: SemaphorePermit<'static>,
}

impl TestBrowser {
    /// Launches Chromium once a slot is free.
    pub async fn launch() -> TestBrowser {
        let slot = SLOTS
            .acquire()
            .await
            .expect("browser slots are never closed");
        let profile = std::env::temp_dir().join(format!(
            "drover-page-steps-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        // Chromium's own temp folders (`org.chromium.Chromium.*`, left behind on a kill) go
        // inside the profile, so removing the profile removes them too.
        let scratch = profile.join("tmp");
        std::fs::create_dir_all(&scratch).expect("create the profile directory");
        let config = BrowserConfig::builder()
            .chrome_executable("/usr/lib/chromium/chromium")
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(&profile)
            .env("TMPDIR", scratch.display().to_string())
            .viewport(None)
            .window_size(1024, 768)
            // `arg` adds the leading `--` itself.
            .arg("disable-gpu")
            .arg("disable-background-networking")
            .arg("disable-component-update")
            .arg("disable-sync")
            .arg("no-first-run")
            .build()
            .expect("browser config");
        let (browser, mut handler) = Browser::launch(config).await.expect("launch chromium");
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                match event {
                    Ok(()) | Err(CdpError::InvalidMessage(..)) => {}
                    // The WebSocket or its transport is gone: the browser is too.
                    Err(_) => break,
                }
            }
        });
        TestBrowser {
            browser,
            handler,
            profile,
            _slot: slot,
        }
    }

    /// A new page in the default browser context.
    pub async fn page(&self) -> Page {
        self.browser
            .new_page("about:blank")
            .await
            .expect("new page")
    }

    /// A new page in a fresh browser context of its own.
    pub async fn isolated_page(&self) -> Page {
        let context: BrowserContextId = self
            .browser
            .create_browser_context(Default::default())
            .await
            .expect("create browser context");
        let target = CreateTargetParams::builder()
            .url("about:blank")
            .browser_context_id(context)
            .build()
            .expect("target params");
        self.browser
            .new_page(target)
            .await
            .expect("new page in context")
    }

    /// The browser's process id.
    pub fn pid(&mut self) -> Option<u32> {
        self.browser
            .get_mut_child()
            .and_then(|c| c.as_mut_inner().id())
    }
}

impl Drop for TestBrowser {
    fn drop(&mut self) {
        self.handler.abort();
        if let Some(child) = self.browser.get_mut_child() {
            let child = child.as_mut_inner();
            let _ = child.start_kill();
            // Reap it here (Drop cannot await): no zombie outlives the test.
            for _ in 0..500 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Helper processes may still write into the profile for a moment after the browser
        // process is gone.
        for _ in 0..50 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
