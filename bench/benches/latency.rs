//! Per-event latency of the webhook handlers against the floor, directly and
//! through the 0.25 ms delaying proxy (the report: p50/p99, events/s, ratio,
//! round trips), on each connection path (direct, calls of the event routines,
//! through PgBouncer); then issue 16's sustained load through PgBouncer; then
//! criterion's means for the direct case.
//!
//! `cargo bench -p clerk-sync-bench --bench latency`
//! (`BENCH_EVENTS`, `BENCH_WARMUP`, `BENCH_DELAYS_US=0,250`, `BENCH_PATHS=direct,routines,pgbouncer,pgbouncer-role`
//! override the defaults; `BENCH_LATENCY_NAME` names the results file, `BENCH_LATENCY=0` skips
//! the latency run. The sustained load: `BENCH_BURST=0` skips it, `BENCH_BURST_SECONDS` (60),
//! `BENCH_BURST_RATE` (100 a second); results in `pooler_burst.md`. `BENCH_CRITERION=0` skips
//! criterion's part.)

use std::time::{Duration, Instant};

use clerk_sync::WebhookState;
use clerk_sync_bench::{
    db::BenchDb,
    events::{EventStream, Stream},
    latency::{
        pooler_burst::{pooler_burst, BurstOptions},
        ConnectionPath, PathOptions,
    },
    LatencyOptions,
};
use criterion::Criterion;
use tokio::runtime::Runtime;

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `VAR=0`.
fn off(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "0")
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let defaults = LatencyOptions::default();
    let opts = LatencyOptions {
        events: env_or("BENCH_EVENTS", defaults.events),
        warmup: env_or("BENCH_WARMUP", defaults.warmup),
        delays_us: std::env::var("BENCH_DELAYS_US")
            .ok()
            .map(|v| v.split(',').filter_map(|d| d.trim().parse().ok()).collect())
            .unwrap_or(defaults.delays_us),
    };
    let paths = match std::env::var("BENCH_PATHS") {
        Ok(v) => v
            .split(',')
            .map(|p| {
                <ConnectionPath as clap::ValueEnum>::from_str(p.trim(), true)
                    .unwrap_or_else(|e| panic!("BENCH_PATHS: {e}"))
            })
            .collect(),
        Err(_) => PathOptions::default().paths,
    };
    if !off("BENCH_LATENCY") {
        let report = rt.block_on(clerk_sync_bench::latency::latency_on(&opts, &paths)).expect("latency run");
        let text = report.to_string();
        println!("{text}");
        let name = std::env::var("BENCH_LATENCY_NAME").unwrap_or_else(|_| "latency".into());
        clerk_sync_bench::save(&name, &text, &report).expect("results saved");
    }
    if !off("BENCH_BURST") {
        let defaults = BurstOptions::default();
        let burst = BurstOptions {
            seconds: env_or("BENCH_BURST_SECONDS", defaults.seconds),
            rate: env_or("BENCH_BURST_RATE", defaults.rate),
            ..defaults
        };
        // Two workers, as the test runs it.
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("multi-thread runtime");
        let report = multi.block_on(pooler_burst(&burst)).expect("sustained run");
        let text = report.to_string();
        println!("{text}");
        clerk_sync_bench::save("pooler_burst", &text, &report).expect("results saved");
        assert!(report.loses_and_doubles_nothing(), "the sustained run lost, doubled or refused deliveries");
    }
    if off("BENCH_CRITERION") {
        return;
    }

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    criterion_group(&mut c, &rt);
    c.final_summary();
}

/// criterion's view of the direct case: mean time per delivery and per floor
/// insert, each family on its own pool, statements warm.
fn criterion_group(c: &mut Criterion, rt: &Runtime) {
    let db = rt.block_on(BenchDb::create()).expect("bench database");
    let tag = clerk_sync_bench::events::tag();
    let mut group = c.benchmark_group("deliver");
    for family in Stream::ALL {
        let state = clerk_sync_tests::webhook_state(family.family(), &db.url, vec![]);
        let mut stream = EventStream::new(family, &tag);
        group.bench_function(format!("{}/handler", family.name()), |b| {
            b.iter_custom(|iters| rt.block_on(timed(iters, &mut stream, &state, false)))
        });
        group.bench_function(format!("{}/floor", family.name()), |b| {
            b.iter_custom(|iters| rt.block_on(timed(iters, &mut stream, &state, true)))
        });
    }
    group.finish();
    rt.block_on(db.drop_database()).expect("drop the bench database");
}

/// Delivers `iters` fresh events (or floor inserts of them); only the
/// handler's (or the insert's) own time counts.
async fn timed(iters: u64, stream: &mut EventStream, state: &WebhookState, floor: bool) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let delivery = stream.next_delivery();
        if floor {
            let start = Instant::now();
            clerk_sync_bench::latency::floor(state, &delivery.body).await.expect("floor insert");
            total += start.elapsed();
        } else {
            let request = delivery.request();
            let start = Instant::now();
            let response = clerk_sync::handle(state, request).await;
            total += start.elapsed();
            assert_eq!(response.status(), 200, "{}", response.body());
        }
    }
    total
}
