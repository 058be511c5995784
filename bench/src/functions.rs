//! The function binaries as Lambda runs them: cold start, binary size and
//! peak memory, each process driven through the fake Runtime API.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use clerk_sync_tests::{session, TEST_SECRET};
use serde::Serialize;
use serde_json::{json, Value};

use crate::{
    db::BenchDb,
    events::{self, EventStream, Stream},
    machine::Machine,
    runtime_api::{FakeRuntimeApi, Mark},
    stats::Summary,
    BenchError,
};

/// Every function binary, in the README's order.
pub const FUNCTIONS: [&str; 6] =
    ["clerk-users", "clerk-organizations", "clerk-memberships", "sync-status", "seller-accounts", "clerk-replay"];

/// The bare lambda_http + svix binary (`src/bin/lambda-reference.rs`),
/// measured beside the functions when it was built.
pub const REFERENCE: &str = "lambda-reference";

pub const BUDGET_FIRST_POLL_MS: f64 = 10.0;
/// Per function, arm64 (what the template deploys); issue 17 retired the 8 MB of issue 7.
pub const BUDGET_BINARY_BYTES: u64 = 10 * 1024 * 1024;
pub const BUDGET_PEAK_RSS_KIB: u64 = 32 * 1024;

/// How long a function may take to poll or answer before the run fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// Where a function's binary is: `<dir>/<name>/bootstrap` (cargo lambda's
/// layout) or `<dir>/<name>` (cargo's).
pub fn binary(dir: &Path, function: &str) -> PathBuf {
    let bootstrap = dir.join(function).join("bootstrap");
    if bootstrap.is_file() {
        bootstrap
    } else {
        dir.join(function)
    }
}

/// The reference plus `clerk_sync::aws::secrets::load` (the Secrets Manager client), for the size split.
pub const REFERENCE_SECRETS: &str = "lambda-reference-secrets";

/// `functions/clerk-users` without `secrets::load`: what the Secrets Manager client costs.
pub const NO_SECRETS: &str = "clerk-users-no-secrets";

