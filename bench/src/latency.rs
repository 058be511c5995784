//! Per-event latency of the real webhook handlers against the floor.
//!
//! For each family, deliveries go through `clerk_sync::handle` in-process,
//! over the function's own pool (one connection, as in Lambda). After a
//! warm-up (every statement prepared), each measured delivery is followed by
//! the floor on the same pooled connection: one single-row INSERT of the same
//! payload as jsonb, autocommit. Interleaving the two cancels drift in the
//! machine's load. Signing and building the request happen before the clock
//! starts; the handler's own time is what is measured.
//!
//! Issue 16 adds the connection path ([`ConnectionPath`]): the same
//! deliveries on a direct connection with named statements (`DB_POOLER=none`),
//! on a direct connection set up for a pooler (`DB_POOLER=transaction`:
//! unnamed calls of the event routines), and through a PgBouncer in
//! transaction mode. The paths of one delay share a
//! database and are measured interleaved, event by event (the order rotating),
//! so that they see the same load; the floor runs on each path's own
//! connection, prepared as that path's statements are
//! ([`clerk_sync::db::statements::prepare`]: unnamed behind a pooler; the
//! floor has no routine, it is one short statement).

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

/// The budget (issue 7): handler p50 at most this multiple of the floor's p50.
pub const BUDGET_RATIO: f64 = 1.3;

/// Issue 16, at [`POOLER_BUDGET_DELAY_US`]: on the direct path (the deployed
/// configuration without a pooler), handler p50 at most this multiple of the
/// floor's p50 ...
pub const DIRECT_BUDGET_RATIO: f64 = 1.15;
/// ... and through PgBouncer, handler p50 at most this multiple of the direct
/// path's handler p50 at the same delay; one round trip per event on both.
pub const POOLER_BUDGET_RATIO: f64 = 1.2;
/// The one-way delay the issue 16 budgets are stated at.
pub const POOLER_BUDGET_DELAY_US: u64 = 250;

/// Server connections of the PgBouncer the `pgbouncer` path goes through.
pub const BOUNCER_POOL_SIZE: u16 = 2;

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

/// How the function reaches PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionPath {
    /// `DB_POOLER=none` on a direct connection: named statements, prepared once per connection.
    Direct,
    /// `DB_POOLER=transaction` on a direct connection: unnamed calls of the event routines and
    /// `SET LOCAL` timeouts, without a pooler (their cost alone).
    Routines,
    /// `DB_POOLER=transaction` through a PgBouncer in transaction mode (pool of 2) in front of the
    /// bench database; the delaying proxy, if any, between the function and PgBouncer.
    Pgbouncer,
    /// The same with `DB_TIMEOUTS=role`: the role carries the timeouts (`ALTER ROLE … IN DATABASE
    /// … SET`), so a delivery is its one call, without `BEGIN`, `SET LOCAL` or `COMMIT`.
    #[value(name = "pgbouncer-role")]
    #[serde(rename = "pgbouncer-role")]
    PgbouncerRole,
}

impl ConnectionPath {
    pub const ALL: [ConnectionPath; 4] =
        [ConnectionPath::Direct, ConnectionPath::Routines, ConnectionPath::Pgbouncer, ConnectionPath::PgbouncerRole];

    pub fn name(self) -> &'static str {
        match self {
            ConnectionPath::Direct => "direct",
            ConnectionPath::Routines => "routines",
            ConnectionPath::Pgbouncer => "pgbouncer",
            ConnectionPath::PgbouncerRole => "pgbouncer-role",
        }
    }

    /// Whether the function reaches PostgreSQL through PgBouncer.
    pub fn through_pgbouncer(self) -> bool {
        matches!(self, ConnectionPath::Pgbouncer | ConnectionPath::PgbouncerRole)
    }

    /// Whether the function runs with `DB_POOLER=transaction`.
    pub fn through_pooler(self) -> bool {
        self != ConnectionPath::Direct
    }
}

impl fmt::Display for ConnectionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which connection paths a run measures (`--paths`). Not part of
/// [`LatencyOptions`], so that what builds those keeps building.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct PathOptions {
    /// Connection paths, measured interleaved: direct (DB_POOLER=none), routines
    /// (DB_POOLER=transaction, direct connection), pgbouncer (DB_POOLER=transaction through a
    /// PgBouncer in transaction mode; needs pgbouncer installed), pgbouncer-role (the same with
    /// DB_TIMEOUTS=role).
    #[arg(long = "paths", value_enum, value_delimiter = ',', default_values_t = ConnectionPath::ALL)]
    pub paths: Vec<ConnectionPath>,
}

