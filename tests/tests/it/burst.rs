//! A bulk import arriving as a burst at several function instances at once.
//!
//! Clerk replays an import of 5,000 users (`BURST_USERS` to change it) with
//! their memberships in 50 organizations, plus some later updates. Each
//! Lambda instance is modelled as its own `WebhookState` with its own pool of
//! one connection, serving one request at a time: 3 users, 2 organizations
//! and 3 memberships instances. The deliveries come shuffled (fixed seed),
//! with 10% more deliveries repeating an earlier `svix-id`, on a
//! multi-thread runtime, at most one per instance at a time.
//!
//! Nothing may be lost or doubled, and the final state must equal delivering
//! every event once, in order, to a second database through one instance of
//! each function. Both runs print their throughput.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use clerk_sync::{Family, WebhookState};
use clerk_sync_tests::{
    answer,
    clerk::{membership, organization, simple_user, Membership},
    function_url_event, now, signed_headers, webhook_state, Answer, TestDb, TestStack, TEST_SECRET,
};
use serde_json::Value;
use tokio::{sync::mpsc, task::JoinSet};

/// The whole import: about 22 s for the test in a debug build on two idle
/// cores (35 s on a busy machine). `BURST_USERS=500` for a quick run.
const DEFAULT_USERS: usize = 5_000;
const ORGS: usize = 50;
/// Instances per family: users, organizations, memberships.
const INSTANCES: [(Family, usize); 3] = [(Family::Users, 3), (Family::Organizations, 2), (Family::Memberships, 3)];
const SEED: u64 = 0x5eed_c1e2_4b75_7a11;

/// splitmix64: a fixed, dependency-free sequence for the shuffle and the
/// choice of redeliveries.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Clerk's side of the import, in the order Clerk emits it.
struct Import {
    events: Vec<Value>,
    memberships: usize,
}

fn import(users: usize) -> Import {
    let mut events = Vec::new();
    let t0 = 1_750_000_000_000_i64;
    let org_name = |o: usize| format!("Org {o}");
    for o in 0..ORGS {
        events.push(organization("organization.created", &format!("org_b{o}"), &org_name(o), t0 + o as i64));
    }
    // Each user: created, then joins one organization (every 5th a second
    // one too); every 10th user is renamed later and every 20th membership
    // changes role, so order and repetition matter.
    let mut memberships = Vec::new();
    for u in 0..users {
        let t = t0 + 1_000 + 10 * u as i64;
        let (id, email) = (format!("user_b{u:05}"), format!("u{u}@example.com"));
        events.push(simple_user("user.created", &id, t, &format!("U{u}"), &email));
        let mut orgs = vec![u % ORGS];
        if u % 5 == 0 && (u * 7 + 3) % ORGS != u % ORGS {
            orgs.push((u * 7 + 3) % ORGS);
        }
        for o in orgs {
            let n = memberships.len();
            let role = if u < ORGS { "org:admin" } else { "org:member" };
            memberships.push((u, o, n, role));
            events.push(membership_event("organizationMembership.created", u, o, n, role, t + 1));
        }
    }
    let later = t0 + 1_000 + 10 * users as i64 + 1_000;
    for u in (0..users).step_by(10) {
        let t = later + u as i64;
        events.push(simple_user(
            "user.updated",
            &format!("user_b{u:05}"),
            t,
            &format!("U{u}r"),
            &format!("r{u}@example.com"),
        ));
    }
    for &(u, o, n, role) in memberships.iter().step_by(20) {
        let role = if role == "org:admin" { "org:member" } else { "org:admin" };
        let t = later + users as i64 + n as i64;
        events.push(membership_event("organizationMembership.updated", u, o, n, role, t));
    }
    Import { events, memberships: memberships.len() }
}

fn membership_event(event_type: &str, u: usize, o: usize, n: usize, role: &str, t: i64) -> Value {
    let (id, org_id, org_name) = (format!("orgmem_b{n:05}"), format!("org_b{o}"), format!("Org {o}"));
    let (user_id, identifier) = (format!("user_b{u:05}"), format!("u{u}@example.com"));
    membership(&Membership {
        event_type,
        id: &id,
        org_id: &org_id,
        org_name: &org_name,
        org_updated_ms: 1_750_000_000_000 + o as i64,
        user_id: &user_id,
        first_name: &format!("U{u}"),
        identifier: &identifier,
        role,
        updated_ms: t,
        timestamp: t + 3,
    })
}

fn svix_id(i: usize) -> String {
    format!("msg_burst_{i:06}")
}

