//! The ai-router's configuration: deployments and model groups from a TOML file, service
//! settings with environment overrides (`DROVER_AI_ROUTER_<NAME>`). API keys never appear in
//! the file: a deployment names the *environment variable* that holds its key.
//!
//! ```toml
//! listen = "127.0.0.1:50062"
//!
//! [[deployments]]
//! name = "openai-mini"
//! base_url = "https://api.openai.com/v1"
//! api_key_env = "OPENAI_API_KEY"
//! model = "gpt-4o-mini"
//! weight = 3
//! max_concurrency = 64
//!
//! [[groups]]
//! name = "default"
//! deployments = ["openai-mini"]
//! strategy = "weighted"            # or "least_outstanding", "latency"
//! fallback = "backup"              # tried when every deployment here fails
//! context_window_fallback = "long" # tried when the prompt is too long here
//! ```

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use serde::Deserialize;

use crate::selection::Strategy;

/// One OpenAI-compatible endpoint serving one model.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Unique name, used in metrics and status (never a URL or key).
    pub name: String,
    /// The API base, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The environment variable holding the API key; none for keyless endpoints.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The provider's model name.
    pub model: String,
    /// Relative weight for weighted selection.
    #[serde(default = "defaults::weight")]
    pub weight: u32,
    /// Requests in flight at most; more wait (bounded) or are shed.
    #[serde(default = "defaults::max_concurrency")]
    pub max_concurrency: u32,
    /// Requests per minute the provider allows (parks the deployment when reached).
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Tokens per minute the provider allows (counted from reported usage).
    #[serde(default)]
    pub tpm: Option<u32>,
    /// Whole-request time limit per attempt, in seconds.
    #[serde(default = "defaults::timeout_secs")]
    pub timeout_secs: u64,
    /// Streams: time allowed until the first chunk, in milliseconds.
    #[serde(default = "defaults::first_token_timeout_ms")]
    pub first_token_timeout_ms: u64,
    /// Streams: longest silence between chunks, in milliseconds.
    #[serde(default = "defaults::idle_timeout_ms")]
    pub idle_timeout_ms: u64,
}

/// A name clients route to, served by one or more deployments.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The model group's name (what `ChatSpec.model_group` names).
    pub name: String,
    /// Deployment names.
    pub deployments: Vec<String>,
    /// How to pick among them.
    #[serde(default)]
    pub strategy: Strategy,
    /// A group to try when every deployment here fails.
    #[serde(default)]
    pub fallback: Option<String>,
    /// A group to try when the prompt exceeds this group's context window.
    #[serde(default)]
    pub context_window_fallback: Option<String>,
}

/// The whole router configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// gRPC address.
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// Prometheus endpoint address; `None` turns it off.
    #[serde(default = "defaults::metrics_listen")]
    pub metrics_listen: Option<SocketAddr>,
    /// How long a request may wait for a free slot on a deployment before it is shed.
    #[serde(default = "defaults::queue_wait_ms")]
    pub queue_wait_ms: u64,
    /// A request's time limit when its caller sets no deadline, in seconds.
    #[serde(default = "defaults::request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Response cache entries (0 disables the cache).
    #[serde(default = "defaults::cache_entries")]
    pub cache_entries: usize,
    /// How long a cached response lives, in seconds.
    #[serde(default = "defaults::cache_ttl_secs")]
    pub cache_ttl_secs: u64,
    /// Attempts per request at most, failovers included.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// First retry delay (full jitter), in milliseconds.
    #[serde(default = "defaults::backoff_base_ms")]
    pub backoff_base_ms: u64,
    /// Longest retry delay, in milliseconds.
    #[serde(default = "defaults::backoff_cap_ms")]
    pub backoff_cap_ms: u64,
    /// Largest request accepted, in bytes of message text (larger: INVALID_ARGUMENT).
    #[serde(default = "defaults::max_request_bytes")]
    pub max_request_bytes: usize,
    /// Largest provider response read, in bytes (streamed answers included).
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: usize,
    /// Chunks buffered per stream between the provider and a slow client.
    #[serde(default = "defaults::stream_buffer")]
    pub stream_buffer: usize,
    /// A deployment's breaker opens after this many failures in a row (or half of at least
    /// 10 calls failing within 10 s).
    #[serde(default = "defaults::breaker_consecutive_failures")]
    pub breaker_consecutive_failures: u32,
    /// How long an open breaker refuses calls before letting a probe through, in
    /// milliseconds (doubling per failed probe, up to 12×).
    #[serde(default = "defaults::breaker_open_ms")]
    pub breaker_open_ms: u64,
    /// The endpoints.
    pub deployments: Vec<DeploymentConfig>,
    /// The model groups.
    pub groups: Vec<GroupConfig>,
}