impl Default for PathOptions {
    fn default() -> Self {
        Self { paths: ConnectionPath::ALL.to_vec() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub machine: Machine,
    pub options: LatencyOptions,
    pub paths: Vec<ConnectionPath>,
    /// `/proc/loadavg` before and after the run (the machine may be shared).
    pub load_before: String,
    pub load_after: String,
    pub runs: Vec<LatencyRun>,
}

/// One pass over the three families at one proxy delay on one path.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRun {
    pub path: ConnectionPath,
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
    /// Handler p50 ÷ the direct path's handler p50 at the same delay (other
    /// paths, when the direct one was measured alongside).
    pub vs_direct_p50: Option<f64>,
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

    /// One round trip per event, where the proxy counted them.
    fn one_round_trip(&self) -> bool {
        self.handler_turns.is_none_or(|t| t <= 1.005)
    }
}

impl LatencyRun {
    /// Issue 16's budget for this row, if one applies: `Some(met)`.
    pub fn pooler_budget(&self, family: &FamilyLatency) -> Option<bool> {
        if self.delay_us != POOLER_BUDGET_DELAY_US {
            return None;
        }
        match self.path {
            ConnectionPath::Direct => Some(family.ratio_p50 <= DIRECT_BUDGET_RATIO && family.one_round_trip()),
            ConnectionPath::Pgbouncer | ConnectionPath::PgbouncerRole => {
                family.vs_direct_p50.map(|r| r <= POOLER_BUDGET_RATIO && family.one_round_trip())
            }
            ConnectionPath::Routines => None,
        }
    }
}

impl LatencyReport {
    /// Issue 7's budget, on the direct path (what `clerk-sync bench --check` checks).
    pub fn within_budget(&self) -> bool {
        self.runs
            .iter()
            .filter(|r| r.path == ConnectionPath::Direct)
            .flat_map(|r| &r.families)
            .all(FamilyLatency::within_budget)
    }

    /// Issue 16's budgets, where they apply; `None` when none does.
    pub fn within_pooler_budgets(&self) -> Option<bool> {
        let verdicts: Vec<bool> =
            self.runs.iter().flat_map(|r| r.families.iter().filter_map(move |f| r.pooler_budget(f))).collect();
        (!verdicts.is_empty()).then(|| verdicts.iter().all(|&met| met))
    }
}

/// Runs every delay in `opts` on the direct path, on a fresh database each,
/// then drops them.
pub async fn latency(opts: &LatencyOptions) -> Result<LatencyReport, BenchError> {
    latency_on(opts, &[ConnectionPath::Direct]).await
}

/// Runs every delay in `opts` on every path in `paths` (interleaved), on a
/// fresh database per delay, then drops them.
pub async fn latency_on(opts: &LatencyOptions, paths: &[ConnectionPath]) -> Result<LatencyReport, BenchError> {
    let mut paths = paths.to_vec();
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        return Err("no connection path to measure".into());
    }
    let load_before = load_average();
    let mut runs = Vec::new();
    let mut postgres = String::new();
    for &delay_us in &opts.delays_us {
        let db = BenchDb::create().await?;
        postgres = db.server_version().await?;
        let delay_runs = run_delay(&db, opts, delay_us, &paths).await;
        db.drop_database().await?;
        runs.extend(delay_runs?);
    }
    // Path by path, each in the order of the delays.
    runs.sort_by_key(|r| r.path);
    Ok(LatencyReport {
        machine: Machine::read(Some(postgres)),
        options: opts.clone(),
        paths,
        load_before,
        load_after: load_average(),
        runs,
    })
}

/// `/proc/loadavg`'s three load averages.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Where one path's connections go: a URL, and the delaying proxy they go
/// through, if any (its turns counted).
struct Endpoint {
    url: String,
    proxy: Option<DelayProxy>,
}

impl Endpoint {
    /// `url` itself, or a delaying proxy in front of it.
    fn new(url: &str, delay_us: u64) -> Result<Self, BenchError> {
        if delay_us == 0 {
            return Ok(Self { url: url.to_string(), proxy: None });
        }
        let proxy = DelayProxy::start(db::upstream(url)?, Duration::from_micros(delay_us))?;
        Ok(Self { url: db::with_address(url, proxy.addr())?, proxy: Some(proxy) })
    }
}

