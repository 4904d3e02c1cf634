//! Tasks and steps: wire ⇄ domain, including the checks that span steps (unique names,
//! references only to earlier steps and to fields their outputs offer).

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use super::{ai, browser, non_empty, tenant};
use crate::{
    limits::*,
    model::{
        browser::{BrowserOptions, Isolation},
        task::*,
    },
    pb,
    url_policy::UrlPolicy,
    validate::{FieldPath, ValidationError, Violations, to_proto_duration},
};

impl TryFrom<pb::TaskSpec> for TaskSpec {
    type Error = ValidationError;

    /// Validates with the default [`UrlPolicy`]; see [`task_spec`] for another.
    fn try_from(pb: pb::TaskSpec) -> Result<Self, Self::Error> {
        task_spec(pb, &UrlPolicy::default())
    }
}

/// Converts and validates a task spec under `policy`. Field paths are relative to the spec.
pub fn task_spec(pb: pb::TaskSpec, policy: &UrlPolicy) -> Result<TaskSpec, ValidationError> {
    let mut v = Violations::new();
    let root = FieldPath::root();
    let tenant = tenant(pb.tenant, &root.field("tenant"), &mut v);
    let priority = match v.enumeration(&root.field("priority"), pb.priority) {
        Some(pb::Priority::Low) => Priority::Low,
        Some(pb::Priority::High) => Priority::High,
        Some(pb::Priority::Urgent) => Priority::Urgent,
        _ => Priority::Normal,
    };
    let timeout = v
        .duration(
            &root.field("timeout"),
            pb.timeout.as_ref(),
            MAX_TASK_TIMEOUT,
        )
        .unwrap_or(DEFAULT_TASK_TIMEOUT);
    let queue_timeout = v
        .duration(
            &root.field("queue_timeout"),
            pb.queue_timeout.as_ref(),
            timeout,
        )
        .unwrap_or(timeout);
    let idempotency_key = key(pb.idempotency_key, &root.field("idempotency_key"), &mut v);
    let affinity_key = key(pb.affinity_key, &root.field("affinity_key"), &mut v);
    let retry_policy = retry_policy(pb.retry_policy, &root.field("retry_policy"), &mut v);
    let browser = browser::options(
        pb.browser.unwrap_or_default(),
        &root.field("browser"),
        &mut v,
    );
    if browser.isolation == Isolation::Session && affinity_key.is_none() {
        v.add(
            &root.field("affinity_key"),
            "is required when browser.isolation is ISOLATION_SESSION (it names the session)",
        );
    }
    let steps = steps(pb.steps, &root.field("steps"), timeout, &mut v, policy)
        .into_iter()
        .map(|(_, step)| step)
        .collect();
    let worker_selector = labels(
        pb.worker_selector,
        &root.field("worker_selector"),
        MAX_WORKER_SELECTOR,
        &mut v,
    );
    let labels = labels(pb.labels, &root.field("labels"), MAX_LABELS, &mut v);
    v.finish(TaskSpec {
        tenant,
        priority,
        timeout,
        queue_timeout,
        idempotency_key,
        affinity_key,
        retry_policy,
        steps,
        browser,
        worker_selector,
        labels,
    })
}

fn key(value: String, path: &FieldPath, v: &mut Violations) -> Option<String> {
    let value = non_empty(value)?;
    if v.check_len(path, &value, 1, MAX_KEY) && value.chars().any(char::is_control) {
        v.add(path, "must not contain control characters");
    }
    Some(value)
}

fn retry_policy(pb: Option<pb::RetryPolicy>, path: &FieldPath, v: &mut Violations) -> RetryPolicy {
    let Some(pb) = pb else {
        return RetryPolicy::default();
    };
    let defaults = RetryPolicy::default();
    let max_attempts = match pb.max_attempts {
        0 => defaults.max_attempts,
        n if n <= MAX_TASK_ATTEMPTS => n,
        n => {
            v.add(
                &path.field("max_attempts"),
                format!("is {n}; must be between 1 and {MAX_TASK_ATTEMPTS}"),
            );
            defaults.max_attempts
        }
    };
    let hour = Duration::from_secs(3600);
    let initial_backoff = v
        .duration(
            &path.field("initial_backoff"),
            pb.initial_backoff.as_ref(),
            hour,
        )
        .unwrap_or(defaults.initial_backoff);
    let max_backoff = v
        .duration(&path.field("max_backoff"), pb.max_backoff.as_ref(), hour)
        .unwrap_or(defaults.max_backoff.max(initial_backoff));
    if initial_backoff > max_backoff {
        v.add(
            &path.field("initial_backoff"),
            "must not exceed max_backoff",
        );
    }
    RetryPolicy {
        max_attempts,
        initial_backoff,
        max_backoff,
    }
}

