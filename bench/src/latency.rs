//! Per-event latency of the real webhook handlers against the floor.
//!
//! For each family, deliveries go through `clerk_sync::handle` in-process,
//! over the function's own pool (one connection, as in Lambda). After a
//! warm-up (every statement prepared), each measured delivery is followed by
//! the floor on the same pooled connection: one prepared single-row INSERT
//! of the same payload as jsonb, autocommit. Interleaving the two cancels
//! drift in the machine's load. Signing and building the request happen
//! before the clock starts; the handler's own time is what is measured.
//!
//! Issue 16 adds the connection path ([`ConnectionPath`]): the same run on a
//! direct connection with named statements (`DB_POOLER=none`), on a direct
//! connection with unnamed ones (`DB_POOLER=transaction`), and through a
//! PgBouncer in transaction mode. The paths of one delay share a database and
//! are measured interleaved, event by event, so that they see the same load;
//! the floor runs on each path's own connection, prepared as that path's
//! statements are ([`clerk_sync::db::statements::prepare`]).

#[path = "pooler_burst.rs"]
pub mod pooler_burst;

use std::{collections::BTreeMap, fmt, time::Duration, time::Instant};

use clerk_sync::clerk::Envelope;
use clerk_sync::db::statements;
use clerk_sync::{WebhookConfig, WebhookState};
use clerk_sync_tests::Vars;
use serde::Serialize;
use tokio_postgres::types::{ToSql, Type};

use crate::{
    db::{self, BenchDb},
    events::{self, Delivery, EventStream, Stream},
    machine::Machine,
    proxy::DelayProxy,
    stats::Summary,
    BenchError,
};

/// The floor: what any handler that durably records the event must do.
const FLOOR_SQL: &str = "INSERT INTO bench_floor (payload) VALUES ($1::jsonb)";

/// Diagnostic: the handler's recording statement alone (the events row with
/// its indexes, no effect), which is what separates the floor's bare table
/// from the real one.
const RECORD_SQL: &str = "INSERT INTO clerk_webhook_events
        (svix_id, family, event_type, clerk_object_id, event_timestamp, payload, status, processed_at)
    VALUES ($1, 'all', $2, $3, $4, $5::jsonb, 'ignored', now())
    ON CONFLICT (svix_id, family) DO NOTHING";

/// The budget: handler p50 at most this multiple of the floor's p50.
pub const BUDGET_RATIO: f64 = 1.3;

/// What `clerk-sync bench` (and the `latency` bench) runs.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct LatencyOptions {
    /// Measured deliveries per family, after the warm-up.
    #[arg(long, default_value_t = 2000)]
    pub events: usize,
    /// Unmeasured deliveries per family first, so every statement is prepared.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// One-way delay added by a TCP proxy in front of PostgreSQL, in microseconds; one run per
    /// value, 0 = connect directly.
    #[arg(long = "delay-us", value_delimiter = ',', default_values_t = [0u64, 250])]
    pub delays_us: Vec<u64>,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        Self { events: 2000, warmup: 200, delays_us: vec![0, 250] }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub machine: Machine,
    pub options: LatencyOptions,
    pub runs: Vec<LatencyRun>,
}

/// One pass over the three families at one proxy delay.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRun {
    pub delay_us: u64,
    pub families: Vec<FamilyLatency>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FamilyLatency {
    pub family: &'static str,
    pub handler: Summary,
    pub floor: Summary,
    /// Diagnostic: the events-row insert alone, on the same connection.
    pub record: Summary,
    /// Handler p50 ÷ floor p50.
    pub ratio_p50: f64,
    /// Handler latency by event type.
    pub by_type: BTreeMap<String, Summary>,
    /// Answer statuses (`processed`, …) of the measured deliveries.
    pub statuses: BTreeMap<String, u64>,
    /// Client→server turns per delivery, counted by the proxy (proxied runs only).
    pub handler_turns: Option<f64>,
    pub floor_turns: Option<f64>,
}

impl FamilyLatency {
    pub fn within_budget(&self) -> bool {
        self.ratio_p50 <= BUDGET_RATIO
    }
}

impl LatencyReport {
    pub fn within_budget(&self) -> bool {
        self.runs.iter().flat_map(|r| &r.families).all(FamilyLatency::within_budget)
    }
}