mod defaults {
    use std::net::SocketAddr;

    pub fn weight() -> u32 {
        1
    }
    pub fn max_concurrency() -> u32 {
        64
    }
    pub fn timeout_secs() -> u64 {
        60
    }
    pub fn first_token_timeout_ms() -> u64 {
        20_000
    }
    pub fn idle_timeout_ms() -> u64 {
        30_000
    }
    pub fn listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 50062))
    }
    pub fn metrics_listen() -> Option<SocketAddr> {
        Some(SocketAddr::from(([127, 0, 0, 1], 9462)))
    }
    pub fn queue_wait_ms() -> u64 {
        100
    }
    pub fn request_timeout_secs() -> u64 {
        120
    }
    pub fn cache_entries() -> usize {
        10_000
    }
    pub fn cache_ttl_secs() -> u64 {
        600
    }
    pub fn max_attempts() -> u32 {
        4
    }
    pub fn backoff_base_ms() -> u64 {
        50
    }
    pub fn backoff_cap_ms() -> u64 {
        2_000
    }
    pub fn max_request_bytes() -> usize {
        4 * 1024 * 1024
    }
    pub fn max_response_bytes() -> usize {
        16 * 1024 * 1024
    }
    pub fn stream_buffer() -> usize {
        32
    }
    pub fn breaker_consecutive_failures() -> u32 {
        5
    }
    pub fn breaker_open_ms() -> u64 {
        5_000
    }
}

