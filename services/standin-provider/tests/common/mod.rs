//! Test fixtures: a stand-in on `127.0.0.1:0`, an async-openai client pointed at it (with
//! async-openai's own retries off, so every scripted failure is seen exactly once), and a raw
//! hyper client for what async-openai hides (headers, raw SSE bytes, oversized bodies).
#![allow(dead_code)] // Each test binary uses its own subset.

use std::net::SocketAddr;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs, CreateChatCompletionStreamResponse,
};
use bytes::Bytes;
use drover_standin_provider::{StandIn, StandInConfig};
use futures::StreamExt;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

pub const KEY: &str = "sk-standin-test";

/// A stand-in requiring [`KEY`], with `behavior` as its default.
pub async fn standin(behavior: &str) -> StandIn {
    StandIn::start(StandInConfig {
        api_key: Some(KEY.into()),
        behavior: behavior.into(),
        ..StandInConfig::default()
    })
    .await
    .expect("stand-in starts")
}

/// An async-openai client for `standin`, with `key` and optional extra headers.
pub fn client_with(standin: &StandIn, key: &str, headers: &[(&str, &str)]) -> Client<OpenAIConfig> {
    let mut config = OpenAIConfig::new()
        .with_api_base(standin.base_url())
        .with_api_key(key);
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).expect("header name");
        config = config.with_header(name, *value).expect("valid header");
    }
    // reqwest is built with rustls and no provider (workspace choice): it refuses to build a
    // client until one is installed, even for plain http. Installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The bare transport: async-openai's default executor retries 429/5xx itself.
    Client::with_config(config).with_http_service(ReqwestService::default())
}

pub fn client(standin: &StandIn) -> Client<OpenAIConfig> {
    client_with(standin, KEY, &[])
}

/// A one-message chat request for `model`.
pub fn chat_request(model: &str, text: &str) -> CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content(text)
            .build()
            .expect("message")
            .into()])
        .build()
        .expect("request")
}

/// Asks `client` a one-message chat question that must succeed.
pub async fn ask(
    client: &Client<OpenAIConfig>,
    model: &str,
    text: &str,
) -> async_openai::types::chat::CreateChatCompletionResponse {
    client
        .chat()
        .create(chat_request(model, text))
        .await
        .expect("chat answer")
}

/// A response read whole by the raw client.
#[derive(Debug)]
pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Raw {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Sends one request over a fresh HTTP/1.1 connection; the body is left to the caller.
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> hyper::Result<http::Response<Incoming>> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).expect("request");
    sender.send_request(request).await
}

/// Sends one request over a fresh HTTP/1.1 connection and reads the whole response.
pub async fn raw(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Raw {
    let response = send(addr, method, path, headers, body)
        .await
        .expect("response");
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .expect("body within 10s")
        .expect("body")
        .to_bytes();
    Raw {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `POST /v1/chat/completions` with the test key, raw.
pub async fn raw_chat(standin: &StandIn, body: serde_json::Value, headers: &[(&str, &str)]) -> Raw {
    let auth = format!("Bearer {KEY}");
    let mut all = vec![("authorization", auth.as_str())];
    all.extend_from_slice(headers);
    raw(
        standin.addr(),
        Method::POST,
        "/v1/chat/completions",
        &all,
        body.to_string(),
    )
    .await
}

/// A one-message chat body for `model`.
pub fn chat_body(model: &str, text: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// A streaming chat body for `model`.
pub fn stream_body(model: &str, text: &str) -> serde_json::Value {
    let mut body = chat_body(model, text);
    body["stream"] = true.into();
    body
}

/// Every item of an async-openai chat stream for `model`, until it ends.
pub async fn collect_stream(
    client: &Client<OpenAIConfig>,
    model: &str,
) -> Vec<Result<CreateChatCompletionStreamResponse, OpenAIError>> {
    let stream = client
        .chat()
        .create_stream(chat_request(model, "stream me an answer"))
        .await
        .expect("stream opens");
    stream.collect().await
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// Polls `check` on the stand-in's stats until it holds (or 5 s pass).
pub async fn eventually(
    standin: &StandIn,
    check: impl Fn(&drover_standin_provider::Stats) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let stats = standin.stats();
        if check(&stats) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stats never matched: {stats:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
