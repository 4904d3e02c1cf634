//! Building tasks ([`TaskBuilder`], [`message`]) and reading finished ones ([`TaskExt`]).
//!
//! The builder writes the wire type `pb::TaskSpec` directly and checks nothing: the
//! scheduler validates every task and names each offending field in its answer (see
//! [`crate::ClientError::violations`]), so the rules live in one place.

use std::time::Duration;

use drover_api::{DroverError, pb, validate::to_proto_duration};

/// A task, step by step.
///
/// ```
/// use std::time::Duration;
/// use drover_client::{TaskBuilder, message, pb};
///
/// let spec = TaskBuilder::new("docs")
///     .priority(pb::Priority::High)
///     .timeout(Duration::from_secs(60))
///     .idempotency_key("order-1234")
///     .navigate("open", "https://example.com/")
///     .extract("headings", "h1, h2", true)
///     .chat(
///         "summary",
///         "default",
///         [message::user("Summarise: ${steps.headings.values}")],
///     )
///     .build();
/// assert_eq!(spec.steps.len(), 3);
/// assert_eq!(spec.idempotency_key, "order-1234");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct TaskBuilder {
    spec: pb::TaskSpec,
}

impl TaskBuilder {
    /// An empty task owned by `tenant` (1..64 characters of `[A-Za-z0-9._-]`; empty means
    /// `default`).
    pub fn new(tenant: impl Into<String>) -> Self {
        Self {
            spec: pb::TaskSpec {
                tenant: tenant.into(),
                ..Default::default()
            },
        }
    }

    /// How urgent the task is (default `NORMAL`); higher priorities are served first.
    pub fn priority(mut self, priority: pb::Priority) -> Self {
        self.spec.priority = priority as i32;
        self
    }

    /// Time from submission to a terminal state (default 5 minutes, at most 24 hours).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.spec.timeout = Some(to_proto_duration(timeout));
        self
    }

    /// How long the task may wait in the queue before it expires (default: its timeout).
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.spec.queue_timeout = Some(to_proto_duration(timeout));
        self
    }

    /// A repeated submit with the same tenant and key returns the first task instead of
    /// queueing another. It also makes [`crate::Client::submit`] safe to retry, so the client
    /// does.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.spec.idempotency_key = key.into();
        self
    }

    /// Tasks with the same key prefer the worker holding that key's browser session.
    pub fn affinity_key(mut self, key: impl Into<String>) -> Self {
        self.spec.affinity_key = key.into();
        self
    }

    /// How often the scheduler may re-run the task after a lost worker or a transient error
    /// (attempts in total, 1..10; default 3).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.spec
            .retry_policy
            .get_or_insert_with(Default::default)
            .max_attempts = attempts;
        self
    }

    /// Browser settings for the task's browser steps.
    pub fn browser(mut self, options: pb::BrowserOptions) -> Self {
        self.spec.browser = Some(options);
        self
    }

    /// A free-form label, returned with the task.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec.labels.insert(key.into(), value.into());
        self
    }

    /// Runs the task only on workers carrying this label.
    pub fn worker_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec.worker_selector.insert(key.into(), value.into());
        self
    }

    /// Opens `url` (http, https, data or about:blank; templated).
    pub fn navigate(self, name: impl Into<String>, url: impl Into<String>) -> Self {
        self.kind(
            name,
            pb::step::Kind::Navigate(pb::NavigateStep {
                url: url.into(),
                ..Default::default()
            }),
        )
    }

    /// Clicks the first element matching `selector`.
    pub fn click(self, name: impl Into<String>, selector: impl Into<String>) -> Self {
        self.kind(
            name,
            pb::step::Kind::Click(pb::ClickStep {
                selector: selector.into(),
                ..Default::default()
            }),
        )
    }

    /// Types `text` into the element matching `selector`.
    pub fn type_text(
        self,
        name: impl Into<String>,
        selector: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        self.kind(
            name,
            pb::step::Kind::TypeText(pb::TypeTextStep {
                selector: selector.into(),
                text: text.into(),
                ..Default::default()
            }),
        )
    }

    /// Waits until an element matching `selector` is attached.
    pub fn wait_for(self, name: impl Into<String>, selector: impl Into<String>) -> Self {
        self.kind(
            name,
            pb::step::Kind::WaitFor(pb::WaitForStep {
                condition: Some(pb::wait_for_step::Condition::Selector(selector.into())),
                ..Default::default()
            }),
        )
    }

    /// Reads the text of the first element matching `selector`, or of every match when `all`.
    /// Later steps see `${steps.<name>.text}`, `.values` (a JSON array) and `.count`.
    pub fn extract(self, name: impl Into<String>, selector: impl Into<String>, all: bool) -> Self {
        self.kind(
            name,
            pb::step::Kind::Extract(pb::ExtractStep {
                selector: selector.into(),
                all,
                ..Default::default()
            }),
        )
    }

    /// Runs a JavaScript expression in the page; its result is `${steps.<name>.json}`.
    pub fn evaluate(self, name: impl Into<String>, expression: impl Into<String>) -> Self {
        self.kind(
            name,
            pb::step::Kind::Evaluate(pb::EvaluateStep {
                expression: expression.into(),
                ..Default::default()
            }),
        )
    }

    /// Takes a PNG screenshot of the viewport.
    pub fn screenshot(self, name: impl Into<String>) -> Self {
        self.kind(
            name,
            pb::step::Kind::Screenshot(pb::ScreenshotStep::default()),
        )
    }

    /// Asks a model of `model_group` (e.g. `default`); the answer is
    /// `${steps.<name>.content}`. Build messages with [`message`].
    pub fn chat(
        self,
        name: impl Into<String>,
        model_group: impl Into<String>,
        messages: impl IntoIterator<Item = pb::ChatMessage>,
    ) -> Self {
        self.kind(
            name,
            pb::step::Kind::Chat(pb::ChatSpec {
                model_group: model_group.into(),
                messages: messages.into_iter().collect(),
                ..Default::default()
            }),
        )
    }

    /// Adds any step as written, for the kinds and options the shortcuts above leave out
    /// (screenshot formats, PDFs, cookies, embeddings, step timeouts, sampling, ...).
    pub fn step(mut self, step: pb::Step) -> Self {
        self.spec.steps.push(step);
        self
    }

    /// The task, ready for [`crate::Client::submit`] or [`crate::Client::run`] (which also
    /// take the builder itself).
    pub fn build(self) -> pb::TaskSpec {
        self.spec
    }

    fn kind(self, name: impl Into<String>, kind: pb::step::Kind) -> Self {
        self.step(pb::Step {
            name: name.into(),
            timeout: None,
            kind: Some(kind),
        })
    }
}