/// Every problem found in a configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid ai-router configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl RouterConfig {
    /// Parses and checks a TOML document; every problem is reported at once.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: RouterConfig =
            toml::from_str(text).map_err(|e| ConfigError(vec![e.to_string()]))?;
        config.check()?;
        Ok(config)
    }

    /// Cross-field checks: unique names, known references, no fallback cycles, sane limits.
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut deployments = HashMap::new();
        for (i, d) in self.deployments.iter().enumerate() {
            let at = format!("deployments[{i}] ({:?})", d.name);
            if d.name.is_empty() || d.name.len() > 64 {
                problems.push(format!("{at}.name: 1 to 64 characters"));
            }
            if deployments.insert(d.name.as_str(), i).is_some() {
                problems.push(format!("{at}.name: used twice"));
            }
            match url::Url::parse(&d.base_url) {
                Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                    problems.push(format!(
                        "{at}.base_url: scheme {:?} is not http or https",
                        u.scheme()
                    ));
                }
                Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                    problems.push(format!(
                        "{at}.base_url: must not carry credentials; use api_key_env"
                    ));
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("{at}.base_url: {e}")),
            }
            if let Some(var) = &d.api_key_env {
                let valid =
                    !var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    problems.push(format!(
                        "{at}.api_key_env: {var:?} is not an environment variable name"
                    ));
                }
            }
            if d.model.is_empty() {
                problems.push(format!("{at}.model: must not be empty"));
            }
            if d.weight == 0 || d.weight > 1000 {
                problems.push(format!(
                    "{at}.weight: {} must be between 1 and 1000",
                    d.weight
                ));
            }
            if d.max_concurrency == 0 || d.max_concurrency > 100_000 {
                problems.push(format!(
                    "{at}.max_concurrency: {} must be between 1 and 100000",
                    d.max_concurrency
                ));
            }
            if d.timeout_secs == 0 || d.first_token_timeout_ms == 0 || d.idle_timeout_ms == 0 {
                problems.push(format!("{at}: timeouts must be greater than zero"));
            }
        }
        if self.max_attempts == 0 || self.max_attempts > 10 {
            problems.push(format!(
                "max_attempts: {} must be between 1 and 10",
                self.max_attempts
            ));
        }
        if self.backoff_base_ms == 0 || self.backoff_cap_ms < self.backoff_base_ms {
            problems.push("backoff_base_ms must be > 0 and at most backoff_cap_ms".to_owned());
        }
        if self.max_request_bytes == 0 || self.max_response_bytes == 0 || self.stream_buffer == 0 {
            problems.push(
                "max_request_bytes, max_response_bytes and stream_buffer must be > 0".to_owned(),
            );
        }
        if self.breaker_consecutive_failures == 0 || self.breaker_open_ms == 0 {
            problems
                .push("breaker_consecutive_failures and breaker_open_ms must be > 0".to_owned());
        }
        if self.request_timeout_secs == 0 {
            problems.push("request_timeout_secs must be > 0".to_owned());
        }
        let mut groups = HashMap::new();
        for (i, g) in self.groups.iter().enumerate() {
            let at = format!("groups[{i}] ({:?})", g.name);
            if groups.insert(g.name.as_str(), g).is_some() {
                problems.push(format!("{at}.name: used twice"));
            }
            if g.deployments.is_empty() {
                problems.push(format!(
                    "{at}.deployments: must name at least one deployment"
                ));
            }
            for name in &g.deployments {
                if !deployments.contains_key(name.as_str()) {
                    problems.push(format!("{at}.deployments: unknown deployment {name:?}"));
                }
            }
        }
        for g in &self.groups {
            for (field, target) in [
                ("fallback", &g.fallback),
                ("context_window_fallback", &g.context_window_fallback),
            ] {
                if let Some(target) = target
                    && !groups.contains_key(target.as_str())
                {
                    problems.push(format!(
                        "group {:?}.{field}: unknown group {target:?}",
                        g.name
                    ));
                }
            }
            // Follow the fallback chain: it must end, not loop.
            let mut seen = vec![g.name.as_str()];
            let mut next = g.fallback.as_deref();
            while let Some(name) = next {
                if seen.contains(&name) {
                    problems.push(format!(
                        "group {:?}.fallback: the chain {} loops",
                        g.name,
                        seen.join(" -> ")
                    ));
                    break;
                }
                seen.push(name);
                next = groups.get(name).and_then(|g| g.fallback.as_deref());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Applies `DROVER_AI_ROUTER_<NAME>` overrides of the service settings (listen,
    /// metrics_listen, queue_wait_ms, request_timeout_secs, cache_entries, cache_ttl_secs,
    /// max_attempts), then checks the result. `env` reads a variable.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        fn parse<T: std::str::FromStr>(
            name: &str,
            value: Option<String>,
            problems: &mut Vec<String>,
        ) -> Option<T> {
            let value = value?;
            match value.trim().parse() {
                Ok(parsed) => Some(parsed),
                Err(_) => {
                    problems.push(format!("{name}: {value:?} is not a valid value"));
                    None
                }
            }
        }
        let var = |name: &str| format!("DROVER_AI_ROUTER_{}", name.to_ascii_uppercase());
        macro_rules! override_field {
            ($field:ident) => {
                let name = var(stringify!($field));
                if let Some(v) = parse(&name, env(&name), &mut problems) {
                    self.$field = v;
                }
            };
        }
        override_field!(listen);
        override_field!(queue_wait_ms);
        override_field!(request_timeout_secs);
        override_field!(cache_entries);
        override_field!(cache_ttl_secs);
        override_field!(max_attempts);
        let name = var("metrics_listen");
        match env(&name).as_deref().map(str::trim) {
            None => {}
            Some("off") => self.metrics_listen = None,
            Some(addr) => match addr.parse() {
                Ok(addr) => self.metrics_listen = Some(addr),
                Err(_) => problems.push(format!("{name}: {addr:?} is not an address or \"off\"")),
            },
        }
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        self.check()
    }

    /// The embedded default: one group, `default`, served by the stand-in provider at
    /// `base_url` (for the demo and benchmarks; never a real model).
    pub fn standin(base_url: &str) -> Self {
        let text = format!(
            r#"
            [[deployments]]
            name = "standin"
            base_url = "{base_url}"
            model = "standin-1"
            max_concurrency = 1024

            [[groups]]
            name = "default"
            deployments = ["standin"]
            "#
        );
        toml::from_str(&text).expect("the embedded stand-in configuration is valid")
    }

    /// Each deployment's breaker settings.
    pub fn breaker(&self) -> drover_resilience::BreakerConfig {
        let open = Duration::from_millis(self.breaker_open_ms);
        drover_resilience::BreakerConfig {
            consecutive_failures: self.breaker_consecutive_failures,
            open_interval: open,
            max_open_interval: open * 12,
            ..drover_resilience::BreakerConfig::default()
        }
    }

    /// The queue wait bound.
    pub fn queue_wait(&self) -> Duration {
        Duration::from_millis(self.queue_wait_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [[deployments]]
        name = "a"
        base_url = "http://127.0.0.1:8089/v1"
        model = "m"
        weight = 3

        [[deployments]]
        name = "b"
        base_url = "http://127.0.0.1:8090/v1"
        api_key_env = "B_KEY"
        model = "m"

        [[groups]]
        name = "default"
        deployments = ["a", "b"]
        strategy = "least_outstanding"
        fallback = "backup"

        [[groups]]
        name = "backup"
        deployments = ["b"]
    "#;

    #[test]
    fn a_good_configuration_parses_with_defaults() {
        let config = RouterConfig::from_toml(GOOD).expect("valid");
        assert_eq!(config.deployments[0].weight, 3);
        assert_eq!(config.deployments[1].max_concurrency, 64);
        assert_eq!(config.groups[0].strategy, Strategy::LeastOutstanding);
        assert_eq!(config.groups[1].strategy, Strategy::Weighted);
        assert_eq!(config.listen.port(), 50062);
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let bad = r#"
            [[deployments]]
            name = "a"
            base_url = "ftp://user:pw@x/"
            api_key_env = "not a var"
            model = ""
            weight = 0

            [[deployments]]
            name = "a"
            base_url = "https://k:secret@api.example/v1"
            model = "m"

            [[groups]]
            name = "g"
            deployments = ["a", "ghost"]
            fallback = "h"

            [[groups]]
            name = "h"
            deployments = []
            fallback = "g"
            context_window_fallback = "nowhere"
        "#;
        let text = RouterConfig::from_toml(bad).unwrap_err().to_string();
        for needle in [
            r#"deployments[0] ("a").base_url: scheme "ftp""#,
            r#"deployments[0] ("a").api_key_env: "not a var""#,
            r#"deployments[0] ("a").model: must not be empty"#,
            r#"deployments[0] ("a").weight: 0"#,
            r#"deployments[1] ("a").name: used twice"#,
            r#"deployments[1] ("a").base_url: must not carry credentials"#,
            r#"groups[0] ("g").deployments: unknown deployment "ghost""#,
            r#"groups[1] ("h").deployments: must name at least one"#,
            r#"group "h".context_window_fallback: unknown group "nowhere""#,
            "loops",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert!(
            !text.contains("secret"),
            "a key in a URL must not be echoed:\n{text}"
        );
    }

    #[test]
    fn environment_overrides_win_and_bad_values_are_named() {
        let mut config = RouterConfig::from_toml(GOOD).expect("valid");
        let env = |name: &str| match name {
            "DROVER_AI_ROUTER_LISTEN" => Some("127.0.0.1:7000".to_owned()),
            "DROVER_AI_ROUTER_METRICS_LISTEN" => Some("off".to_owned()),
            "DROVER_AI_ROUTER_QUEUE_WAIT_MS" => Some("250".to_owned()),
            _ => None,
        };
        config.apply_env(env).expect("valid overrides");
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.metrics_listen, None);
        assert_eq!(config.queue_wait(), Duration::from_millis(250));

        let bad = |name: &str| (name == "DROVER_AI_ROUTER_MAX_ATTEMPTS").then(|| "many".to_owned());
        let text = config.apply_env(bad).unwrap_err().to_string();
        assert!(text.contains("DROVER_AI_ROUTER_MAX_ATTEMPTS"), "{text}");
    }

    #[test]
    fn the_example_file_in_deploy_is_valid() {
        let text = include_str!("../../../deploy/ai-router.example.toml");
        let config = RouterConfig::from_toml(text).expect("the example parses");
        assert_eq!(config.groups.len(), 2);
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let text = RouterConfig::from_toml(&GOOD.replace("weight = 3", "wieght = 3"))
            .unwrap_err()
            .to_string();
        assert!(text.contains("wieght"), "{text}");
    }
}
