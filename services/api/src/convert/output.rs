//! Step outputs: domain ⇄ wire. Outputs come from Drover's own workers, so reading them back
//! checks shape (a value is present, enums are known) rather than request limits.

use std::time::{Duration, UNIX_EPOCH};

use super::browser::cookie_to_pb;
use crate::{
    model::{
        browser::{Cookie, SameSite},
        output::*,
    },
    pb,
    validate::{FieldPath, ValidationError, Violations, to_proto_duration},
};

impl From<StepOutput> for pb::StepOutput {
    fn from(output: StepOutput) -> Self {
        use pb::step_output::Value;
        let value = match output.value {
            OutputValue::None => Value::None(pb::NoOutput {}),
            OutputValue::Navigate { url, title, status } => Value::Navigate(pb::NavigateOutput {
                url,
                title,
                status: u32::from(status),
            }),
            OutputValue::Extract(values) => Value::Extract(pb::ExtractOutput { values }),
            OutputValue::Evaluate(json) => Value::Evaluate(pb::EvaluateOutput { json }),
            OutputValue::Binary { content_type, data } => {
                Value::Binary(pb::BinaryOutput { content_type, data })
            }
            OutputValue::Cookies(cookies) => Value::Cookies(pb::CookiesOutput {
                cookies: cookies.into_iter().map(cookie_to_pb).collect(),
            }),
            OutputValue::Chat(chat) => Value::Chat(chat.into()),
            OutputValue::Embed(result) => Value::Embed(result.into()),
        };
        pb::StepOutput {
            step: output.step,
            index: output.index,
            duration: Some(to_proto_duration(output.duration)),
            value: Some(value),
        }
    }
}

impl From<ChatCompletion> for pb::ChatCompletion {
    fn from(chat: ChatCompletion) -> Self {
        pb::ChatCompletion {
            content: chat.content,
            finish_reason: match chat.finish_reason {
                FinishReason::Unspecified => pb::FinishReason::Unspecified,
                FinishReason::Stop => pb::FinishReason::Stop,
                FinishReason::Length => pb::FinishReason::Length,
                FinishReason::ContentFilter => pb::FinishReason::ContentFilter,
                FinishReason::ToolCalls => pb::FinishReason::ToolCalls,
            } as i32,
            usage: Some(chat.usage.into()),
            model: chat.model,
            deployment: chat.deployment,
            cached: chat.cached,
        }
    }
}

impl From<TokenUsage> for pb::TokenUsage {
    fn from(usage: TokenUsage) -> Self {
        pb::TokenUsage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.total_tokens,
        }
    }
}

impl From<EmbedResult> for pb::EmbedResult {
    fn from(result: EmbedResult) -> Self {
        pb::EmbedResult {
            embeddings: result
                .embeddings
                .into_iter()
                .map(|values| pb::Embedding { values })
                .collect(),
            usage: Some(result.usage.into()),
            model: result.model,
            deployment: result.deployment,
        }
    }
}

fn usage_from_pb(usage: Option<pb::TokenUsage>) -> TokenUsage {
    let usage = usage.unwrap_or_default();
    TokenUsage {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        total_tokens: usage.total_tokens,
    }
}

fn cookie_from_pb(c: pb::Cookie) -> Cookie {
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    Cookie {
        name: c.name,
        value: c.value,
        domain: non_empty(c.domain),
        path: non_empty(c.path),
        expires: c
            .expires
            .filter(|t| t.seconds >= 0 && (0..1_000_000_000).contains(&t.nanos))
            .map(|t| UNIX_EPOCH + Duration::new(t.seconds as u64, t.nanos as u32)),
        http_only: c.http_only,
        secure: c.secure,
        same_site: match pb::SameSite::try_from(c.same_site) {
            Ok(pb::SameSite::Strict) => Some(SameSite::Strict),
            Ok(pb::SameSite::Lax) => Some(SameSite::Lax),
            Ok(pb::SameSite::None) => Some(SameSite::None),
            _ => None,
        },
        url: non_empty(c.url),
    }
}

impl TryFrom<pb::StepOutput> for StepOutput {
    type Error = ValidationError;

