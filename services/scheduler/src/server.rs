//! Serving the scheduler: the public API and the worker hub on one gRPC port, with health
//! and reflection, until a shutdown signal.

use drover_api::{
    UrlPolicy,
    pb::{
        scheduler_service_server::SchedulerServiceServer,
        worker_hub_service_server::WorkerHubServiceServer,
    },
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;

use crate::{api::SchedulerApi, config::SchedulerConfig, core, hub::WorkerHub};

/// Largest message either way: task results carry screenshots and PDFs (bounded per task
/// by `max_task_output_bytes`).
const MAX_MESSAGE: usize = 80 * 1024 * 1024;

/// Starts the core and serves on `listener` until `shutdown` fires; then stops accepting and
/// lets calls under way end. Health turns NOT_SERVING at shutdown.
pub async fn serve(
    config: SchedulerConfig,
    url_policy: UrlPolicy,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let handle = core::start(config);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<SchedulerServiceServer<SchedulerApi>>()
        .await;
    health
        .set_serving::<WorkerHubServiceServer<WorkerHub>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(drover_api::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| tracing::error!(error = %e, "reflection descriptor is invalid"))
        .ok();
    let api = SchedulerServiceServer::new(SchedulerApi::new(handle.clone(), url_policy))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let hub = WorkerHubServiceServer::new(WorkerHub::new(handle))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let mut server = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(api)
        .add_service(hub);
    if let Some(reflection) = reflection {
        server = server.add_service(reflection);
    }
    let signal = async move {
        shutdown.cancelled().await;
        health
            .set_not_serving::<SchedulerServiceServer<SchedulerApi>>()
            .await;
    };
    server
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), signal)
        .await
}
