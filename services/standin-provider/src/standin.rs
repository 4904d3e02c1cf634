//! [`StandIn`]: an in-process stand-in server on `127.0.0.1:0` for tests and benchmarks, with
//! its configuration, its counters and its default behaviour at hand, stopped on drop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::behavior::BehaviorError;
use crate::error::Error;
use crate::server::serve_shared;
use crate::shared::Shared;
use crate::stats::Stats;

/// How a stand-in server behaves.
#[derive(Debug, Clone)]
pub struct StandInConfig {
    /// When set, every OpenAI request must carry `Authorization: Bearer <key>` (401
    /// otherwise). The control routes (`/_standin/*`) never need it.
    pub api_key: Option<String>,
    /// The default behaviour spec (see [`crate::behavior`]); empty means answer normally.
    pub behavior: String,
    /// On shutdown, how long open connections may finish before they are closed.
    pub drain_timeout: Duration,
}

impl Default for StandInConfig {
    fn default() -> Self {
        StandInConfig {
            api_key: None,
            behavior: String::new(),
            drain_timeout: Duration::from_secs(1),
        }
    }
}

/// A running stand-in provider. Dropping it stops the server and every connection task.
#[derive(Debug)]
pub struct StandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl StandIn {
    /// Starts a stand-in on `127.0.0.1:0` in the current tokio runtime.
    pub async fn start(config: StandInConfig) -> Result<StandIn, Error> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(&config)?);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve_shared(
            listener,
            Arc::clone(&shared),
            config.drain_timeout,
            shutdown.clone(),
        ));
        Ok(StandIn {
            addr,
            shared,
            shutdown,
            task: Some(task),
        })
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI API base URL, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Replaces the default behaviour; requests already under way keep theirs.
    pub fn set_behavior(&self, spec: &str) -> Result<(), BehaviorError> {
        self.shared.set_behavior(spec)
    }

    /// Stops accepting, lets open connections finish within the drain timeout, and waits.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // Drop cannot wait for the drain: abort, which drops the connection JoinSet and so
        // aborts every connection task too.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
