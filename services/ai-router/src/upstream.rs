//! The HTTP stack under one deployment's async-openai client: a warm `reqwest::Client`
//! (keep-alive pool, HTTP/2 where offered) built once, plus what async-openai would otherwise
//! hide or leave unbounded:
//!
//! - **no retries**: async-openai's default executor retries 429 and 5xx with its own backoff,
//!   which would stack on the router's loop. Installing our own service replaces it;
//! - **rate-limit headers**: async-openai turns an error response into `ApiError` and drops
//!   its headers, so `Retry-After` / `retry-after-ms` / `x-ratelimit-reset-*` are read here and
//!   park the deployment before async-openai sees the response;
//! - **a body bound**: every response body is cut at `max_body` bytes. async-openai relays a
//!   streamed answer through an unbounded channel; bounding the body bounds that channel too.

use std::{
    cell::Cell,
    future::Future,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use async_openai::{
    Client, config::OpenAIConfig, error::OpenAIError, middleware::HttpRequestFactory,
};
use drover_resilience::retry_after::http_retry_after;
use futures::future::BoxFuture;
use http_body_util::Limited;

use crate::health::DeploymentHealth;

tokio::task_local! {
    /// Time spent in HTTP exchanges with providers by the current attempt: from sending the
    /// request to the response's headers. The router's overhead is measured against it.
    static HTTP_TIME: Cell<Duration>;
}

/// Runs `attempt` while recording its HTTP time; returns the attempt's output and that time
/// (`None` if no HTTP exchange happened).
pub async fn timed<F: Future>(attempt: F) -> (F::Output, Option<Duration>) {
    HTTP_TIME
        .scope(Cell::new(Duration::ZERO), async {
            let output = attempt.await;
            let took = HTTP_TIME.with(Cell::get);
            (output, (!took.is_zero()).then_some(took))
        })
        .await
}

/// How long a 429 without any delay header parks a deployment.
pub const DEFAULT_RATE_LIMIT_PARK: Duration = Duration::from_secs(1);

/// Idle keep-alive connections kept per deployment host.
const IDLE_CONNECTIONS: usize = 256;

/// The tower service async-openai calls for every request of one deployment.
#[derive(Clone)]
pub struct UpstreamService {
    http: reqwest::Client,
    health: Arc<DeploymentHealth>,
    max_body: usize,
}

impl UpstreamService {
    /// A service over `http` that reports rate limits to `health`.
    pub fn new(http: reqwest::Client, health: Arc<DeploymentHealth>, max_body: usize) -> Self {
        Self {
            http,
            health,
            max_body,
        }
    }
}

impl tower::Service<HttpRequestFactory> for UpstreamService {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = BoxFuture<'static, Result<reqwest::Response, OpenAIError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Concurrency is bounded by the router's per-deployment slots, before this point.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        let health = Arc::clone(&self.health);
        let max_body = self.max_body;
        Box::pin(async move {
            let request = factory.build().await?;
            let sent = Instant::now();
            let response = http.execute(request).await;
            // Outside a `timed` scope (a client used directly) there is nothing to record.
            let _ = HTTP_TIME.try_with(|total| total.set(total.get() + sent.elapsed()));
            let response = response?;
            let status = response.status().as_u16();
            if status == 429 || status == 503 {
                match http_retry_after(response.headers()) {
                    Some(delay) => health.park(delay),
                    // A 503 without a delay is an outage, not pacing: the breaker handles it.
                    None if status == 429 => health.park(DEFAULT_RATE_LIMIT_PARK),
                    None => {}
                }
            }
            Ok(limit_body(response, max_body))
        })
    }
}

/// Re-wraps `response` so reading more than `max_body` bytes of its body fails.
fn limit_body(response: reqwest::Response, max_body: usize) -> reqwest::Response {
    let response: http::Response<reqwest::Body> = response.into();
    let (parts, body) = response.into_parts();
    let limited = reqwest::Body::wrap(Limited::new(body, max_body));
    reqwest::Response::from(http::Response::from_parts(parts, limited))
}

/// What building a deployment's client needs.
pub struct ClientSpec<'a> {
    /// The API base, e.g. `https://api.openai.com/v1`.
    pub base_url: &'a str,
    /// The API key, if the deployment uses one.
    pub api_key: Option<&'a str>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Largest response body accepted.
    pub max_body: usize,
}

/// Builds a deployment's long-lived client: one connection pool, reused by every request.
pub fn build_client(
    spec: &ClientSpec<'_>,
    health: Arc<DeploymentHealth>,
) -> Result<Client<OpenAIConfig>, String> {
    install_crypto_provider();
    let http = reqwest::Client::builder()
        .connect_timeout(spec.connect_timeout)
        .pool_max_idle_per_host(IDLE_CONNECTIONS)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        // Redirects on a POST API are a misconfiguration, and following one could carry the
        // key to another host.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let mut config = OpenAIConfig::new().with_api_base(spec.base_url);
    config = match spec.api_key {
        Some(key) => config.with_api_key(key),
        // async-openai sends `Authorization: Bearer` with whatever key it holds; an empty one
        // is what keyless local endpoints expect to ignore.
        None => config.with_api_key(""),
    };
    let service = UpstreamService::new(http, health, spec.max_body);
    Ok(Client::with_config(config).with_http_service(service))
}

/// reqwest is built with rustls and no crypto provider (a workspace choice, to build ring
/// only); it refuses to build a client until one is installed. Installing twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