/// One delay, every path, on one database.
async fn run_delay(
    db: &BenchDb,
    opts: &LatencyOptions,
    delay_us: u64,
    paths: &[ConnectionPath],
) -> Result<Vec<LatencyRun>, BenchError> {
    let server = Endpoint::new(&db.url, delay_us)?;
    // Its one wildcard database reaches the bench database; dropped (stopped)
    // at the end of this delay, after the pools over it.
    if paths.contains(&ConnectionPath::PgbouncerRole) {
        db::give_the_role_the_timeouts(db).await?;
    }
    let bouncer = paths.iter().any(|p| p.through_pgbouncer()).then(|| {
        let bouncer = clerk_sync_tests::pgbouncer::start(BOUNCER_POOL_SIZE);
        let url = bouncer.url(&db.name);
        (bouncer, url)
    });
    let pooled = match &bouncer {
        Some((_, url)) => Some(Endpoint::new(url, delay_us)?),
        None => None,
    };
    // One tag per path: its own users, organizations and memberships.
    let tags: Vec<String> = paths.iter().map(|_| events::tag()).collect();
    let mut families: Vec<Vec<FamilyLatency>> = paths.iter().map(|_| Vec::new()).collect();
    for family in Stream::ALL {
        let mut lanes = Vec::new();
        for (&path, tag) in paths.iter().zip(&tags) {
            let endpoint = match path {
                ConnectionPath::Direct | ConnectionPath::Routines => &server,
                ConnectionPath::Pgbouncer | ConnectionPath::PgbouncerRole => pooled.as_ref().ok_or("no PgBouncer")?,
            };
            lanes.push(Lane {
                state: webhook_state(family, &endpoint.url, path)?,
                stream: EventStream::new(family, tag),
                proxy: endpoint.proxy.as_ref(),
                samples: Samples::default(),
            });
        }
        for _ in 0..opts.warmup {
            for lane in &mut lanes {
                lane.step(false).await?;
            }
        }
        for i in 0..opts.events {
            // The order rotates, so no path always comes first after the others.
            for k in 0..lanes.len() {
                let n = lanes.len();
                lanes[(i + k) % n].step(true).await?;
            }
        }
        let mut results: Vec<FamilyLatency> = lanes.into_iter().map(|lane| lane.finish(family, opts.events)).collect();
        if let Some(direct) = paths.iter().position(|&p| p == ConnectionPath::Direct) {
            let direct_p50 = results[direct].handler.p50_us;
            for (result, &path) in results.iter_mut().zip(paths) {
                if path != ConnectionPath::Direct {
                    result.vs_direct_p50 = Some(result.handler.p50_us / direct_p50);
                }
            }
        }
        for (all, result) in families.iter_mut().zip(results) {
            all.push(result);
        }
    }
    drop(pooled);
    drop(bouncer);
    Ok(paths.iter().zip(families).map(|(&path, families)| LatencyRun { path, delay_us, families }).collect())
}

/// One path's function instance for one family, with its samples.
struct Lane<'a> {
    state: WebhookState,
    stream: EventStream,
    proxy: Option<&'a DelayProxy>,
    samples: Samples,
}

#[derive(Default)]
struct Samples {
    handler: Vec<Duration>,
    floor: Vec<Duration>,
    record: Vec<Duration>,
    by_type: BTreeMap<String, Vec<Duration>>,
    statuses: BTreeMap<String, u64>,
    handler_turns: u64,
    floor_turns: u64,
}

impl Lane<'_> {
    fn turns(&self) -> u64 {
        self.proxy.map(DelayProxy::turns).unwrap_or(0)
    }

    /// One delivery, then the floor and the diagnostic on the same connection.
    async fn step(&mut self, measured: bool) -> Result<(), BenchError> {
        let delivery = self.stream.next_delivery();
        let request = delivery.request();

        let before = self.turns();
        let start = Instant::now();
        let status = deliver(&self.state, request).await?;
        let elapsed = start.elapsed();
        let handler_turns = self.turns() - before;

        let before = self.turns();
        let start = Instant::now();
        floor(&self.state, &delivery.body).await?;
        let floor_elapsed = start.elapsed();
        let floor_turns = self.turns() - before;

        let start = Instant::now();
        record_only(&self.state, &delivery).await?;
        let record_elapsed = start.elapsed();

        if measured {
            let s = &mut self.samples;
            s.handler.push(elapsed);
            s.by_type.entry(delivery.event_type.clone()).or_default().push(elapsed);
            *s.statuses.entry(status).or_insert(0) += 1;
            s.handler_turns += handler_turns;
            s.floor.push(floor_elapsed);
            s.floor_turns += floor_turns;
            s.record.push(record_elapsed);
        }
        Ok(())
    }

    fn finish(self, family: Stream, events: usize) -> FamilyLatency {
        let mut s = self.samples;
        let (handler, floor) = (Summary::of(&mut s.handler), Summary::of(&mut s.floor));
        let per_event = |turns: u64| self.proxy.map(|_| turns as f64 / events.max(1) as f64);
        FamilyLatency {
            family: family.name(),
            ratio_p50: handler.p50_us / floor.p50_us,
            vs_direct_p50: None,
            handler,
            floor,
            record: Summary::of(&mut s.record),
            by_type: s.by_type.into_iter().map(|(t, mut v)| (t, Summary::of(&mut v))).collect(),
            statuses: s.statuses,
            handler_turns: per_event(s.handler_turns),
            floor_turns: per_event(s.floor_turns),
        }
    }
}

