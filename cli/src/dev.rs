//! `clerk-sync dev`: every function on one local port, against PostgreSQL.
//!
//! Uses `DATABASE_URL` when set; otherwise runs a PostgreSQL cluster of its
//! own from the installed server binaries, kept under
//! `target/clerk-sync-dev/` and reused from one run to the next. Migrates,
//! then serves each function under the routes the deployment exposes, calling
//! the very handler functions the Lambda binaries call: no second
//! implementation. Ctrl-C stops the server, then the cluster if this process
//! started it.

use std::{
    convert::Infallible,
    fs,
    future::Future,
    io,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use clap::Args;
use clerk_sync::{
    api::{
        seller_accounts::{self, SellerAccountsState},
        sync_status, ApiState,
    },
    clerk::Envelope,
    config::{ConfigError, Env, Source},
    db::migrate::{MigrateError, MIGRATIONS},
    db::DbError,
    http::response::{json, ErrorBody},
    Family, WebhookConfig, WebhookState,
};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown};
use tokio::net::TcpListener;

use crate::{
    devkey::{self, DevKey},
    error::CliError,
    send::{self, SendError, Signer, Summary},
    sign::{self, Secret},
};

/// Run every function locally: PostgreSQL, migrations, one HTTP server
///
/// Uses DATABASE_URL when set. Otherwise starts a PostgreSQL cluster of its
/// own from the installed server binaries (pg_config --bindir, PATH, or
/// /usr/lib/postgresql/*/bin), its data kept in target/clerk-sync-dev/ and
/// reused next time; Ctrl-C stops it again. Then applies the migrations and
/// serves every function on 127.0.0.1 under the routes the deployment exposes,
/// through the same handler functions as Lambda:
///
///   POST /webhooks/clerk-users, /webhooks/clerk-organizations, /webhooks/clerk-memberships
///   POST /webhooks/clerk                 all three families (development only)
///   GET  /sync-status                    GET/POST /seller-accounts, GET/DELETE /seller-accounts/{id}
///   any  /lambda-url/<function>/…        as `cargo lambda watch` serves them
///
/// Development defaults, each used only when the variable is unset:
/// CLERK_WEBHOOK_SECRET = the public development secret (whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,
/// which `clerk-sync send` signs with by default), ENCRYPTION_KEY = a fixed development key,
/// DB_MAX_CONNECTIONS = 4, and CLERK_JWT_KEY = the public half of a development key pair
/// (made once in the dev folder; `clerk-sync token` mints session tokens with it) unless
/// CLERK_JWT_KEY or CLERK_JWKS_URL is set. While it runs, the other commands use its
/// database when DATABASE_URL is unset (the URL is kept in the dev folder's database-url).
///
/// Examples:
///   clerk-sync dev --seed
///   clerk-sync send http://127.0.0.1:3000/webhooks/clerk-users events/payloads/user.updated.json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DevArgs {
    /// The port to serve the functions on, at 127.0.0.1.
    #[arg(long, default_value_t = 3000, value_name = "PORT")]
    pub port: u16,

    /// After startup, load the starter data set: deliver events/seed/*.json in
    /// file-name order through the webhook handlers, signed like real
    /// deliveries, each to the function of its family.
    #[arg(long)]
    pub seed: bool,

    /// The folder --seed loads [default: events/seed in the workspace].
    #[arg(long, value_name = "DIR", requires = "seed")]
    pub seed_dir: Option<PathBuf>,

    /// PostgreSQL to use instead of a local cluster, e.g.
    /// postgres://user:password@localhost:5432/app (prefer the environment
    /// variable: command lines are visible to other users). Never printed.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Where the local cluster keeps its data, socket and log
    /// [default: target/clerk-sync-dev in the workspace].
    #[arg(long, env = "CLERK_SYNC_DEV_DIR", hide_env_values = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Every way `dev` fails. None prints a secret.
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

    #[error("cannot create {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },

    #[error(
        "{} exists but is not a PostgreSQL data directory (no PG_VERSION): remove it, or pass --data-dir \
         to keep the local cluster elsewhere",
        path.display()
    )]
    NotADataDir { path: PathBuf },

    #[error(
        "the postgres user cannot write to {} (PostgreSQL refuses to run as root, so clerk-sync dev runs it as \
         postgres, and a parent folder is closed to that user): pass --data-dir /tmp/clerk-sync-dev, run as a \
         normal user, or set DATABASE_URL",
        path.display()
    )]
    Unreachable { path: PathBuf },

    #[error(
        "the local PostgreSQL folder {} contains a single quote, which pg_ctl cannot pass on: pass --data-dir \
         with a plainer path",
        path.display()
    )]
    QuoteInPath { path: PathBuf },

    #[error("cannot run {what}: {source}")]
    Spawn { what: String, source: io::Error },

    #[error("{what} failed: {output}{hint}")]
    CommandFailed { what: String, output: String, hint: String },

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
    Key(devkey::DevKeyError),
}

/// The development signing key for the credential vault: public, so never
/// use it for real credentials.
pub const DEV_ENCRYPTION_KEY: &str = "clerk-sync-dev-only-encryption-key--not-a-secret";

/// The largest request body read; the webhook handlers apply their own,
/// smaller limit (WEBHOOK_MAX_BODY_BYTES) on top.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The local cluster's port when free; otherwise a free one, saved.
const DEV_PG_PORT: u16 = 54320;

/// The database the local cluster serves.
const DEV_DB_NAME: &str = "clerk_sync";

/// While dev runs: the URL of its database, for the other commands (removed at exit).
pub const DATABASE_URL_FILE: &str = "database-url";

/// The payload the printed `try:` command sends: newer than the seed's Ada,
/// so on a freshly seeded stack it answers `processed` (the seed's own
/// user.created would be `stale`). The README names the same file.
pub const TRY_PAYLOAD: &str = "events/payloads/user.updated.json";

/// Who the printed session token is for: Ada, admin of Acme Analytics, as `events/seed/` makes them.
const SEEDED_USER: &str = "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs";
const SEEDED_ORG: (&str, &str) = ("org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", "org:admin");

// ---------------------------------------------------------------------------
// Routes

/// A function the local server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Users,
    Organizations,
    Memberships,
    /// Every webhook family: the local catch-all (`/webhooks/clerk`).
    AllWebhooks,
    SyncStatus,
    SellerAccounts,
}

impl Function {
    pub const ALL: [Function; 6] = [
        Function::Users,
        Function::Organizations,
        Function::Memberships,
        Function::AllWebhooks,
        Function::SyncStatus,
        Function::SellerAccounts,
    ];

