//! The run's bookkeeping: the lock, the run row, the ids seen, the changes.
//!
//! The lock is a lease on one row (`clerk_reconcile_lock`), renewed in the
//! transaction of every page a run writes: if the lease lapsed and another
//! run took it, the renewal finds no row and the page is rolled back. It
//! works through a transaction-mode pooler, where a session advisory lock
//! would not.

use std::time::Duration;

use crate::db::Client;
use serde_json::Value;
use tokio_postgres::types::Type;

use crate::db::statements::Prepared as Statement;
use uuid::Uuid;

use super::{checkpoint::Checkpoint, counts::Report, error::ReconcileError, kind::Kind};
use crate::{db::statements::prepare, sync::pages::Changed, timestamp};

/// Runs kept, with their changes; older finished runs are deleted.
const RUNS_KEPT: i64 = 30;
/// A suspended run older than this starts over instead.
const RESUME_WITHIN: &str = "7 days";

const ACQUIRE: (&str, &[Type]) = (
    "
INSERT INTO clerk_reconcile_lock AS l (singleton, holder, expires_at)
VALUES (true, $1, now() + $2::bigint * interval '1 millisecond')
ON CONFLICT (singleton) DO UPDATE SET holder = EXCLUDED.holder, run_id = NULL, expires_at = EXCLUDED.expires_at
WHERE l.expires_at < now()
RETURNING holder",
    &[Type::UUID, Type::INT8],
);

const HOLDER: &str = "SELECT coalesce('run ' || run_id, 'a run starting'), expires_at FROM clerk_reconcile_lock";

const RENEW_TYPES: &[Type] = &[Type::UUID, Type::INT8, Type::INT8];
const RENEW: &str = "
UPDATE clerk_reconcile_lock SET run_id = $3, expires_at = now() + $2::bigint * interval '1 millisecond'
WHERE holder = $1
RETURNING 1";

const RELEASE: (&str, &[Type]) =
    ("UPDATE clerk_reconcile_lock SET expires_at = '-infinity' WHERE holder = $1", &[Type::UUID]);

/// Other runs still `running` or `suspended` (older ones, or of the other
/// dry-run mode) are abandoned, and their seen ids freed; old finished runs
/// go, with their changes (the tables have no foreign key to cascade).
const TIDY: (&str, &[Type]) = (
    "
WITH abandoned AS (
    UPDATE clerk_reconcile_runs
    SET state = 'abandoned', finished_at = now(),
        error = coalesce(error, 'stopped without finishing; a later run started over')
    WHERE state IN ('running', 'suspended') AND id IS DISTINCT FROM $1
    RETURNING id),
freed AS (DELETE FROM clerk_reconcile_seen WHERE run_id IN (SELECT id FROM abandoned)),
old AS (
    DELETE FROM clerk_reconcile_runs
    WHERE state NOT IN ('running', 'suspended')
      AND id NOT IN (SELECT id FROM clerk_reconcile_runs ORDER BY id DESC LIMIT $2)
    RETURNING id),
old_seen AS (DELETE FROM clerk_reconcile_seen WHERE run_id IN (SELECT id FROM old))
DELETE FROM clerk_reconcile_changes WHERE run_id IN (SELECT id FROM old)",
    &[Type::INT8, Type::INT8],
);

/// A run suspended at its deadline, or left `running` by a process that
/// died (killed at the Lambda timeout, interrupted): whoever holds the lock
/// now is the only runner, and its checkpoint is what it last committed.
const RESUMABLE: (&str, &[Type]) = (
    "
SELECT id, counts, checkpoint, api_requests FROM clerk_reconcile_runs
WHERE state IN ('suspended', 'running') AND dry_run = $1 AND started_at > now() - $2::text::interval
ORDER BY id DESC LIMIT 1",
    &[Type::BOOL, Type::TEXT],
);

const RESUME: (&str, &[Type]) = ("UPDATE clerk_reconcile_runs SET state = 'running' WHERE id = $1", &[Type::INT8]);

const CREATE: (&str, &[Type]) = (
    "
INSERT INTO clerk_reconcile_runs (trigger, dry_run) VALUES ($1, $2)
RETURNING id",
    &[Type::TEXT, Type::BOOL],
);

/// The database's clock, in ms: when a listing begins.
const NOW_MS: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

const SEEN: &str = "
INSERT INTO clerk_reconcile_seen (run_id, kind, clerk_id)
SELECT $1, $2, id FROM unnest($3::text[]) AS id
ON CONFLICT DO NOTHING";

