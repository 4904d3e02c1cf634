//! Requests as the router handles them: templates rendered, size checked, turned into
//! async-openai requests, and keyed for the response cache.

use async_openai::types::{
    chat::{
        ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
        ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
        ChatCompletionStreamOptions, CreateChatCompletionRequest, ResponseFormat as WireFormat,
        ResponseFormatJsonSchema, StopConfiguration,
    },
    embeddings::{CreateEmbeddingRequest, EmbeddingInput},
};
use drover_api::{
    DroverError, ErrorReason,
    model::{
        ai::{CacheMode, ChatRole, ChatSpec, EmbedSpec, ResponseFormat, SamplingParams},
        output::PriorOutputs,
    },
};

/// A chat ready to route: the spec with every template rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatCall {
    /// The model group.
    pub model_group: String,
    /// The conversation, rendered.
    pub messages: Vec<(ChatRole, String)>,
    /// Sampling parameters.
    pub sampling: SamplingParams,
    /// Answer shape.
    pub response_format: ResponseFormat,
    /// Cache use.
    pub cache: CacheMode,
}

impl ChatCall {
    /// Renders `spec`'s templates against the outputs of earlier steps (none for a direct
    /// call); a reference without a value is an INVALID_ARGUMENT naming the message.
    pub fn render(spec: ChatSpec, outputs: &PriorOutputs) -> Result<Self, DroverError> {
        let mut messages = Vec::with_capacity(spec.messages.len());
        for (i, message) in spec.messages.iter().enumerate() {
            let text = outputs
                .render(&message.content)
                .map_err(|why| invalid(&format!("chat.messages[{i}].content"), &why))?;
            messages.push((message.role, text));
        }
        Ok(Self {
            model_group: spec.model_group,
            messages,
            sampling: spec.sampling,
            response_format: spec.response_format,
            cache: spec.cache,
        })
    }

    /// Bytes of text the request carries (the bound `max_request_bytes` applies to this).
    pub fn size(&self) -> usize {
        let schema = match &self.response_format {
            ResponseFormat::JsonSchema { schema_json, .. } => schema_json.len(),
            _ => 0,
        };
        self.messages.iter().map(|(_, t)| t.len()).sum::<usize>() + schema
    }

    /// Whether the cache may answer: deterministic requests unless bypassed, or any request
    /// that opts in.
    pub fn cacheable(&self) -> bool {
        match self.cache {
            CacheMode::Bypass => false,
            CacheMode::Prefer => true,
            CacheMode::Auto => self.sampling.is_deterministic(),
        }
    }

    /// The exact-match cache key: model group, every message and every parameter that can
    /// change the answer, in one unambiguous (JSON) encoding.
    pub fn cache_key(&self) -> String {
        let s = &self.sampling;
        let format = match &self.response_format {
            ResponseFormat::Text => serde_json::json!("text"),
            ResponseFormat::JsonObject => serde_json::json!("json_object"),
            ResponseFormat::JsonSchema {
                name,
                schema_json,
                strict,
            } => serde_json::json!([name, schema_json, strict]),
        };
        let messages: Vec<(u8, &str)> = self
            .messages
            .iter()
            .map(|(role, text)| (*role as u8, text.as_str()))
            .collect();
        serde_json::json!([
            "chat",
            self.model_group,
            messages,
            s.temperature,
            s.top_p,
            s.max_tokens,
            s.seed,
            s.stop,
            s.presence_penalty,
            s.frequency_penalty,
            format,
        ])
        .to_string()
    }

    /// The provider request for `model`; `stream` asks for SSE with usage in the last chunk.
    pub fn to_openai(&self, model: &str, stream: bool) -> CreateChatCompletionRequest {
        let s = &self.sampling;
        let messages = self
            .messages
            .iter()
            .map(|(role, text)| match role {
                ChatRole::System => ChatCompletionRequestMessage::System(
                    ChatCompletionRequestSystemMessage::from(text.as_str()),
                ),
                ChatRole::User => ChatCompletionRequestMessage::User(
                    ChatCompletionRequestUserMessage::from(text.as_str()),
                ),
                ChatRole::Assistant => ChatCompletionRequestMessage::Assistant(
                    ChatCompletionRequestAssistantMessage::from(text.as_str()),
                ),
            })
            .collect();
        #[allow(deprecated)] // `max_tokens` is what OpenAI-compatible servers all accept.
        CreateChatCompletionRequest {
            model: model.to_owned(),
            messages,
            temperature: s.temperature.map(|v| v as f32),
            top_p: s.top_p.map(|v| v as f32),
            max_tokens: s.max_tokens,
            seed: s.seed,
            stop: (!s.stop.is_empty()).then(|| StopConfiguration::StringArray(s.stop.clone())),
            presence_penalty: s.presence_penalty.map(|v| v as f32),
            frequency_penalty: s.frequency_penalty.map(|v| v as f32),
            response_format: match &self.response_format {
                ResponseFormat::Text => None,
                ResponseFormat::JsonObject => Some(WireFormat::JsonObject),
                ResponseFormat::JsonSchema {
                    name,
                    schema_json,
                    strict,
                } => Some(WireFormat::JsonSchema {
                    json_schema: ResponseFormatJsonSchema {
                        description: None,
                        name: name.clone(),
                        // Validated as a JSON object when the request was accepted.
                        schema: serde_json::from_str(schema_json).unwrap_or_default(),
                        strict: Some(*strict),
                    },
                }),
            },
            stream: stream.then_some(true),
            stream_options: stream.then_some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            }),
            ..Default::default()
        }
    }
}

/// Embeddings ready to route: inputs rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedCall {
    /// The model group.
    pub model_group: String,
    /// The inputs, rendered.
    pub inputs: Vec<String>,
    /// Requested dimensions.
    pub dimensions: Option<u32>,
}

impl EmbedCall {
    /// Renders `spec`'s inputs; a reference without a value names its input.
    pub fn render(spec: EmbedSpec, outputs: &PriorOutputs) -> Result<Self, DroverError> {
        let mut inputs = Vec::with_capacity(spec.inputs.len());
        for (i, input) in spec.inputs.iter().enumerate() {
            let text = outputs
                .render(input)
                .map_err(|why| invalid(&format!("embed.inputs[{i}]"), &why))?;
            inputs.push(text);
        }
        Ok(Self {
            model_group: spec.model_group,
            inputs,
            dimensions: spec.dimensions,
        })
    }

    /// Bytes of text the request carries.
    pub fn size(&self) -> usize {
        self.inputs.iter().map(String::len).sum()
    }

    /// The cache key of one input's vector.
    pub fn input_key(&self, input: &str) -> String {
        serde_json::json!(["embed", self.model_group, self.dimensions, input]).to_string()
    }

    /// The provider request for `inputs` on `model`.
    pub fn to_openai(&self, model: &str, inputs: Vec<String>) -> CreateEmbeddingRequest {
        CreateEmbeddingRequest {
            model: model.to_owned(),
            input: EmbeddingInput::StringArray(inputs),
            dimensions: self.dimensions,
            ..Default::default()
        }
    }
}

/// An INVALID_ARGUMENT naming `field`.
pub(crate) fn invalid(field: &str, description: &str) -> DroverError {
    let mut error = DroverError::new(
        ErrorReason::InvalidArgument,
        format!("{field}: {description}"),
    );
    error.violations.push(drover_api::FieldViolation {
        field: field.to_owned(),
        description: description.to_owned(),
    });
    error
}