    fn try_from(pb: pb::StepOutput) -> Result<Self, Self::Error> {
        use pb::step_output::Value;
        let mut v = Violations::new();
        let duration = pb
            .duration
            .filter(|d| d.seconds >= 0 && (0..1_000_000_000).contains(&d.nanos))
            .map(|d| Duration::new(d.seconds as u64, d.nanos as u32))
            .unwrap_or_default();
        let value = match pb.value {
            None => {
                v.add(&FieldPath::new("value"), "is required");
                OutputValue::None
            }
            Some(Value::None(_)) => OutputValue::None,
            Some(Value::Navigate(n)) => OutputValue::Navigate {
                url: n.url,
                title: n.title,
                status: u16::try_from(n.status).unwrap_or(0),
            },
            Some(Value::Extract(e)) => OutputValue::Extract(e.values),
            Some(Value::Evaluate(e)) => OutputValue::Evaluate(e.json),
            Some(Value::Binary(b)) => OutputValue::Binary {
                content_type: b.content_type,
                data: b.data,
            },
            Some(Value::Cookies(c)) => {
                OutputValue::Cookies(c.cookies.into_iter().map(cookie_from_pb).collect())
            }
            Some(Value::Chat(c)) => OutputValue::Chat(ChatCompletion {
                content: c.content,
                finish_reason: match pb::FinishReason::try_from(c.finish_reason) {
                    Ok(pb::FinishReason::Stop) => FinishReason::Stop,
                    Ok(pb::FinishReason::Length) => FinishReason::Length,
                    Ok(pb::FinishReason::ContentFilter) => FinishReason::ContentFilter,
                    Ok(pb::FinishReason::ToolCalls) => FinishReason::ToolCalls,
                    _ => FinishReason::Unspecified,
                },
                usage: usage_from_pb(c.usage),
                model: c.model,
                deployment: c.deployment,
                cached: c.cached,
            }),
            Some(Value::Embed(e)) => OutputValue::Embed(EmbedResult {
                embeddings: e.embeddings.into_iter().map(|x| x.values).collect(),
                usage: usage_from_pb(e.usage),
                model: e.model,
                deployment: e.deployment,
            }),
        };
        v.finish(StepOutput {
            step: pb.step,
            index: pb.index,
            duration,
            value,
        })
    }
}

/// Earlier steps' outputs as a worker receives them with an assignment, by step name. An
/// output that does not convert is left out: a reference to it then fails with the step's
/// name when the template is rendered.
pub fn prior_outputs(inputs: Vec<pb::StepOutput>) -> PriorOutputs {
    let mut known = PriorOutputs::new();
    for input in inputs {
        if let Ok(output) = StepOutput::try_from(input) {
            known.insert(output.step, output.value);
        }
    }
    known
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::template::OutputField;

    #[test]
    fn outputs_round_trip_and_binary_is_not_copied() {
        let data = Bytes::from_static(b"\x89PNG\r\n");
        let output = StepOutput {
            step: "shot".into(),
            index: 3,
            duration: Duration::from_millis(12),
            value: OutputValue::Binary {
                content_type: "image/png".into(),
                data: data.clone(),
            },
        };
        let wire = pb::StepOutput::from(output.clone());
        if let Some(pb::step_output::Value::Binary(b)) = &wire.value {
            assert_eq!(
                b.data.as_ptr(),
                data.as_ptr(),
                "the same buffer, not a copy"
            );
        } else {
            panic!("binary expected");
        }
        assert_eq!(StepOutput::try_from(wire).unwrap(), output);
    }

    #[test]
    fn fields_resolve_for_references() {
        let extract = OutputValue::Extract(vec!["a".into(), "b\"c".into()]);
        assert_eq!(extract.field(OutputField::Text).as_deref(), Some("a"));
        assert_eq!(
            extract.field(OutputField::Values).as_deref(),
            Some(r#"["a","b\"c"]"#)
        );
        assert_eq!(extract.field(OutputField::Count).as_deref(), Some("2"));
        assert_eq!(extract.field(OutputField::Url), None);
        let nav = OutputValue::Navigate {
            url: "https://a/".into(),
            title: "A".into(),
            status: 200,
        };
        assert_eq!(nav.field(OutputField::Status).as_deref(), Some("200"));
        assert_eq!(
            OutputValue::Extract(vec![])
                .field(OutputField::Text)
                .as_deref(),
            Some("")
        );
    }

    #[test]
    fn an_output_without_a_value_is_refused() {
        let err = StepOutput::try_from(pb::StepOutput::default()).unwrap_err();
        assert!(err.has_field("value"));
    }
}
