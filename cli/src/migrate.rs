//! `clerk-sync migrate`: the library's migrations and event routines over
//! one connection, with the same TLS as the functions (`sslmode`,
//! `PGSSLMODE`, `PGSSLROOTCERT`).

use std::time::Duration;

use clap::Args;
use clerk_sync::{
    config::Env,
    db::migrate::{MigrateError, MIGRATIONS},
    db::tls::{ConnectionString, Target, TlsSettings, UrlError},
    db::Pooler,
};

use crate::{
    database::{self, DatabaseError},
    error::Failure,
};

/// Apply pending schema migrations to MIGRATION_DATABASE_URL, else DATABASE_URL,
/// and create the event routines this build calls behind a transaction pooler.
///
/// Safe to run at any time and from several places at once: each migration
/// runs in one transaction under a transaction-level advisory lock, and an
/// up-to-date database costs a few queries. Run it before deploying a new
/// build: with DB_POOLER=transaction the functions call routines named for
/// their own statements, which only this command creates. Migrations that were applied and
/// then changed or removed stop the run. Behind a transaction pooler
/// (PgBouncer, RDS Proxy), set MIGRATION_DATABASE_URL to a direct connection.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// PostgreSQL connection string, e.g. postgres://user:password@localhost:5432/app
    /// (prefer the environment variable: command lines are visible to other users). Never printed.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<String>,
    /// A direct connection for migrations (the tables' owner, beside any
    /// pooler), used instead of DATABASE_URL when set. Never printed.
    #[arg(long, env = "MIGRATION_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    migration_database_url: Option<String>,
    /// Also drop the event routines of earlier builds. Only once no instance
    /// of an earlier build runs (after a deploy has settled): they call theirs.
    #[arg(long)]
    drop_old_routines: bool,
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
            MigrateCommandError::Migrate(MigrateError::Routines(_)) => Some(
                "the migrations were applied; check that the database user may create functions in the schema, then \
                 run clerk-sync migrate again"
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
    let url = match args.migration_database_url.filter(|u| !u.trim().is_empty()) {
        Some(url) => {
            eprintln!("note: migrating over MIGRATION_DATABASE_URL ({})", database::describe_url(&url));
            url
        }
        None => {
            let url = database::database_url(args.database_url.as_deref())?;
            if Pooler::from_source(&Env).is_ok_and(|p| p == Pooler::Transaction) {
                eprintln!(
                    "{}",
                    through_pooler_note("DB_POOLER=transaction says DATABASE_URL goes through a transaction pooler")
                );
            } else if looks_like_rds_proxy(&url) {
                eprintln!("{}", through_pooler_note("DATABASE_URL names an RDS Proxy endpoint"));
            }
            url
        }
    };
    let runtime = crate::runtime::current_thread().map_err(DatabaseError::Runtime)?;
    let (report, dropped) = runtime.block_on(async {
        let mut client = connect(&url).await?;
        let report = clerk_sync::sync::schema::migrate(&mut client).await?;
        let dropped = match args.drop_old_routines {
            true => clerk_sync::db::routines::drop_others(&mut client, &clerk_sync::sync::statements::routines())
                .await
                .map_err(MigrateError::Routines)?,
            false => Vec::new(),
        };
        Ok::<_, MigrateCommandError>((report, dropped))
    })?;
    if report.applied.is_empty() {
        println!("up to date: all {} migrations were already applied", MIGRATIONS.len());
    } else {
        for name in &report.applied {
            println!("applied {name}");
        }
        println!("applied {} of {} migrations; the database is up to date", report.applied.len(), MIGRATIONS.len());
    }
    if !report.routines.is_empty() {
        println!("created {} event routines for this build", report.routines.len());
    }
    if args.drop_old_routines {
        println!("dropped {} event routines of earlier builds", dropped.len());
    }
    Ok(())
}

/// The migration connection to `url`: no timeouts, and the same TLS as the functions.
async fn connect(url: &str) -> Result<tokio_postgres::Client, MigrateCommandError> {
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
    // Migrations may wait for a lock and run long: no timeouts, as startup
    // options, which also tells a PgBouncer (it refuses them) from a server.
    let plain = config.clone();
    if config.get_options().is_none() {
        config.options("-c lock_timeout=0 -c statement_timeout=0");
    }
    let client = match target.connect().await {
        Ok(client) => client,
        Err(e) if refuses_startup_options(&e) => {
            eprintln!("{}", through_pooler_note("the server refused startup options, as PgBouncer does"));
            target.config = plain;
            target
                .connect()
                .await
                .map_err(|e| DatabaseError::Connect { target: database::describe(&target.config), source: e.into() })?
        }
        Err(e) => {
            return Err(DatabaseError::Connect { target: database::describe(&target.config), source: e.into() }.into())
        }
    };
    Ok(client)
}

/// PgBouncer's answer to a startup parameter it does not pass on.
fn refuses_startup_options(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| db.message().contains("unsupported startup parameter"))
}

/// An RDS Proxy endpoint: `<name>.proxy-<id>.<region>.rds.amazonaws.com`.
fn looks_like_rds_proxy(url: &str) -> bool {
    ConnectionString::parse(url).is_ok_and(|c| {
        c.config.get_hosts().iter().any(|host| match host {
            tokio_postgres::config::Host::Tcp(host) => host.contains(".proxy-") && host.ends_with(".rds.amazonaws.com"),
            _ => false,
        })
    })
}

fn through_pooler_note(why: &str) -> String {
    format!(
        "note: {why}: migrating through it, each migration in one transaction under a transaction-level lock \
         (nothing outlives a transaction); set MIGRATION_DATABASE_URL to a direct connection to migrate beside the pooler"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_url_is_reported_without_its_contents() {
        let message = match connect("postgres://app:s3cr3t@host:notaport/db").await {
            Ok(_) => panic!("an invalid URL migrates"),
            Err(e) => e.to_string(),
        };
        assert!(message.contains("DATABASE_URL"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}
