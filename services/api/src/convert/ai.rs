//! AI steps and requests: wire ⇄ domain.

use super::template;
use crate::{
    limits::*,
    model::ai::*,
    pb,
    validate::{FieldPath, Violations},
};

fn model_group(value: &str, path: &FieldPath, v: &mut Violations) -> bool {
    v.check_name(
        path,
        value,
        MAX_MODEL_GROUP,
        |c| c.is_ascii_alphanumeric() || "._:/-".contains(c),
        "letters, digits and . _ : / -",
    )
}

pub(super) fn chat(pb: pb::ChatSpec, path: &FieldPath, v: &mut Violations) -> Option<ChatSpec> {
    let group_ok = model_group(&pb.model_group, &path.field("model_group"), v);
    let messages_at = path.field("messages");
    let mut messages = Vec::new();
    if v.check_count(
        &messages_at,
        pb.messages.len(),
        1,
        MAX_CHAT_MESSAGES,
        "messages",
    ) {
        for (i, message) in pb.messages.into_iter().enumerate() {
            let at = messages_at.index(i);
            let role = match v.enumeration(&at.field("role"), message.role) {
                Some(pb::ChatRole::System) => Some(ChatRole::System),
                Some(pb::ChatRole::User) => Some(ChatRole::User),
                Some(pb::ChatRole::Assistant) => Some(ChatRole::Assistant),
                Some(pb::ChatRole::Unspecified) => {
                    v.add(&at.field("role"), "must be set");
                    None
                }
                None => None,
            };
            let content = template(
                &message.content,
                &at.field("content"),
                v,
                1,
                MAX_CHAT_MESSAGE,
            );
            if let (Some(role), Some(content)) = (role, content) {
                messages.push(ChatMessage { role, content });
            }
        }
    }
    let sampling = sampling(pb.sampling.unwrap_or_default(), &path.field("sampling"), v);
    let response_format = response_format(pb.response_format, &path.field("response_format"), v);
    let cache = match v.enumeration(&path.field("cache"), pb.cache) {
        Some(pb::CacheMode::Bypass) => CacheMode::Bypass,
        Some(pb::CacheMode::Prefer) => CacheMode::Prefer,
        _ => CacheMode::Auto,
    };
    group_ok.then_some(ChatSpec {
        model_group: pb.model_group,
        messages,
        sampling,
        response_format: response_format?,
        cache,
    })
}

fn sampling(pb: pb::SamplingParams, path: &FieldPath, v: &mut Violations) -> SamplingParams {
    let mut ranged = |name: &str, value: Option<f64>, min: f64, max: f64| {
        value.filter(|x| v.check_range(&path.field(name), *x, min, max))
    };
    let temperature = ranged("temperature", pb.temperature, 0.0, 2.0);
    let presence_penalty = ranged("presence_penalty", pb.presence_penalty, -2.0, 2.0);
    let frequency_penalty = ranged("frequency_penalty", pb.frequency_penalty, -2.0, 2.0);
    let top_p = pb.top_p.filter(|p| {
        // 0 would make sampling degenerate; providers refuse it.
        let ok = *p > 0.0 && *p <= 1.0;
        if !ok {
            v.add(
                &path.field("top_p"),
                format!("is {p}; must be above 0 and at most 1"),
            );
        }
        ok
    });
    let max_tokens = pb
        .max_tokens
        .filter(|n| v.check_range(&path.field("max_tokens"), *n, 1, MAX_COMPLETION_TOKENS));
    let stop_at = path.field("stop");
    if v.check_count(&stop_at, pb.stop.len(), 0, MAX_STOP_SEQUENCES, "sequences") {
        for (i, stop) in pb.stop.iter().enumerate() {
            v.check_len(&stop_at.index(i), stop, 1, MAX_STOP_SEQUENCE);
        }
    }
    SamplingParams {
        temperature,
        top_p,
        max_tokens,
        seed: pb.seed,
        stop: pb.stop,
        presence_penalty,
        frequency_penalty,
    }
}

fn response_format(
    pb: Option<pb::ResponseFormat>,
    path: &FieldPath,
    v: &mut Violations,
) -> Option<ResponseFormat> {
    use pb::response_format::Format;
    match pb.and_then(|f| f.format) {
        None | Some(Format::Text(_)) => Some(ResponseFormat::Text),
        Some(Format::JsonObject(_)) => Some(ResponseFormat::JsonObject),
        Some(Format::JsonSchema(schema)) => {
            let at = path.field("json_schema");
            let name_ok = v.check_name(
                &at.field("name"),
                &schema.name,
                MAX_SCHEMA_NAME,
                |c| c.is_ascii_alphanumeric() || c == '_' || c == '-',
                "letters, digits, _ and -",
            );
            let schema_at = at.field("schema_json");
            let schema_ok = v.check_len(&schema_at, &schema.schema_json, 1, MAX_JSON_SCHEMA)
                && match serde_json::from_str::<serde_json::Value>(&schema.schema_json) {
                    Ok(serde_json::Value::Object(_)) => true,
                    Ok(_) => {
                        v.add(&schema_at, "must be a JSON object");
                        false
                    }
                    Err(e) => {
                        v.add(&schema_at, format!("is not valid JSON: {e}"));
                        false
                    }
                };
            (name_ok && schema_ok).then_some(ResponseFormat::JsonSchema {
                name: schema.name,
                schema_json: schema.schema_json,
                strict: schema.strict,
            })
        }
    }
}

