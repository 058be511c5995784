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

/// deadpool-postgres's manager, its connections marked with the pooler mode.
pub struct PgManager {
    inner: deadpool_postgres::Manager,
    pooler: Pooler,
    /// What opens a transaction: `BEGIN`, with the timeouts when they
    /// cannot be startup options.
    begin: Arc<str>,
}

impl PgManager {
    pub(crate) fn new(inner: deadpool_postgres::Manager, pooler: Pooler, begin: String) -> Self {
        Self { inner, pooler, begin: begin.into() }
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
    /// through a transaction pooler the timeouts are `SET LOCAL`, so a
    /// statement outside a transaction would run without them.
    pub(crate) fn needs_own_transaction(&self) -> bool {
        self.pooler == Pooler::Transaction && !self.in_transaction.load(Ordering::Relaxed)
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
