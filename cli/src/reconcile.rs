//! `reconcile` and `reconcile-changes`: the mirror brought to what Clerk's
//! Backend API holds (the first backfill and every repair), and what a run
//! changed, row by row.
//!
//! Their failures are told on one line (the hint on the same line): a
//! scheduler or a script reads the reason from standard error as it is.

use std::{
    io::IsTerminal,
    sync::{atomic::Ordering, Mutex},
    time::Duration,
};

use clap::Args;
use clerk_sync::{
    aws::secrets,
    backend_api::{ApiError, BackendApi, BackendApiConfig},
    db::DbError,
    reconcile::{
        history::{self, ChangeRow, RunSummary},
        reconcile, Counts, Kind, Options, Outcome, Progress, Quiet, ReconcileError, Trigger,
    },
    ConfigError,
};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::{
    database::Database,
    error::Failure,
    ops::{self, OpsError},
};

/// Bring the mirror to what Clerk's Backend API holds: the first backfill,
/// and the repair of whatever webhooks missed.
///
/// Lists every user, organization, membership, permission, role, domain
/// and invitation and applies each through the webhooks' own rules (a row
/// newer than Clerk's copy is kept); then, for each listing read to its end
/// cleanly, deletes the rows Clerk no longer has (never invitations: Clerk
/// deletes none). Reads CLERK_SECRET_KEY (or CLERK_SECRET_KEY_ARN), CLERK_API_URL
/// and CLERK_API_MAX_REQUESTS_PER_10S. Exits 0 when the run completed (with
/// or without drift), non-zero with a one-line reason when it could not.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    db: Database,
    /// Count what would change; write nothing to the mirror.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as one JSON object on standard output, and nothing else.
    #[arg(long)]
    json: bool,
    /// Delete even when more than a tenth of a kind's rows are absent from
    /// Clerk (more often the wrong instance's key than a mass deletion).
    #[arg(long)]
    allow_mass_deletion: bool,
}

/// List the rows a reconcile run changed, and why.
///
/// created: absent from the mirror; updated: Clerk's copy was newer;
/// deleted: absent from Clerk's complete listing. For a dry run, what it
/// would have changed. The latest 30 runs are kept.
#[derive(Debug, Args)]
pub struct ReconcileChangesArgs {
    #[command(flatten)]
    db: Database,
    /// The run (default: the latest).
    #[arg(long, value_name = "ID")]
    run: Option<i64>,
    /// At most this many rows.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    limit: i64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Why a reconcile command could not do its work. None prints the URL or the key.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileFailure {
    /// Finding or reaching the database, or a query of the run history.
    #[error(transparent)]
    Ops(#[from] OpsError),

    /// The Backend API settings (`CLERK_SECRET_KEY`, `CLERK_API_URL`, …).
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("cannot set up the Clerk Backend API client")]
    Client(#[source] ApiError),

    /// The run's own reason, whole (not as a cause: the library's wording
    /// of an API failure would repeat itself).
    #[error("reconcile failed: {}", run_reason(.0))]
    Run(ReconcileError),

    /// Ctrl-C: the run stopped after the page in flight.
    #[error("interrupted: run {0} is suspended; the next clerk-sync reconcile goes on from where it stopped")]
    Interrupted(i64),

    #[error("no reconcile run is on record yet: run clerk-sync reconcile")]
    NoRun,

    #[error("no reconcile run {0} is on record (the latest 30 runs are kept; see clerk-sync status)")]
    UnknownRun(i64),
}

fn run_reason(e: &ReconcileError) -> String {
    clerk_sync::error_chain(e)
}

impl From<ReconcileError> for ReconcileFailure {
    fn from(e: ReconcileError) -> Self {
        ReconcileFailure::Run(e)
    }
}

impl Failure for ReconcileFailure {
    fn hint(&self) -> Option<String> {
        match self {
            ReconcileFailure::Ops(e) => e.hint(),
            ReconcileFailure::Run(ReconcileError::Db(e)) => ops::db_hint(e),
            ReconcileFailure::Run(ReconcileError::Api(ApiError::Unauthorized { .. })) => {
                Some("check that CLERK_SECRET_KEY is the secret key of this database's Clerk instance".to_string())
            }
            ReconcileFailure::Run(ReconcileError::Api(e)) if e.is_transient() => {
                Some("nothing a failed listing implies was deleted; run clerk-sync reconcile again later".to_string())
            }
            ReconcileFailure::Run(ReconcileError::Busy { .. }) => {
                Some("wait for that run to finish (see clerk-sync status), then run again".to_string())
            }
            _ => None,
        }
    }