pub(super) fn embed(pb: pb::EmbedSpec, path: &FieldPath, v: &mut Violations) -> Option<EmbedSpec> {
    let group_ok = model_group(&pb.model_group, &path.field("model_group"), v);
    let inputs_at = path.field("inputs");
    let mut inputs = Vec::new();
    if v.check_count(&inputs_at, pb.inputs.len(), 1, MAX_EMBED_INPUTS, "inputs") {
        for (i, input) in pb.inputs.iter().enumerate() {
            if let Some(t) = template(input, &inputs_at.index(i), v, 1, MAX_EMBED_INPUT) {
                inputs.push(t);
            }
        }
    }
    let dimensions = match pb.dimensions {
        0 => None,
        d => Some(d)
            .filter(|d| v.check_range(&path.field("dimensions"), *d, 1, MAX_EMBED_DIMENSIONS)),
    };
    group_ok.then_some(EmbedSpec {
        model_group: pb.model_group,
        inputs,
        dimensions,
    })
}

pub(super) fn chat_to_pb(c: ChatSpec) -> pb::ChatSpec {
    use pb::response_format::Format;
    pb::ChatSpec {
        model_group: c.model_group,
        messages: c
            .messages
            .into_iter()
            .map(|m| pb::ChatMessage {
                role: match m.role {
                    ChatRole::System => pb::ChatRole::System,
                    ChatRole::User => pb::ChatRole::User,
                    ChatRole::Assistant => pb::ChatRole::Assistant,
                } as i32,
                content: m.content.source().to_owned(),
            })
            .collect(),
        sampling: Some(pb::SamplingParams {
            temperature: c.sampling.temperature,
            top_p: c.sampling.top_p,
            max_tokens: c.sampling.max_tokens,
            seed: c.sampling.seed,
            stop: c.sampling.stop,
            presence_penalty: c.sampling.presence_penalty,
            frequency_penalty: c.sampling.frequency_penalty,
        }),
        response_format: Some(pb::ResponseFormat {
            format: Some(match c.response_format {
                ResponseFormat::Text => Format::Text(pb::TextFormat {}),
                ResponseFormat::JsonObject => Format::JsonObject(pb::JsonObjectFormat {}),
                ResponseFormat::JsonSchema {
                    name,
                    schema_json,
                    strict,
                } => Format::JsonSchema(pb::JsonSchemaFormat {
                    name,
                    schema_json,
                    strict,
                }),
            }),
        }),
        cache: match c.cache {
            CacheMode::Auto => pb::CacheMode::Unspecified,
            CacheMode::Bypass => pb::CacheMode::Bypass,
            CacheMode::Prefer => pb::CacheMode::Prefer,
        } as i32,
    }
}

pub(super) fn embed_to_pb(e: EmbedSpec) -> pb::EmbedSpec {
    pb::EmbedSpec {
        model_group: e.model_group,
        inputs: e.inputs.iter().map(|t| t.source().to_owned()).collect(),
        dimensions: e.dimensions.unwrap_or(0),
    }
}

/// Converts a direct `ChatRequest`: the tenant and the chat.
pub fn chat_request(pb: pb::ChatRequest) -> Result<(String, ChatSpec), crate::ValidationError> {
    let mut v = Violations::new();
    let tenant = super::tenant(pb.tenant, &FieldPath::new("tenant"), &mut v);
    let chat = match pb.chat {
        Some(spec) => chat(spec, &FieldPath::new("chat"), &mut v),
        None => {
            v.add(&FieldPath::new("chat"), "is required");
            None
        }
    };
    v.finish_some(chat.map(|chat| (tenant, chat)), &FieldPath::new("chat"))
}

/// Converts a direct `EmbedRequest`: the tenant and the embedding request.
pub fn embed_request(pb: pb::EmbedRequest) -> Result<(String, EmbedSpec), crate::ValidationError> {
    let mut v = Violations::new();
    let tenant = super::tenant(pb.tenant, &FieldPath::new("tenant"), &mut v);
    let spec = match pb.embed {
        Some(spec) => embed(spec, &FieldPath::new("embed"), &mut v),
        None => {
            v.add(&FieldPath::new("embed"), "is required");
            None
        }
    };
    v.finish_some(spec.map(|spec| (tenant, spec)), &FieldPath::new("embed"))
}
