//! Renders a chat answer on the wire: one `chat.completion` JSON body, or the script of an SSE
//! stream of `chat.completion.chunk` events (with the scripted stream faults placed in it).
//!
//! All events of a stream are serialized up front into one buffer and handed out as slices of
//! it: a stream is at most a few KiB, and this keeps the per-chunk work to a pointer split.

use std::io::Write;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::behavior::{Behavior, Faults};
use crate::body::Step;
use crate::content::{Answer, split_even};
use crate::wire::{AssistantMessage, ChatChunk, ChatCompletion, Choice, ChunkChoice, Delta, Usage};

/// The fixed identity of one answer: shared by the JSON body and by every chunk of a stream.
#[derive(Debug)]
pub(crate) struct Reply<'a> {
    pub id: &'a str,
    pub created: u32,
    pub model: &'a str,
}

/// How a stream is played: chunking and pacing from the behaviour, faults if selected.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StreamPlan {
    pub chunks: u32,
    pub chunk_delay: Duration,
    pub stall_mid_stream: Option<Duration>,
    pub cut: bool,
    pub malformed: bool,
    pub include_usage: bool,
}

impl StreamPlan {
    pub fn new(behavior: &Behavior, faults: Option<&Faults>, include_usage: bool) -> StreamPlan {
        let none = Faults::default();
        let faults = faults.unwrap_or(&none);
        StreamPlan {
            chunks: behavior.chunk_count(),
            chunk_delay: behavior.chunk_delay,
            stall_mid_stream: faults.stall_mid_stream,
            cut: faults.cut_stream,
            malformed: faults.malformed_sse,
            include_usage,
        }
    }
}

/// The `chat.completion` body.
pub(crate) fn completion_json(reply: &Reply<'_>, answer: &Answer) -> Bytes {
    let body = ChatCompletion {
        id: reply.id,
        object: "chat.completion",
        created: reply.created,
        model: reply.model,
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: &answer.text,
            },
            finish_reason: answer.finish_reason,
        }],
        usage: Usage::new(answer.prompt_tokens, answer.completion_tokens),
    };
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .unwrap_or_default()
}

/// The event non-JSON `data:` that `malformed-sse` sends: a truncated object, as a provider
/// bug or a proxy cutting a line would produce.
const MALFORMED_EVENT: &[u8] =
    b"data: {\"id\":\"stand-in malformed-sse\",\"choices\":[{\"delta\n\n";
const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";

/// The script of a streamed answer: `chunks` content events (the first also carries the
/// role), a final event with the finish reason, an optional usage event, then `[DONE]`.
/// Faults act after half the content events: malformed event, then stall, then cut.
pub(crate) fn stream_script(reply: &Reply<'_>, answer: &Answer, plan: &StreamPlan) -> Vec<Step> {
    let mut events = EventWriter {
        reply,
        buffer: BytesMut::with_capacity(256 * (plan.chunks as usize + 2)),
    };
    let half = (plan.chunks / 2).max(1) as usize;
    let mut steps = Vec::with_capacity(plan.chunks as usize * 2 + 6);
    for (i, piece) in split_even(&answer.text, plan.chunks)
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            steps.push(Step::Pause(plan.chunk_delay));
        }
        let delta = Delta {
            role: (i == 0).then_some("assistant"),
            content: Some(piece),
        };
        events.append(delta, None, None);
        steps.push(Step::Data(events.take()));
        if i + 1 == half {
            if plan.malformed {
                steps.push(Step::Data(Bytes::from_static(MALFORMED_EVENT)));
            }
            if let Some(stall) = plan.stall_mid_stream {
                steps.push(Step::Pause(stall));
            }
            if plan.cut {
                return steps;
            }
        }
    }
    steps.push(Step::Pause(plan.chunk_delay));
    // The tail goes out as one frame: finish event, usage event, `[DONE]`.
    events.append(Delta::default(), Some(answer.finish_reason), None);
    if plan.include_usage {
        let usage = Usage::new(answer.prompt_tokens, answer.completion_tokens);
        events.append(Delta::default(), None, Some(usage));
    }
    events.buffer.put_slice(DONE_EVENT);
    steps.push(Step::Data(events.take()));
    steps
}

struct EventWriter<'r, 'a> {
    reply: &'r Reply<'a>,
    buffer: BytesMut,
}

impl EventWriter<'_, '_> {
    /// Appends one `data:` event; `usage` set means the usage-only event, with no choices.
    fn append(&mut self, delta: Delta<'_>, finish: Option<&'static str>, usage: Option<Usage>) {
        let choice = [ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish,
        }];
        let chunk = ChatChunk {
            id: self.reply.id,
            object: "chat.completion.chunk",
            created: self.reply.created,
            model: self.reply.model,
            choices: if usage.is_some() { &[] } else { &choice },
            usage,
        };
        self.buffer.put_slice(b"data: ");
        let mut writer = (&mut self.buffer).writer();
        // Writing into memory cannot fail, and these types always serialize.
        let _ = serde_json::to_writer(&mut writer, &chunk);
        let _ = writer.write_all(b"\n\n");
    }

    /// Everything appended since the last call, as one frame.
    fn take(&mut self) -> Bytes {
        self.buffer.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Answer {
        Answer {
            text: "stand-in answer: 0123456789abcdef re: hello".into(),
            finish_reason: "stop",
            prompt_tokens: 1,
            completion_tokens: 4,
        }
    }

    const REPLY: Reply<'static> = Reply {
        id: "chatcmpl-1",
        created: 1,
        model: "m",
    };

    fn text(steps: &[Step]) -> String {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Data(b) => Some(String::from_utf8_lossy(b).into_owned()),
                Step::Pause(_) => None,
            })
            .collect()
    }

    #[test]
    fn normal_stream_has_chunks_finish_and_done() {
        let plan = StreamPlan {
            chunks: 4,
            include_usage: true,
            ..StreamPlan::default()
        };
        let all = text(&stream_script(&REPLY, &answer(), &plan));
        assert_eq!(all.matches("data: ").count(), 4 + 2 + 1);
        assert_eq!(all.matches("\"role\":\"assistant\"").count(), 1);
        assert!(all.contains("\"finish_reason\":\"stop\""));
        assert!(all.contains("\"usage\":{\"prompt_tokens\":1"));
        assert!(all.ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn cut_stream_stops_at_half_without_finish_or_done() {
        let plan = StreamPlan {
            chunks: 8,
            cut: true,
            malformed: true,
            ..StreamPlan::default()
        };
        let steps = stream_script(&REPLY, &answer(), &plan);
        let all = text(&steps);
        assert_eq!(all.matches("chat.completion.chunk").count(), 4);
        assert!(all.contains("stand-in malformed-sse"));
        assert!(!all.contains("finish_reason\":\"stop") && !all.contains("[DONE]"));
    }

    #[test]
    fn stall_goes_after_half_the_chunks() {
        let stall = Duration::from_secs(5);
        let plan = StreamPlan {
            chunks: 4,
            stall_mid_stream: Some(stall),
            ..StreamPlan::default()
        };
        let steps = stream_script(&REPLY, &answer(), &plan);
        let at = steps.iter().position(|s| *s == Step::Pause(stall)).unwrap();
        assert_eq!(text(&steps[..at]).matches("data: ").count(), 2);
    }
}
