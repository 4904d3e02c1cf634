//! The plumbing of validation: field paths, a bounded list of violations, and small checks
//! shared by every conversion. Conversions report *every* problem of a request at once, each
//! with the path of its field (`steps[2].navigate.url`), instead of stopping at the first.

use std::{fmt, time::Duration};

use crate::limits::MAX_REPORTED_VIOLATIONS;

/// The path of a field inside a request, as reported to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    /// The root of a message; fields below it are named relative to it.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// A path starting at a named field of the root message.
    pub fn new(field: &str) -> Self {
        Self(field.to_owned())
    }

    /// The path of a sub-field.
    pub fn field(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// The path of an element of a repeated field.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The path of a map entry.
    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key:?}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One offending field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `steps[2].navigate.url`.
    pub field: String,
    /// What is wrong, e.g. `scheme "file" is not allowed`.
    pub description: String,
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

/// A request that failed validation: every violation found (up to a bound) and how many more
/// there were.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The violations, in the order they were found.
    pub violations: Vec<FieldViolation>,
    /// Violations found beyond [`MAX_REPORTED_VIOLATIONS`], counted but not listed.
    pub unreported: usize,
}

impl ValidationError {
    /// A single violation.
    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            violations: vec![FieldViolation {
                field: field.into(),
                description: description.into(),
            }],
            unreported: 0,
        }
    }

    /// Puts every field path under `prefix` (e.g. `task` for a `SubmitTaskRequest`).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for violation in &mut self.violations {
            violation.field = if violation.field.is_empty() {
                prefix.to_owned()
            } else if violation.field.starts_with('[') {
                format!("{prefix}{}", violation.field)
            } else {
                format!("{prefix}.{}", violation.field)
            };
        }
        self
    }

    /// True if some violation names exactly this field.
    pub fn has_field(&self, field: &str) -> bool {
        self.violations.iter().any(|v| v.field == field)
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, violation) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{violation}")?;
        }
        if self.unreported > 0 {
            write!(f, "; and {} more", self.unreported)?;
        }
        Ok(())
    }
}

/// Collects violations while a request is converted.
#[derive(Debug, Default)]
pub struct Violations {
    found: Vec<FieldViolation>,
    unreported: usize,
}

impl Violations {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation of `field`.
    pub fn add(&mut self, field: &FieldPath, description: impl Into<String>) {
        if self.found.len() < MAX_REPORTED_VIOLATIONS {
            self.found.push(FieldViolation {
                field: field.to_string(),
                description: description.into(),
            });
        } else {
            self.unreported += 1;
        }
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// `Ok(value)` if nothing was recorded, else every violation.
    pub fn finish<T>(self, value: T) -> Result<T, ValidationError> {
        if self.found.is_empty() {
            Ok(value)
        } else {
            Err(ValidationError {
                violations: self.found,
                unreported: self.unreported,
            })
        }
    }

    /// Like [`Self::finish`] for a conversion that yields `None` exactly when it recorded a
    /// violation; a `None` without one is still refused, naming `field`, so no path can
    /// return success without a value.
    pub fn finish_some<T>(
        mut self,
        value: Option<T>,
        field: &FieldPath,
    ) -> Result<T, ValidationError> {
        match value {
            Some(value) => self.finish(value),
            None => {
                if self.found.is_empty() {
                    self.add(field, "is invalid");
                }
                Err(ValidationError {
                    violations: self.found,
                    unreported: self.unreported,
                })
            }
        }
    }

    /// Checks a string's size in bytes: `min..=max`. Returns whether it passed.
    pub fn check_len(&mut self, field: &FieldPath, value: &str, min: usize, max: usize) -> bool {
        if value.len() < min {
            if min == 1 {
                self.add(field, "must not be empty");
            } else {
                self.add(field, format!("must be at least {min} bytes"));
            }
            false
        } else if value.len() > max {
            self.add(
                field,
                format!("is {} bytes; at most {max} are allowed", value.len()),
            );
            false
        } else {
            true
        }
    }

    /// Checks a repeated field's length: `min..=max` entries of `noun` (plural). Returns
    /// whether it passed.
    pub fn check_count(
        &mut self,
        field: &FieldPath,
        len: usize,
        min: usize,
        max: usize,
        noun: &str,
    ) -> bool {
        let ok = (min..=max).contains(&len);
        if !ok {
            let allowed = if min == 0 {
                format!("at most {max}")
            } else {
                format!("{min} to {max}")
            };
            self.add(field, format!("has {len} {noun}; {allowed} are allowed"));
        }
        ok
    }

    /// Checks that `value` is non-empty, at most `max` bytes, and made of `allowed` characters.
    pub fn check_name(
        &mut self,
        field: &FieldPath,
        value: &str,
        max: usize,
        allowed: fn(char) -> bool,
        allowed_text: &str,
    ) -> bool {
        if !self.check_len(field, value, 1, max) {
            return false;
        }
        if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
            self.add(
                field,
                format!("character {bad:?} is not allowed; use {allowed_text}"),
            );
            return false;
        }
        true
    }

