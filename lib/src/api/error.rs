//! The API functions' errors: every way a request is refused, as one enum.

use http::{header, header::HeaderName, HeaderValue, StatusCode};

use crate::{
    http::error::{HttpError, UNAVAILABLE},
    session::AccessError,
};

/// Every refusal of an API function. Handlers return `Result<_, ApiError>`
/// and use `?`; [`HttpError`] makes the answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such resource")]
    NotFound,
    #[error("this method is not supported here")]
    MethodNotAllowed { allow: &'static str },
    #[error("the body is larger than {} KiB", limit / 1024)]
    PayloadTooLarge { limit: usize },
    #[error("the body must be a JSON object")]
    InvalidJson,
    #[error("{reason}")]
    ValidationFailed { field: &'static str, reason: String },
    /// The request contradicts what is stored; retrying the same request
    /// cannot help.
    #[error("{0}")]
    Conflict(String),
    /// Something we depend on failed: retry later.
    #[error("the service is unavailable; retry later")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The caller's session or access refused the request.
    #[error(transparent)]
    Access(#[from] AccessError),
}

impl ApiError {
    pub fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Unavailable(Box::new(source))
    }

    /// The database fault behind this answer, if it is one (for
    /// [`crate::db::Retry`]).
    pub fn database_fault(&self) -> Option<&crate::db::DbError> {
        match self {
            ApiError::Access(AccessError::Unavailable(e)) => Some(e),
            ApiError::Unavailable(source) => match source.downcast_ref::<crate::seller_accounts::StoreError>() {
                Some(crate::seller_accounts::StoreError::Db(e)) => Some(e),
                _ => source.downcast_ref(),
            },
            _ => None,
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::Access(AccessError::Unavailable(e))
    }
}

impl HttpError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidJson => StatusCode::BAD_REQUEST,
            ApiError::ValidationFailed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Access(e) => e.status(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::InvalidJson => "invalid_json",
            ApiError::ValidationFailed { .. } => "validation_failed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable(_) => UNAVAILABLE,
            ApiError::Access(e) => e.code(),
        }
    }

    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        match self {
            ApiError::MethodNotAllowed { allow } => vec![(header::ALLOW, HeaderValue::from_static(allow))],
            ApiError::Access(e) => e.headers(),
            _ => Vec::new(),
        }
    }

    fn fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            ApiError::ValidationFailed { field, .. } => vec![("field", (*field).into())],
            ApiError::Access(e) => e.fields(),
            _ => Vec::new(),
        }
    }
}
