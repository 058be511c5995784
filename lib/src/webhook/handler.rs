//! The webhook intake path: verify the exact bytes, record once, apply.
//!
//! Order of checks, each answered before any database work:
//! method (405) → size (413, before any HMAC) → signature (401) → JSON
//! shape (400). Then one transaction records and applies the event.

use std::time::Instant;

use http::{Method, Request, Response, StatusCode};

use super::{config::WebhookConfig, error::WebhookError, signature::SigningSecrets};
use crate::{
    clerk::{self, Envelope, Family, Plan},
    config::ConfigError,
    db::{Database, Retry},
    http::{error::HttpError, response::json},
    ids::SvixId,
    metrics,
    sync::{self, EventRecord, Outcome},
};

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
    let (response, event_type, sync_status, event_ms) = match intake(state, &request, started).await {
        Ok((outcome, svix_id, event_type, event_ms)) => {
            let reason = match &outcome {
                Outcome::Failed(reason) => Some(reason.as_str()),
                _ => None,
            };
            let body =
                Accepted { status: outcome.status(), svix_id: svix_id.as_str(), event_type: &event_type, reason };
            (json(StatusCode::OK, &body), Some(event_type), Some(outcome.status()), event_ms)
        }
        Err(rejection) => (rejection.to_response(), None, None, None),
    };
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let outcome = metrics::delivery_outcome(response.status().as_u16(), sync_status);
    metrics::delivery(state.family.name(), outcome, duration_ms, event_ms);
    // The target is part of what operators query the logs by: stable
    // whatever the module layout.
    tracing::info!(
        target: "clerk_sync::webhook",
        svix_id = svix_id_header.as_deref(),
        event_type = event_type.as_deref(),
        status = response.status().as_u16(),
        duration_ms,
        "webhook handled"
    );
    response
}

async fn intake<B: AsRef<[u8]>>(
    state: &WebhookState,
    request: &Request<B>,
    started: Instant,
) -> Result<(Outcome, SvixId, String, Option<i64>), WebhookError> {
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
    // The connection died (server restart or failover, a backend
    // terminated, a connection reaped while the instance was frozen), points
    // at a demoted writer, or the transaction lost a serialization conflict
    // or deadlock: nothing was committed and the statements are idempotent,
    // so one retry is safe ([`Retry`]). Otherwise 503, nothing
    // recorded: Svix redelivers.
    let mut retry = Retry::new(started);
    let outcome = loop {
        let client = match state.db.client_for(&mut retry).await {
            Ok(client) => client,
            Err(e) => break Err(e),
        };
        let result = sync::deliver(&client, &event, &plan).await;
        match &result {
            Err(e) if retry.again(Some(client), e) => continue,
            _ => break result,
        }
    }
    .map_err(WebhookError::DatabaseUnavailable)?;
    Ok((outcome, svix_id, envelope.event_type, envelope.timestamp))
}
