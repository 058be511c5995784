//! Every way `dev` fails. None prints a secret.

use std::io;

use clerk_sync::{config::ConfigError, db::migrate::MigrateError};

use super::key::DevKeyError;
use crate::{error::Failure, send::SendError};

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),

    #[error("cannot listen for Ctrl-C: {0}")]
    Signal(io::Error),

    #[error(
        "DATABASE_URL is not set and no PostgreSQL server binaries (initdb, pg_ctl) were found through \
         pg_config --bindir, PATH or /usr/lib/postgresql/*/bin: install them (Debian/Ubuntu: apt-get install \
         postgresql; macOS: brew install postgresql) or set DATABASE_URL to a server where you may create tables"
    )]
    NoPostgres,

    /// Initializing, starting or stopping the local cluster.
    #[error(transparent)]
    Postgres(local_postgres::Error),

    #[error(
        "cannot connect to PostgreSQL at {target}: {reason}. Check that it is running and DATABASE_URL's host, \
         port, user, password and database; or unset DATABASE_URL to let clerk-sync dev run a local cluster"
    )]
    Database { target: String, reason: String },

    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("applying the migrations failed: {0}; fix the cause and start clerk-sync dev again")]
    Migrate(#[from] MigrateError),

    #[error("port {port} on 127.0.0.1 is in use (another clerk-sync dev?): stop that process or pass --port, e.g. --port 3001")]
    PortInUse { port: u16 },

    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Listen { port: u16, source: io::Error },

    #[error("--seed: {0}")]
    Seed(SendError),

    #[error(transparent)]
    Key(DevKeyError),
}

impl From<local_postgres::Error> for DevError {
    fn from(error: local_postgres::Error) -> Self {
        match error {
            local_postgres::Error::NotInstalled => DevError::NoPostgres,
            error => DevError::Postgres(error),
        }
    }
}

impl Failure for DevError {
    fn hint(&self) -> Option<String> {
        use local_postgres::Error as Pg;
        let hint = match self {
            DevError::Postgres(Pg::NotADataDir { .. }) => {
                "pass --data-dir (or CLERK_SYNC_DEV_DIR) to keep the local cluster elsewhere"
            }
            DevError::Postgres(Pg::Unreachable { .. }) => {
                "pass --data-dir /tmp/clerk-sync-dev, run as a normal user, or set DATABASE_URL"
            }
            DevError::Postgres(Pg::Quote { .. }) => "pass --data-dir with a plainer path",
            DevError::Postgres(_) => "or set DATABASE_URL to a server where you may create tables",
            _ => return None,
        };
        Some(hint.to_string())
    }
}
