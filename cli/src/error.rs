//! Every way a command fails. Each message says what is wrong and how to fix
//! it, and none prints a secret: neither the database URL (it holds a
//! password) nor a signing secret.

use std::{error::Error, io, path::PathBuf};

use clerk_sync::{db::migrate::MigrateError, db::DbError, ids::InvalidId, ConfigError};
use tokio_postgres::error::SqlState;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "DATABASE_URL is not set: set DATABASE_URL or pass --database-url \
         (e.g. postgres://user:password@localhost:5432/app), or name its secret in DATABASE_URL_SECRET_ARN; \
         while clerk-sync dev runs, the commands use its database"
    )]
    MissingDatabaseUrl,

    #[error(
        "DATABASE_URL (or --database-url) is not a PostgreSQL connection string: \
         expected postgres://user:password@host:port/db or key=value pairs (host=… user=… dbname=…)"
    )]
    InvalidDatabaseUrl,

    /// A bad `sslmode`, `PGSSLMODE` or `PGSSLROOTCERT`.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The cause (tokio-postgres's, or the pool's timeout) is the source: printed by [`report`].
    #[error("cannot connect to PostgreSQL at {target}")]
    Connect { target: String, source: Box<dyn Error + Send + Sync> },

    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),

    #[error(transparent)]
    Migrate(#[from] MigrateError),

    #[error("cannot read the payload {}: {source}", path.display())]
    ReadPayload { path: PathBuf, source: io::Error },

    #[error(
        "the payload {} is not UTF-8 text: Svix signs text bodies; pass a Clerk JSON payload \
         such as events/payloads/user.created.json",
        path.display()
    )]
    PayloadNotUtf8 { path: PathBuf },

    #[error(
        "the signing secret from {origin} is not a Svix signing secret: expected whsec_ followed by padded \
         base64; copy it from the Clerk dashboard (Webhooks → your endpoint → Signing Secret), \
         or unset it to sign with the development secret"
    )]
    InvalidSecret { origin: &'static str },

    #[error("--svix-id is invalid: {0} (e.g. msg_2pQm7ZtR4eLw9NcB1xVk6HsYuJa)")]
    InvalidSvixId(InvalidId),

    #[error("--path {0:?} is invalid: it must start with '/' and contain no '?', '#' or whitespace (e.g. /webhooks)")]
    InvalidPath(String),

    #[error("cannot sign the payload: {0}")]
    Sign(svix::webhooks::WebhookError),

    #[error("cannot serialize the event: {0}")]
    Serialize(serde_json::Error),

    #[error("cannot write the event to {}: {source}", path.display())]
    WriteOutput { path: PathBuf, source: io::Error },

    #[error("cannot write the event to standard output: {0}")]
    WriteStdout(io::Error),

    #[error(transparent)]
    Send(#[from] crate::send::SendError),

    #[error(transparent)]
    Dev(#[from] crate::dev::DevError),

    /// A query of `what` failed; the source holds PostgreSQL's message.
    #[error("{what} failed")]
    Query { what: &'static str, source: DbError },

    #[error("prune deletes events, which the functions' least-privilege role may not do")]
    PruneNotAllowed(#[source] DbError),

    #[error("re-encrypting credentials failed")]
    Rotate(#[source] clerk_sync::seller_accounts::StoreError),

    #[error(transparent)]
    DevKey(#[from] crate::devkey::DevKeyError),

    #[error("--since is not a time PostgreSQL understands (e.g. 2026-11-30 or 2026-11-30T12:00:00Z)")]
    InvalidSince,

    #[cfg(feature = "bench")]
    #[error("{0}")]
    BenchUsage(&'static str),

    #[cfg(feature = "bench")]
    #[error("the benchmark run failed")]
    Bench(#[source] clerk_sync_bench::BenchError),

    #[cfg(feature = "bench")]
    #[error("over the latency budget (--check): {0}")]
    OverBudget(String),
}

impl CliError {
    /// What to do about it, when the message alone does not say.
    pub fn hint(&self) -> Option<&'static str> {
        const CONNECT: &str = "check that the server is running and the URL's host, port, user, password and \
                               database name; a TLS error means the server's certificate is not trusted: set \
                               PGSSLROOTCERT to its CA bundle";
        match self {
            CliError::Connect { .. } | CliError::Query { source: DbError::Unavailable(_), .. } => Some(CONNECT),
            CliError::Query { source, .. } => Some(query_hint(source)),
            CliError::PruneNotAllowed(_) => Some(
                "run it with the owner's DATABASE_URL (the one clerk-sync migrate uses) or as the clerk_sync_prune \
                 role (docs/least-privilege.sql)",
            ),
            CliError::Migrate(MigrateError::Failed { .. }) => Some(
                "the failed migration was rolled back and nothing after it ran; fix the cause, then run \
                 clerk-sync migrate again",
            ),
            CliError::Migrate(MigrateError::Db(_)) => {
                Some("check that the database user may create tables and take advisory locks, then run it again")
            }
            #[cfg(feature = "bench")]
            CliError::Bench(_) => Some(
                "the benchmark needs PostgreSQL: TEST_DATABASE_URL (or DATABASE_URL) naming a server where the user \
                 may CREATE DATABASE, or, with neither set, the PostgreSQL server binaries for a throwaway cluster",
            ),
            #[cfg(feature = "bench")]
            CliError::OverBudget(_) => Some(
                "the ratio depends on the build and the machine's load: measure a --release build on an idle \
                 machine; BENCHMARKS.md explains the recorded misses and what would close them",
            ),
            _ => None,
        }
    }
}

/// What to check when PostgreSQL refused a query, by its SQLSTATE.
fn query_hint(error: &DbError) -> &'static str {
    let state = error.sql_state();
    if state == Some(&SqlState::UNDEFINED_TABLE)
        || state == Some(&SqlState::UNDEFINED_COLUMN)
        || state == Some(&SqlState::UNDEFINED_FUNCTION)
        || matches!(error, DbError::Schema(_))
    {
        "the schema is missing or older than this clerk-sync: run clerk-sync migrate on this database \
         (or check that the URL names the right database)"
    } else if state == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        "the database user may not do this: use the owner's DATABASE_URL (the one clerk-sync migrate uses), \
         or grant what docs/least-privilege.sql grants"
    } else if state.is_some_and(|s| s.code().starts_with("57") || s.code().starts_with("08")) {
        "the server closed the connection or is shutting down: check that it is running, then run the command again"
    } else {
        "the message after \"failed:\" is PostgreSQL's own; check that the URL names the clerk-sync database \
         and that clerk-sync migrate has run"
    }
}

/// The error and its causes on one line (see [`clerk_sync::error_chain`]).
pub fn report(error: &dyn Error) -> String {
    clerk_sync::error_chain(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Msg(&'static str, #[source] Option<Box<Msg>>);

    #[test]
    fn reports_every_new_cause_once() {
        let inner = Msg("Connection refused (os error 111)", None);
        let middle = Msg("error connecting to server", Some(Box::new(inner)));
        let outer = Msg("cannot connect to PostgreSQL at app@localhost:5432/app", Some(Box::new(middle)));
        assert_eq!(
            report(&outer),
            "cannot connect to PostgreSQL at app@localhost:5432/app: error connecting to server: \
             Connection refused (os error 111)"
        );
        let repeated = Msg("migration 0001 failed: db error", Some(Box::new(Msg("db error", None))));
        assert_eq!(report(&repeated), "migration 0001 failed: db error");
    }
}