fn labels(
    pb: HashMap<String, String>,
    path: &FieldPath,
    max_entries: usize,
    v: &mut Violations,
) -> BTreeMap<String, String> {
    if !v.check_count(path, pb.len(), 0, max_entries, "entries") {
        return BTreeMap::new();
    }
    let sorted: BTreeMap<String, String> = pb.into_iter().collect();
    for (key, value) in &sorted {
        let at = path.key(key);
        v.check_name(
            &at,
            key,
            MAX_LABEL_KEY,
            |c| c.is_ascii_alphanumeric() || "._/-".contains(c),
            "letters, digits, '.', '_', '/' and '-' in the key",
        );
        v.check_len(&at, value, 0, MAX_LABEL_VALUE);
    }
    sorted
}

fn step_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
}

fn steps(
    pb: Vec<pb::Step>,
    path: &FieldPath,
    task_timeout: Duration,
    v: &mut Violations,
    policy: &UrlPolicy,
) -> Vec<(usize, Step)> {
    if !v.check_count(path, pb.len(), 1, MAX_STEPS, "steps") {
        // Refuse without looking at each step: a hostile request's size must not decide how
        // much work validation does.
        return Vec::new();
    }
    // Names first, so a reference can be told apart as forward, self or unknown.
    let names: Vec<String> = pb
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.name.is_empty() {
                format!("step{i}")
            } else {
                s.name.clone()
            }
        })
        .collect();
    let mut positions: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        let at = path.index(i).field("name");
        if !pb[i].name.is_empty()
            && v.check_name(
                &at,
                name,
                MAX_STEP_NAME,
                step_name_char,
                "lowercase letters, digits, '_' and '-'",
            )
            && !name.starts_with(|c: char| c.is_ascii_lowercase())
        {
            v.add(&at, "must start with a lowercase letter");
        }
        if let Some(first) = positions.insert(name, i) {
            v.add(
                &at,
                format!("{name:?} is already the name of steps[{first}]"),
            );
            positions.insert(name, first);
        }
    }
    let mut out = Vec::with_capacity(pb.len());
    for (i, step) in pb.into_iter().enumerate() {
        let at = path.index(i);
        let timeout = v.duration(&at.field("timeout"), step.timeout.as_ref(), task_timeout);
        let Some(kind) = step_kind(step.kind, &at, v, policy) else {
            continue;
        };
        out.push((
            i,
            Step {
                name: names[i].clone(),
                timeout,
                kind,
            },
        ));
    }
    let kinds: HashMap<usize, &StepKind> = out.iter().map(|(i, s)| (*i, &s.kind)).collect();
    for (i, step) in &out {
        for (field, template) in step.kind.templates() {
            for reference in template.references() {
                let at = path.index(*i).field(&field);
                check_reference(reference, *i, &positions, &kinds, &at, v);
            }
        }
    }
    out
}

/// Converts an assignment's steps as a worker receives them: each step on its own, named
/// by its place in the task when unnamed. The scheduler validated the whole task (names,
/// references) at submission; references to earlier steps are resolved against the
/// assignment's inputs when the steps run. Field paths are `steps[i]…` within the assignment.
pub fn assignment_steps(
    pb: Vec<pb::IndexedStep>,
    policy: &UrlPolicy,
) -> Result<Vec<(u32, Step)>, ValidationError> {
    let mut v = Violations::new();
    let path = FieldPath::new("steps");
    let mut out = Vec::with_capacity(pb.len());
    if !v.check_count(&path, pb.len(), 1, MAX_STEPS, "steps") {
        return v.finish(Vec::new());
    }
    for (i, indexed) in pb.into_iter().enumerate() {
        let at = path.index(i);
        let Some(step) = indexed.step else {
            v.add(&at, "is required");
            continue;
        };
        let timeout = v.duration(
            &at.field("timeout"),
            step.timeout.as_ref(),
            MAX_TASK_TIMEOUT,
        );
        let Some(kind) = step_kind(step.kind, &at, &mut v, policy) else {
            continue;
        };
        let name = if step.name.is_empty() {
            format!("step{}", indexed.index)
        } else {
            step.name
        };
        out.push((
            indexed.index,
            Step {
                name,
                timeout,
                kind,
            },
        ));
    }
    v.finish(out)
}