impl From<TaskBuilder> for pb::TaskSpec {
    fn from(builder: TaskBuilder) -> Self {
        builder.build()
    }
}

/// Chat messages for [`TaskBuilder::chat`]; their content may reference earlier steps as
/// `${steps.<name>.<field>}`.
pub mod message {
    use drover_api::pb;

    fn message(role: pb::ChatRole, content: impl Into<String>) -> pb::ChatMessage {
        pb::ChatMessage {
            role: role as i32,
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> pb::ChatMessage {
        message(pb::ChatRole::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> pb::ChatMessage {
        message(pb::ChatRole::User, content)
    }

    /// An assistant message (an earlier answer, for few-shot prompts).
    pub fn assistant(content: impl Into<String>) -> pb::ChatMessage {
        message(pb::ChatRole::Assistant, content)
    }
}

/// Whether a task in `state` is done for good: SUCCEEDED, FAILED, CANCELLED or EXPIRED.
pub fn is_terminal(state: pb::TaskState) -> bool {
    matches!(
        state,
        pb::TaskState::Succeeded
            | pb::TaskState::Failed
            | pb::TaskState::Cancelled
            | pb::TaskState::Expired
    )
}

/// Reading a task the scheduler returned.
pub trait TaskExt {
    /// The output of the step named `step`, once it has finished.
    fn output(&self, step: &str) -> Option<&pb::StepOutput>;

    /// The values an extract step read (empty if it read none, `None` if `step` is not a
    /// finished extract step).
    fn extracted(&self, step: &str) -> Option<&[String]>;

    /// The answer of a chat step.
    fn chat_content(&self, step: &str) -> Option<&str>;

    /// Whether the task is done for good (see [`is_terminal`]).
    fn is_terminal(&self) -> bool;

    /// Why the task failed, was cancelled or expired.
    fn failure(&self) -> Option<DroverError>;
}

impl TaskExt for pb::Task {
    fn output(&self, step: &str) -> Option<&pb::StepOutput> {
        self.outputs.iter().find(|o| o.step == step)
    }

    fn extracted(&self, step: &str) -> Option<&[String]> {
        match &self.output(step)?.value {
            Some(pb::step_output::Value::Extract(extract)) => Some(&extract.values),
            _ => None,
        }
    }

    fn chat_content(&self, step: &str) -> Option<&str> {
        match &self.output(step)?.value {
            Some(pb::step_output::Value::Chat(chat)) => Some(&chat.content),
            _ => None,
        }
    }

    fn is_terminal(&self) -> bool {
        is_terminal(self.state())
    }

    fn failure(&self) -> Option<DroverError> {
        self.error.as_ref().map(DroverError::from_pb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::ErrorReason;

    #[test]
    fn the_builder_writes_every_option_and_step_in_order() {
        let spec = TaskBuilder::new("acme")
            .priority(pb::Priority::Urgent)
            .timeout(Duration::from_secs(90))
            .queue_timeout(Duration::from_millis(2500))
            .idempotency_key("k-1")
            .affinity_key("user-7")
            .max_attempts(2)
            .label("team", "growth")
            .worker_label("region", "eu")
            .navigate("open", "data:text/html,<p>hi</p>")
            .click("go", "#go")
            .type_text("name", "#name", "Ada")
            .wait_for("ready", "#done")
            .extract("items", "li", true)
            .evaluate("title", "document.title")
            .screenshot("shot")
            .chat(
                "summary",
                "default",
                [
                    message::system("Be brief."),
                    message::user("${steps.items.values}"),
                ],
            )
            .step(pb::Step {
                name: "pdf".into(),
                timeout: Some(to_proto_duration(Duration::from_secs(5))),
                kind: Some(pb::step::Kind::Pdf(pb::PdfStep::default())),
            })
            .build();

        assert_eq!(spec.tenant, "acme");
        assert_eq!(spec.priority(), pb::Priority::Urgent);
        assert_eq!(spec.timeout.map(|d| (d.seconds, d.nanos)), Some((90, 0)));
        assert_eq!(
            spec.queue_timeout.map(|d| (d.seconds, d.nanos)),
            Some((2, 500_000_000))
        );
        assert_eq!(spec.idempotency_key, "k-1");
        assert_eq!(spec.affinity_key, "user-7");
        assert_eq!(spec.retry_policy.map(|r| r.max_attempts), Some(2));
        assert_eq!(spec.labels.get("team").map(String::as_str), Some("growth"));
        assert_eq!(
            spec.worker_selector.get("region").map(String::as_str),
            Some("eu")
        );

        let names: Vec<&str> = spec.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "open", "go", "name", "ready", "items", "title", "shot", "summary", "pdf"
            ]
        );
        use pb::step::Kind;
        match &spec.steps[4].kind {
            Some(Kind::Extract(extract)) => {
                assert_eq!(extract.selector, "li");
                assert!(extract.all);
            }
            other => panic!("extract expected, got {other:?}"),
        }
        match &spec.steps[3].kind {
            Some(Kind::WaitFor(wait)) => assert_eq!(
                wait.condition,
                Some(pb::wait_for_step::Condition::Selector("#done".into()))
            ),
            other => panic!("wait_for expected, got {other:?}"),
        }
        match &spec.steps[7].kind {
            Some(Kind::Chat(chat)) => {
                assert_eq!(chat.model_group, "default");
                let roles: Vec<_> = chat.messages.iter().map(|m| m.role()).collect();
                assert_eq!(roles, [pb::ChatRole::System, pb::ChatRole::User]);
                assert_eq!(chat.messages[1].content, "${steps.items.values}");
            }
            other => panic!("chat expected, got {other:?}"),
        }
        assert!(matches!(spec.steps[8].kind, Some(Kind::Pdf(_))));
        assert_eq!(spec.steps[8].timeout.map(|d| d.seconds), Some(5));
    }

    #[test]
    fn a_builder_is_a_spec() {
        let builder = TaskBuilder::new("t").navigate("open", "about:blank");
        let spec: pb::TaskSpec = builder.clone().into();
        assert_eq!(spec, builder.build());
    }

    #[test]
    fn a_finished_task_is_read_by_step_name() {
        let task = pb::Task {
            state: pb::TaskState::Failed as i32,
            outputs: vec![
                pb::StepOutput {
                    step: "items".into(),
                    value: Some(pb::step_output::Value::Extract(pb::ExtractOutput {
                        values: vec!["a".into(), "b".into()],
                    })),
                    ..Default::default()
                },
                pb::StepOutput {
                    step: "summary".into(),
                    index: 1,
                    value: Some(pb::step_output::Value::Chat(pb::ChatCompletion {
                        content: "two items".into(),
                        ..Default::default()
                    })),
                    ..Default::default()
                },
            ],
            error: Some(
                DroverError::new(ErrorReason::StepFailed, "no such element")
                    .in_step("next")
                    .to_pb(),
            ),
            ..Default::default()
        };
        assert_eq!(task.extracted("items"), Some(&["a".into(), "b".into()][..]));
        assert_eq!(task.chat_content("summary"), Some("two items"));
        assert_eq!(task.chat_content("items"), None, "not a chat step");
        assert_eq!(task.extracted("missing"), None);
        assert!(task.is_terminal());
        let failure = task.failure().expect("a failed task says why");
        assert_eq!(failure.reason, ErrorReason::StepFailed);
        assert_eq!(failure.step.as_deref(), Some("next"));
    }

    #[test]
    fn only_the_four_end_states_are_terminal() {
        let terminal: Vec<_> = [
            pb::TaskState::Unspecified,
            pb::TaskState::Queued,
            pb::TaskState::Running,
            pb::TaskState::Succeeded,
            pb::TaskState::Failed,
            pb::TaskState::Cancelled,
            pb::TaskState::Expired,
        ]
        .into_iter()
        .filter(|s| is_terminal(*s))
        .collect();
        assert_eq!(
            terminal,
            [
                pb::TaskState::Succeeded,
                pb::TaskState::Failed,
                pb::TaskState::Cancelled,
                pb::TaskState::Expired
            ]
        );
    }
}
