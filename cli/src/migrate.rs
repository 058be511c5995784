//! `clerk-sync migrate`: the library's migrations over one connection, with
//! the same TLS as the functions (`sslmode`, `PGSSLMODE`, `PGSSLROOTCERT`).

use std::time::Duration;

use clap::Args;
use clerk_sync::{
    config::Env,
    db::migrate::{MigrateError, MigrationReport, MIGRATIONS},
    db::tls::{ConnectionString, Target, TlsSettings, UrlError},
};

use crate::{
    database::{self, DatabaseError},
    error::Failure,
};

/// Apply pending schema migrations to DATABASE_URL.
///
/// Safe to run at any time and from several places at once: the run holds an
/// advisory lock, and an up-to-date database costs one query. Migrations that
/// were applied and then changed or removed stop the run.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// PostgreSQL connection string, e.g. postgres://user:password@localhost:5432/app
    /// (prefer the environment variable: command lines are visible to other users). Never printed.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<String>,
}

/// Every way `migrate` fails.
#[derive(Debug, thiserror::Error)]
pub enum MigrateCommandError {
    #[error(transparent)]
    Database(#[from] DatabaseError),

    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

impl Failure for MigrateCommandError {
    fn hint(&self) -> Option<String> {
        match self {
            MigrateCommandError::Database(e) => e.hint(),
            MigrateCommandError::Migrate(MigrateError::Failed { .. }) => Some(
                "the failed migration was rolled back and nothing after it ran; fix the cause, then run \
                 clerk-sync migrate again"
                    .into(),
            ),
            MigrateCommandError::Migrate(MigrateError::Db(_)) => {
                Some("check that the database user may create tables and take advisory locks, then run it again".into())
            }
            _ => None,
        }
    }
}

pub fn run(args: MigrateArgs) -> Result<(), MigrateCommandError> {
    let url = database::database_url(args.database_url.as_deref())?;
    let runtime = crate::runtime::current_thread().map_err(DatabaseError::Runtime)?;
    let report = runtime.block_on(apply(&url))?;
    if report.applied.is_empty() {
        println!("up to date: all {} migrations were already applied", MIGRATIONS.len());
    } else {
        for name in &report.applied {
            println!("applied {name}");
        }
        println!("applied {} of {} migrations; the database is up to date", report.applied.len(), MIGRATIONS.len());
    }
    Ok(())
}

/// Applies the pending migrations to the database at `url`.
pub async fn apply(url: &str) -> Result<MigrationReport, MigrateCommandError> {
    let parsed = ConnectionString::parse(url).map_err(|e| match e {
        UrlError::Syntax => DatabaseError::InvalidDatabaseUrl,
        e => DatabaseError::Config(e.into()),
    })?;
    let tls = TlsSettings::from_source(&Env).map_err(DatabaseError::Config)?;
    let mut target = Target::new(parsed, &tls).map_err(DatabaseError::Config)?;
    let config = &mut target.config;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("clerk-sync-cli");
    }
    let mut client = target
        .connect()
        .await
        .map_err(|e| DatabaseError::Connect { target: database::describe(&target.config), source: e.into() })?;
    Ok(clerk_sync::db::migrate::run(&mut client).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_url_is_reported_without_its_contents() {
        let message = match apply("postgres://app:s3cr3t@host:notaport/db").await {
            Ok(_) => panic!("an invalid URL migrates"),
            Err(e) => e.to_string(),
        };
        assert!(message.contains("DATABASE_URL"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}
