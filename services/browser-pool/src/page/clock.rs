//! One step's time budget: every CDP call and every wait of a step goes through a [`Clock`],
//! so nothing outlives the step's deadline (chromiumoxide's own command timeout is a fixed
//! 30 s and cannot be shortened per call).

use std::{future::Future, time::Duration};

use chromiumoxide::error::CdpError;
use tokio::time::{Instant, timeout_at};

use crate::error::StepError;

/// The deadline of one step (or of one prepare/reset), and how long it had in total, for the
/// [`StepError::Timeout`] it reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    deadline: Instant,
    budget: Duration,
}

impl Clock {
    /// Starts the clock now.
    pub(crate) fn new(deadline: Instant) -> Self {
        Self {
            deadline,
            budget: deadline.saturating_duration_since(Instant::now()),
        }
    }

    /// The error a step reports when its deadline passes.
    pub(crate) fn timeout(&self) -> StepError {
        StepError::Timeout { after: self.budget }
    }

    /// Time left, zero once the deadline has passed.
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Runs a chromiumoxide call within the deadline.
    pub(crate) async fn cdp<T>(
        &self,
        call: impl Future<Output = Result<T, CdpError>>,
    ) -> Result<T, StepError> {
        self.bound(async { call.await.map_err(StepError::from) })
            .await
    }

    /// Runs any fallible work within the deadline.
    pub(crate) async fn bound<T>(
        &self,
        work: impl Future<Output = Result<T, StepError>>,
    ) -> Result<T, StepError> {
        timeout_at(self.deadline, work)
            .await
            .unwrap_or_else(|_| Err(self.timeout()))
    }
}
