//! How the client commands show wire values to a person: state and enum names without their
//! prefixes, durations, UTC times, one-line output summaries (text shown, binaries as
//! `<png, 12345 bytes>`), and plain aligned tables. Nothing here talks to the network.

use std::{fmt::Write as _, time::Duration};

use drover_api::{DroverError, pb};

/// `succeeded` for `TASK_STATE_SUCCEEDED`; `unknown(9)` for a number this build does not know.
pub fn state_name(state: i32) -> String {
    match pb::TaskState::try_from(state) {
        Ok(state) => short_name(state.as_str_name(), "TASK_STATE_"),
        Err(_) => format!("unknown({state})"),
    }
}

/// Whether `state` is one a task ends in.
pub fn is_terminal(state: i32) -> bool {
    matches!(
        pb::TaskState::try_from(state),
        Ok(pb::TaskState::Succeeded
            | pb::TaskState::Failed
            | pb::TaskState::Cancelled
            | pb::TaskState::Expired)
    )
}

/// `browser` for `WORKER_KIND_BROWSER`.
pub fn kind_name(kind: i32) -> String {
    match pb::WorkerKind::try_from(kind) {
        Ok(kind) => short_name(kind.as_str_name(), "WORKER_KIND_"),
        Err(_) => format!("unknown({kind})"),
    }
}

/// `normal` for `PRIORITY_NORMAL`.
pub fn priority_name(priority: i32) -> String {
    match pb::Priority::try_from(priority) {
        Ok(priority) => short_name(priority.as_str_name(), "PRIORITY_"),
        Err(_) => format!("unknown({priority})"),
    }
}

fn short_name(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// `1.25s`, `340ms`, `2m05s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1_000) % 60)
    }
}

/// A wire duration, if valid.
pub fn from_pb_duration(d: &prost_types::Duration) -> Option<Duration> {
    (d.seconds >= 0 && d.nanos >= 0).then(|| Duration::new(d.seconds as u64, d.nanos as u32))
}

/// Time from `from` to `to`, if both are set and in order.
pub fn between(
    from: Option<&prost_types::Timestamp>,
    to: Option<&prost_types::Timestamp>,
) -> Option<Duration> {
    let (from, to) = (from?, to?);
    let nanos = |t: &prost_types::Timestamp| t.seconds as i128 * 1_000_000_000 + t.nanos as i128;
    let delta = nanos(to) - nanos(from);
    (delta >= 0).then(|| Duration::from_nanos(delta as u64))
}

