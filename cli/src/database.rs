//! The database the operator commands work on: `--database-url`,
//! `DATABASE_URL`, the secret `DATABASE_URL_SECRET_ARN` names, or a running
//! `clerk-sync dev`'s; and how a URL is described without its password.

use std::{error::Error, io, path::PathBuf, str::FromStr};

use clap::Args;
use clerk_sync::{
    config::{Env, Source},
    ConfigError,
};
use tokio_postgres::{config::Host, Config};

use crate::devdir;

/// The database to work on.
#[derive(Debug, Args)]
pub struct Database {
    /// PostgreSQL connection string (prefer the environment variable: command
    /// lines are visible to other users). Never printed.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<String>,
}

impl Database {
    pub fn url(&self) -> Result<String, DatabaseError> {
        database_url(self.database_url.as_deref())
    }
}

/// Finding and reaching the database. None prints the URL.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
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

    /// A bad `sslmode`, `PGSSLMODE` or `PGSSLROOTCERT`, or the secret could not be fetched.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The cause (tokio-postgres's, or the pool's timeout) is the source: printed by `main`.
    #[error("cannot connect to PostgreSQL at {target}")]
    Connect { target: String, source: Box<dyn Error + Send + Sync> },

    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
}

/// What to check when the server could not be reached.
pub const CONNECT_HINT: &str = "check that the server is running and the URL's host, port, user, password and \
                                database name; a TLS error means the server's certificate is not trusted: set \
                                PGSSLROOTCERT to its CA bundle";

impl DatabaseError {
    pub fn hint(&self) -> Option<String> {
        match self {
            DatabaseError::Connect { .. } => Some(CONNECT_HINT.to_string()),
            _ => None,
        }
    }
}

/// `--database-url`/`DATABASE_URL`, else the secret `DATABASE_URL_SECRET_ARN`
/// names, fetched as the functions fetch it (the environment's AWS
/// credentials and region), so the deploy and operators can name the
/// secret rather than copy its value; else, while `clerk-sync dev` runs,
/// its database (the file it keeps in its folder), said on standard error.
pub fn database_url(given: Option<&str>) -> Result<String, DatabaseError> {
    if let Some(url) = given.filter(|u| !u.trim().is_empty()) {
        return Ok(url.to_string());
    }
    if DATABASE_SECRET.get("DATABASE_URL_SECRET_ARN").is_none() {
        let dir = devdir::dev_dir(Env.get("CLERK_SYNC_DEV_DIR").map(PathBuf::from).as_deref());
        return match devdir::running_database(&dir) {
            Some((url, file)) => {
                eprintln!(
                    "note: DATABASE_URL is not set: using the dev stack's database from {}",
                    devdir::display_path(&file)
                );
                Ok(url)
            }
            None => Err(DatabaseError::MissingDatabaseUrl),
        };
    }
    let runtime = crate::runtime::current_thread().map_err(DatabaseError::Runtime)?;
    let resolved = runtime.block_on(clerk_sync::aws::secrets::load(DATABASE_SECRET))?;
    resolved.get("DATABASE_URL").ok_or(DatabaseError::MissingDatabaseUrl)
}

/// The environment without the other `*_ARN` variables: the commands that
/// take a database fetch that secret only.
const DATABASE_SECRET: clerk_sync::aws::secrets::OnlyArn = clerk_sync::aws::secrets::OnlyArn("DATABASE_URL_SECRET_ARN");

/// `user@host:port/db` for a connection string: never the password.
pub fn describe_url(url: &str) -> String {
    Config::from_str(url).map(|config| describe(&config)).unwrap_or_else(|_| "DATABASE_URL".to_string())
}

/// `user@host:port/db`, for messages: everything but the password.
pub fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let hosts = if hosts.is_empty() { "localhost".to_string() } else { hosts.join(",") };
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    let port = if ports.is_empty() { "5432".to_string() } else { ports.join(",") };
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = config.get_dbname().map(|d| format!("/{d}")).unwrap_or_default();
    format!("{user}{hosts}:{port}{db}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_target_without_the_password() {
        let config = match Config::from_str("postgres://app:s3cr3t@db.internal:6432/clerk") {
            Ok(config) => config,
            Err(e) => panic!("valid URL refused: {e}"),
        };
        assert_eq!(describe(&config), "app@db.internal:6432/clerk");
    }
}
