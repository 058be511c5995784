//! Reconcile, backfill and repair: the real `clerk-sync reconcile --json`,
//! run as a child process against the fake Backend API
//! (`clerk_sync_tests::fake_backend_api`) with a fixed latency per request,
//! on a fresh migrated database: once from empty (the backfill), then again
//! with nothing changed in Clerk (the repair that finds no drift).
//!
//! Per run: the wall time (spawn to exit, as an operator sees it), the
//! report the command prints, the child's own peak RSS (`VmHWM`, read every
//! 10 ms while it runs, as the functions bench reads it), the
//! requests the fake served, the run's `api_ms`/`db_ms` from
//! `clerk_reconcile_runs`, the tuples PostgreSQL wrote per table
//! (`pg_stat_user_tables`), and each listing's pace as the fake saw it
//! (the gap between two page requests is the slower of the request and the
//! page's write, as the next page is fetched while one is written).
//!
//! The fake takes an `sk_live_…` key: the client paces itself to 80% of the
//! documented limit of the key's kind, 800 requests per 10 s for a live key
//! (an `sk_test_…` key gets 80, which alone would make the ~620 requests of
//! this data set take ~78 s).

use std::{
    collections::BTreeMap,
    fmt,
    io::Read,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use clerk_sync_tests::fake_backend_api::{membership, organization, user, FakeBackendApi, Logged};
use serde::Serialize;
use serde_json::Value;

use crate::{
    db::{self, BenchDb},
    machine::Machine,
    stats::Summary,
    BenchError,
};

/// The targets.
pub const BUDGET_BACKFILL: Duration = Duration::from_secs(60);
pub const BUDGET_REPAIR: Duration = Duration::from_secs(45);
pub const BUDGET_PEAK_RSS_KIB: u64 = 64 * 1024;
pub const BUDGET_ROWS_PER_SEC: f64 = 20_000.0;

/// A production instance's key (the fake accepts only this one): the client
/// paces itself by the key's kind.
pub const LIVE_KEY: &str = "sk_live_reconcileBenchKey0123456789abcdef";

/// Clerk's clock for the first object of the data set (2023-11-14).
const T0: i64 = 1_700_000_000_000;

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct ReconcileOptions {
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    #[arg(long, default_value_t = 10_000)]
    pub organizations: usize,
    /// Memberships in all: each user is in one to three organizations.
    #[arg(long, default_value_t = 200_000)]
    pub memberships: usize,
    /// The fake's latency for every request, in ms.
    #[arg(long = "latency-ms", default_value_t = 50)]
    pub latency_ms: u64,
    /// The `clerk-sync` binary to run (default: `target/release/clerk-sync`).
    #[arg(long, env = "BENCH_CLERK_SYNC")]
    pub binary: Option<PathBuf>,
    /// Run the library's `reconcile` through this benchmark's own stand-in
    /// child (`reconcile-bench library-child`) instead of `clerk-sync
    /// reconcile --json`: the same environment, the same JSON report.
    #[arg(long)]
    pub library: bool,
    /// Results are saved as `<name>.md` and `<name>.json`.
    #[arg(long, default_value = "reconcile")]
    pub name: String,
    /// An extra setting for the command's environment (diagnostics, e.g.
    /// `DB_STATEMENT_TIMEOUT_SECS=600`); repeatable. The report lists them.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Runs: 1 = the backfill only, 2 = and the repair (diagnostics).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub runs: u8,
    /// Leaves the database in place and prints its URL (diagnostics).
    #[arg(long)]
    pub keep_database: bool,
    /// A run still going after this many seconds is killed (and recorded as failed).
    #[arg(long = "timeout-s", default_value_t = 600)]
    pub timeout_s: u64,
}

fn parse_env(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {raw:?}"))
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            users: 100_000,
            organizations: 10_000,
            memberships: 200_000,
            latency_ms: 50,
            binary: None,
            library: false,
            name: "reconcile".into(),
            env: Vec::new(),
            runs: 2,
            keep_database: false,
            timeout_s: 600,
        }
    }
}

/// What Clerk holds, as the Backend API lists it.
pub struct DataSet {
    pub users: Vec<Value>,
    pub organizations: Vec<Value>,
    pub memberships: Vec<Value>,
}

pub fn user_id(i: usize) -> String {
    format!("user_{i:07}")
}

pub fn org_id(i: usize) -> String {
    format!("org_{i:05}")
}