/// Byte size of each function's binary in `dir`, then of the reference
/// binaries that were built there.
pub fn sizes(dir: &Path) -> Result<Vec<(String, u64)>, BenchError> {
    let references = [REFERENCE, REFERENCE_SECRETS, NO_SECRETS].into_iter().filter(|r| binary(dir, r).is_file());
    FUNCTIONS
        .iter()
        .copied()
        .chain(references)
        .map(|f| {
            let path = binary(dir, f);
            let len = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?.len();
            Ok((f.to_string(), len))
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdStart {
    pub function: String,
    /// Process spawn → first `GET …/invocation/next`, in µs.
    pub first_poll: Summary,
    /// Process spawn → first `POST …/response`, in µs.
    pub first_answer: Summary,
    /// VmHWM after the first answer, KiB (median).
    pub rss_after_first_kib: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdStartReport {
    pub machine: Machine,
    pub runs: usize,
    /// Settings added to every function's environment for this pass.
    pub extra_env: Vec<(String, String)>,
    pub functions: Vec<ColdStart>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub machine: Machine,
    pub function: String,
    pub events: usize,
    pub statuses: BTreeMap<String, u64>,
    /// VmHWM once every event was answered, KiB.
    pub peak_rss_kib: u64,
    /// VmRSS at the same moment, KiB.
    pub rss_kib: u64,
    /// Events answered per second, end to end through the Runtime API.
    pub events_per_sec: f64,
}

/// The database and the environment every function gets.
pub struct FunctionEnv {
    db: BenchDb,
    /// A seeded user and organization (admin), for the session-checked functions.
    user_id: String,
    org_id: String,
    /// Added to every launch's environment (diagnostic passes).
    pub extra_env: Vec<(String, String)>,
}

impl FunctionEnv {
    /// A migrated database (functions skip migrations), seeded through the
    /// real webhook handlers with one user, one organization and the
    /// user's admin membership.
    pub async fn create() -> Result<Self, BenchError> {
        let db = BenchDb::create().await?;
        let tag = events::tag();
        for family in Stream::ALL {
            let state = clerk_sync_tests::webhook_state(family.family(), &db.url, vec![]);
            let delivery = EventStream::new(family, &tag).next_delivery();
            let response = clerk_sync::handle(&state, delivery.request()).await;
            if response.status() != http::StatusCode::OK {
                return Err(format!("seeding failed: {}", response.body()).into());
            }
        }
        // Membership 0 is user 0 in organization 0; the sample's role is org:admin.
        Ok(Self { db, user_id: events::user_id(&tag, 0), org_id: events::org_id(&tag, 0), extra_env: Vec::new() })
    }

    pub async fn server_version(&self) -> Option<String> {
        self.db.server_version().await.ok()
    }

    pub async fn drop_database(self) -> Result<(), BenchError> {
        self.db.drop_database().await
    }

    fn vars(&self, function: &str, api: &FakeRuntimeApi) -> Vec<(String, String)> {
        let mut vars = vec![
            ("AWS_LAMBDA_RUNTIME_API", api.host_port()),
            ("AWS_LAMBDA_FUNCTION_NAME", function.to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]bench".to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function}")),
            ("DATABASE_URL", self.db.url.clone()),
            ("SKIP_DB_MIGRATIONS", "true".to_string()),
            ("CLERK_WEBHOOK_SECRET", TEST_SECRET.to_string()),
            ("ENCRYPTION_KEY", "bench-encryption-key-0123456789abcdefghij".to_string()),
        ];
        // CLERK_JWT_KEY (tests/fixtures/session-keys/k1.public.pem), issuer, parties.
        vars.extend(session::pem_settings());
        vars.into_iter().map(|(k, v)| (k.to_string(), v)).chain(self.extra_env.iter().cloned()).collect()
    }

    /// The first event each function gets: a signed delivery of its family,
    /// a session-checked GET, or the scheduler's event.
    fn first_event(&self, function: &str) -> Result<String, BenchError> {
        let tag = events::tag();
        let webhook = |family| EventStream::new(family, &tag).next_delivery().lambda_event();
        let token = || session::token(&self.user_id, Some((&self.org_id, "org:admin")));
        if let Some(stream) = Stream::of_function(function) {
            return Ok(webhook(stream));
        }
        Ok(match function {
            REFERENCE => webhook(Stream::Users),
            "sync-status" => api_event("/sync-status", &token()),
            "seller-accounts" => api_event("/seller-accounts", &token()),
            "clerk-replay" => json!({
                "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "Scheduled Event",
                "source": "aws.events", "account": "123456789012", "time": "2026-01-01T00:00:00Z",
                "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/clerk-replay"],
                "detail": {}
            })
            .to_string(),
            other => return Err(format!("unknown function {other}").into()),
        })
    }
}

/// An API Gateway HTTP API (payload 2.0) GET, as the app sends it.
fn api_event(path: &str, token: &str) -> String {
    json!({
        "version": "2.0", "routeKey": format!("GET {path}"), "rawPath": path, "rawQueryString": "",
        "headers": {"accept": "application/json", "authorization": format!("Bearer {token}")},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.test", "domainPrefix": "api",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": uuid::Uuid::new_v4().to_string(), "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 1_767_225_600_000_i64
        },
        "isBase64Encoded": false
    })
    .to_string()
}

/// A launched function, killed when dropped.
struct Launched {
    child: Child,
    spawned: Instant,
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Launched {
    fn start(bin: &Path, function: &str, env: &FunctionEnv, api: &FakeRuntimeApi) -> Result<Self, BenchError> {
        let mut command = Command::new(bin);
        // Only what Lambda would set: nothing from this shell leaks in.
        command.env_clear().envs(env.vars(function, api)).stdin(Stdio::null()).stdout(Stdio::null());
        command.stderr(Stdio::null());
        let spawned = Instant::now();
        let child = command.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
        Ok(Self { child, spawned })
    }

    fn status_kib(&self, field: &str) -> Result<u64, BenchError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
            .ok_or_else(|| format!("no {field} in /proc/<pid>/status").into())
    }
}

/// Waits for the next poll; what the function did instead is an error.
fn expect_poll(api: &FakeRuntimeApi, function: &str) -> Result<Instant, BenchError> {
    match api.next_mark(PATIENCE) {
        Some(Mark::Poll(at)) => Ok(at),
        other => Err(unexpected(function, "a poll", other)),
    }
}

/// Waits for an answer and returns when it came and its HTTP status (or the
/// replay summary's check).
fn expect_answer(api: &FakeRuntimeApi, function: &str) -> Result<(Instant, Value), BenchError> {
    match api.next_mark(PATIENCE) {
        Some(Mark::Response { at, body, .. }) => Ok((at, serde_json::from_slice(&body)?)),
        other => Err(unexpected(function, "an answer", other)),
    }
}

