//! One HTTP error shape for every function.
//!
//! Each boundary has its own error enum ([`crate::webhook::WebhookError`],
//! [`crate::session::AccessError`], [`crate::api::ApiError`]) and implements
//! [`HttpError`]: a status, a stable code, extra headers and fields. Every
//! error answer is then `{"error": code, "message": text, …fields}`, and a
//! 5xx is logged once, here, with its causes. Expected failures are answers;
//! `Err` elsewhere means the infrastructure failed.

use http::{header::HeaderName, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

use super::response::json;
use crate::report::error_chain;

/// The code of every 503: something we depend on is down; retry later.
pub const UNAVAILABLE: &str = "database_unavailable";

/// An error that is answered over HTTP.
pub trait HttpError: std::error::Error {
    fn status(&self) -> StatusCode;

    /// A stable, machine-readable code.
    fn code(&self) -> &'static str;

    /// Headers the answer carries (`Allow`, `Retry-After`, …).
    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        Vec::new()
    }

    /// Fields beside `error` and `message` (`field`, `reason`, …).
    fn fields(&self) -> Vec<(&'static str, Value)> {
        Vec::new()
    }

    /// The human message: the error's text. Never a secret, a stack or a
    /// database message: the enums' texts are written for this.
    fn message(&self) -> String {
        self.to_string()
    }

    /// The answer.
    fn to_response(&self) -> Response<String>
    where
        Self: Sized,
    {
        response(self)
    }
}

/// The answer to `error`; a 5xx is logged with its causes.
pub fn response(error: &dyn HttpError) -> Response<String> {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(code = error.code(), error = %error_chain(error), "answered {}", status.as_u16());
    }
    let mut body = Map::new();
    body.insert("error".into(), Value::from(error.code()));
    body.insert("message".into(), Value::from(error.message()));
    for (key, value) in error.fields() {
        body.insert(key.into(), value);
    }
    let mut answer = json(status, &body);
    for (name, value) in error.headers() {
        answer.headers_mut().insert(name, value);
    }
    answer
}
