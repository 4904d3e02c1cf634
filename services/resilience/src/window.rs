//! A rolling time window of two counters, shared by the retry budget (requests, retries) and
//! the circuit breaker (calls, failures).
//!
//! The window is split into [`BUCKETS`] slots; advancing time clears the slots that fell out.
//! That bounds memory and makes every operation O(buckets) without a background task. Time is
//! `tokio::time::Instant`, so tests with paused time drive it.

use std::time::Duration;

use tokio::time::Instant;

/// Slots per window: the window's edge is accurate to one tenth of its length.
pub(crate) const BUCKETS: usize = 10;

/// Two counters summed over the last `window` of time.
#[derive(Debug)]
pub(crate) struct RollingPair {
    origin: Instant,
    slot_length: Duration,
    /// The index (since `origin`) of the newest slot in `slots`.
    newest_slot: u64,
    slots: [[u64; 2]; BUCKETS],
}

impl RollingPair {
    /// A window of `window` length (at least one nanosecond per slot) starting now.
    pub(crate) fn new(window: Duration) -> Self {
        let slot_length = (window / BUCKETS as u32).max(Duration::from_nanos(1));
        Self {
            origin: Instant::now(),
            slot_length,
            newest_slot: 0,
            slots: [[0; 2]; BUCKETS],
        }
    }

    /// Adds to the counters in the current slot.
    pub(crate) fn add(&mut self, first: u64, second: u64) {
        let slot = self.advance();
        self.slots[slot][0] = self.slots[slot][0].saturating_add(first);
        self.slots[slot][1] = self.slots[slot][1].saturating_add(second);
    }

    /// Both counters summed over the window.
    pub(crate) fn totals(&mut self) -> (u64, u64) {
        self.advance();
        self.slots.iter().fold((0, 0), |(a, b), slot| {
            (a.saturating_add(slot[0]), b.saturating_add(slot[1]))
        })
    }

    /// Forgets everything (a breaker closing starts a fresh record).
    pub(crate) fn clear(&mut self) {
        self.slots = [[0; 2]; BUCKETS];
    }

    /// Moves the window up to now, zeroing slots that fell out; returns the current slot.
    fn advance(&mut self) -> usize {
        let elapsed = Instant::now().saturating_duration_since(self.origin);
        let now_slot =
            u64::try_from(elapsed.as_nanos() / self.slot_length.as_nanos()).unwrap_or(u64::MAX);
        let stale = now_slot
            .saturating_sub(self.newest_slot)
            .min(BUCKETS as u64);
        for step in 1..=stale {
            let index = self.newest_slot.wrapping_add(step) % BUCKETS as u64;
            self.slots[index as usize] = [0; 2];
        }
        self.newest_slot = self.newest_slot.max(now_slot);
        (self.newest_slot % BUCKETS as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn counts_expire_after_the_window() {
        let mut window = RollingPair::new(Duration::from_secs(10));
        window.add(3, 1);
        tokio::time::advance(Duration::from_secs(5)).await;
        window.add(2, 0);
        assert_eq!(window.totals(), (5, 1));
        tokio::time::advance(Duration::from_millis(5500)).await;
        assert_eq!(window.totals(), (2, 0), "the first slot fell out");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(window.totals(), (0, 0));
        window.add(1, 1);
        assert_eq!(window.totals(), (1, 1));
    }
}