fn family_of(event: &Value) -> usize {
    match event["type"].as_str().unwrap_or_default() {
        t if t.starts_with("organizationMembership.") => 2,
        t if t.starts_with("organization.") => 1,
        _ => 0,
    }
}

/// The signed Function URL request event of each event, built before the
/// clock starts (Svix signs before it sends), on every core. A redelivery
/// reuses its event's: same `svix-id`, and a signature as valid as a fresh one.
fn signed_requests(events: &[Value]) -> Vec<Arc<str>> {
    let at = now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = events.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = events
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(k, event)| {
                            let (body, id) = (event.to_string(), svix_id(c * chunk + k));
                            let headers = signed_headers(TEST_SECRET, &id, at, &body);
                            Arc::from(function_url_event("POST", &body, &headers, false))
                        })
                        .collect::<Vec<Arc<str>>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    })
}

struct Run {
    answers: Vec<(usize, Answer)>,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Delivers `requests` in their order, each to an idle instance of its
/// family (waiting for one when all are busy), many at once.
async fn deliver(instances: Vec<Vec<WebhookState>>, events: &[Value], requests: &[Arc<str>], order: &[usize]) -> Run {
    let mut idle = Vec::new();
    let mut give_back = Vec::new();
    for family in instances {
        let (tx, rx) = mpsc::channel(family.len());
        for state in family {
            tx.send(Arc::new(state)).await.unwrap();
        }
        idle.push(rx);
        give_back.push(tx);
    }
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for &i in order {
        let request = requests[i].clone();
        let family = family_of(&events[i]);
        let state = idle[family].recv().await.unwrap();
        let back = give_back[family].clone();
        tasks.spawn(async move {
            let begun = Instant::now();
            let request = lambda_http::request::from_str(&request).unwrap();
            let answer = answer(clerk_sync::handle(&state, request).await);
            let latency = begun.elapsed();
            back.send(state).await.unwrap();
            (i, answer, latency)
        });
    }
    let mut answers = Vec::new();
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (i, answer, latency) = done.unwrap();
        answers.push((i, answer));
        latencies.push(latency);
    }
    Run { answers, elapsed: started.elapsed(), latencies }
}

