//! Embeddings and the model list through async-openai, the stats counters, and the
//! `/_standin/*` control routes used out of process.

mod common;

use async_openai::types::embeddings::{
    CreateEmbeddingRequest, CreateEmbeddingRequestArgs, EmbeddingInput,
};
use common::*;
use drover_standin_provider::{Endpoint, Outcome, StandIn, StandInConfig, Stats};
use http::Method;

/// An embeddings request for `model`, with `dimensions` when given.
fn embed_request(
    model: &str,
    input: impl Into<EmbeddingInput>,
    dimensions: Option<u32>,
) -> CreateEmbeddingRequest {
    let mut args = CreateEmbeddingRequestArgs::default();
    args.model(model).input(input);
    if let Some(dimensions) = dimensions {
        args.dimensions(dimensions);
    }
    args.build().expect("request")
}

#[tokio::test]
async fn embeddings_are_deterministic_unit_vectors() {
    let standin = standin("").await;
    let client = client(&standin);
    let request = embed_request(
        "text-embedding-test",
        ["first text", "second text here"],
        None,
    );
    let first = client
        .embeddings()
        .create(request.clone())
        .await
        .expect("embeddings");
    let again = client
        .embeddings()
        .create(request)
        .await
        .expect("embeddings");

    assert_eq!(first.object, "list");
    assert_eq!(first.model, "text-embedding-test");
    assert_eq!(first.data.len(), 2);
    assert_eq!((first.data[0].index, first.data[1].index), (0, 1));
    assert_eq!(first.data[0].embedding.len(), 16);
    assert_eq!(first.data[0].embedding, again.data[0].embedding);
    assert_ne!(first.data[0].embedding, first.data[1].embedding);
    let norm: f32 = first.data[1]
        .embedding
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    assert_eq!(first.usage.prompt_tokens, 5);
}

#[tokio::test]
async fn embeddings_honour_dimensions_and_follow_the_input_not_the_batch() {
    let standin = standin("").await;
    let client = client(&standin);
    let single = embed_request("e", "second text here", Some(64));
    let single = client
        .embeddings()
        .create(single)
        .await
        .expect("embeddings");
    assert_eq!(single.data[0].embedding.len(), 64);

    let batch = embed_request("e", ["other", "second text here"], Some(64));
    let batch = client.embeddings().create(batch).await.expect("embeddings");
    assert_eq!(batch.data[1].embedding, single.data[0].embedding);

    let auth = format!("Bearer {KEY}");
    let too_many = serde_json::json!({"model": "e", "input": "x", "dimensions": 100000});
    let raw = raw(
        standin.addr(),
        Method::POST,
        "/v1/embeddings",
        &[("authorization", &auth)],
        too_many.to_string(),
    )
    .await;
    assert_eq!(
        (raw.status.as_u16(), raw.json()["error"]["param"].clone()),
        (400, "dimensions".into())
    );
}

#[tokio::test]
async fn embedding_faults_apply_too() {
    let standin = standin("").await;
    let request = embed_request("e+status=503", "x", None);
    assert!(client(&standin).embeddings().create(request).await.is_err());
    assert_eq!(standin.stats().outcome(Outcome::ScriptedStatus), 1);
}

#[tokio::test]
async fn models_lists_the_names_seen_and_standin() {
    let standin = standin("").await;
    let client = client(&standin);
    ask(&client, "gpt-seen", "x").await;
    let models = client.models().list().await.expect("model list");
    let ids: Vec<&str> = models.data.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["gpt-seen", "standin"]);
}

#[tokio::test]
async fn stats_count_endpoints_models_and_outcomes() {
    let standin = standin("").await;
    let client = client(&standin);
    ask(&client, "a", "x").await;
    ask(&client, "a", "y").await;
    let _ = client
        .chat()
        .create(chat_request("b+status=500", "x"))
        .await;
    let embed = embed_request("a", "x", None);
    client.embeddings().create(embed).await.expect("embeddings");
    client.models().list().await.expect("models");
    let auth = format!("Bearer {KEY}");
    raw(
        standin.addr(),
        Method::GET,
        "/v1/nowhere",
        &[("authorization", &auth)],
        "",
    )
    .await;

    let stats = standin.stats();
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.endpoint(Endpoint::ChatCompletions), 3);
    assert_eq!(stats.endpoint(Endpoint::Embeddings), 1);
    assert_eq!(stats.endpoint(Endpoint::Models), 1);
    assert_eq!(stats.endpoint(Endpoint::Other), 1);
    assert_eq!((stats.model("a"), stats.model("b+status=500")), (3, 1));
    assert_eq!(
        stats.outcome(Outcome::Ok),
        4,
        "two chats, embeddings, models"
    );
    assert_eq!(stats.outcome(Outcome::ScriptedStatus), 1);
    assert_eq!(stats.outcome(Outcome::NotFound), 1);
    assert_eq!((stats.in_flight, stats.cancelled), (0, 0));
}

#[tokio::test]
async fn control_routes_read_stats_and_set_the_default_behavior() {
    // No API key needed for control routes, even when one is configured.
    let standin = standin("").await;
    let put = raw(
        standin.addr(),
        Method::PUT,
        "/_standin/behavior",
        &[],
        "status=503",
    )
    .await;
    assert_eq!(put.status, 204);
    let current = raw(standin.addr(), Method::GET, "/_standin/behavior", &[], "").await;
    assert_eq!(current.text(), "status=503");
    let body = chat_body("m", "x");
    assert_eq!(raw_chat(&standin, body, &[]).await.status, 503);

    let typo = raw(
        standin.addr(),
        Method::PUT,
        "/_standin/behavior",
        &[],
        "stall-first-bite=1s",
    )
    .await;
    assert_eq!(typo.status, 400);
    assert!(typo.text().contains("stall-first-bite"));

    let stats = raw(standin.addr(), Method::GET, "/_standin/stats", &[], "").await;
    let stats: Stats = serde_json::from_slice(&stats.body).expect("stats JSON");
    assert_eq!(stats, standin.stats());
    assert_eq!(stats.outcome(Outcome::ScriptedStatus), 1);
}

#[tokio::test]
async fn without_a_key_configured_any_key_is_accepted() {
    let standin = StandIn::start(StandInConfig::default())
        .await
        .expect("starts");
    let answer = client_with(&standin, "anything", &[])
        .chat()
        .create(chat_request("m", "x"))
        .await;
    assert!(answer.is_ok());
    assert!(
        standin.base_url().starts_with("http://127.0.0.1:") && standin.base_url().ends_with("/v1")
    );
}

#[tokio::test]
async fn an_invalid_default_behavior_fails_start() {
    let config = StandInConfig {
        behavior: "latency=fast".into(),
        ..StandInConfig::default()
    };
    assert!(StandIn::start(config).await.is_err());
}
