//! Request accounting: counters per endpoint, per model and per behaviour outcome, the number
//! of requests in flight, and the per-spec counters that `fail-first`/`fail-rate` select on.
//!
//! Everything here is bounded: at most [`MAX_TRACKED_KEYS`] model names and spec counters are
//! kept, so a client inventing model names cannot grow the server without limit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Most distinct model names (and, separately, spec+model counters) remembered.
pub const MAX_TRACKED_KEYS: usize = 1024;

macro_rules! labelled_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $label:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The label used in [`Stats`] and its JSON form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $label,)* }
            }
        }
    };
}

labelled_enum! {
    /// The OpenAI endpoints the stand-in counts (control routes are not counted).
    Endpoint {
        /// `POST /v1/chat/completions`.
        ChatCompletions => "chat_completions",
        /// `POST /v1/embeddings`.
        Embeddings => "embeddings",
        /// `GET /v1/models`.
        Models => "models",
        /// Anything else under `/v1` (answered 404).
        Other => "other",
    }
}

labelled_enum! {
    /// What the stand-in did with a request. Each request counts one outcome when its answer
    /// begins; a request abandoned before that (say, during a stall) counts only under
    /// [`Stats::cancelled`].
    Outcome {
        /// Answered normally (possibly after `latency`).
        Ok => "ok",
        /// A scripted `status=` error.
        ScriptedStatus => "scripted_status",
        /// A scripted `context-length` error.
        ContextLength => "context_length",
        /// Stalled before the first byte, then answered.
        StallFirstByte => "stall_first_byte",
        /// Stalled halfway through the stream.
        StallMidStream => "stall_mid_stream",
        /// Stream ended early without finish reason or `[DONE]`.
        CutStream => "cut_stream",
        /// A non-JSON event was sent mid-stream.
        MalformedSse => "malformed_sse",
        /// Missing or wrong API key.
        Unauthorized => "unauthorized",
        /// The request (or its behaviour spec) was invalid.
        BadRequest => "bad_request",
        /// The body was over the size limit.
        PayloadTooLarge => "payload_too_large",
        /// Unknown route or method.
        NotFound => "not_found",
    }
}

/// A snapshot of the counters, as returned by `StandIn::stats()` and `GET /_standin/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests received on OpenAI endpoints.
    pub requests: u64,
    /// Requests per endpoint label ([`Endpoint::as_str`]); every label is present.
    pub by_endpoint: BTreeMap<String, u64>,
    /// Requests per requested model name (unchanged, including any `+spec` suffix).
    pub by_model: BTreeMap<String, u64>,
    /// Requests whose model did not fit in the bounded `by_model` map.
    pub models_untracked: u64,
    /// Requests received and not yet fully answered (streams count until their last byte).
    pub in_flight: u64,
    /// Requests whose client went away before the answer was complete.
    pub cancelled: u64,
    /// Requests per outcome label ([`Outcome::as_str`]); every label is present.
    pub outcomes: BTreeMap<String, u64>,
}

impl Stats {
    /// Requests counted for `endpoint`.
    pub fn endpoint(&self, endpoint: Endpoint) -> u64 {
        self.by_endpoint
            .get(endpoint.as_str())
            .copied()
            .unwrap_or(0)
    }

    /// Requests counted with `outcome`.
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(outcome.as_str()).copied().unwrap_or(0)
    }

    /// Requests counted for `model` (as requested).
    pub fn model(&self, model: &str) -> u64 {
        self.by_model.get(model).copied().unwrap_or(0)
    }
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    endpoints: [AtomicU64; 4],
    outcomes: [AtomicU64; 11],
    in_flight: AtomicU64,
    cancelled: AtomicU64,
    models_untracked: AtomicU64,
    keyed: Mutex<Keyed>,
}

#[derive(Debug, Default)]
struct Keyed {
    models: HashMap<Box<str>, u64>,
    spec_counters: HashMap<Box<str>, u64>,
}

