//! Everything done *to one page*: running each browser step kind, applying a task's browser
//! options (viewport, user agent, request blocking) and resetting the page between tasks.
//!
//! The pool (see [`crate::pool`]) decides *which* page a task gets; this module never touches
//! browsers, contexts or pools. Every CDP call here is bounded by the step's deadline
//! (chromiumoxide's own command timeout is a fixed 30 s), and a step that runs out of time
//! returns [`StepError::Timeout`], after which the caller discards the page.
//!
//! # Layout
//!
//! - [`run_step`] renders the step's templates and dispatches by kind to `navigate` (with
//!   `egress` vetting where it may go and `load` waiting for load states), `dom` (click,
//!   type, wait-for, extract), `js` (evaluate, and the in-page helpers of `dom.js`),
//!   `capture` (screenshot, PDF) and `cookies`;
//! - [`prepare`] / [`reset`] (in `prepare`) bracket a task on a page, [`Overrides`] telling
//!   reset what to undo; [`RequestPolicy`] (in `requests`) is the request blocking a task
//!   asked for;
//! - [`park`] / [`freeze`] / [`wake`] / [`run_navigate_away`] (in `handover`) are the
//!   deferred form of the reset for pooled pages: kept with their document when returned
//!   (frozen if they stay idle), cleaned when lent again, mostly by the next task's own first
//!   navigation;
//! - `clock` bounds every call by the deadline.

mod capture;
mod clock;
mod cookies;
mod dom;
mod egress;
mod handover;
mod js;
mod load;
mod navigate;
mod prepare;
mod requests;

use chromiumoxide::Page;
use drover_api::{
    StepKind, Template, UrlPolicy,
    model::{
        browser::WaitFor,
        output::{OutputValue, PriorOutputs},
    },
};
use tokio::time::Instant;

pub use handover::{Park, freeze, park, wake};
pub use prepare::{Overrides, needs_prepare, prepare, reset};
pub use requests::RequestPolicy;

use crate::error::StepError;
use clock::Clock;

/// How long chromiumoxide lets any one command a `Page` sends run before it fails it on its
/// own: fixed in chromiumoxide 0.9 (its `CommandFuture`), whatever the handler's
/// `request_timeout` says. Drover's deadlines are shorter or cut waits into shorter calls;
/// an `evaluate` that awaits one promise for longer fails with this timeout.
pub const CHROMIUMOXIDE_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a step runs against.
pub struct StepEnv<'a> {
    /// The task's page, already prepared for the task.
    pub page: &'a Page,
    /// When the step must be done; every CDP call and wait is bounded by it.
    pub deadline: Instant,
    /// The operator's URL rules (re-checked after references resolve, and on resolved
    /// addresses).
    pub url_policy: &'a UrlPolicy,
    /// Largest output one step may produce (screenshot, PDF, extracted text), in bytes.
    pub max_output_bytes: usize,
}

/// Runs one browser step. `prior` holds earlier steps' outputs for `${steps.*}` references.
/// AI step kinds are refused with [`StepError::Failed`] (they never reach a browser worker).
pub async fn run_step(
    env: &StepEnv<'_>,
    kind: &StepKind,
    prior: &PriorOutputs,
) -> Result<OutputValue, StepError> {
    run_step_on(env, kind, prior, Document::Any).await
}

/// Runs a task's first step, a navigate, on a page that [`wake`] woke without resetting:
/// the navigation must replace the previous task's document and drop it from the history
/// before the task's next step (see the `handover` module). Refuses any other step kind,
/// which needs the full [`reset`] first.
pub async fn run_navigate_away(
    env: &StepEnv<'_>,
    kind: &StepKind,
    prior: &PriorOutputs,
) -> Result<OutputValue, StepError> {
    if !matches!(kind, StepKind::Navigate(_)) {
        return Err(StepError::Failed(format!(
            "a {} step cannot start on a page that still holds another task's document",
            kind.name()
        )));
    }
    run_step_on(env, kind, prior, Document::Replace).await
}