fn unexpected(function: &str, wanted: &str, got: Option<Mark>) -> BenchError {
    let got = match got {
        None => format!("nothing within {PATIENCE:?}"),
        Some(Mark::Error { body, .. } | Mark::InitError { body, .. }) => String::from_utf8_lossy(&body).into_owned(),
        Some(other) => format!("{other:?}"),
    };
    format!("{function}: expected {wanted}, got {got}").into()
}

/// An answer is good when its HTTP status is 200 (or, for the replay
/// function, it is the run's summary).
fn check_answer(function: &str, answer: &Value) -> Result<(), BenchError> {
    let ok = match answer.get("statusCode") {
        Some(code) => code == 200,
        None => function == "clerk-replay" && answer.get("processed").is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{function} answered {answer}").into())
    }
}

/// Launches each function `runs` times (after one unmeasured launch that
/// warms the page cache) and times the first poll and the first answer;
/// `extra_env` is added to every launch. The reference binary is measured
/// too when `bin_dir` has it.
pub async fn cold_start(
    bin_dir: &Path,
    runs: usize,
    extra_env: &[(String, String)],
) -> Result<ColdStartReport, BenchError> {
    let mut env = FunctionEnv::create().await?;
    env.extra_env = extra_env.to_vec();
    let postgres = env.server_version().await;
    let reference = binary(bin_dir, REFERENCE).is_file().then_some(REFERENCE);
    // Blocking from here on: the driver waits on the fake API's threads, and
    // nothing else on this runtime needs to run meanwhile.
    let result = FUNCTIONS
        .iter()
        .copied()
        .chain(reference)
        .map(|function| cold_start_one(&env, bin_dir, function, runs))
        .collect::<Result<Vec<_>, _>>();
    env.drop_database().await?;
    Ok(ColdStartReport { machine: Machine::read(postgres), runs, extra_env: extra_env.to_vec(), functions: result? })
}

fn cold_start_one(env: &FunctionEnv, dir: &Path, function: &str, runs: usize) -> Result<ColdStart, BenchError> {
    let bin = binary(dir, function);
    let (mut polls, mut answers, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..=runs {
        let api = FakeRuntimeApi::start()?;
        api.push(env.first_event(function)?);
        let launched = Launched::start(&bin, function, env, &api)?;
        let polled = expect_poll(&api, function)?;
        let (answered, answer) = expect_answer(&api, function)?;
        check_answer(function, &answer)?;
        // Idle again: the next poll means the answer is fully handled.
        expect_poll(&api, function)?;
        if run > 0 {
            polls.push(polled - launched.spawned);
            answers.push(answered - launched.spawned);
            rss.push(launched.status_kib("VmHWM:")?);
        }
    }
    rss.sort_unstable();
    Ok(ColdStart {
        function: function.to_string(),
        first_poll: Summary::of(&mut polls),
        first_answer: Summary::of(&mut answers),
        rss_after_first_kib: rss.get(rss.len() / 2).copied().unwrap_or(0),
    })
}

/// Sends `events` signed deliveries (the users mix) one after the other
/// through one `function` process, then reads its peak RSS.
pub async fn memory(bin_dir: &Path, function: &str, events: usize) -> Result<MemoryReport, BenchError> {
    let family = Stream::of_function(function).ok_or_else(|| format!("{function} is not a webhook function"))?;
    let env = FunctionEnv::create().await?;
    let postgres = env.server_version().await;
    // Blocking, as in `cold_start`.
    let result = memory_run(&env, bin_dir, function, family, events);
    env.drop_database().await?;
    let (statuses, peak_rss_kib, rss_kib, elapsed) = result?;
    Ok(MemoryReport {
        machine: Machine::read(postgres),
        function: function.to_string(),
        events,
        statuses,
        peak_rss_kib,
        rss_kib,
        events_per_sec: events as f64 / elapsed.as_secs_f64(),
    })
}

type MemoryRun = (BTreeMap<String, u64>, u64, u64, Duration);

fn memory_run(
    env: &FunctionEnv,
    dir: &Path,
    function: &str,
    family: Stream,
    events: usize,
) -> Result<MemoryRun, BenchError> {
    let api = FakeRuntimeApi::start()?;
    let mut stream = EventStream::new(family, &events::tag());
    // Signed up front (a few seconds of work at most, well inside the
    // 5-minute tolerance) so the function never waits for the driver.
    for _ in 0..events {
        api.push(stream.next_delivery().lambda_event());
    }
    let launched = Launched::start(&binary(dir, function), function, env, &api)?;
    let mut statuses = BTreeMap::new();
    let mut started = None;
    for _ in 0..events {
        let polled = expect_poll(&api, function)?;
        started.get_or_insert(polled);
        let (_, answer) = expect_answer(&api, function)?;
        check_answer(function, &answer)?;
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or("{}"))?;
        *statuses.entry(body["status"].as_str().unwrap_or("?").to_string()).or_insert(0) += 1;
    }
    let finished = expect_poll(&api, function)?;
    let elapsed = finished - started.unwrap_or(finished);
    Ok((statuses, launched.status_kib("VmHWM:")?, launched.status_kib("VmRSS:")?, elapsed))
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

impl fmt::Display for ColdStartReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cold start: median (min–max) of {} launches per function, after one unmeasured", self.runs)?;
        match self.extra_env.as_slice() {
            [] => writeln!(f, ".")?,
            extra => writeln!(
                f,
                ", with {}.",
                extra.iter().map(|(k, v)| format!("`{k}={v}`")).collect::<Vec<_>>().join(", ")
            )?,
        }
        writeln!(f)?;
        writeln!(
            f,
            "| function | start → first poll | start → first answer | peak RSS after it | budget ≤ {BUDGET_FIRST_POLL_MS} ms to poll |"
        )?;
        writeln!(f, "|---|---|---|---|---|")?;
        for c in &self.functions {
            writeln!(
                f,
                "| {} | {} ({}–{}) | {} ({}–{}) | {:.1} MiB | {} |",
                c.function,
                ms(c.first_poll.p50_us),
                ms(c.first_poll.min_us),
                ms(c.first_poll.max_us),
                ms(c.first_answer.p50_us),
                ms(c.first_answer.min_us),
                ms(c.first_answer.max_us),
                c.rss_after_first_kib as f64 / 1024.0,
                if c.first_poll.p50_us <= BUDGET_FIRST_POLL_MS * 1000.0 { "met" } else { "**missed**" }
            )?;
        }
        writeln!(f)?;
        writeln!(f, "Machine: {}.", self.machine)
    }
}

