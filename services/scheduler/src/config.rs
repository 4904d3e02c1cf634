//! The scheduler's settings: defaults < TOML file < `DROVER_SCHEDULER_<NAME>` environment
//! variables < flags (the binary applies the last two). Every field is documented here, once.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use serde::Deserialize;

/// Everything the scheduler can be told.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// gRPC address (public API and worker hub).
    pub listen: SocketAddr,
    /// Prometheus endpoint; `None` turns it off.
    pub metrics_listen: Option<SocketAddr>,
    /// Tasks waiting in the queue at most; beyond it submits get RESOURCE_EXHAUSTED.
    pub max_queued: usize,
    /// Finished tasks kept for `GetTask`/`ListTasks`; the oldest go first.
    pub max_finished: usize,
    /// Tenants served more often than weight 1 within a priority.
    pub tenant_weights: HashMap<String, u32>,
    /// Workers must heartbeat at least this often, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// An assignment whose lease is not renewed within this time is requeued, in milliseconds.
    pub lease_ms: u64,
    /// After a worker's stream drops, how long its assignments wait for it to reconnect and
    /// claim them before they are requeued, in milliseconds.
    pub reconnect_grace_ms: u64,
    /// How long a task with an affinity key waits for the worker holding its session before
    /// any worker may take it, in milliseconds.
    pub affinity_wait_ms: u64,
    /// Largest total size of one task's step outputs, in bytes.
    pub max_task_output_bytes: usize,
    /// A worker whose health score falls below this is quarantined (no new work).
    pub quarantine_below: f64,
    /// How long a quarantine lasts before the worker may take work again, in milliseconds.
    pub quarantine_ms: u64,
    /// Workers connected at most.
    pub max_workers: usize,
    /// Watchers of one task at most.
    pub max_watchers_per_task: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9451))),
            max_queued: 100_000,
            max_finished: 100_000,
            tenant_weights: HashMap::new(),
            heartbeat_interval_ms: 1_000,
            lease_ms: 5_000,
            reconnect_grace_ms: 2_000,
            affinity_wait_ms: 2_000,
            max_task_output_bytes: 64 * 1024 * 1024,
            quarantine_below: 0.2,
            quarantine_ms: 30_000,
            max_workers: 1_024,
            max_watchers_per_task: 64,
        }
    }
}

/// Every problem found in a configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid scheduler configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl SchedulerConfig {
    /// Parses a TOML file's text over the defaults and checks it.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError(vec![e.to_string()]))?;
        config.check()?;
        Ok(config)
    }

    /// Applies `DROVER_SCHEDULER_<NAME>` overrides read through `env`, then checks.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        macro_rules! field {
            ($name:ident) => {
                let var = format!(
                    "DROVER_SCHEDULER_{}",
                    stringify!($name).to_ascii_uppercase()
                );
                if let Some(value) = env(&var) {
                    match value.trim().parse() {
                        Ok(v) => self.$name = v,
                        Err(_) => problems.push(format!("{var}: {value:?} is not a valid value")),
                    }
                }
            };
        }
        field!(listen);
        field!(max_queued);
        field!(max_finished);
        field!(heartbeat_interval_ms);
        field!(lease_ms);
        field!(reconnect_grace_ms);
        field!(affinity_wait_ms);
        field!(max_task_output_bytes);
        let var = "DROVER_SCHEDULER_METRICS_LISTEN";
        match env(var).as_deref().map(str::trim) {
            None => {}
            Some("off") => self.metrics_listen = None,
            Some(addr) => match addr.parse() {
                Ok(addr) => self.metrics_listen = Some(addr),
                Err(_) => problems.push(format!("{var}: {addr:?} is not an address or \"off\"")),
            },
        }
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        self.check()
    }

    /// Cross-field checks; every problem at once.
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.max_queued == 0 {
            problems.push("max_queued must be > 0".to_owned());
        }
        if self.heartbeat_interval_ms == 0 {
            problems.push("heartbeat_interval_ms must be > 0".to_owned());
        }
        if self.lease_ms < 2 * self.heartbeat_interval_ms {
            problems.push(format!(
                "lease_ms ({}) must be at least twice heartbeat_interval_ms ({}), or one late \
                 heartbeat loses the work",
                self.lease_ms, self.heartbeat_interval_ms
            ));
        }
        if !(0.0..1.0).contains(&self.quarantine_below) {
            problems.push("quarantine_below must be in [0, 1)".to_owned());
        }
        if self.max_workers == 0 || self.max_watchers_per_task == 0 {
            problems.push("max_workers and max_watchers_per_task must be > 0".to_owned());
        }
        for (tenant, weight) in &self.tenant_weights {
            if *weight == 0 || *weight > 1000 {
                problems.push(format!(
                    "tenant_weights.{tenant}: {weight} must be 1..=1000"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// Lease length.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_files_override_them() {
        SchedulerConfig::default().check().expect("defaults");
        let config = SchedulerConfig::from_toml("max_queued = 10\n[tenant_weights]\nbig = 3\n")
            .expect("valid");
        assert_eq!(config.max_queued, 10);
        assert_eq!(config.tenant_weights["big"], 3);
        assert_eq!(config.lease_ms, 5_000);
    }

    #[test]
    fn problems_are_named() {
        let text = SchedulerConfig::from_toml("lease_ms = 100\nquarantine_below = 3.0\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("lease_ms"), "{text}");
        assert!(text.contains("quarantine_below"), "{text}");
        let text = SchedulerConfig::from_toml("leese_ms = 1")
            .unwrap_err()
            .to_string();
        assert!(text.contains("leese_ms"), "{text}");
        let mut config = SchedulerConfig::default();
        let err = config
            .apply_env(|v| (v == "DROVER_SCHEDULER_MAX_QUEUED").then(|| "lots".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("DROVER_SCHEDULER_MAX_QUEUED"), "{err}");
    }
}
