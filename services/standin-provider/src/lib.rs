//! # drover-standin-provider
//!
//! A **stand-in** for an OpenAI-compatible provider: a small, fast, deterministic HTTP server
//! that speaks the OpenAI wire protocol for chat completions (JSON and SSE streaming) and
//! embeddings, with scriptable latency and faults. The ai-router's tests and benchmarks run
//! against it, and `drover up` uses it for the offline demo when no provider is configured.
//! It is not a model: every answer says so (`x-drover-standin: 1` on every response, content
//! starting `stand-in answer:`), and the binary's startup line says so too.
//!
//! ## How a request flows
//! `server` accepts HTTP/1.1 and h2c on one port and routes. An OpenAI request is counted
//! (`stats`), authenticated, its body read (at most 8 MiB, else 413) and parsed (`wire`);
//! its behaviour comes from the `x-standin-behavior` header, else the model name's `+spec`
//! suffix, else the server default (`behavior`), and `fail-first`/`fail-rate` decide whether
//! this request meets the scripted faults. After `latency` (and any first-byte stall), the
//! request gets its scripted error, or its content (`content`), rendered as JSON or as an SSE
//! script (`chat`) that `body` plays frame by frame. Timers live in the request future or the
//! response body, so a client that hangs up cancels them.
//!
//! ## Layout
//! - [`behavior`]: the behaviour grammar and which requests a fault selects.
//! - `content`: deterministic answers, chunking, token counts, embeddings.
//! - `chat`: chat answers on the wire (JSON body, SSE script).
//! - `body`: response bodies, including the SSE player.
//! - `server`: connections, drain, routing; `shared`: the state all connections share.
//! - `pipeline`: the steps every OpenAI request shares; `endpoints`: per-route answers.
//! - [`stats`]: counters per endpoint, model and outcome; in-flight and cancelled requests.
//! - [`StandIn`]: the in-process handle for tests; [`serve`] for a listener of your own.
//! - [`cli`]: the command line the binary and `drover standin-provider` share.
//!
//! ## Control routes (for out-of-process use)
//! `GET /_standin/stats` (JSON [`Stats`]), `GET /_standin/behavior` (the default spec) and
//! `PUT /_standin/behavior` (body = new default spec; 204, or 400 naming a bad directive).

pub mod behavior;
mod body;
mod chat;
pub mod cli;
mod content;
mod endpoints;
mod error;
mod pipeline;
mod server;
mod shared;
mod standin;
pub mod stats;
mod wire;

pub use behavior::{Behavior, BehaviorError};
pub use content::{DEFAULT_DIMENSIONS, MAX_DIMENSIONS};
pub use error::Error;
pub use pipeline::{BEHAVIOR_HEADER, MAX_BODY_BYTES, STANDIN_HEADER};
pub use server::serve;
pub use standin::{StandIn, StandInConfig};
pub use stats::{Endpoint, Outcome, Stats};

/// The words every startup line begins with, so logs and terminals label the stand-in.
pub const STARTUP_LABEL: &str =
    "drover-standin-provider: a stand-in for an OpenAI-compatible provider";
