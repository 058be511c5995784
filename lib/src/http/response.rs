//! Small JSON answers.

use http::{header, HeaderValue, Response, StatusCode};
use serde::Serialize;

/// The body of every error answer: a stable machine-readable code and a
/// human message. Never a secret, a stack or a database error.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub message: &'a str,
}

/// A JSON response. Serializing our own plain structs cannot fail; were it
/// to, the answer is still a valid JSON error rather than a panic.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response<String> {
    let (status, text) = match serde_json::to_string(body) {
        Ok(text) => (status, text),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"internal","message":"the answer could not be encoded"}"#.to_string(),
        ),
    };
    let mut response = Response::new(text);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
