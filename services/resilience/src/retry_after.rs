//! Reading server-requested delays out of response headers and gRPC metadata.
//!
//! Servers tell clients how long to back off in several dialects; this module turns each into a
//! [`Pushback`] so [`crate::classify`] can decide between "wait this long" and "do not retry".
//! It owns only parsing: no clocks beyond the one needed for HTTP-dates, no policy.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// What a server asked for about retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushback {
    /// Retry no sooner than this.
    After(Duration),
    /// Do not retry at all (gRPC's negative or malformed `grpc-retry-pushback-ms`).
    Refused,
}

/// The gRPC metadata key a server uses to pace client retries (gRFC A6).
pub const GRPC_PUSHBACK_KEY: &str = "grpc-retry-pushback-ms";

/// Reads the delay an HTTP response asks for, in order of precision:
/// `retry-after-ms`, then `Retry-After` (delta-seconds or HTTP-date), then OpenAI's
/// `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens`.
///
/// Returns `None` when no header carries a usable delay; malformed values are ignored rather
/// than treated as refusals, because HTTP (unlike gRPC) gives them no such meaning.
pub fn http_retry_after(headers: &HeaderMap) -> Option<Duration> {
    http_retry_after_at(headers, SystemTime::now())
}

/// [`http_retry_after`] with an explicit "now", so HTTP-date handling is testable.
pub fn http_retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    header_str(headers, "retry-after-ms")
        .and_then(parse_millis)
        .or_else(|| header_str(headers, "retry-after").and_then(|v| parse_retry_after(v, now)))
        .or_else(|| openai_rate_limit_reset(headers))
}

/// Parses a `Retry-After` value: non-negative delta-seconds (fractions tolerated) or an
/// HTTP-date, which is turned into the time left until it (zero if already past).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(seconds) = parse_non_negative(value) {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses the delay out of gRPC `grpc-retry-pushback-ms` metadata, if present.
///
/// Per gRFC A6 a negative or unparseable value means the server asks the client not to retry.
pub fn grpc_pushback(metadata: &tonic::metadata::MetadataMap) -> Option<Pushback> {
    let value = metadata.get(GRPC_PUSHBACK_KEY)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok());
    Some(match parsed {
        Some(ms) if ms >= 0 => Pushback::After(Duration::from_millis(ms.unsigned_abs())),
        _ => Pushback::Refused,
    })
}

/// Parses a Go-style duration as OpenAI sends in `x-ratelimit-reset-*`: `"1s"`, `"6m0s"`,
/// `"20ms"`, `"1h2m3.5s"`, `"250us"`.
pub fn parse_go_duration(value: &str) -> Option<Duration> {
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// OpenAI reports separate reset times for the request and token limits. The one that matters
/// is the limit that ran out (`x-ratelimit-remaining-* == 0`); when the headers do not say
/// which, wait for the later of the two so the retry is not wasted.
fn openai_rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let resets = ["requests", "tokens"].map(|kind| {
        let reset =
            header_str(headers, &format!("x-ratelimit-reset-{kind}")).and_then(parse_go_duration);
        let exhausted = header_str(headers, &format!("x-ratelimit-remaining-{kind}"))
            .is_some_and(|v| v.trim() == "0");
        (reset, exhausted)
    });
    let exhausted_max = resets
        .iter()
        .filter(|(_, exhausted)| *exhausted)
        .filter_map(|(reset, _)| *reset)
        .max();
    exhausted_max.or_else(|| resets.iter().filter_map(|(reset, _)| *reset).max())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

fn parse_millis(value: &str) -> Option<Duration> {
    let millis = parse_non_negative(value.trim())?;
    Duration::try_from_secs_f64(millis / 1000.0).ok()
}

fn parse_non_negative(value: &str) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn go_durations_in_openai_forms() {
        assert_eq!(parse_go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(
            parse_go_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(parse_go_duration("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("5d"), None);
        assert_eq!(parse_go_duration("-1s"), None);
    }

    #[test]
    fn retry_after_delta_seconds_and_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("valid date");
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means retry now"
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn header_precedence_prefers_millisecond_precision() {
        let map = headers(&[("retry-after", "2"), ("retry-after-ms", "1500")]);
        assert_eq!(http_retry_after(&map), Some(Duration::from_millis(1500)));
        let map = headers(&[("retry-after", "2"), ("x-ratelimit-reset-requests", "9s")]);
        assert_eq!(http_retry_after(&map), Some(Duration::from_secs(2)));
        assert_eq!(http_retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn openai_reset_follows_the_exhausted_limit() {
        let map = headers(&[
            ("x-ratelimit-reset-requests", "23h"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-reset-tokens", "20ms"),
            ("x-ratelimit-remaining-tokens", "0"),
        ]);
        assert_eq!(http_retry_after(&map), Some(Duration::from_millis(20)));
        let map = headers(&[
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        assert_eq!(http_retry_after(&map), Some(Duration::from_secs(360)));
    }

    #[test]
    fn grpc_pushback_negative_or_garbage_refuses() {
        let mut md = tonic::metadata::MetadataMap::new();
        assert_eq!(grpc_pushback(&md), None);
        md.insert(GRPC_PUSHBACK_KEY, "250".parse().expect("ascii"));
        assert_eq!(
            grpc_pushback(&md),
            Some(Pushback::After(Duration::from_millis(250)))
        );
        md.insert(GRPC_PUSHBACK_KEY, "-1".parse().expect("ascii"));
        assert_eq!(grpc_pushback(&md), Some(Pushback::Refused));
        md.insert(GRPC_PUSHBACK_KEY, "later".parse().expect("ascii"));
        assert_eq!(grpc_pushback(&md), Some(Pushback::Refused));
    }
}
