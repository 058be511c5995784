//! The PostgreSQL pool: built once per cold start, connecting lazily.

pub mod migrate;
pub mod pool;
pub mod routines;
pub mod statements;
pub mod tls;

use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;
use tokio_postgres::error::SqlState;

pub use self::pool::{Client, Pool, PoolError, Pooler, Timeouts};
use self::pool::{Hook, HookError, PgManager};
use crate::{
    config::{self, ConfigError, Source},
    db::tls::{ConnectionString, Target, TlsSettings},
};

/// A failed first attempt is retried only if it failed within this long
/// after the request arrived: the retry may then take a connect (3 s) and a
/// statement (5 s) and still answer inside the Lambda's 10 s and Svix's 15 s
/// (see [`Retry`]).
pub const RETRY_WITHIN: Duration = Duration::from_secs(2);

/// Well inside Svix's 15 s delivery timeout and a 10 s Lambda timeout.
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// A transaction left open (a bug, or a client gone mid-way) is ended by the
/// server instead of holding its locks.
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach PostgreSQL. The URL holds a password: it never prints.
#[derive(Debug)]
pub struct DbSettings {
    pub url: SecretString,
    /// Connections per instance. One Lambda instance serves one request at a
    /// time, so 1 is right there; `clerk-sync dev` and tools raise it.
    pub max_connections: usize,
    pub connect_timeout: Duration,
    /// How long a request waits for a free connection.
    pub wait_timeout: Duration,
    /// A pooled connection idle for longer than this is checked with an
    /// empty query before reuse: it may have died while the instance was
    /// frozen. Busy instances skip the check and its round trip.
    pub verify_after_idle: Duration,
    /// `PGSSLMODE` and `PGSSLROOTCERT`, for what the URL does not say.
    pub tls: TlsSettings,
    /// Bounds on waiting for a row lock and on any one statement, so a
    /// request never hangs into the Lambda timeout: it answers 503 and Svix
    /// retries. Set per connection at startup, which costs no round trip.
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
    /// `DB_POOLER`: what stands between the functions and the server.
    pub pooler: Pooler,
    /// `DB_TIMEOUTS`: whether the functions set the timeouts or the role does.
    pub timeouts: Timeouts,
}

impl DbSettings {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let url = config::secret(
            src,
            "DATABASE_URL",
            "set it to a PostgreSQL connection string, e.g. postgres://user:password@host:5432/db",
        )?;
        // Parse now so a typo fails the cold start, not the first request.
        ConnectionString::parse(url.expose_secret())?;
        let max_connections = config::parse_or(src, "DB_MAX_CONNECTIONS", 1usize)?;
        if max_connections == 0 {
            return Err(ConfigError::Invalid { var: "DB_MAX_CONNECTIONS", reason: "must be at least 1".into() });
        }
        Ok(Self {
            url,
            max_connections,
            connect_timeout: config::seconds(src, "DB_CONNECT_TIMEOUT_SECS", Duration::from_secs(3))?,
            wait_timeout: config::seconds(src, "DB_POOL_WAIT_TIMEOUT_SECS", Duration::from_secs(5))?,
            verify_after_idle: config::seconds(src, "DB_VERIFY_AFTER_IDLE_SECS", Duration::from_secs(5))?,
            tls: TlsSettings::from_source(src)?,
            lock_timeout: config::seconds(src, "DB_LOCK_TIMEOUT_SECS", DEFAULT_LOCK_TIMEOUT)?,
            statement_timeout: config::seconds(src, "DB_STATEMENT_TIMEOUT_SECS", DEFAULT_STATEMENT_TIMEOUT)?,
            pooler: Pooler::from_source(src)?,
            timeouts: Timeouts::from_source(src)?,
        })
    }

    /// Settings for a URL, with the defaults (tools and tests).
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            max_connections: 1,
            connect_timeout: Duration::from_secs(3),
            wait_timeout: Duration::from_secs(5),
            verify_after_idle: Duration::from_secs(5),
            tls: TlsSettings::default(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            pooler: Pooler::None,
            timeouts: Timeouts::Client,
        }
    }

    /// The timeouts every session of the functions runs with, in
    /// milliseconds: what the functions set, or what `DB_TIMEOUTS=role`
    /// expects the role to carry (`ALTER ROLE … SET name = value`).
    pub fn timeout_settings(&self) -> [(&'static str, u128); 3] {
        // 0 would mean no timeout at all.
        let ms = |d: Duration| d.as_millis().max(1);
        [
            ("lock_timeout", ms(self.lock_timeout)),
            ("statement_timeout", ms(self.statement_timeout)),
            ("idle_in_transaction_session_timeout", ms(IDLE_IN_TRANSACTION_TIMEOUT)),
        ]
    }

    /// The same settings through a transaction pooler.
    pub fn through_pooler(mut self) -> Self {
        self.pooler = Pooler::Transaction;
        self
    }

    /// The connection string parsed, with its TLS connector (the CA bundle
    /// read now).
    pub fn target(&self) -> Result<Target, ConfigError> {
        Target::from_url(self.url.expose_secret(), &self.tls)
    }
}

