//! How the layer learns what an attempt's result means.
//!
//! The layer is generic over the service it wraps, so it cannot know whether `Ok(response)` is
//! a success (an HTTP 503 arrives as `Ok`). A [`Classifier`] turns an attempt's
//! `Result<Response, Error>` into an [`Outcome`]; the mapping itself lives in
//! [`crate::classify`].

use crate::classify::{FailureClass, Outcome, classify_http, classify_status};

/// Turns one attempt's result into an [`Outcome`].
///
/// `idempotent` comes from the [`crate::RetryPolicy`]: whether repeating the call is safe even
/// if the server already acted on it.
pub trait Classifier<Resp, Err>: Clone {
    /// Judges one attempt.
    fn classify(&self, result: &Result<Resp, Err>, idempotent: bool) -> Outcome;
}

/// For gRPC services whose error is a [`tonic::Status`]: every `Ok` is a success.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcClassifier;

impl<Resp> Classifier<Resp, tonic::Status> for GrpcClassifier {
    fn classify(&self, result: &Result<Resp, tonic::Status>, idempotent: bool) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(status) => Outcome::Failure(classify_status(status, idempotent)),
        }
    }
}

/// For services returning [`http::Response`]: the status and headers decide, and any `Err`
/// (connect refused, reset, TLS) is [`FailureClass::Transient`].
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpClassifier;

impl<B, E> Classifier<http::Response<B>, E> for HttpClassifier {
    fn classify(&self, result: &Result<http::Response<B>, E>, idempotent: bool) -> Outcome {
        match result {
            Ok(response) => {
                match classify_http(response.status().as_u16(), response.headers(), idempotent) {
                    Some(class) => Outcome::Failure(class),
                    None => Outcome::Success,
                }
            }
            Err(_) => Outcome::Failure(FailureClass::Transient),
        }
    }
}

/// A classifier from a closure, for response types this crate does not know (the ai-router
/// wraps `reqwest::Response` this way, calling [`crate::classify_http`] with its status and
/// headers).
#[derive(Clone, Copy, Debug)]
pub struct FnClassifier<F>(pub F);

impl<F, Resp, Err> Classifier<Resp, Err> for FnClassifier<F>
where
    F: Fn(&Result<Resp, Err>, bool) -> Outcome + Clone,
{
    fn classify(&self, result: &Result<Resp, Err>, idempotent: bool) -> Outcome {
        (self.0)(result, idempotent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_classifier_reads_status_and_treats_errors_as_transient() {
        let ok = http::Response::builder()
            .status(204)
            .body(())
            .expect("response");
        let unavailable = http::Response::builder()
            .status(502)
            .body(())
            .expect("response");
        let result: Result<_, ()> = Ok(ok);
        assert_eq!(HttpClassifier.classify(&result, false), Outcome::Success);
        let result: Result<_, ()> = Ok(unavailable);
        assert_eq!(
            HttpClassifier.classify(&result, false),
            Outcome::Failure(FailureClass::Transient)
        );
        let result: Result<http::Response<()>, &str> = Err("connection reset");
        assert_eq!(
            HttpClassifier.classify(&result, false),
            Outcome::Failure(FailureClass::Transient)
        );
    }

    #[test]
    fn fn_classifier_delegates_to_the_closure() {
        let classifier = FnClassifier(|result: &Result<u16, ()>, _idempotent: bool| match result {
            Ok(200) => Outcome::Success,
            _ => Outcome::Failure(FailureClass::FatalRequest),
        });
        assert_eq!(classifier.classify(&Ok(200), true), Outcome::Success);
        assert_eq!(
            classifier.classify(&Ok(400), true),
            Outcome::Failure(FailureClass::FatalRequest)
        );
    }
}