/// `2026-11-22 10:04:05.123Z` (UTC, millisecond precision).
pub fn timestamp(t: &prost_types::Timestamp) -> String {
    let days = t.seconds.div_euclid(86_400);
    let secs = t.seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        t.nanos.max(0) / 1_000_000
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// One line for a task's error: `REASON: message` (step named), cut to `max` characters.
pub fn error_line(error: &pb::Error, max: usize) -> String {
    let error = DroverError::from_pb(error);
    let mut text = format!("{}: {}", error.reason, error.message);
    if let Some(step) = &error.step {
        let _ = write!(text, " (step {step})");
    }
    clip(&text.replace('\n', " "), max)
}

/// `text` cut to `max` characters, with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// What a step produced, on one line: text values shown (quoted, clipped), binaries as
/// `<png, 12345 bytes>`.
pub fn output_summary(output: &pb::StepOutput) -> String {
    use pb::step_output::Value;
    const TEXT: usize = 120;
    let quoted = |s: &str| format!("{:?}", clip(s, TEXT));
    match &output.value {
        None | Some(Value::None(_)) => "done".to_owned(),
        Some(Value::Navigate(nav)) => {
            let mut text = nav.url.clone();
            if !nav.title.is_empty() {
                let _ = write!(text, " {}", quoted(&nav.title));
            }
            if nav.status != 0 {
                let _ = write!(text, " (HTTP {})", nav.status);
            }
            text
        }
        Some(Value::Extract(extract)) => match extract.values.as_slice() {
            [] => "no match".to_owned(),
            [one] => quoted(one),
            [first, ..] => format!("{} values, first {}", extract.values.len(), quoted(first)),
        },
        Some(Value::Evaluate(eval)) => clip(&eval.json, TEXT),
        Some(Value::Binary(binary)) => {
            let kind = binary
                .content_type
                .rsplit('/')
                .next()
                .filter(|k| !k.is_empty())
                .unwrap_or("binary");
            format!("<{kind}, {} bytes>", binary.data.len())
        }
        Some(Value::Cookies(cookies)) => format!("{} cookies", cookies.cookies.len()),
        Some(Value::Chat(chat)) => {
            let mut text = quoted(&chat.content);
            let mut about = Vec::new();
            if !chat.model.is_empty() {
                about.push(format!("model {}", chat.model));
            }
            if !chat.deployment.is_empty() {
                about.push(format!("deployment {}", chat.deployment));
            }
            if chat.cached {
                about.push("cached".to_owned());
            }
            if !about.is_empty() {
                let _ = write!(text, " ({})", about.join(", "));
            }
            text
        }
        Some(Value::Embed(embed)) => {
            let mut text = format!("{} embeddings", embed.embeddings.len());
            if !embed.model.is_empty() {
                let _ = write!(text, " (model {})", embed.model);
            }
            text
        }
    }
}

/// One task event on one line: `#3 step open (navigate, 120ms): https://a/ "Title"`.
pub fn event_line(event: &pb::TaskEvent) -> String {
    use pb::task_event::Detail;
    let at = event.at.as_ref().map(timestamp).unwrap_or_default();
    let what = match &event.detail {
        Some(Detail::Queued(queued)) => format!("queued (position {})", queued.position),
        Some(Detail::Assigned(assigned)) => format!(
            "assigned to {} (attempt {})",
            assigned.worker_id, assigned.attempt
        ),
        Some(Detail::StepCompleted(step)) => match &step.output {
            Some(output) => {
                let took = output
                    .duration
                    .as_ref()
                    .and_then(from_pb_duration)
                    .map(|d| format!(", {}", duration(d)))
                    .unwrap_or_default();
                format!(
                    "step {} ({}{took}): {}",
                    output.step,
                    output_kind(output),
                    output_summary(output)
                )
            }
            None => "step completed".to_owned(),
        },
        Some(Detail::Requeued(requeued)) => {
            let cause = requeued
                .cause
                .as_ref()
                .map(|e| error_line(e, 160))
                .unwrap_or_else(|| "no cause given".to_owned());
            format!("requeued: {cause} (next attempt {})", requeued.next_attempt)
        }
        Some(Detail::Finished(finished)) => match &finished.error {
            Some(error) => format!("{}: {}", state_name(event.state), error_line(error, 200)),
            None => state_name(event.state),
        },
        None => state_name(event.state),
    };
    format!("#{} {at} {what}", event.sequence)
}

/// The kind of a step output: `navigate`, `extract`, `binary`, ...
pub fn output_kind(output: &pb::StepOutput) -> &'static str {
    use pb::step_output::Value;
    match &output.value {
        None | Some(Value::None(_)) => "none",
        Some(Value::Navigate(_)) => "navigate",
        Some(Value::Extract(_)) => "extract",
        Some(Value::Evaluate(_)) => "evaluate",
        Some(Value::Binary(_)) => "binary",
        Some(Value::Cookies(_)) => "cookies",
        Some(Value::Chat(_)) => "chat",
        Some(Value::Embed(_)) => "embed",
    }
}

/// Rows under a header, each column as wide as its widest cell, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                let _ = write!(out, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_prefixes() {
        assert_eq!(state_name(pb::TaskState::Succeeded as i32), "succeeded");
        assert_eq!(state_name(99), "unknown(99)");
        assert_eq!(kind_name(pb::WorkerKind::Browser as i32), "browser");
        assert_eq!(priority_name(pb::Priority::Urgent as i32), "urgent");
        assert!(is_terminal(pb::TaskState::Expired as i32));
        assert!(!is_terminal(pb::TaskState::Running as i32));
    }

    #[test]
    fn durations_and_times_read_well() {
        assert_eq!(duration(Duration::from_millis(340)), "340ms");
        assert_eq!(duration(Duration::from_millis(1_250)), "1.25s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
        let t = prost_types::Timestamp {
            seconds: 1_795_521_845,
            nanos: 123_000_000,
        };
        assert_eq!(timestamp(&t), "2026-11-24 12:04:05.123Z");
        let later = prost_types::Timestamp {
            seconds: t.seconds + 2,
            nanos: 0,
        };
        assert_eq!(
            between(Some(&t), Some(&later)),
            Some(Duration::from_millis(1_877))
        );
        assert_eq!(between(Some(&later), Some(&t)), None);
    }

    #[test]
    fn outputs_are_summarised() {
        let binary = pb::StepOutput {
            value: Some(pb::step_output::Value::Binary(pb::BinaryOutput {
                content_type: "image/png".into(),
                data: vec![0; 12_345].into(),
            })),
            ..Default::default()
        };
        assert_eq!(output_summary(&binary), "<png, 12345 bytes>");
        let extract = pb::StepOutput {
            value: Some(pb::step_output::Value::Extract(pb::ExtractOutput {
                values: vec!["Hello".into()],
            })),
            ..Default::default()
        };
        assert_eq!(output_summary(&extract), "\"Hello\"");
        assert_eq!(clip("abcdef", 4), "abc…");
    }

    #[test]
    fn tables_align_their_columns() {
        let text = table(
            &["A", "BB"],
            &[
                vec!["long".into(), "x".into()],
                vec!["s".into(), "y".into()],
            ],
        );
        assert_eq!(text, "A     BB\nlong  x\ns     y\n");
    }
}
