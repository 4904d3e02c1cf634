//! Serving the router: gRPC (`drover.v1.AiRouterService`) with health and reflection, the
//! metric gauges kept fresh, and a graceful stop.

use std::{sync::Arc, time::Duration};

use drover_api::pb::ai_router_service_server::AiRouterServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;

use crate::{metrics::refresh_gauges, router::Router, service::AiRouterApi};

/// Largest gRPC message decoded: above the router's own request bound, so an oversized chat
/// is refused by the router with INVALID_ARGUMENT naming the field, not by the transport.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// How often the per-deployment gauges are refreshed.
const GAUGE_PERIOD: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` fires, then lets calls under way finish.
/// Health turns NOT_SERVING at shutdown.
pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<AiRouterServiceServer<AiRouterApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(drover_api::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| tracing::error!(error = %e, "reflection descriptor is invalid"))
        .ok();
    let gauges = tokio::spawn({
        let router = Arc::clone(&router);
        let shutdown = shutdown.clone();
        async move {
            let mut tick = tokio::time::interval(GAUGE_PERIOD);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => refresh_gauges(&router),
                }
            }
        }
    });
    let api = AiRouterServiceServer::new(AiRouterApi::new(router))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let mut server = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(api);
    if let Some(reflection) = reflection {
        server = server.add_service(reflection);
    }
    let signal = async move {
        shutdown.cancelled().await;
        health
            .set_not_serving::<AiRouterServiceServer<AiRouterApi>>()
            .await;
    };
    let served = server
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), signal)
        .await;
    gauges.abort();
    served
}

/// The service's name for health checks.
pub const SERVICE_NAME: &str = "drover.v1.AiRouterService";