/// How many organizations each user is in: 1, 2, 2, 3, … (two on average),
/// then moved, from the last user back, until the total is `memberships`.
fn memberships_per_user(users: usize, memberships: usize) -> Result<Vec<usize>, BenchError> {
    if memberships < users || memberships > 3 * users {
        return Err(
            format!("{memberships} memberships for {users} users: each user is in one to three organizations").into()
        );
    }
    let mut counts: Vec<usize> = (0..users).map(|i| [1, 2, 2, 3][i % 4]).collect();
    let mut total: usize = counts.iter().sum();
    for count in counts.iter_mut().rev() {
        while total < memberships && *count < 3 {
            *count += 1;
            total += 1;
        }
        while total > memberships && *count > 1 {
            *count -= 1;
            total -= 1;
        }
        if total == memberships {
            break;
        }
    }
    Ok(counts)
}

/// The data set: users with emails, organizations with names and slugs
/// (the fake's builders), each user a member of one to three distinct
/// organizations spread over all of them (an admin of its first one for
/// every tenth user). Users are created 10 ms apart, organizations evenly over
/// the same period, each membership after its user and its
/// organization.
pub fn data_set(users: usize, organizations: usize, memberships: usize) -> Result<DataSet, BenchError> {
    if organizations < 3 {
        return Err("at least 3 organizations (a user may be in three)".into());
    }
    let per_user = memberships_per_user(users, memberships)?;
    let user_created = |i: usize| T0 + 10 * i as i64;
    let org_created = |j: usize| T0 + 10 * users as i64 * j as i64 / organizations as i64;
    let user_values: Vec<Value> =
        (0..users).map(|i| user(&user_id(i), user_created(i), &format!("user{i}@example.test"))).collect();
    let org_values: Vec<Value> = (0..organizations).map(|j| organization(&org_id(j), org_created(j))).collect();
    let mut membership_values = Vec::with_capacity(memberships);
    for (i, &count) in per_user.iter().enumerate() {
        // A multiplicative hash spreads the users over the organizations.
        let first = (i as u64).wrapping_mul(2_654_435_761) % organizations as u64;
        for k in 0..count {
            let j = (first as usize + k * (organizations / 3)) % organizations;
            let role = if k == 0 && i % 10 == 0 { "org:admin" } else { "org:member" };
            let created = user_created(i).max(org_created(j)) + 1 + k as i64;
            membership_values.push(membership(
                &format!("orgmem_{i:07}_{k}"),
                &org_values[j],
                &user_id(i),
                role,
                created,
            ));
        }
    }
    Ok(DataSet { users: user_values, organizations: org_values, memberships: membership_values })
}

/// What the child process used, read from `/proc/<pid>/` while it ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChildUsage {
    /// `VmHWM` (peak RSS) at the last reading, every 10 ms until it exits.
    pub max_rss_kib: u64,
    /// CPU time (`utime`, `stime` of `/proc/<pid>/stat`) at the last reading.
    pub user_ms: f64,
    pub system_ms: f64,
    /// Readings taken; the last one at most 10 ms before the exit.
    pub readings: usize,
    /// `(ms since spawn, VmRSS KiB)`, every 250 ms.
    pub rss_samples: Vec<(u64, u64)>,
    /// It ran past the timeout and was killed.
    pub killed: bool,
}

/// How often the child's `/proc` files are read.
const READ_EVERY: Duration = Duration::from_millis(10);

/// Watches `child` until it exits: its peak RSS (`VmHWM`, which only grows,
/// so the last reading holds the peak of all but the last few ms, when the
/// command prints its report and exits) and CPU time.
fn watch(child: &mut Child, spawned: Instant, timeout: Duration) -> Result<(ExitStatus, ChildUsage), BenchError> {
    let pid = child.id();
    let ticks = clock_ticks();
    let mut usage = ChildUsage::default();
    let mut next_sample = Duration::ZERO;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, usage));
        }
        if spawned.elapsed() > timeout && !usage.killed {
            child.kill()?;
            usage.killed = true;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
        let (Some(hwm), Some(rss)) = (field_kib(&status, "VmHWM:"), field_kib(&status, "VmRSS:")) else {
            // Exiting: its memory is gone already.
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        usage.max_rss_kib = usage.max_rss_kib.max(hwm);
        usage.readings += 1;
        if let Some((user, system)) = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| cpu(&s)) {
            (usage.user_ms, usage.system_ms) = (user as f64 * 1e3 / ticks, system as f64 * 1e3 / ticks);
        }
        let at = spawned.elapsed();
        if at >= next_sample {
            usage.rss_samples.push((at.as_millis() as u64, rss));
            next_sample = at + Duration::from_millis(250);
        }
        std::thread::sleep(READ_EVERY);
    }
}