    fn one_line(&self) -> bool {
        true
    }
}

/// The Backend API client, from the environment (`CLERK_SECRET_KEY_ARN`
/// fetched as the functions fetch it).
async fn backend_api() -> Result<BackendApi, ReconcileFailure> {
    let settings = secrets::load(secrets::OnlyArn("CLERK_SECRET_KEY_ARN")).await?;
    let config = BackendApiConfig::from_source(&settings)?;
    BackendApi::new(config).map_err(ReconcileFailure::Client)
}

fn runtime() -> Result<tokio::runtime::Runtime, ReconcileFailure> {
    ops::runtime().map_err(ReconcileFailure::from)
}

pub fn run(args: ReconcileArgs) -> Result<(), ReconcileFailure> {
    let url = args.db.url().map_err(OpsError::from)?;
    let runtime = runtime()?;
    let api = runtime.block_on(backend_api())?;
    let options =
        Options { dry_run: args.dry_run, allow_mass_deletion: args.allow_mass_deletion, ..Options::new(Trigger::Cli) };
    // Bars on a terminal only: a pipe or a log gets the table alone.
    let bars = (!args.json && std::io::stdout().is_terminal()).then(Bars::new);
    let progress: &dyn Progress = match &bars {
        Some(bars) => bars,
        None => &Quiet,
    };
    let stop = options.stop.clone();
    // Ctrl-C stops at the next page, and the run is suspended with its lock
    // let go (a second Ctrl-C quits at once: the lock then lapses in 2 minutes).
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping after the page in flight (Ctrl-C again to quit at once)");
            stop.store(true, Ordering::Relaxed);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let result = runtime.block_on(async {
        let client = ops::connect(&url).await?;
        Ok::<_, ReconcileFailure>(reconcile(&client, &api, &options, progress).await?)
    });
    if let Some(bars) = &bars {
        bars.done();
    }
    let outcome = result?;
    if args.json {
        println!("{}", serde_json::to_string(&outcome.report).map_err(OpsError::Serialize)?);
    } else {
        print!("{}", render_outcome(&outcome));
    }
    if outcome.suspended && options.stop.load(Ordering::Relaxed) {
        return Err(ReconcileFailure::Interrupted(outcome.run_id));
    }
    Ok(())
}

/// One bar per listing, drawn on standard error: users with a count (their
/// listing gives no total), the others (offset listings) against Clerk's
/// `total_count`.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<[Option<ProgressBar>; Kind::ALL.len()]>,
}

