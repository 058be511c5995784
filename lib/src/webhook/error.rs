//! Every way a delivery is refused.

use http::{header, Response, StatusCode};
use svix::webhooks::WebhookError as SvixError;

use crate::http::response::{json, ErrorBody};

/// Every way a delivery is refused, with its status and stable code.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("only POST is accepted")]
    MethodNotAllowed,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the svix-id, svix-timestamp and svix-signature headers are required")]
    MissingSignatureHeaders,
    #[error("the svix-timestamp header is more than 5 minutes from the server's clock")]
    TimestampOutOfTolerance,
    #[error("no configured signing secret verifies this delivery")]
    InvalidSignature,
    #[error("{0}")]
    InvalidPayload(&'static str),
    #[error("the database is unavailable; retry later")]
    DatabaseUnavailable,
}

impl From<SvixError> for WebhookError {
    fn from(e: SvixError) -> Self {
        match e {
            SvixError::MissingHeader(_) => WebhookError::MissingSignatureHeaders,
            SvixError::TimestampTooOldError | SvixError::FutureTimestampError => WebhookError::TimestampOutOfTolerance,
            // Unparseable headers, a non-UTF-8 body, a bad signature: not authentic.
            _ => WebhookError::InvalidSignature,
        }
    }
}

impl WebhookError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            WebhookError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::MissingSignatureHeaders
            | WebhookError::TimestampOutOfTolerance
            | WebhookError::InvalidSignature => StatusCode::UNAUTHORIZED,
            WebhookError::InvalidPayload(_) => StatusCode::BAD_REQUEST,
            WebhookError::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::MethodNotAllowed => "method_not_allowed",
            WebhookError::PayloadTooLarge { .. } => "payload_too_large",
            WebhookError::MissingSignatureHeaders => "missing_signature_headers",
            WebhookError::TimestampOutOfTolerance => "timestamp_out_of_tolerance",
            WebhookError::InvalidSignature => "invalid_signature",
            WebhookError::InvalidPayload(_) => "invalid_payload",
            WebhookError::DatabaseUnavailable => "database_unavailable",
        }
    }

    pub fn into_response(self) -> Response<String> {
        let mut response = json(self.status(), &ErrorBody { error: self.code(), message: &self.to_string() });
        match self {
            WebhookError::MethodNotAllowed => {
                response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            }
            WebhookError::DatabaseUnavailable => {
                response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}
