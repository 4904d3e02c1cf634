//! Streamed chat. Opening the stream is one routed attempt that succeeds when the first
//! chunk arrives within the deployment's time-to-first-token limit, so failover happens only
//! before anything reached the caller. After that a task relays chunks through a bounded
//! channel, enforcing the idle limit between chunks and the request's deadline; the answer
//! ends with the whole completion, or with an error: a stream that stops without a finish
//! reason is `STREAM_TRUNCATED`, never a success. When the caller goes away the task drops
//! the upstream stream, which closes the provider connection.

use async_openai::{error::OpenAIError, types::chat::CreateChatCompletionStreamResponse};
use drover_api::{
    DroverError, ErrorReason,
    model::output::{ChatCompletion, FinishReason, TokenUsage},
};
use drover_resilience::{Deadline, FailureClass};
use futures::{Stream, StreamExt};
use tokio::{sync::mpsc, time::Instant};

use crate::{
    deployment::Lease,
    failure::{AttemptFailure, classify},
    metrics as m,
    ops::finish_reason,
    request::ChatCall,
    router::{RouteStats, Router},
};

/// One item of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A piece of the answer.
    Delta(String),
    /// The end: the whole answer, its finish reason and usage.
    Done(ChatCompletion),
}

/// A streamed answer as the caller reads it.
pub struct ChatStream {
    /// Events in order; an `Err` is the last item.
    pub events: mpsc::Receiver<Result<StreamEvent, DroverError>>,
    /// Attempts and upstream time until the first chunk.
    pub stats: RouteStats,
}

type Upstream = std::pin::Pin<
    Box<dyn Stream<Item = Result<CreateChatCompletionStreamResponse, OpenAIError>> + Send>,
>;

impl Router {
    /// Opens a streamed chat; errors before the first chunk (after failover) come back here.
    pub async fn chat_stream(
        &self,
        call: &ChatCall,
        deadline: Deadline,
    ) -> (Result<ChatStream, DroverError>, RouteStats) {
        if let Err(e) = self
            .check_group(&call.model_group, "chat.model_group")
            .and_then(|()| self.check_size(call.size(), "chat.messages"))
        {
            return (Err(e), RouteStats::default());
        }
        let (routed, stats) = self
            .route(&call.model_group, deadline, |lease| {
                let request = call.to_openai(&lease.deployment.model, true);
                async move {
                    let result = first_chunk(&lease, request).await;
                    (lease, result)
                }
            })
            .await;
        let routed = match routed {
            Ok(routed) => routed,
            Err(e) => return (Err(e), stats),
        };
        let (upstream, first) = routed.value;
        let (sender, events) = mpsc::channel(self.settings.stream_buffer);
        let relay = Relay {
            lease: routed.lease,
            sender,
            deadline,
            max_bytes: self.settings.max_response_bytes,
            content: String::new(),
            finish: None,
            usage: None,
            model: String::new(),
        };
        tokio::spawn(relay.run(upstream, first));
        (Ok(ChatStream { events, stats }), stats)
    }
}

/// Sends the request and waits for the first chunk, within the time-to-first-token limit.
async fn first_chunk(
    lease: &Lease,
    request: async_openai::types::chat::CreateChatCompletionRequest,
) -> Result<(Upstream, CreateChatCompletionStreamResponse), AttemptFailure> {
    let d = &lease.deployment;
    let opened = tokio::time::timeout(d.first_token_timeout, async {
        let mut upstream: Upstream = Box::pin(lease.client().chat().create_stream(request).await?);
        let first = upstream.next().await;
        Ok::<_, OpenAIError>((upstream, first))
    })
    .await;
    match opened {
        Err(_) => Err(AttemptFailure::transient(format!(
            "deployment {} sent no first chunk within {:?}",
            d.name, d.first_token_timeout
        ))),
        Ok(Err(e)) => Err(classify(&d.name, &e)),
        Ok(Ok((_, None))) => Err(AttemptFailure::new(
            FailureClass::Transient,
            ErrorReason::StreamTruncated,
            format!(
                "deployment {}'s stream ended before its first chunk",
                d.name
            ),
        )),
        Ok(Ok((_, Some(Err(e))))) => Err(classify(&d.name, &e)),
        Ok(Ok((upstream, Some(Ok(first))))) => Ok((upstream, first)),
    }
}

