//! What comes back: streamed answers (order, time-to-first-token and idle limits, cut
//! streams, cancellation), the response cache with single flight, embeddings, and the
//! context-window fallback. Against real stand-ins over HTTP on 127.0.0.1.

mod common;

use std::{sync::Arc, time::Duration};

use common::*;
use drover_ai_router::{
    Router,
    request::{ChatCall, EmbedCall},
    stream::StreamEvent,
};
use drover_api::{DroverError, ErrorReason, model::ai::CacheMode};

fn one_group(provider: &drover_standin_provider::StandIn, model: &str, extra: &str) -> Router {
    router(&format!(
        "max_attempts = 1
        {}
        [[groups]]
        name = \"g\"
        deployments = [\"d\"]",
        deployment("d", provider, model, extra),
    ))
}

/// Reads a stream to its end: the deltas, then the final item.
async fn drain(
    router: &Router,
    call: &ChatCall,
) -> (Vec<String>, Result<StreamEvent, DroverError>) {
    let (opened, _) = router.chat_stream(call, within(10.0)).await;
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut deltas = Vec::new();
    while let Some(event) = stream.events.recv().await {
        match event {
            Ok(StreamEvent::Delta(text)) => deltas.push(text),
            last => return (deltas, last),
        }
    }
    panic!("the stream ended without a final item");
}

#[tokio::test]
async fn streamed_chunks_arrive_in_order_and_add_up_to_the_answer() {
    let provider = standin().await;
    let router = one_group(&provider, "m+chunks=6", "");
    let call = chat("g", "tell me", CacheMode::Bypass);
    let (deltas, last) = drain(&router, &call).await;
    let Ok(StreamEvent::Done(done)) = last else {
        panic!("the stream completes: {last:?}");
    };
    assert_eq!(deltas.len(), 6);
    assert_eq!(deltas.concat(), done.content);
    assert!(done.usage.total_tokens > 0, "usage from the last chunk");
    // The same prompt unary: the stand-in is deterministic, so the order is proven.
    let unary = router.chat(&call, within(10.0)).await.0.expect("unary");
    assert_eq!(unary.content, done.content);
}

#[tokio::test]
async fn time_to_first_token_limit_fires() {
    let provider = standin().await;
    let router = one_group(
        &provider,
        "m+stall-first-byte=3s",
        "first_token_timeout_ms = 200",
    );
    let started = std::time::Instant::now();
    let (deltas, last) = drain(&router, &chat("g", "x", CacheMode::Bypass)).await;
    let error = last.expect_err("no first chunk");
    assert!(deltas.is_empty());
    assert_eq!(error.reason, ErrorReason::Transient, "{error}");
    assert!(error.message.contains("first chunk"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn idle_limit_fires_mid_stream() {
    let provider = standin().await;
    let router = one_group(
        &provider,
        "m+chunks=8,stall-mid-stream=3s",
        "idle_timeout_ms = 200",
    );
    let (deltas, last) = drain(&router, &chat("g", "x", CacheMode::Bypass)).await;
    let error = last.expect_err("went silent");
    assert_eq!(deltas.len(), 4, "half the chunks came before the stall");
    assert_eq!(error.reason, ErrorReason::Transient);
    assert!(error.message.contains("silent"), "{error}");
}

#[tokio::test]
async fn a_cut_stream_is_an_error_not_a_success() {
    let provider = standin().await;
    let router = one_group(&provider, "m+chunks=8,cut-stream", "");
    let (deltas, last) = drain(&router, &chat("g", "x", CacheMode::Bypass)).await;
    let error = last.expect_err("truncated");
    assert_eq!(error.reason, ErrorReason::StreamTruncated, "{error}");
    assert_eq!(deltas.len(), 4);
}

#[tokio::test]
async fn a_malformed_event_ends_the_stream_with_an_error() {
    let provider = standin().await;
    let router = one_group(&provider, "m+chunks=8,malformed-sse", "");
    let (_, last) = drain(&router, &chat("g", "x", CacheMode::Bypass)).await;
    let error = last.expect_err("malformed");
    assert_eq!(error.reason, ErrorReason::Transient, "{error}");
}

#[tokio::test]
async fn a_stream_fails_over_before_its_first_chunk() {
    let provider = standin().await;
    let router = router(&format!(
        "{}{}
        [[groups]]
        name = \"g\"
        deployments = [\"broken\", \"fine\"]",
        deployment("broken", &provider, "m-a+status=502", "weight = 1000"),
        deployment("fine", &provider, "m-b", "weight = 1"),
    ));
    let (_, last) = drain(&router, &chat("g", "x", CacheMode::Bypass)).await;
    let Ok(StreamEvent::Done(done)) = last else {
        panic!("served by the other deployment: {last:?}");
    };
    assert_eq!(done.deployment, "fine");
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_upstream_request() {
    let provider = standin().await;
    let router = one_group(&provider, "m+chunks=50,chunk-delay=100ms", "");
    let (opened, _) = router
        .chat_stream(&chat("g", "x", CacheMode::Bypass), within(30.0))
        .await;
    let mut stream = opened.expect("opens");
    let first = stream.events.recv().await.expect("an item");
    assert!(matches!(first, Ok(StreamEvent::Delta(_))));
    drop(stream);
    // The relay notices at its next step; the stand-in sees the connection go.
    for _ in 0..50 {
        if provider.stats().cancelled == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(provider.stats().cancelled, 1);
    assert_eq!(
        router.deployments()[0].outstanding(),
        0,
        "the slot is free again"
    );
}

#[tokio::test]
async fn a_deterministic_request_is_answered_from_the_cache_the_second_time() {
    let provider = standin().await;
    let router = one_group(&provider, "m", "");
    let call = chat("g", "same question", CacheMode::Auto); // temperature 0: deterministic
    let first = router.chat(&call, within(10.0)).await.0.expect("first");
    let second = router.chat(&call, within(10.0)).await.0.expect("second");
    assert!(!first.cached);
    assert!(second.cached);
    assert_eq!(first.content, second.content);
    assert_eq!(provider.stats().requests, 1);

    // Non-deterministic requests are not cached unless they opt in.
    let mut creative = chat("g", "same question", CacheMode::Auto);
    creative.sampling.temperature = Some(0.9);
    router
        .chat(&creative, within(10.0))
        .await
        .0
        .expect("answer");
    router
        .chat(&creative, within(10.0))
        .await
        .0
        .expect("answer");
    assert_eq!(provider.stats().requests, 3);
    creative.cache = CacheMode::Prefer;
    router
        .chat(&creative, within(10.0))
        .await
        .0
        .expect("answer");
    let again = router
        .chat(&creative, within(10.0))
        .await
        .0
        .expect("answer");
    assert!(again.cached);
    assert_eq!(provider.stats().requests, 4);
}

#[tokio::test]
async fn a_hundred_concurrent_identical_misses_make_one_upstream_call() {
    let provider = standin().await;
    provider.set_behavior("latency=200ms").expect("behaviour");
    let router = Arc::new(one_group(&provider, "m", ""));
    let mut calls = Vec::new();
    for _ in 0..100 {
        let router = Arc::clone(&router);
        calls.push(tokio::spawn(async move {
            let call = chat("g", "popular", CacheMode::Auto);
            router.chat(&call, within(10.0)).await.0
        }));
    }
    let mut contents = std::collections::HashSet::new();
    for call in calls {
        contents.insert(call.await.expect("task").expect("answer").content);
    }
    assert_eq!(contents.len(), 1);
    assert_eq!(provider.stats().requests, 1);
}

#[tokio::test]
async fn embeddings_are_cached_per_input() {
    let provider = standin().await;
    let router = one_group(&provider, "e", "");
    let call = |inputs: &[&str]| EmbedCall {
        model_group: "g".into(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        dimensions: Some(8),
    };
    let first = router
        .embed(&call(&["a", "b"]), within(10.0))
        .await
        .0
        .expect("first");
    assert_eq!(first.embeddings.len(), 2);
    assert_eq!(first.embeddings[0].len(), 8);
    let mixed = router
        .embed(&call(&["b", "c", "a"]), within(10.0))
        .await
        .0
        .expect("second");
    assert_eq!(mixed.embeddings[0], first.embeddings[1], "b from the cache");
    assert_eq!(mixed.embeddings[2], first.embeddings[0], "a from the cache");
    assert_eq!(provider.stats().requests, 2, "only c went upstream");
    router
        .embed(&call(&["c", "a"]), within(10.0))
        .await
        .0
        .expect("all cached");
    assert_eq!(provider.stats().requests, 2);
}

#[tokio::test]
async fn context_length_moves_to_the_context_window_fallback() {
    let provider = standin().await;
    let router = router(&format!(
        "{}{}
        [[groups]]
        name = \"small\"
        deployments = [\"short\"]
        context_window_fallback = \"large\"

        [[groups]]
        name = \"large\"
        deployments = [\"long\"]",
        deployment("short", &provider, "m-short+context-length", ""),
        deployment("long", &provider, "m-long", ""),
    ));
    let answer = router
        .chat(
            &chat("small", "a long prompt", CacheMode::Bypass),
            within(10.0),
        )
        .await
        .0
        .expect("the bigger model answers");
    assert_eq!(answer.deployment, "long");

    // Without a fallback the caller learns why, as INVALID_ARGUMENT's reason.
    let alone = one_group(&provider, "m+context-length", "");
    let error = alone
        .chat(&chat("g", "too long", CacheMode::Bypass), within(10.0))
        .await
        .0
        .expect_err("does not fit");
    assert_eq!(error.reason, ErrorReason::ContextLengthExceeded);
}