fn field_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// `utime` and `stime` (fields 14 and 15) of `/proc/<pid>/stat`, in clock ticks.
fn cpu(stat: &str) -> Option<(u64, u64)> {
    // The command name (field 2) may hold spaces: count from its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?))
}

/// `getconf CLK_TCK` (100 on Linux, whatever the kernel's HZ).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The run's row in `clerk_reconcile_runs`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub state: String,
    pub complete: bool,
    pub api_requests: i64,
    pub api_ms: i64,
    pub db_ms: i64,
    /// `finished_at - started_at`.
    pub run_ms: f64,
    pub counts: Value,
    pub error: Option<String>,
}

/// One listing's requests as the fake saw them.
#[derive(Debug, Clone, Serialize)]
pub struct ListingRequests {
    pub path: String,
    pub requests: usize,
    /// Non-200 answers.
    pub errors: usize,
    /// First and last request, ms after the spawn.
    pub first_ms: f64,
    pub last_ms: f64,
    /// Between one page request and the next.
    pub gap: Summary,
}

/// Tuples PostgreSQL wrote to one table during a run (`pg_stat_user_tables`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Tuples {
    pub inserted: i64,
    pub updated: i64,
    pub hot_updated: i64,
    pub deleted: i64,
}

/// One run of `clerk-sync reconcile --json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunMeasure {
    pub name: String,
    /// The command failed: its exit status and last line of stderr.
    pub error: Option<String>,
    pub budget_s: f64,
    /// Spawn to exit.
    pub wall_ms: f64,
    /// What the command printed.
    pub report: Value,
    pub usage: ChildUsage,
    pub row: Option<RunRow>,
    pub requests: usize,
    pub listings: Vec<ListingRequests>,
    /// Objects the listings returned (`seen`), and rows created, updated or
    /// deleted (the report's counts).
    pub rows_seen: u64,
    pub rows_written: u64,
    pub tuples: BTreeMap<String, Tuples>,
    /// Server time per statement (`pg_stat_statements`, when the server
    /// loads it), most first.
    pub statements: Vec<StatementTime>,
}

/// One statement's server time over a run.
#[derive(Debug, Clone, Serialize)]
pub struct StatementTime {
    pub statement: String,
    pub calls: i64,
    pub total_ms: f64,
    pub rows: i64,
}

/// What each statement of a run is, by a phrase its text holds.
const STATEMENT_NAMES: [(&str, &str); 13] = [
    ("incoming_users", "users page (`apply_users`)"),
    ("incoming_organizations", "organizations page (`apply_organizations`)"),
    ("incoming_memberships", "memberships page (`apply_memberships`)"),
    ("INSERT INTO clerk_reconcile_seen", "seen ids (`clerk_reconcile_seen`)"),
    ("INSERT INTO clerk_reconcile_changes", "changes (`clerk_reconcile_changes`)"),
    ("SET counts = $2, checkpoint", "progress (`clerk_reconcile_runs`)"),
    ("UPDATE clerk_reconcile_lock", "lease (renewal, release)"),
    ("EXCEPT", "absence check"),
    ("DELETE FROM clerk_reconcile_seen", "seen ids forgotten"),
    ("COMMIT", "COMMIT"),
    ("BEGIN", "BEGIN"),
    ("ROLLBACK", "ROLLBACK"),
    ("SAVEPOINT", "SAVEPOINT"),
];

