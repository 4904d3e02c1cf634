//! `drover-runtime`: what every Drover service process does the same way at start and stop,
//! written once: install the log subscriber and the process's Prometheus exporter, bind the
//! gRPC listener and announce its address as the first stdout line (so a parent that asked
//! for port 0 learns the port), and turn SIGTERM or SIGINT into a cancellation the service
//! drains on.

use std::{io::IsTerminal, net::SocketAddr};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Installs the process's log subscriber: to stderr, filtered by `DROVER_LOG` (tracing's
/// `EnvFilter` syntax, e.g. `debug` or `drover_scheduler=debug`) or else `default_filter`.
///
/// chromiumoxide's handler logs each browser's WebSocket closing as an error, on every normal
/// shutdown as on a crash; the browser pool reports both itself (a crash as a warning naming
/// the browser), so those lines are left out unless `DROVER_LOG` mentions chromiumoxide.
pub fn init_logging(default_filter: &str) {
    let chosen = std::env::var("DROVER_LOG")
        .ok()
        .filter(|spec| !spec.trim().is_empty());
    let spec = chosen.as_deref().unwrap_or(default_filter);
    let spec = if spec.contains("chromiumoxide") {
        spec.to_owned()
    } else {
        format!("{spec},chromiumoxide::handler=off")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("DROVER_LOG={spec:?} is not a log filter ({e}); using {default_filter:?}");
        tracing_subscriber::EnvFilter::new(default_filter)
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Serves Prometheus `/metrics` on `addr` (nothing when `None`). A process has one exporter:
/// call this once, at start.
pub fn install_metrics(addr: Option<SocketAddr>) -> Result<(), String> {
    let Some(addr) = addr else {
        return Ok(());
    };
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))
}

/// Binds `addr` and prints `<service> listening on <bound address>` on stdout.
pub async fn bind_announced(service: &str, addr: SocketAddr) -> Result<TcpListener, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    match listener.local_addr() {
        Ok(bound) => println!("{service} listening on {bound}"),
        Err(e) => tracing::warn!(error = %e, "cannot read the bound address"),
    }
    Ok(listener)
}

/// Waits for SIGTERM or SIGINT. Without signal handlers (which should not happen) it waits
/// forever and says so: the process then stops only with SIGKILL.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

/// A token cancelled at the first SIGTERM or SIGINT.
pub fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    tokio::spawn({
        let token = token.clone();
        async move {
            wait_for_signal().await;
            token.cancel();
        }
    });
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_listener_is_bound_where_asked() {
        let listener = bind_announced("test", "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bound");
        assert!(listener.local_addr().expect("addr").port() > 0);
        let taken = listener.local_addr().expect("addr");
        let error = bind_announced("test", taken).await.expect_err("in use");
        assert!(error.contains(&taken.to_string()), "{error}");
    }

    #[tokio::test]
    async fn no_address_installs_no_exporter() {
        assert_eq!(install_metrics(None), Ok(()));
    }
}
