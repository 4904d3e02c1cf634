//! The direct gRPC API (`drover.v1.BrowserPoolService`), with gRPC health and reflection.
//! Handlers are thin: convert and validate the request, run it in the pool, convert back;
//! errors map to statuses once, through [`drover_api::DroverError`].

use std::time::Duration;

use drover_api::{DroverError, convert, pb};
use drover_resilience::Deadline;
use tokio::{net::TcpListener, time::Instant};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use crate::{
    actor::BrowserPhase,
    pool::{BrowserPool, TaskRun},
};

/// The gRPC service over a [`BrowserPool`].
#[derive(Clone)]
pub struct BrowserPoolApi {
    pool: BrowserPool,
}

impl BrowserPoolApi {
    /// A service over `pool`.
    pub fn new(pool: BrowserPool) -> Self {
        Self { pool }
    }
}

#[tonic::async_trait]
impl pb::browser_pool_service_server::BrowserPoolService for BrowserPoolApi {
    async fn execute_browser_job(
        &self,
        request: Request<pb::ExecuteBrowserJobRequest>,
    ) -> Result<Response<pb::ExecuteBrowserJobResponse>, Status> {
        // The caller's gRPC deadline bounds the job as much as its own timeout does.
        let caller_deadline = Deadline::from_metadata(request.metadata());
        let job = convert::browser_job(request.into_inner(), &self.pool.config().url_policy)?;
        let mut task = TaskRun::from_job(job, self.pool.config().default_task_timeout);
        if let Some(deadline) = caller_deadline {
            task.deadline = task.deadline.min(deadline.instant());
        }
        let outputs = self.pool.run(task).await.map_err(DroverError::from)?;
        Ok(Response::new(pb::ExecuteBrowserJobResponse {
            outputs: outputs.into_iter().map(Into::into).collect(),
        }))
    }

    async fn get_pool_status(
        &self,
        _request: Request<pb::GetPoolStatusRequest>,
    ) -> Result<Response<pb::GetPoolStatusResponse>, Status> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = Instant::now();
        let browsers = self
            .pool
            .browsers()
            .iter()
            .map(|b| {
                let s = b.stats();
                pb::BrowserStatus {
                    id: s.id.to_string(),
                    pid: s.pid,
                    state: match s.phase() {
                        BrowserPhase::Ready => pb::BrowserState::Ready,
                        BrowserPhase::Draining => pb::BrowserState::Draining,
                        BrowserPhase::Gone => pb::BrowserState::BackingOff,
                    } as i32,
                    pages_idle: s.idle_pages.load(Relaxed),
                    pages_in_use: s.in_use.load(Relaxed),
                    tasks_served: s.tasks_served.load(Relaxed),
                    memory_bytes: s.memory_bytes.load(Relaxed),
                    age: Some(duration_to_pb(now.duration_since(s.started_at))),
                    contexts: s.contexts.load(Relaxed),
                }
            })
            .collect();
        Ok(Response::new(pb::GetPoolStatusResponse {
            browsers,
            capacity: self.pool.available_capacity() as u32,
            in_use: self.pool.running() as u32,
            accepting: self.pool.accepting(),
            system_memory_used: crate::procfs::memory_used_ratio().unwrap_or(0.0),
        }))
    }
}

fn duration_to_pb(d: Duration) -> prost_types::Duration {
    drover_api::validate::to_proto_duration(d)
}

/// Serves the API, health and reflection on `listener` until `shutdown` fires; then stops
/// accepting and waits for the calls under way. Health turns NOT_SERVING at shutdown.
pub async fn serve(
    listener: TcpListener,
    pool: BrowserPool,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::browser_pool_service_server::BrowserPoolServiceServer<BrowserPoolApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(drover_api::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| {
            tracing::error!(error = %e, "reflection descriptor is invalid");
            e
        })
        .ok();
    let api =
        pb::browser_pool_service_server::BrowserPoolServiceServer::new(BrowserPoolApi::new(pool))
            // Screenshots and PDFs can be large; the pool bounds outputs itself.
            .max_encoding_message_size(80 * 1024 * 1024);
    let mut router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(api);
    if let Some(reflection) = reflection {
        router = router.add_service(reflection);
    }
    let signal = async move {
        shutdown.cancelled().await;
        health
            .set_not_serving::<pb::browser_pool_service_server::BrowserPoolServiceServer<BrowserPoolApi>>()
            .await;
    };
    router
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), signal)
        .await
}

/// Runs the whole service on `listener`: starts the pool, serves until `shutdown` fires, then
/// drains (running tasks get `drain_grace` to finish, the rest are cancelled) and closes every
/// browser. `ready` is told the pool is up, for callers that print or wait on it.
pub async fn run(
    config: crate::config::Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), crate::error::PoolError> {
    let pool = BrowserPool::start(config.pool.clone()).await?;
    let worker = match &config.scheduler {
        Some(scheduler) => {
            let slots = config
                .worker_slots
                .unwrap_or((config.pool.browsers * config.pool.pages_per_browser) as u32);
            let worker_config = drover_worker::WorkerConfig::new(
                scheduler.clone(),
                config.worker_id.clone(),
                pb::WorkerKind::Browser,
                slots,
            );
            let executor =
                std::sync::Arc::new(crate::worker::BrowserExecutor::new(pool.clone(), slots));
            let worker = drover_worker::Worker::start(worker_config, executor).map_err(|e| {
                crate::error::PoolError::Invalid(drover_api::ValidationError::single(
                    "scheduler",
                    e.to_string(),
                ))
            })?;
            tracing::info!(%scheduler, worker = %config.worker_id, slots, "taking browser work from the scheduler");
            Some(worker)
        }
        None => None,
    };
    let server = tokio::spawn(serve(listener, pool.clone(), shutdown.clone()));
    shutdown.cancelled().await;
    tracing::info!(grace = ?config.drain_grace, "draining the browser pool");
    // The scheduler first: it stops sending work and gets its running assignments back.
    if let Some(worker) = worker {
        worker.drain(config.drain_grace).await;
    }
    pool.drain(config.drain_grace).await;
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "gRPC server failed"),
        Err(e) => tracing::error!(error = %e, "gRPC server task failed"),
    }
    tracing::info!("browser pool stopped");
    Ok(())
}
