//! AI steps and requests, as the ai-router executes them.

use crate::template::Template;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Speaker.
    pub role: ChatRole,
    /// Text, possibly referencing earlier steps.
    pub content: Template,
}

/// Sampling parameters; `None` leaves the provider's default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SamplingParams {
    /// 0.0..=2.0.
    pub temperature: Option<f64>,
    /// (0.0..=1.0].
    pub top_p: Option<f64>,
    /// 1..=1,000,000.
    pub max_tokens: Option<u32>,
    /// Sampling seed.
    pub seed: Option<i64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// -2.0..=2.0.
    pub presence_penalty: Option<f64>,
    /// -2.0..=2.0.
    pub frequency_penalty: Option<f64>,
}

impl SamplingParams {
    /// True when the same request should give the same answer: temperature 0 or a seed.
    pub fn is_deterministic(&self) -> bool {
        self.temperature == Some(0.0) || self.seed.is_some()
    }
}

/// The shape of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ResponseFormat {
    /// Plain text.
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON validating against a schema.
    JsonSchema {
        /// Schema name.
        name: String,
        /// The schema, as JSON text of an object (validated at submission).
        schema_json: String,
        /// Ask for strict enforcement.
        strict: bool,
    },
}

/// Whether the response cache may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Deterministic requests only.
    #[default]
    Auto,
    /// Never.
    Bypass,
    /// Even non-deterministic requests.
    Prefer,
}

/// A chat completion to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatSpec {
    /// Model group to route to.
    pub model_group: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling parameters.
    pub sampling: SamplingParams,
    /// Answer shape.
    pub response_format: ResponseFormat,
    /// Cache use.
    pub cache: CacheMode,
}

/// Embeddings to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedSpec {
    /// Model group to route to.
    pub model_group: String,
    /// Inputs, possibly referencing earlier steps.
    pub inputs: Vec<Template>,
    /// Requested dimensions.
    pub dimensions: Option<u32>,
}