fn statement_name(query: &str) -> String {
    if let Some((_, name)) = STATEMENT_NAMES.iter().find(|(needle, _)| query.contains(needle)) {
        return (*name).to_string();
    }
    let text: Vec<&str> = query.lines().map(str::trim).filter(|l| !l.starts_with("--")).collect();
    let text = text.join(" ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = text.chars().take(60).collect();
    format!("`{}`", short.replace('`', "'").replace('|', "/"))
}

/// Resets `pg_stat_statements`; `false` when the server does not load it.
async fn reset_statements(client: &tokio_postgres::Client) -> bool {
    client.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await.is_ok()
        && client.batch_execute("SELECT pg_stat_statements_reset()").await.is_ok()
}

async fn statement_times(client: &tokio_postgres::Client) -> Result<Vec<StatementTime>, BenchError> {
    let rows = client
        .query(
            "SELECT query, calls, total_exec_time, rows FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND query NOT LIKE '%pg_stat%'",
            &[],
        )
        .await?;
    let mut by_name: BTreeMap<String, StatementTime> = BTreeMap::new();
    for row in rows {
        let name = statement_name(row.get(0));
        let entry =
            by_name.entry(name.clone()).or_insert(StatementTime { statement: name, calls: 0, total_ms: 0.0, rows: 0 });
        entry.calls += row.get::<_, i64>(1);
        entry.total_ms += row.get::<_, f64>(2);
        entry.rows += row.get::<_, i64>(3);
    }
    let mut times: Vec<StatementTime> = by_name.into_values().collect();
    times.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    Ok(times)
}

impl RunMeasure {
    fn db_s(&self) -> f64 {
        self.row.as_ref().map_or(0.0, |r| r.db_ms as f64 / 1e3)
    }

    /// Rows the run applied through the rules per second of database time.
    pub fn seen_per_s(&self) -> f64 {
        per_s(self.rows_seen, self.db_s())
    }

    pub fn written_per_s(&self) -> f64 {
        per_s(self.rows_written, self.db_s())
    }

    pub fn wall_met(&self) -> bool {
        self.error.is_none() && self.wall_ms <= self.budget_s * 1e3
    }

    pub fn rss_met(&self) -> bool {
        self.usage.max_rss_kib > 0 && self.usage.max_rss_kib <= BUDGET_PEAK_RSS_KIB
    }

    pub fn apply_met(&self) -> bool {
        self.error.is_none() && self.apply_rate() >= BUDGET_ROWS_PER_SEC
    }

    /// The apply rate the target is about: rows written for a run that
    /// writes, rows examined for one that finds nothing to write.
    pub fn apply_rate(&self) -> f64 {
        if self.rows_written > 0 {
            self.written_per_s()
        } else {
            self.seen_per_s()
        }
    }
}

fn per_s(rows: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconcileReport {
    pub machine: Machine,
    pub options: ReconcileOptions,
    /// The command each run was (the binary and its arguments).
    pub command: String,
    /// `sk_live_…`: paced at 800 requests per 10 s.
    pub key_kind: &'static str,
    /// Building the data set and handing it to the fake.
    pub setup_ms: f64,
    pub runs: Vec<RunMeasure>,
    /// Live rows in the mirror after the runs: users, organizations, memberships.
    pub mirror: [i64; 3],
    /// `git rev-parse --short HEAD`, and whether the tree had changes, when run in a checkout.
    pub revision: Option<String>,
}

/// The checkout's revision: `abc1234`, with `+ uncommitted changes` when the tree differs.
fn revision() -> Option<String> {
    let git = |args: &[&str]| {
        // Read-only: no index refresh written behind whoever else works in the checkout.
        Command::new("git")
            .arg("--no-optional-locks")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head} + uncommitted changes") } else { head })
}

pub const BACKFILL: &str = "backfill (from empty)";
pub const REPAIR: &str = "repair (no drift)";
/// The repair again, when it failed, after [`ANALYZE`].
pub const REPAIR_ANALYZED: &str = "repair (no drift), tables analyzed first";
/// What autovacuum does on its own some time after a backfill.
const ANALYZE: &str = "ANALYZE users, organization, user_organizations, clerk_reconcile_seen";

/// Where `clerk-sync` is by default: the workspace's release build.
pub fn default_binary() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/clerk-sync")
}

/// The whole benchmark: a fresh database, the fake with the data set, two
/// runs. The database is dropped at the end.
pub async fn run(options: &ReconcileOptions) -> Result<ReconcileReport, BenchError> {
    let command: Vec<std::ffi::OsString> = if options.library {
        vec![std::env::current_exe()?.into(), "library-child".into()]
    } else {
        let binary = options.binary.clone().unwrap_or_else(default_binary);
        check_binary(&binary)?;
        vec![binary.into(), "reconcile".into(), "--json".into()]
    };
    let setup = Instant::now();
    let data = data_set(options.users, options.organizations, options.memberships)?;
    let fake = FakeBackendApi::with_key(LIVE_KEY).await;
    fake.set_latency(Duration::from_millis(options.latency_ms));
    fake.set_users(data.users);
    fake.set_organizations(data.organizations);
    fake.set_memberships(data.memberships);
    let setup_ms = setup.elapsed().as_secs_f64() * 1e3;
    eprintln!("data set served ({:.1} s)", setup_ms / 1e3);

    let db = BenchDb::create().await?;
    let result = async {
        let mut runs = Vec::new();
        let run = |name: &'static str, budget| {
            let (db, fake, command) = (&db, &fake, &command);
            async move {
                eprintln!("run: {name}");
                let measure = measure(db, fake, command, &options.env, options.timeout_s, name, budget).await?;
                eprintln!(
                    "  {:.1} s, {} requests, peak RSS {} KiB",
                    measure.wall_ms / 1e3,
                    measure.requests,
                    measure.usage.max_rss_kib
                );
                Ok::<_, BenchError>(measure)
            }
        };
        runs.push(run(BACKFILL, BUDGET_BACKFILL).await?);
        let client = db::connect(&db.url).await?;
        if options.runs > 1 {
            let repair = run(REPAIR, BUDGET_REPAIR).await?;
            let failed = repair.error.is_some();
            runs.push(repair);
            if failed {
                // Diagnostic: the same with the tables' statistics as autovacuum leaves them
                // once it has analyzed them after a backfill (see BENCHMARKS.md).
                client.batch_execute(ANALYZE).await?;
                runs.push(run(REPAIR_ANALYZED, BUDGET_REPAIR).await?);
            }
        }
        let count = |sql: &'static str| {
            let client = &client;
            async move { client.query_one(sql, &[]).await.map(|row| row.get::<_, i64>(0)) }
        };
        let mirror = [
            count("SELECT count(*) FROM users WHERE deleted_at IS NULL").await?,
            count("SELECT count(*) FROM organization WHERE deleted_at IS NULL").await?,
            count("SELECT count(*) FROM user_organizations WHERE deleted_at IS NULL").await?,
        ];
        Ok::<_, BenchError>((runs, mirror))
    }
    .await;
    let postgres = db.server_version().await.ok();
    if options.keep_database {
        eprintln!("database kept: {}", db.url);
    } else {
        db.drop_database().await?;
    }
    let (runs, mirror) = result?;
    Ok(ReconcileReport {
        machine: Machine::read(postgres),
        options: options.clone(),
        command: shown(&command),
        key_kind: "sk_live_",
        setup_ms,
        runs,
        mirror,
        revision: revision(),
    })
}