fn check_reference(
    reference: &crate::StepRef,
    from: usize,
    positions: &HashMap<&str, usize>,
    kinds: &HashMap<usize, &StepKind>,
    at: &FieldPath,
    v: &mut Violations,
) {
    let name = reference.step.as_str();
    let Some(&target) = positions.get(name) else {
        v.add(at, format!("refers to unknown step {name:?}"));
        return;
    };
    if target == from {
        v.add(
            at,
            format!(
                "refers to its own step {name:?}; a step can only use outputs of earlier steps"
            ),
        );
        return;
    }
    if target > from {
        v.add(at, format!("refers to step {name:?} (steps[{target}]), which runs later; a step can only use outputs of earlier steps"));
        return;
    }
    // An earlier step that failed validation has no kind to check against; it is reported.
    let Some(kind) = kinds.get(&target) else {
        return;
    };
    let offered = kind.output_fields();
    if !offered.contains(&reference.field) {
        let offer = if offered.is_empty() {
            "no text fields".to_owned()
        } else {
            offered
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        v.add(
            at,
            format!(
                "step {name:?} is a {} step; its output offers {offer}, not {:?}",
                kind.name(),
                reference.field.name()
            ),
        );
    }
}

fn step_kind(
    pb: Option<pb::step::Kind>,
    at: &FieldPath,
    v: &mut Violations,
    policy: &UrlPolicy,
) -> Option<StepKind> {
    use pb::step::Kind;
    let Some(kind) = pb else {
        v.add(
            at,
            "must set one step kind (navigate, click, type_text, ... chat, embed)",
        );
        return None;
    };
    Some(match kind {
        Kind::Navigate(s) => {
            StepKind::Navigate(browser::navigate(s, &at.field("navigate"), v, policy)?)
        }
        Kind::Click(s) => StepKind::Click(browser::click(s, &at.field("click"), v)?),
        Kind::TypeText(s) => StepKind::TypeText(browser::type_text(s, &at.field("type_text"), v)?),
        Kind::WaitFor(s) => StepKind::WaitFor(browser::wait_for(s, &at.field("wait_for"), v)?),
        Kind::Extract(s) => StepKind::Extract(browser::extract(s, &at.field("extract"), v)?),
        Kind::Evaluate(s) => StepKind::Evaluate(browser::evaluate(s, &at.field("evaluate"), v)?),
        Kind::Screenshot(s) => {
            StepKind::Screenshot(browser::screenshot(s, &at.field("screenshot"), v)?)
        }
        Kind::Pdf(s) => StepKind::Pdf(browser::pdf(s, &at.field("pdf"), v)?),
        Kind::GetCookies(s) => StepKind::GetCookies {
            urls: browser::cookie_urls(s.urls, &at.field("get_cookies").field("urls"), v, policy),
        },
        Kind::SetCookies(s) => StepKind::SetCookies {
            cookies: browser::cookies(
                s.cookies,
                &at.field("set_cookies").field("cookies"),
                v,
                policy,
            ),
        },
        Kind::ExportCookies(_) => StepKind::ExportCookies,
        Kind::Chat(s) => StepKind::Chat(ai::chat(s, &at.field("chat"), v)?),
        Kind::Embed(s) => StepKind::Embed(ai::embed(s, &at.field("embed"), v)?),
    })
}

impl From<StepKind> for pb::step::Kind {
    fn from(kind: StepKind) -> Self {
        use pb::step::Kind;
        match kind {
            StepKind::Navigate(s) => Kind::Navigate(browser::navigate_to_pb(s)),
            StepKind::Click(s) => Kind::Click(browser::click_to_pb(s)),
            StepKind::TypeText(s) => Kind::TypeText(browser::type_text_to_pb(s)),
            StepKind::WaitFor(s) => Kind::WaitFor(browser::wait_for_to_pb(s)),
            StepKind::Extract(s) => Kind::Extract(browser::extract_to_pb(s)),
            StepKind::Evaluate(s) => Kind::Evaluate(browser::evaluate_to_pb(s)),
            StepKind::Screenshot(s) => Kind::Screenshot(browser::screenshot_to_pb(s)),
            StepKind::Pdf(s) => Kind::Pdf(browser::pdf_to_pb(s)),
            StepKind::GetCookies { urls } => Kind::GetCookies(pb::GetCookiesStep { urls }),
            StepKind::SetCookies { cookies } => Kind::SetCookies(pb::SetCookiesStep {
                cookies: cookies.into_iter().map(browser::cookie_to_pb).collect(),
            }),
            StepKind::ExportCookies => Kind::ExportCookies(pb::ExportCookiesStep {}),
            StepKind::Chat(s) => Kind::Chat(ai::chat_to_pb(s)),
            StepKind::Embed(s) => Kind::Embed(ai::embed_to_pb(s)),
        }
    }
}

impl From<Step> for pb::Step {
    fn from(step: Step) -> Self {
        pb::Step {
            name: step.name,
            timeout: step.timeout.map(to_proto_duration),
            kind: Some(step.kind.into()),
        }
    }
}

impl From<BrowserOptions> for pb::BrowserOptions {
    fn from(options: BrowserOptions) -> Self {
        browser::options_to_pb(options)
    }
}

impl From<TaskSpec> for pb::TaskSpec {
    fn from(spec: TaskSpec) -> Self {
        pb::TaskSpec {
            tenant: spec.tenant,
            priority: match spec.priority {
                Priority::Low => pb::Priority::Low,
                Priority::Normal => pb::Priority::Normal,
                Priority::High => pb::Priority::High,
                Priority::Urgent => pb::Priority::Urgent,
            } as i32,
            timeout: Some(to_proto_duration(spec.timeout)),
            queue_timeout: Some(to_proto_duration(spec.queue_timeout)),
            idempotency_key: spec.idempotency_key.unwrap_or_default(),
            affinity_key: spec.affinity_key.unwrap_or_default(),
            retry_policy: Some(pb::RetryPolicy {
                max_attempts: spec.retry_policy.max_attempts,
                initial_backoff: Some(to_proto_duration(spec.retry_policy.initial_backoff)),
                max_backoff: Some(to_proto_duration(spec.retry_policy.max_backoff)),
            }),
            steps: spec.steps.into_iter().map(Into::into).collect(),
            browser: Some(spec.browser.into()),
            worker_selector: spec.worker_selector.into_iter().collect(),
            labels: spec.labels.into_iter().collect(),
        }
    }
}

/// A direct browser-pool job: browser steps run in one page session.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserJob {
    /// Owner.
    pub tenant: String,
    /// Browser steps only.
    pub steps: Vec<Step>,
    /// Browser settings.
    pub browser: BrowserOptions,
    /// Session key, for session isolation.
    pub affinity_key: Option<String>,
    /// Time limit; `None` leaves it to the call's deadline.
    pub timeout: Option<Duration>,
}

