//! Reconcile, backfill and repair (`clerk_sync_bench::reconcile`): the real
//! `clerk-sync reconcile --json` twice against the fake Backend API.
//!
//! ```text
//! cargo build --release -p clerk-sync-cli
//! cargo run --release -p clerk-sync-bench --bin reconcile-bench [-- --users N --organizations N
//!     --memberships N --latency-ms MS --binary PATH --library --name NAME]
//! ```
//!
//! Saves `reconcile.md` and `reconcile.json` in the results folder
//! (`BENCH_RESULTS_DIR`, else `target/bench-results`). The hidden
//! subcommand `library-child` is the library's reconcile behind the
//! command's interface (what `--library` runs instead of `clerk-sync`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clerk_sync_bench::reconcile::{self, ReconcileOptions};

#[derive(Parser)]
#[command(about = "Reconcile from empty, then with no drift, against the fake Backend API")]
struct Cli {
    #[command(subcommand)]
    plumbing: Option<Plumbing>,
    #[command(flatten)]
    options: ReconcileOptions,
}

#[derive(Subcommand)]
enum Plumbing {
    /// The library's reconcile, configured and reporting as `clerk-sync reconcile --json`.
    #[command(hide = true)]
    LibraryChild,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.plumbing {
        Some(Plumbing::LibraryChild) => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            match rt.block_on(reconcile::library_child()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("reconcile failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        None => {
            if let Err(e) = clerk_sync_bench::database_available() {
                eprintln!("reconcile bench skipped: {e}");
                return ExitCode::FAILURE;
            }
            let report = match runtime().block_on(reconcile::run(&cli.options)) {
                Ok(report) => report,
                Err(e) => {
                    eprintln!("reconcile bench failed: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let text = report.to_string();
            println!("{text}");
            if let Err(e) = clerk_sync_bench::save(&cli.options.name, &text, &report) {
                eprintln!("results not saved: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}
