//! The HTTP server: accepting connections (HTTP/1.1 keep-alive and h2c on one port), a
//! bounded drain on shutdown, routing, and the stand-in label on every response.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::StandInConfig;
use crate::body::AnswerBody;
use crate::endpoints;
use crate::error::{ApiError, Error};
use crate::pipeline::{STANDIN_HEADER, openai, read_body, refuse};
use crate::shared::Shared;
use crate::stats::{Endpoint, Outcome};

/// Serves the stand-in on `listener` until `shutdown` is cancelled, then drains open
/// connections for at most `config.drain_timeout` and closes the rest.
pub async fn serve(
    listener: TcpListener,
    config: StandInConfig,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let shared = Arc::new(Shared::new(&config)?);
    serve_shared(listener, shared, config.drain_timeout, shutdown).await;
    Ok(())
}

pub(crate) async fn serve_shared(
    listener: TcpListener,
    shared: Arc<Shared>,
    drain_timeout: Duration,
    shutdown: CancellationToken,
) {
    // Connection tasks live in a JoinSet owned by this future: if the future is dropped
    // (or its task aborted) every connection task is aborted with it. Nothing leaks.
    let mut connections = JoinSet::new();
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small request/response exchanges: don't let Nagle hold them back.
                    let _ = stream.set_nodelay(true);
                    let conn = serve_connection(stream, Arc::clone(&builder), Arc::clone(&shared), shutdown.clone());
                    connections.spawn(conn);
                }
                Err(error) => {
                    // Typically EMFILE: pause instead of spinning on a failing accept.
                    tracing::warn!(%error, "stand-in provider: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(drain_timeout, async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        connections.shutdown().await;
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    builder: Arc<auto::Builder<TokioExecutor>>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(&shared, request).await) }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let finished = tokio::select! {
        result = connection.as_mut() => Some(result),
        () = shutdown.cancelled() => None,
    };
    let result = match finished {
        Some(result) => result,
        None => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // Clients hanging up mid-answer is routine in fault tests: not worth more than debug.
        tracing::debug!(%error, "stand-in provider: connection ended with an error");
    }
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<AnswerBody> {
    let mut response = route(shared, request).await;
    response
        .headers_mut()
        .insert(STANDIN_HEADER, HeaderValue::from_static("1"));
    response
}

async fn route(shared: &Shared, request: Request<Incoming>) -> Response<AnswerBody> {
    let method = request.method().clone();
    match (&method, request.uri().path()) {
        (&Method::POST, "/v1/chat/completions") => {
            openai(shared, Endpoint::ChatCompletions, request, endpoints::chat).await
        }
        (&Method::POST, "/v1/embeddings") => {
            openai(shared, Endpoint::Embeddings, request, endpoints::embeddings).await
        }
        (&Method::GET, "/v1/models") => answer_at_once(shared, Endpoint::Models, &request, || {
            Ok(endpoints::models(shared))
        }),
        (&Method::GET, "/_standin/stats") => endpoints::stats(shared),
        (&Method::GET, "/_standin/behavior") => endpoints::current_behavior(shared),
        (&Method::PUT, "/_standin/behavior") => match read_body(request, 64 * 1024).await {
            Ok(body) => endpoints::put_behavior(shared, &body),
            Err(error) => error.into_response(),
        },
        (_, path) if path.starts_with("/v1/") => {
            let error = ApiError::not_found(&method, path);
            answer_at_once(shared, Endpoint::Other, &request, || Err(error))
        }
        // Not an OpenAI route, not a control route: not counted.
        (_, path) => ApiError::not_found(&method, path).into_response(),
    }
}

/// An OpenAI route without a body: counted, authenticated and answered without waiting, so
/// it is never in flight across an await and its guard completes at once.
fn answer_at_once(
    shared: &Shared,
    endpoint: Endpoint,
    request: &Request<Incoming>,
    answer: impl FnOnce() -> Result<Response<AnswerBody>, ApiError>,
) -> Response<AnswerBody> {
    shared.counters.begin(endpoint).complete();
    if !shared.authorized(request) {
        return refuse(shared, ApiError::unauthorized());
    }
    match answer() {
        Ok(response) => {
            shared.counters.record(Outcome::Ok);
            response
        }
        Err(error) => refuse(shared, error),
    }
}
