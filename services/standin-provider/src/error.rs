//! Errors: [`Error`] for starting and running the server, and the OpenAI-shaped error answer
//! every refused or scripted-to-fail request gets (mapped to a response in one place).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::behavior::BehaviorError;
use crate::body::AnswerBody;
use crate::stats::Outcome;
use crate::wire::{ErrorBody, ErrorEnvelope};

/// Why the stand-in could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding or reading the listening socket failed.
    #[error("stand-in provider socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The configured default behaviour does not parse.
    #[error("invalid default behaviour: {0}")]
    Behavior(#[from] BehaviorError),
}

impl From<BehaviorError> for ApiError {
    /// A behaviour spec that does not parse is the caller's mistake: 400 naming the directive.
    fn from(error: BehaviorError) -> ApiError {
        ApiError::bad_request(format!("{error} (stand-in provider)"), Some("behavior"))
    }
}

/// An error answer in OpenAI's shape, with the outcome it counts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
    pub outcome: Outcome,
}

impl ApiError {
    /// A malformed request; `param` names the offending field when known.
    pub fn bad_request(message: impl Into<String>, param: Option<&'static str>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code: None,
            outcome: Outcome::BadRequest,
        }
    }

    /// Missing or wrong API key. The message never echoes the key that was sent.
    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "Incorrect API key provided (stand-in provider).".into(),
            kind: "invalid_request_error",
            param: None,
            code: Some("invalid_api_key"),
            outcome: Outcome::Unauthorized,
        }
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("Request body exceeds the stand-in's limit of {limit} bytes."),
            code: Some("request_too_large"),
            outcome: Outcome::PayloadTooLarge,
            ..ApiError::bad_request("", None)
        }
    }

    pub fn not_found(method: &http::Method, path: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("Unknown request URL: {method} {path} (stand-in provider)."),
            code: Some("unknown_url"),
            outcome: Outcome::NotFound,
            ..ApiError::bad_request("", None)
        }
    }

    /// The answer to `context-length`, worded like OpenAI's.
    pub fn context_length() -> ApiError {
        ApiError {
            message: "This model's maximum context length is 4096 tokens. However, your messages \
                      resulted in more than 4096 tokens. Please reduce the length of the messages. \
                      (stand-in provider: scripted by `context-length`)"
                .into(),
            param: Some("messages"),
            code: Some("context_length_exceeded"),
            outcome: Outcome::ContextLength,
            ..ApiError::bad_request("", None)
        }
    }

    /// The answer to `status=CODE`, with the type and code OpenAI uses for that status.
    pub fn scripted(status: StatusCode) -> ApiError {
        let (kind, code, message) = match status.as_u16() {
            401 => (
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided.",
            ),
            403 => (
                "permission_error",
                Some("forbidden"),
                "You are not allowed to use this model.",
            ),
            404 => (
                "invalid_request_error",
                Some("model_not_found"),
                "The model does not exist or you do not have access to it.",
            ),
            429 => (
                "requests",
                Some("rate_limit_exceeded"),
                "Rate limit reached for requests.",
            ),
            500..=599 => (
                "server_error",
                None,
                "The server had an error while processing your request.",
            ),
            _ => ("invalid_request_error", None, "Invalid request."),
        };
        ApiError {
            status,
            message: format!(
                "{message} (stand-in provider: scripted by `status={}`)",
                status.as_u16()
            ),
            kind,
            param: None,
            code,
            outcome: Outcome::ScriptedStatus,
        }
    }

    /// Renders the error as an HTTP response with OpenAI's error body.
    pub fn into_response(self) -> Response<AnswerBody> {
        let body = serde_json::to_vec(&ErrorEnvelope {
            error: ErrorBody {
                message: &self.message,
                kind: self.kind,
                param: self.param,
                code: self.code,
            },
        })
        .unwrap_or_default();
        json_response(self.status, Bytes::from(body))
    }
}

/// A complete JSON response.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response<AnswerBody> {
    let mut response = Response::new(AnswerBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
