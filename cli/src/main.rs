//! `clerk-sync`: the clerk-sync command-line tool.
//!
//! - `migrate`: applies pending schema migrations.
//! - `sign`: signs a Clerk payload and wraps it in a Lambda Function URL
//!   request event, for `cargo lambda invoke`.
//! - `send`: POSTs payloads with fresh svix headers.
//! - `dev`: runs every function locally against PostgreSQL.
//! - `token`: mints a development session token for `dev`'s API routes.
//! - `replay`, `rotate-keys`, `status`, `prune`: operator work on the database.
//! - `bench` (cargo feature `bench`): the per-event latency benchmark.

#[cfg(feature = "bench")]
mod bench;
mod dev;
mod devkey;
mod error;
mod event;
mod migrate;
mod ops;
mod send;
mod sign;

use std::{
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
};

use clap::{Args, Parser, Subcommand};
use clerk_sync::{
    clerk::Envelope,
    config::{Env, Source},
    db::migrate::MIGRATIONS,
    sync::prune::PruneOptions,
    sync::replay::ReplayFilter,
    vault::Vault,
};

use crate::{error::CliError, sign::Secret};

#[derive(Debug, Parser)]
#[command(name = "clerk-sync", version, about = "clerk-sync: keep PostgreSQL in step with Clerk webhooks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Migrate(MigrateArgs),
    Sign(SignArgs),
    Send(send::SendArgs),
    Dev(dev::DevArgs),
    Token(devkey::TokenArgs),
    Replay(ReplayArgs),
    RotateKeys(RotateKeysArgs),
    Status(StatusArgs),
    Prune(PruneArgs),
    #[cfg(feature = "bench")]
    Bench(bench::LatencyArgs),
}

/// The database to work on.
#[derive(Debug, Args)]
struct Database {
    /// PostgreSQL connection string (prefer the environment variable: command
    /// lines are visible to other users). Never printed.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<String>,
}

impl Database {
    fn url(&self) -> Result<String, CliError> {
        database_url(self.database_url.as_deref())
    }
}

/// `--database-url`/`DATABASE_URL`, else the secret `DATABASE_URL_SECRET_ARN`
/// names, fetched as the functions fetch it (the environment's AWS
/// credentials and region), so the deploy and operators can name the
/// secret rather than copy its value; else, while `clerk-sync dev` runs,
/// its database (the file it keeps in its folder), said on standard error.
fn database_url(given: Option<&str>) -> Result<String, CliError> {
    if let Some(url) = given.filter(|u| !u.trim().is_empty()) {
        return Ok(url.to_string());
    }
    if DatabaseSecretOnly.get("DATABASE_URL_SECRET_ARN").is_none() {
        let dir = dev::dev_dir(Env.get("CLERK_SYNC_DEV_DIR").map(PathBuf::from).as_deref());
        return match dev::running_database(&dir) {
            Some((url, file)) => {
                eprintln!(
                    "note: DATABASE_URL is not set: using the dev stack's database from {}",
                    dev::display_path(&file)
                );
                Ok(url)
            }
            None => Err(CliError::MissingDatabaseUrl),
        };
    }
    let resolved = runtime()?.block_on(clerk_sync::aws::secrets::load(DatabaseSecretOnly))?;
    resolved.get("DATABASE_URL").ok_or(CliError::MissingDatabaseUrl)
}

/// The environment without the other `*_ARN` variables: the commands that
/// take a database fetch that secret only.
struct DatabaseSecretOnly;

impl Source for DatabaseSecretOnly {
    fn get(&self, var: &str) -> Option<String> {
        match var {
            "CLERK_WEBHOOK_SECRET_ARN" | "ENCRYPTION_KEY_ARN" => None,
            _ => Env.get(var),
        }
    }
}

/// Reprocess stored webhook events through the same sync code as a delivery.
///
/// Events recorded as failed (data the code could not apply) are kept whole;
/// once the code is fixed, replay applies them. Idempotent: only rows still
/// failed (or received) are claimed, and the convergence rules make applying
/// an old event safe. Prints a summary: processed, stale, ignored, duplicate, failed.
#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    db: Database,
    /// Which events: failed (default) or received; repeat for both.
    #[arg(long = "status", value_name = "STATUS", value_parser = ["failed", "received"], default_value = "failed")]
    statuses: Vec<String>,
    /// Only events received at or after this time, e.g. 2026-11-30 or 2026-11-30T12:00:00Z.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only this event type, e.g. organizationMembership.created.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// At most this many events.
    #[arg(long, value_name = "N")]
    limit: Option<i64>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Re-encrypt every stored seller credential under the current vault key.
