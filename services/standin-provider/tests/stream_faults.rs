//! Stream faults and timing: cut streams, malformed events, stalls (and that a client giving
//! up on a stall leaves nothing in flight), latency and chunk pacing.

mod common;

use std::time::{Duration, Instant};

use async_openai::error::OpenAIError;
use common::*;
use drover_standin_provider::Outcome;
use futures::StreamExt;
use http::Method;
use http_body_util::BodyExt;

#[tokio::test]
async fn cut_stream_ends_without_finish_reason_or_done() {
    let standin = standin("").await;
    let chunks: Vec<_> = collect_stream(&client(&standin), "gpt-test+cut-stream")
        .await
        .into_iter()
        .map(|chunk| chunk.expect("every sent chunk parses"))
        .collect();
    // async-openai ends the stream quietly: only the missing finish reason tells.
    assert_eq!(chunks.len(), 4, "half of the default 8 chunks");
    assert!(chunks.iter().all(|c| c.choices[0].finish_reason.is_none()));

    // On the wire: no finish reason and no `[DONE]`.
    let raw = raw_chat(&standin, stream_body("gpt-test+cut-stream", "x"), &[]).await;
    let events = sse_data(&raw.text());
    assert_eq!(events.len(), 4);
    assert!(
        events
            .iter()
            .all(|e| e != "[DONE]" && e.contains("\"finish_reason\":null"))
    );
    assert_eq!(standin.stats().outcome(Outcome::CutStream), 2);
}

#[tokio::test]
async fn malformed_sse_event_is_a_parse_error_mid_stream() {
    let standin = standin("").await;
    let items = collect_stream(&client(&standin), "gpt-test+malformed-sse,chunks=4").await;
    let kinds: Vec<&str> = items
        .iter()
        .map(|i| match i {
            Ok(_) => "ok",
            Err(OpenAIError::JSONDeserialize(..)) => "bad-json",
            Err(_) => "other-error",
        })
        .collect();
    // Two chunks, the broken event, two chunks, the finish chunk.
    assert_eq!(kinds, ["ok", "ok", "bad-json", "ok", "ok", "ok"]);
    assert_eq!(standin.stats().outcome(Outcome::MalformedSse), 1);
}

#[tokio::test]
async fn stall_first_byte_abandoned_by_the_client_leaves_nothing_in_flight() {
    let standin = standin("").await;
    let client = client(&standin);
    let request = chat_request("gpt-test+stall-first-byte=30s", "x");
    let gave_up =
        tokio::time::timeout(Duration::from_millis(200), client.chat().create(request)).await;
    assert!(gave_up.is_err(), "the stall held the answer back");
    assert_eq!(standin.stats().in_flight, 1);
    drop(client);
    // The client's connection closes; the server drops the request and its timer.
    eventually(&standin, |s| s.in_flight == 0 && s.cancelled == 1).await;
}

#[tokio::test]
async fn stall_mid_stream_abandoned_by_the_client_leaves_nothing_in_flight() {
    let standin = standin("").await;
    let client = client(&standin);
    let mut stream = client
        .chat()
        .create_stream(chat_request("gpt-test+stall-mid-stream=30s,chunks=4", "x"))
        .await
        .expect("stream opens");
    for _ in 0..2 {
        stream
            .next()
            .await
            .expect("chunk before the stall")
            .expect("parses");
    }
    let stalled = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(stalled.is_err(), "nothing after half the chunks");
    drop(stream);
    drop(client);
    eventually(&standin, |s| s.in_flight == 0 && s.cancelled == 1).await;
    assert_eq!(standin.stats().outcome(Outcome::StallMidStream), 1);
}

#[tokio::test]
async fn stall_first_byte_then_answers_normally() {
    let standin = standin("").await;
    let started = Instant::now();
    let answer = client(&standin)
        .chat()
        .create(chat_request("gpt-test+stall-first-byte=100ms", "x"))
        .await
        .expect("answer after the stall");
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(answer.choices[0].message.content.is_some());
    assert_eq!(standin.stats().outcome(Outcome::StallFirstByte), 1);
}

#[tokio::test]
async fn latency_delays_the_headers_and_chunk_delay_paces_the_stream() {
    let standin = standin("latency=60ms,chunk-delay=20ms,chunks=3").await;
    let auth = format!("Bearer {KEY}");
    let body = stream_body("gpt-test", "x").to_string();
    let started = Instant::now();
    let response = send(
        standin.addr(),
        Method::POST,
        "/v1/chat/completions",
        &[("authorization", &auth)],
        body,
    )
    .await
    .expect("response");
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "latency before the headers"
    );
    let headers_at = Instant::now();
    let mut body = response.into_body();
    let mut frames = 0;
    while let Some(frame) = body.frame().await {
        frame.expect("frame");
        frames += 1;
    }
    // Three content frames and the tail, with a pause before each but the first.
    assert_eq!(frames, 4);
    assert!(
        headers_at.elapsed() >= Duration::from_millis(60),
        "3 pauses of 20ms"
    );
}

#[tokio::test]
async fn shutdown_is_prompt_even_with_a_stalled_request() {
    let standin = standin("").await;
    let addr = standin.addr();
    let stalled = tokio::spawn(async move {
        let auth = format!("Bearer {KEY}");
        let body = chat_body("m+stall-first-byte=60s", "x").to_string();
        let path = "/v1/chat/completions";
        // The server closes the connection at the end of the drain: an error, not an answer.
        let headers = [("authorization", auth.as_str())];
        let sent = send(addr, Method::POST, path, &headers, body);
        tokio::time::timeout(Duration::from_secs(10), sent).await
    });
    eventually(&standin, |s| s.in_flight == 1).await;
    let started = Instant::now();
    standin.shutdown().await;
    // The drain timeout (1 s by default) bounds the wait, not the 60 s stall.
    assert!(started.elapsed() < Duration::from_secs(5));
    let answer = stalled
        .await
        .expect("client task")
        .expect("client saw the end in time");
    assert!(answer.is_err(), "no answer after shutdown: {answer:?}");
}