fn report(what: &str, run: &mut Run) {
    run.latencies.sort();
    let at = |q: f64| run.latencies[((run.latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    eprintln!(
        "burst: {what}: {} deliveries in {:.2} s = {:.0} events/s; latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        run.answers.len(),
        run.elapsed.as_secs_f64(),
        run.answers.len() as f64 / run.elapsed.as_secs_f64(),
        at(0.5),
        at(0.95),
        at(0.99),
        at(1.0),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shuffled_bulk_import_with_redeliveries_on_several_instances_loses_and_doubles_nothing() {
    let users: usize = std::env::var("BURST_USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_USERS);
    let Import { events, memberships } = import(users);
    let (burst_db, in_order_db) = tokio::join!(TestDb::spawn(), TestDb::spawn());

    // In order, each event once, one instance per family, one at a time:
    // the next event waits for the previous answer.
    let in_order: Vec<usize> = (0..events.len()).collect();
    let single: Vec<WebhookState> =
        INSTANCES.iter().map(|(family, _)| webhook_state(*family, &in_order_db.url, vec![])).collect();
    let mut sequential = Run { answers: Vec::new(), elapsed: Duration::ZERO, latencies: Vec::new() };
    let requests = signed_requests(&events);
    let started = Instant::now();
    for &i in &in_order {
        let begun = Instant::now();
        let request = lambda_http::request::from_str(&requests[i]).unwrap();
        let answer = answer(clerk_sync::handle(&single[family_of(&events[i])], request).await);
        sequential.latencies.push(begun.elapsed());
        sequential.answers.push((i, answer));
    }
    sequential.elapsed = started.elapsed();
    for (i, answer) in &sequential.answers {
        assert_eq!((answer.status, answer.body["status"].as_str()), (200, Some("processed")), "{i}: {answer:?}");
    }
    report("in order, 1 instance per family", &mut sequential);

    // Shuffled, 10% twice, on 3 + 2 + 3 instances at once.
    let mut rng = Rng(SEED);
    let mut order = in_order.clone();
    let redelivered = events.len() / 10;
    for _ in 0..redelivered {
        order.push(rng.below(events.len()));
    }
    for k in (1..order.len()).rev() {
        order.swap(k, rng.below(k + 1));
    }
    // Signed afresh: the in-order run may have used up much of the 5 minutes
    // a signature stays valid on a slow machine.
    let requests = signed_requests(&events);
    let instances = INSTANCES
        .iter()
        .map(|(family, n)| (0..*n).map(|_| webhook_state(*family, &burst_db.url, vec![])).collect())
        .collect();
    let mut burst = deliver(instances, &events, &requests, &order).await;
    report(&format!("shuffled, 10% redelivered, {users} users, 3+2+3 instances"), &mut burst);

    // Every delivery answered 200; each svix-id applied (processed or stale)
    // exactly once, every other delivery of it a duplicate.
    let mut first_answers: HashMap<usize, usize> = HashMap::new();
    let mut by_status: HashMap<&str, usize> = HashMap::new();
    for (i, answer) in &burst.answers {
        assert_eq!(answer.status, 200, "{}: {answer:?}", svix_id(*i));
        let status = answer.body["status"].as_str().unwrap_or_default();
        *by_status.entry(status).or_default() += 1;
        match status {
            "processed" | "stale" => *first_answers.entry(*i).or_default() += 1,
            "duplicate" => {}
            _ => panic!("{}: {answer:?}", svix_id(*i)),
        }
    }
    eprintln!("burst: answers {by_status:?}");
    assert_eq!(first_answers.len(), events.len(), "every event applied");
    assert!(first_answers.values().all(|&n| n == 1), "no event applied twice");

    let stack = TestStack::over(burst_db);
    let expected = TestStack::over(in_order_db);
    assert_eq!(stack.db.count("clerk_webhook_events").await, events.len() as i64);
    assert_eq!(stack.db.count("users").await, users as i64);
    assert_eq!(stack.db.count("organization").await, ORGS as i64);
    assert_eq!(stack.db.count("user_organizations").await, memberships as i64);
    let placeholders = stack.db.rows("SELECT clerk_user_id FROM users WHERE clerk_updated_ms IS NULL").await;
    assert!(placeholders.is_empty(), "every placeholder was filled in: {placeholders:?}");
    let (actual, expected) = (stack.snapshot().await, expected.snapshot().await);
    if let Some(difference) = first_difference(&actual, &expected) {
        panic!("the burst's final state differs from in-order delivery: {difference}");
    }
}

/// The first row that differs, rather than two snapshots of thousands of rows.
fn first_difference(actual: &Value, expected: &Value) -> Option<String> {
    for table in ["users", "organizations", "memberships", "events"] {
        let (a, e) = (actual[table].as_array().unwrap(), expected[table].as_array().unwrap());
        if let Some((x, y)) = a.iter().zip(e).find(|(x, y)| x != y) {
            return Some(format!("{table}: {x} instead of {y}"));
        }
        if a.len() != e.len() {
            return Some(format!("{table}: {} rows instead of {}", a.len(), e.len()));
        }
    }
    None
}

/// Issue 16's capacity check: 100 deliveries a second for 60 s (an import's
/// pace) from 20 function instances through PgBouncer with 4 server
/// connections, 1 in 20 delivered twice: every message recorded exactly
/// once, nothing refused. `BURST_SECONDS` shortens or lengthens it; the
/// p50/p99 printed here go to BENCHMARKS.md (`scripts/bench.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sustained_import_pace_through_pgbouncer_loses_and_doubles_nothing() {
    use clerk_sync_tests::load::{sustained, LoadPlan};

    let seconds = std::env::var("BURST_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60u64);
    let db = TestDb::spawn().await;
    let bouncer = clerk_sync_tests::pgbouncer::start(4);
    let url = bouncer.url(&db.name);
    let instances: Vec<Arc<WebhookState>> =
        (0..20).map(|_| Arc::new(webhook_state(Family::Users, &url, clerk_sync_tests::through_pooler()))).collect();
    let plan = LoadPlan { rate: 100, duration: Duration::from_secs(seconds), redeliver_every: 20 };
    let result = sustained(&instances, &plan).await;
    println!(
        "sustained through PgBouncer (4 server connections, 20 instances): {} messages, {} deliveries in {seconds} s \
         (sender {:?} behind); handler p50 {:?}, p99 {:?}, max {:?}",
        result.messages,
        result.deliveries,
        result.lag,
        result.percentile(0.5),
        result.percentile(0.99),
        result.latencies.last().copied().unwrap_or_default(),
    );
    assert!(
        result.answered_other.is_empty(),
        "refused: {:?}",
        &result.answered_other[..result.answered_other.len().min(5)]
    );
    assert_eq!(result.answered_200, result.deliveries);
    assert_eq!(db.count("clerk_webhook_events").await, result.messages as i64, "each message recorded once");
    assert_eq!(db.count("users").await, result.messages as i64);
    assert!(result.lag < Duration::from_secs(5), "the sender kept the pace: {:?} behind", result.lag);
}
