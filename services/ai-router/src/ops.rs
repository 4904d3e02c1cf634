//! The unary operations: chat (through the response cache and single flight) and embeddings
//! (each input's vector cached on its own), both routed by [`Router::route`].

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_openai::types::chat::{CreateChatCompletionResponse, FinishReason as WireFinish};
use drover_api::{
    DroverError, ErrorReason,
    model::output::{ChatCompletion, EmbedResult, FinishReason, TokenUsage},
};
use drover_resilience::Deadline;

use crate::{
    cache::Source,
    failure::{AttemptFailure, classify},
    metrics::{self as m, Op},
    request::{ChatCall, EmbedCall, invalid},
    router::{RouteStats, Router},
};

/// A cached embedding vector and who computed it.
#[derive(Debug)]
pub struct CachedVector {
    values: Vec<f32>,
    model: String,
    deployment: String,
}

impl Router {
    /// Refuses a request over the size bound, naming `field`.
    pub(crate) fn check_size(&self, size: usize, field: &str) -> Result<(), DroverError> {
        let max = self.settings.max_request_bytes;
        if size > max {
            let mut error = invalid(
                field,
                &format!("{size} bytes of text; at most {max} are accepted"),
            );
            error.reason = ErrorReason::PayloadTooLarge;
            return Err(error);
        }
        Ok(())
    }

    /// A chat completion, from the cache when allowed, else from a deployment.
    pub async fn chat(
        &self,
        call: &ChatCall,
        deadline: Deadline,
    ) -> (Result<ChatCompletion, DroverError>, RouteStats) {
        if let Err(e) = self
            .check_group(&call.model_group, "chat.model_group")
            .and_then(|()| self.check_size(call.size(), "chat.messages"))
        {
            return (Err(e), RouteStats::default());
        }
        if !call.cacheable() {
            let result = self.chat_upstream(call, deadline).await;
            return (result.0, result.1);
        }
        // The fetch may be another caller's; its stats arrive through these.
        let attempts = AtomicU64::new(0);
        let upstream_micros = AtomicU64::new(0);
        let key = call.cache_key();
        let (result, source) = self
            .chat_cache
            .get_or_fetch(&key, || async {
                let (result, stats) = self.chat_upstream(call, deadline).await;
                attempts.store(u64::from(stats.attempts), Ordering::Relaxed);
                upstream_micros.store(stats.upstream.as_micros() as u64, Ordering::Relaxed);
                result
            })
            .await;
        let stats = RouteStats {
            attempts: attempts.load(Ordering::Relaxed) as u32,
            upstream: Duration::from_micros(upstream_micros.load(Ordering::Relaxed)),
        };
        m::cache(
            Op::Chat,
            match source {
                Source::Hit => "hit",
                Source::Coalesced => "coalesced",
                Source::Fetched => "miss",
            },
        );
        let result = result.map(|mut completion| {
            completion.cached = source != Source::Fetched;
            completion
        });
        (result, stats)
    }

    async fn chat_upstream(
        &self,
        call: &ChatCall,
        deadline: Deadline,
    ) -> (Result<ChatCompletion, DroverError>, RouteStats) {
        let (routed, stats) = self
            .route(&call.model_group, deadline, |lease| {
                let request = call.to_openai(&lease.deployment.model, false);
                async move {
                    let answer = lease.client().chat().create(request).await;
                    let d = &lease.deployment;
                    let result = match answer {
                        Ok(answer) => {
                            d.count_tokens(answer.usage.as_ref().map_or(0, |u| u.total_tokens));
                            completion_of(answer, &d.name)
                        }
                        Err(e) => Err(classify(&d.name, &e)),
                    };
                    (lease, result)
                }
            })
            .await;
        (routed.map(|routed| routed.value), stats)
    }