    /// The binary's name, as `cargo lambda watch` mounts it.
    pub fn name(self) -> &'static str {
        match self {
            Function::Users => "clerk-users",
            Function::Organizations => "clerk-organizations",
            Function::Memberships => "clerk-memberships",
            Function::AllWebhooks => "clerk",
            Function::SyncStatus => "sync-status",
            Function::SellerAccounts => "seller-accounts",
        }
    }

    /// The path it is served under, as deployed.
    pub fn path(self) -> &'static str {
        match self {
            Function::Users => "/webhooks/clerk-users",
            Function::Organizations => "/webhooks/clerk-organizations",
            Function::Memberships => "/webhooks/clerk-memberships",
            Function::AllWebhooks => "/webhooks/clerk",
            Function::SyncStatus => "/sync-status",
            Function::SellerAccounts => "/seller-accounts",
        }
    }

    fn methods(self) -> &'static str {
        match self {
            Function::SyncStatus => "GET",
            Function::SellerAccounts => "GET, POST, DELETE",
            _ => "POST",
        }
    }

    /// Whether `cargo lambda watch` would serve it (a workspace binary).
    fn is_binary(self) -> bool {
        self != Function::AllWebhooks
    }

    /// The webhook function that applies `event_type`.
    pub fn for_event_type(event_type: &str) -> Function {
        if event_type.starts_with("user.") {
            Function::Users
        } else if event_type.starts_with("organizationMembership.") {
            Function::Memberships
        } else if event_type.starts_with("organization.") {
            Function::Organizations
        } else {
            Function::AllWebhooks
        }
    }
}

/// Which function serves `path`, and the path its handler sees: unchanged
/// under the deployment's routes; below the mount point under
/// `/lambda-url/<function>/`, as at the root of a Function URL.
pub fn route(path: &str) -> Option<(Function, String)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["webhooks", name] => {
            Function::ALL.into_iter().find(|f| f.path() == format!("/webhooks/{name}")).map(|f| (f, path.to_string()))
        }
        ["lambda-url", name, rest @ ..] => Function::ALL
            .into_iter()
            .find(|f| f.is_binary() && f.name() == *name)
            .map(|f| (f, format!("/{}", rest.join("/")))),
        ["sync-status", ..] => Some((Function::SyncStatus, path.to_string())),
        ["seller-accounts", ..] => Some((Function::SellerAccounts, path.to_string())),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Configuration

/// The environment with the local stack's settings: DATABASE_URL as chosen,
/// SKIP_DB_MIGRATIONS (dev migrated at startup), and development defaults for
/// what is unset.
pub struct DevSource<S> {
    base: S,
    database_url: String,
    /// The development public key, for CLERK_JWT_KEY when no key is configured.
    session_key: Option<String>,
}

impl<S: Source> DevSource<S> {
    pub fn new(base: S, database_url: impl Into<String>) -> Self {
        Self { base, database_url: database_url.into(), session_key: None }
    }

    pub fn with_session_key(mut self, public_pem: Option<String>) -> Self {
        self.session_key = public_pem;
        self
    }

    /// Whether sessions verify with the development key (nothing else configured).
    fn uses_dev_key(&self) -> bool {
        self.session_key.is_some() && !self.is_set("CLERK_JWT_KEY") && !self.is_set("CLERK_JWKS_URL")
    }

    fn is_set(&self, var: &str) -> bool {
        self.base.get(var).is_some()
    }
}

impl<S: Source> Source for DevSource<S> {
    fn get(&self, var: &str) -> Option<String> {
        match var {
            "DATABASE_URL" => Some(self.database_url.clone()),
            "SKIP_DB_MIGRATIONS" => Some("true".to_string()),
            _ => self.base.get(var).or_else(|| match var {
                "CLERK_WEBHOOK_SECRET" => Some(sign::DEV_SECRET.to_string()),
                // The vault refuses ENCRYPTION_KEY beside ENCRYPTION_KEYS.
                "ENCRYPTION_KEY" if !self.is_set("ENCRYPTION_KEYS") => Some(DEV_ENCRYPTION_KEY.to_string()),
                "DB_MAX_CONNECTIONS" => Some("4".to_string()),
                // A configured JWKS URL wins too: CLERK_JWT_KEY would take precedence over it.
                "CLERK_JWT_KEY" if !self.is_set("CLERK_JWKS_URL") => self.session_key.clone(),
                _ => None,
            }),
        }
    }
}

/// Every function's state, built once.
pub struct App {
    users: WebhookState,
    organizations: WebhookState,
    memberships: WebhookState,
    all: WebhookState,
    /// `None` without CLERK_JWT_KEY / CLERK_JWKS_URL: those routes answer 503.
    sync_status: Option<ApiState>,
    seller_accounts: Option<SellerAccountsState>,
}

impl App {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let webhook = |family| WebhookState::new(family, WebhookConfig::from_source(src)?);
        let sessions = src.get("CLERK_JWT_KEY").is_some() || src.get("CLERK_JWKS_URL").is_some();
        Ok(Self {
            users: webhook(Family::Users)?,
            organizations: webhook(Family::Organizations)?,
            memberships: webhook(Family::Memberships)?,
            all: webhook(Family::All)?,
            sync_status: if sessions { Some(ApiState::from_source(src)?) } else { None },
            seller_accounts: if sessions { Some(SellerAccountsState::from_source(src)?) } else { None },
        })
    }

    fn webhook(&self, function: Function) -> Option<&WebhookState> {
        match function {
            Function::Users => Some(&self.users),
            Function::Organizations => Some(&self.organizations),
            Function::Memberships => Some(&self.memberships),
            Function::AllWebhooks => Some(&self.all),
            Function::SyncStatus | Function::SellerAccounts => None,
        }
    }

    /// Calls `function`'s handler, the one its Lambda binary calls.
    pub async fn dispatch(&self, function: Function, request: Request<Bytes>) -> Response<String> {
        if let Some(state) = self.webhook(function) {
            return clerk_sync::handle(state, request).await;
        }
        match (function, &self.sync_status, &self.seller_accounts) {
            (Function::SyncStatus, Some(state), _) => sync_status::handle(state, request).await,
            (Function::SellerAccounts, _, Some(state)) => seller_accounts::handle(state, request).await,
            _ => not_configured(function),
        }
    }

    /// The database counts after seeding, on one line.
    async fn describe_contents(&self) -> Result<String, DbError> {
        let client = self.all.database().client().await?;
        let row = client
            .query_one(
                "SELECT
                   (SELECT count(*) FROM users WHERE deleted_at IS NULL),
                   (SELECT string_agg(coalesce(email, nullif(concat_ws(' ', first_name, last_name), ''), clerk_user_id),
                                      ', ' ORDER BY clerk_user_id)
                      FROM (SELECT * FROM users WHERE deleted_at IS NULL ORDER BY clerk_user_id LIMIT 5) u),
                   (SELECT count(*) FROM organization WHERE deleted_at IS NULL),
                   (SELECT string_agg(coalesce(name, clerk_org_id), ', ' ORDER BY clerk_org_id)
                      FROM (SELECT * FROM organization WHERE deleted_at IS NULL ORDER BY clerk_org_id LIMIT 5) o),
                   (SELECT count(*) FROM user_organizations WHERE deleted_at IS NULL)",
                &[],
            )
            .await?;
        let list = |count: i64, names: Option<String>| match names {
            Some(names) if count > 5 => format!(" ({names}, …)"),
            Some(names) => format!(" ({names})"),
            None => String::new(),
        };
        let (users, orgs): (i64, i64) = (row.get(0), row.get(2));
        Ok(format!(
            "{users} users{}, {orgs} organizations{}, {} active memberships",
            list(users, row.get(1)),
            list(orgs, row.get(3)),
            row.get::<_, i64>(4)
        ))
    }
}

