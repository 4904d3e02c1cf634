//! The deferred reset of a pooled page (shared and session contexts): the work between two
//! tasks on one page, split so that most of it rides on the next task's own navigation.
//!
//! The eager [`reset`] is a document load of its own (leave for about:blank, forget the
//! history, verify): measured at ~36 ms against ~44 ms for a task's navigate, so on a
//! saturated machine a pooled task paid for two loads where a fresh page pays for one.
//! Deferred instead:
//!
//! - [`park`], when a task gives its page back: undo the task's overrides as [`reset`] does.
//!   The page keeps its document, shown and running, for a moment: a busy pool lends it again
//!   within milliseconds. Now and then parking also collects the page's garbage ([`Park`]),
//!   since a page that is always lent again is never frozen, which is when Chromium purges
//!   a renderer's memory.
//! - [`freeze`], when the page has stayed parked for
//!   [`ActorSettings::freeze_after`](crate::actor::ActorSettings::freeze_after): hide it and
//!   freeze it (`Page.setWebLifecycleState frozen`), so the document it keeps stops its
//!   timers, scripts and loading while it idles. Not at once, because freezing costs: Chromium
//!   hides the page and suspends its renderer, and the wake must resume and show it again.
//!   Measured with the pool's bench (4 tasks at once): freezing every returned page cut
//!   pooled throughput by about 20% against freezing only pages that stay idle.
//! - [`wake`], when the page is lent again: unfreeze and show it if it was frozen; unless the
//!   task starts by navigating, also run the full [`reset`], so the task starts on an empty
//!   about:blank.
//! - [`navigate_away`], the first step of a task that starts by navigating: the navigation
//!   replaces the previous document, then `Page.resetNavigationHistory` runs before the
//!   task's next step, so `history.back()` cannot return to that document. A same-document
//!   navigation (only the fragment differs from the previous task's URL) would keep the
//!   document: then the full [`reset`] runs and the navigation is made again.
//!
//! The previous document belongs to the same tenant's shared context, or the same session
//! key, whose cookies and storage the next task sees anyway by design; what must not reach
//! the next task is the document itself (its DOM, globals, history entries), and the steps
//! above make sure it is gone before any step of the task can look.

use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        emulation::SetFocusEmulationEnabledParams,
        page::{SetWebLifecycleStateParams, SetWebLifecycleStateState},
    },
    cdp::js_protocol::heap_profiler::CollectGarbageParams,
};
use drover_api::model::{browser::Navigate, output::OutputValue};
use tokio::time::Instant;

use super::{
    StepEnv,
    clock::Clock,
    navigate,
    prepare::{Overrides, forget_history, reset, undo_overrides},
};
use crate::{error::StepError, lease::PageState};

/// What [`park`] does besides undoing the task's overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Park {
    /// Nothing: the page stays shown and running until it is frozen or lent again.
    Keep,
    /// A full garbage collection of the page's JavaScript heap, so a page that is lent
    /// again and again (never idle long enough to be frozen, when Chromium would purge its
    /// renderer's memory) does not grow.
    CollectGarbage,
    /// [`freeze`] it at once.
    Freeze,
}

impl Park {
    /// The `then` label of the returned-pages metric.
    pub fn label(self) -> &'static str {
        match self {
            Park::Keep => "parked",
            Park::CollectGarbage => "collected",
            Park::Freeze => "frozen",
        }
    }
}

/// Undoes the `overrides` a task left, keeping the page's document, to be lent again
/// through [`wake`], then does what `then` says. On failure the caller falls back to the
/// full [`reset`].
pub async fn park(
    page: &Page,
    overrides: Overrides,
    then: Park,
    deadline: Instant,
) -> Result<(), StepError> {
    let clock = Clock::new(deadline);
    undo_overrides(page, &clock, overrides).await?;
    match then {
        Park::Keep => {}
        Park::CollectGarbage => {
            clock
                .cdp(page.execute(CollectGarbageParams::default()))
                .await?;
        }
        Park::Freeze => freeze_with(page, &clock).await?,
    }
    Ok(())
}

/// Hides and freezes a parked page, so its document stops running while it idles.
pub async fn freeze(page: &Page, deadline: Instant) -> Result<(), StepError> {
    freeze_with(page, &Clock::new(deadline)).await
}

