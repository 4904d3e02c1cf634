//! Scripted and real error answers: auth, 429 with its headers, 5xx, context length,
//! fail-first / fail-rate sequences, where a behaviour comes from, typos, oversized bodies.

mod common;

use async_openai::error::OpenAIError;
use common::*;
use drover_standin_provider::{MAX_BODY_BYTES, Outcome, STANDIN_HEADER};
use http::Method;

/// The HTTP status and error code of an async-openai API error.
fn api_error(result: Result<impl std::fmt::Debug, OpenAIError>) -> (u16, Option<String>) {
    match result {
        Err(OpenAIError::ApiError(e)) => (e.status_code.as_u16(), e.api_error.code),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_or_missing_api_key_gets_401_with_openai_body() {
    let standin = standin("").await;
    let wrong = client_with(&standin, "sk-wrong", &[]);
    let result = wrong.chat().create(chat_request("gpt-test", "hi")).await;
    assert_eq!(api_error(result), (401, Some("invalid_api_key".into())));

    let raw = raw(standin.addr(), Method::POST, "/v1/embeddings", &[], "{}").await;
    assert_eq!(raw.status, 401);
    assert_eq!(raw.headers[STANDIN_HEADER], "1");
    let body = raw.json();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(!raw.text().contains(KEY), "the key is never echoed");
    assert_eq!(standin.stats().outcome(Outcome::Unauthorized), 2);
}

#[tokio::test]
async fn rate_limit_429_carries_retry_after_headers() {
    let standin = standin("").await;
    let model =
        "gpt-test+status=429,retry-after=2,retry-after-ms=1500,x-ratelimit-reset-requests=1s";
    let body = chat_body(model, "hi");
    let raw = raw_chat(&standin, body, &[]).await;
    assert_eq!(raw.status, 429);
    assert_eq!(raw.headers["retry-after"], "2");
    assert_eq!(raw.headers["retry-after-ms"], "1500");
    assert_eq!(raw.headers["x-ratelimit-reset-requests"], "1s");
    assert_eq!(raw.json()["error"]["code"], "rate_limit_exceeded");

    let result = client(&standin)
        .chat()
        .create(chat_request(model, "hi"))
        .await;
    assert_eq!(api_error(result), (429, Some("rate_limit_exceeded".into())));
    assert_eq!(standin.stats().outcome(Outcome::ScriptedStatus), 2);
}

#[tokio::test]
async fn scripted_server_errors_reach_the_client_once() {
    let standin = standin("").await;
    let client = client(&standin);
    for status in [500u16, 503] {
        let model = format!("gpt-test+status={status}");
        let result = client.chat().create(chat_request(&model, "hi")).await;
        assert_eq!(api_error(result).0, status);
    }
    for (status, code) in [(403, "forbidden"), (404, "model_not_found"), (400, "")] {
        let model = format!("gpt-test+status={status}");
        let (got, got_code) = api_error(client.chat().create(chat_request(&model, "hi")).await);
        assert_eq!(
            (got, got_code.unwrap_or_default()),
            (status, code.to_owned())
        );
    }
    // No retries underneath: one request per call reached the stand-in.
    assert_eq!(standin.stats().requests, 5);
}

#[tokio::test]
async fn context_length_gets_openai_body() {
    let standin = standin("").await;
    let body = chat_body("gpt-test+context-length", "hi");
    let raw = raw_chat(&standin, body, &[]).await;
    assert_eq!(raw.status, 400);
    let error = &raw.json()["error"];
    assert_eq!(error["code"], "context_length_exceeded");
    assert_eq!(error["type"], "invalid_request_error");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("This model's maximum context length is 4096 tokens"));
    assert_eq!(standin.stats().outcome(Outcome::ContextLength), 1);
}

#[tokio::test]
async fn fail_first_two_then_success() {
    let standin = standin("").await;
    let client = client(&standin);
    let request = chat_request("gpt-test+fail-first=2", "hi");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(match client.chat().create(request.clone()).await {
            Ok(_) => 200,
            Err(error) => api_error(Err::<(), _>(error)).0,
        });
    }
    assert_eq!(statuses, [500, 500, 200, 200]);
    // The sequence is per spec and model: another model starts its own.
    let other = client
        .chat()
        .create(chat_request("other+fail-first=2", "hi"))
        .await;
    assert_eq!(api_error(other).0, 500);
}

#[tokio::test]
async fn fail_rate_is_repeatable_across_servers() {
    async fn pattern() -> Vec<bool> {
        let standin = standin("fail-rate=0.5,status=503").await;
        let mut hits = Vec::new();
        for _ in 0..20 {
            let body = chat_body("m", "x");
            hits.push(raw_chat(&standin, body, &[]).await.status == 503);
        }
        hits
    }
    let first = pattern().await;
    assert_eq!(first, pattern().await);
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
}

#[tokio::test]
async fn behavior_comes_from_header_then_model_suffix_then_default() {
    let standin = standin("status=503").await;
    let body = |model: &str| chat_body(model, "x");
    let header = [("x-standin-behavior", "status=429")];
    assert_eq!(
        raw_chat(&standin, body("m+status=500"), &header)
            .await
            .status,
        429
    );
    assert_eq!(
        raw_chat(&standin, body("m+status=500"), &[]).await.status,
        500
    );
    assert_eq!(raw_chat(&standin, body("m"), &[]).await.status, 503);
    // An empty header is an explicit "behave normally".
    let normal = raw_chat(&standin, body("m"), &[("x-standin-behavior", "")]).await;
    assert_eq!(normal.status, 200);
    // The model is reported exactly as requested, suffix included.
    let answer = raw_chat(&standin, body("m+latency=1ms"), &[]).await;
    assert_eq!(answer.json()["model"], "m+latency=1ms");

    standin.set_behavior("").expect("valid spec");
    assert_eq!(raw_chat(&standin, body("m"), &[]).await.status, 200);
}

#[tokio::test]
async fn unknown_directive_is_a_400_naming_it() {
    let standin = standin("").await;
    let body = chat_body("m+stauts=500", "x");
    let raw = raw_chat(&standin, body, &[]).await;
    assert_eq!(raw.status, 400);
    assert!(
        raw.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`stauts`")
    );
    let header = [("x-standin-behavior", "latency=5")];
    let body = chat_body("m", "x");
    assert_eq!(raw_chat(&standin, body, &header).await.status, 400);
    assert!(standin.set_behavior("cut-stream,bogus").is_err());
    assert_eq!(standin.stats().outcome(Outcome::BadRequest), 2);
}

#[tokio::test]
async fn oversized_body_gets_413() {
    let standin = standin("").await;
    let auth = format!("Bearer {KEY}");
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    let raw = raw(
        standin.addr(),
        Method::POST,
        "/v1/chat/completions",
        &[("authorization", &auth)],
        big,
    )
    .await;
    assert_eq!(raw.status, 413);
    assert_eq!(raw.json()["error"]["code"], "request_too_large");
    assert_eq!(standin.stats().outcome(Outcome::PayloadTooLarge), 1);
}

#[tokio::test]
async fn malformed_requests_get_400() {
    let standin = standin("").await;
    let missing_model = serde_json::json!({"messages": [{"role": "user", "content": "x"}]});
    let raw = raw_chat(&standin, missing_model, &[]).await;
    assert_eq!(raw.status, 400);
    assert!(raw.text().contains("model"));
    let empty = serde_json::json!({"model": "m", "messages": []});
    assert_eq!(
        raw_chat(&standin, empty, &[]).await.json()["error"]["param"],
        "messages"
    );
}