    /// Converts an optional protobuf duration, which must be positive and at most `max`.
    pub fn duration(
        &mut self,
        field: &FieldPath,
        value: Option<&prost_types::Duration>,
        max: Duration,
    ) -> Option<Duration> {
        let value = value?;
        if value.seconds < 0 || value.nanos < 0 || value.nanos >= 1_000_000_000 {
            self.add(field, "must be a positive duration");
            return None;
        }
        let duration = Duration::new(value.seconds as u64, value.nanos as u32);
        if duration.is_zero() {
            self.add(
                field,
                "must be greater than zero; leave it unset for the default",
            );
            None
        } else if duration > max {
            self.add(
                field,
                format!("is {duration:?}; at most {max:?} is allowed"),
            );
            None
        } else {
            Some(duration)
        }
    }

    /// Converts a protobuf enum value, reporting values this build does not know.
    pub fn enumeration<E: TryFrom<i32>>(&mut self, field: &FieldPath, value: i32) -> Option<E> {
        match E::try_from(value) {
            Ok(known) => Some(known),
            Err(_) => {
                self.add(field, format!("unknown value {value}"));
                None
            }
        }
    }

    /// Checks a number lies in `min..=max`.
    pub fn check_range<T: PartialOrd + fmt::Display + Copy>(
        &mut self,
        field: &FieldPath,
        value: T,
        min: T,
        max: T,
    ) -> bool {
        // `!(a <= b)` rather than `a > b` so that NaN fails the check.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let out_of_range = !(min <= value && value <= max);
        if out_of_range {
            self.add(
                field,
                format!("is {value}; must be between {min} and {max}"),
            );
        }
        !out_of_range
    }
}

/// Converts a protobuf duration that must be zero or positive (a domain duration).
pub fn to_proto_duration(duration: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: duration.subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_the_proto() {
        let path = FieldPath::root()
            .field("steps")
            .index(2)
            .field("navigate")
            .field("url");
        assert_eq!(path.as_str(), "steps[2].navigate.url");
        assert_eq!(
            FieldPath::new("labels").key("a b").as_str(),
            "labels[\"a b\"]"
        );
    }

    #[test]
    fn violations_are_bounded_and_counted() {
        let mut v = Violations::new();
        for i in 0..(MAX_REPORTED_VIOLATIONS + 10) {
            v.add(&FieldPath::new("steps").index(i), "bad");
        }
        let err = v.finish(()).unwrap_err();
        assert_eq!(err.violations.len(), MAX_REPORTED_VIOLATIONS);
        assert_eq!(err.unreported, 10);
        assert!(err.to_string().ends_with("and 10 more"));
    }

    #[test]
    fn prefix_joins_fields_and_indexes() {
        let err = ValidationError::single("steps[0].click.selector", "must not be empty");
        assert_eq!(
            err.prefixed("task").violations[0].field,
            "task.steps[0].click.selector"
        );
    }

    #[test]
    fn nan_is_out_of_every_range() {
        let mut v = Violations::new();
        assert!(!v.check_range(&FieldPath::new("temperature"), f64::NAN, 0.0, 2.0));
        assert!(!v.is_empty());
    }

    #[test]
    fn durations_must_be_positive_and_bounded() {
        let mut v = Violations::new();
        let negative = prost_types::Duration {
            seconds: -1,
            nanos: 0,
        };
        let huge = prost_types::Duration {
            seconds: 1_000_000,
            nanos: 0,
        };
        let ok = prost_types::Duration {
            seconds: 2,
            nanos: 500,
        };
        let max = Duration::from_secs(60);
        assert_eq!(v.duration(&FieldPath::new("a"), Some(&negative), max), None);
        assert_eq!(v.duration(&FieldPath::new("b"), Some(&huge), max), None);
        assert_eq!(
            v.duration(&FieldPath::new("c"), Some(&ok), max),
            Some(Duration::new(2, 500))
        );
        let err = v.finish(()).unwrap_err();
        assert!(err.has_field("a") && err.has_field("b") && !err.has_field("c"));
    }
}