impl Counters {
    /// Counts a request's arrival and returns the guard that keeps it in flight.
    pub(crate) fn begin(self: &Arc<Self>, endpoint: Endpoint) -> InFlight {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.endpoints[endpoint as usize].fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            counters: Arc::clone(self),
            complete: false,
        }
    }

    pub(crate) fn record(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_model(&self, model: &str) {
        let mut keyed = self.lock();
        if let Some(count) = keyed.models.get_mut(model) {
            *count += 1;
        } else if keyed.models.len() < MAX_TRACKED_KEYS {
            keyed.models.insert(model.into(), 1);
        } else {
            self.models_untracked.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Returns how many requests came before this one with the same key, and counts it.
    pub(crate) fn next_in_sequence(&self, key: &str) -> u64 {
        let mut keyed = self.lock();
        if let Some(count) = keyed.spec_counters.get_mut(key) {
            let n = *count;
            *count += 1;
            return n;
        }
        // Full: start over rather than grow. Only a run of >1024 distinct scripted specs
        // gets here, and restarting their sequences is the least surprising bound.
        if keyed.spec_counters.len() >= MAX_TRACKED_KEYS {
            keyed.spec_counters.clear();
        }
        keyed.spec_counters.insert(key.into(), 1);
        0
    }

    /// Model names seen so far, sorted.
    pub(crate) fn models(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().models.keys().map(|m| m.to_string()).collect();
        names.sort_unstable();
        names
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let labelled = |labels: &[&'static str], values: &[AtomicU64]| {
            labels
                .iter()
                .zip(values)
                .map(|(label, value)| (label.to_string(), value.load(Ordering::Relaxed)))
                .collect()
        };
        let endpoint_labels: Vec<_> = Endpoint::ALL.iter().map(|e| e.as_str()).collect();
        let outcome_labels: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            by_endpoint: labelled(&endpoint_labels, &self.endpoints),
            by_model: self
                .lock()
                .models
                .iter()
                .map(|(model, count)| (model.to_string(), *count))
                .collect(),
            models_untracked: self.models_untracked.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            outcomes: labelled(&outcome_labels, &self.outcomes),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keyed> {
        // Counters stay meaningful even if a holder panicked: recover the guard.
        self.keyed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Keeps a request counted as in flight until dropped; a drop before [`InFlight::complete`]
/// counts the request as cancelled (its client went away).
#[derive(Debug)]
pub(crate) struct InFlight {
    counters: Arc<Counters>,
    complete: bool,
}

impl InFlight {
    /// Marks the answer as fully produced.
    pub(crate) fn complete(&mut self) {
        self.complete = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.complete {
            self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_counter_arrays() {
        let counters = Counters::default();
        assert_eq!(counters.endpoints.len(), Endpoint::ALL.len());
        assert_eq!(counters.outcomes.len(), Outcome::ALL.len());
    }

    #[test]
    fn in_flight_guard_counts_cancellation() {
        let counters = Arc::new(Counters::default());
        let mut done = counters.begin(Endpoint::ChatCompletions);
        let gone = counters.begin(Endpoint::Embeddings);
        assert_eq!(counters.snapshot().in_flight, 2);
        done.complete();
        drop(done);
        drop(gone);
        let stats = counters.snapshot();
        assert_eq!(
            (stats.in_flight, stats.cancelled, stats.requests),
            (0, 1, 2)
        );
        assert_eq!(stats.endpoint(Endpoint::Embeddings), 1);
    }

    #[test]
    fn keyed_maps_are_bounded() {
        let counters = Counters::default();
        for i in 0..MAX_TRACKED_KEYS + 10 {
            counters.record_model(&format!("m{i}"));
            counters.next_in_sequence(&format!("k{i}"));
        }
        assert_eq!(counters.snapshot().by_model.len(), MAX_TRACKED_KEYS);
        assert_eq!(counters.snapshot().models_untracked, 10);
        assert!(counters.lock().spec_counters.len() <= MAX_TRACKED_KEYS);
        assert_eq!(counters.next_in_sequence("again"), 0);
        assert_eq!(counters.next_in_sequence("again"), 1);
    }
}
