//! Issue 16's sustained load, as a benchmark: deliveries at a fixed rate from
//! many function instances through a PgBouncer in transaction mode, on
//! loopback (`clerk_sync_tests::load::sustained`, what the test
//! `burst::a_sustained_import_pace_through_pgbouncer_loses_and_doubles_nothing`
//! runs). Reports the handler's latency and checks that no delivery was lost
//! or doubled: every delivery answered 200, each message one events row and
//! one user.
//!
//! Declared from `latency.rs` (`clerk_sync_bench::latency::pooler_burst`).

use std::{fmt, sync::Arc, time::Duration};

use clerk_sync::{Family, WebhookState};
use clerk_sync_tests::load::{sustained, LoadPlan};
use serde::Serialize;

use super::{load_average, us};
use crate::{
    db::{self, BenchDb},
    machine::Machine,
    stats::Summary,
    BenchError,
};

/// What the sustained run sends.
#[derive(Debug, Clone, Serialize)]
pub struct BurstOptions {
    /// Deliveries per second, all instances together (redeliveries aside).
    pub rate: u32,
    pub seconds: u64,
    /// Function instances: a `WebhookState` with one connection each, one delivery at a time.
    pub instances: usize,
    /// PgBouncer's server connections.
    pub pool_size: u16,
    /// Every n-th message is delivered twice (Svix's at-least-once), 0 = none.
    pub redeliver_every: usize,
}

impl Default for BurstOptions {
    fn default() -> Self {
        Self { rate: 100, seconds: 60, instances: 20, pool_size: 4, redeliver_every: 20 }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BurstReport {
    pub machine: Machine,
    pub options: BurstOptions,
    /// Distinct messages sent, and deliveries (messages and redeliveries).
    pub messages: usize,
    pub deliveries: usize,
    pub answered_200: usize,
    /// Answers other than 200 (status and body), the first few.
    pub refused: usize,
    pub refused_examples: Vec<(u16, String)>,
    /// The handler's latency of every delivery, from the moment its instance took it.
    pub latency: Summary,
    /// How far the sender was behind its schedule at the end.
    pub lag_ms: f64,
    /// Rows after the run: `clerk_webhook_events` and `users`.
    pub events_rows: i64,
    pub users_rows: i64,
    pub load_before: String,
    pub load_after: String,
}

impl BurstReport {
    /// Nothing lost, nothing doubled, nothing refused.
    pub fn loses_and_doubles_nothing(&self) -> bool {
        self.refused == 0
            && self.answered_200 == self.deliveries
            && self.events_rows == self.messages as i64
            && self.users_rows == self.messages as i64
    }
}

/// Runs the load on a fresh bench database behind a PgBouncer of its own
/// (`DB_POOLER=transaction`). Needs a multi-thread runtime, as the test has.
pub async fn pooler_burst(opts: &BurstOptions) -> Result<BurstReport, BenchError> {
    let db = BenchDb::create().await?;
    let postgres = db.server_version().await?;
    let result = run(&db, opts).await;
    db.drop_database().await?;
    let mut report = result?;
    report.machine = Machine::read(Some(postgres));
    Ok(report)
}

async fn run(db: &BenchDb, opts: &BurstOptions) -> Result<BurstReport, BenchError> {
    let load_before = load_average();
    let bouncer = clerk_sync_tests::pgbouncer::start(opts.pool_size);
    let url = bouncer.url(&db.name);
    let instances: Vec<Arc<WebhookState>> = (0..opts.instances)
        .map(|_| Arc::new(clerk_sync_tests::webhook_state(Family::Users, &url, clerk_sync_tests::through_pooler())))
        .collect();
    let plan = LoadPlan {
        rate: opts.rate,
        duration: Duration::from_secs(opts.seconds),
        redeliver_every: opts.redeliver_every,
    };
    let mut result = sustained(&instances, &plan).await;
    drop(instances);
    drop(bouncer);
    let load_after = load_average();

    let client = db::connect(&db.url).await?;
    let count = |table: &'static str| {
        let client = &client;
        async move {
            let row = client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await?;
            Ok::<i64, BenchError>(row.get(0))
        }
    };
    let (events_rows, users_rows) = (count("clerk_webhook_events").await?, count("users").await?);
    Ok(BurstReport {
        machine: Machine::read(None),
        options: opts.clone(),
        messages: result.messages,
        deliveries: result.deliveries,
        answered_200: result.answered_200,
        refused: result.answered_other.len(),
        refused_examples: result.answered_other.iter().take(5).map(|(s, body)| (*s, body.to_string())).collect(),
        latency: Summary::of(&mut result.latencies),
        lag_ms: result.lag.as_secs_f64() * 1e3,
        events_rows,
        users_rows,
        load_before,
        load_after,
    })
}

impl fmt::Display for BurstReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "Sustained load through PgBouncer (transaction mode, {} server connections), loopback: {} user.created \
             deliveries a second for {} s from {} function instances (`DB_POOLER=transaction`, one connection and one \
             delivery at a time each), every {}th message delivered twice. Latency is the handler's own, from the \
             moment its instance took the delivery.",
            o.pool_size, o.rate, o.seconds, o.instances, o.redeliver_every
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| messages | deliveries | answered 200 | refused | events rows | users rows | p50 | p90 | p99 | max | sender behind | lost or doubled |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|---|---|")?;
        let l = &self.latency;
        writeln!(
            f,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} ms | {} |",
            self.messages,
            self.deliveries,
            self.answered_200,
            self.refused,
            self.events_rows,
            self.users_rows,
            us(l.p50_us),
            us(l.p90_us),
            us(l.p99_us),
            us(l.max_us),
            self.lag_ms,
            if self.loses_and_doubles_nothing() { "none: met" } else { "**missed**" },
        )?;
        for (status, body) in &self.refused_examples {
            writeln!(f, "\nRefused: {status} {body}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "Load average (1, 5, 15 min) before {}, after {}. Machine: {}.",
            self.load_before, self.load_after, self.machine
        )
    }
}
