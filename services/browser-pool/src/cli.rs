//! The `drover-browser-pool` command line, as a library function so that the
//! `drover-browser-pool` binary and `drover browser-pool` run the same code: layered settings
//! ([`crate::config`]), the metrics exporter, the bound address on stdout, and a drain on
//! SIGTERM or SIGINT.

use std::process::ExitCode;

use crate::config::{Config, ProcessEnv};

/// Runs the pool as the `drover-browser-pool` binary does, with `args` (without the program
/// name): `--help`, layered settings, metrics exporter, bind, the `drover-browser-pool
/// listening on ADDR` line on stdout, serve (and take scheduler work with `--scheduler`)
/// until SIGTERM or SIGINT, then drain. Exit codes: 0 after a signal, 2 for a bad
/// configuration or address, 1 if the pool fails. The caller installs the tracing subscriber
/// and the Tokio runtime; this installs the process's Prometheus recorder (one per process).
pub async fn main(args: Vec<String>) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", HELP);
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(&args, &ProcessEnv) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("drover-browser-pool: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = drover_runtime::install_metrics(config.metrics_listen) {
        eprintln!("drover-browser-pool: {e}");
        return ExitCode::from(2);
    }
    let listener = match drover_runtime::bind_announced("drover-browser-pool", config.listen).await
    {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("drover-browser-pool: {e}");
            return ExitCode::from(2);
        }
    };
    let shutdown = drover_runtime::cancel_on_signal();
    match crate::server::run(config, listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drover-browser-pool: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Waits for SIGTERM or SIGINT (shared by every Drover process).
pub use drover_runtime::wait_for_signal;

/// `--help`.
pub const HELP: &str =
    "drover-browser-pool: warm Chromium browsers behind drover.v1.BrowserPoolService

usage: drover-browser-pool [--name value]...

Every setting can also come from a TOML file (--config FILE) or the environment
(DROVER_BROWSER_POOL_<NAME>); flags win over the environment, which wins over the file.

  --config FILE                   a TOML file of these settings
  --listen ADDR                   gRPC address (default 127.0.0.1:50061; port 0 picks one)
  --metrics-listen ADDR|off       Prometheus /metrics address (default 127.0.0.1:9461)
  --browsers N                    browsers kept running (default 2)
  --pages-per-browser N           tasks one browser runs at once (default 4)
  --max-waiting N                 tasks that may wait for a page (default 256)
  --chromium PATH                 Chromium binary (default /usr/lib/chromium/chromium-headless-shell
                                  if installed, else /usr/lib/chromium/chromium)
  --profiles-root DIR             browser profile folder (default $TMPDIR/drover-bp)
  --idle-pages N                  idle pages kept per browser (default 4)
  --spare-isolated-contexts N     isolated contexts kept ready per browser (default 2)
  --max-contexts N                shared/session contexts per browser (default 32)
  --max-tasks-per-browser N       recycle a browser after N tasks (default 1000; 0 never)
  --max-browser-age-secs S        recycle a browser after S seconds (default 3600)
  --max-browser-memory-mb M       recycle a browser above M MiB (default 1536)
  --memory-high-watermark R       take no work above this memory share (default 0.75)
  --default-task-timeout-secs S   a job's time limit when it names none (default 300)
  --drain-grace-secs S            time running tasks get on SIGTERM (default 60)
  --allow-link-local BOOL         allow link-local/metadata addresses (default false)
  --deferred-reset BOOL           let the next task's navigate replace a returned page's
                                  document instead of loading about:blank (default true)
  --freeze-parked-after-ms MS     freeze a parked page that stays idle this long
                                  (default 1000; 0 at once)
  --collect-garbage-every N       a full JS garbage collection for every Nth page
                                  parked (default 16; 0 never)
  --scheduler URL                 also take browser work from this scheduler (http://host:port)
  --worker-id ID                  the worker's name at the scheduler (default browser-<pid>)
  --worker-slots N                assignments run at once for it (default browsers x pages)

Logs go to stderr (DROVER_LOG=debug for more).";
