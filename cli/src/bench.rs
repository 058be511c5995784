//! `bench` (cargo feature `bench`): the per-event latency benchmark of
//! BENCHMARKS.md, for ad-hoc runs (the library is `clerk_sync_bench`).

use std::io;

use clap::Args;
use clerk_sync_bench::{
    latency::{ConnectionPath, BUDGET_RATIO},
    BenchError, LatencyOptions, LatencyReport,
};

use crate::error::Failure;

/// Measure each webhook family's per-event latency against the floor.
///
/// For users, organizations and memberships, signed sample deliveries go
/// through the real handler in-process (one pooled connection, as in Lambda),
/// each followed on the same connection by the floor: one prepared single-row
/// INSERT of the same payload as jsonb, autocommit. Warm-up deliveries come
/// first, so every statement is prepared; signing happens before the clock
/// starts. Prints, per network delay and family: handler and floor p50/p99,
/// events/s, the handler ÷ floor ratio at p50 against the budget (≤ 1.3×)
/// and, through the delaying proxy, client→server turns per event; then where
/// the time goes and latency by event type. See BENCHMARKS.md for the method
/// and the recorded figures.
///
/// --paths adds the pooler's connection paths, measured interleaved with
/// the direct one: routines (DB_POOLER=transaction on a direct connection:
/// unnamed calls of the event routines), pgbouncer (the same through a
/// PgBouncer in transaction mode, which must be installed; budget: ≤ 1.2× the
/// direct handler at +250 µs) and pgbouncer-role (the same with
/// DB_TIMEOUTS=role: the role carries the timeouts, none is sent).
///
/// Needs PostgreSQL: TEST_DATABASE_URL, else DATABASE_URL, naming a server
/// where the user may CREATE DATABASE (each delay runs in its own migrated
/// database bench_<uuid>, dropped at the end); with neither set, a throwaway
/// local cluster is started (the PostgreSQL server binaries must be installed)
/// and removed on exit.
///
/// Built only with the `bench` cargo feature; measure a release build on an
/// idle machine (a debug build or a busy one skews the ratio):
///
///   cargo run -p clerk-sync-cli --release --features bench -- bench
///   cargo run -p clerk-sync-cli --release --features bench -- bench --events 500 --delay-us 0 --check
///   cargo run -p clerk-sync-cli --release --features bench -- bench --paths direct,pgbouncer --delay-us 250
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct LatencyArgs {
    #[command(flatten)]
    options: LatencyOptions,
    /// Connection paths, measured interleaved: direct (DB_POOLER=none), routines (DB_POOLER=transaction,
    /// direct connection), pgbouncer (DB_POOLER=transaction through PgBouncer; needs pgbouncer installed),
    /// pgbouncer-role (the same with DB_TIMEOUTS=role).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "direct", value_name = "PATH,...")]
    paths: Vec<ConnectionPath>,
    /// Print the report as JSON (every summary, the options and the machine) instead of markdown tables.
    #[arg(long)]
    json: bool,
    /// Exit non-zero when a family's handler p50 is over the budget (1.3× the floor's p50; through
    /// PgBouncer, also 1.2× the direct handler's).
    #[arg(long)]
    check: bool,
    /// Also write NAME.md and NAME.json into target/bench-results (or BENCH_RESULTS_DIR).
    #[arg(long, value_name = "NAME")]
    save: Option<String>,
}

/// Every way `bench` fails.
#[derive(Debug, thiserror::Error)]
pub enum BenchCommandError {
    #[error("{0}")]
    Usage(&'static str),

    #[error("the benchmark run failed")]
    Bench(#[source] BenchError),

    #[error("over the latency budget (--check): {0}")]
    OverBudget(String),

    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),

    #[error("cannot serialize the report: {0}")]
    Serialize(serde_json::Error),
}

impl Failure for BenchCommandError {
    fn hint(&self) -> Option<String> {
        match self {
            BenchCommandError::Bench(_) => Some(
                "the benchmark needs PostgreSQL: TEST_DATABASE_URL (or DATABASE_URL) naming a server where the user \
                 may CREATE DATABASE, or, with neither set, the PostgreSQL server binaries for a throwaway cluster"
                    .into(),
            ),
            BenchCommandError::OverBudget(_) => Some(
                "the ratio depends on the build and the machine's load: measure a --release build on an idle \
                 machine; BENCHMARKS.md explains the recorded misses and what would close them"
                    .into(),
            ),
            _ => None,
        }
    }
}

pub fn run(args: LatencyArgs) -> Result<(), BenchCommandError> {
    let LatencyOptions { events, warmup, ref delays_us } = args.options;
    if events == 0 {
        return Err(BenchCommandError::Usage("--events 0 measures nothing: give at least 1 (e.g. --events 200)"));
    }
    // The harness behind the run panics without a server: answer first.
    clerk_sync_bench::database_available().map_err(BenchCommandError::Usage)?;
    let delays: Vec<String> = delays_us.iter().map(u64::to_string).collect();
    eprintln!(
        "measuring {events} deliveries per family after {warmup} warm-up ones, at {} µs of added delay …",
        delays.join(", ")
    );
    let mut paths = args.paths.clone();
    if !paths.contains(&ConnectionPath::Direct) {
        // The pooler paths are weighed against the direct one.
        paths.insert(0, ConnectionPath::Direct);
    }
    paths.sort();
    paths.dedup();
    let runtime = crate::runtime::current_thread().map_err(BenchCommandError::Runtime)?;
    let report = runtime
        .block_on(clerk_sync_bench::latency::latency_on(&args.options, &paths))
        .map_err(BenchCommandError::Bench)?;
    let markdown = report.to_string();
    if let Some(name) = &args.save {
        clerk_sync_bench::save(name, &markdown, &report).map_err(BenchCommandError::Bench)?;
        eprintln!("saved {name}.md and {name}.json in {}", clerk_sync_bench::results_dir().display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(BenchCommandError::Serialize)?);
    } else {
        print!("{markdown}");
    }
    if args.check && (!report.within_budget() || report.within_pooler_budgets() == Some(false)) {
        return Err(BenchCommandError::OverBudget(missed(&report)));
    }
    Ok(())
}

/// The families over the budget: `memberships at +250 µs (1.37×), …`.
fn missed(report: &LatencyReport) -> String {
    let mut missed = Vec::new();
    for run in report.runs.iter().filter(|r| r.path == ConnectionPath::Direct) {
        for family in run.families.iter().filter(|f| !f.within_budget()) {
            let network =
                if run.delay_us == 0 { "loopback".to_string() } else { format!("+{} µs each way", run.delay_us) };
            missed.push(format!("{} on {network} ({:.2}×)", family.family, family.ratio_p50));
        }
    }
    let mut verdict = format!("{}; the budget is {BUDGET_RATIO}×", missed.join(", "));
    if report.within_pooler_budgets() == Some(false) {
        verdict.push_str("; and through PgBouncer, over 1.2× the direct handler (see the table)");
    }
    verdict
}