/// Builds the pool, TLS as the URL's `sslmode` says (see [`crate::db::tls`]).
/// Nothing connects until the first `get`.
///
/// The timeouts travel as startup `options` on a session of its own (no
/// round trip), and as `SET LOCAL` in each transaction's `BEGIN` through a
/// transaction pooler, which refuses startup options (PgBouncer) or pins
/// the session for them (RDS Proxy). With `DB_TIMEOUTS=role` the role
/// carries them and nothing is sent.
pub fn build_pool(settings: &DbSettings) -> Result<Pool, ConfigError> {
    let Target { config: mut pg, tls, .. } = settings.target()?;
    pg.connect_timeout(settings.connect_timeout);
    if pg.get_application_name().is_none() {
        pg.application_name("clerk-sync");
    }
    let timeouts = settings.timeout_settings();
    let mut begin = String::from("BEGIN");
    match (settings.timeouts, settings.pooler) {
        // Every server session of the role starts with them.
        (Timeouts::Role, _) => {}
        (Timeouts::Client, Pooler::None) => {
            // Unless the URL's own `options` set them.
            let mut options = pg.get_options().unwrap_or_default().to_string();
            for (name, value) in timeouts {
                if !options.contains(name) {
                    options.push_str(&format!(" -c {name}={value}"));
                }
            }
            pg.options(options.trim());
        }
        (Timeouts::Client, Pooler::Transaction) => {
            for (name, value) in timeouts {
                begin.push_str(&format!("; SET LOCAL {name} = {value}"));
            }
        }
    }
    let inner = Manager::from_config(pg, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let timeouts_per_transaction = settings.timeouts == Timeouts::Client && settings.pooler == Pooler::Transaction;
    let manager = PgManager::new(inner, settings.pooler, begin, timeouts_per_transaction);
    let verify_after_idle = settings.verify_after_idle;
    Pool::builder(manager)
        .max_size(settings.max_connections)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .recycle_timeout(Some(settings.connect_timeout))
        .pre_recycle(Hook::async_fn(move |client, metrics| {
            Box::pin(async move {
                if metrics.last_used() < verify_after_idle {
                    return Ok(());
                }
                client.simple_query("").await.map(drop).map_err(|_| HookError::message("idle connection is dead"))
            })
        }))
        .build()
        .map_err(|e| ConfigError::Invalid { var: "DATABASE_URL", reason: format!("cannot build the pool: {e}") })
}

/// Why the database could not do its part. Both variants are infrastructure
/// faults: the caller answers 503 and Svix retries.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection: {0}")]
    Unavailable(#[from] PoolError),
    #[error("database error: {}", describe(.0))]
    Query(#[from] tokio_postgres::Error),
    #[error("the schema does not match this build: {0}")]
    Schema(String),
}

impl DbError {
    /// The SQLSTATE, when the server answered with one.
    pub fn sql_state(&self) -> Option<&SqlState> {
        match self {
            DbError::Query(e) => e.code(),
            DbError::Unavailable(_) | DbError::Schema(_) => None,
        }
    }

    /// True when the connection died (server restarted, network cut, idle
    /// connection reaped while the instance was frozen): a fresh connection
    /// may well succeed, and the statements are idempotent, so one retry is safe.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            DbError::Query(e) => {
                e.is_closed()
                    || e.code().is_some_and(|c| {
                        // admin_shutdown, crash_shutdown, cannot_connect_now
                        matches!(c.code(), "57P01" | "57P02" | "57P03")
                    })
                    || (e.as_db_error().is_none()
                        && std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()))
            }
            DbError::Unavailable(_) | DbError::Schema(_) => false,
        }
    }

    /// True when the connection itself must not be used again: it died
    /// (see [`Self::is_connection_lost`]), the server reported a connection
    /// fault (class 08), or it points at a server that can no longer write
    /// (`25006` read_only_sql_transaction: a writer demoted by a failover, a
    /// database or session set read-only). Such a connection would fail the
    /// same way on every later request, so it is discarded
    /// ([`Database::discard`]), never returned to the pool.
    pub fn poisons_connection(&self) -> bool {
        self.is_connection_lost() || self.sql_state().is_some_and(|s| s.code() == "25006" || s.code().starts_with("08"))
    }

    /// True when one more attempt may succeed: the connection faults of
    /// [`Self::poisons_connection`] (retried on a fresh connection), and the
    /// transaction conflicts PostgreSQL resolves by aborting one side
    /// (`40001` serialization_failure, `40P01` deadlock_detected; the
    /// connection is sound and may serve the retry). Nothing of
    /// the failed transaction was committed, and the statements are
    /// idempotent, so the retry is safe. Timeouts (`55P03`, `57014`) and pool
    /// exhaustion are not retried: a second wait would overrun the caller's
    /// deadline.
    pub fn is_retryable(&self) -> bool {
        self.poisons_connection() || self.sql_state().is_some_and(|s| matches!(s.code(), "40001" | "40P01"))
    }

    /// True when the server rejected the data itself (class 22, data
    /// exception: e.g. a `\u0000` escape jsonb cannot store; class 54, a
    /// limit exceeded). Retrying the same bytes cannot succeed.
    pub fn is_data_exception(&self) -> bool {
        // 54: a value past a PostgreSQL limit (an index entry too large,
        // JSON nested too deep for jsonb): as permanent as a data exception.
        self.sql_state().is_some_and(|s| s.code().starts_with("22") || s.code().starts_with("54"))
    }
}