    /// Embeddings: cached inputs are answered from the cache, the rest in one upstream call.
    pub async fn embed(
        &self,
        call: &EmbedCall,
        deadline: Deadline,
    ) -> (Result<EmbedResult, DroverError>, RouteStats) {
        if let Err(e) = self
            .check_group(&call.model_group, "embed.model_group")
            .and_then(|()| self.check_size(call.size(), "embed.inputs"))
        {
            return (Err(e), RouteStats::default());
        }
        let keys: Vec<String> = call.inputs.iter().map(|i| call.input_key(i)).collect();
        let mut vectors: Vec<Option<Arc<CachedVector>>> =
            keys.iter().map(|k| self.vector_cache.get(k)).collect();
        let missing: Vec<usize> = (0..vectors.len())
            .filter(|i| vectors[*i].is_none())
            .collect();
        m::cache(Op::Embed, if missing.is_empty() { "hit" } else { "miss" });
        let mut usage = TokenUsage::default();
        let mut stats = RouteStats::default();
        if !missing.is_empty() {
            let inputs: Vec<String> = missing.iter().map(|&i| call.inputs[i].clone()).collect();
            let (routed, route_stats) = self
                .route(&call.model_group, deadline, |lease| {
                    let request = call.to_openai(&lease.deployment.model, inputs.clone());
                    let wanted = inputs.len();
                    async move {
                        let answer = lease.client().embeddings().create(request).await;
                        let d = &lease.deployment;
                        let result = match answer {
                            Ok(mut answer) if answer.data.len() == wanted => {
                                d.count_tokens(answer.usage.total_tokens);
                                answer.data.sort_by_key(|e| e.index);
                                Ok(answer)
                            }
                            Ok(answer) => Err(AttemptFailure::transient(format!(
                                "deployment {} returned {} vectors for {wanted} inputs",
                                d.name,
                                answer.data.len()
                            ))),
                            Err(e) => Err(classify(&d.name, &e)),
                        };
                        (lease, result)
                    }
                })
                .await;
            stats = route_stats;
            let routed = match routed {
                Ok(routed) => routed,
                Err(e) => return (Err(e), stats),
            };
            let answer = routed.value;
            usage = TokenUsage {
                prompt_tokens: answer.usage.prompt_tokens,
                completion_tokens: 0,
                total_tokens: answer.usage.total_tokens,
            };
            for (slot, embedding) in missing.iter().zip(answer.data) {
                let vector = Arc::new(CachedVector {
                    values: embedding.embedding,
                    model: answer.model.clone(),
                    deployment: routed.deployment.name.clone(),
                });
                self.vector_cache.put(&keys[*slot], Arc::clone(&vector));
                vectors[*slot] = Some(vector);
            }
        }
        let first = vectors.iter().flatten().next();
        let model = first.map(|v| v.model.clone()).unwrap_or_default();
        let deployment = first.map(|v| v.deployment.clone()).unwrap_or_default();
        let embeddings = vectors
            .into_iter()
            .map(|v| v.map(|v| v.values.clone()).unwrap_or_default())
            .collect();
        let result = EmbedResult {
            embeddings,
            usage,
            model,
            deployment,
        };
        (Ok(result), stats)
    }
}

/// Reads the first choice of a chat answer.
fn completion_of(
    answer: CreateChatCompletionResponse,
    deployment: &str,
) -> Result<ChatCompletion, AttemptFailure> {
    let Some(choice) = answer.choices.into_iter().next() else {
        return Err(AttemptFailure::transient(format!(
            "deployment {deployment} answered with no choices"
        )));
    };
    Ok(ChatCompletion {
        content: choice.message.content.unwrap_or_default(),
        finish_reason: finish_reason(choice.finish_reason),
        usage: answer
            .usage
            .map_or_else(TokenUsage::default, |u| TokenUsage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: u.total_tokens,
            }),
        model: answer.model,
        deployment: deployment.to_owned(),
        cached: false,
    })
}

/// The v1 finish reason of a provider's.
pub(crate) fn finish_reason(reason: Option<WireFinish>) -> FinishReason {
    match reason {
        Some(WireFinish::Stop) => FinishReason::Stop,
        Some(WireFinish::Length) => FinishReason::Length,
        Some(WireFinish::ContentFilter) => FinishReason::ContentFilter,
        Some(WireFinish::ToolCalls | WireFinish::FunctionCall) => FinishReason::ToolCalls,
        None => FinishReason::Unspecified,
    }
}

/// The vector cache's value type.
pub(crate) type VectorEntry = Arc<CachedVector>;
