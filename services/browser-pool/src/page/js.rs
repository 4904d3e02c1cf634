//! Running JavaScript in a page's main frame: the `evaluate` step, and the in-page helpers
//! (`dom.js`) the DOM steps call.
//!
//! Everything goes through `Runtime.evaluate` without a context id, so Chromium picks the
//! main frame's *current* document: no stale execution-context ids after a navigation
//! (chromiumoxide's own `evaluate` looks the context up first and can race a navigation).
//! Helpers are sent with each call instead of being installed in the page, so a task leaves
//! nothing behind and page scripts cannot tamper with them between calls.

use chromiumoxide::{
    Page,
    cdp::js_protocol::runtime::{
        CompileScriptParams, EvaluateParams, EvaluateReturns, ExceptionDetails,
    },
};
use drover_api::model::{browser::Evaluate, output::OutputValue};
use serde_json::Value;

use super::clock::Clock;
use crate::error::StepError;

/// The in-page helper object; see `dom.js`.
const DOM_JS: &str = include_str!("dom.js");

/// Runs the `evaluate` step: `source` is an expression when it compiles as a script, else
/// the body of an async function (so `return` and `await` work), whose promise is awaited.
pub(crate) async fn evaluate(
    page: &Page,
    clock: &Clock,
    step: &Evaluate,
    source: &str,
) -> Result<OutputValue, StepError> {
    // Compiling (without running) tells an expression from a function body without running
    // user code twice: retrying after a SyntaxError could repeat side effects.
    let compiled = clock
        .cdp(page.execute(CompileScriptParams::new(source, "", false)))
        .await?
        .result;
    let (expression, await_promise) = if compiled.exception_details.is_some() {
        (format!("(async () => {{\n{source}\n}})()"), true)
    } else {
        (source.to_owned(), step.await_promise)
    };
    let reply = run(page, clock, expression, await_promise).await?;
    if let Some(details) = &reply.exception_details {
        return Err(StepError::Failed(format!(
            "script threw: {}",
            exception_message(details)
        )));
    }
    let value = match (reply.result.value, reply.result.unserializable_value) {
        (Some(value), _) => value,
        // NaN, Infinity, -0 and BigInts have no JSON form: hand them on as their JS text.
        (None, Some(text)) => Value::String(text.as_ref().to_owned()),
        (None, None) => Value::Null,
    };
    Ok(OutputValue::Evaluate(value.to_string()))
}

/// Calls `method` of the in-page helper object with JSON arguments and returns its result.
/// A helper's thrown `Error` becomes [`StepError::Failed`] with its message.
pub(crate) async fn call(
    page: &Page,
    clock: &Clock,
    method: &str,
    args: &[Value],
) -> Result<Value, StepError> {
    let args: Vec<String> = args.iter().map(Value::to_string).collect();
    let expression = format!("({DOM_JS}).{method}({})", args.join(","));
    let reply = run(page, clock, expression, true).await?;
    match &reply.exception_details {
        Some(details) => {
            let message = exception_message(details);
            let message = message.strip_prefix("Error: ").unwrap_or(&message);
            Err(StepError::Failed(message.to_owned()))
        }
        None => Ok(reply.result.value.unwrap_or(Value::Null)),
    }
}

/// Evaluates a small expression on its own (without shipping the `dom.js` helpers) and
/// returns its value; for hot loops such as reset's polling.
pub(crate) async fn value(
    page: &Page,
    clock: &Clock,
    expression: &str,
) -> Result<Value, StepError> {
    let reply = run(page, clock, expression.to_owned(), false).await?;
    match &reply.exception_details {
        Some(details) => Err(StepError::Failed(exception_message(details))),
        None => Ok(reply.result.value.unwrap_or(Value::Null)),
    }
}

async fn run(
    page: &Page,
    clock: &Clock,
    expression: String,
    await_promise: bool,
) -> Result<EvaluateReturns, StepError> {
    let mut params = EvaluateParams::new(expression);
    params.await_promise = Some(await_promise);
    params.return_by_value = Some(true);
    params.user_gesture = Some(true);
    Ok(clock.cdp(page.execute(params)).await?.result)
}

/// The first line of what was thrown: `TypeError: x is not a function`, or a thrown
/// non-Error value as text.
fn exception_message(details: &ExceptionDetails) -> String {
    let thrown = details.exception.as_ref();
    if let Some(description) = thrown.and_then(|e| e.description.as_deref()) {
        return description.lines().next().unwrap_or_default().to_owned();
    }
    match thrown.and_then(|e| e.value.as_ref()) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => details.text.clone(),
    }
}

/// True for errors that mean the document went away under a call (a navigation replaced
/// it), so a wait may simply try again in the new document.
pub(crate) fn document_replaced(err: &StepError) -> bool {
    let StepError::Failed(message) = err else {
        return false;
    };
    [
        "Execution context was destroyed",
        "Cannot find context with specified id",
        "Inspected target navigated or closed",
    ]
    .iter()
    .any(|m| message.contains(m))
}
