//! `drover-ai-router`: routes chat and embedding requests to OpenAI-compatible deployments.
//!
//! Built so far (issue #4 is in progress): the typed configuration ([`config`]), deployment
//! selection by weight, outstanding requests or latency ([`selection`]), and each
//! deployment's health (parking after 429, removal after endpoint faults; [`health`]). The
//! request path (async-openai behind `drover-resilience`, failover, streaming, cache) and the
//! gRPC service are next; see the crate's README section in the repository README.

pub mod config;
pub mod health;
pub mod selection;
