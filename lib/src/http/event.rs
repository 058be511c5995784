//! The HTTP functions' event loop: `lambda_http::run`, minus its panics.
//!
//! `lambda_http` 1.3 turns a Function URL / API Gateway / ALB / VPC Lattice
//! event into an `http::Request` with `expect`/`unwrap` on input that comes
//! from the caller (`lambda_http/src/request.rs`, `build_request_uri`: the
//! `Url::parse(..).unwrap()` of the `Host` / `X-Forwarded-Proto` headers and
//! the path; every `into_*_request`: `.expect("failed to build request")` when
//! the raw query string or the length makes the URI invalid; and
//! `aws_lambda_events` `Body::from_maybe_encoded`: `.expect("failed to decode
//! aws base64 encoded body")`). With `panic = "abort"` each of those kills the
//! instance. [`run`] checks those fields first ([`check`]): a hostile event is
//! answered `400 malformed_request` in the one error shape, without reaching
//! the handler, and the process serves the next event.
//!
//! The checks are conservative (a host is a plain DNS name, an IPv4 or a
//! bracketed IPv6 address; the scheme is `http` or `https`), so what passes
//! cannot make the conversion panic; the events Lambda itself sends pass.

use std::{
    fmt::Debug,
    future::{ready, Ready},
    net::{Ipv4Addr, Ipv6Addr},
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use base64::Engine;
use futures_util::{
    future::{Either, MapOk},
    TryFutureExt,
};
use http::{header::HOST, HeaderMap, Response, StatusCode};
use lambda_http::{
    aws_lambda_events::query_map::QueryMap, lambda_runtime::Diagnostic, request::LambdaRequest, Adapter, Body, Error,
    IntoResponse, LambdaEvent, Request, Service,
};

use super::HttpError;

/// The longest URI `http` accepts (`http::uri` `MAX_LEN`).
const MAX_URI: usize = u16::MAX as usize - 1;

/// Why an event was refused before it reached the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedEvent {
    #[error("the request body is marked base64-encoded but is not valid base64")]
    Base64Body,
    #[error("the Host header is not a valid host")]
    Host,
    #[error("the X-Forwarded-Proto header is not http or https")]
    Scheme,
    #[error("the request path does not start with /")]
    Path,
    #[error("the query string contains characters a URI does not allow")]
    Query,
    #[error("the request URI is too long")]
    TooLong,
}

impl HttpError for MalformedEvent {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn code(&self) -> &'static str {
        "malformed_request"
    }
}

/// `lambda_http::run`, except that an event `lambda_http` would panic on is
/// answered `400 malformed_request` (see the module documentation).
pub async fn run<'a, R, S, E>(handler: S) -> Result<(), Error>
where
    S: Service<Request, Response = R, Error = E>,
    S::Future: Send + 'a,
    R: IntoResponse + Send + 'a,
    E: Debug + Into<Diagnostic> + Send + 'a,
{
    let refused = Arc::new(Mutex::new(None));
    let adapter = Adapter::from(Refuse { inner: handler, refused: refused.clone() });
    lambda_http::lambda_runtime::run(Guard { inner: adapter, refused }).await
}

