//! The function binaries as Lambda runs them: sizes, cold start and peak RSS
//! over a 10,000-event run, through the fake Runtime API.
//!
//! Needs the binaries: `scripts/bench.sh` builds them with
//! `cargo lambda build --release` and points `BENCH_LAMBDA_DIR` at them
//! (default `target/lambda`). `BENCH_LAMBDA_DIR_ARM64` adds an arm64 size
//! column; `BENCH_COLD_RUNS` (20) and `BENCH_RSS_EVENTS` (10000) override.

use std::path::PathBuf;

use clerk_sync_bench::functions::{self, FUNCTIONS};

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::var_os("BENCH_LAMBDA_DIR").map_or_else(|| workspace.join("target/lambda"), PathBuf::from);
    if FUNCTIONS.iter().any(|f| !functions::binary(&dir, f).is_file()) {
        println!("functions bench skipped: no function binaries in {} (scripts/bench.sh builds them)", dir.display());
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");

    let mut columns = vec![("x86_64", functions::sizes(&dir).expect("sizes"))];
    if let Some(arm) = std::env::var_os("BENCH_LAMBDA_DIR_ARM64") {
        columns.push(("arm64", functions::sizes(&PathBuf::from(arm)).expect("arm64 sizes")));
    }
    let sizes = functions::sizes_table(&columns);
    println!("Binary sizes (`cargo lambda build --release`, bootstrap):\n\n{sizes}");
    let json: Vec<_> = columns.iter().map(|(arch, s)| serde_json::json!({"arch": arch, "sizes": s})).collect();
    clerk_sync_bench::save("sizes", &sizes, &json).expect("results saved");

    let runs = env_or("BENCH_COLD_RUNS", 20);
    let cold = rt.block_on(functions::cold_start(&dir, runs, &[])).expect("cold start run");
    let text = cold.to_string();
    println!("{text}");
    clerk_sync_bench::save("cold_start", &text, &cold).expect("results saved");

    // Diagnostic pass: without TLS the pool's connector reads no CA bundle
    // at start; the difference is what reading it costs before the first poll.
    let no_tls = [("PGSSLMODE".to_string(), "disable".to_string())];
    let cold = rt.block_on(functions::cold_start(&dir, runs, &no_tls)).expect("cold start run");
    let text = cold.to_string();
    println!("{text}");
    clerk_sync_bench::save("cold_start_no_tls", &text, &cold).expect("results saved");

    let events = env_or("BENCH_RSS_EVENTS", 10_000);
    let memory = rt.block_on(functions::memory(&dir, "clerk-users", events)).expect("memory run");
    let text = memory.to_string();
    println!("{text}");
    clerk_sync_bench::save("memory", &text, &memory).expect("results saved");
}