/// [`run_navigate_away`] on a page frozen by [`freeze`]: the thaw and the navigation go
/// out together. Both are sent on the page's session before either answer is awaited, and
/// Chromium runs one session's commands in the order sent, so the navigation starts on the
/// thawed page without waiting a round trip for the thaw (measured: ~1 ms per task, most of
/// what lending a parked page cost). Only for tasks with nothing to [`prepare`], whose
/// overrides would otherwise reach the page while it is still frozen.
pub async fn wake_and_navigate_away(
    env: &StepEnv<'_>,
    kind: &StepKind,
    prior: &PriorOutputs,
) -> Result<OutputValue, StepError> {
    let (woken, landed) = tokio::join!(
        handover::thaw(env.page, env.deadline),
        run_navigate_away(env, kind, prior)
    );
    match (woken, landed) {
        (Ok(()), landed) => landed,
        // A navigation that moves the page to another renderer (about:blank, another site)
        // can swap the frame under the thaw, which then fails with "Not attached to an
        // active page". The new document may still carry the page's frozen, hidden state:
        // wake it again, now that nothing is in flight.
        (Err(error), Ok(output)) => {
            tracing::debug!(%error, "thaw raced the first navigation; waking again");
            handover::thaw(env.page, env.deadline).await?;
            Ok(output)
        }
        (Err(error), Err(navigation)) => {
            tracing::debug!(%error, %navigation, "thaw and first navigation both failed");
            Err(navigation)
        }
    }
}

/// What a navigate must do about the document the page holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Document {
    /// Nothing: the page is the task's own.
    Any,
    /// Replace it and forget it: it is the previous task's.
    Replace,
}

async fn run_step_on(
    env: &StepEnv<'_>,
    kind: &StepKind,
    prior: &PriorOutputs,
    document: Document,
) -> Result<OutputValue, StepError> {
    let clock = Clock::new(env.deadline);
    let render = |template: &Template| prior.render(template).map_err(StepError::Failed);
    let page = env.page;
    let output = match kind {
        StepKind::Navigate(step) if document == Document::Replace => {
            handover::navigate_away(env, &clock, step, &render(&step.url)?).await?
        }
        StepKind::Navigate(step) => navigate::navigate(env, &clock, step, &render(&step.url)?)
            .await?
            .into_output(),
        StepKind::Click(step) => dom::click(page, &clock, step, &render(&step.selector)?).await?,
        StepKind::TypeText(step) => {
            let (selector, text) = (render(&step.selector)?, render(&step.text)?);
            dom::type_text(page, &clock, step, &selector, &text).await?
        }
        StepKind::WaitFor(step) => {
            let selector = match step {
                WaitFor::Selector { selector, .. } => Some(render(selector)?),
                WaitFor::LoadState(_) => None,
            };
            dom::wait_for(page, &clock, step, selector.as_deref()).await?
        }
        StepKind::Extract(step) => {
            dom::extract(page, &clock, step, &render(&step.selector)?).await?
        }
        StepKind::Evaluate(step) => {
            js::evaluate(page, &clock, step, &render(&step.expression)?).await?
        }
        StepKind::Screenshot(step) => {
            let selector = step.selector.as_ref().map(render).transpose()?;
            capture::screenshot(page, &clock, step, selector.as_deref()).await?
        }
        StepKind::Pdf(step) => capture::pdf(page, &clock, step).await?,
        StepKind::GetCookies { urls } => cookies::get(page, &clock, urls).await?,
        StepKind::SetCookies { cookies } => cookies::set(page, &clock, cookies).await?,
        StepKind::ExportCookies => cookies::export(page, &clock).await?,
        StepKind::Chat(_) | StepKind::Embed(_) => {
            return Err(StepError::Failed(format!(
                "{} steps run on an ai-router, not in a browser",
                kind.name()
            )));
        }
    };
    let size = output.size();
    if size > env.max_output_bytes {
        return Err(StepError::TooLarge(format!(
            "{} output is {size} bytes; at most {} are allowed",
            kind.name(),
            env.max_output_bytes
        )));
    }
    Ok(output)
}