/// The command as the report shows it: paths inside the workspace relative to it.
fn shown(command: &[std::ffi::OsString]) -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    let words: Vec<String> = command
        .iter()
        .map(|word| {
            let path = Path::new(word);
            let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            path.strip_prefix(&workspace)
                .map_or_else(|_| word.to_string_lossy().into_owned(), |p| p.display().to_string())
        })
        .collect();
    words.join(" ")
}

/// Fails unless `binary` knows `reconcile`.
fn check_binary(binary: &Path) -> Result<(), BenchError> {
    let help = Command::new(binary).args(["reconcile", "--help"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    match help {
        Ok(status) if status.success() => Ok(()),
        Ok(_) => Err(format!(
            "{} has no `reconcile` subcommand: build it (cargo build --release -p clerk-sync-cli), or pass --library",
            binary.display()
        )
        .into()),
        Err(e) => Err(format!(
            "{}: {e} (cargo build --release -p clerk-sync-cli builds it; --binary names another)",
            binary.display()
        )
        .into()),
    }
}

const TABLES: [&str; 5] =
    ["users", "organization", "user_organizations", "clerk_reconcile_seen", "clerk_reconcile_changes"];

async fn tuples(client: &tokio_postgres::Client) -> Result<BTreeMap<String, Tuples>, BenchError> {
    // A fresh snapshot of the statistics (the child's backend flushed them when it ended).
    client.batch_execute("SELECT pg_stat_clear_snapshot()").await?;
    let rows = client
        .query(
            "SELECT relname::text, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del
             FROM pg_stat_user_tables WHERE relname = ANY($1)",
            &[&TABLES.as_slice()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), Tuples { inserted: r.get(1), updated: r.get(2), hot_updated: r.get(3), deleted: r.get(4) }))
        .collect())
}

