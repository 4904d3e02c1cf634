//! `drover-ai-router`: routes chat and embedding requests to OpenAI-compatible deployments.
//!
//! - [`config`]: deployments and model groups from TOML, with environment overrides;
//! - [`router`]: the one retry loop (failover, parking, removal, backoff, one deadline) and
//!   the bounded slot wait that is the only queue;
//! - [`deployment`] and [`upstream`]: each deployment's warm client, slots, breaker, rate
//!   window, and the HTTP stack under async-openai (no second retry loop, headers read,
//!   bodies bounded);
//! - [`ops`] and [`stream`]: chat (cached, single flight), embeddings, streamed chat;
//! - [`service`] and [`server`]: the gRPC API with health, reflection and metrics;
//! - [`worker`]: the router as a scheduler worker (AI steps of tasks);
//! - [`cli`]: the command line the binary and `drover ai-router` share.

pub mod cache;
pub mod cli;
pub mod config;
pub mod deployment;
pub mod failure;
pub mod health;
pub mod metrics;
pub mod ops;
pub mod request;
pub mod router;
pub mod selection;
pub mod server;
pub mod service;
pub mod stream;
pub mod upstream;
pub mod worker;

pub use config::RouterConfig;
pub use router::Router;
