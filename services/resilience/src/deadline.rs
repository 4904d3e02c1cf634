//! One deadline for a whole call, however many attempts it takes.
//!
//! A deadline is a point in time, not a duration, so retries spend it and can never extend it.
//! It comes from the caller (its incoming gRPC `grpc-timeout`, parsed here) or from the retry
//! policy's total timeout, whichever is sooner, and travels through async code in a
//! `tokio::task_local!` scope: [`with_deadline`] sets it, [`Deadline::current`] reads it. Scopes
//! nest by taking the earlier deadline, so an inner scope can only shorten the time left.
//!
//! The layer scopes each attempt with that attempt's own (shorter) deadline, which is how the
//! gRPC helper knows what `grpc-timeout` to send.

use std::future::Future;
use std::time::Duration;

use http::HeaderMap;
use tokio::time::Instant;
use tonic::metadata::MetadataMap;

tokio::task_local! {
    static CURRENT: Deadline;
}

/// The header carrying a gRPC call's timeout.
pub const GRPC_TIMEOUT_HEADER: &str = "grpc-timeout";

/// A point in time by which a call must be finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline at this instant.
    pub fn at(instant: Instant) -> Self {
        Self(instant)
    }

    /// A deadline `timeout` from now (saturating far in the future).
    pub fn after(timeout: Duration) -> Self {
        let now = Instant::now();
        // ~30 years is "never" for a call and keeps Instant arithmetic from overflowing.
        let far_future = Duration::from_secs(60 * 60 * 24 * 365 * 30);
        Self(now + timeout.min(far_future))
    }

    /// The instant of the deadline.
    pub fn instant(&self) -> Instant {
        self.0
    }

    /// Time left before the deadline; zero once it has passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn is_expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The deadline scoped by [`with_deadline`] around the running task, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(|deadline| *deadline).ok()
    }

    /// Runs a synchronous closure with `self` (or an earlier scoped deadline) as the current
    /// deadline; the layer uses it so a service's `call` can read the attempt's deadline.
    pub fn scope_sync<T>(self, f: impl FnOnce() -> T) -> T {
        CURRENT.sync_scope(self.earliest_with_current(), f)
    }

    /// The deadline from an incoming request's gRPC metadata (`grpc-timeout`), if valid.
    pub fn from_metadata(metadata: &MetadataMap) -> Option<Self> {
        let value = metadata.get(GRPC_TIMEOUT_HEADER)?.to_str().ok()?;
        parse_grpc_timeout(value).map(Self::after)
    }

    /// The deadline from HTTP headers carrying `grpc-timeout`, if valid.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(GRPC_TIMEOUT_HEADER)?.to_str().ok()?;
        parse_grpc_timeout(value).map(Self::after)
    }

    fn earliest_with_current(self) -> Self {
        Self::current().map_or(self, |outer| outer.min(self))
    }
}

/// Runs `f` with `deadline` as the current deadline (see [`Deadline::current`]). Inside an
/// existing scope the earlier of the two wins: a deadline can be shortened, never extended.
pub async fn with_deadline<F: Future>(deadline: Deadline, f: F) -> F::Output {
    CURRENT.scope(deadline.earliest_with_current(), f).await
}

/// Parses a gRPC timeout value: 1–8 ASCII digits and a unit, `H` hours, `M` minutes, `S`
/// seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds (e.g. `100m`, `5S`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let value = value.trim();
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(amount * 3600),
        'M' => Duration::from_secs(amount * 60),
        'S' => Duration::from_secs(amount),
        'm' => Duration::from_millis(amount),
        'u' => Duration::from_micros(amount),
        'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_grpc_timeout_unit() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("30u"), Some(Duration::from_micros(30)));
        assert_eq!(parse_grpc_timeout("10n"), Some(Duration::from_nanos(10)));
        assert_eq!(
            parse_grpc_timeout("99999999S"),
            Some(Duration::from_secs(99_999_999))
        );
    }

    #[test]
    fn rejects_malformed_grpc_timeouts() {
        for bad in [
            "",
            "m",
            "100",
            "123456789m",
            "1.5S",
            "-1S",
            "10x",
            "10é",
            "+5S",
        ] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reads_deadline_from_metadata_and_headers() {
        let mut metadata = MetadataMap::new();
        metadata.insert(GRPC_TIMEOUT_HEADER, "250m".parse().expect("ascii"));
        let deadline = Deadline::from_metadata(&metadata).expect("valid");
        assert_eq!(deadline.remaining(), Duration::from_millis(250));

        let mut headers = HeaderMap::new();
        headers.insert(GRPC_TIMEOUT_HEADER, http::HeaderValue::from_static("2S"));
        let deadline = Deadline::from_headers(&headers).expect("valid");
        assert_eq!(deadline.remaining(), Duration::from_secs(2));
        assert_eq!(Deadline::from_headers(&HeaderMap::new()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn scopes_nest_to_the_earlier_deadline() {
        assert_eq!(Deadline::current(), None);
        let outer = Deadline::after(Duration::from_secs(1));
        let later = Deadline::after(Duration::from_secs(5));
        let sooner = Deadline::after(Duration::from_millis(10));
        with_deadline(outer, async {
            assert_eq!(Deadline::current(), Some(outer));
            with_deadline(later, async {
                assert_eq!(Deadline::current(), Some(outer))
            })
            .await;
            with_deadline(sooner, async {
                assert_eq!(Deadline::current(), Some(sooner))
            })
            .await;
            assert_eq!(later.scope_sync(Deadline::current), Some(outer));
        })
        .await;
        assert_eq!(Deadline::current(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn time_passing_spends_the_deadline() {
        let deadline = Deadline::after(Duration::from_millis(100));
        tokio::time::advance(Duration::from_millis(60)).await;
        assert_eq!(deadline.remaining(), Duration::from_millis(40));
        tokio::time::advance(Duration::from_millis(60)).await;
        assert!(deadline.is_expired());
    }
}