fn not_configured(function: Function) -> Response<String> {
    let message = format!(
        "{} verifies Clerk session tokens and no key is configured: set CLERK_JWT_KEY to your instance's PEM \
         public key (Clerk dashboard → API keys → JWT public key) or CLERK_JWKS_URL, then restart clerk-sync dev",
        function.name()
    );
    json(StatusCode::SERVICE_UNAVAILABLE, &ErrorBody { error: "not_configured", message: &message })
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response<String> {
    json(status, &ErrorBody { error: code, message })
}

// ---------------------------------------------------------------------------
// Server

/// Serves `app` on `listener` until `shutdown` completes, then lets open
/// requests finish (5 s at most).
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let app = app.clone();
                let service = service_fn(move |request| respond(app.clone(), request));
                let connection = graceful.watch(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still open after 5 s were dropped");
    }
}

async fn respond(app: Arc<App>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let (function, response) = match route(&path) {
        None if path == "/" && method == Method::GET => (None, index()),
        None => (
            None,
            error_response(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no function is served at {path}; GET / lists the routes"),
            ),
        ),
        Some((function, inner_path)) => (Some(function), call(&app, function, &inner_path, request).await),
    };
    tracing::info!(
        %method,
        path,
        function = function.map(Function::name),
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(response.map(|body| Full::new(Bytes::from(body))))
}

/// Reads the body (within [`MAX_BODY_BYTES`]) and hands the request to the
/// function's handler, with the path it would see deployed.
async fn call(app: &App, function: Function, inner_path: &str, request: Request<Incoming>) -> Response<String> {
    let (mut parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            )
        }
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "bad_request", &format!("cannot read the body: {e}")),
    };
    if inner_path != parts.uri.path() {
        let rewritten = match parts.uri.query() {
            Some(query) => format!("{inner_path}?{query}"),
            None => inner_path.to_string(),
        };
        match Uri::from_str(&rewritten) {
            Ok(uri) => parts.uri = uri,
            Err(_) => return error_response(StatusCode::BAD_REQUEST, "bad_request", "the request path is invalid"),
        }
    }
    app.dispatch(function, Request::from_parts(parts, body)).await
}

fn index() -> Response<String> {
    #[derive(serde::Serialize)]
    struct Route {
        function: &'static str,
        methods: &'static str,
        path: &'static str,
        lambda_url: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Index {
        routes: Vec<Route>,
    }
    let routes = Function::ALL
        .into_iter()
        .map(|f| Route {
            function: f.name(),
            methods: f.methods(),
            path: f.path(),
            lambda_url: f.is_binary().then(|| format!("/lambda-url/{}/", f.name())),
        })
        .collect();
    json(StatusCode::OK, &Index { routes })
}

// ---------------------------------------------------------------------------
// Seeding

/// Delivers the seed folder's payloads through the webhook handlers, signed
/// with `signer`, each to the function of its family.
pub async fn seed(app: &App, dir: &Path, signer: &Signer) -> Result<Summary, SendError> {
    let files = send::expand(&[dir.to_path_buf()])?;
    let payloads = files
        .iter()
        .map(|path| {
            Ok((
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                send::read_payload(path)?,
            ))
        })
        .collect::<Result<Vec<_>, SendError>>()?;
    println!("seeding from {} ({} events):", display_path(dir), payloads.len());
    let width = payloads.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0);
    let mut summary = Summary::default();
    for ((name, body), path) in payloads.into_iter().zip(files) {
        let event_type = Envelope::parse(&body).map(|e| e.event_type).unwrap_or_default();
        let function = Function::for_event_type(&event_type);
        let headers = signer
            .headers(&sign::fresh_svix_id(), sign::now(), &body)
            .map_err(|source| SendError::Sign { path: path.clone(), source })?;
        let mut request = Request::new(body);
        *request.method_mut() = Method::POST;
        *request.uri_mut() = Uri::from_static(function.path());
        *request.headers_mut() = headers;
        let response = app.dispatch(function, request).await;
        let answer = send::Answer { status: response.status(), body: response.into_body() };
        summary.record(answer.status, answer.json_status().as_deref());
        println!("  {name:<width$}  → {:<19}  {}  {}", function.name(), answer.status.as_u16(), answer.describe());
    }
    println!("seeded: {summary}");
    if summary.stale > 0 {
        println!("(stale events changed nothing: the rows already reflect them, e.g. from an earlier --seed)");
    }
    match app.describe_contents().await {
        Ok(contents) => println!("the database holds {contents}"),
        Err(e) => tracing::warn!(error = %e, "cannot count the rows"),
    }
    Ok(summary)
}

// ---------------------------------------------------------------------------
// The local PostgreSQL cluster

/// A cluster under `dir`: `data/` (PGDATA), `sock/` (its Unix socket),
/// `postgres.log` and `port` (the port it was given, reused next time).
struct LocalCluster {
    bin: PathBuf,
    /// Root runs the binaries as `postgres` through runuser.
    as_root: bool,
    dir: PathBuf,
    port: u16,
    version: String,
    /// Set while a server this process started is running: stopped at exit.
    started: bool,
    initialized: bool,
}

/// What `ensure` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClusterState {
    Started,
    InitializedAndStarted,
    AlreadyRunning,
}

