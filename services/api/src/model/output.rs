//! What steps produce. Outputs flow back to clients, and into later steps through
//! `${steps.<name>.<field>}` references ([`OutputValue::field`]). Binary outputs are
//! `bytes::Bytes`, handed on without copying or re-encoding.

use std::time::Duration;

use bytes::Bytes;

use super::browser::Cookie;
use crate::template::OutputField;

/// Why a model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinishReason {
    /// Not reported.
    #[default]
    Unspecified,
    /// A natural stop or a stop sequence.
    Stop,
    /// The token limit.
    Length,
    /// The provider's content filter.
    ContentFilter,
    /// The model called tools.
    ToolCalls,
}

/// Token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Completion tokens.
    pub completion_tokens: u32,
    /// Both.
    pub total_tokens: u32,
}

/// A finished chat completion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatCompletion {
    /// The answer.
    pub content: String,
    /// Why the model stopped.
    pub finish_reason: FinishReason,
    /// Token counts.
    pub usage: TokenUsage,
    /// The provider's model name.
    pub model: String,
    /// The deployment that served it.
    pub deployment: String,
    /// Served from the cache.
    pub cached: bool,
}

/// Computed embeddings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbedResult {
    /// One vector per input, in order.
    pub embeddings: Vec<Vec<f32>>,
    /// Token counts.
    pub usage: TokenUsage,
    /// The provider's model name.
    pub model: String,
    /// The deployment that served it.
    pub deployment: String,
}

/// The value a step produced.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputValue {
    /// Nothing (click, type_text, wait_for, set_cookies).
    None,
    /// Where a navigation ended.
    Navigate {
        /// Final URL.
        url: String,
        /// Page title.
        title: String,
        /// HTTP status of the main document; 0 if unknown.
        status: u16,
    },
    /// Extracted values.
    Extract(Vec<String>),
    /// A script's result as JSON text.
    Evaluate(String),
    /// A screenshot or PDF.
    Binary {
        /// `image/png`, `image/jpeg` or `application/pdf`.
        content_type: String,
        /// The bytes.
        data: Bytes,
    },
    /// Cookies.
    Cookies(Vec<Cookie>),
    /// A chat completion.
    Chat(ChatCompletion),
    /// Embeddings.
    Embed(EmbedResult),
}

impl OutputValue {
    /// The text a `${steps.<name>.<field>}` reference resolves to, or `None` when this output
    /// does not offer the field.
    pub fn field(&self, field: OutputField) -> Option<String> {
        match (self, field) {
            (Self::Navigate { url, .. }, OutputField::Url) => Some(url.clone()),
            (Self::Navigate { title, .. }, OutputField::Title) => Some(title.clone()),
            (Self::Navigate { status, .. }, OutputField::Status) => Some(status.to_string()),
            (Self::Extract(values), OutputField::Text) => {
                Some(values.first().cloned().unwrap_or_default())
            }
            (Self::Extract(values), OutputField::Values) => serde_json::to_string(values).ok(),
            (Self::Extract(values), OutputField::Count) => Some(values.len().to_string()),
            (Self::Evaluate(json), OutputField::Json) => Some(json.clone()),
            (Self::Cookies(cookies), OutputField::Cookies) => Some(cookies_json(cookies)),
            (Self::Chat(chat), OutputField::Content) => Some(chat.content.clone()),
            _ => None,
        }
    }

    /// Bytes this output holds, for size bounds.
    pub fn size(&self) -> usize {
        match self {
            Self::None => 0,
            Self::Navigate { url, title, .. } => url.len() + title.len(),
            Self::Extract(values) => values.iter().map(String::len).sum(),
            Self::Evaluate(json) => json.len(),
            Self::Binary { data, .. } => data.len(),
            Self::Cookies(cookies) => cookies.iter().map(|c| c.name.len() + c.value.len()).sum(),
            Self::Chat(chat) => chat.content.len(),
            Self::Embed(result) => result.embeddings.iter().map(|e| e.len() * 4).sum(),
        }
    }
}

fn cookies_json(cookies: &[Cookie]) -> String {
    let list: Vec<serde_json::Value> = cookies
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "value": c.value,
                "domain": c.domain,
                "path": c.path,
                "httpOnly": c.http_only,
                "secure": c.secure,
            })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// One finished step's output.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    /// The step's name.
    pub step: String,
    /// Its position in the task.
    pub index: u32,
    /// How long it ran.
    pub duration: Duration,
    /// What it produced.
    pub value: OutputValue,
}

/// Earlier steps' outputs by step name: what `${steps.<name>.<field>}` references resolve
/// against while a task runs.
#[derive(Debug, Clone, Default)]
pub struct PriorOutputs {
    by_name: std::collections::HashMap<String, OutputValue>,
}

impl PriorOutputs {
    /// No outputs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a finished step's output under its name.
    pub fn insert(&mut self, step: impl Into<String>, value: OutputValue) {
        self.by_name.insert(step.into(), value);
    }

    /// The output of the named step, if it ran.
    pub fn get(&self, step: &str) -> Option<&OutputValue> {
        self.by_name.get(step)
    }

    /// Renders a template, or explains which reference could not be resolved.
    pub fn render(&self, template: &crate::Template) -> Result<String, String> {
        template
            .render(|reference| self.get(&reference.step)?.field(reference.field))
            .map_err(|reference| {
                format!(
                    "reference ${{steps.{}.{}}} has no value: that step has not produced one",
                    reference.step, reference.field
                )
            })
    }
}