/// The task relaying one stream.
struct Relay {
    lease: Lease,
    sender: mpsc::Sender<Result<StreamEvent, DroverError>>,
    deadline: Deadline,
    max_bytes: usize,
    content: String,
    finish: Option<FinishReason>,
    usage: Option<TokenUsage>,
    model: String,
}

impl Relay {
    async fn run(mut self, mut upstream: Upstream, first: CreateChatCompletionStreamResponse) {
        let idle = self.lease.deployment.idle_timeout;
        let mut next = Some(first);
        loop {
            if let Some(chunk) = next.take() {
                if let Err(e) = self.take(chunk).await {
                    let _ = self.sender.send(Err(e)).await;
                    return;
                }
                if self.sender.is_closed() {
                    m::stream_cancelled();
                    return;
                }
            }
            let limit = (Instant::now() + idle).min(self.deadline.instant());
            let item = tokio::select! {
                biased;
                // The caller went away: dropping `upstream` closes the provider connection.
                () = self.sender.closed() => {
                    m::stream_cancelled();
                    return;
                }
                item = tokio::time::timeout_at(limit, upstream.next()) => item,
            };
            let outcome = match item {
                Ok(Some(Ok(chunk))) => {
                    next = Some(chunk);
                    continue;
                }
                Ok(Some(Err(e))) => Err(classify(&self.lease.deployment.name, &e).error),
                Ok(None) => self.finish(),
                Err(_) if self.deadline.is_expired() => Err(DroverError::new(
                    ErrorReason::DeadlineExceeded,
                    "the request's deadline passed while the answer was streaming",
                )),
                Err(_) => Err(DroverError::new(
                    ErrorReason::Transient,
                    format!(
                        "deployment {} went silent for {idle:?} mid-stream",
                        self.lease.deployment.name
                    ),
                )),
            };
            let _ = self.sender.send(outcome).await;
            return;
        }
    }

    /// Folds one chunk in and forwards its text.
    async fn take(&mut self, chunk: CreateChatCompletionStreamResponse) -> Result<(), DroverError> {
        if self.model.is_empty() {
            self.model = chunk.model;
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(TokenUsage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: u.total_tokens,
            });
            self.lease.deployment.count_tokens(u.total_tokens);
        }
        let Some(choice) = chunk.choices.into_iter().find(|c| c.index == 0) else {
            return Ok(());
        };
        if choice.finish_reason.is_some() {
            self.finish = Some(finish_reason(choice.finish_reason));
        }
        if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
            if self.content.len() + text.len() > self.max_bytes {
                return Err(DroverError::new(
                    ErrorReason::PayloadTooLarge,
                    format!("the answer exceeded {} bytes", self.max_bytes),
                ));
            }
            self.content.push_str(&text);
            // A closed receiver is noticed by the caller of `take`.
            let _ = self.sender.send(Ok(StreamEvent::Delta(text))).await;
        }
        Ok(())
    }

    /// The upstream ended: complete if it said why it stopped, else truncated.
    fn finish(&mut self) -> Result<StreamEvent, DroverError> {
        let Some(finish_reason) = self.finish else {
            return Err(DroverError::new(
                ErrorReason::StreamTruncated,
                format!(
                    "deployment {}'s stream ended without a finish reason after {} bytes",
                    self.lease.deployment.name,
                    self.content.len()
                ),
            ));
        };
        Ok(StreamEvent::Done(ChatCompletion {
            content: std::mem::take(&mut self.content),
            finish_reason,
            usage: self.usage.take().unwrap_or_default(),
            model: std::mem::take(&mut self.model),
            deployment: self.lease.deployment.name.clone(),
            cached: false,
        }))
    }
}