/// The pool and the once-per-instance migration gate every function shares.
pub struct Database {
    pool: Pool,
    run_migrations: bool,
    migrated: OnceCell<()>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("run_migrations", &self.run_migrations).finish_non_exhaustive()
    }
}

impl Database {
    /// Builds the pool without connecting. Pending migrations (unless
    /// skipped) are applied on the first `client()`, after the first poll
    /// of the Lambda Runtime API rather than before it. Never through a
    /// transaction pooler: a migration holds a session lock
    /// ([`migrate`]), so `clerk-sync migrate` applies them there, over
    /// `MIGRATION_DATABASE_URL`.
    pub fn new(settings: &DbSettings, run_migrations: bool) -> Result<Self, ConfigError> {
        let run_migrations = run_migrations && settings.pooler == Pooler::None;
        Ok(Self { pool: build_pool(settings)?, run_migrations, migrated: OnceCell::new() })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A pooled connection, the schema migrated.
    pub async fn client(&self) -> Result<Client, DbError> {
        let mut client = self.pool.get().await?;
        if self.run_migrations {
            let migrated = self
                .migrated
                .get_or_try_init(|| async {
                    migrate::run(&mut client).await.map(drop).map_err(|e| {
                        tracing::error!(error = %e, "migrations failed");
                        match e {
                            migrate::MigrateError::Db(e) | migrate::MigrateError::Failed { source: e, .. } => {
                                DbError::Query(e)
                            }
                            _ => DbError::Schema(e.to_string()),
                        }
                    })
                })
                .await;
            if let Err(e) = migrated {
                if e.poisons_connection() {
                    Self::discard(client);
                }
                return Err(e);
            }
        }
        Ok(client)
    }

    /// A pooled connection, as [`Self::client`], getting it once more when
    /// `retry` allows (a migration on the first request lost its connection).
    pub async fn client_for(&self, retry: &mut Retry) -> Result<Client, DbError> {
        loop {
            match self.client().await {
                Err(e) if retry.again(None, &e) => continue,
                other => return other,
            }
        }
    }

    /// Takes `client` out of the pool for good and closes its connection,
    /// freeing its slot for a fresh one. For a connection that
    /// [`DbError::poisons_connection`]: returned to the pool, a connection to
    /// a demoted writer would pass the pool's checks and fail every request.
    pub fn discard(client: Client) {
        drop(deadpool::managed::Object::take(client));
    }
}

/// One retry for a request's database work, as every function does it: a
/// connection the fault [poisons](DbError::poisons_connection) is
/// discarded, and a [retryable](DbError::is_retryable) fault is tried once
/// more (on a fresh connection when the first was discarded) while the
/// request, begun at `started`, is younger than [`RETRY_WITHIN`]. The work
/// must be safe to run twice: nothing of a failed attempt was committed.
///
/// ```ignore
/// let mut retry = Retry::new(started);
/// let result = loop {
///     let client = db.client_for(&mut retry).await?;
///     let result = work(&client).await;
///     match &result {
///         Err(e) if fault(e).is_some_and(|e| retry.again(Some(client), e)) => continue,
///         _ => break result,
///     }
/// };
/// ```
/// (A loop at the call site rather than a function taking an async
/// closure: the request's future must stay `Send` for the runtime.)
#[derive(Debug)]
pub struct Retry {
    started: Instant,
    retried: bool,
}

impl Retry {
    pub fn new(started: Instant) -> Self {
        Self { started, retried: false }
    }

    /// After a failed attempt: discards `client` if `fault` poisoned it,
    /// and says whether to try once more.
    pub fn again(&mut self, client: Option<Client>, fault: &DbError) -> bool {
        if let Some(client) = client {
            if fault.poisons_connection() {
                Database::discard(client);
            }
        }
        if self.retried || !fault.is_retryable() || self.started.elapsed() >= RETRY_WITHIN {
            return false;
        }
        self.retried = true;
        tracing::warn!(error = %fault, "database fault; retrying once");
        true
    }
}

/// tokio-postgres's own Display says only "db error": take the server's
/// message and SQLSTATE, never its DETAIL (which can quote row values, such as
/// an email address in a unique violation), or the chain of causes.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        // Behind a transaction pooler: a build deployed before `migrate` ran.
        Some(db) if db.code() == &SqlState::UNDEFINED_FUNCTION && db.message().contains("clerk_sync_") => format!(
            "{} (SQLSTATE {}): this build's event routines are missing; run `clerk-sync migrate`",
            db.message(),
            db.code().code()
        ),
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => crate::report::error_chain(e),
    }
}
