//! The webhook intake path: verify the exact bytes, record once, apply.
//!
//! Order of checks, each answered before any database work:
//! method (405) → size (413, before any HMAC) → signature (401) → JSON
//! shape (400). Then one transaction records and applies the event.

use std::time::Instant;

use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use svix::webhooks::{Webhook, WebhookError as SvixError};

use crate::{
    clerk::{self, Envelope, Family, Plan},
    config::{ConfigError, WebhookConfig},
    db::Database,
    ids::SvixId,
    response::{json, ErrorBody},
    sync::{self, EventRecord, Outcome},
};

/// The endpoint's signing secrets. Several may be configured during a
/// rotation: a delivery is authentic when any of them verifies it.
pub struct SigningSecrets(Vec<Webhook>);

impl std::fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningSecrets([{} redacted])", self.0.len())
    }
}

impl SigningSecrets {
    /// Parses `whsec_…` secrets separated by commas or whitespace.
    pub fn parse(raw: &SecretString) -> Result<Self, ConfigError> {
        let secrets = raw
            .expose_secret()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, s)| {
                Webhook::new(s).map_err(|_| ConfigError::Invalid {
                    var: "CLERK_WEBHOOK_SECRET",
                    reason: format!(
                        "secret #{} is not a Svix signing secret (whsec_ followed by padded base64)",
                        i + 1
                    ),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if secrets.is_empty() {
            return Err(ConfigError::Missing {
                var: "CLERK_WEBHOOK_SECRET",
                hint: "copy the endpoint's signing secret (whsec_…) from the Clerk dashboard",
            });
        }
        Ok(Self(secrets))
    }

    /// Verifies a delivery over the exact body bytes, with Svix's 5-minute
    /// timestamp tolerance.
    pub fn verify(&self, body: &[u8], headers: &HeaderMap) -> Result<(), WebhookError> {
        self.check(|secret| secret.verify(body, headers))
    }

    /// Verifies the signature alone, for deliveries recorded earlier (and
    /// Svix's published test vectors). The request path never uses it.
    pub fn verify_ignoring_timestamp(&self, body: &[u8], headers: &HeaderMap) -> Result<(), WebhookError> {
        self.check(|secret| secret.verify_ignoring_timestamp(body, headers))
    }

    fn check(&self, verify: impl Fn(&Webhook) -> Result<(), SvixError>) -> Result<(), WebhookError> {
        for secret in &self.0 {
            match verify(secret) {
                Ok(()) => return Ok(()),
                // Only a signature mismatch depends on the secret: try the next.
                Err(SvixError::InvalidSignature) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(WebhookError::InvalidSignature)
    }
}

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

/// What one webhook function holds for its lifetime: built once in `main`,
/// borrowed by every request.
pub struct WebhookState {
    family: Family,
    secrets: Option<SigningSecrets>,
    dev_bypass: bool,
    max_body_bytes: usize,
    db: Database,
}

impl WebhookState {
    /// Builds the state without touching the network: the pool connects on
    /// the first request, and migrations (unless skipped) run then too.
    pub fn new(family: Family, config: WebhookConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            family,
            db: Database::new(&config.db, config.run_migrations)?,
            secrets: config.secrets,
            dev_bypass: config.dev_bypass,
            max_body_bytes: config.max_body_bytes,
        })
    }

    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// The answer to an accepted delivery.
#[derive(serde::Serialize)]
struct Accepted<'a> {
    status: &'static str,
    svix_id: &'a str,
    event_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// Handles one delivery. Plain async function: Lambda, the local stack and
/// the tests all call it.
pub async fn handle<B: AsRef<[u8]>>(state: &WebhookState, request: Request<B>) -> Response<String> {
    let started = Instant::now();
    let svix_id_header = request.headers().get("svix-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (response, event_type) = match intake(state, &request).await {
        Ok((outcome, svix_id, event_type)) => {
            let reason = match &outcome {
                Outcome::Failed(reason) => Some(reason.as_str()),
                _ => None,
            };
            let body =
                Accepted { status: outcome.status(), svix_id: svix_id.as_str(), event_type: &event_type, reason };
            (json(StatusCode::OK, &body), Some(event_type))
        }
        Err(rejection) => (rejection.into_response(), None),
    };
    tracing::info!(
        svix_id = svix_id_header.as_deref(),
        event_type = event_type.as_deref(),
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "webhook handled"
    );
    response
}

async fn intake<B: AsRef<[u8]>>(
    state: &WebhookState,
    request: &Request<B>,
) -> Result<(Outcome, SvixId, String), WebhookError> {
    if request.method() != Method::POST {
        return Err(WebhookError::MethodNotAllowed);
    }
    let body = request.body().as_ref();
    if body.len() > state.max_body_bytes {
        return Err(WebhookError::PayloadTooLarge { limit: state.max_body_bytes });
    }
    let header_id =
        request.headers().get("svix-id").or_else(|| request.headers().get("webhook-id")).and_then(|v| v.to_str().ok());
    let svix_id = match (state.dev_bypass, &state.secrets) {
        (false, Some(secrets)) => {
            secrets.verify(body, request.headers())?;
            // Verified, so the header is there; its shape is checked all the same.
            header_id
                .and_then(|v| SvixId::parse(v).ok())
                .ok_or(WebhookError::InvalidPayload("the svix-id header is not a valid message id"))?
        }
        // No secret means nothing can be authentic.
        (false, None) => return Err(WebhookError::InvalidSignature),
        // Development bypass: nothing is verified. The svix-id, when sent,
        // still deduplicates; otherwise each request is a new message.
        (true, _) => {
            tracing::warn!("CLERK_WEBHOOK_DEV_BYPASS: accepting a delivery without verifying its signature");
            let generated = format!("dev_{}", uuid::Uuid::new_v4().simple());
            SvixId::parse(header_id.unwrap_or(&generated))
                .map_err(|_| WebhookError::InvalidPayload("the svix-id header is not a valid message id"))?
        }
    };
    let envelope = Envelope::parse(body).map_err(WebhookError::InvalidPayload)?;
    // Envelope::parse succeeded, so the body is UTF-8 JSON.
    let payload = std::str::from_utf8(body).map_err(|_| WebhookError::InvalidPayload("the body is not UTF-8"))?;

    let plan = clerk::plan(state.family, &envelope);
    if let Plan::Fail(reason) = &plan {
        tracing::error!(svix_id = %svix_id, event_type = %envelope.event_type, %reason, "event data not understood");
    }
    let object_id = envelope.object_id();
    let event = EventRecord {
        svix_id: &svix_id,
        family: clerk::recording_family(state.family, &envelope.event_type, &plan),
        event_type: &envelope.event_type,
        object_id: object_id.as_deref(),
        event_timestamp: envelope.timestamp,
        payload,
    };
    let deliver = || async {
        let client = state.db.client().await?;
        sync::deliver(&client, &event, &plan).await
    };
    let outcome = match deliver().await {
        // The pooled connection had died (server restart, a connection
        // reaped while the instance was frozen). The broken client went back
        // to the pool, which discards it; the statements are idempotent, so
        // one retry on a fresh connection is safe.
        Err(e) if e.is_connection_lost() => {
            tracing::warn!(svix_id = %svix_id, error = %e, "database connection lost; retrying once");
            deliver().await
        }
        other => other,
    }
    .map_err(|e| {
        tracing::error!(svix_id = %svix_id, error = %e, "database fault; answering 503 so Svix retries");
        WebhookError::DatabaseUnavailable
    })?;
    Ok((outcome, svix_id, envelope.event_type))
}
