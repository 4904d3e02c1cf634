//! [`WorkerConfig`]: who the worker says it is in its hello, where the scheduler is, and every
//! interval and bound of the attach loop. Built in code by the service that embeds the worker
//! (which loads its own config file and environment); this module only holds defaults and
//! checks that the values make sense together.

use std::{collections::HashMap, time::Duration};

use drover_api::pb;

/// How a worker attaches to the scheduler and what it tells it.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The scheduler's hub endpoint, `http://host:port`.
    pub scheduler: String,
    /// Stable for the process's life, so the scheduler recognises a reconnect. 1..128
    /// characters.
    pub worker_id: String,
    /// Which kind of work this worker does.
    pub kind: pb::WorkerKind,
    /// Most assignments run at once. Credit never exceeds this.
    pub slots: u32,
    /// Capabilities matched against a task's worker selector. At most 32 entries.
    pub labels: HashMap<String, String>,
    /// The worker's build version, for the scheduler's status pages.
    pub version: String,
    /// First reconnect delay bound (full jitter, doubling up to `reconnect_cap`).
    pub reconnect_base: Duration,
    /// Longest reconnect delay.
    pub reconnect_cap: Duration,
    /// Results kept while the stream is down; when full the oldest is dropped (the scheduler
    /// requeues that assignment when its lease expires).
    pub max_buffered_results: usize,
    /// Bound on dialling the scheduler and on receiving its welcome.
    pub connect_timeout: Duration,
    /// Heartbeat interval used until (or if) the welcome names one.
    pub default_heartbeat_interval: Duration,
    /// A message that cannot be handed to the stream within this time means the stream is
    /// stuck: it is dropped and the worker reconnects.
    pub send_timeout: Duration,
    /// How long a cancelled run may take to return before the worker stops waiting for it.
    pub cancel_grace: Duration,
    /// Progress messages queued for the stream; more are dropped (results carry every output
    /// anyway), so the executor never waits on the network.
    pub progress_buffer: usize,
    /// HTTP/2 keep-alive ping interval, so a half-open connection is noticed.
    pub keep_alive_interval: Duration,
    /// Largest message sent or received on the stream (screenshots and PDFs are large).
    pub max_message_bytes: usize,
}

impl WorkerConfig {
    /// A config with defaults for everything but who the worker is and where the scheduler is.
    pub fn new(
        scheduler: impl Into<String>,
        worker_id: impl Into<String>,
        kind: pb::WorkerKind,
        slots: u32,
    ) -> Self {
        Self {
            scheduler: scheduler.into(),
            worker_id: worker_id.into(),
            kind,
            slots,
            labels: HashMap::new(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            reconnect_base: Duration::from_millis(100),
            reconnect_cap: Duration::from_secs(10),
            max_buffered_results: 1024,
            connect_timeout: Duration::from_secs(5),
            default_heartbeat_interval: Duration::from_secs(5),
            send_timeout: Duration::from_secs(10),
            cancel_grace: Duration::from_secs(5),
            progress_buffer: 256,
            keep_alive_interval: Duration::from_secs(10),
            max_message_bytes: 80 * 1024 * 1024,
        }
    }

    /// Every problem with the config, one line each; empty when it is usable.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.scheduler.starts_with("http://") || self.scheduler.starts_with("https://")) {
            problems.push(format!(
                "scheduler: {:?} must be an http:// or https:// URL",
                self.scheduler
            ));
        }
        let id_len = self.worker_id.chars().count();
        if !(1..=128).contains(&id_len) {
            problems.push("worker_id: must be 1..128 characters".to_owned());
        }
        if self.slots == 0 {
            problems.push("slots: must be at least 1".to_owned());
        }
        if self.labels.len() > drover_api::limits::MAX_LABELS {
            problems.push(format!(
                "labels: at most {} entries",
                drover_api::limits::MAX_LABELS
            ));
        }
        if self.max_buffered_results == 0 {
            problems.push("max_buffered_results: must be at least 1".to_owned());
        }
        if self.progress_buffer == 0 {
            problems.push("progress_buffer: must be at least 1".to_owned());
        }
        for (name, value) in [
            ("reconnect_cap", self.reconnect_cap),
            ("connect_timeout", self.connect_timeout),
            (
                "default_heartbeat_interval",
                self.default_heartbeat_interval,
            ),
            ("send_timeout", self.send_timeout),
            ("keep_alive_interval", self.keep_alive_interval),
        ] {
            if value.is_zero() {
                problems.push(format!("{name}: must be positive"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_problems_are_all_reported() {
        let ok = WorkerConfig::new("http://127.0.0.1:1", "w-1", pb::WorkerKind::Browser, 4);
        assert!(ok.problems().is_empty(), "{:?}", ok.problems());

        let mut bad = WorkerConfig::new("127.0.0.1:1", "", pb::WorkerKind::Ai, 0);
        bad.send_timeout = Duration::ZERO;
        let problems = bad.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("scheduler:"));
        assert!(problems.iter().any(|p| p.starts_with("send_timeout:")));
    }
}