impl LocalCluster {
    /// Initializes the cluster when `dir` has none, then starts it unless it
    /// is already running.
    fn ensure(dir: &Path) -> Result<(Self, ClusterState), DevError> {
        let bin = find_bin_dir().ok_or(DevError::NoPostgres)?;
        let as_root = is_root();
        if dir.to_string_lossy().contains('\'') {
            return Err(DevError::QuoteInPath { path: dir.to_path_buf() });
        }
        let data = dir.join("data");
        for path in [dir.to_path_buf(), dir.join("sock")] {
            fs::create_dir_all(&path).map_err(|source| DevError::CreateDir { path: path.clone(), source })?;
        }
        let version = fs::read_to_string(data.join("PG_VERSION")).ok().map(|v| v.trim().to_string());
        let mut cluster = Self {
            bin,
            as_root,
            dir: dir.to_path_buf(),
            port: DEV_PG_PORT,
            version: version.clone().unwrap_or_default(),
            started: false,
            initialized: false,
        };
        if as_root {
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres:postgres"]).arg(dir);
            run_command(chown, "chown -R postgres:postgres (PostgreSQL runs as the postgres user)", "")?;
            let mut probe = cluster.pg_command_raw("test");
            probe.args(["-w"]).arg(dir);
            if !probe.status().is_ok_and(|s| s.success()) {
                return Err(DevError::Unreachable { path: dir.to_path_buf() });
            }
        }
        if version.is_none() {
            let non_empty = fs::read_dir(&data).map(|mut d| d.next().is_some()).unwrap_or(false);
            if non_empty {
                return Err(DevError::NotADataDir { path: data });
            }
            cluster.initdb()?;
        }
        if let Some(port) = cluster.running_port() {
            cluster.port = port;
            return Ok((cluster, ClusterState::AlreadyRunning));
        }
        cluster.start()?;
        let state = if cluster.initialized { ClusterState::InitializedAndStarted } else { ClusterState::Started };
        Ok((cluster, state))
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command run as the user PostgreSQL runs as, in the cluster's folder.
    fn pg_command_raw(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.current_dir(&self.dir).stdin(Stdio::null());
        command
    }

    fn pg_command(&self, program: &str) -> Command {
        self.pg_command_raw(self.bin.join(program))
    }

    fn initdb(&mut self) -> Result<(), DevError> {
        let data = self.data();
        fs::create_dir_all(&data).map_err(|source| DevError::CreateDir { path: data.clone(), source })?;
        if self.as_root {
            let mut chown = Command::new("chown");
            chown.args(["postgres:postgres"]).arg(&data);
            run_command(chown, "chown postgres:postgres", "")?;
        }
        let mut initdb = self.pg_command("initdb");
        initdb.arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"]);
        initdb.args(["--no-instructions", "--no-sync"]);
        run_command(initdb, "initdb", &format!(" (remove {} to start over)", display_path(&self.dir)))?;
        self.version = fs::read_to_string(data.join("PG_VERSION")).map(|v| v.trim().to_string()).unwrap_or_default();
        self.initialized = true;
        Ok(())
    }

    /// The port of a server already running on this data directory.
    fn running_port(&self) -> Option<u16> {
        let mut status = self.pg_command("pg_ctl");
        status.arg("-D").arg(self.data()).arg("status").stdout(Stdio::null()).stderr(Stdio::null());
        if !status.status().is_ok_and(|s| s.success()) {
            return None;
        }
        // postmaster.pid: pid, data directory, start time, port, …
        let pid_file = fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn start(&mut self) -> Result<(), DevError> {
        let port_file = self.dir.join("port");
        let saved = fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse::<u16>().ok());
        let first = saved.unwrap_or(if port_is_free(DEV_PG_PORT) { DEV_PG_PORT } else { free_port() });
        let mut attempt = self.start_on(first);
        if attempt.is_err() && !port_is_free(first) {
            // The saved port was taken by something else meanwhile.
            attempt = self.start_on(free_port());
        }
        attempt?;
        // Best effort: a lost port file only means another port next time.
        let _ = fs::write(&port_file, format!("{}\n", self.port));
        Ok(())
    }

    fn start_on(&mut self, port: u16) -> Result<(), DevError> {
        let sock = self.dir.join("sock");
        // A Unix socket path is limited to 107 bytes: beyond it, TCP only.
        let socket_dirs = if sock.as_os_str().len() + "/.s.PGSQL.65535".len() <= 107 {
            sock.display().to_string()
        } else {
            String::new()
        };
        let options = format!("-p {port} -k '{socket_dirs}' -c listen_addresses=127.0.0.1");
        let mut pg_ctl = self.pg_command("pg_ctl");
        pg_ctl.arg("-D").arg(self.data()).arg("-l").arg(self.dir.join("postgres.log"));
        pg_ctl.args(["-w", "-t", "60", "-o", &options, "start"]);
        // From here on a server may be up, even if pg_ctl reports failure.
        self.started = true;
        self.port = port;
        let result = run_command(
            pg_ctl,
            "pg_ctl start",
            &format!("; see {} for the server's own log", display_path(&self.dir.join("postgres.log"))),
        );
        if result.is_err() {
            let _ = self.stop();
        }
        result.map(drop)
    }

    /// Stops the server, when this process started it.
    fn stop(&mut self) -> Result<(), DevError> {
        if !self.started {
            return Ok(());
        }
        self.started = false;
        let mut pg_ctl = self.pg_command("pg_ctl");
        pg_ctl.arg("-D").arg(self.data()).args(["-m", "fast", "-w", "-t", "60", "stop"]);
        let output = pg_ctl.output().map_err(|source| DevError::Spawn { what: "pg_ctl stop".into(), source })?;
        // Not running (any more) is what we wanted.
        if output.status.success() || self.running_port().is_none() {
            Ok(())
        } else {
            Err(DevError::CommandFailed {
                what: "pg_ctl stop".into(),
                output: command_text(&output),
                hint: String::new(),
            })
        }
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates the dev database when missing.
    async fn create_database(&self) -> Result<(), DevError> {
        let target = format!("postgres@127.0.0.1:{}/postgres", self.port);
        let failed =
            |e: tokio_postgres::Error| DevError::Database { target: target.clone(), reason: crate::error::report(&e) };
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await.map_err(failed)?;
        tokio::spawn(connection);
        let exists =
            client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DEV_DB_NAME]).await.map_err(failed)?;
        if exists.is_none() {
            match client.batch_execute(&format!("CREATE DATABASE {DEV_DB_NAME}")).await {
                Ok(()) => {}
                // Created meanwhile by another clerk-sync dev.
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: {e}");
        }
    }
}

/// Runs a command; a non-zero exit is an error carrying its output.
fn run_command(mut command: Command, what: &str, hint: &str) -> Result<Output, DevError> {
    let output = command.output().map_err(|source| DevError::Spawn { what: what.to_string(), source })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(DevError::CommandFailed { what: what.to_string(), output: command_text(&output), hint: hint.to_string() })
    }
}

fn command_text(output: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let text = text.trim();
    if text.is_empty() {
        format!("exit status {}", output.status)
    } else {
        text.to_string()
    }
}

/// The folder of the PostgreSQL server binaries, found as the test harness
/// finds them: `pg_config --bindir`, then PATH, then the newest
/// /usr/lib/postgresql/*/bin.
fn find_bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let from_path = std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|dir| has_server(dir)));
    let from_debian = fs::read_dir("/usr/lib/postgresql").ok().and_then(|entries| {
        let mut dirs: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .collect();
        dirs.sort();
        dirs.into_iter().rev().map(|(_, dir)| dir).find(|dir| has_server(dir))
    });
    [from_pg_config, from_path, from_debian].into_iter().flatten().find(|dir| has_server(dir))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(DEV_PG_PORT + 1)
}

// ---------------------------------------------------------------------------
// Paths

