//! The operator commands over the database: `replay`, `rotate-keys`,
//! `status`, `prune`. They share their failures ([`OpsError`]): finding and
//! reaching the database, and PostgreSQL refusing a query. The reconcile
//! commands (`crate::reconcile`) connect and tell runs through them too.

use std::io::IsTerminal;

use clap::Args;
use clerk_sync::{
    config::Env,
    db::tls::TlsSettings,
    db::{build_pool, DbError, DbSettings, Pooler, Timeouts},
    health::{self, Health, Thresholds},
    reconcile::{
        history::{self, RunSummary},
        Kind, Report,
    },
    seller_accounts::{self, StoreError},
    sync::overview::{self, Overview},
    sync::prune::{self, PruneOptions, PruneReport},
    sync::replay::{self, ReplayFilter, ReplaySummary},
    sync::Outcome,
    vault::Vault,
    ConfigError,
};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_postgres::error::SqlState;

use crate::{
    database::{self, Database, DatabaseError, CONNECT_HINT},
    error::Failure,
};

/// Reprocess stored webhook events through the same sync code as a delivery.
///
/// Events recorded as failed (data the code could not apply) are kept whole;
/// once the code is fixed, replay applies them. Idempotent: only rows still
/// failed (or received) are claimed, and the convergence rules make applying
/// an old event safe. Prints a summary: processed, stale, ignored, duplicate, failed.
#[derive(Debug, Args)]
pub struct ReplayArgs {
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
pub struct RotateKeysArgs {
    #[command(flatten)]
    db: Database,
    /// Rows per batch (one transaction each).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: u32,
}

/// The operator's view of the whole sync, across all tenants.
///
/// Health first: per family, the last event received, events and failures
/// in the last hour and day, and the lag (receipt minus the event's own
/// timestamp) at p50 and p99 over the last day; the replay backlog; the last
/// reconcile and how fresh it is; and any problems and warnings. Then event
/// counts by type and status, the latest events, failed events with their
/// errors, rows by state (active, placeholder, deleted), and the last
/// reconcile run: its state, when, whether complete, its drift counts and error.
///
/// With --check (for cron and CI) it exits 1 when unhealthy, each problem on
/// its own line of standard error: failed events waiting for replay; no event
/// received for longer than --max-silence while users has live rows; the last
/// reconcile failed or abandoned, or the last completed one older than twice
/// --reconcile-schedule. No completed reconcile at all is only a warning
/// unless --require-reconcile.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    db: Database,
    /// How many of the latest events to list.
    #[arg(long, default_value_t = 10)]
    latest: i64,
    /// Print JSON instead of tables (with `healthy`, `problems` and `warnings`).
    #[arg(long)]
    json: bool,
    /// Exit 1 when unhealthy, printing each problem on standard error.
    #[arg(long)]
    check: bool,
    /// Unhealthy when no event was received for longer than this while users has live rows (90s, 30m, 24h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = health::parse_duration)]
    max_silence: std::time::Duration,
    /// How often reconcile runs: unhealthy when the last completed run is older than twice this.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = health::parse_duration)]
    reconcile_schedule: std::time::Duration,
    /// Unhealthy, not only a warning, when no reconcile has completed yet.
    #[arg(long)]
    require_reconcile: bool,
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
pub struct PruneArgs {
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

/// Every way an operator command fails. None prints the URL.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Database(#[from] DatabaseError),

