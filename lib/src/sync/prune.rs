//! Deletes old webhook events that no longer need keeping (`clerk-sync prune`).
//!
//! Only finished events (`processed`, `stale`, `ignored`) received before
//! the cutoff go:
//! `failed` events wait for a fix and a replay, `received` ones were never
//! finished, so both are kept whatever their age. Deleting a processed event
//! is safe for convergence: were Svix to deliver it again, it would be
//! recorded anew and applied under the same clocks, changing nothing.
//!
//! The delete runs in batches, each its own short transaction, oldest first
//! (`clerk_webhook_events_received_at_idx`), so a large table never holds one
//! long transaction or many row locks while deliveries keep arriving; an
//! interrupted run has deleted the oldest rows and can simply run again.
//! Rows are claimed `FOR UPDATE SKIP LOCKED`, so concurrent runs share the
//! work instead of waiting on each other.

use serde::Serialize;
use tokio_postgres::types::Type;

use crate::db::Client;

use time::OffsetDateTime;

use crate::{db::DbError, timestamp::rfc3339};

/// Rows per batch (one transaction each) unless told otherwise.
pub const DEFAULT_BATCH_SIZE: i64 = 1000;

/// Ages beyond this are treated as this: the cutoff must stay a timestamp
/// PostgreSQL can represent.
const MAX_DAYS: u32 = 36_500;

/// What to prune.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Events received more than this many days ago (0: before now).
    pub older_than_days: u32,
    /// Count what would be deleted; delete nothing.
    pub dry_run: bool,
    /// Rows per batch; at least 1.
    pub batch_size: i64,
}

/// What a prune deleted (or, in a dry run, would delete), by status.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub older_than_days: u32,
    /// Events received before this instant were considered (UTC, RFC 3339).
    pub cutoff: String,
    pub processed: u64,
    pub stale: u64,
    pub ignored: u64,
    /// Older than the cutoff but kept: they still need a replay.
    pub kept_failed: u64,
    pub kept_received: u64,
    /// Delete transactions committed.
    pub batches: u64,
}

impl PruneReport {
    pub fn deleted(&self) -> u64 {
        self.processed + self.stale + self.ignored
    }
}

/// Deletes `processed`, `stale` and `ignored` events received more than
/// `older_than_days` days ago, in batches of [`DEFAULT_BATCH_SIZE`]; with
/// `dry_run`, only counts them.
pub async fn prune(client: &Client, older_than_days: u32, dry_run: bool) -> Result<PruneReport, DbError> {
    let options = PruneOptions { older_than_days, dry_run, batch_size: DEFAULT_BATCH_SIZE };
    prune_with(client, &options, |_, _| {}).await
}

/// [`prune`] with a batch size, calling `progress(deleted, found)` before the
/// first batch and after each one: rows deleted so far, and rows found
/// deletable when the run started (for progress bars).
pub async fn prune_with(
    client: &Client,
    options: &PruneOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<PruneReport, DbError> {
    let days = i32::try_from(options.older_than_days.min(MAX_DAYS)).unwrap_or(i32::MAX);
    // The cutoff is fixed once, so the run has one definite end however long it takes.
    let found = crate::db::statements::prepare(
        client,
        "WITH c AS (SELECT now() - make_interval(days => $1) AS cutoff)
             SELECT c.cutoff,
                    count(*) FILTER (WHERE e.status = 'processed'),
                    count(*) FILTER (WHERE e.status = 'stale'),
                    count(*) FILTER (WHERE e.status = 'ignored'),
                    count(*) FILTER (WHERE e.status = 'failed'),
                    count(*) FILTER (WHERE e.status = 'received')
             FROM c LEFT JOIN clerk_webhook_events e ON e.received_at < c.cutoff
             GROUP BY c.cutoff",
        &[Type::INT4],
    )
    .await?;
    let row = client.query_one(&found, &[&days]).await?;
    let cutoff: OffsetDateTime = row.get(0);
    let found = PruneReport {
        dry_run: options.dry_run,
        older_than_days: options.older_than_days,
        cutoff: rfc3339(cutoff),
        processed: count(row.get(1)),
        stale: count(row.get(2)),
        ignored: count(row.get(3)),
        kept_failed: count(row.get(4)),
        kept_received: count(row.get(5)),
        batches: 0,
    };
    if options.dry_run {
        return Ok(found);
    }
    let mut report = PruneReport { processed: 0, stale: 0, ignored: 0, ..found.clone() };
    let found = found.deleted();
    progress(0, found);

    let delete = crate::db::statements::prepare(
        client,
        "WITH batch AS (
                 SELECT id FROM clerk_webhook_events
                 WHERE received_at < $1 AND status IN ('processed', 'stale', 'ignored')
                 ORDER BY received_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED),
             deleted AS (
                 DELETE FROM clerk_webhook_events e USING batch WHERE e.id = batch.id
                 RETURNING e.status)
             SELECT count(*) FILTER (WHERE status = 'processed'), count(*) FILTER (WHERE status = 'stale'),
                    count(*) FILTER (WHERE status = 'ignored')
             FROM deleted",
        &[Type::TIMESTAMPTZ, Type::INT8],
    )
    .await?;
    let batch_size = options.batch_size.max(1);
    loop {
        // One statement: its own transaction, committed before the next batch.
        let row = client.query_one(&delete, &[&cutoff, &batch_size]).await?;
        let (processed, stale, ignored) = (count(row.get(0)), count(row.get(1)), count(row.get(2)));
        if processed + stale + ignored == 0 {
            break;
        }
        report.processed += processed;
        report.stale += stale;
        report.ignored += ignored;
        report.batches += 1;
        progress(report.deleted(), found);
    }
    tracing::info!(
        processed = report.processed,
        stale = report.stale,
        ignored = report.ignored,
        kept_failed = report.kept_failed,
        kept_received = report.kept_received,
        cutoff = %report.cutoff,
        "prune finished"
    );
    Ok(report)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