/// Runs every delay in `opts` on a fresh database each, then drops them.
pub async fn latency(opts: &LatencyOptions) -> Result<LatencyReport, BenchError> {
    let mut runs = Vec::new();
    let mut postgres = String::new();
    for &delay_us in &opts.delays_us {
        let db = BenchDb::create().await?;
        postgres = db.server_version().await?;
        let run = run_once(&db, opts, delay_us).await;
        db.drop_database().await?;
        runs.push(run?);
    }
    Ok(LatencyReport { machine: Machine::read(Some(postgres)), options: opts.clone(), runs })
}

async fn run_once(db: &BenchDb, opts: &LatencyOptions, delay_us: u64) -> Result<LatencyRun, BenchError> {
    let proxy = match delay_us {
        0 => None,
        us => Some(DelayProxy::start(db::upstream(&db.url)?, Duration::from_micros(us))?),
    };
    let url = match &proxy {
        Some(proxy) => db::with_address(&db.url, proxy.addr())?,
        None => db.url.clone(),
    };
    let tag = events::tag();
    let mut families = Vec::new();
    for family in Stream::ALL {
        let state = webhook_state(family, &url)?;
        families.push(measure(&state, family, &tag, opts, proxy.as_ref()).await?);
    }
    Ok(LatencyRun { delay_us, families })
}

/// A webhook function's state as `main` builds it, migrations skipped.
fn webhook_state(family: Stream, url: &str) -> Result<WebhookState, BenchError> {
    let vars = Vars(vec![
        ("DATABASE_URL", url.to_string()),
        ("CLERK_WEBHOOK_SECRET", clerk_sync_tests::TEST_SECRET.to_string()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
    ]);
    Ok(WebhookState::new(family.family(), WebhookConfig::from_source(&vars)?)?)
}

async fn measure(
    state: &WebhookState,
    family: Stream,
    tag: &str,
    opts: &LatencyOptions,
    proxy: Option<&DelayProxy>,
) -> Result<FamilyLatency, BenchError> {
    let mut stream = EventStream::new(family, tag);
    for _ in 0..opts.warmup {
        let delivery = stream.next_delivery();
        deliver(state, delivery.request()).await?;
        floor(state, &delivery.body).await?;
        record_only(state, &delivery).await?;
    }
    let turns = || proxy.map(DelayProxy::turns).unwrap_or(0);
    let (mut handler, mut floor_samples, mut record_samples) = (Vec::new(), Vec::new(), Vec::new());
    let mut by_type: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    let (mut handler_turns, mut floor_turns) = (0, 0);
    for _ in 0..opts.events {
        let delivery = stream.next_delivery();
        let request = delivery.request();

        let before = turns();
        let start = Instant::now();
        let status = deliver(state, request).await?;
        let elapsed = start.elapsed();
        handler_turns += turns() - before;
        handler.push(elapsed);
        by_type.entry(delivery.event_type.clone()).or_default().push(elapsed);
        *statuses.entry(status).or_insert(0) += 1;

        let before = turns();
        let start = Instant::now();
        floor(state, &delivery.body).await?;
        floor_samples.push(start.elapsed());
        floor_turns += turns() - before;

        let start = Instant::now();
        record_only(state, &delivery).await?;
        record_samples.push(start.elapsed());
    }
    let (handler, floor) = (Summary::of(&mut handler), Summary::of(&mut floor_samples));
    let per_event = |turns: u64| proxy.map(|_| turns as f64 / opts.events.max(1) as f64);
    Ok(FamilyLatency {
        family: family.name(),
        ratio_p50: handler.p50_us / floor.p50_us,
        handler,
        floor,
        record: Summary::of(&mut record_samples),
        by_type: by_type.into_iter().map(|(t, mut s)| (t, Summary::of(&mut s))).collect(),
        statuses,
        handler_turns: per_event(handler_turns),
        floor_turns: per_event(floor_turns),
    })
}

/// One delivery through the real handler; its answer's `status`.
async fn deliver(state: &WebhookState, request: http::Request<Vec<u8>>) -> Result<String, BenchError> {
    let response = clerk_sync::handle(state, request).await;
    let body: serde_json::Value = serde_json::from_str(response.body())?;
    if response.status() != http::StatusCode::OK {
        return Err(format!("the handler answered {}: {body}", response.status()).into());
    }
    Ok(body["status"].as_str().unwrap_or("?").to_string())
}

/// The floor, on the handler's own pooled connection: the pool checkout and
/// the statement-cache lookup the handler also pays, then one INSERT.
pub async fn floor(state: &WebhookState, payload: &str) -> Result<(), BenchError> {
    let client = state.database().pool().get().await?;
    let statement = client.prepare_typed_cached(FLOOR_SQL, &[Type::TEXT]).await?;
    client.execute(&statement, &[&payload]).await?;
    Ok(())
}

/// The recording statement alone, under a svix id of its own.
async fn record_only(state: &WebhookState, delivery: &Delivery) -> Result<(), BenchError> {
    let envelope = Envelope::parse(delivery.body.as_bytes())?;
    let (object_id, svix_id) = (envelope.object_id(), format!("{}_record", delivery.svix_id));
    let client = state.database().pool().get().await?;
    let statement =
        client.prepare_typed_cached(RECORD_SQL, &[Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8, Type::TEXT]).await?;
    let params: [&(dyn ToSql + Sync); 5] =
        [&svix_id, &envelope.event_type, &object_id, &envelope.timestamp, &delivery.body];
    client.execute(&statement, &params).await?;
    Ok(())
}

fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.0} µs")
    }
}