    /// A bad vault key, `sslmode`, `PGSSLMODE` or `PGSSLROOTCERT`.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A query of `what` failed; the source holds PostgreSQL's message.
    #[error("{what} failed")]
    Query { what: &'static str, source: DbError },

    #[error("prune deletes events, which the functions' least-privilege role may not do")]
    PruneNotAllowed(#[source] DbError),

    #[error("re-encrypting credentials failed")]
    Rotate(#[source] StoreError),

    #[error("--since is not a time PostgreSQL understands (e.g. 2026-11-30 or 2026-11-30T12:00:00Z)")]
    InvalidSince,

    #[error("cannot serialize the report: {0}")]
    Serialize(serde_json::Error),
}

impl Failure for OpsError {
    fn hint(&self) -> Option<String> {
        match self {
            OpsError::Database(e) => e.hint(),
            OpsError::Query { source: DbError::Unavailable(_), .. } => Some(CONNECT_HINT.to_string()),
            OpsError::Query { source, .. } => Some(query_hint(source).to_string()),
            OpsError::PruneNotAllowed(_) => Some(
                "run it with the owner's DATABASE_URL (the one clerk-sync migrate uses) or as the clerk_sync_prune \
                 role (docs/least-privilege.sql)"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// What to check when PostgreSQL refused a query, by its SQLSTATE.
fn query_hint(error: &DbError) -> &'static str {
    let state = error.sql_state();
    if state == Some(&SqlState::UNDEFINED_TABLE)
        || state == Some(&SqlState::UNDEFINED_COLUMN)
        || state == Some(&SqlState::UNDEFINED_FUNCTION)
        || matches!(error, DbError::Schema(_))
    {
        "the schema is missing or older than this clerk-sync: run clerk-sync migrate on this database \
         (or check that the URL names the right database)"
    } else if state == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        "the database user may not do this: use the owner's DATABASE_URL (the one clerk-sync migrate uses), \
         or grant what docs/least-privilege.sql grants"
    } else if state.is_some_and(|s| s.code().starts_with("57") || s.code().starts_with("08")) {
        "the server closed the connection or is shutting down: check that it is running, then run the command again"
    } else {
        "the message after \"failed:\" is PostgreSQL's own; check that the URL names the clerk-sync database \
         and that clerk-sync migrate has run"
    }
}

/// What to check when a query failed: the server unreachable, or what its SQLSTATE says.
pub fn db_hint(error: &DbError) -> Option<String> {
    match error {
        DbError::Unavailable(_) => Some(CONNECT_HINT.to_string()),
        e => Some(query_hint(e).to_string()),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, OpsError> {
    Ok(crate::runtime::current_thread().map_err(DatabaseError::Runtime)?)
}

fn print_json(value: &impl serde::Serialize) -> Result<(), OpsError> {
    println!("{}", serde_json::to_string_pretty(value).map_err(OpsError::Serialize)?);
    Ok(())
}

pub fn replay(args: ReplayArgs) -> Result<(), OpsError> {
    let url = args.db.url()?;
    let filter =
        ReplayFilter { statuses: args.statuses, since: args.since, event_type: args.event_type, limit: args.limit };
    let summary = runtime()?.block_on(replay_events(&url, &filter))?;
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

pub fn rotate_keys(args: RotateKeysArgs) -> Result<(), OpsError> {
    let url = args.db.url()?;
    let vault = Vault::from_source(&Env)?;
    let rotation = runtime()?.block_on(rotate_credentials(&url, &vault, args.batch_size as usize))?;
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

/// `status --json`: the overview's fields, `last_reconcile`, and the
/// health's (`healthy`, `problems`, `warnings`, `families`, `backlog`,
/// `reconcile`, …).
#[derive(Debug, serde::Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub overview: Overview,
    /// The latest reconcile run (a dry run included); `null` before the first.
    pub last_reconcile: Option<RunSummary>,
    #[serde(flatten)]
    pub health: Health,
}

pub fn status(args: StatusArgs) -> Result<(), OpsError> {
    let url = args.db.url()?;
    let thresholds = Thresholds {
        max_silence: args.max_silence,
        reconcile_schedule: args.reconcile_schedule,
        require_reconcile: args.require_reconcile,
    };
    let status = runtime()?.block_on(read_status(&url, args.latest, &thresholds))?;
    if args.json {
        print_json(&status)?;
    } else {
        print!("{}", render_health(&status.health));
        print!("{}", render(&status.overview));
        print!("{}", render_last_run(status.last_reconcile.as_ref()));
    }
    if args.check {
        for problem in &status.health.problems {
            eprintln!("unhealthy: {}", problem.message);
        }
        for warning in &status.health.warnings {
            eprintln!("warning: {}", warning.message);
        }
        if !status.health.healthy {
            // Not an error of the command (those say `error:` and exit 1
            // through main): the report is out, the reasons are told.
            use std::io::Write;
            let _ = std::io::stdout().flush();
            std::process::exit(1);
        }
    }
    Ok(())
}

pub fn prune(args: PruneArgs) -> Result<(), OpsError> {
    let url = args.db.url()?;
    let options = PruneOptions {
        older_than_days: args.older_than_days,
        dry_run: args.dry_run,
        batch_size: i64::from(args.batch_size),
    };
    let report = runtime()?.block_on(prune_events(&url, &options))?;
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

/// One pooled connection to `url`, with TLS as the URL's `sslmode` (or
/// `PGSSLMODE`) says and `PGSSLROOTCERT`, exactly as the functions connect.
pub async fn connect(url: &str) -> Result<clerk_sync::db::Client, OpsError> {
    connect_with(url, |_| {}).await
}

/// The same, with `adjust` applied to the settings first.
async fn connect_with(url: &str, adjust: impl FnOnce(&mut DbSettings)) -> Result<clerk_sync::db::Client, OpsError> {
    let mut settings = DbSettings::for_url(url);
    settings.connect_timeout = std::time::Duration::from_secs(10);
    settings.tls = TlsSettings::from_source(&Env)?;
    settings.pooler = Pooler::from_source(&Env)?;
    settings.timeouts = Timeouts::from_source(&Env)?;
    adjust(&mut settings);
    let pool = build_pool(&settings)?;
    pool.get().await.map_err(|e| {
        OpsError::Database(DatabaseError::Connect {
            target: database::describe_url(url),
            // tokio-postgres's error carries the cause; the pool's wrapper adds nothing.
            source: match e {
                clerk_sync::db::PoolError::Backend(e) => e.into(),
                e => e.into(),
            },
        })
    })
}

/// A progress bar on a terminal, nothing otherwise (logs and CI stay clean).
fn progress(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} {{msg}}")) {
        bar.set_style(style);
    }
    bar
}

pub async fn replay_events(url: &str, filter: &ReplayFilter) -> Result<ReplaySummary, OpsError> {
    let client = connect(url).await?;
    let total = replay::count(&client, filter).await.map_err(replay_error)?;
    let bar = progress(total.max(0) as u64, "replaying");
    let summary = replay::replay(&client, filter, |svix_id, outcome| {
        if let Outcome::Failed(reason) = outcome {
            bar.println(format!("{svix_id}: still failed: {reason}"));
        }
        bar.inc(1);
    })
    .await
    .map_err(replay_error)?;
    bar.finish_and_clear();
    Ok(summary)
}

/// The one data error a replay query can meet is a `--since` PostgreSQL cannot read.
fn replay_error(e: DbError) -> OpsError {
    match e.sql_state().map(|s| s.code()) {
        Some(code) if code.starts_with("22") => OpsError::InvalidSince,
        _ => OpsError::Query { what: "replaying events", source: e },
    }
}

pub struct Rotation {
    pub rows: usize,
    pub values: usize,
    pub failed: Vec<String>,
    pub remaining: i64,
}

/// Re-encrypts every stored credential under the current key, one batch at
/// a time so progress shows; resumable, like the library call it loops.
pub async fn rotate_credentials(url: &str, vault: &Vault, batch_size: usize) -> Result<Rotation, OpsError> {
    let client = connect(url).await?;
    let bar = progress(0, "re-encrypting");
    let mut rotation = Rotation { rows: 0, values: 0, failed: Vec::new(), remaining: 0 };
    loop {
        let report = seller_accounts::rotate_keys(&client, vault, batch_size, Some(1)).await.map_err(|e| match e {
            StoreError::Db(source) => OpsError::Query { what: "re-encrypting credentials", source },
            e => OpsError::Rotate(e),
        })?;
        rotation.rows += report.rows;
        rotation.values += report.values;
        rotation
            .failed
            .extend(report.failed.iter().map(|f| format!("seller account {} ({}): {}", f.id, f.field, f.error)));
        rotation.remaining = report.remaining;
        bar.set_length((rotation.rows as u64) + report.remaining.max(0) as u64);
        bar.set_position(rotation.rows as u64);
        // Done, or only rows that cannot be re-encrypted (or are locked) are left.
        if report.remaining == 0 || report.rows == 0 {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(rotation)
}

/// The overview, the health figures and the last reconcile run, on one
/// connection (the queries are pipelined), weighed against `thresholds`.
pub async fn read_status(url: &str, latest: i64, thresholds: &Thresholds) -> Result<Status, OpsError> {
    let client = connect(url).await?;
    let behind_pooler = client.pooler() == Pooler::Transaction;
    let role_timeouts = Timeouts::from_source(&Env)? == Timeouts::Role;
    let (overview, activity, runs, facts, missing, missing_timeouts) = tokio::join!(
        overview::overview(&client, latest),
        health::activity(&client),
        history::latest_runs(&client, 1),
        health::reconcile_facts(&client),
        async {
            if behind_pooler {
                health::missing_routines(&client).await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if role_timeouts {
                health::missing_timeouts(&client).await
            } else {
                Ok(Vec::new())
            }
        },
    );
    let missing = missing.map_err(|source| OpsError::Query { what: "looking for the event routines", source })?;
    let missing_timeouts =
        missing_timeouts.map_err(|source| OpsError::Query { what: "reading the role's timeouts", source })?;
    let overview = overview.map_err(|source| OpsError::Query { what: "reading the overview", source })?;
    let activity = activity.map_err(|source| OpsError::Query { what: "reading the event log's health", source })?;
    // A schema from before reconcile, or a role that may not read its runs: the rest still shows.
    let unreadable = |e: &DbError| {
        e.sql_state() == Some(&SqlState::UNDEFINED_TABLE) || e.sql_state() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
    };
    let last_reconcile = match runs {
        Ok(runs) => runs.into_iter().next(),
        Err(e) if unreadable(&e) => {
            eprintln!("note: the reconcile runs cannot be read ({}): {}", clerk_sync::error_chain(&e), query_hint(&e));
            None
        }
        Err(source) => return Err(OpsError::Query { what: "reading the reconcile runs", source }),
    };
    let facts = match facts {
        Ok(facts) => Some(facts),
        Err(e) if unreadable(&e) => None,
        Err(source) => return Err(OpsError::Query { what: "reading the reconcile runs", source }),
    };
    let inputs = health::Inputs {
        event_counts: &overview.events_by_type_and_status,
        live_users: overview.users.active + overview.users.placeholder,
        reconcile: facts.as_ref(),
        missing_routines: &missing,
        missing_timeouts: &missing_timeouts,
    };
    let health = health::assess(&activity, &inputs, thresholds);
    Ok(Status { overview, last_reconcile, health })
}

/// The statement timeout of `prune`'s connection.
const PRUNE_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes old processed, stale and ignored events in batches, with a progress bar.
pub async fn prune_events(url: &str, options: &PruneOptions) -> Result<PruneReport, OpsError> {
    // Counting a large table may outlast the functions' statement timeout;
    // each delete batch stays short whatever this says. Set by this
    // connection, so it overrides a role's own.
    let client = connect_with(url, |settings| {
        settings.statement_timeout = PRUNE_STATEMENT_TIMEOUT;
        settings.timeouts = Timeouts::Client;
    })
    .await?;
    let bar = progress(0, "pruning");
    let report = prune::prune_with(&client, options, |deleted, found| {
        bar.set_length(found.max(deleted));
        bar.set_position(deleted);
    })
    .await
    .map_err(prune_error)?;
    bar.finish_and_clear();
    Ok(report)
}

/// Permission denied is the likely mistake: the functions' role, not the owner's.
fn prune_error(e: DbError) -> OpsError {
    if e.sql_state() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return OpsError::PruneNotAllowed(e);
    }
    OpsError::Query { what: "pruning events", source: e }
}

/// Health at a glance: the verdict and its reasons, a row per family, the
/// backlog and the reconcile's freshness.
pub fn render_health(h: &Health) -> String {
    let mut out = String::new();
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let verdict = if h.healthy { "healthy" } else { "UNHEALTHY" };
    out.push_str(&format!(
        "Health: {verdict} ({}, {}) at {}\n",
        count(h.problems.len(), "problem"),
        count(h.warnings.len(), "warning"),
        h.checked_at
    ));
    for problem in &h.problems {
        out.push_str(&format!("  problem: {}\n", problem.message));
    }
    for warning in &h.warnings {
        out.push_str(&format!("  warning: {}\n", warning.message));
    }

    out.push_str(
        "\nFamilies (events and failures in the last hour / day; lag = receipt - event timestamp, last day)\n",
    );
    let row = |cells: [&str; 7]| {
        let [family, last, ago, events, failed, p50, p99] = cells;
        let line = format!("{family:<14} {last:<20} {ago:>7} {events:>13} {failed:>13} {p50:>8} {p99:>8}");
        line.trim_end().to_string() + "\n"
    };
    out.push_str(&row(["family", "last received (UTC)", "ago", "events 1h/1d", "failed 1h/1d", "lag p50", "lag p99"]));
    for f in &h.families {
        let last = f.last_received_at.as_deref().map_or("(none)".to_string(), |at| at.chars().take(19).collect());
        let ago = f.seconds_since_last_received.map_or("-".to_string(), |s| health::age(s as f64));
        let lag = |ms: Option<f64>| ms.map_or("-".to_string(), |ms| health::age(ms / 1000.0));
        out.push_str(&row([
            &f.family,
            &last,
            &ago,
            &format!("{}/{}", f.events_last_hour, f.events_last_day),
            &format!("{}/{}", f.failed_last_hour, f.failed_last_day),
            &lag(f.lag_p50_ms),
            &lag(f.lag_p99_ms),
        ]));
    }

    let b = &h.backlog;
    out.push_str(&format!("\nReplay backlog: {} failed, {} received (waiting over a minute", b.failed, b.received));
    match &b.oldest_received_at {
        Some(at) => out.push_str(&format!("; oldest received {at}); replay with clerk-sync replay\n")),
        None => out.push_str(")\n"),
    }

    let r = &h.reconcile;
    out.push_str("Reconcile: ");
    match (r.last_run_id, &r.last_run_state) {
        (Some(id), Some(state)) => {
            let complete = if r.last_run_complete == Some(true) { "complete" } else { "not complete" };
            out.push_str(&format!("last run {id} {state}, {complete}, drift {} rows", r.last_run_drift.unwrap_or(0)));
        }
        _ => out.push_str("no run yet"),
    }
    match (&r.last_completed_at, r.seconds_since_last_completed) {
        (Some(at), Some(ago)) => out.push_str(&format!(
            "; last completed {at} ({} ago; schedule {})\n",
            health::age(ago as f64),
            health::threshold(r.schedule_seconds)
        )),
        _ => out.push_str(&format!("; none completed (schedule {})\n", health::threshold(r.schedule_seconds))),
    }
    out.push('\n');
    out
}

/// The overview as readable tables.
pub fn render(o: &Overview) -> String {
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str], widths: &[usize]| {
        let row: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(row.join("  ").trim_end());
        out.push('\n');
    };
    out.push_str("Rows\n");
    let widths = [14, 8, 12, 8];
    line(&mut out, &["", "active", "placeholder", "deleted"], &widths);
    for (name, c) in [
        ("users", &o.users),
        ("organizations", &o.organizations),
        ("memberships", &o.memberships),
        ("invitations", &o.invitations),
        ("domains", &o.domains),
        ("roles", &o.roles),
        ("permissions", &o.permissions),
    ] {
        line(&mut out, &[name, &c.active.to_string(), &c.placeholder.to_string(), &c.deleted.to_string()], &widths);
    }
    out.push_str("(invitations: active = pending, deleted = accepted or revoked)\n");
    out.push_str("\nEvents by type and status\n");
    let widths = [34, 14, 10, 8];
    line(&mut out, &["type", "family", "status", "count"], &widths);
    for c in &o.events_by_type_and_status {
        line(&mut out, &[&c.event_type, &c.family, &c.status, &c.count.to_string()], &widths);
    }
    let events = |out: &mut String, title: &str, list: &[overview::EventSummary], with_error: bool| {
        out.push_str(&format!("\n{title}\n"));
        if list.is_empty() {
            out.push_str("(none)\n");
            return;
        }
        let widths = [27, 34, 14, 10, 8, 34];
        line(out, &["received (UTC)", "type", "family", "status", "attempts", "svix-id"], &widths);
        for e in list {
            let attempts = e.attempts.to_string();
            line(out, &[&e.received_at, &e.event_type, &e.family, &e.status, &attempts, &e.svix_id], &widths);
            if with_error {
                if let Some(error) = &e.last_error {
                    out.push_str(&format!("    error: {error}\n"));
                }
            }
        }
    };
    events(&mut out, "Latest events", &o.latest_events, false);
    events(&mut out, "Failed events (replay with: clerk-sync replay)", &o.failed_events, true);
    out
}

/// The counts as a table: a row per kind, a column per count.
pub fn render_counts(report: &Report) -> String {
    let mut out =
        format!("{:<14}{:>9}{:>9}{:>9}{:>9}{:>11}\n", "", "seen", "created", "updated", "deleted", "unchanged");
    for kind in Kind::ALL {
        let c = report.of(kind);
        out.push_str(&format!(
            "{:<14}{:>9}{:>9}{:>9}{:>9}{:>11}\n",
            kind.plural(),
            c.seen,
            c.created,
            c.updated,
            c.deleted,
            c.unchanged
        ));
    }
    out
}

/// A run in one line: id, trigger, state, whether complete, dry run, times.
pub fn describe_run(run: &RunSummary) -> String {
    let complete = if run.complete { "complete" } else { "not complete" };
    let dry_run = if run.dry_run { ", dry run" } else { "" };
    let finished = match &run.finished_at {
        Some(at) => format!(", finished {at}"),
        None => String::new(),
    };
    format!(
        "run {} ({}): {}, {complete}{dry_run}; started {}{finished}",
        run.id, run.trigger, run.state, run.started_at
    )
}

/// The last run, for `clerk-sync status`.
pub fn render_last_run(run: Option<&RunSummary>) -> String {
    let mut out = String::from("\nLast reconcile (see clerk-sync reconcile-changes)\n");
    let Some(run) = run else {
        out.push_str("(none yet: run clerk-sync reconcile)\n");
        return out;
    };
    out.push_str(&describe_run(run));
    out.push('\n');
    if let Some(error) = &run.error {
        // A completed run's "error" says why it is not complete.
        let label = if run.state == "completed" { "note" } else { "error" };
        out.push_str(&format!("{label}: {error}\n"));
    }
    out.push_str(&render_counts(&run.counts));
    out
}

#[cfg(test)]
mod tests {
    use clerk_sync::reconcile::Counts;

    use super::*;

    #[test]
    fn the_table_has_a_row_per_kind_and_a_column_per_count() {
        let mut report = Report { complete: true, ..Report::default() };
        report.users = Counts { seen: 12, created: 2, updated: 1, deleted: 3, unchanged: 9 };
        let table = render_counts(&report);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 1 + Kind::ALL.len(), "{table}");
        assert!(lines[0].split_whitespace().eq(["seen", "created", "updated", "deleted", "unchanged"]), "{table}");
        assert!(lines[1].split_whitespace().eq(["users", "12", "2", "1", "3", "9"]), "{table}");
        assert!(lines[3].starts_with("memberships"), "{table}");
        let kinds: Vec<&str> = lines[1..].iter().filter_map(|l| l.split_whitespace().next()).collect();
        assert_eq!(
            kinds,
            ["users", "organizations", "memberships", "permissions", "roles", "domains", "invitations"],
            "{table}"
        );
    }
}