const CHANGES: &str = "
INSERT INTO clerk_reconcile_changes (run_id, kind, clerk_id, action, clerk_updated_ms)
SELECT $1, $2, c.clerk_id, c.action, c.clerk_updated_ms
FROM unnest($3::text[], $4::text[], $5::bigint[]) AS c(clerk_id, action, clerk_updated_ms)";

const PROGRESS: &str = "
UPDATE clerk_reconcile_runs SET counts = $2, checkpoint = $3, api_requests = $4 WHERE id = $1";

const FINISH: (&str, &[Type]) = (
    "
UPDATE clerk_reconcile_runs
SET state = $2, complete = $3, counts = $4, checkpoint = $5, api_requests = $6, error = $7,
    api_ms = api_ms + $8, db_ms = db_ms + $9,
    finished_at = CASE WHEN $2 IN ('completed', 'failed') THEN now() END
WHERE id = $1",
    &[Type::INT8, Type::TEXT, Type::BOOL, Type::JSONB, Type::JSONB, Type::INT8, Type::TEXT, Type::INT8, Type::INT8],
);

const FORGET_SEEN: (&str, &[Type]) = ("DELETE FROM clerk_reconcile_seen WHERE run_id = $1", &[Type::INT8]);

/// How a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    /// Stopped before the deadline; the next run goes on from the checkpoint.
    Suspended,
    Failed,
}

impl Ending {
    fn state(self) -> &'static str {
        match self {
            Ending::Completed => "completed",
            Ending::Suspended => "suspended",
            Ending::Failed => "failed",
        }
    }
}

/// What this invocation spent: requests to the Backend API, time waiting
/// on it and on the database.
#[derive(Debug, Default, Clone, Copy)]
pub struct Spent {
    pub requests: u64,
    pub api: Duration,
    pub db: Duration,
}

/// A run this process holds the lock for.
#[derive(Debug)]
pub struct Run {
    pub id: i64,
    pub holder: Uuid,
    pub lease: Duration,
    pub dry_run: bool,
    pub report: Report,
    pub checkpoint: Checkpoint,
    /// Requests made by earlier invocations of a resumed run.
    pub earlier_requests: i64,
    pub resumed: bool,
}

/// The statements every page writes, prepared once per connection: sent
/// in one flight, they must not wait on a prepare of their own.
pub struct Prepared {
    renew: Statement,
    seen: Statement,
    changes: Statement,
    progress: Statement,
}

