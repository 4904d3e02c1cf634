//! Deterministic content: the chat answer derived from a request, its split into stream
//! chunks, token counts, and embedding vectors seeded from their input.
//!
//! Same request in, same bytes out, on every run and every machine: that is what lets the
//! router's cache and failover tests compare answers. Token counts are whitespace-separated
//! words, an approximation that is stable and costs nothing (no tokenizer).

use crate::behavior::splitmix64;
use crate::wire::{ChatRequest, Message};

/// Default embedding dimensions when the request does not ask for a number.
pub const DEFAULT_DIMENSIONS: u32 = 16;
/// Largest `dimensions` accepted: bounds the work and the response size per input.
pub const MAX_DIMENSIONS: u32 = 4096;
/// Words of the last user message echoed into the answer.
const ECHO_WORDS: usize = 6;

/// A chat answer, before it is rendered as JSON or as stream chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub text: String,
    /// `"stop"`, or `"length"` when the token limit cut the text.
    pub finish_reason: &'static str,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// 64-bit FNV-1a: tiny, fast, stable across platforms and releases (unlike `DefaultHasher`).
pub(crate) fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;

/// Approximate tokens: whitespace-separated words.
pub(crate) fn count_words(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

/// Derives the answer to a chat request: a digest of the whole conversation plus the first
/// words of the last user message (or a small JSON object when JSON output was asked for),
/// truncated to the token limit.
pub(crate) fn answer(request: &ChatRequest) -> Answer {
    let digest = conversation_digest(&request.messages);
    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .or(request.messages.last());
    let echo: Vec<&str> = last_user
        .into_iter()
        .flat_map(Message::texts)
        .flat_map(str::split_whitespace)
        .take(ECHO_WORDS)
        .collect();
    let echo = echo.join(" ");

    let text = if request.wants_json() {
        serde_json::json!({ "standin": true, "digest": format!("{digest:016x}"), "echo": echo })
            .to_string()
    } else if echo.is_empty() {
        format!("stand-in answer: {digest:016x}")
    } else {
        format!("stand-in answer: {digest:016x} re: {echo}")
    };

    let prompt_tokens = request
        .messages
        .iter()
        .flat_map(Message::texts)
        .map(count_words)
        .fold(0u32, u32::saturating_add);
    let words = count_words(&text);
    match request.token_limit() {
        Some(limit) if limit < words => Answer {
            text: text
                .split_whitespace()
                .take(limit as usize)
                .collect::<Vec<_>>()
                .join(" "),
            finish_reason: "length",
            prompt_tokens,
            completion_tokens: limit,
        },
        _ => Answer {
            text,
            finish_reason: "stop",
            prompt_tokens,
            completion_tokens: words,
        },
    }
}

fn conversation_digest(messages: &[Message]) -> u64 {
    messages.iter().fold(FNV_OFFSET, |hash, message| {
        let hash = fnv1a(hash, message.role.as_bytes());
        // Separators keep ["ab","c"] and ["a","bc"] apart.
        let hash = message.texts().fold(fnv1a(hash, b"\x1f"), |h, t| {
            fnv1a(fnv1a(h, t.as_bytes()), b"\x1f")
        });
        fnv1a(hash, b"\x1e")
    })
}

/// Splits `text` into exactly `n` pieces of near-equal character counts (some may be empty
/// when the text is shorter than `n`); concatenated they are `text` again.
pub(crate) fn split_even(text: &str, n: u32) -> Vec<&str> {
    let n = n.max(1) as usize;
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let chars = boundaries.len() - 1;
    (0..n)
        .map(|i| {
            let start = boundaries[i * chars / n];
            let end = boundaries[(i + 1) * chars / n];
            &text[start..end]
        })
        .collect()
}

/// A unit-length vector of `dimensions` values, seeded from `seed`.
pub(crate) fn embedding(seed: u64, dimensions: u32) -> Vec<f32> {
    let mut vector: Vec<f32> = (0..u64::from(dimensions))
        .map(|i| {
            let bits = splitmix64(seed ^ splitmix64(i)) >> 40;
            (bits as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
    vector
}

/// The seed of a text input.
pub(crate) fn text_seed(text: &str) -> u64 {
    fnv1a(FNV_OFFSET, text.as_bytes())
}

/// The seed of a token-array input.
pub(crate) fn tokens_seed(tokens: &[u32]) -> u64 {
    tokens
        .iter()
        .fold(FNV_OFFSET, |h, t| fnv1a(h, &t.to_le_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> ChatRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn answers_are_deterministic_and_echo_the_user() {
        let r = request(serde_json::json!({"model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "what is the capital of France please tell me"}
        ]}));
        let a = answer(&r);
        assert_eq!(a, answer(&r));
        assert!(a.text.starts_with("stand-in answer: "));
        assert!(a.text.ends_with("re: what is the capital of France"));
        assert_eq!((a.finish_reason, a.prompt_tokens), ("stop", 11));
        assert_eq!(a.completion_tokens, count_words(&a.text));
    }

    #[test]
    fn different_conversations_differ() {
        let one = request(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "ab"}]}),
        );
        let two = request(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}),
        );
        assert_ne!(answer(&one).text, answer(&two).text);
    }

    #[test]
    fn token_limit_truncates() {
        let r = request(serde_json::json!({"model": "m", "max_tokens": 2,
            "messages": [{"role": "user", "content": "hello there"}]}));
        let a = answer(&r);
        assert_eq!(
            (a.text.as_str(), a.finish_reason, a.completion_tokens),
            ("stand-in answer:", "length", 2)
        );
    }

    #[test]
    fn json_format_answers_json() {
        let r = request(
            serde_json::json!({"model": "m", "response_format": {"type": "json_object"},
            "messages": [{"role": "user", "content": "hi"}]}),
        );
        let v: serde_json::Value = serde_json::from_str(&answer(&r).text).unwrap();
        assert_eq!(v["standin"], true);
        assert_eq!(v["echo"], "hi");
    }

    #[test]
    fn split_even_round_trips() {
        for text in [
            "",
            "abc",
            "stand-in answer: 0123456789abcdef re: héllo wörld",
        ] {
            for n in [1, 3, 8, 100] {
                let pieces = split_even(text, n);
                assert_eq!(pieces.len(), n as usize);
                assert_eq!(pieces.concat(), text);
            }
        }
    }

    #[test]
    fn embeddings_are_unit_length_and_seeded() {
        let a = embedding(text_seed("x"), 16);
        assert_eq!(a, embedding(text_seed("x"), 16));
        assert_ne!(a, embedding(text_seed("y"), 16));
        let norm: f32 = a.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(embedding(tokens_seed(&[1, 2]), 1024).len(), 1024);
    }
}
