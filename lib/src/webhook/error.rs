//! Every way a delivery is refused.

use http::{header, header::HeaderName, HeaderValue, StatusCode};
use svix::webhooks::WebhookError as SvixError;

use crate::{
    db::DbError,
    http::error::{HttpError, UNAVAILABLE},
};

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
    /// Nothing was recorded: Svix retries.
    #[error("the database is unavailable; retry later")]
    DatabaseUnavailable(#[source] DbError),
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

impl HttpError for WebhookError {
    fn status(&self) -> StatusCode {
        match self {
            WebhookError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            WebhookError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::MissingSignatureHeaders
            | WebhookError::TimestampOutOfTolerance
            | WebhookError::InvalidSignature => StatusCode::UNAUTHORIZED,
            WebhookError::InvalidPayload(_) => StatusCode::BAD_REQUEST,
            WebhookError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            WebhookError::MethodNotAllowed => "method_not_allowed",
            WebhookError::PayloadTooLarge { .. } => "payload_too_large",
            WebhookError::MissingSignatureHeaders => "missing_signature_headers",
            WebhookError::TimestampOutOfTolerance => "timestamp_out_of_tolerance",
            WebhookError::InvalidSignature => "invalid_signature",
            WebhookError::InvalidPayload(_) => "invalid_payload",
            WebhookError::DatabaseUnavailable(_) => UNAVAILABLE,
        }
    }

    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        match self {
            WebhookError::MethodNotAllowed => vec![(header::ALLOW, HeaderValue::from_static("POST"))],
            // Svix retries on its own schedule; a client that honours it waits a little.
            WebhookError::DatabaseUnavailable(_) => vec![(header::RETRY_AFTER, HeaderValue::from_static("5"))],
            _ => Vec::new(),
        }
    }
}
