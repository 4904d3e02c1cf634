//! Every bound Drover puts on a request, in one place, so the proto comments, the validation
//! and the docs agree. A request over any of these is refused with INVALID_ARGUMENT naming the
//! field; nothing is truncated silently.

use std::time::Duration;

/// Steps in one task.
pub const MAX_STEPS: usize = 256;
/// Bytes in a step name (`[a-z][a-z0-9_-]*`).
pub const MAX_STEP_NAME: usize = 64;
/// Bytes in a tenant name (`[A-Za-z0-9._-]+`).
pub const MAX_TENANT: usize = 64;
/// Tenant used when a request names none.
pub const DEFAULT_TENANT: &str = "default";
/// Bytes in an idempotency or affinity key.
pub const MAX_KEY: usize = 256;
/// Bytes in a URL.
pub const MAX_URL: usize = 8 * 1024;
/// Bytes in a CSS selector.
pub const MAX_SELECTOR: usize = 4 * 1024;
/// Bytes of text typed by one step.
pub const MAX_TYPED_TEXT: usize = 64 * 1024;
/// Bytes in a script evaluated by one step.
pub const MAX_SCRIPT: usize = 64 * 1024;
/// Bytes in a User-Agent override.
pub const MAX_USER_AGENT: usize = 512;
/// Largest viewport side, in CSS pixels.
pub const MAX_VIEWPORT_SIDE: u32 = 10_000;
/// Cookies set by one step.
pub const MAX_COOKIES: usize = 300;
/// Bytes in a cookie name.
pub const MAX_COOKIE_NAME: usize = 256;
/// Bytes in a cookie value.
pub const MAX_COOKIE_VALUE: usize = 4 * 1024;
/// URLs one get-cookies step may name.
pub const MAX_COOKIE_URLS: usize = 32;
/// Messages in one chat.
pub const MAX_CHAT_MESSAGES: usize = 256;
/// Bytes in one chat message.
pub const MAX_CHAT_MESSAGE: usize = 512 * 1024;
/// Bytes in a model-group name.
pub const MAX_MODEL_GROUP: usize = 128;
/// Stop sequences in one chat.
pub const MAX_STOP_SEQUENCES: usize = 4;
/// Bytes in one stop sequence.
pub const MAX_STOP_SEQUENCE: usize = 256;
/// Largest `max_tokens`.
pub const MAX_COMPLETION_TOKENS: u32 = 1_000_000;
/// Bytes in a JSON schema.
pub const MAX_JSON_SCHEMA: usize = 64 * 1024;
/// Bytes in a JSON-schema name.
pub const MAX_SCHEMA_NAME: usize = 64;
/// Inputs in one embedding request.
pub const MAX_EMBED_INPUTS: usize = 2048;
/// Bytes in one embedding input.
pub const MAX_EMBED_INPUT: usize = 64 * 1024;
/// Largest requested embedding dimension.
pub const MAX_EMBED_DIMENSIONS: u32 = 65_536;
/// Entries in a task's labels.
pub const MAX_LABELS: usize = 32;
/// Entries in a task's worker selector.
pub const MAX_WORKER_SELECTOR: usize = 16;
/// Bytes in a label key.
pub const MAX_LABEL_KEY: usize = 63;
/// Bytes in a label value.
pub const MAX_LABEL_VALUE: usize = 256;
/// Attempts a task's retry policy may allow.
pub const MAX_TASK_ATTEMPTS: u32 = 10;
/// Attempts when the retry policy names none.
pub const DEFAULT_TASK_ATTEMPTS: u32 = 3;
/// Task timeout when the spec names none.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Longest task timeout.
pub const MAX_TASK_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// First retry delay when the retry policy names none.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Largest retry delay when the retry policy names none.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Field violations reported for one request; the rest are counted, not listed, so a hostile
/// request cannot make the error itself unbounded.
pub const MAX_REPORTED_VIOLATIONS: usize = 64;