async fn measure(
    db: &BenchDb,
    fake: &FakeBackendApi,
    command: &[std::ffi::OsString],
    extra_env: &[(String, String)],
    timeout_s: u64,
    name: &str,
    budget: Duration,
) -> Result<RunMeasure, BenchError> {
    let client = db::connect(&db.url).await?;
    let before = tuples(&client).await?;
    let statements = reset_statements(&client).await;
    let log_before = fake.log().len();
    let mut child = Command::new(&command[0]);
    child.args(&command[1..]);
    // Only what the command reads: nothing from this shell (a pace, a PG* setting) leaks in.
    child.env_clear();
    for var in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(var) {
            child.env(var, value);
        }
    }
    child
        .env("DATABASE_URL", &db.url)
        .env("CLERK_SECRET_KEY", LIVE_KEY)
        .env("CLERK_API_URL", fake.url())
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let timeout = Duration::from_secs(timeout_s);
    let spawned = Instant::now();
    let mut child = child.spawn().map_err(|e| format!("{:?}: {e}", command[0]))?;
    let (stdout, stderr) = (child.stdout.take().ok_or("stdout")?, child.stderr.take().ok_or("stderr")?);
    let (watched, out, err) = tokio::task::spawn_blocking(move || {
        let read = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
        let watched = watch(&mut child, spawned, timeout).map_err(|e| e.to_string());
        (watched, out.join().unwrap_or_default(), err.join().unwrap_or_default())
    })
    .await?;
    let wall = spawned.elapsed();
    let (status, usage) = watched?;
    // A failed run is a result too: its error is reported, and the runs go on.
    if usage.killed {
        // What the killed process left: its statement still running, and the lock (its lease).
        client
            .batch_execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid();
                 DELETE FROM clerk_reconcile_lock;",
            )
            .await?;
    }
    let (report, error) = if usage.killed {
        (Value::Null, Some(format!("killed after {timeout_s} s")))
    } else if status.success() {
        let report: Value = serde_json::from_str(out.trim())
            .map_err(|e| format!("`{name}`: stdout is not one JSON object ({e}): {out:?}; stderr:\n{err}"))?;
        (report, None)
    } else {
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        eprintln!("  `{name}` failed ({status}): {last}");
        (Value::Null, Some(format!("{status}: {last}")))
    };
    let log: Vec<Logged> = fake.log().into_iter().skip(log_before).collect();
    // The child's backend flushes its statistics as it ends, just after the child does.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = tuples(&client).await?;
    let statements = if statements { statement_times(&client).await? } else { Vec::new() };
    let tuples = TABLES
        .iter()
        .map(|&t| {
            let (a, b) = (after.get(t).copied().unwrap_or_default(), before.get(t).copied().unwrap_or_default());
            let delta = Tuples {
                inserted: a.inserted - b.inserted,
                updated: a.updated - b.updated,
                hot_updated: a.hot_updated - b.hot_updated,
                deleted: a.deleted - b.deleted,
            };
            (t.to_string(), delta)
        })
        .collect();
    let row = client
        .query_opt(
            "SELECT id, state, complete, api_requests, api_ms, db_ms, counts,
                    (extract(epoch FROM finished_at - started_at) * 1000)::float8, error
             FROM clerk_reconcile_runs ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await?
        .map(|r| RunRow {
            id: r.get(0),
            state: r.get(1),
            complete: r.get(2),
            api_requests: r.get(3),
            api_ms: r.get(4),
            db_ms: r.get(5),
            counts: r.get(6),
            run_ms: r.get::<_, Option<f64>>(7).unwrap_or(0.0),
            error: r.get(8),
        });
    // A failed run printed no report: its row holds the counts of the pages it wrote.
    let counts = match (&report, &row) {
        (Value::Null, Some(row)) => row.counts.clone(),
        _ => report.clone(),
    };
    // Every kind the report counts (users, organizations, memberships, and whatever else the run lists).
    let kinds: Vec<&Value> =
        counts.as_object().map(|o| o.values().filter(|v| v.get("seen").is_some()).collect()).unwrap_or_default();
    let count = |field: &str| -> u64 { kinds.iter().map(|k| k[field].as_u64().unwrap_or(0)).sum() };
    let rows_written = count("created") + count("updated") + count("deleted");
    Ok(RunMeasure {
        name: name.to_string(),
        error,
        budget_s: budget.as_secs_f64(),
        wall_ms: wall.as_secs_f64() * 1e3,
        rows_seen: count("seen"),
        rows_written,
        report,
        usage,
        row,
        requests: log.len(),
        listings: listings(&log, spawned),
        tuples,
        statements,
    })
}

