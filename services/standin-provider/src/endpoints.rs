//! What each route answers once the shared steps in `server` are done: chat completions,
//! embeddings, the model list, and the `/_standin/*` control routes for out-of-process tests.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::AnswerBody;
use crate::chat::{Reply, StreamPlan, completion_json, stream_script};
use crate::content::{
    self, DEFAULT_DIMENSIONS, MAX_DIMENSIONS, count_words, embedding, text_seed, tokens_seed,
};
use crate::error::{ApiError, json_response};
use crate::pipeline::{Answered, ModelRequest, Prepared};
use crate::shared::Shared;
use crate::wire::{
    ChatRequest, EmbeddingInput, EmbeddingItem, EmbeddingList, EmbeddingRequest, EmbeddingUsage,
    ModelEntry, ModelList,
};

/// Most inputs in one embeddings request (OpenAI's own limit).
const MAX_EMBEDDING_INPUTS: usize = 2048;

impl ModelRequest for ChatRequest {
    fn model(&self) -> &str {
        &self.model
    }
}

impl ModelRequest for EmbeddingRequest {
    fn model(&self) -> &str {
        &self.model
    }
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// `POST /v1/chat/completions`.
pub(crate) fn chat(
    shared: &Shared,
    prepared: &Prepared<ChatRequest>,
) -> Result<Answered, ApiError> {
    let request = &prepared.request;
    if request.messages.is_empty() {
        return Err(ApiError::bad_request(
            "'messages' must contain at least one message.",
            Some("messages"),
        ));
    }
    let answer = content::answer(request);
    let id = shared.next_answer_id();
    let reply = Reply {
        id: &id,
        created: unix_now(),
        model: &request.model,
    };
    if request.stream == Some(true) {
        let plan = StreamPlan::new(
            &prepared.behavior,
            prepared.faults.as_ref(),
            request.include_usage(),
        );
        Ok(Answered::Stream(stream_script(&reply, &answer, &plan)))
    } else {
        Ok(Answered::Json(completion_json(&reply, &answer)))
    }
}

/// `POST /v1/embeddings`.
pub(crate) fn embeddings(
    _shared: &Shared,
    prepared: &Prepared<EmbeddingRequest>,
) -> Result<Answered, ApiError> {
    let request = &prepared.request;
    if request
        .encoding_format
        .as_deref()
        .is_some_and(|f| f != "float")
    {
        return Err(ApiError::bad_request(
            "The stand-in provider only returns float embeddings.",
            Some("encoding_format"),
        ));
    }
    let dimensions = request.dimensions.unwrap_or(DEFAULT_DIMENSIONS);
    if dimensions == 0 || dimensions > MAX_DIMENSIONS {
        return Err(ApiError::bad_request(
            format!("'dimensions' must be 1..={MAX_DIMENSIONS}."),
            Some("dimensions"),
        ));
    }
    // (seed, tokens) per input.
    let inputs: Vec<(u64, u32)> = match &request.input {
        EmbeddingInput::Text(text) => vec![(text_seed(text), count_words(text))],
        EmbeddingInput::Texts(texts) => texts
            .iter()
            .map(|t| (text_seed(t), count_words(t)))
            .collect(),
        EmbeddingInput::Tokens(tokens) => vec![(tokens_seed(tokens), token_count(tokens))],
        EmbeddingInput::TokenArrays(arrays) => arrays
            .iter()
            .map(|t| (tokens_seed(t), token_count(t)))
            .collect(),
    };
    if inputs.is_empty() || inputs.len() > MAX_EMBEDDING_INPUTS {
        return Err(ApiError::bad_request(
            format!("'input' must hold 1..={MAX_EMBEDDING_INPUTS} items."),
            Some("input"),
        ));
    }
    let tokens = inputs
        .iter()
        .fold(0u32, |sum, (_, t)| sum.saturating_add(*t));
    let body = EmbeddingList {
        object: "list",
        data: (0u32..)
            .zip(&inputs)
            .map(|(index, (seed, _))| EmbeddingItem {
                object: "embedding",
                index,
                embedding: embedding(*seed, dimensions),
            })
            .collect(),
        model: &request.model,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    };
    Ok(Answered::Json(to_json(&body)))
}

fn token_count(tokens: &[u32]) -> u32 {
    u32::try_from(tokens.len()).unwrap_or(u32::MAX)
}

/// `GET /v1/models`: every model name seen so far, plus `standin`.
pub(crate) fn models(shared: &Shared) -> Response<AnswerBody> {
    let mut names = shared.counters.models();
    if !names.iter().any(|n| n == "standin") {
        names.push("standin".to_owned());
    }
    let body = ModelList {
        object: "list",
        data: names
            .into_iter()
            .map(|id| ModelEntry {
                id,
                object: "model",
                created: 0,
                owned_by: "drover-standin",
            })
            .collect(),
    };
    json_response(StatusCode::OK, to_json(&body))
}

/// `GET /_standin/stats`.
pub(crate) fn stats(shared: &Shared) -> Response<AnswerBody> {
    json_response(StatusCode::OK, to_json(&shared.counters.snapshot()))
}

/// `GET /_standin/behavior`: the current default spec, as text.
pub(crate) fn current_behavior(shared: &Shared) -> Response<AnswerBody> {
    let mut response = Response::new(AnswerBody::full(Bytes::from(shared.behavior_spec())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `PUT /_standin/behavior`: body is the new default spec; 204 on success, 400 naming the
/// bad directive otherwise.
pub(crate) fn put_behavior(shared: &Shared, body: &[u8]) -> Response<AnswerBody> {
    let result = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("The behaviour spec must be UTF-8.", Some("behavior")))
        .and_then(|spec| Ok(shared.set_behavior(spec)?));
    match result {
        Ok(()) => {
            let mut response = Response::new(AnswerBody::Full(None));
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Err(error) => error.into_response(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Bytes {
    // These bodies are plain data with string keys: serialization cannot fail.
    serde_json::to_vec(value)
        .map(Bytes::from)
        .unwrap_or_default()
}
