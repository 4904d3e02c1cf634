//! The ai-router's metrics, named in one place (the `/metrics` endpoint serves them).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `drover_ai_router_requests_total` | counter | `op`, `outcome` |
//! | `drover_ai_router_request_seconds` | histogram | `op` |
//! | `drover_ai_router_upstream_seconds` | histogram | `op` |
//! | `drover_ai_router_overhead_seconds` | histogram (total minus upstream) | `op` |
//! | `drover_ai_router_attempt_failures_total` | counter | `deployment`, `class` |
//! | `drover_ai_router_retries_total` | counter | `class` |
//! | `drover_ai_router_failovers_total` | counter | `class` |
//! | `drover_ai_router_cache_total` | counter | `op`, `result` (hit, coalesced, miss) |
//! | `drover_ai_router_queue_wait_seconds` | histogram | |
//! | `drover_ai_router_shed_total` | counter | |
//! | `drover_ai_router_streams_cancelled_total` | counter | |
//! | `drover_ai_router_outstanding` | gauge | `deployment` |
//! | `drover_ai_router_breaker_state` | gauge (0 closed, 1 half-open, 2 open) | `deployment` |
//! | `drover_ai_router_parked` | gauge (1 while parked) | `deployment` |
//!
//! The gauges are refreshed by [`refresh_gauges`], called on each status request and
//! periodically by the server. (`drover-resilience`'s breaker also reports its transitions.)

use std::time::Duration;

use crate::router::{RouteStats, Router};

/// The operation a request ran.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// Unary chat.
    Chat,
    /// Streamed chat.
    ChatStream,
    /// Embeddings.
    Embed,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::Chat => "chat",
            Op::ChatStream => "chat_stream",
            Op::Embed => "embed",
        }
    }
}

/// Records a finished request: outcome (`ok` or the error reason), total time, upstream
/// time and the router's own overhead.
pub fn request_done(op: Op, outcome: &'static str, total: Duration, stats: &RouteStats) {
    let op = op.label();
    metrics::counter!("drover_ai_router_requests_total", "op" => op, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("drover_ai_router_request_seconds", "op" => op).record(total.as_secs_f64());
    if stats.attempts > 0 {
        metrics::histogram!("drover_ai_router_upstream_seconds", "op" => op)
            .record(stats.upstream.as_secs_f64());
    }
    metrics::histogram!("drover_ai_router_overhead_seconds", "op" => op)
        .record(total.saturating_sub(stats.upstream).as_secs_f64());
}

/// A cache lookup's result: `hit`, `coalesced` or `miss`.
pub fn cache(op: Op, result: &'static str) {
    metrics::counter!("drover_ai_router_cache_total", "op" => op.label(), "result" => result)
        .increment(1);
}

pub(crate) fn attempt_failed(deployment: &str, class: &'static str) {
    metrics::counter!(
        "drover_ai_router_attempt_failures_total",
        "deployment" => deployment.to_owned(),
        "class" => class
    )
    .increment(1);
}

pub(crate) fn retry(class: &'static str) {
    metrics::counter!("drover_ai_router_retries_total", "class" => class).increment(1);
}

pub(crate) fn failover(class: &'static str) {
    metrics::counter!("drover_ai_router_failovers_total", "class" => class).increment(1);
}

pub(crate) fn queue_wait(waited: Duration) {
    metrics::histogram!("drover_ai_router_queue_wait_seconds").record(waited.as_secs_f64());
}

pub(crate) fn shed() {
    metrics::counter!("drover_ai_router_shed_total").increment(1);
}

pub(crate) fn stream_cancelled() {
    metrics::counter!("drover_ai_router_streams_cancelled_total").increment(1);
}

/// Sets the per-deployment gauges from the router's current state.
pub fn refresh_gauges(router: &Router) {
    for d in router.deployments() {
        let name = d.name.clone();
        metrics::gauge!("drover_ai_router_outstanding", "deployment" => name.clone())
            .set(f64::from(d.outstanding()));
        metrics::gauge!("drover_ai_router_breaker_state", "deployment" => name.clone())
            .set(d.breaker.state().gauge_value());
        let parked = if d.health.parked_until().is_some() {
            1.0
        } else {
            0.0
        };
        metrics::gauge!("drover_ai_router_parked", "deployment" => name).set(parked);
    }
}
