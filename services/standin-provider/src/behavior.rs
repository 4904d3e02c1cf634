//! The behaviour grammar: parsing a spec such as `latency=50ms,status=429,retry-after=2` into a
//! [`Behavior`], and deciding per request which scripted fault (if any) applies.
//!
//! A spec is a comma-separated list of directives; whitespace around each is ignored and an
//! empty spec means "answer normally". Any directive this module does not know is an error
//! naming it, so a typo in a test fails loudly instead of silently testing the happy path.
//!
//! | directive | effect |
//! |---|---|
//! | `latency=DUR` | wait before answering (streams: before the first byte) |
//! | `chunk-delay=DUR` | wait between stream chunks |
//! | `chunks=N` | content chunks per stream (1..=1024, default 8) |
//! | `status=CODE` | answer CODE (400..=599) with an OpenAI error body |
//! | `retry-after=SECS` | `Retry-After: SECS` on a scripted error |
//! | `retry-after-ms=MS` | `retry-after-ms: MS` on a scripted error |
//! | `x-ratelimit-reset-requests=DUR` | that header, verbatim, on a scripted error |
//! | `context-length` | 400 `context_length_exceeded` |
//! | `stall-first-byte=DUR` | send nothing for DUR, then answer |
//! | `stall-mid-stream=DUR` | stream half the chunks, stall DUR, then finish |
//! | `cut-stream` | stream half the chunks, then end with no finish reason and no `[DONE]` |
//! | `malformed-sse` | send one event whose `data:` is not JSON halfway through |
//! | `fail-first=N` | faults apply to the first N requests with this spec and model only |
//! | `fail-rate=P` | faults apply to a deterministic fraction P (0..=1) of requests |
//!
//! DUR is a number with a unit: `us`, `ms`, `s` or `m` (e.g. `1.5s`). Faults are `status`,
//! `context-length`, the stalls, `cut-stream` and `malformed-sse`; `latency`, `chunk-delay`
//! and `chunks` apply to every request. With `fail-first`/`fail-rate` and no fault listed, the
//! fault is `status=500`. Stream faults do not affect non-streamed answers.

use std::time::Duration;

use http::StatusCode;

/// Content chunks per stream when the spec does not say.
pub const DEFAULT_CHUNKS: u32 = 8;
/// Upper bound for `chunks=N`: keeps a stream's precomputed frames small.
pub const MAX_CHUNKS: u32 = 1024;

/// Why a behaviour spec was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BehaviorError {
    /// A directive this stand-in does not know (typo, or a feature it lacks).
    #[error("unknown behaviour directive `{0}`")]
    UnknownDirective(String),
    /// A known directive with a value that does not parse or is out of range.
    #[error("invalid value for behaviour directive `{directive}`: {reason}")]
    InvalidValue {
        /// The directive name.
        directive: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// Two directives that contradict each other.
    #[error("behaviour directives `{0}` and `{1}` cannot be combined")]
    Conflict(&'static str, &'static str),
}

/// A parsed behaviour spec. `Default` is "answer normally, at once".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Behavior {
    /// Delay before answering (before the first byte of a stream).
    pub latency: Duration,
    /// Delay between stream chunks.
    pub chunk_delay: Duration,
    /// Content chunks per stream; `None` means [`DEFAULT_CHUNKS`].
    pub chunks: Option<u32>,
    /// The scripted faults, applied to the requests that [`Behavior::fail_first`] and
    /// [`Behavior::fail_rate`] select (to all requests when neither is set).
    pub faults: Faults,
    /// Only the first N requests with this spec and model get the faults.
    pub fail_first: Option<u64>,
    /// A deterministic fraction of requests (by per-spec counter) get the faults.
    pub fail_rate: Option<f64>,
}

/// The fault half of a behaviour: what goes wrong for a selected request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Answer with this status and an OpenAI error body.
    pub status: Option<StatusCode>,
    /// Answer 400 `context_length_exceeded`.
    pub context_length: bool,
    /// Seconds for a `Retry-After` header on a scripted error.
    pub retry_after_secs: Option<u64>,
    /// Milliseconds for a `retry-after-ms` header on a scripted error.
    pub retry_after_ms: Option<u64>,
    /// `x-ratelimit-reset-requests` header value (as written in the spec).
    pub ratelimit_reset_requests: Option<String>,
    /// Send nothing for this long, then answer normally.
    pub stall_first_byte: Option<Duration>,
    /// Stall this long after half the stream's chunks.
    pub stall_mid_stream: Option<Duration>,
    /// End the stream after half the chunks, without finish reason or `[DONE]`.
    pub cut_stream: bool,
    /// Send one non-JSON `data:` event halfway through the stream.
    pub malformed_sse: bool,
}

