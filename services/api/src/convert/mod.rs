//! Conversions between wire types ([`crate::pb`]) and domain types ([`crate::model`]).
//!
//! Wire → domain validates: every problem of a request is reported at once, each naming its
//! field (`steps[2].navigate.url: scheme "file" is not allowed`), and nothing the caller sent
//! is silently truncated or coerced. Domain → wire is infallible.

mod ai;
mod browser;
mod output;
mod task;

pub use ai::{chat_request, embed_request};
pub use browser::{browser_options, system_time_to_pb};
pub use output::prior_outputs;
pub use task::{BrowserJob, assignment_steps, browser_job, task_spec};

use crate::{
    limits::{DEFAULT_TENANT, MAX_TENANT},
    template::Template,
    validate::{FieldPath, Violations},
};

/// `None` for an empty string: proto3 cannot tell "unset" from "empty".
fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// Checks a templated text's size and parses its references.
fn template(
    value: &str,
    path: &FieldPath,
    v: &mut Violations,
    min: usize,
    max: usize,
) -> Option<Template> {
    if !v.check_len(path, value, min, max) {
        return None;
    }
    match Template::parse(value) {
        Ok(parsed) => Some(parsed),
        Err(why) => {
            v.add(path, why);
            None
        }
    }
}

/// A tenant name, defaulting to [`DEFAULT_TENANT`].
fn tenant(value: String, path: &FieldPath, v: &mut Violations) -> String {
    if value.is_empty() {
        return DEFAULT_TENANT.to_owned();
    }
    v.check_name(
        path,
        &value,
        MAX_TENANT,
        |c| c.is_ascii_alphanumeric() || "._-".contains(c),
        "letters, digits, '.', '_' and '-'",
    );
    value
}