fn slot(kind: Kind) -> usize {
    Kind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn counting() -> ProgressStyle {
    style("{spinner} {prefix:<13} {pos:>8} seen  {msg}")
}

fn against_total() -> ProgressStyle {
    style("{spinner} {prefix:<13} {bar:30} {pos}/{len}  {msg}")
}

fn changed(counts: &Counts) -> String {
    format!("{} created, {} updated, {} deleted", counts.created, counts.updated, counts.deleted)
}

impl Bars {
    fn new() -> Self {
        Self { multi: MultiProgress::new(), bars: Mutex::new(Default::default()) }
    }

    fn bar(&self, kind: Kind) -> Option<ProgressBar> {
        self.bars.lock().ok().and_then(|bars| bars[slot(kind)].clone())
    }

    /// Every bar cleared once the run is over: the table that follows
    /// holds the same counts (or the reason it failed follows, on its own line).
    fn done(&self) {
        let Ok(bars) = self.bars.lock() else { return };
        for bar in bars.iter().flatten() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

impl Progress for Bars {
    fn listing_started(&self, kind: Kind, counts: &Counts) {
        let bar = self.multi.add(
            ProgressBar::new_spinner()
                .with_style(counting())
                .with_prefix(kind.plural())
                .with_position(counts.seen)
                .with_message(changed(counts)),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut bars) = self.bars.lock() {
            bars[slot(kind)] = Some(bar);
        }
    }

    fn page_written(&self, kind: Kind, counts: &Counts, total: Option<u64>) {
        let Some(bar) = self.bar(kind) else { return };
        if let Some(total) = total {
            if bar.length() != Some(total) {
                bar.set_style(against_total());
                bar.set_length(total.max(counts.seen));
            }
        }
        bar.set_position(counts.seen);
        bar.set_message(changed(counts));
    }

    fn listing_finished(&self, kind: Kind, counts: &Counts, exhaustive: bool) {
        let Some(bar) = self.bar(kind) else { return };
        if bar.length().is_some() {
            bar.set_length(counts.seen);
        }
        bar.set_position(counts.seen);
        let end = if exhaustive { "" } else { " (not clean: nothing deleted)" };
        bar.finish_with_message(format!("{}{end}", changed(counts)));
    }
}

/// Milliseconds below a second, else seconds to a tenth.
fn took(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The table, then the run on one line, then its notes.
pub fn render_outcome(outcome: &Outcome) -> String {
    let report = &outcome.report;
    let mut out = ops::render_counts(report);
    let complete = if report.complete { "complete" } else { "not complete" };
    let dry_run = if report.dry_run { "dry run (nothing written)" } else { "not a dry run" };
    let resumed = if outcome.resumed { ", resumed from an earlier invocation" } else { "" };
    let suspended = if outcome.suspended { ", suspended (the next run goes on from here)" } else { "" };
    let drift = if report.no_drift() { "no drift" } else { "drift" };
    out.push_str(&format!(
        "run {}: {complete}, {dry_run}{resumed}{suspended}, {drift}; {} API requests; {} waiting on the API, {} on \
         the database (they overlap), {} in all\n",
        outcome.run_id,
        outcome.api_requests,
        took(outcome.api_time),
        took(outcome.db_time),
        took(outcome.wall_time),
    ));
    for note in &outcome.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

/// `reconcile-changes --json`.
#[derive(Debug, Serialize)]
pub struct RunChanges {
    pub run: RunSummary,
    /// Rows the run changed in all (`changes` holds at most `--limit`).
    pub total: i64,
    pub changes: Vec<ChangeRow>,
}

pub fn changes(args: ReconcileChangesArgs) -> Result<(), ReconcileFailure> {
    let url = args.db.url().map_err(OpsError::from)?;
    let listed = runtime()?.block_on(read_changes(&url, args.run, args.limit))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listed).map_err(OpsError::Serialize)?);
        return Ok(());
    }
    print!("{}", render_changes(&listed));
    Ok(())
}

fn query(what: &'static str) -> impl Fn(DbError) -> ReconcileFailure {
    move |source| ReconcileFailure::Ops(OpsError::Query { what, source })
}

async fn read_changes(url: &str, run: Option<i64>, limit: i64) -> Result<RunChanges, ReconcileFailure> {
    let client = ops::connect(url).await?;
    let what = "reading the reconcile runs";
    let run = match run {
        Some(id) => history::run(&client, id).await.map_err(query(what))?.ok_or(ReconcileFailure::UnknownRun(id))?,
        None => history::latest_runs(&client, 1)
            .await
            .map_err(query(what))?
            .into_iter()
            .next()
            .ok_or(ReconcileFailure::NoRun)?,
    };
    let what = "reading the reconcile changes";
    let (total, changes) =
        tokio::try_join!(history::change_count(&client, run.id), history::changes(&client, run.id, limit))
            .map_err(query(what))?;
    Ok(RunChanges { run, total, changes })
}

pub fn render_changes(listed: &RunChanges) -> String {
    let run = &listed.run;
    let mut out = ops::describe_run(run);
    out.push('\n');
    if let Some(error) = &run.error {
        let label = if run.state == "completed" { "note" } else { "error" };
        out.push_str(&format!("{label}: {error}\n"));
    }
    let verb = if run.dry_run { "would change" } else { "changed" };
    out.push_str(&format!("{} rows it {verb}\n", listed.total));
    if listed.changes.is_empty() {
        return out;
    }
    let id_width = listed.changes.iter().map(|c| c.clerk_id.len()).max().unwrap_or(0).max(8);
    let line = |kind: &str, id: &str, action: &str, why: &str, clock: &str, at: &str| {
        format!("{kind:<13} {id:<id_width$} {action:<8} {why:<37} {clock:<14} {at}").trim_end().to_string() + "\n"
    };
    out.push_str(&line("kind", "clerk id", "action", "why", "clerk clock", "at (UTC)"));
    for c in &listed.changes {
        let clock = c.clerk_updated_ms.map(|ms| ms.to_string()).unwrap_or_default();
        out.push_str(&line(&c.kind, &c.clerk_id, &c.action, c.reason(), &clock, &c.at));
    }
    let shown = listed.changes.len() as i64;
    if listed.total > shown {
        out.push_str(&format!("(showing the first {shown} of {}; pass --limit for more)\n", listed.total));
    }
    out
}