/// Converts a direct `ExecuteBrowserJobRequest`; AI steps are refused.
pub fn browser_job(
    pb: pb::ExecuteBrowserJobRequest,
    policy: &UrlPolicy,
) -> Result<BrowserJob, ValidationError> {
    let mut v = Violations::new();
    let root = FieldPath::root();
    let tenant = tenant(pb.tenant, &root.field("tenant"), &mut v);
    let timeout = v.duration(
        &root.field("timeout"),
        pb.timeout.as_ref(),
        MAX_TASK_TIMEOUT,
    );
    let browser = browser::options(
        pb.browser.unwrap_or_default(),
        &root.field("browser"),
        &mut v,
    );
    let affinity_key = key(pb.affinity_key, &root.field("affinity_key"), &mut v);
    if browser.isolation == Isolation::Session && affinity_key.is_none() {
        v.add(
            &root.field("affinity_key"),
            "is required when browser.isolation is ISOLATION_SESSION",
        );
    }
    let steps = steps(
        pb.steps,
        &root.field("steps"),
        timeout.unwrap_or(MAX_TASK_TIMEOUT),
        &mut v,
        policy,
    );
    for (i, step) in &steps {
        if step.kind.work_kind() != WorkKind::Browser {
            v.add(
                &root.field("steps").index(*i).field(step.kind.name()),
                "is not a browser step; send AI steps to the ai-router or the scheduler",
            );
        }
    }
    let steps = steps.into_iter().map(|(_, step)| step).collect();
    v.finish(BrowserJob {
        tenant,
        steps,
        browser,
        affinity_key,
        timeout,
    })
}