/// The nearest folder at or above `start` whose Cargo.toml declares a
/// workspace; else the nearest with a Cargo.toml; else `start`.
pub fn workspace_root(start: &Path) -> PathBuf {
    let manifests = || start.ancestors().filter(|dir| dir.join("Cargo.toml").is_file());
    manifests()
        .find(|dir| {
            fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .or_else(|| manifests().next())
        .unwrap_or(start)
        .to_path_buf()
}

/// dev's folder: `given` (`--data-dir`, `CLERK_SYNC_DEV_DIR`) or
/// `target/clerk-sync-dev` in the workspace, absolute.
pub fn dev_dir(given: Option<&Path>) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let dir =
        given.map(Path::to_path_buf).unwrap_or_else(|| workspace_root(&cwd).join("target").join("clerk-sync-dev"));
    if dir.is_absolute() {
        dir
    } else {
        cwd.join(dir)
    }
}

/// The database of a `clerk-sync dev` running on `dir`, and the file that names it.
pub fn running_database(dir: &Path) -> Option<(String, PathBuf)> {
    let file = dir.join(DATABASE_URL_FILE);
    let url = fs::read_to_string(&file).ok()?.trim().to_string();
    (!url.is_empty()).then_some((url, file))
}

/// The database URL file, removed when dropped (dev stops, whatever the reason).
struct DatabaseUrlFile(PathBuf);

impl DatabaseUrlFile {
    /// Owner-only: the URL may hold a password.
    fn write(dir: &Path, url: &str) -> io::Result<Self> {
        let path = dir.join(DATABASE_URL_FILE);
        devkey::write_file(&path, format!("{url}\n").as_bytes(), true)?;
        Ok(Self(path))
    }
}

impl Drop for DatabaseUrlFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// `path` relative to the current directory when inside it.
pub fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// How to run `clerk-sync` from here: its name when on PATH, else the path
/// of this executable.
fn program() -> String {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("clerk-sync").is_file()));
    if on_path {
        return "clerk-sync".to_string();
    }
    std::env::current_exe().map(|exe| display_path(&exe)).unwrap_or_else(|_| "clerk-sync".to_string())
}

// ---------------------------------------------------------------------------
// The command

/// Where the database comes from.
enum Database {
    /// DATABASE_URL: described without its password.
    External {
        url: String,
        target: String,
    },
    Local {
        cluster: LocalCluster,
        state: ClusterState,
    },
}

pub fn run(args: DevArgs) -> Result<(), CliError> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(DevError::Runtime)?;
    // Ctrl-C is ours from here on, even while the cluster starts: it stops
    // everything this process started.
    let signal = {
        let _guard = runtime.enter();
        shutdown_signal().map_err(DevError::Signal)?
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let root = workspace_root(&cwd);
    let dir = dev_dir(args.data_dir.as_deref());

    let seed_dir = args.seed.then(|| args.seed_dir.clone().unwrap_or_else(|| root.join("events").join("seed")));
    // A wrong seed folder fails now, before anything starts.
    if let Some(dir) = &seed_dir {
        send::expand(std::slice::from_ref(dir)).map_err(DevError::Seed)?;
    }

    let database = match args.database_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => Database::External { url: url.to_string(), target: crate::migrate::describe_url(url) },
        None => {
            let (cluster, state) = LocalCluster::ensure(&dir)?;
            Database::Local { cluster, state }
        }
    };
    // The development session key, unless a real one is configured (then it is never read).
    let dev_key = if Env.get("CLERK_JWT_KEY").is_none() && Env.get("CLERK_JWKS_URL").is_none() {
        Some(DevKey::ensure(&dir).map_err(DevError::Key)?)
    } else {
        None
    };
    let result = runtime.block_on(main_loop(args.port, &database, &dir, dev_key.as_ref(), seed_dir.as_deref(), signal));
    runtime.shutdown_timeout(Duration::from_secs(2));
    if let Database::Local { mut cluster, .. } = database {
        let was_started = cluster.started;
        let stopped = cluster.stop();
        match &stopped {
            Ok(()) if was_started => println!("stopped PostgreSQL ({})", display_path(&cluster.dir)),
            Ok(()) => {}
            // The first error is the one returned; this one must not be lost.
            Err(e) if result.is_err() => eprintln!("warning: {e}"),
            Err(_) => {}
        }
        result?;
        stopped?;
        return Ok(());
    }
    Ok(result?)
}