/// A webhook function's state as `main` builds it, migrations skipped, set
/// up for `path`.
fn webhook_state(family: Stream, url: &str, path: ConnectionPath) -> Result<WebhookState, BenchError> {
    let mut vars = vec![
        ("DATABASE_URL", url.to_string()),
        ("CLERK_WEBHOOK_SECRET", clerk_sync_tests::TEST_SECRET.to_string()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
    ];
    if path.through_pooler() {
        vars.push(("DB_POOLER", "transaction".to_string()));
    }
    if path == ConnectionPath::PgbouncerRole {
        vars.push(("DB_TIMEOUTS", "role".to_string()));
    }
    Ok(WebhookState::new(family.family(), WebhookConfig::from_source(&Vars(vars))?)?)
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
/// the statement-cache lookup the handler also pays, then one INSERT,
/// autocommit. Prepared as the connection's statements are: named and cached
/// on a session of its own, unnamed (parsed with every execution) behind a
/// transaction pooler.
pub async fn floor(state: &WebhookState, payload: &str) -> Result<(), BenchError> {
    let client = state.database().pool().get().await?;
    let statement = statements::prepare(&client, FLOOR_SQL, &[Type::TEXT]).await?;
    client.execute(&statement, &[&payload]).await?;
    Ok(())
}

/// The recording statement alone, under a svix id of its own.
async fn record_only(state: &WebhookState, delivery: &Delivery) -> Result<(), BenchError> {
    let envelope = Envelope::parse(delivery.body.as_bytes())?;
    let (object_id, svix_id) = (envelope.object_id(), format!("{}_record", delivery.svix_id));
    let client = state.database().pool().get().await?;
    let statement =
        statements::prepare(&client, RECORD_SQL, &[Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8, Type::TEXT]).await?;
    let params: [&(dyn ToSql + Sync); 5] =
        [&svix_id, &envelope.event_type, &object_id, &envelope.timestamp, &delivery.body];
    client.execute(&statement, &params).await?;
    Ok(())
}

pub(crate) fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.0} µs")
    }
}

fn network(delay_us: u64) -> String {
    if delay_us == 0 {
        "loopback".to_string()
    } else {
        format!("+{delay_us} µs each way")
    }
}

