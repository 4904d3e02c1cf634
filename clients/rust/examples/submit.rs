//! Submits a small browser + AI workflow and prints its result.
//!
//! ```text
//! drover up &                                        # a scheduler on 127.0.0.1:50051
//! cargo run -p drover-client --example submit -- --scheduler http://127.0.0.1:50051
//! ```
//!
//! The workflow opens a page (a `data:` URL, so nothing else needs to run), extracts its list
//! items, and asks the `default` model group to summarise them (`drover up` without an AI
//! config answers with its labelled stand-in provider).

use std::{process::ExitCode, time::Duration};

use drover_client::{Client, TaskBuilder, TaskExt, message, pb};
use futures::StreamExt;

/// The page the workflow reads.
pub const PAGE: &str = "data:text/html,<title>Fruit</title><ul id=fruit>\
    <li>apple</li><li>banana</li><li>cherry</li></ul>";

/// Open the page, extract every list item, summarise them.
pub fn workflow() -> TaskBuilder {
    TaskBuilder::new("examples")
        .timeout(Duration::from_secs(60))
        .navigate("open", PAGE)
        .extract("fruit", "#fruit li", true)
        .chat(
            "summary",
            "default",
            [
                message::system("You summarise lists in one sentence."),
                message::user("Summarise ${steps.fruit.values}"),
            ],
        )
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut scheduler = "http://127.0.0.1:50051".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--scheduler", Some(url)) => scheduler = url,
            _ => {
                eprintln!("usage: submit [--scheduler URL]");
                return ExitCode::from(2);
            }
        }
    }
    match run(&scheduler).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("submit: {error}");
            for violation in error.violations() {
                eprintln!("  {}: {}", violation.field, violation.description);
            }
            ExitCode::FAILURE
        }
    }
}

/// Submits the workflow, prints its events and outputs; true if it succeeded.
async fn run(scheduler: &str) -> Result<bool, drover_client::ClientError> {
    use pb::task_event::Detail;
    let client = Client::connect(scheduler).await?;
    let submitted = client.submit(workflow()).await?;
    println!("task {}", submitted.id);

    let mut events = client.watch(&submitted.id);
    while let Some(event) = events.next().await {
        let event = event?;
        let what = match &event.detail {
            Some(Detail::Queued(queued)) => format!("queued at position {}", queued.position),
            Some(Detail::Assigned(assigned)) => format!("assigned to {}", assigned.worker_id),
            Some(Detail::StepCompleted(step)) => step
                .output
                .as_ref()
                .map_or_else(String::new, |o| format!("step {} done", o.step)),
            Some(Detail::Requeued(requeued)) => format!("requeued: {:?}", requeued.cause),
            Some(Detail::Finished(_)) | None => String::new(),
        };
        println!("  #{} {:?} {what}", event.sequence, event.state());
    }

    let task = client.get(&submitted.id).await?;
    println!("state: {:?}", task.state());
    if let Some(values) = task.extracted("fruit") {
        println!("fruit: {}", values.join(", "));
    }
    if let Some(summary) = task.chat_content("summary") {
        println!("summary: {summary}");
    }
    if let Some(failure) = task.failure() {
        println!("error: {failure}");
    }
    Ok(task.state() == pb::TaskState::Succeeded)
}
