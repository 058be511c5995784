//! Benchmark drivers for clerk-sync (issue 7): what `scripts/bench.sh`, the
//! benches in `bench/benches/` and `clerk-sync bench` run.
//!
//! - [`latency`]: per-event latency of the real webhook handlers against the
//!   floor (one prepared single-row INSERT), directly and through a
//!   delaying TCP proxy ([`proxy`]).
//! - [`functions`]: cold start, binary size and peak RSS of the function
//!   binaries, driven through a fake Lambda Runtime API ([`runtime_api`]).
//! - [`reconcile`]: `clerk-sync reconcile` from empty and with no drift
//!   against the fake Backend API: wall time, requests, API and database
//!   time, peak RSS (the `reconcile-bench` binary).
//!
//! `bench/references/` (a crate of its own) holds the reference binaries the
//! size and cold-start figures are compared with (bare lambda_http + svix;
//! plus the Secrets Manager client; `clerk-users` without it).
//!
//! Every run creates its own database on the test harness's server (a
//! throwaway cluster unless `TEST_DATABASE_URL`/`DATABASE_URL` name one) and
//! drops it at the end.

pub mod db;
pub mod events;
pub mod functions;
pub mod latency;
pub mod machine;
pub mod pgbench;
pub mod proxy;
pub mod reconcile;
pub mod runtime_api;
pub mod stats;

pub use latency::{latency, LatencyOptions, LatencyReport};

/// Whether a PostgreSQL server can be had (a URL is set, or the server
/// binaries for a throwaway cluster are installed); `Err` says what to do.
/// Check it before a run outside the test harness: the harness panics.
pub fn database_available() -> Result<(), &'static str> {
    clerk_sync_tests::server_available()
}

/// Any failure of a benchmark run, as text for the operator.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Where the bench targets write their results: `BENCH_RESULTS_DIR`, else
/// `target/bench-results` in the workspace.
pub fn results_dir() -> std::path::PathBuf {
    match std::env::var_os("BENCH_RESULTS_DIR") {
        Some(dir) => dir.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results"),
    }
}

/// Writes `name.md` and `name.json` into [`results_dir`].
pub fn save(name: &str, markdown: &str, json: &impl serde::Serialize) -> Result<(), BenchError> {
    let dir = results_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{name}.md")), markdown)?;
    std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(json)?)?;
    Ok(())
}
