//! Response bodies: a complete buffer, or a server-sent-event stream played from a short,
//! precomputed script of frames and pauses.
//!
//! The stream is a plain `http_body::Body` state machine rather than a spawned task feeding a
//! channel: no task per stream, and when the client goes away hyper drops the body, which
//! drops its timer and its in-flight guard with it. Nothing keeps running for a gone client.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::stats::InFlight;

/// One step of a stream's script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send these bytes (one or more complete SSE events).
    Data(Bytes),
    /// Send nothing for this long.
    Pause(Duration),
}

/// The body of every response the stand-in sends.
#[derive(Debug)]
pub enum AnswerBody {
    /// A complete body, sent at once (`None` once sent).
    Full(Option<Bytes>),
    /// A scripted event stream.
    Stream(Box<SseStream>),
}

impl AnswerBody {
    pub(crate) fn full(bytes: Bytes) -> AnswerBody {
        AnswerBody::Full(Some(bytes))
    }
}

/// A scripted SSE body; it counts as in flight until its last step or until dropped.
#[derive(Debug)]
pub struct SseStream {
    steps: std::vec::IntoIter<Step>,
    // One timer, reset for every pause, instead of a new allocation per pause.
    sleep: Option<Pin<Box<Sleep>>>,
    sleeping: bool,
    in_flight: InFlight,
}

impl SseStream {
    pub(crate) fn new(steps: Vec<Step>, in_flight: InFlight) -> SseStream {
        SseStream {
            steps: steps.into_iter(),
            sleep: None,
            sleeping: false,
            in_flight,
        }
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            if self.sleeping {
                if let Some(sleep) = self.sleep.as_mut() {
                    ready!(sleep.as_mut().poll(cx));
                }
                self.sleeping = false;
            }
            match self.steps.next() {
                Some(Step::Data(bytes)) => return Poll::Ready(Some(bytes)),
                Some(Step::Pause(pause)) if pause.is_zero() => {}
                Some(Step::Pause(pause)) => {
                    let deadline = Instant::now() + pause;
                    match self.sleep.as_mut() {
                        Some(sleep) => sleep.as_mut().reset(deadline),
                        None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                    self.sleeping = true;
                }
                None => {
                    self.in_flight.complete();
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl Body for AnswerBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let next = match self.get_mut() {
            AnswerBody::Full(bytes) => Poll::Ready(bytes.take()),
            AnswerBody::Stream(stream) => stream.poll_step(cx),
        };
        next.map(|bytes| bytes.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            AnswerBody::Full(bytes) => bytes.is_none(),
            AnswerBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            AnswerBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            AnswerBody::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;

    use super::*;
    use crate::stats::{Counters, Endpoint};

    #[tokio::test(start_paused = true)]
    async fn plays_the_script_in_order_and_completes() {
        let counters = Arc::new(Counters::default());
        let steps = vec![
            Step::Data(Bytes::from_static(b"a")),
            Step::Pause(Duration::from_secs(5)),
            Step::Pause(Duration::ZERO),
            Step::Data(Bytes::from_static(b"b")),
        ];
        let body = AnswerBody::Stream(Box::new(SseStream::new(
            steps,
            counters.begin(Endpoint::ChatCompletions),
        )));
        let started = Instant::now();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"ab");
        assert!(started.elapsed() >= Duration::from_secs(5));
        let stats = counters.snapshot();
        assert_eq!((stats.in_flight, stats.cancelled), (0, 0));
    }

    #[tokio::test]
    async fn dropping_a_stream_counts_a_cancellation() {
        let counters = Arc::new(Counters::default());
        let steps = vec![Step::Pause(Duration::from_secs(60))];
        let mut body = AnswerBody::Stream(Box::new(SseStream::new(
            steps,
            counters.begin(Endpoint::ChatCompletions),
        )));
        let polled = tokio::time::timeout(Duration::from_millis(10), body.frame()).await;
        assert!(polled.is_err());
        drop(body);
        let stats = counters.snapshot();
        assert_eq!((stats.in_flight, stats.cancelled), (0, 1));
    }
}
