//! Tasks and their steps.

use std::{collections::BTreeMap, time::Duration};

use super::{
    ai::{ChatSpec, EmbedSpec},
    browser::{
        BrowserOptions, Click, Cookie, Evaluate, Extract, Navigate, Pdf, Screenshot, TypeText,
        WaitFor,
    },
};
use crate::template::{OutputField, Template};

/// How urgent a task is; higher is served first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// Background work.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Ahead of normal work.
    High,
    /// Ahead of everything.
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [Self::Low, Self::Normal, Self::High, Self::Urgent];
}

/// How the scheduler re-runs a task whose attempt failed transiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, 1..=10.
    pub max_attempts: u32,
    /// First delay between attempts.
    pub initial_backoff: Duration,
    /// Largest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: crate::limits::DEFAULT_TASK_ATTEMPTS,
            initial_backoff: crate::limits::DEFAULT_INITIAL_BACKOFF,
            max_backoff: crate::limits::DEFAULT_MAX_BACKOFF,
        }
    }
}

/// Which kind of worker runs a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkKind {
    /// A browser-pool.
    Browser,
    /// An ai-router.
    Ai,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Open a URL.
    Navigate(Navigate),
    /// Click an element.
    Click(Click),
    /// Type into an element.
    TypeText(TypeText),
    /// Wait for an element or a load state.
    WaitFor(WaitFor),
    /// Read from elements.
    Extract(Extract),
    /// Run JavaScript.
    Evaluate(Evaluate),
    /// Capture an image.
    Screenshot(Screenshot),
    /// Print to PDF.
    Pdf(Pdf),
    /// Read cookies for URLs (the current page's when empty).
    GetCookies {
        /// URLs whose cookies to read.
        urls: Vec<String>,
    },
    /// Set cookies.
    SetCookies {
        /// Cookies to set.
        cookies: Vec<Cookie>,
    },
    /// Read every cookie of the context.
    ExportCookies,
    /// A chat completion.
    Chat(ChatSpec),
    /// Embeddings.
    Embed(EmbedSpec),
}

impl StepKind {
    /// The step kind's name, as in the proto's `Step.kind` oneof.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Navigate(_) => "navigate",
            Self::Click(_) => "click",
            Self::TypeText(_) => "type_text",
            Self::WaitFor(_) => "wait_for",
            Self::Extract(_) => "extract",
            Self::Evaluate(_) => "evaluate",
            Self::Screenshot(_) => "screenshot",
            Self::Pdf(_) => "pdf",
            Self::GetCookies { .. } => "get_cookies",
            Self::SetCookies { .. } => "set_cookies",
            Self::ExportCookies => "export_cookies",
            Self::Chat(_) => "chat",
            Self::Embed(_) => "embed",
        }
    }

    /// Which kind of worker runs it.
    pub fn work_kind(&self) -> WorkKind {
        match self {
            Self::Chat(_) | Self::Embed(_) => WorkKind::Ai,
            _ => WorkKind::Browser,
        }
    }

    /// The output fields later steps may reference.
    pub fn output_fields(&self) -> &'static [OutputField] {
        use OutputField::*;
        match self {
            Self::Navigate(_) => &[Url, Title, Status],
            Self::Extract(_) => &[Text, Values, Count],
            Self::Evaluate(_) => &[Json],
            Self::GetCookies { .. } | Self::ExportCookies => &[Cookies],
            Self::Chat(_) => &[Content],
            _ => &[],
        }
    }

    /// Every templated text of the step with its path below the step (e.g.
    /// `chat.messages[1].content`), for reference checks and resolution.
    pub fn templates(&self) -> Vec<(String, &Template)> {
        let kind = self.name();
        let at = |field: &str| format!("{kind}.{field}");
        let mut found = Vec::new();
        match self {
            Self::Navigate(n) => found.push((at("url"), &n.url)),
            Self::Click(c) => found.push((at("selector"), &c.selector)),
            Self::TypeText(t) => {
                found.push((at("selector"), &t.selector));
                found.push((at("text"), &t.text));
            }
            Self::WaitFor(WaitFor::Selector { selector, .. }) => {
                found.push((at("selector"), selector));
            }
            Self::Extract(e) => found.push((at("selector"), &e.selector)),
            Self::Evaluate(e) => found.push((at("expression"), &e.expression)),
            Self::Screenshot(s) => {
                if let Some(selector) = &s.selector {
                    found.push((at("selector"), selector));
                }
            }
            Self::Chat(chat) => {
                for (i, message) in chat.messages.iter().enumerate() {
                    found.push((format!("chat.messages[{i}].content"), &message.content));
                }
            }
            Self::Embed(embed) => {
                for (i, input) in embed.inputs.iter().enumerate() {
                    found.push((format!("embed.inputs[{i}]"), input));
                }
            }
            Self::WaitFor(WaitFor::LoadState(_))
            | Self::Pdf(_)
            | Self::GetCookies { .. }
            | Self::SetCookies { .. }
            | Self::ExportCookies => {}
        }
        found
    }
}

/// One step of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Unique within the task; defaults to `step<index>`.
    pub name: String,
    /// Time limit for this step.
    pub timeout: Option<Duration>,
    /// What the step does.
    pub kind: StepKind,
}

/// A validated task specification.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// Owner.
    pub tenant: String,
    /// Urgency.
    pub priority: Priority,
    /// Total time from submission to a terminal state.
    pub timeout: Duration,
    /// Longest wait in the queue (at most `timeout`).
    pub queue_timeout: Duration,
    /// Deduplicates submissions per tenant.
    pub idempotency_key: Option<String>,
    /// Routes to the worker holding this key's session.
    pub affinity_key: Option<String>,
    /// Re-runs after transient failures.
    pub retry_policy: RetryPolicy,
    /// 1..=256 steps.
    pub steps: Vec<Step>,
    /// Browser settings.
    pub browser: BrowserOptions,
    /// Labels a worker must carry.
    pub worker_selector: BTreeMap<String, String>,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
}

impl TaskSpec {
    /// Splits the steps into runs of consecutive steps of one work kind: each run is one
    /// assignment (browser steps share one page session).
    pub fn work_runs(&self) -> Vec<(WorkKind, std::ops::Range<usize>)> {
        let mut runs: Vec<(WorkKind, std::ops::Range<usize>)> = Vec::new();
        for (index, step) in self.steps.iter().enumerate() {
            let kind = step.kind.work_kind();
            match runs.last_mut() {
                // AI steps run one per assignment; browser steps share one.
                Some((last, range)) if *last == kind && kind == WorkKind::Browser => {
                    range.end = index + 1;
                }
                _ => runs.push((kind, index..index + 1)),
            }
        }
        runs
    }
}
