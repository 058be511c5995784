//! Reprocesses stored events through the same sync code as a delivery.
//!
//! Events recorded as `failed` (a handled type whose data could not be
//! applied) are kept whole so that, once the code is fixed, a replay applies
//! them. A replay is idempotent: it claims only rows still `failed` (or
//! `received`), and the convergence rules make applying an old event safe.

use crate::db::Client;
use serde::Serialize;
use tokio_postgres::types::Type;

use crate::{
    clerk::{self, Envelope, Family, Plan},
    db::DbError,
    ids::SvixId,
    sync::{self, EventRecord, Outcome},
};

/// Which stored events to replay.
#[derive(Debug, Clone)]
pub struct ReplayFilter {
    /// `failed` and/or `received`.
    pub statuses: Vec<String>,
    /// Only events received at or after this time (RFC 3339, or anything
    /// PostgreSQL's timestamptz accepts).
    pub since: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// At most this many events.
    pub limit: Option<i64>,
}

impl Default for ReplayFilter {
    fn default() -> Self {
        Self { statuses: vec!["failed".into()], since: None, event_type: None, limit: None }
    }
}

/// What a replay did, by outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    pub processed: u64,
    pub stale: u64,
    pub ignored: u64,
    /// No longer needed: processed meanwhile by a delivery or another replay.
    pub duplicate: u64,
    pub failed: u64,
}

impl ReplaySummary {
    pub fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Processed => self.processed += 1,
            Outcome::Stale => self.stale += 1,
            Outcome::Ignored => self.ignored += 1,
            Outcome::Duplicate => self.duplicate += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.processed + self.stale + self.ignored + self.duplicate + self.failed
    }
}

const BATCH: i64 = 200;

/// How many stored events match `filter` (for progress bars).
pub async fn count(client: &Client, filter: &ReplayFilter) -> Result<i64, DbError> {
    let stmt = crate::db::statements::prepare(
        client,
        "SELECT count(*) FROM clerk_webhook_events
             WHERE status = ANY($1) AND ($2::text IS NULL OR received_at >= $2::timestamptz)
               AND ($3::text IS NULL OR event_type = $3)",
        &[Type::TEXT_ARRAY, Type::TEXT, Type::TEXT],
    )
    .await?;
    let total: i64 = client.query_one(&stmt, &[&filter.statuses, &filter.since, &filter.event_type]).await?.get(0);
    Ok(filter.limit.map_or(total, |limit| total.min(limit)))
}

/// Replays the matching events oldest first, calling `progress` after each.
/// An invalid `since` is a database error (22007), reported as such.
pub async fn replay(
    client: &Client,
    filter: &ReplayFilter,
    mut progress: impl FnMut(&str, &Outcome),
) -> Result<ReplaySummary, DbError> {
    // Keyset pagination: each row is visited once even when it stays failed.
    let stmt = crate::db::statements::prepare(
        client,
        "SELECT svix_id, event_type,
                    CASE WHEN jsonb_typeof(payload) = 'string' THEN payload #>> '{}' ELSE payload::text END,
                    received_at::text, id, family
             FROM clerk_webhook_events
             WHERE status = ANY($1) AND ($2::text IS NULL OR received_at >= $2::timestamptz)
               AND ($3::text IS NULL OR event_type = $3)
               AND ($4::text IS NULL OR (received_at, id) > ($4::timestamptz, $5::uuid))
             ORDER BY received_at, id
             LIMIT $6",
        &[Type::TEXT_ARRAY, Type::TEXT, Type::TEXT, Type::TEXT, Type::UUID, Type::INT8],
    )
    .await?;
    let mut summary = ReplaySummary::default();
    let mut after: (Option<String>, Option<uuid::Uuid>) = (None, None);
    let mut left = filter.limit.unwrap_or(i64::MAX);
    while left > 0 {
        let rows = client
            .query(&stmt, &[&filter.statuses, &filter.since, &filter.event_type, &after.0, &after.1, &BATCH.min(left)])
            .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let (svix_id, event_type, payload): (String, String, String) = (row.get(0), row.get(1), row.get(2));
            let outcome = replay_one(client, &svix_id, row.get(5), &event_type, &payload).await?;
            summary.count(&outcome);
            progress(&svix_id, &outcome);
        }
        left -= rows.len() as i64;
        if let Some(last) = rows.last() {
            after = (Some(last.get(3)), Some(last.get(4)));
        }
    }
    Ok(summary)
}

async fn replay_one(
    client: &Client,
    svix_id: &str,
    family: &str,
    event_type: &str,
    payload: &str,
) -> Result<Outcome, DbError> {
    // Stored ids came from verified deliveries; one that no longer parses
    // cannot be claimed by the statements either. Neither can a row of a
    // family this build does not know.
    let (Ok(svix_id), Some(family)) = (SvixId::parse(svix_id), Family::named(family)) else {
        return Ok(Outcome::Duplicate);
    };
    // The row's own family applies it: a row it only ignored stays ignored.
    let (plan, object_id, timestamp) = match Envelope::parse(payload.as_bytes()) {
        Ok(envelope) => (clerk::plan(family, &envelope), envelope.object_id(), envelope.timestamp),
        Err(reason) => (Plan::Fail(reason.to_string()), None, None),
    };
    let event = EventRecord {
        svix_id: &svix_id,
        family,
        event_type,
        object_id: object_id.as_deref(),
        event_timestamp: timestamp,
        payload,
    };
    sync::redeliver(client, &event, &plan).await
}

/// The scheduled `clerk-replay` function: replays failed events, a bounded
/// number per run so one run stays well inside the Lambda timeout.
pub struct ReplayJob {
    pub db: crate::db::Database,
    pub max_events: i64,
}

impl ReplayJob {
    pub fn from_source(src: &impl crate::config::Source) -> Result<Self, crate::config::ConfigError> {
        use crate::config;
        let max_events = config::parse_or(src, "REPLAY_MAX_EVENTS", 500i64)?;
        if max_events < 1 {
            return Err(config::ConfigError::Invalid { var: "REPLAY_MAX_EVENTS", reason: "must be at least 1".into() });
        }
        Ok(Self {
            db: crate::db::Database::new(
                &crate::db::DbSettings::from_source(src)?,
                !config::flag(src, "SKIP_DB_MIGRATIONS")?,
            )?,
            max_events,
        })
    }

    /// One run. `Err` (a database fault) fails the invocation, so the
    /// scheduler's retry or the next run picks the events up.
    pub async fn run(&self) -> Result<ReplaySummary, DbError> {
        let client = self.db.client().await?;
        let filter = ReplayFilter { limit: Some(self.max_events), ..ReplayFilter::default() };
        let summary = replay(&client, &filter, |_, _| {}).await?;
        tracing::info!(
            processed = summary.processed,
            stale = summary.stale,
            ignored = summary.ignored,
            duplicate = summary.duplicate,
            failed = summary.failed,
            "replay run finished"
        );
        Ok(summary)
    }
}