impl Prepared {
    pub async fn on(client: &Client) -> Result<Self, tokio_postgres::Error> {
        let (renew, seen, changes, progress) = tokio::try_join!(
            prepare(client, RENEW, RENEW_TYPES),
            prepare(client, SEEN, &[Type::INT8, Type::TEXT, Type::TEXT_ARRAY]),
            prepare(client, CHANGES, &[Type::INT8, Type::TEXT, Type::TEXT_ARRAY, Type::TEXT_ARRAY, Type::INT8_ARRAY]),
            prepare(client, PROGRESS, &[Type::INT8, Type::JSONB, Type::JSONB, Type::INT8]),
        )?;
        Ok(Self { renew, seen, changes, progress })
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Takes the lock, then resumes the suspended run or starts a new one.
pub async fn start(client: &Client, trigger: &str, dry_run: bool, lease: Duration) -> Result<Run, ReconcileError> {
    let holder = Uuid::new_v4();
    let acquired = client.query_opt(&ACQUIRE, &[&holder, &millis(lease)]).await?;
    if acquired.is_none() {
        let row = client.query_one(HOLDER, &[]).await?;
        return Err(ReconcileError::Busy { run: row.get(0), until: timestamp::column(&row, "expires_at") });
    }
    match open_run(client, holder, trigger, dry_run, lease).await {
        Ok(run) => Ok(run),
        Err(e) => {
            let _ = client.execute(&RELEASE, &[&holder]).await;
            Err(e)
        }
    }
}

async fn open_run(
    client: &Client,
    holder: Uuid,
    trigger: &str,
    dry_run: bool,
    lease: Duration,
) -> Result<Run, ReconcileError> {
    let resumable = client.query_opt(&RESUMABLE, &[&dry_run, &RESUME_WITHIN]).await?;
    let run = match resumable {
        Some(row) => {
            let id: i64 = row.get(0);
            client.execute(&RESUME, &[&id]).await?;
            Run {
                id,
                holder,
                lease,
                dry_run,
                report: serde_json::from_value(row.get::<_, Value>(1)).unwrap_or_default(),
                checkpoint: serde_json::from_value(row.get::<_, Value>(2)).unwrap_or_default(),
                earlier_requests: row.get(3),
                resumed: true,
            }
        }
        None => {
            let id: i64 = client.query_one(&CREATE, &[&trigger, &dry_run]).await?.get(0);
            Run {
                id,
                holder,
                lease,
                dry_run,
                report: Report { dry_run, ..Report::default() },
                checkpoint: Checkpoint::default(),
                earlier_requests: 0,
                resumed: false,
            }
        }
    };
    client.execute(&TIDY, &[&run.id, &RUNS_KEPT]).await?;
    client.execute(&(RENEW, RENEW_TYPES), &[&holder, &millis(lease), &run.id]).await?;
    Ok(run)
}

/// The database's clock now, in ms.
pub async fn now_ms(client: &Client) -> Result<i64, ReconcileError> {
    Ok(client.query_one(NOW_MS, &[]).await?.get(0))
}

impl Run {
    /// Renews the lease; in a page's first flight. Fails with
    /// [`ReconcileError::LockLost`] once the transaction is rolled back.
    pub async fn renew(&self, client: &Client, prepared: &Prepared) -> Result<(), ReconcileError> {
        let renewed = client.query(&prepared.renew, &[&self.holder, &millis(self.lease), &self.id]).await?;
        if renewed.is_empty() {
            return Err(ReconcileError::LockLost);
        }
        Ok(())
    }

    /// Records the ids a page returned; in a page's last flight.
    pub async fn seen(
        &self,
        client: &Client,
        prepared: &Prepared,
        kind: Kind,
        ids: &[String],
    ) -> Result<(), tokio_postgres::Error> {
        client.execute(&prepared.seen, &[&self.id, &kind.singular(), &ids]).await.map(drop)
    }

    /// Records what changed (or would have); in a page's last flight.
    pub async fn changes(
        &self,
        client: &Client,
        prepared: &Prepared,
        kind: Kind,
        changed: &[Changed],
        deleted: bool,
    ) -> Result<(), tokio_postgres::Error> {
        if changed.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = changed.iter().map(|c| c.clerk_id.as_str()).collect();
        let action = |c: &Changed| match (deleted, c.created) {
            (true, _) => "deleted",
            (false, true) => "created",
            (false, false) => "updated",
        };
        let actions: Vec<&str> = changed.iter().map(action).collect();
        let clocks: Vec<Option<i64>> = changed.iter().map(|c| c.clerk_updated_ms).collect();
        client.execute(&prepared.changes, &[&self.id, &kind.singular(), &ids, &actions, &clocks]).await.map(drop)
    }

    /// Saves the counts and the checkpoint; in a page's last flight.
    pub async fn save(&self, client: &Client, prepared: &Prepared, requests: u64) -> Result<(), tokio_postgres::Error> {
        let (counts, checkpoint) = self.json();
        let requests = self.earlier_requests + i64::try_from(requests).unwrap_or(i64::MAX);
        client.execute(&prepared.progress, &[&self.id, &counts, &checkpoint, &requests]).await.map(drop)
    }

    fn json(&self) -> (Value, Value) {
        (
            serde_json::to_value(&self.report).unwrap_or(Value::Null),
            serde_json::to_value(&self.checkpoint).unwrap_or(Value::Null),
        )
    }

    /// Records how the run ended and lets the lock go. A finished run's seen
    /// ids are freed; a suspended run keeps them for the next invocation.
    pub async fn finish(
        &self,
        client: &Client,
        ending: Ending,
        spent: &Spent,
        error: Option<&str>,
    ) -> Result<(), tokio_postgres::Error> {
        let requests = spent.requests;
        let (counts, checkpoint) = self.json();
        let requests = self.earlier_requests + i64::try_from(requests).unwrap_or(i64::MAX);
        let (state, complete) = (ending.state(), self.report.complete);
        crate::db::statements::begin(client).await?;
        let result = async {
            let (api_ms, db_ms) = (millis(spent.api), millis(spent.db));
            client
                .execute(
                    &FINISH,
                    &[&self.id, &state, &complete, &counts, &checkpoint, &requests, &error, &api_ms, &db_ms],
                )
                .await?;
            if ending != Ending::Suspended {
                client.execute(&FORGET_SEEN, &[&self.id]).await?;
            }
            client.execute(&RELEASE, &[&self.holder]).await?;
            crate::db::statements::commit(client).await
        }
        .await;
        if result.is_err() {
            crate::db::statements::rollback(client).await;
        }
        result
    }
}
