//! The state every connection of one server shares: the expected credentials, the default
//! behaviour (replaceable while serving), the counters, and the answer-id sequence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use http::{HeaderValue, Request, header};

use crate::StandInConfig;
use crate::behavior::{Behavior, BehaviorError};
use crate::error::Error;
use crate::stats::Counters;

/// State shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The full expected `Authorization` value (`Bearer KEY`), if auth is on.
    expected_authorization: Option<Box<[u8]>>,
    default_behavior: RwLock<Arc<DefaultBehavior>>,
    pub counters: Arc<Counters>,
    answers: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct DefaultBehavior {
    pub spec: String,
    pub behavior: Behavior,
}

impl Shared {
    pub fn new(config: &StandInConfig) -> Result<Shared, Error> {
        let shared = Shared {
            expected_authorization: config
                .api_key
                .as_ref()
                .map(|key| format!("Bearer {key}").into_bytes().into_boxed_slice()),
            default_behavior: RwLock::default(),
            counters: Arc::default(),
            answers: AtomicU64::new(0),
        };
        shared.set_behavior(&config.behavior)?;
        Ok(shared)
    }

    /// Replaces the default behaviour (used when neither header nor model name set one).
    pub fn set_behavior(&self, spec: &str) -> Result<(), BehaviorError> {
        let behavior = Behavior::parse(spec)?;
        let new = Arc::new(DefaultBehavior {
            spec: spec.trim().to_owned(),
            behavior,
        });
        *self
            .default_behavior
            .write()
            .unwrap_or_else(|p| p.into_inner()) = new;
        Ok(())
    }

    pub fn behavior_spec(&self) -> String {
        self.default().spec.clone()
    }

    pub fn default(&self) -> Arc<DefaultBehavior> {
        Arc::clone(
            &self
                .default_behavior
                .read()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// A fresh completion id; unique per server, so logs can tell answers apart.
    pub fn next_answer_id(&self) -> String {
        format!(
            "chatcmpl-standin-{}",
            self.answers.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub fn authorized<B>(&self, request: &Request<B>) -> bool {
        let Some(expected) = &self.expected_authorization else {
            return true;
        };
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .map_or(&b""[..], HeaderValue::as_bytes);
        // Compare every byte whatever the first mismatch, so timing says nothing of the key.
        given.len() == expected.len()
            && given
                .iter()
                .zip(expected.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}