///
/// Put the new key first in ENCRYPTION_KEYS (id:secret,...) and keep the old
/// ones, run this, and remove the old keys once it reports nothing remaining.
/// Batches commit one by one: safe to interrupt and run again.
#[derive(Debug, Args)]
struct RotateKeysArgs {
    #[command(flatten)]
    db: Database,
    /// Rows per batch (one transaction each).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: u32,
}

/// The operator's view of the whole sync, across all tenants.
///
/// Event counts by type and status, the latest events, failed events with
/// their errors, and users, organizations and memberships by state (active,
/// placeholder, deleted).
#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    db: Database,
    /// How many of the latest events to list.
    #[arg(long, default_value_t = 10)]
    latest: i64,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// Delete processed, stale and ignored webhook events older than N days.
///
/// Failed events (waiting for a fix and a replay) and received ones are
/// always kept. Deletes in batches, each its own short transaction, oldest
/// first: safe while deliveries arrive, safe to interrupt and run again.
/// Run it with the owner's DATABASE_URL (the one `migrate` uses) or as the
/// clerk_sync_prune role of docs/least-privilege.sql: the functions' own
/// role may not delete events.
#[derive(Debug, Args)]
struct PruneArgs {
    #[command(flatten)]
    db: Database,
    /// Delete events received more than this many days ago.
    #[arg(long, value_name = "DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    older_than_days: u32,
    /// Count what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Rows per batch (one transaction each).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: u32,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Apply pending schema migrations to DATABASE_URL.
///
/// Safe to run at any time and from several places at once: the run holds an
/// advisory lock, and an up-to-date database costs one query. Migrations that
/// were applied and then changed or removed stop the run.
#[derive(Debug, Args)]
struct MigrateArgs {
    /// PostgreSQL connection string, e.g. postgres://user:password@localhost:5432/app
    /// (prefer the environment variable: command lines are visible to other users). Never printed.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<String>,
}

/// Sign a Clerk webhook payload and wrap it in a Lambda Function URL request event
///
/// The payload file's bytes are the request body exactly as they are (nothing
/// is re-serialized or trimmed), signed as Svix signs a delivery: svix-id,
/// svix-timestamp (now, unless given) and svix-signature headers. The event
/// prints to standard output, or to --output.
///
/// Handlers accept a signature for 5 minutes: sign again just before sending.
///
/// Examples:
///   clerk-sync sign events/payloads/user.created.json -o /tmp/ev.json
///   cargo lambda watch -A 127.0.0.1    # in another terminal
///   cargo lambda invoke clerk-users --invoke-address 127.0.0.1 --data-file /tmp/ev.json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
struct SignArgs {
    /// The Clerk payload to sign, e.g. events/payloads/user.created.json.
    #[arg(value_name = "PAYLOAD.json")]
    payload: PathBuf,

    /// Write the event to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// The svix-id header [default: a fresh msg_<uuid>]. Reusing an id replays the
    /// same message: the handler answers it as a duplicate.
    #[arg(long, value_name = "ID")]
    svix_id: Option<String>,

    /// The svix-timestamp header, in Unix seconds [default: now]. Handlers refuse
    /// timestamps more than 5 minutes from their clock.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(0..))]
    timestamp: Option<i64>,

    /// The request path (rawPath) of the event.
    #[arg(long, value_name = "PATH", default_value = "/")]
    path: String,

    /// The endpoint's signing secret (whsec_…); with several (comma- or
    /// whitespace-separated, as during a rotation) the first signs
    /// [default: the development secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw].
    /// Never printed.
    #[arg(long, env = "CLERK_WEBHOOK_SECRET", hide_env_values = true, value_name = "WHSEC")]
    secret: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate(args) => migrate(args),
        Command::Sign(args) => sign(args),
        Command::Send(args) => send::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Token(args) => devkey::run(args),
        Command::Replay(args) => replay(args),
        Command::RotateKeys(args) => rotate_keys(args),
        Command::Status(args) => status(args),
        Command::Prune(args) => prune(args),
        #[cfg(feature = "bench")]
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error::report(&e));
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Runtime)
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    println!("{}", serde_json::to_string_pretty(value).map_err(CliError::Serialize)?);
    Ok(())
}