fn turns(fam: &FamilyLatency) -> String {
    match (fam.handler_turns, fam.floor_turns) {
        (Some(h), Some(fl)) => format!("{h:.2}, {fl:.2}"),
        _ => "–".to_string(),
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

impl fmt::Display for LatencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(f, "Per-event latency: {} measured deliveries per family after {} warm-up ones.", o.events, o.warmup)?;
        let direct: Vec<&LatencyRun> = self.runs.iter().filter(|r| r.path == ConnectionPath::Direct).collect();
        let several = self.paths != [ConnectionPath::Direct];
        if !direct.is_empty() {
            writeln!(f)?;
            if several {
                writeln!(f, "Direct connection, `DB_POOLER=none` (named statements, prepared once per connection):")?;
                writeln!(f)?;
            }
            writeln!(
                f,
                "| network | family | handler p50 | handler p99 | events/s | floor p50 | floor p99 | handler ÷ floor (p50) | turns/event (handler, floor) | budget ≤ {BUDGET_RATIO}× |"
            )?;
            writeln!(f, "|---|---|---|---|---|---|---|---|---|---|")?;
            for run in &direct {
                let network = network(run.delay_us);
                for fam in &run.families {
                    writeln!(
                        f,
                        "| {network} | {} | {} | {} | {:.0} | {} | {} | {:.2}× | {} | {} |",
                        fam.family,
                        us(fam.handler.p50_us),
                        us(fam.handler.p99_us),
                        fam.handler.per_second(),
                        us(fam.floor.p50_us),
                        us(fam.floor.p99_us),
                        fam.ratio_p50,
                        turns(fam),
                        met(fam.within_budget()),
                    )?;
                }
            }
        }
        if several {
            self.fmt_paths(f)?;
        }
        writeln!(f)?;
        writeln!(f, "Where the time goes (p50): the floor's bare table, the handler's events row alone (its indexes, no effect), the whole handler:")?;
        writeln!(f)?;
        if several {
            writeln!(f, "| path | network | family | floor | events row alone | handler |")?;
            writeln!(f, "|---|---|---|---|---|---|")?;
        } else {
            writeln!(f, "| network | family | floor | events row alone | handler |")?;
            writeln!(f, "|---|---|---|---|---|")?;
        }
        for run in &self.runs {
            let path = if several { format!("| {} ", run.path) } else { String::new() };
            for fam in &run.families {
                writeln!(
                    f,
                    "{path}| +{} µs | {} | {} | {} | {} |",
                    run.delay_us,
                    fam.family,
                    us(fam.floor.p50_us),
                    us(fam.record.p50_us),
                    us(fam.handler.p50_us)
                )?;
            }
        }
        writeln!(f)?;
        if several {
            writeln!(f, "By event type (handler p50 / p99; the direct path, the others in the JSON):")?;
        } else {
            writeln!(f, "By event type (handler p50 / p99):")?;
        }
        writeln!(f)?;
        writeln!(f, "| network | event type | n | p50 | p99 |")?;
        writeln!(f, "|---|---|---|---|---|")?;
        let by_type = if direct.is_empty() { self.runs.iter().collect() } else { direct };
        for run in by_type {
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
        writeln!(
            f,
            "Answers: {statuses:?}. Load average (1, 5, 15 min) before {}, after {}. Machine: {}.",
            self.load_before, self.load_after, self.machine
        )
    }
}

impl LatencyReport {
    /// The table of issue 16: every path, delay and family, with its budgets.
    fn fmt_paths(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        writeln!(
            f,
            "By connection path (interleaved, event by event; `direct`: `DB_POOLER=none`, named statements; `routines`: \
             `DB_POOLER=transaction` on the same direct connection, unnamed calls of the event routines and timeouts \
             as `SET LOCAL`; \
             `pgbouncer`: `DB_POOLER=transaction` through PgBouncer in transaction mode, {BOUNCER_POOL_SIZE} server \
             connections, the delay between the function and PgBouncer; `pgbouncer-role`: the same with \
             `DB_TIMEOUTS=role`, the role carrying the timeouts, so no `BEGIN`, `SET LOCAL` or `COMMIT` around a \
             delivery). The floor runs on each path's own connection, \
             prepared as its statements are (unnamed behind `DB_POOLER=transaction`). Budgets at +{POOLER_BUDGET_DELAY_US} \
             µs each way: direct ≤ {DIRECT_BUDGET_RATIO}× its floor, either PgBouncer path ≤ {POOLER_BUDGET_RATIO}× the direct \
             handler, one round trip per event:"
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| path | network | family | handler p50 | handler p99 | floor p50 | handler ÷ floor (p50) | handler ÷ direct handler (p50) | turns/event (handler, floor) | budget |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|")?;
        for run in &self.runs {
            let network = network(run.delay_us);
            for fam in &run.families {
                let vs_direct = fam.vs_direct_p50.map_or("–".to_string(), |r| format!("{r:.2}×"));
                let budget = match (run.pooler_budget(fam), run.path) {
                    (Some(ok), ConnectionPath::Direct) => format!("≤ {DIRECT_BUDGET_RATIO}× floor: {}", met(ok)),
                    (Some(ok), _) => format!("≤ {POOLER_BUDGET_RATIO}× direct: {}", met(ok)),
                    (None, _) => "–".to_string(),
                };
                writeln!(
                    f,
                    "| {} | {network} | {} | {} | {} | {} | {:.2}× | {vs_direct} | {} | {budget} |",
                    run.path,
                    fam.family,
                    us(fam.handler.p50_us),
                    us(fam.handler.p99_us),
                    us(fam.floor.p50_us),
                    fam.ratio_p50,
                    turns(fam),
                )?;
            }
        }
        Ok(())
    }
}
