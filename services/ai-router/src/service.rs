//! The gRPC API (`drover.v1.AiRouterService`). Handlers are thin: validate and render the
//! request, take the caller's deadline, run it on the [`Router`], convert back; errors become
//! statuses once, through [`DroverError`]. Each unary answer carries the time spent upstream
//! in the `drover-upstream-us` header, so a client can compute the router's overhead.

use std::{pin::Pin, sync::Arc, time::Instant};

use drover_api::{DroverError, convert, model::output::PriorOutputs, pb};
use drover_resilience::Deadline;
use futures::Stream;
use tonic::{Request, Response, Status, metadata::MetadataValue};

use crate::{
    metrics::{self as m, Op, refresh_gauges},
    request::{ChatCall, EmbedCall},
    router::{RouteStats, Router},
    stream::StreamEvent,
};

/// The response header carrying upstream time in microseconds.
pub const UPSTREAM_HEADER: &str = "drover-upstream-us";

/// The service over a shared [`Router`].
#[derive(Clone)]
pub struct AiRouterApi {
    router: Arc<Router>,
}

impl AiRouterApi {
    /// A service over `router`.
    pub fn new(router: Arc<Router>) -> Self {
        Self { router }
    }
}

fn outcome_label(result: &Result<impl Sized, DroverError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.reason.as_str(),
    }
}

fn with_upstream<T>(message: T, stats: &RouteStats) -> Response<T> {
    let mut response = Response::new(message);
    if let Ok(value) = MetadataValue::try_from(stats.upstream.as_micros().to_string()) {
        response.metadata_mut().insert(UPSTREAM_HEADER, value);
    }
    response
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ChatStreamResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::ai_router_service_server::AiRouterService for AiRouterApi {
    async fn chat(
        &self,
        request: Request<pb::ChatRequest>,
    ) -> Result<Response<pb::ChatResponse>, Status> {
        let started = Instant::now();
        let deadline = self
            .router
            .deadline_for(Deadline::from_metadata(request.metadata()));
        let (_tenant, spec) = convert::chat_request(request.into_inner())?;
        let call = ChatCall::render(spec, &PriorOutputs::new())?;
        let (result, stats) = self.router.chat(&call, deadline).await;
        m::request_done(Op::Chat, outcome_label(&result), started.elapsed(), &stats);
        let completion = result?;
        Ok(with_upstream(
            pb::ChatResponse {
                completion: Some(completion.into()),
            },
            &stats,
        ))
    }

    type ChatStreamStream = EventStream;

    async fn chat_stream(
        &self,
        request: Request<pb::ChatStreamRequest>,
    ) -> Result<Response<Self::ChatStreamStream>, Status> {
        let started = Instant::now();
        let deadline = self
            .router
            .deadline_for(Deadline::from_metadata(request.metadata()));
        let pb::ChatStreamRequest { chat, tenant } = request.into_inner();
        let (_tenant, spec) = convert::chat_request(pb::ChatRequest { chat, tenant })?;
        let call = ChatCall::render(spec, &PriorOutputs::new())?;
        let (opened, stats) = self.router.chat_stream(&call, deadline).await;
        let stream = match opened {
            Ok(stream) => stream,
            Err(e) => {
                m::request_done(Op::ChatStream, e.reason.as_str(), started.elapsed(), &stats);
                return Err(e.into());
            }
        };
        let stats = stream.stats;
        let events = futures::stream::unfold(
            (stream.events, false),
            move |(mut events, ended)| async move {
                if ended {
                    return None;
                }
                let event = events.recv().await?;
                let ended = !matches!(event, Ok(StreamEvent::Delta(_)));
                if ended {
                    m::request_done(
                        Op::ChatStream,
                        outcome_label(&event),
                        started.elapsed(),
                        &stats,
                    );
                }
                let item = match event {
                    Ok(StreamEvent::Delta(content)) => Ok(pb::ChatStreamResponse {
                        event: Some(pb::chat_stream_response::Event::Delta(pb::ChatDelta {
                            content,
                        })),
                    }),
                    Ok(StreamEvent::Done(completion)) => Ok(pb::ChatStreamResponse {
                        event: Some(pb::chat_stream_response::Event::Completion(
                            completion.into(),
                        )),
                    }),
                    Err(e) => Err(Status::from(e)),
                };
                Some((item, (events, ended)))
            },
        );
        Ok(with_upstream(Box::pin(events), &stats))
    }

    async fn embed(
        &self,
        request: Request<pb::EmbedRequest>,
    ) -> Result<Response<pb::EmbedResponse>, Status> {
        let started = Instant::now();
        let deadline = self
            .router
            .deadline_for(Deadline::from_metadata(request.metadata()));
        let (_tenant, spec) = convert::embed_request(request.into_inner())?;
        let call = EmbedCall::render(spec, &PriorOutputs::new())?;
        let (result, stats) = self.router.embed(&call, deadline).await;
        m::request_done(Op::Embed, outcome_label(&result), started.elapsed(), &stats);
        let result = result?;
        Ok(with_upstream(
            pb::EmbedResponse {
                result: Some(result.into()),
            },
            &stats,
        ))
    }

    async fn get_router_status(
        &self,
        _request: Request<pb::GetRouterStatusRequest>,
    ) -> Result<Response<pb::GetRouterStatusResponse>, Status> {
        refresh_gauges(&self.router);
        let now = tokio::time::Instant::now();
        let system_now = std::time::SystemTime::now();
        let deployments = self
            .router
            .deployments()
            .iter()
            .enumerate()
            .map(|(i, d)| pb::DeploymentStatus {
                name: d.name.clone(),
                model_group: self.router.groups_of(i).join(","),
                model: d.model.clone(),
                breaker: match d.breaker.state() {
                    drover_resilience::BreakerState::Closed => pb::BreakerState::Closed,
                    drover_resilience::BreakerState::HalfOpen => pb::BreakerState::HalfOpen,
                    drover_resilience::BreakerState::Open => pb::BreakerState::Open,
                } as i32,
                parked_until: d
                    .health
                    .parked_until()
                    .map(|until| prost_types::Timestamp::from(system_now + (until - now))),
                outstanding: d.outstanding(),
                max_concurrency: d.max_concurrency,
                latency_ewma: Some(drover_api::validate::to_proto_duration(
                    std::time::Duration::from_micros(d.health.latency.get()),
                )),
                disabled: d.health.is_disabled(),
            })
            .collect();
        Ok(Response::new(pb::GetRouterStatusResponse {
            deployments,
            cache_entries: self.router.cache_entries() as u64,
        }))
    }
}