impl fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Peak RSS of `{}` over {} deliveries through the Runtime API: {:.1} MiB (VmHWM; VmRSS at the end {:.1} MiB), \
             {:.0} events/s end to end; answers {:?}; budget ≤ {} MiB: {}.",
            self.function,
            self.events,
            self.peak_rss_kib as f64 / 1024.0,
            self.rss_kib as f64 / 1024.0,
            self.events_per_sec,
            self.statuses,
            BUDGET_PEAK_RSS_KIB / 1024,
            if self.peak_rss_kib <= BUDGET_PEAK_RSS_KIB { "met" } else { "**missed**" }
        )
    }
}

/// A size table (`sizes` output per architecture) in markdown; the
/// reference binaries carry no budget.
pub fn sizes_table(columns: &[(&str, Vec<(String, u64)>)]) -> String {
    let mut out = String::from("| binary |");
    for (arch, _) in columns {
        out.push_str(&format!(" {arch} |"));
    }
    out.push_str(&format!(" budget ≤ {} MiB arm64 |\n|---|", BUDGET_BINARY_BYTES / (1024 * 1024)));
    out.push_str(&"---|".repeat(columns.len() + 1));
    out.push('\n');
    let names = columns.first().map(|(_, sizes)| sizes.iter().map(|(n, _)| n.as_str()).collect()).unwrap_or(vec![]);
    for name in names {
        out.push_str(&format!("| {name} |"));
        let mut met = true;
        let budgeted = |arch: &str| arch.contains("arm64") || !columns.iter().any(|(a, _)| a.contains("arm64"));
        for (arch, sizes) in columns {
            match sizes.iter().find(|(n, _)| n == name) {
                Some((_, bytes)) => {
                    met &= !budgeted(arch) || *bytes <= BUDGET_BINARY_BYTES;
                    out.push_str(&format!(" {:.2} MiB ({bytes} B) |", *bytes as f64 / (1024.0 * 1024.0)));
                }
                None => out.push_str(" – |"),
            }
        }
        out.push_str(match (FUNCTIONS.contains(&name), met) {
            (false, _) => " (reference) |\n",
            (true, true) => " met |\n",
            (true, false) => " **missed** |\n",
        });
    }
    out
}