/// The log split by listing, in the order of their first request.
fn listings(log: &[Logged], spawned: Instant) -> Vec<ListingRequests> {
    let mut by_path: Vec<(String, Vec<&Logged>)> = Vec::new();
    for entry in log {
        match by_path.iter_mut().find(|(p, _)| *p == entry.path) {
            Some((_, entries)) => entries.push(entry),
            None => by_path.push((entry.path.clone(), vec![entry])),
        }
    }
    let ms = |at: Instant| at.saturating_duration_since(spawned).as_secs_f64() * 1e3;
    by_path
        .into_iter()
        .map(|(path, entries)| {
            let mut gaps: Vec<Duration> = entries.windows(2).map(|w| w[1].at.duration_since(w[0].at)).collect();
            ListingRequests {
                path,
                requests: entries.len(),
                errors: entries.iter().filter(|e| e.status != 200).count(),
                first_ms: entries.first().map_or(0.0, |e| ms(e.at)),
                last_ms: entries.last().map_or(0.0, |e| ms(e.at)),
                gap: Summary::of(&mut gaps),
            }
        })
        .collect()
}

/// The stand-in child (`reconcile-bench library-child`): what `clerk-sync
/// reconcile --json` does, from the same environment, through the library.
pub async fn library_child() -> Result<(), BenchError> {
    use clerk_sync::{
        backend_api::{BackendApi, BackendApiConfig},
        config::Env,
        db::{Database, DbSettings},
        reconcile::{reconcile, Options, Quiet, Trigger},
    };
    let api = BackendApi::new(BackendApiConfig::from_source(&Env)?)?;
    let database = Database::new(&DbSettings::from_source(&Env)?, false)?;
    let client = database.client().await?;
    let outcome = reconcile(&client, &api, &Options::new(Trigger::Cli), &Quiet).await?;
    println!("{}", serde_json::to_string(&outcome.report)?);
    Ok(())
}

