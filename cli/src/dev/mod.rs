//! `clerk-sync dev`: every function on one local port, against PostgreSQL.
//!
//! Uses `DATABASE_URL` when set; otherwise runs a PostgreSQL cluster of its
//! own from the installed server binaries, kept under
//! `target/clerk-sync-dev/` and reused from one run to the next. Migrates,
//! then serves each function under the routes the deployment exposes, calling
//! the very handler functions the Lambda binaries call: no second
//! implementation. Ctrl-C stops the server, then the cluster if this process
//! started it.

mod app;
mod banner;
mod config;
mod database;
mod error;
pub mod key;
mod routes;
mod seed;
mod server;
#[cfg(test)]
mod tests;

use std::{
    future::Future,
    io,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use clap::Args;
use clerk_sync::config::{Env, Source};
use tokio::net::TcpListener;

pub use self::error::DevError;
use self::{
    app::App,
    banner::{banner, next_steps},
    config::DevSource,
    database::{ClusterState, Database, LocalCluster, DEV_DB_NAME},
    key::DevKey,
    seed::seed,
    server::serve,
};
use crate::{
    devdir::{dev_dir, display_path, workspace_root, DatabaseUrlFile, DATABASE_URL_FILE},
    send::Signer,
    sign::Secret,
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
///   POST /webhooks/clerk-users, /webhooks/clerk-organizations, /webhooks/clerk-memberships,
///        /webhooks/clerk-invitations, /webhooks/clerk-domains, /webhooks/clerk-roles
///   POST /webhooks/clerk                 every family (development only)
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

pub fn run(args: DevArgs) -> Result<(), DevError> {
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
        crate::send::expand(std::slice::from_ref(dir)).map_err(DevError::Seed)?;
    }

    let database = match args.database_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => Database::External { url: url.to_string(), target: crate::database::describe_url(url) },
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
        let was_started = cluster.started_here();
        let stopped = cluster.stop();
        match &stopped {
            Ok(()) if was_started => println!("stopped PostgreSQL ({})", display_path(cluster.dir())),
            Ok(()) => {}
            // The first error is the one returned; this one must not be lost.
            Err(e) if result.is_err() => eprintln!("warning: {e}"),
            Err(_) => {}
        }
        result?;
        stopped?;
        return Ok(());
    }
    result
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
        Database::Local { cluster, .. } => format!("postgres@127.0.0.1:{}/{DEV_DB_NAME}", cluster.port()),
    };
    let source = DevSource::new(Env, url.clone()).with_session_key(dev_key.map(|k| k.public_pem.clone()));
    let app = Arc::new(App::from_source(&source)?);

    let mut client = app
        .catch_all()
        .database()
        .client()
        .await
        .map_err(|e| DevError::Database { target: target.clone(), reason: crate::error::report(&e) })?;
    let report = clerk_sync::sync::schema::migrate(&mut client).await?;
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