async fn main_loop(
    port: u16,
    database: &Database,
    dir: &Path,
    dev_key: Option<&DevKey>,
    seed_dir: Option<&Path>,
    signal: impl Future<Output = &'static str>,
) -> Result<(), DevError> {
    tokio::pin!(signal);
    let startup = start(port, database, dev_key);
    let (app, listener, url) = tokio::select! {
        started = startup => started?,
        name = &mut signal => {
            println!("{name}: stopping");
            return Ok(());
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    // For the other commands (status, replay, …) run without DATABASE_URL; removed when this returns.
    let _url_file = match DatabaseUrlFile::write(dir, &url) {
        Ok(file) => Some(file),
        Err(e) => {
            tracing::warn!(error = %e, "cannot write {}: the other commands will need DATABASE_URL", DATABASE_URL_FILE);
            None
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app.clone(), async move {
        let _ = stopped.await;
    }));

    if let Some(dir) = seed_dir {
        // Signed as `clerk-sync send` signs: the first configured secret, or the development one.
        let configured = Env.get("CLERK_WEBHOOK_SECRET");
        let signer = Signer::new(Secret::choose(configured.as_deref()).value(), "CLERK_WEBHOOK_SECRET")
            .map_err(DevError::Seed)?;
        tokio::select! {
            seeded = seed(&app, dir, &signer) => { seeded.map_err(DevError::Seed)?; }
            name = &mut signal => {
                println!("{name}: stopping");
                let _ = stop.send(());
                let _ = server.await;
                return Ok(());
            }
        }
        println!();
    }
    let stops_postgres =
        matches!(database, Database::Local { state: ClusterState::Started | ClusterState::InitializedAndStarted, .. });
    let base = format!("http://127.0.0.1:{port}");
    print!("{}", next_steps(&base, dev_key, seed_dir.is_some(), stops_postgres));

    let name = signal.await;
    println!();
    println!("{name}: stopping the server");
    let _ = stop.send(());
    let _ = server.await;
    Ok(())
}

/// Prepares the database, builds every function's state, migrates, binds the
/// port and prints where everything is.
async fn start(
    port: u16,
    database: &Database,
    dev_key: Option<&DevKey>,
) -> Result<(Arc<App>, TcpListener, String), DevError> {
    let url = match database {
        Database::External { url, .. } => url.clone(),
        Database::Local { cluster, .. } => {
            cluster.create_database().await?;
            cluster.url(DEV_DB_NAME)
        }
    };
    let target = match database {
        Database::External { target, .. } => target.clone(),
        Database::Local { cluster, .. } => format!("postgres@127.0.0.1:{}/{DEV_DB_NAME}", cluster.port),
    };
    let source = DevSource::new(Env, url.clone()).with_session_key(dev_key.map(|k| k.public_pem.clone()));
    let app = Arc::new(App::from_source(&source)?);

    let mut client = app
        .all
        .database()
        .client()
        .await
        .map_err(|e| DevError::Database { target: target.clone(), reason: crate::error::report(&e) })?;
    let report = clerk_sync::db::migrate::run(&mut client).await?;
    drop(client);

    let listener = match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await {
        Ok(listener) => listener,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(DevError::PortInUse { port }),
        Err(source) => return Err(DevError::Listen { port, source }),
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    print!("{}", banner(port, database, &report.applied, &source, dev_key));
    Ok((app, listener, url))
}

/// What `dev` prints once it serves.
fn banner(
    port: u16,
    database: &Database,
    applied: &[&str],
    source: &DevSource<Env>,
    dev_key: Option<&DevKey>,
) -> String {
    let base = format!("http://127.0.0.1:{port}");
    let mut out = String::from("clerk-sync dev\n\n");
    match database {
        Database::External { target, .. } => {
            out.push_str(&format!("  database   {target} (from DATABASE_URL)\n"));
        }
        Database::Local { cluster, state } => {
            let what = match state {
                ClusterState::InitializedAndStarted => "created and started",
                ClusterState::Started => "started",
                ClusterState::AlreadyRunning => "already running: not started here, so left running at exit",
            };
            out.push_str(&format!(
                "  database   {} (local PostgreSQL {} in {}, {what})\n",
                cluster.url(DEV_DB_NAME),
                cluster.version,
                display_path(&cluster.dir)
            ));
        }
    }
    if applied.is_empty() {
        out.push_str(&format!("  schema     up to date ({} migrations)\n", MIGRATIONS.len()));
    } else {
        out.push_str(&format!("  schema     applied {}\n", applied.join(", ")));
    }
    if source.is_set("CLERK_WEBHOOK_SECRET") {
        out.push_str("  signing    from CLERK_WEBHOOK_SECRET\n");
    } else {
        out.push_str(&format!(
            "  signing    {} (the public development secret; set CLERK_WEBHOOK_SECRET to use another)\n",
            sign::DEV_SECRET
        ));
    }
    if source.get("CLERK_WEBHOOK_DEV_BYPASS").is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes")) {
        out.push_str("  WARNING    CLERK_WEBHOOK_DEV_BYPASS is on: signatures are not checked\n");
    }
    if !source.is_set("ENCRYPTION_KEY") && !source.is_set("ENCRYPTION_KEYS") {
        out.push_str("  vault      development key (set ENCRYPTION_KEY before storing real credentials)\n");
    }
    match dev_key {
        Some(key) if source.uses_dev_key() => out.push_str(&format!(
            "  sessions   development key {} (clerk-sync token mints tokens; set CLERK_JWT_KEY or \
             CLERK_JWKS_URL for real Clerk sessions)\n",
            display_path(&key.public_path)
        )),
        _ if source.is_set("CLERK_JWT_KEY") => out.push_str("  sessions   from CLERK_JWT_KEY\n"),
        _ if source.is_set("CLERK_JWKS_URL") => out.push_str("  sessions   from CLERK_JWKS_URL\n"),
        _ => out.push_str("  sessions   none: sync-status and seller-accounts answer 503\n"),
    }
    out.push('\n');
    for function in Function::ALL {
        let note = match function {
            Function::AllWebhooks => "  (all three families; development only)",
            Function::SellerAccounts => "[/{id}]",
            _ => "",
        };
        out.push_str(&format!(
            "  {:<20} {:<17} {base}{}{note}\n",
            function.name(),
            function.methods(),
            function.path()
        ));
    }
    out.push_str(&format!("  and each function at {base}/lambda-url/<function>/, as with cargo lambda watch\n\n"));
    out
}

/// What to try, printed once the stack is ready (after seeding): a delivery
/// that answers `processed` on a freshly seeded stack and, with the
/// development key, a session token for the seeded Ada and the curl line.
fn next_steps(base: &str, dev_key: Option<&DevKey>, seeded: bool, stops_postgres: bool) -> String {
    let program = program();
    let mut out = String::from("  try:\n");
    out.push_str(&format!("    {program} send {base}/webhooks/clerk-users {TRY_PAYLOAD}\n"));
    if let Some(key) = dev_key {
        match key.mint(SEEDED_USER, Some(SEEDED_ORG), TOKEN_TTL) {
            Ok(token) => {
                out.push_str(&format!("    curl -H \"Authorization: Bearer {token}\" {base}/sync-status\n"));
                out.push_str(&format!(
                    "  (a session token for Ada, admin of Acme Analytics{}, valid {} h; mint others with\n   \
                     {program} token --user <clerk user id> [--org <clerk org id>] [--role <role>])\n",
                    if seeded { "" } else { ", once --seed has loaded them" },
                    TOKEN_TTL.as_secs() / 3600
                ));
            }
            Err(e) => tracing::warn!(error = %e, "cannot mint the development session token"),
        }
    }
    out.push_str("\n  Ctrl-C stops the server");
    if stops_postgres {
        out.push_str(" and the PostgreSQL it started");
    }
    out.push_str(".\n\n");
    out
}

/// How long the printed token lasts: a working session, not Clerk's 60 s.
const TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);

/// Completes at Ctrl-C (or SIGTERM), naming it. Listening starts now.
#[cfg(unix)]
fn shutdown_signal() -> io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "Ctrl-C",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> io::Result<impl Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}

