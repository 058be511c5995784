//! The connection pool: deadpool-postgres's manager, wrapped so each
//! connection knows whether a transaction pooler (PgBouncer in transaction
//! mode, RDS Proxy) stands between it and PostgreSQL, and so how its
//! statements must travel (see [`crate::db::statements`]).

use std::{
    ops::Deref,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use deadpool::managed::{self, Metrics, RecycleResult};
use deadpool_postgres::ClientWrapper;
use tokio_postgres::Error;

use crate::config::{ConfigError, Source};

/// What stands between the functions and PostgreSQL (`DB_POOLER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooler {
    /// A direct connection, or a session-mode pooler: one server session
    /// per connection, so named prepared statements are cached per
    /// connection and the timeouts are startup options.
    #[default]
    None,
    /// A transaction pooler: consecutive transactions of one connection
    /// may run on different server sessions, so nothing may outlive a
    /// transaction. Statements are unnamed (the event path's are short calls
    /// of server-side routines, whose plans the server caches: see
    /// [`super::routines`]), the timeouts are `SET LOCAL` in the flight's
    /// `BEGIN`, and the functions never migrate.
    Transaction,
}

impl Pooler {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        match src.get("DB_POOLER").as_deref().map(str::trim) {
            None | Some("") | Some("none") => Ok(Pooler::None),
            Some("transaction") => Ok(Pooler::Transaction),
            Some(_) => Err(ConfigError::Invalid {
                var: "DB_POOLER",
                reason: "must be none (a direct connection) or transaction (PgBouncer in transaction mode, RDS Proxy)"
                    .into(),
            }),
        }
    }
}

/// Who sets the timeouts (`DB_TIMEOUTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timeouts {
    /// The functions: startup `options` on a session of its own, `SET
    /// LOCAL` in every transaction behind a transaction pooler (a statement
    /// outside one then brings its own).
    #[default]
    Client,
    /// The database role, with `ALTER ROLE … SET`: every server session of
    /// the role starts with them, so the functions send none and a single
    /// statement travels alone, even through a transaction pooler.
    Role,
}

impl Timeouts {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        match src.get("DB_TIMEOUTS").as_deref().map(str::trim) {
            None | Some("") | Some("client") => Ok(Timeouts::Client),
            Some("role") => Ok(Timeouts::Role),
            Some(_) => Err(ConfigError::Invalid {
                var: "DB_TIMEOUTS",
                reason: "must be client (the functions set the timeouts) or role (ALTER ROLE … SET sets them)".into(),
            }),
        }
    }
}

/// deadpool-postgres's manager, its connections marked with the pooler mode.
pub struct PgManager {
    inner: deadpool_postgres::Manager,
    pooler: Pooler,
    /// What opens a transaction: `BEGIN`, with the timeouts when they
    /// cannot be startup options.
    begin: Arc<str>,
    /// Whether the timeouts hold only inside a transaction (`SET LOCAL`).
    timeouts_per_transaction: bool,
}

impl PgManager {
    pub(crate) fn new(
        inner: deadpool_postgres::Manager,
        pooler: Pooler,
        begin: String,
        timeouts_per_transaction: bool,
    ) -> Self {
        Self { inner, pooler, begin: begin.into(), timeouts_per_transaction }
    }
}

impl std::fmt::Debug for PgManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgManager").field("pooler", &self.pooler).finish_non_exhaustive()
    }
}

/// One pooled connection: deadpool-postgres's client (statement cache
/// included) and how its statements must travel.
pub struct Connection {
    client: ClientWrapper,
    pooler: Pooler,
    begin: Arc<str>,
    timeouts_per_transaction: bool,
    /// A `BEGIN` has been sent and its `COMMIT` or `ROLLBACK` not yet: the
    /// next statement sent joins that transaction.
    in_transaction: AtomicBool,
}

impl Connection {
    pub fn pooler(&self) -> Pooler {
        self.pooler
    }

    /// The statement that opens a transaction on this connection.
    pub fn begin_sql(&self) -> &str {
        &self.begin
    }

    pub(crate) fn wrapper(&self) -> &ClientWrapper {
        &self.client
    }

    /// Marks the transaction open when its `BEGIN` is sent, closed when its
    /// `COMMIT` or `ROLLBACK` is ([`super::statements`]): the order of the
    /// messages on the wire, which is the order the server runs them in.
    pub(crate) fn mark_transaction(&self, open: bool) {
        self.in_transaction.store(open, Ordering::Relaxed);
    }

    /// Whether a statement sent now must bring a transaction of its own:
    /// where the timeouts are `SET LOCAL`, a statement outside a
    /// transaction would run without them.
    pub(crate) fn needs_own_transaction(&self) -> bool {
        self.timeouts_per_transaction && !self.in_transaction.load(Ordering::Relaxed)
    }
}

impl Deref for Connection {
    type Target = ClientWrapper;
    fn deref(&self) -> &ClientWrapper {
        &self.client
    }
}

impl std::ops::DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut ClientWrapper {
        &mut self.client
    }
}

impl managed::Manager for PgManager {
    type Type = Connection;
    type Error = Error;

    async fn create(&self) -> Result<Connection, Error> {
        let client = self.inner.create().await?;
        Ok(Connection {
            client,
            pooler: self.pooler,
            begin: self.begin.clone(),
            timeouts_per_transaction: self.timeouts_per_transaction,
            in_transaction: AtomicBool::new(false),
        })
    }

    async fn recycle(&self, connection: &mut Connection, metrics: &Metrics) -> RecycleResult<Error> {
        // A request dropped between a `BEGIN` and its end (a split
        // transaction whose caller timed out) left the server session inside
        // it: the next user must not run in it, or commit it. Closing the
        // connection rolls it back.
        if connection.in_transaction.swap(false, Ordering::Relaxed) {
            return Err(managed::RecycleError::message("returned inside a transaction"));
        }
        self.inner.recycle(&mut connection.client, metrics).await
    }

    fn detach(&self, connection: &mut Connection) {
        self.inner.detach(&mut connection.client);
    }
}

pub type Pool = managed::Pool<PgManager>;
/// A connection checked out of the [`Pool`].
pub type Client = managed::Object<PgManager>;
pub type PoolError = managed::PoolError<Error>;
pub type Hook = managed::Hook<PgManager>;
pub type HookError = managed::HookError<Error>;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn with(var: &'static str, value: &'static str) -> HashMap<&'static str, &'static str> {
        HashMap::from([(var, value)])
    }

    #[test]
    fn the_pooler_and_timeouts_settings_parse_and_name_themselves_when_wrong() {
        let none = HashMap::new();
        assert_eq!(Pooler::from_source(&none).expect("the default"), Pooler::None);
        assert_eq!(Pooler::from_source(&with("DB_POOLER", " transaction ")).expect("transaction"), Pooler::Transaction);
        assert_eq!(Timeouts::from_source(&none).expect("the default"), Timeouts::Client);
        assert_eq!(Timeouts::from_source(&with("DB_TIMEOUTS", "client")).expect("client"), Timeouts::Client);
        assert_eq!(Timeouts::from_source(&with("DB_TIMEOUTS", "role")).expect("role"), Timeouts::Role);
        for (var, value) in [("DB_POOLER", "session"), ("DB_TIMEOUTS", "server")] {
            let error = match var {
                "DB_POOLER" => Pooler::from_source(&with(var, value)).map(|_| ()),
                _ => Timeouts::from_source(&with(var, value)).map(|_| ()),
            }
            .expect_err(value);
            let shown = error.to_string();
            assert!(shown.contains(var) && !shown.contains(value), "{shown}");
        }
    }
}