fn secs(ms: f64) -> String {
    format!("{:.1} s", ms / 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

impl fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "`{}` against the fake Backend API ({} ms per request, an `{}…` key: paced at 800 requests per 10 s), \
             {} users, {} organizations, {} memberships (one to three per user), on a fresh migrated database; \
             first from empty, then again with nothing changed in Clerk.",
            self.command, o.latency_ms, self.key_kind, o.users, o.organizations, o.memberships
        )?;
        if !o.env.is_empty() {
            let env: Vec<String> = o.env.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
            writeln!(f, "Extra settings for the command: {}.", env.join(", "))?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "| run | wall | budget | requests | API time | DB time | peak RSS (≤ 64 MiB) | rows written / DB s | rows examined / DB s | apply ≥ 20,000 rows/s |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|")?;
        for run in &self.runs {
            let (api, db, recorded) = match &run.row {
                Some(r) => (secs(r.api_ms as f64), secs(r.db_ms as f64), r.api_requests.to_string()),
                None => ("–".into(), "–".into(), "–".into()),
            };
            let wall = match &run.error {
                Some(error) => format!("{} **failed**: {error}", secs(run.wall_ms)),
                None => secs(run.wall_ms),
            };
            let apply = match &run.error {
                Some(_) => "–: **missed**".to_string(),
                None => format!("{:.0}: {}", run.apply_rate(), met(run.apply_met())),
            };
            writeln!(
                f,
                "| {} | {wall} | ≤ {:.0} s: {} | {} (run row: {recorded}) | {api} | {db} | {}: {} | {:.0} ({} rows) | {:.0} ({} rows) | {apply} |",
                run.name,
                run.budget_s,
                met(run.wall_met()),
                run.requests,
                mib(run.usage.max_rss_kib),
                met(run.rss_met()),
                run.written_per_s(),
                run.rows_written,
                run.seen_per_s(),
                run.rows_seen,
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "API time is the listings' wait on the fake (pacing included), DB time the pages' transactions and the \
             absence checks (`clerk_reconcile_runs.api_ms`, `db_ms`); they overlap, as the next page is fetched \
             while one is written. Rows written are the report's created + updated + deleted; examined, its `seen`. \
             The apply target is taken on rows written for the backfill and on rows examined for the repair, which \
             writes none."
        )?;
        writeln!(f)?;
        writeln!(f, "Each listing as the fake saw it (the gap between two page requests is the slower of the request and the page's write):")?;
        writeln!(f)?;
        writeln!(f, "| run | listing | requests | from | to | gap p50 | gap p90 | gap max |")?;
        writeln!(f, "|---|---|---|---|---|---|---|---|")?;
        for run in &self.runs {
            for l in &run.listings {
                let errors = if l.errors > 0 { format!(" ({} errors)", l.errors) } else { String::new() };
                writeln!(
                    f,
                    "| {} | `{}` | {}{errors} | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms |",
                    run.name,
                    l.path,
                    l.requests,
                    secs(l.first_ms),
                    secs(l.last_ms),
                    l.gap.p50_us / 1e3,
                    l.gap.p90_us / 1e3,
                    l.gap.max_us / 1e3,
                )?;
            }
        }
        writeln!(f)?;
        writeln!(f, "Tuples PostgreSQL wrote (`pg_stat_user_tables`; an update of a row that did not change is still a new tuple), and the process's CPU:")?;
        writeln!(f)?;
        writeln!(f, "| run | users ins / upd (HOT) | organization ins / upd (HOT) | user_organizations ins / upd (HOT) | reconcile_seen ins | reconcile_changes ins | CPU user + sys |")?;
        writeln!(f, "|---|---|---|---|---|---|---|")?;
        for run in &self.runs {
            let t = |table: &str| run.tuples.get(table).copied().unwrap_or_default();
            let (u, o, m) = (t("users"), t("organization"), t("user_organizations"));
            writeln!(
                f,
                "| {} | {} / {} ({}) | {} / {} ({}) | {} / {} ({}) | {} | {} | {} + {} |",
                run.name,
                u.inserted,
                u.updated,
                u.hot_updated,
                o.inserted,
                o.updated,
                o.hot_updated,
                m.inserted,
                m.updated,
                m.hot_updated,
                t("clerk_reconcile_seen").inserted,
                t("clerk_reconcile_changes").inserted,
                secs(run.usage.user_ms),
                secs(run.usage.system_ms),
            )?;
        }
        writeln!(f)?;
        if self.runs.iter().any(|r| !r.statements.is_empty()) {
            writeln!(f, "Server time per statement (`pg_stat_statements`: execution on the server, without the round trips; the run's DB time is measured by the client):")?;
            writeln!(f)?;
            writeln!(f, "| run | statement | calls | total | per call | rows |")?;
            writeln!(f, "|---|---|---|---|---|---|")?;
            for run in &self.runs {
                for st in run.statements.iter().filter(|st| st.total_ms >= 50.0) {
                    writeln!(
                        f,
                        "| {} | {} | {} | {} | {:.2} ms | {} |",
                        run.name,
                        st.statement,
                        st.calls,
                        secs(st.total_ms),
                        st.total_ms / st.calls.max(1) as f64,
                        st.rows
                    )?;
                }
            }
            writeln!(f)?;
        }
        for run in &self.runs {
            match &run.row {
                Some(row) if run.error.is_some() => writeln!(
                    f,
                    "{} failed; its row in `clerk_reconcile_runs`: state `{}`, error `{}`, counts `{}`.",
                    run.name,
                    row.state,
                    row.error.as_deref().unwrap_or(""),
                    row.counts
                )?,
                _ => writeln!(f, "Report of {}: `{}`", run.name, run.report)?,
            }
            writeln!(f)?;
        }
        write!(
            f,
            "Mirror after both runs: {} users, {} organizations, {} memberships live. Machine: {}",
            self.mirror[0], self.mirror[1], self.mirror[2], self.machine
        )?;
        match &self.revision {
            Some(revision) => writeln!(f, "; revision {revision}."),
            None => writeln!(f, "."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_three_memberships_per_user_adding_up() {
        for (users, memberships) in [(100_000, 200_000), (10, 17), (10, 10), (10, 30), (7, 15)] {
            let counts = memberships_per_user(users, memberships).expect("possible");
            assert_eq!(counts.iter().sum::<usize>(), memberships);
            assert!(counts.iter().all(|c| (1..=3).contains(c)));
        }
        assert!(memberships_per_user(10, 31).is_err());
        assert!(memberships_per_user(10, 9).is_err());
    }

    #[test]
    fn a_user_is_in_distinct_organizations() {
        let data = data_set(200, 20, 400).expect("data set");
        assert_eq!((data.users.len(), data.organizations.len(), data.memberships.len()), (200, 20, 400));
        let mut pairs: Vec<(String, String)> = data
            .memberships
            .iter()
            .map(|m| (m["public_user_data"]["user_id"].to_string(), m["organization"]["id"].to_string()))
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 400);
    }
}
