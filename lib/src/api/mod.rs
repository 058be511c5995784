//! The HTTP functions the app calls with a Clerk session token.

pub mod seller_accounts;
pub mod sync_status;

use http::{header, Method, Request, Response, StatusCode};

use crate::{
    config::{self, ConfigError, Source},
    db::{Database, DbSettings},
    http::response::{json, ErrorBody},
    session::SessionVerifier,
};

/// What an API function holds for its lifetime.
pub struct ApiState {
    pub db: Database,
    pub sessions: SessionVerifier,
}

impl ApiState {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            db: Database::new(&DbSettings::from_source(src)?, !config::flag(src, "SKIP_DB_MIGRATIONS")?)?,
            sessions: SessionVerifier::from_source(src)?,
        })
    }
}

/// An error answer with a stable code.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<String> {
    json(status, &ErrorBody { error: code, message })
}

pub fn method_not_allowed(allow: &'static str) -> Response<String> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this method is not supported here");
    response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
    response
}

pub fn not_found() -> Response<String> {
    error(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

pub fn unavailable() -> Response<String> {
    error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "the database is unavailable; retry later")
}

/// The path below a function's mount point: `/seller-accounts/abc` and `/abc`
/// both give `["abc"]` for the mount `seller-accounts`, so a function answers
/// the same behind its HttpApi route and at the root of a Function URL.
pub fn route_segments<'a, B>(request: &'a Request<B>, mount: &str) -> Vec<&'a str> {
    let segments: Vec<&str> = request.uri().path().split('/').filter(|s| !s.is_empty()).collect();
    match segments.iter().position(|s| *s == mount) {
        Some(i) => segments[i + 1..].to_vec(),
        None => segments,
    }
}

/// One query-string parameter, percent-decoding not needed for the numbers we read.
pub fn query_param<'a, B>(request: &'a Request<B>, name: &str) -> Option<&'a str> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// True when the client prefers HTML (a browser) over JSON.
pub fn wants_html<B>(request: &Request<B>) -> bool {
    request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| {
        let html = accept.find("text/html");
        let json = accept.find("application/json");
        match (html, json) {
            (Some(h), Some(j)) => h < j,
            (Some(_), None) => true,
            _ => false,
        }
    })
}

pub fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}