/// Logs to standard error; RUST_LOG filters (default: info).
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(io::stderr).with_target(false).try_init();
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clerk_sync_tests::TestDb;
    use serde_json::Value;

    use super::*;
    use crate::send::SendArgs;

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn routes_match_the_deployment_and_cargo_lambda_watch() {
        let cases: [(&str, Option<(Function, &str)>); 16] = [
            ("/webhooks/clerk-users", Some((Function::Users, "/webhooks/clerk-users"))),
            ("/webhooks/clerk-users/", Some((Function::Users, "/webhooks/clerk-users/"))),
            ("/webhooks/clerk-organizations", Some((Function::Organizations, "/webhooks/clerk-organizations"))),
            ("/webhooks/clerk-memberships", Some((Function::Memberships, "/webhooks/clerk-memberships"))),
            ("/webhooks/clerk", Some((Function::AllWebhooks, "/webhooks/clerk"))),
            ("/lambda-url/clerk-users/", Some((Function::Users, "/"))),
            ("/lambda-url/clerk-memberships", Some((Function::Memberships, "/"))),
            ("/lambda-url/seller-accounts/abc", Some((Function::SellerAccounts, "/abc"))),
            ("/lambda-url/sync-status/", Some((Function::SyncStatus, "/"))),
            ("/sync-status", Some((Function::SyncStatus, "/sync-status"))),
            ("/seller-accounts/6f1c/x", Some((Function::SellerAccounts, "/seller-accounts/6f1c/x"))),
            ("/lambda-url/clerk/", None),
            ("/webhooks/clerk-usersx", None),
            ("/webhooks/clerk-users/extra", None),
            ("/lambda-url/unknown/", None),
            ("/", None),
        ];
        for (path, expected) in cases {
            let routed = route(path);
            let routed = routed.as_ref().map(|(f, p)| (*f, p.as_str()));
            assert_eq!(routed, expected, "{path}");
        }
        for function in Function::ALL {
            assert_eq!(route(function.path()).map(|(f, _)| f), Some(function), "{function:?}");
        }
    }

    #[test]
    fn events_go_to_the_function_of_their_family() {
        assert_eq!(Function::for_event_type("user.created"), Function::Users);
        assert_eq!(Function::for_event_type("organization.deleted"), Function::Organizations);
        assert_eq!(Function::for_event_type("organizationMembership.updated"), Function::Memberships);
        assert_eq!(Function::for_event_type("organizationInvitation.created"), Function::AllWebhooks);
        assert_eq!(Function::for_event_type("session.created"), Function::AllWebhooks);
    }

    #[test]
    fn the_dev_source_fills_only_what_is_unset() {
        let empty: HashMap<&str, &str> = HashMap::new();
        let source = DevSource::new(&empty, "postgres://dev@localhost/clerk_sync");
        assert_eq!(source.get("DATABASE_URL").as_deref(), Some("postgres://dev@localhost/clerk_sync"));
        assert_eq!(source.get("SKIP_DB_MIGRATIONS").as_deref(), Some("true"));
        assert_eq!(source.get("CLERK_WEBHOOK_SECRET").as_deref(), Some(sign::DEV_SECRET));
        assert_eq!(source.get("ENCRYPTION_KEY").as_deref(), Some(DEV_ENCRYPTION_KEY));
        assert_eq!(source.get("DB_MAX_CONNECTIONS").as_deref(), Some("4"));
        assert_eq!(source.get("CLERK_JWT_KEY"), None);

        let set = HashMap::from([
            ("DATABASE_URL", "postgres://other@db/app"),
            ("SKIP_DB_MIGRATIONS", "false"),
            ("CLERK_WEBHOOK_SECRET", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
            ("ENCRYPTION_KEYS", "k1:0123456789abcdef0123456789abcdef"),
            ("DB_MAX_CONNECTIONS", "9"),
        ]);
        let source = DevSource::new(&set, "postgres://chosen@localhost/clerk_sync");
        assert_eq!(source.get("DATABASE_URL").as_deref(), Some("postgres://chosen@localhost/clerk_sync"));
        assert_eq!(source.get("SKIP_DB_MIGRATIONS").as_deref(), Some("true"), "dev migrated already");
        assert_eq!(source.get("CLERK_WEBHOOK_SECRET").as_deref(), Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"));
        assert_eq!(source.get("ENCRYPTION_KEY"), None, "the vault refuses both ENCRYPTION_KEY and ENCRYPTION_KEYS");
        assert_eq!(source.get("DB_MAX_CONNECTIONS").as_deref(), Some("9"));
    }

    #[test]
    fn the_dev_session_key_is_used_only_when_no_key_is_configured() {
        let key = Some("-----BEGIN PUBLIC KEY-----dev".to_string());
        let empty: HashMap<&str, &str> = HashMap::new();
        let source = DevSource::new(&empty, "postgres://dev@localhost/db").with_session_key(key.clone());
        assert_eq!(source.get("CLERK_JWT_KEY"), key);
        assert!(source.uses_dev_key());
        for (var, value) in [("CLERK_JWT_KEY", "-----BEGIN PUBLIC KEY-----real"), ("CLERK_JWKS_URL", "https://x/jwks")]
        {
            let set = HashMap::from([(var, value)]);
            let source = DevSource::new(&set, "postgres://dev@localhost/db").with_session_key(key.clone());
            assert_ne!(source.get("CLERK_JWT_KEY"), key, "{var} set: the development key is not used");
            assert!(!source.uses_dev_key());
        }
    }

    /// The `try:` command dev prints, and the README's, answer `processed`
    /// on a freshly seeded stack (the seed's own user.created would be stale).
    #[tokio::test(flavor = "multi_thread")]
    async fn the_printed_try_command_answers_processed_after_the_seed() {
        let readme = fs::read_to_string(workspace().join("README.md")).expect("README");
        let command = format!("send http://127.0.0.1:3000/webhooks/clerk-users {TRY_PAYLOAD}");
        assert!(readme.contains(&command), "the README names the same command: {command}");
        assert!(workspace().join(TRY_PAYLOAD).is_file(), "{TRY_PAYLOAD} exists");
        let steps = next_steps("http://127.0.0.1:3000", None, true, false);
        assert!(steps.contains(&command), "{steps}");

        let db = TestDb::spawn().await;
        let app = app_for(&db, &[]);
        let signer = Signer::new(sign::DEV_SECRET, "test").expect("valid");
        seed(&app, &workspace().join("events/seed"), &signer).await.expect("seeds");
        let (port, stop, server) = start_server(app).await;
        let args = sending(port, "/webhooks/clerk-users", &[TRY_PAYLOAD], None);
        assert_eq!(send::send(args).await.expect("delivered"), Summary { processed: 1, ..Summary::default() });
        let _ = stop.send(());
        let _ = server.await;
    }

    #[test]
    fn finds_the_workspace_root_from_a_member() {
        let root = workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(root.join("events").join("seed").is_dir(), "{}", root.display());
        let elsewhere = std::env::temp_dir().join(format!("clerk-sync-no-workspace-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&elsewhere).expect("mkdir");
        assert_eq!(workspace_root(&elsewhere), elsewhere);
        let _ = fs::remove_dir_all(&elsewhere);
    }

    fn app_for(db: &TestDb, extra: &[(&'static str, String)]) -> Arc<App> {
        let vars: HashMap<&str, &str> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let source = DevSource::new(&vars, db.url.clone());
        Arc::new(App::from_source(&source).expect("the development defaults make a valid configuration"))
    }

    /// The local server on a free port, stopped by the returned sender.
    async fn start_server(app: Arc<App>) -> (u16, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind a free port");
        let port = listener.local_addr().expect("bound").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, async move {
            let _ = stopped.await;
        }));
        (port, stop, server)
    }

    async fn get(port: u16, path: &str) -> send::Answer {
        get_as(port, path, None).await
    }

    async fn get_as(port: u16, path: &str, token: Option<&str>) -> send::Answer {
        let uri: Uri = format!("http://127.0.0.1:{port}{path}").parse().expect("valid URI");
        let client = send::HttpClient::for_uri(&uri).expect("client");
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = uri;
        if let Some(token) = token {
            let value = http::HeaderValue::try_from(format!("Bearer {token}")).expect("header");
            request.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        client.send(request, Duration::from_secs(10)).await.expect("the server answers")
    }

    fn sending(port: u16, path: &str, payloads: &[&str], svix_id: Option<&str>) -> SendArgs {
        SendArgs {
            url: format!("http://127.0.0.1:{port}{path}"),
            payloads: payloads.iter().map(|p| workspace().join(p)).collect(),
            secret: None,
            svix_id: svix_id.map(str::to_owned),
            timeout: 10,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn send_delivers_to_the_dev_server_and_the_row_lands() {
        let db = TestDb::spawn().await;
        let (port, stop, server) = start_server(app_for(&db, &[])).await;

        let id = sign::fresh_svix_id();
        let args = sending(port, "/webhooks/clerk-users", &["events/payloads/user.created.json"], Some(&id));
        let summary = send::send(args).await.expect("delivered");
        assert_eq!(summary, Summary { processed: 1, ..Summary::default() });
        let users = db.rows("SELECT clerk_user_id, email FROM users").await;
        assert_eq!(users.len(), 1, "{users:?}");
        let event =
            db.rows(&format!("SELECT status, event_type FROM clerk_webhook_events WHERE svix_id = '{id}'")).await;
        assert_eq!(event, [serde_json::json!({"status": "processed", "event_type": "user.created"})]);

        // The same message again, through the cargo-lambda-watch path: a duplicate.
        let args = sending(port, "/lambda-url/clerk-users/", &["events/payloads/user.created.json"], Some(&id));
        assert_eq!(send::send(args).await.expect("delivered"), Summary { duplicate: 1, ..Summary::default() });

        // A folder of mixed families to the catch-all: everything applies.
        let args = sending(port, "/webhooks/clerk", &["events/seed"], None);
        let summary = send::send(args).await.expect("delivered");
        assert_eq!(summary.total(), 7);
        assert_eq!(summary.non_2xx + summary.ignored + summary.failed, 0, "{summary:?}");
        assert_eq!(db.count("organization").await, 2);
        assert_eq!(db.count("user_organizations").await, 3);

        // Another secret is refused, and send says so by failing.
        let mut args = sending(port, "/webhooks/clerk-users", &["events/payloads/user.updated.json"], None);
        args.secret = Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into());
        match send::send(args).await {
            Err(SendError::Rejected { count: 1, total: 1 }) => {}
            other => panic!("expected one rejection, got {other:?}"),
        }

        // Unconfigured API functions, unknown paths and the index.
        let status = get(port, "/sync-status").await;
        assert_eq!(status.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(status.body.contains("CLERK_JWT_KEY"), "{}", status.body);
        assert_eq!(get(port, "/seller-accounts").await.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get(port, "/nowhere").await.status, StatusCode::NOT_FOUND);
        let index: Value = serde_json::from_str(&get(port, "/").await.body).expect("JSON index");
        assert_eq!(index["routes"].as_array().map(Vec::len), Some(Function::ALL.len()));
        // A webhook route answers GET as Lambda does: 405.
        assert_eq!(get(port, "/webhooks/clerk-users").await.status, StatusCode::METHOD_NOT_ALLOWED);

        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), server).await.expect("stops").expect("no panic");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_api_routes_run_the_real_handlers_once_configured() {
        let db = TestDb::spawn().await;
        let app = app_for(&db, &clerk_sync_tests::session::pem_settings());
        let signer = Signer::new(sign::DEV_SECRET, "test").expect("valid");
        seed(&app, &workspace().join("events/seed"), &signer).await.expect("seeds");
        let (port, stop, server) = start_server(app).await;
        // No session token: the real handler's 401, not dev's 503.
        for path in ["/sync-status", "/seller-accounts", "/lambda-url/seller-accounts/"] {
            let answer = get(port, path).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}: {}", answer.body);
        }
        // The seeded user, signed in to the seeded organization.
        let token = clerk_sync_tests::session::token(
            "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs",
            Some(("org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", "org:admin")),
        );
        for path in ["/sync-status", "/lambda-url/sync-status/"] {
            let answer = get_as(port, path, Some(&token)).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
            let status: Value = serde_json::from_str(&answer.body).expect("JSON");
            assert_eq!(status["verdicts"]["user"], "in_sync", "{status}");
            assert_eq!(status["verdicts"]["membership"], "in_sync", "{status}");
        }
        let accounts = get_as(port, "/seller-accounts", Some(&token)).await;
        assert_eq!(accounts.status, StatusCode::OK, "{}", accounts.body);
        assert_eq!(accounts.body, r#"{"seller_accounts":[]}"#);
        let _ = stop.send(());
        let _ = server.await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn seeding_loads_the_starter_data_set() {
        let db = TestDb::spawn().await;
        let app = app_for(&db, &[]);
        let signer = Signer::new(sign::DEV_SECRET, "test").expect("valid");
        let summary = seed(&app, &workspace().join("events/seed"), &signer).await.expect("seeds");
        assert_eq!(summary, Summary { processed: 7, ..Summary::default() });
        let active = "WHERE deleted_at IS NULL";
        assert_eq!(db.rows(&format!("SELECT 1 FROM users {active}")).await.len(), 2);
        assert_eq!(db.rows(&format!("SELECT 1 FROM organization {active}")).await.len(), 2);
        assert_eq!(db.rows(&format!("SELECT 1 FROM user_organizations {active}")).await.len(), 3);
        let contents = app.describe_contents().await.expect("counts");
        assert!(contents.starts_with("2 users ("), "{contents}");
        assert!(contents.ends_with("3 active memberships"), "{contents}");
        // Seeding again changes nothing: the rows already reflect every event.
        let again = seed(&app, &workspace().join("events/seed"), &signer).await.expect("seeds");
        assert_eq!(again.processed + again.stale, 7, "{again:?}");
        assert_eq!(db.rows(&format!("SELECT 1 FROM user_organizations {active}")).await.len(), 3);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_local_cluster_is_created_once_reused_and_stopped() {
        if find_bin_dir().is_none() {
            panic!("{}", DevError::NoPostgres);
        }
        let dir = std::env::temp_dir().join(format!("clerk-sync-dev-test-{}", uuid::Uuid::new_v4().simple()));
        let (mut cluster, state) = LocalCluster::ensure(&dir).expect("starts");
        assert_eq!(state, ClusterState::InitializedAndStarted);
        cluster.create_database().await.expect("creates the database");
        cluster.create_database().await.expect("finds the database");
        let port = cluster.port;
        let saved = fs::read_to_string(dir.join("port")).expect("the port is saved");
        assert_eq!(saved.trim(), port.to_string());

        // A second dev finds it running: it uses it and leaves it running.
        let (second, state) = LocalCluster::ensure(&dir).expect("finds it");
        assert_eq!((state, second.port), (ClusterState::AlreadyRunning, port));
        drop(second);
        assert_eq!(cluster.running_port(), Some(port), "only the process that started it stops it");

        cluster.stop().expect("stops");
        assert_eq!(cluster.running_port(), None);
        let (mut cluster, state) = LocalCluster::ensure(&dir).expect("starts again");
        assert_eq!(state, ClusterState::Started, "the data directory is reused, not initialized again");
        assert_eq!(cluster.port, port, "on the saved port");
        let (client, connection) =
            tokio_postgres::connect(&cluster.url(DEV_DB_NAME), tokio_postgres::NoTls).await.expect("connects");
        tokio::spawn(connection);
        client.simple_query("SELECT 1").await.expect("queries");
        drop(client);
        cluster.stop().expect("stops");
        let _ = fs::remove_dir_all(&dir);
    }
}