impl fmt::Display for LatencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(f, "Per-event latency: {} measured deliveries per family after {} warm-up ones.", o.events, o.warmup)?;
        writeln!(f)?;
        writeln!(
            f,
            "| network | family | handler p50 | handler p99 | events/s | floor p50 | floor p99 | handler ÷ floor (p50) | turns/event (handler, floor) | budget ≤ {BUDGET_RATIO}× |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|")?;
        for run in &self.runs {
            let network =
                if run.delay_us == 0 { "loopback".to_string() } else { format!("+{} µs each way", run.delay_us) };
            for fam in &run.families {
                let turns = match (fam.handler_turns, fam.floor_turns) {
                    (Some(h), Some(fl)) => format!("{h:.2}, {fl:.2}"),
                    _ => "–".to_string(),
                };
                writeln!(
                    f,
                    "| {network} | {} | {} | {} | {:.0} | {} | {} | {:.2}× | {turns} | {} |",
                    fam.family,
                    us(fam.handler.p50_us),
                    us(fam.handler.p99_us),
                    fam.handler.per_second(),
                    us(fam.floor.p50_us),
                    us(fam.floor.p99_us),
                    fam.ratio_p50,
                    if fam.within_budget() { "met" } else { "**missed**" },
                )?;
            }
        }
        writeln!(f)?;
        writeln!(f, "Where the time goes (p50): the floor's bare table, the handler's events row alone (its indexes, no effect), the whole handler:")?;
        writeln!(f)?;
        writeln!(f, "| network | family | floor | events row alone | handler |")?;
        writeln!(f, "|---|---|---|---|---|")?;
        for run in &self.runs {
            for fam in &run.families {
                writeln!(
                    f,
                    "| +{} µs | {} | {} | {} | {} |",
                    run.delay_us,
                    fam.family,
                    us(fam.floor.p50_us),
                    us(fam.record.p50_us),
                    us(fam.handler.p50_us)
                )?;
            }
        }
        writeln!(f)?;
        writeln!(f, "By event type (handler p50 / p99):")?;
        writeln!(f)?;
        writeln!(f, "| network | event type | n | p50 | p99 |")?;
        writeln!(f, "|---|---|---|---|---|")?;
        for run in &self.runs {
            for fam in &run.families {
                for (event_type, s) in &fam.by_type {
                    writeln!(
                        f,
                        "| +{} µs | {event_type} | {} | {} | {} |",
                        run.delay_us,
                        s.n,
                        us(s.p50_us),
                        us(s.p99_us)
                    )?;
                }
            }
        }
        let statuses: BTreeMap<&str, u64> = self.runs.iter().flat_map(|r| &r.families).flat_map(|f| &f.statuses).fold(
            BTreeMap::new(),
            |mut all, (status, n)| {
                *all.entry(status.as_str()).or_insert(0) += n;
                all
            },
        );
        writeln!(f)?;
        writeln!(f, "Answers: {statuses:?}. Machine: {}.", self.machine)
    }
}
