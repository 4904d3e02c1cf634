//! Chat completions over real HTTP, parsed by async-openai 0.43 (the router's client): JSON
//! answers, streams, JSON mode, token limits, usage chunks, labelling, and h2c.

mod common;

use async_openai::types::chat::{
    ChatCompletionStreamOptions, CreateChatCompletionStreamResponse, FinishReason, ResponseFormat,
};
use common::*;
use drover_standin_provider::{Endpoint, Outcome, STANDIN_HEADER};
use futures::StreamExt;
use http::Method;

#[tokio::test]
async fn json_chat_is_parsed_by_async_openai_and_deterministic() {
    let standin = standin("").await;
    let client = client(&standin);
    let request = chat_request("gpt-test", "name three rivers in Europe please");
    let first = client
        .chat()
        .create(request.clone())
        .await
        .expect("chat answer");
    let second = client.chat().create(request).await.expect("chat answer");

    assert_eq!(first.object, "chat.completion");
    assert_eq!(first.model, "gpt-test");
    let choice = &first.choices[0];
    let content = choice.message.content.as_deref().expect("content");
    assert!(content.starts_with("stand-in answer: "), "{content}");
    assert!(content.ends_with("re: name three rivers in Europe please"));
    assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    assert_eq!(second.choices[0].message.content.as_deref(), Some(content));
    assert_ne!(first.id, second.id);
    let usage = first.usage.expect("usage");
    assert_eq!(usage.prompt_tokens, 6);
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
}

#[tokio::test]
async fn streamed_chat_arrives_in_order_and_matches_the_json_answer() {
    let standin = standin("chunks=5").await;
    let client = client(&standin);
    let request = chat_request("gpt-test", "stream me a short answer");
    let whole = client.chat().create(request.clone()).await.expect("answer");
    let mut stream = client.chat().create_stream(request).await.expect("stream");

    let mut chunks: Vec<CreateChatCompletionStreamResponse> = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk.expect("chunk parses"));
    }
    // Five content chunks and the finish chunk; `[DONE]` ended the stream cleanly.
    assert_eq!(chunks.len(), 6);
    assert!(
        chunks
            .iter()
            .all(|c| c.object == "chat.completion.chunk" && c.model == "gpt-test")
    );
    assert!(chunks.iter().all(|c| c.id == chunks[0].id));
    let text: String = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.content.clone())
        .collect();
    assert_eq!(
        Some(text.as_str()),
        whole.choices[0].message.content.as_deref()
    );
    let finishes: Vec<_> = chunks.iter().map(|c| c.choices[0].finish_reason).collect();
    assert_eq!(finishes[..5], [None, None, None, None, None]);
    assert_eq!(finishes[5], Some(FinishReason::Stop));
    assert!(chunks[0].choices[0].delta.role.is_some());
    assert_eq!(standin.stats().outcome(Outcome::Ok), 2);
}

#[tokio::test]
async fn raw_stream_ends_with_done_and_carries_the_standin_label() {
    let standin = standin("").await;
    let raw = raw_chat(&standin, stream_body("gpt-test", "hi"), &[]).await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.headers["content-type"], "text/event-stream");
    assert_eq!(raw.headers[STANDIN_HEADER], "1");
    let events = sse_data(&raw.text());
    assert_eq!(events.len(), 8 + 1 + 1, "default 8 chunks, finish, [DONE]");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn include_usage_adds_a_usage_chunk() {
    let standin = standin("").await;
    let client = client(&standin);
    let mut request = chat_request("gpt-test", "count my words please");
    request.stream_options = Some(ChatCompletionStreamOptions {
        include_usage: Some(true),
        include_obfuscation: None,
    });
    let mut stream = client.chat().create_stream(request).await.expect("stream");
    let mut last = None;
    while let Some(chunk) = stream.next().await {
        last = Some(chunk.expect("chunk"));
    }
    let last = last.expect("chunks");
    assert!(last.choices.is_empty());
    assert_eq!(last.usage.expect("usage").prompt_tokens, 4);
}

#[tokio::test]
async fn max_tokens_truncates_with_finish_reason_length() {
    let standin = standin("").await;
    let mut request = chat_request("gpt-test", "a long question");
    request.max_completion_tokens = Some(3);
    let answer = client(&standin)
        .chat()
        .create(request)
        .await
        .expect("answer");
    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason, Some(FinishReason::Length));
    assert_eq!(
        choice
            .message
            .content
            .as_deref()
            .map(|c| c.split_whitespace().count()),
        Some(3)
    );
    assert_eq!(answer.usage.expect("usage").completion_tokens, 3);
}

#[tokio::test]
async fn json_response_format_gets_a_json_object() {
    let standin = standin("").await;
    let mut request = chat_request("gpt-test", "answer in JSON");
    request.response_format = Some(ResponseFormat::JsonObject);
    let answer = client(&standin)
        .chat()
        .create(request)
        .await
        .expect("answer");
    let content = answer.choices[0].message.content.clone().expect("content");
    let value: serde_json::Value = serde_json::from_str(&content).expect("valid JSON content");
    assert_eq!(value["standin"], true);
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served() {
    let standin = standin("").await;
    let stream = tokio::net::TcpStream::connect(standin.addr())
        .await
        .expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(connection);
    let body = chat_body("m", "hi");
    let request = http::Request::builder()
        .method(Method::POST)
        .uri(format!("http://{}/v1/chat/completions", standin.addr()))
        .header("authorization", format!("Bearer {KEY}"))
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert_eq!(standin.stats().endpoint(Endpoint::ChatCompletions), 1);
}