async fn freeze_with(page: &Page, clock: &Clock) -> Result<(), StepError> {
    // Every page runs with focus emulation on (see `browser_ops::open_page`), and a page that
    // counts as focused keeps running its timers when frozen (measured): turn it off first.
    // Both commands are in flight at once; the session runs them in the order sent.
    let unfocus = SetFocusEmulationEnabledParams::new(false);
    let freeze = SetWebLifecycleStateParams::new(SetWebLifecycleStateState::Frozen);
    let (unfocused, frozen) = tokio::join!(
        clock.cdp(page.execute(unfocus)),
        clock.cdp(page.execute(freeze))
    );
    unfocused?;
    frozen?;
    Ok(())
}

/// Makes a parked page usable: unfreezes it if its `state` is frozen and, unless the task's
/// first step is a navigate (which then goes through
/// [`run_navigate_away`](super::run_navigate_away)), resets it in full.
pub async fn wake(
    page: &Page,
    state: PageState,
    navigates_first: bool,
    deadline: Instant,
) -> Result<(), StepError> {
    if state == PageState::Frozen {
        thaw(page, deadline).await?;
    }
    if !navigates_first {
        reset(page, Overrides::default(), deadline).await?;
    }
    Ok(())
}

/// Unfreezes a frozen page and shows it again.
pub(super) async fn thaw(page: &Page, deadline: Instant) -> Result<(), StepError> {
    let clock = Clock::new(deadline);
    let thaw = SetWebLifecycleStateParams::new(SetWebLifecycleStateState::Active);
    // Freezing also hides the page (Chromium calls `WasHidden` before freezing) and
    // unfreezing does not show it again: a hidden page gets no animation frames (measured:
    // a `requestAnimationFrame` never fires), throttles timers and reports
    // `document.visibilityState === "hidden"`, unlike a fresh page. Focus emulation makes
    // it count as shown and focused again; unlike `Page.bringToFront` it touches no other
    // page, whose task may be running. It stays on for the page's life, which is harmless
    // in headless Chromium, where no window takes the focus away. Both commands are in
    // flight at once: the page's session runs them in the order sent.
    let show = SetFocusEmulationEnabledParams::new(true);
    let (thawed, shown) =
        tokio::join!(clock.cdp(page.execute(thaw)), clock.cdp(page.execute(show)));
    thawed?;
    shown?;
    Ok(())
}

/// The first step of a task on a parked page that [`wake`] did not reset: navigates, making
/// sure the previous task's document is replaced and out of the history before the task's
/// next step.
pub(super) async fn navigate_away(
    env: &StepEnv<'_>,
    clock: &Clock,
    step: &Navigate,
    url: &str,
) -> Result<OutputValue, StepError> {
    // A navigation that only changes the fragment would keep the previous task's document:
    // reset first. (chromiumoxide's page URL is its own record, no round trip.)
    let current = env.page.url().await.ok().flatten();
    let target = env.url_policy.check(url).map(|u| u.to_string());
    if let (Some(current), Ok(target)) = (&current, &target)
        && stays_in_document(current, target)
    {
        reset(env.page, Overrides::default(), env.deadline).await?;
    }
    let mut landed = navigate::navigate(env, clock, step, url).await?;
    if !landed.new_document {
        // Missed above (the page moved meanwhile): the previous task's document is still
        // there. Slow (see `navigate::goto` on same-document navigations) but safe.
        tracing::debug!("a same-document first navigation; resetting the page in full");
        reset(env.page, Overrides::default(), env.deadline).await?;
        landed = navigate::navigate(env, clock, step, url).await?;
        if !landed.new_document {
            return Err(StepError::Failed(format!(
                "navigating to {url} from about:blank kept the old document"
            )));
        }
    }
    forget_history(env.page, clock).await?;
    Ok(landed.into_output())
}

/// Whether navigating from `current` to `target` is a fragment navigation, which keeps the
/// document: the URLs differ at most in their fragments and `target` has one.
fn stays_in_document(current: &str, target: &str) -> bool {
    let Some((target_document, _)) = target.split_once('#') else {
        return false;
    };
    current
        .split_once('#')
        .map_or(current, |(document, _)| document)
        == target_document
}

#[cfg(test)]
mod tests {
    use super::stays_in_document;

    #[test]
    fn only_fragment_changes_stay_in_the_document() {
        assert!(stays_in_document("http://a/p#x", "http://a/p#y"));
        assert!(stays_in_document("http://a/p", "http://a/p#y"));
        assert!(stays_in_document("http://a/p#x", "http://a/p#"));
        // Without a fragment, the same URL is loaded again.
        assert!(!stays_in_document("http://a/p#x", "http://a/p"));
        assert!(!stays_in_document("http://a/p", "http://a/p"));
        assert!(!stays_in_document("http://a/p#x", "http://a/q#x"));
        assert!(!stays_in_document("http://a/p?q=1#x", "http://a/p#x"));
    }
}
