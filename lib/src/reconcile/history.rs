//! The runs on record and what each changed, as operators read them
//! (`clerk-sync status`, `clerk-sync reconcile-changes`) and, reduced to
//! counts, the sync-status page.

use crate::db::Client;
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::types::Type;
use tokio_postgres::Row;

use super::counts::Report;
use crate::{db::DbError, timestamp};

/// One run as `clerk_reconcile_runs` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub id: i64,
    /// `cli` or `schedule`.
    pub trigger: String,
    pub dry_run: bool,
    /// `running`, `suspended`, `completed`, `failed` or `abandoned`.
    pub state: String,
    /// Every listing was read to its end, cleanly, and absences acted on.
    pub complete: bool,
    /// What it found (so far, for a run not finished); in a dry run, what
    /// would have changed.
    pub counts: Report,
    /// Over every invocation of the run.
    pub api_requests: i64,
    pub api_ms: i64,
    pub db_ms: i64,
    /// Why it failed or was abandoned, or why it is not complete.
    pub error: Option<String>,
    pub started_at: String,
    /// `None` while it runs or is suspended.
    pub finished_at: Option<String>,
}

/// One row a run changed (or, in a dry run, would have), and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRow {
    /// `user`, `organization`, `membership`, `permission`, `role`, `domain`
    /// or `invitation`.
    pub kind: String,
    pub clerk_id: String,
    /// `created`, `updated` or `deleted`.
    pub action: String,
    /// The Clerk clock the row took (none for deletions).
    pub clerk_updated_ms: Option<i64>,
    pub at: String,
}

impl ChangeRow {
    /// Why the run changed the row.
    pub fn reason(&self) -> &'static str {
        reason(&self.action)
    }
}

/// Why a run takes an action: `created`, absent from the mirror; `updated`,
/// Clerk's copy was newer; `deleted`, absent from Clerk's complete listing.
pub fn reason(action: &str) -> &'static str {
    match action {
        "created" => "absent from the mirror",
        "updated" => "Clerk's copy was newer",
        "deleted" => "absent from Clerk's complete listing",
        _ => "",
    }
}

const RUN_COLUMNS: &str = "id, trigger, dry_run, state, complete, counts, api_requests, api_ms, db_ms, error, \
                           started_at, finished_at";

fn summary(row: &Row) -> RunSummary {
    let dry_run: bool = row.get("dry_run");
    // A run that has written no page yet holds `{}`.
    let counts = serde_json::from_value(row.get::<_, Value>("counts"))
        .unwrap_or_else(|_| Report { dry_run, ..Report::default() });
    RunSummary {
        id: row.get("id"),
        trigger: row.get("trigger"),
        dry_run,
        state: row.get("state"),
        complete: row.get("complete"),
        counts,
        api_requests: row.get("api_requests"),
        api_ms: row.get("api_ms"),
        db_ms: row.get("db_ms"),
        error: row.get("error"),
        started_at: timestamp::column(row, "started_at"),
        finished_at: timestamp::optional(row, "finished_at"),
    }
}

/// The latest `limit` runs, newest first.
pub async fn latest_runs(client: &Client, limit: i64) -> Result<Vec<RunSummary>, DbError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM clerk_reconcile_runs ORDER BY id DESC LIMIT $1");
    let rows = client.query(&(sql.as_str(), &[Type::INT8][..]), &[&limit.clamp(0, 1000)]).await?;
    Ok(rows.iter().map(summary).collect())
}

/// The latest run that was not a dry run: the last time the mirror was
/// (or was being) repaired.
/// Prepared once per connection: the sync-status page reads it with every view.
pub async fn latest_applied(client: &Client) -> Result<Option<RunSummary>, DbError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM clerk_reconcile_runs WHERE NOT dry_run ORDER BY id DESC LIMIT 1");
    let statement = crate::db::statements::prepare(client, &sql, &[]).await?;
    Ok(client.query_opt(&statement, &[]).await?.as_ref().map(summary))
}

/// One run by its id.
pub async fn run(client: &Client, id: i64) -> Result<Option<RunSummary>, DbError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM clerk_reconcile_runs WHERE id = $1");
    Ok(client.query_opt(&(sql.as_str(), &[Type::INT8][..]), &[&id]).await?.as_ref().map(summary))
}

/// The first `limit` rows run `run_id` changed, in the order it changed them.
pub async fn changes(client: &Client, run_id: i64, limit: i64) -> Result<Vec<ChangeRow>, DbError> {
    let sql = "SELECT kind, clerk_id, action, clerk_updated_ms, at FROM clerk_reconcile_changes
               WHERE run_id = $1 ORDER BY id LIMIT $2";
    let rows = client.query(&(sql, &[Type::INT8, Type::INT8][..]), &[&run_id, &limit.max(0)]).await?;
    Ok(rows
        .iter()
        .map(|row| ChangeRow {
            kind: row.get("kind"),
            clerk_id: row.get("clerk_id"),
            action: row.get("action"),
            clerk_updated_ms: row.get("clerk_updated_ms"),
            at: timestamp::column(row, "at"),
        })
        .collect())
}

/// How many rows run `run_id` changed in all.
pub async fn change_count(client: &Client, run_id: i64) -> Result<i64, DbError> {
    let sql = "SELECT count(*) FROM clerk_reconcile_changes WHERE run_id = $1";
    Ok(client.query_one(&(sql, &[Type::INT8][..]), &[&run_id]).await?.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_its_reason() {
        assert_eq!(reason("created"), "absent from the mirror");
        assert_eq!(reason("updated"), "Clerk's copy was newer");
        assert_eq!(reason("deleted"), "absent from Clerk's complete listing");
    }
}