/// Checks every field of `event` that `lambda_http` converts with a panic.
pub fn check(event: &LambdaRequest) -> Result<(), MalformedEvent> {
    match event {
        LambdaRequest::ApiGatewayV1(r) => Parts {
            base64: r.is_base64_encoded,
            body: r.body.as_deref(),
            host: host(&r.headers, r.request_context.domain_name.as_deref()),
            headers: &r.headers,
            stage: r.request_context.stage.as_deref(),
            path: r.path.as_deref(),
            raw_query: None,
            queries: [&r.multi_value_query_string_parameters, &r.query_string_parameters],
        },
        LambdaRequest::ApiGatewayV2(r) => Parts {
            base64: r.is_base64_encoded,
            body: r.body.as_deref(),
            host: host(&r.headers, r.request_context.domain_name.as_deref()),
            headers: &r.headers,
            stage: r.request_context.stage.as_deref(),
            path: r.raw_path.as_deref(),
            raw_query: r.raw_query_string.as_deref(),
            queries: [&r.query_string_parameters, &r.query_string_parameters],
        },
        LambdaRequest::Alb(r) => Parts {
            base64: r.is_base64_encoded,
            body: r.body.as_deref(),
            host: host(&r.headers, None),
            headers: &r.headers,
            stage: None,
            path: r.path.as_deref(),
            raw_query: None,
            queries: [&r.multi_value_query_string_parameters, &r.query_string_parameters],
        },
        LambdaRequest::WebSocket(r) => Parts {
            base64: r.is_base64_encoded,
            body: r.body.as_deref(),
            host: host(&r.headers, r.request_context.domain_name.as_deref()),
            headers: &r.headers,
            stage: r.request_context.stage.as_deref(),
            path: r.path.as_deref(),
            raw_query: None,
            queries: [&r.multi_value_query_string_parameters, &r.query_string_parameters],
        },
        LambdaRequest::VpcLatticeV2(r) => Parts {
            base64: r.is_base64_encoded,
            body: r.body.as_deref(),
            host: host(&r.headers, None),
            headers: &r.headers,
            stage: None,
            path: r.path.as_deref(),
            raw_query: None,
            queries: [&r.query_string_parameters, &r.query_string_parameters],
        },
        // A kind this version does not know: nothing to check.
        _ => return Ok(()),
    }
    .check()
}

/// What `lambda_http` builds the URI and body from.
struct Parts<'e> {
    base64: bool,
    body: Option<&'e str>,
    host: Option<&'e str>,
    headers: &'e HeaderMap,
    stage: Option<&'e str>,
    path: Option<&'e str>,
    raw_query: Option<&'e str>,
    queries: [&'e QueryMap; 2],
}

impl Parts<'_> {
    fn check(&self) -> Result<(), MalformedEvent> {
        if let (true, Some(body)) = (self.base64, self.body) {
            // The engine `aws_lambda_events` decodes with.
            base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| MalformedEvent::Base64Body)?;
        }
        let path = self.path.unwrap_or_default();
        // A stage other than `$default` is put in front as `/{stage}`: the path then starts with `/`.
        let staged = matches!(self.stage, Some(stage) if stage != "$default");
        if !staged && !path.is_empty() && !path.starts_with('/') {
            return Err(MalformedEvent::Path);
        }
        let mut length = "http://localhost".len() + self.stage.map_or(0, |s| 3 * (s.len() + 1));
        if let Some(host) = self.host {
            let scheme = self.headers.get("x-forwarded-proto").and_then(|s| s.to_str().ok()).unwrap_or("https");
            if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
                return Err(MalformedEvent::Scheme);
            }
            if !valid_host(host) {
                return Err(MalformedEvent::Host);
            }
            length = scheme.len() + 3 + host.len();
        }
        // `url` percent-encodes the path: at most three bytes for one.
        length += 3 * path.len() + 1;
        let query = self.raw_query.filter(|q| !q.is_empty());
        length += query.map_or(0, |q| q.len() + 1);
        // The other kinds' parameters are form-urlencoded: at most three bytes for one, plus `=` and `&`.
        let longest = self.queries.iter().map(|q| q.iter().map(|(k, v)| 3 * (k.len() + v.len()) + 2).sum::<usize>());
        length += longest.max().unwrap_or(0);
        if length > MAX_URI {
            return Err(MalformedEvent::TooLong);
        }
        if let Some(query) = query {
            // `lambda_http` appends the raw query string as it came: `http` must accept it.
            let mut uri = String::with_capacity(query.len() + 2);
            uri.push_str("/?");
            uri.push_str(query);
            http::uri::PathAndQuery::try_from(uri).map_err(|_| MalformedEvent::Query)?;
        }
        Ok(())
    }
}

/// The host `lambda_http` puts in the URI: the `Host` header, else the domain name.
fn host<'e>(headers: &'e HeaderMap, domain_name: Option<&'e str>) -> Option<&'e str> {
    headers.get(HOST).and_then(|s| s.to_str().ok()).or(domain_name)
}

/// A DNS name of letters, digits and hyphens (no IDNA `xn--` labels, no
/// label that starts with a digit unless the whole is a dotted-quad IPv4),
/// or a bracketed IPv6 address, with an optional port.
fn valid_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) if v6.parse::<Ipv6Addr>().is_ok() => match after {
                "" => return true,
                after => return after.strip_prefix(':').is_some_and(valid_port),
            },
            _ => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    if !port.is_none_or(valid_port) || name.is_empty() || name.len() > 253 {
        return false;
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.as_bytes()[0].is_ascii_digit()
            && !label.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
    })
}

