//! Test fixtures: stand-in providers on `127.0.0.1:0` and routers over them, built from TOML
//! text the way the binary builds them.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::time::Duration;

use drover_ai_router::{Router, RouterConfig, request::ChatCall};
use drover_api::model::ai::{CacheMode, ChatRole, ResponseFormat, SamplingParams};
use drover_resilience::Deadline;
use drover_standin_provider::{StandIn, StandInConfig};

/// The key the keyed stand-ins require.
pub const KEY: &str = "sk-standin-test";

/// A stand-in answering normally, requiring [`KEY`].
pub async fn standin() -> StandIn {
    StandIn::start(StandInConfig {
        api_key: Some(KEY.into()),
        ..StandInConfig::default()
    })
    .await
    .expect("stand-in starts")
}

/// One `[[deployments]]` entry on `standin` serving `model` (which may carry a `+spec`).
pub fn deployment(name: &str, standin: &StandIn, model: &str, extra: &str) -> String {
    format!(
        r#"
        [[deployments]]
        name = "{name}"
        base_url = "{}"
        api_key_env = "TEST_KEY"
        model = "{model}"
        {extra}
        "#,
        standin.base_url()
    )
}

/// A router from `toml` (service settings first, then deployments and groups); every
/// `api_key_env` resolves to [`KEY`] except `WRONG_KEY`.
pub fn router(toml: &str) -> Router {
    let config = RouterConfig::from_toml(toml).expect("valid test configuration");
    Router::new(&config, |var| match var {
        "WRONG_KEY" => Some("sk-wrong".into()),
        _ => Some(KEY.into()),
    })
    .expect("router builds")
}

/// A one-message chat to `group`; `cache` decides whether the cache may answer.
pub fn chat(group: &str, text: &str, cache: CacheMode) -> ChatCall {
    ChatCall {
        model_group: group.into(),
        messages: vec![(ChatRole::User, text.into())],
        sampling: SamplingParams {
            temperature: Some(0.0),
            ..SamplingParams::default()
        },
        response_format: ResponseFormat::Text,
        cache,
    }
}

/// A deadline `secs` seconds from now.
pub fn within(secs: f64) -> Deadline {
    Deadline::after(Duration::from_secs_f64(secs))
}

/// Requests the stand-in received for `model` (spec suffix included).
pub fn seen(standin: &StandIn, model: &str) -> u64 {
    standin.stats().by_model.get(model).copied().unwrap_or(0)
}