impl Faults {
    /// True when this carries no fault at all.
    pub fn is_empty(&self) -> bool {
        *self == Faults::default()
    }

    /// The scripted error status, if the answer is an error rather than content.
    pub fn error_status(&self) -> Option<StatusCode> {
        if self.context_length {
            Some(StatusCode::BAD_REQUEST)
        } else {
            self.status
        }
    }
}

impl Behavior {
    /// Parses a spec (see the module docs for the grammar).
    pub fn parse(spec: &str) -> Result<Behavior, BehaviorError> {
        let mut behavior = Behavior::default();
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let (name, value) = match directive.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim())),
                None => (directive, None),
            };
            behavior.apply(name, value)?;
        }
        behavior.check()?;
        Ok(behavior)
    }

    /// Content chunks per stream.
    pub fn chunk_count(&self) -> u32 {
        self.chunks.unwrap_or(DEFAULT_CHUNKS)
    }

    /// True when `fail-first` or `fail-rate` restricts which requests get the faults.
    pub fn is_selective(&self) -> bool {
        self.fail_first.is_some() || self.fail_rate.is_some()
    }

    /// Whether the `n`-th request (0-based, counted per spec and model) gets the faults.
    pub fn selects(&self, n: u64) -> bool {
        if !self.is_selective() {
            return true;
        }
        let first = self.fail_first.is_some_and(|limit| n < limit);
        // A fixed hash of the counter, not a random generator: the same run of requests
        // fails at the same positions every time, so tests and benchmarks are repeatable.
        let rate = self
            .fail_rate
            .is_some_and(|p| unit_interval(splitmix64(n)) < p);
        first || rate
    }

    fn apply(&mut self, name: &str, value: Option<&str>) -> Result<(), BehaviorError> {
        let faults = &mut self.faults;
        match name {
            "latency" => self.latency = duration(name, value)?,
            "chunk-delay" => self.chunk_delay = duration(name, value)?,
            "chunks" => {
                let n = integer(name, value)?;
                if n == 0 || n > u64::from(MAX_CHUNKS) {
                    return Err(invalid(name, format!("must be 1..={MAX_CHUNKS}")));
                }
                self.chunks = u32::try_from(n).ok();
            }
            "status" => {
                let code = integer(name, value)?;
                let status = u16::try_from(code)
                    .ok()
                    .filter(|c| (400..=599).contains(c))
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .ok_or_else(|| invalid(name, "must be an error status 400..=599"))?;
                faults.status = Some(status);
            }
            "retry-after" => faults.retry_after_secs = Some(integer(name, value)?),
            "retry-after-ms" => faults.retry_after_ms = Some(integer(name, value)?),
            "x-ratelimit-reset-requests" => {
                duration(name, value)?;
                faults.ratelimit_reset_requests = value.map(str::to_owned);
            }
            "context-length" => faults.context_length = flag(name, value)?,
            "stall-first-byte" => faults.stall_first_byte = Some(duration(name, value)?),
            "stall-mid-stream" => faults.stall_mid_stream = Some(duration(name, value)?),
            "cut-stream" => faults.cut_stream = flag(name, value)?,
            "malformed-sse" => faults.malformed_sse = flag(name, value)?,
            "fail-first" => self.fail_first = Some(integer(name, value)?),
            "fail-rate" => {
                let p = required(name, value)?
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| invalid(name, "must be a number in 0..=1"))?;
                self.fail_rate = Some(p);
            }
            _ => return Err(BehaviorError::UnknownDirective(name.to_owned())),
        }
        Ok(())
    }

    fn check(&mut self) -> Result<(), BehaviorError> {
        if self.faults.context_length && self.faults.status.is_some() {
            return Err(BehaviorError::Conflict("status", "context-length"));
        }
        if self.is_selective() && self.faults.is_empty() {
            self.faults.status = Some(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Ok(())
    }
}

fn invalid(directive: &str, reason: impl Into<String>) -> BehaviorError {
    BehaviorError::InvalidValue {
        directive: directive.to_owned(),
        reason: reason.into(),
    }
}

fn required<'a>(name: &str, value: Option<&'a str>) -> Result<&'a str, BehaviorError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid(name, "a value is required (`name=value`)"))
}

