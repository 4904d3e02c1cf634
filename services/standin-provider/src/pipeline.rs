//! The steps every OpenAI POST request goes through, whatever the endpoint: count it,
//! authenticate, read a bounded body, parse, resolve its behaviour (header, model suffix,
//! default) and whether its faults apply, wait out latency and stalls, answer the scripted
//! error — or hand over to the endpoint and turn its answer into a response.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use crate::behavior::{Behavior, Faults};
use crate::body::{AnswerBody, SseStream, Step};
use crate::error::{ApiError, json_response};
use crate::shared::Shared;
use crate::stats::{Endpoint, Outcome};

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Header that overrides the behaviour for one request.
pub const BEHAVIOR_HEADER: &str = "x-standin-behavior";
/// Header on every response, so nobody mistakes the stand-in for a real provider.
pub const STANDIN_HEADER: &str = "x-drover-standin";

/// Counts an error answer's outcome and renders it.
pub(crate) fn refuse(shared: &Shared, error: ApiError) -> Response<AnswerBody> {
    shared.counters.record(error.outcome);
    error.into_response()
}

/// A parsed OpenAI request with the behaviour that applies to it.
#[derive(Debug)]
pub(crate) struct Prepared<T> {
    pub request: T,
    pub behavior: Behavior,
    /// The faults to act on, when this request was selected for them.
    pub faults: Option<Faults>,
}

/// Requests that name a model (the behaviour can ride on the model name).
pub(crate) trait ModelRequest: DeserializeOwned {
    fn model(&self) -> &str;
}

/// An endpoint's successful answer, before it becomes a response.
#[derive(Debug)]
pub(crate) enum Answered {
    /// A complete JSON body.
    Json(Bytes),
    /// An SSE stream script.
    Stream(Vec<Step>),
}

/// The shared path of every OpenAI POST endpoint, then `answer` for the endpoint's own part.
/// This function owns the request's in-flight guard throughout, so every way out of it —
/// refusal, scripted error, JSON answer, or a stream that takes the guard along — counts it.
pub(crate) async fn openai<T: ModelRequest>(
    shared: &Shared,
    endpoint: Endpoint,
    request: Request<Incoming>,
    answer: fn(&Shared, &Prepared<T>) -> Result<Answered, ApiError>,
) -> Response<AnswerBody> {
    let mut in_flight = shared.counters.begin(endpoint);
    let prepared = match prepare(shared, request).await {
        Ok(prepared) => prepared,
        Err(error) => {
            in_flight.complete();
            return refuse(shared, error);
        }
    };
    let faults = prepared.faults.as_ref();
    let wait =
        prepared.behavior.latency + faults.and_then(|f| f.stall_first_byte).unwrap_or_default();
    if !wait.is_zero() {
        // Dropped with the request future if the client goes away: no orphan timer.
        tokio::time::sleep(wait).await;
    }
    if let Some(status) = faults.and_then(Faults::error_status) {
        let error = match faults {
            Some(f) if f.context_length => ApiError::context_length(),
            _ => ApiError::scripted(status),
        };
        let mut response = refuse(shared, error);
        if let Some(faults) = faults {
            add_retry_headers(&mut response, faults);
        }
        in_flight.complete();
        return response;
    }
    match answer(shared, &prepared) {
        Ok(Answered::Json(body)) => {
            shared.counters.record(success_outcome(faults, false));
            in_flight.complete();
            json_response(StatusCode::OK, body)
        }
        Ok(Answered::Stream(steps)) => {
            shared.counters.record(success_outcome(faults, true));
            let mut response = Response::new(AnswerBody::Stream(Box::new(SseStream::new(
                steps, in_flight,
            ))));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => {
            in_flight.complete();
            refuse(shared, error)
        }
    }
}

/// The outcome of a request that got content, named after the fault it met on the way.
fn success_outcome(faults: Option<&Faults>, streamed: bool) -> Outcome {
    let Some(faults) = faults else {
        return Outcome::Ok;
    };
    if streamed && faults.cut_stream {
        Outcome::CutStream
    } else if streamed && faults.malformed_sse {
        Outcome::MalformedSse
    } else if streamed && faults.stall_mid_stream.is_some() {
        Outcome::StallMidStream
    } else if faults.stall_first_byte.is_some() {
        Outcome::StallFirstByte
    } else {
        Outcome::Ok
    }
}

async fn prepare<T: ModelRequest>(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<Prepared<T>, ApiError> {
    if !shared.authorized(&request) {
        return Err(ApiError::unauthorized());
    }
    let header_spec = match request.headers().get(BEHAVIOR_HEADER) {
        Some(value) => Some(value.to_str().map(str::to_owned).map_err(|_| {
            ApiError::bad_request(format!("{BEHAVIOR_HEADER} must be ASCII"), None)
        })?),
        None => None,
    };
    let body = read_body(request, MAX_BODY_BYTES).await?;
    let parsed: T = serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request(format!("Invalid request body: {error}"), None))?;
    let model = parsed.model();
    shared.counters.record_model(model);

    // Priority: request header, then the model name's `+spec` suffix, then the default.
    let suffix = || model.split_once('+').map(|(_, spec)| spec.to_owned());
    let (spec, behavior) = match header_spec.or_else(suffix) {
        Some(spec) => {
            let behavior = Behavior::parse(&spec)?;
            (spec, behavior)
        }
        None => {
            let default = shared.default();
            (default.spec.clone(), default.behavior.clone())
        }
    };
    let selected = if behavior.is_selective() {
        let key = format!("{spec}\u{0}{model}");
        behavior.selects(shared.counters.next_in_sequence(&key))
    } else {
        !behavior.faults.is_empty()
    };
    Ok(Prepared {
        faults: selected.then(|| behavior.faults.clone()),
        behavior,
        request: parsed,
    })
}

fn add_retry_headers(response: &mut Response<AnswerBody>, faults: &Faults) {
    let headers = response.headers_mut();
    if let Some(secs) = faults.retry_after_secs {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(ms) = faults.retry_after_ms {
        headers.insert("retry-after-ms", HeaderValue::from(ms));
    }
    if let Some(reset) = faults
        .ratelimit_reset_requests
        .as_deref()
        .and_then(|r| HeaderValue::from_str(r).ok())
    {
        headers.insert("x-ratelimit-reset-requests", reset);
    }
}

/// Reads a body of at most `limit` bytes; a declared or actual larger body is 413.
pub(crate) async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(ApiError::payload_too_large(limit)),
        Err(error) => Err(ApiError::bad_request(
            format!("Could not read the request body: {error}"),
            None,
        )),
    }
}