fn valid_port(port: &str) -> bool {
    (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
}

/// Checks each event before `lambda_http`'s adapter converts it. A hostile
/// one is neutralized (so the conversion cannot panic) and marked refused.
struct Guard<S> {
    inner: S,
    refused: Arc<Mutex<Option<MalformedEvent>>>,
}

impl<S> Service<LambdaEvent<LambdaRequest>> for Guard<S>
where
    S: Service<LambdaEvent<LambdaRequest>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut event: LambdaEvent<LambdaRequest>) -> Self::Future {
        let verdict = check(&event.payload);
        if let Err(reason) = verdict {
            tracing::warn!(%reason, "refused a malformed request");
            neutralize(&mut event.payload);
        }
        *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = verdict.err();
        self.inner.call(event)
    }
}

/// Drops every field `lambda_http` could panic on: the request becomes
/// `GET http://localhost/` without a body, of the same kind (so the answer
/// has the shape its origin expects).
fn neutralize(event: &mut LambdaRequest) {
    fn clear(body: &mut Option<String>, base64: &mut bool, headers: &mut HeaderMap, path: &mut Option<String>) {
        *body = None;
        *base64 = false;
        headers.clear();
        *path = Some("/".into());
    }
    match event {
        LambdaRequest::ApiGatewayV1(r) => {
            clear(&mut r.body, &mut r.is_base64_encoded, &mut r.headers, &mut r.path);
            r.multi_value_headers.clear();
            r.request_context.domain_name = None;
            r.request_context.stage = None;
            r.query_string_parameters = QueryMap::default();
            r.multi_value_query_string_parameters = QueryMap::default();
        }
        LambdaRequest::ApiGatewayV2(r) => {
            clear(&mut r.body, &mut r.is_base64_encoded, &mut r.headers, &mut r.raw_path);
            r.cookies = None;
            r.request_context.domain_name = None;
            r.request_context.stage = None;
            r.raw_query_string = None;
            r.query_string_parameters = QueryMap::default();
        }
        LambdaRequest::Alb(r) => {
            clear(&mut r.body, &mut r.is_base64_encoded, &mut r.headers, &mut r.path);
            r.multi_value_headers.clear();
            r.query_string_parameters = QueryMap::default();
            r.multi_value_query_string_parameters = QueryMap::default();
        }
        LambdaRequest::WebSocket(r) => {
            clear(&mut r.body, &mut r.is_base64_encoded, &mut r.headers, &mut r.path);
            r.multi_value_headers.clear();
            r.request_context.domain_name = None;
            r.request_context.stage = None;
            r.query_string_parameters = QueryMap::default();
            r.multi_value_query_string_parameters = QueryMap::default();
        }
        LambdaRequest::VpcLatticeV2(r) => {
            clear(&mut r.body, &mut r.is_base64_encoded, &mut r.headers, &mut r.path);
            r.query_string_parameters = QueryMap::default();
        }
        _ => {}
    }
}

/// The handler, or the 400 for an event [`Guard`] refused.
struct Refuse<S> {
    inner: S,
    refused: Arc<Mutex<Option<MalformedEvent>>>,
}

/// The handler's answer or the refusal.
enum Answer<R> {
    Handler(R),
    Refused(Response<String>),
}

/// `lambda_http`'s `ResponseFuture` (not exported).
type ResponseFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>>;

impl<R: IntoResponse> IntoResponse for Answer<R> {
    fn into_response(self) -> ResponseFuture {
        match self {
            Answer::Handler(r) => r.into_response(),
            Answer::Refused(r) => r.into_response(),
        }
    }
}

impl<R, S, E> Service<Request> for Refuse<S>
where
    S: Service<Request, Response = R, Error = E>,
{
    type Response = Answer<R>;
    type Error = E;
    type Future = Either<Ready<Result<Answer<R>, E>>, MapOk<S::Future, fn(R) -> Answer<R>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.refused.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(reason) => Either::Left(ready(Ok(Answer::Refused(reason.to_response())))),
            None => Either::Right(self.inner.call(request).map_ok(Answer::Handler as fn(R) -> Answer<R>)),
        }
    }
}
