//! The local HTTP server: one port, every function, graceful shutdown.

use std::{
    convert::Infallible,
    future::Future,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use clerk_sync::http::response::{json, ErrorBody};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown};
use tokio::net::TcpListener;

use super::{
    app::App,
    routes::{self, Function},
};

/// The largest request body read; the webhook handlers apply their own,
/// smaller limit (WEBHOOK_MAX_BODY_BYTES) on top.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Serves `app` on `listener` until `shutdown` completes, then lets open
/// requests finish (5 s at most).
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let app = app.clone();
                let service = service_fn(move |request| respond(app.clone(), request));
                let connection = graceful.watch(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still open after 5 s were dropped");
    }
}

async fn respond(app: Arc<App>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let (function, response) = match routes::route(&path) {
        None if path == "/" && method == Method::GET => (None, routes::index()),
        None => (
            None,
            error_response(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no function is served at {path}; GET / lists the routes"),
            ),
        ),
        Some((function, inner_path)) => (Some(function), call(&app, function, &inner_path, request).await),
    };
    tracing::info!(
        %method,
        path,
        function = function.map(Function::name),
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(response.map(|body| Full::new(Bytes::from(body))))
}

/// Reads the body (within [`MAX_BODY_BYTES`]) and hands the request to the
/// function's handler, with the path it would see deployed.
async fn call(app: &App, function: Function, inner_path: &str, request: Request<Incoming>) -> Response<String> {
    let (mut parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            )
        }
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "bad_request", &format!("cannot read the body: {e}")),
    };
    if inner_path != parts.uri.path() {
        let rewritten = match parts.uri.query() {
            Some(query) => format!("{inner_path}?{query}"),
            None => inner_path.to_string(),
        };
        match Uri::from_str(&rewritten) {
            Ok(uri) => parts.uri = uri,
            Err(_) => return error_response(StatusCode::BAD_REQUEST, "bad_request", "the request path is invalid"),
        }
    }
    app.dispatch(function, Request::from_parts(parts, body)).await
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response<String> {
    json(status, &ErrorBody { error: code, message })
}