fn replay(args: ReplayArgs) -> Result<(), CliError> {
    let url = args.db.url()?;
    let filter =
        ReplayFilter { statuses: args.statuses, since: args.since, event_type: args.event_type, limit: args.limit };
    let summary = runtime()?.block_on(ops::replay(&url, &filter))?;
    if args.json {
        return print_json(&summary);
    }
    println!(
        "replayed {} events: {} processed, {} stale, {} ignored, {} duplicate, {} failed",
        summary.total(),
        summary.processed,
        summary.stale,
        summary.ignored,
        summary.duplicate,
        summary.failed
    );
    Ok(())
}

fn rotate_keys(args: RotateKeysArgs) -> Result<(), CliError> {
    let url = args.db.url()?;
    let vault = Vault::from_source(&clerk_sync::config::Env)?;
    let rotation = runtime()?.block_on(ops::rotate_keys(&url, &vault, args.batch_size as usize))?;
    println!("re-encrypted {} credentials in {} accounts", rotation.values, rotation.rows);
    for failure in &rotation.failed {
        eprintln!("could not decrypt (left as it was): {failure}");
    }
    if rotation.remaining > 0 {
        println!(
            "remaining: {} accounts not under the current key; run again (or see the errors above)",
            rotation.remaining
        );
    } else {
        println!("remaining: 0 — every credential is under the current key; old keys can be removed");
    }
    Ok(())
}

fn status(args: StatusArgs) -> Result<(), CliError> {
    let url = args.db.url()?;
    let overview = runtime()?.block_on(ops::status(&url, args.latest))?;
    if args.json {
        return print_json(&overview);
    }
    print!("{}", ops::render(&overview));
    Ok(())
}

fn prune(args: PruneArgs) -> Result<(), CliError> {
    let url = args.db.url()?;
    let options = PruneOptions {
        older_than_days: args.older_than_days,
        dry_run: args.dry_run,
        batch_size: i64::from(args.batch_size),
    };
    let report = runtime()?.block_on(ops::prune(&url, &options))?;
    if args.json {
        return print_json(&report);
    }
    let verb = if report.dry_run { "would delete" } else { "deleted" };
    println!(
        "{verb} {} events received before {} ({} processed, {} stale, {} ignored)",
        report.deleted(),
        report.cutoff,
        report.processed,
        report.stale,
        report.ignored
    );
    if report.kept_failed + report.kept_received > 0 {
        println!(
            "kept {} failed and {} received events older than that (see clerk-sync status; replay them with clerk-sync replay)",
            report.kept_failed, report.kept_received
        );
    }
    Ok(())
}

fn migrate(args: MigrateArgs) -> Result<(), CliError> {
    let url = database_url(args.database_url.as_deref())?;
    let report = runtime()?.block_on(migrate::run(&url))?;
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

fn sign(args: SignArgs) -> Result<(), CliError> {
    let bytes =
        std::fs::read(&args.payload).map_err(|source| CliError::ReadPayload { path: args.payload.clone(), source })?;
    let body = std::str::from_utf8(&bytes).map_err(|_| CliError::PayloadNotUtf8 { path: args.payload.clone() })?;

    let secret = Secret::choose(args.secret.as_deref());
    match secret {
        Secret::Development => eprintln!(
            "note: CLERK_WEBHOOK_SECRET is not set; signing with the development secret {}. \
             Set CLERK_WEBHOOK_SECRET or pass --secret to sign for another endpoint.",
            sign::DEV_SECRET
        ),
        Secret::Configured { count, .. } if count > 1 => {
            eprintln!("note: CLERK_WEBHOOK_SECRET holds {count} secrets; signing with the first")
        }
        Secret::Configured { .. } => {}
    }

    let svix_id = args.svix_id.unwrap_or_else(sign::fresh_svix_id);
    let timestamp = args.timestamp.unwrap_or_else(sign::now);
    let text = sign::signed_event(secret.value(), &svix_id, timestamp, &args.path, body)?;

    match Envelope::parse(&bytes) {
        Ok(envelope) => eprintln!("signed {} as {svix_id} at {timestamp}", envelope.event_type),
        Err(reason) => eprintln!(
            "warning: {} is not a Clerk webhook payload ({reason}); the handlers will answer 400",
            args.payload.display()
        ),
    }

    match &args.output {
        Some(path) => {
            std::fs::write(path, text).map_err(|source| CliError::WriteOutput { path: path.clone(), source })?
        }
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).map_err(CliError::WriteStdout)?
        }
    }
    Ok(())
}
