//! Embedded schema migrations with checksums and an advisory lock.
//!
//! - Each `migrations/NNNN_name.sql` file and its history row commit in one
//!   transaction.
//! - An applied file that changed or went missing stops the run: the schema
//!   would no longer match the code.
//! - Each migration's transaction takes a transaction-level advisory lock
//!   and reads the history again under it, so concurrent cold starts and a
//!   deploy never race; the losers wait, then find nothing to do. Nothing
//!   outlives a transaction (no session lock, no session `SET`), so a run
//!   through a transaction pooler is safe too.
//! - Up to date is the common case and costs one query, without the lock.

use sha2::{Digest, Sha256};
use tokio_postgres::{error::SqlState, types::Type, Client, GenericClient, SimpleQueryMessage, Transaction};

/// One embedded migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// History table. Named for the project so it never clashes with an app's own.
const HISTORY_TABLE: &str = "clerk_sync_migrations";
/// Advisory lock key: the first 8 bytes of sha256("clerk-sync:migrations").
const LOCK_KEY: i64 = 0x1c5e_7a3d_90b2_4f61;

/// Takes the migrations' lock for the rest of the transaction. Waiting for
/// another run's lock, and a long migration, are expected here: it lifts
/// the bounds the functions set, for this transaction only.
fn lock_sql() -> String {
    format!("SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0; SELECT pg_advisory_xact_lock({LOCK_KEY})")
}

/// A transaction under the migrations' lock: schema changes made in it
/// never run beside another run's.
pub(super) async fn locked(client: &mut Client) -> Result<Transaction<'_>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute(&lock_sql()).await?;
    Ok(tx)
}

impl Migration {
    pub fn checksum(&self) -> String {
        Sha256::digest(self.sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration {version} ({name}) was changed after it was applied; add a new migration instead")]
    Changed { version: i64, name: String },
    #[error("migration {version} ({name}) is applied in the database but missing from this build; deploy a build that has it")]
    Missing { version: i64, name: String },
    #[error("migration {name} failed: {source}")]
    Failed { name: &'static str, source: tokio_postgres::Error },
    #[error("creating the event routines failed: {0}")]
    Routines(#[source] tokio_postgres::Error),
    #[error("database error while migrating: {0}")]
    Db(#[from] tokio_postgres::Error),
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<&'static str>,
    /// The event routines created ([`super::routines`]).
    pub routines: Vec<String>,
}

/// Applies pending migrations; a no-op (one query) when up to date.
pub async fn run(client: &mut Client) -> Result<MigrationReport, MigrateError> {
    run_set(client, MIGRATIONS).await
}

/// `run` over an explicit set (tests use it to simulate edited or removed files).
pub async fn run_set(client: &mut Client, migrations: &'static [Migration]) -> Result<MigrationReport, MigrateError> {
    match applied_history(client).await {
        Ok(history) => {
            if pending(&history, migrations)?.is_empty() {
                return Ok(MigrationReport { applied: Vec::new(), routines: Vec::new() });
            }
        }
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {}
        Err(e) => return Err(e.into()),
    }
    let mut applied = Vec::new();
    while let Some(name) = apply_next(client, migrations).await? {
        tracing::info!(migration = name, "applied migration");
        applied.push(name);
    }
    Ok(MigrationReport { applied, routines: Vec::new() })
}

/// Applies the first pending migration, if any, in one transaction under
/// the lock: its name.
async fn apply_next(
    client: &mut Client,
    migrations: &'static [Migration],
) -> Result<Option<&'static str>, MigrateError> {
    let tx = client.transaction().await?;
    // The lock and the history table in one message.
    tx.batch_execute(&format!(
        "{};
         CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
             version    bigint PRIMARY KEY,
             name       text NOT NULL,
             checksum   text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
        lock_sql()
    ))
    .await?;
    // Read again under the lock: another process may have just migrated.
    let history = applied_history(&tx).await?;
    let Some(migration) = pending(&history, migrations)?.into_iter().next() else {
        tx.commit().await?;
        return Ok(None);
    };
    tx.batch_execute(migration.sql).await.map_err(|source| MigrateError::Failed { name: migration.name, source })?;
    // Unnamed: nothing of it outlives the transaction.
    tx.query_typed(
        &format!("INSERT INTO {HISTORY_TABLE} (version, name, checksum) VALUES ($1, $2, $3)"),
        &[(&migration.version, Type::INT8), (&migration.name, Type::TEXT), (&migration.checksum(), Type::TEXT)],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(migration.name))
}

struct Applied {
    version: i64,
    name: String,
    checksum: String,
}

/// The history, read with the simple protocol: one round trip, no prepare.
async fn applied_history(client: &impl GenericClient) -> Result<Vec<Applied>, tokio_postgres::Error> {
    let messages =
        client.simple_query(&format!("SELECT version, name, checksum FROM {HISTORY_TABLE} ORDER BY version")).await?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(Applied {
                // The columns are NOT NULL and version is a bigint: a row that
                // fails to parse cannot match any migration and is reported.
                version: row.get(0).and_then(|v| v.parse().ok()).unwrap_or(-1),
                name: row.get(1).unwrap_or_default().to_string(),
                checksum: row.get(2).unwrap_or_default().to_string(),
            }),
            _ => None,
        })
        .collect())
}

/// The migrations still to apply, after checking the applied ones are intact.
fn pending(history: &[Applied], migrations: &'static [Migration]) -> Result<Vec<&'static Migration>, MigrateError> {
    for applied in history {
        match migrations.iter().find(|m| m.version == applied.version) {
            None => return Err(MigrateError::Missing { version: applied.version, name: applied.name.clone() }),
            Some(m) if m.checksum() != applied.checksum => {
                return Err(MigrateError::Changed { version: m.version, name: m.name.to_string() })
            }
            Some(_) => {}
        }
    }
    Ok(migrations.iter().filter(|m| history.iter().all(|a| a.version != m.version)).collect())
}