fn flag(name: &str, value: Option<&str>) -> Result<bool, BehaviorError> {
    match value {
        None => Ok(true),
        Some(_) => Err(invalid(name, "takes no value")),
    }
}

fn integer(name: &str, value: Option<&str>) -> Result<u64, BehaviorError> {
    required(name, value)?
        .parse()
        .map_err(|_| invalid(name, "must be a non-negative integer"))
}

/// Parses `1.5s`, `50ms`, `200us`, `2m`. A bare number is rejected: a unit-less `latency=5`
/// is exactly the kind of ambiguity that makes a test wait 5 s instead of 5 ms.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => number / 1_000_000.0,
        "ms" => number / 1_000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

fn duration(name: &str, value: Option<&str>) -> Result<Duration, BehaviorError> {
    parse_duration(required(name, value)?)
        .ok_or_else(|| invalid(name, "must be a duration such as 50ms, 1.5s or 2m"))
}

/// Maps 64 random bits onto `[0, 1)` using the 53 bits an `f64` mantissa holds.
fn unit_interval(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A well-mixed 64-bit hash of a counter (SplitMix64's finaliser).
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_combined_spec() {
        let b = Behavior::parse(" latency=50ms, chunks=3 ,status=429,retry-after=2,retry-after-ms=1500,x-ratelimit-reset-requests=1s").unwrap();
        assert_eq!(b.latency, Duration::from_millis(50));
        assert_eq!(b.chunk_count(), 3);
        assert_eq!(b.faults.status, Some(StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(b.faults.retry_after_secs, Some(2));
        assert_eq!(b.faults.retry_after_ms, Some(1500));
        assert_eq!(b.faults.ratelimit_reset_requests.as_deref(), Some("1s"));
    }

    #[test]
    fn empty_spec_is_normal() {
        assert_eq!(Behavior::parse("").unwrap(), Behavior::default());
        assert_eq!(Behavior::parse(" , ").unwrap(), Behavior::default());
    }

    #[test]
    fn unknown_and_invalid_directives_are_named() {
        let err = Behavior::parse("latency=5ms,stauts=500").unwrap_err();
        assert_eq!(err, BehaviorError::UnknownDirective("stauts".into()));
        assert!(err.to_string().contains("stauts"));
        assert!(matches!(
            Behavior::parse("latency=5"),
            Err(BehaviorError::InvalidValue { directive, .. }) if directive == "latency"
        ));
        assert!(Behavior::parse("status=200").is_err());
        assert!(Behavior::parse("chunks=0").is_err());
        assert!(Behavior::parse("cut-stream=yes").is_err());
        assert!(Behavior::parse("fail-rate=1.5").is_err());
        assert!(Behavior::parse("status=500,context-length").is_err());
    }

    #[test]
    fn durations_need_units() {
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("200us"), Some(Duration::from_micros(200)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("ms"), None);
    }

    #[test]
    fn fail_first_defaults_to_500_and_selects_the_first_n() {
        let b = Behavior::parse("fail-first=2").unwrap();
        assert_eq!(b.faults.status, Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert_eq!(
            (0..4).map(|n| b.selects(n)).collect::<Vec<_>>(),
            [true, true, false, false]
        );
        assert!(Behavior::parse("status=503").unwrap().selects(99));
    }

    #[test]
    fn fail_rate_is_repeatable_and_close_to_its_rate() {
        let b = Behavior::parse("fail-rate=0.3").unwrap();
        let hits: Vec<bool> = (0..10_000).map(|n| b.selects(n)).collect();
        let again: Vec<bool> = (0..10_000).map(|n| b.selects(n)).collect();
        assert_eq!(hits, again);
        let share = hits.iter().filter(|h| **h).count() as f64 / 10_000.0;
        assert!((0.27..0.33).contains(&share), "share {share}");
    }
}
