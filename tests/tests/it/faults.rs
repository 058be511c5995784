//! Faults on a real PostgreSQL: the database down, restarted, or a row
//! locked by someone else. Always a clear answer in bounded time, never a
//! half-written event.

use std::time::{Duration, Instant};

use clerk_sync::Family;
use clerk_sync::WebhookState;
use clerk_sync_tests::{
    answer, clerk::simple_user, connect, function_url_event, now, signed_headers, webhook_state, Answer, OwnCluster,
    TestDb, TestStack, TEST_SECRET,
};

async fn deliver(state: &WebhookState, svix_id: &str, payload: &serde_json::Value) -> Answer {
    let body = payload.to_string();
    let event = function_url_event("POST", &body, &signed_headers(TEST_SECRET, svix_id, now(), &body), false);
    answer(clerk_sync::handle(state, lambda_http::request::from_str(&event).unwrap()).await)
}

/// A migrated database on a cluster this test may stop and restart.
async fn own_database(cluster: &OwnCluster) -> String {
    let admin = connect(&cluster.url("postgres")).await;
    admin.batch_execute("CREATE DATABASE app").await.unwrap();
    let url = cluster.url("app");
    let mut client = connect(&url).await;
    clerk_sync::sync::schema::migrate(&mut client).await.unwrap();
    url
}

// One thread, and the restart blocks it: the connection's task cannot notice
// the dead socket before the next request uses it, as in a thawed Lambda.
#[tokio::test(flavor = "current_thread")]
async fn down_then_restarted_database() {
    let cluster = OwnCluster::start();
    let url = own_database(&cluster).await;
    // Idle checks off: the restart must be survived by the retry alone.
    let state = webhook_state(Family::Users, &url, vec![("DB_VERIFY_AFTER_IDLE_SECS", "3600".into())]);
    let first = deliver(&state, "msg_1", &simple_user("user.created", "user_a", 1, "A", "a@example.com")).await;
    assert_eq!(first.status, 200, "{first:?}");

    // Restarted between two requests: the pooled connection is dead, yet the
    // next request succeeds rather than answering an error.
    cluster.restart();
    let second = deliver(&state, "msg_2", &simple_user("user.created", "user_b", 1, "B", "b@example.com")).await;
    assert_eq!((second.status, second.body["status"].as_str()), (200, Some("processed")), "{second:?}");

    // Down at request time: 503 quickly, and nothing recorded.
    cluster.stop();
    let started = Instant::now();
    let down = deliver(&state, "msg_3", &simple_user("user.created", "user_c", 1, "C", "c@example.com")).await;
    assert_eq!((down.status, down.body["error"].as_str()), (503, Some("database_unavailable")), "{down:?}");
    assert!(started.elapsed() < Duration::from_secs(8), "answered in {:?}", started.elapsed());
    cluster.start_again();
    let client = connect(&url).await;
    let recorded: i64 = client
        .query_one("SELECT count(*) FROM clerk_webhook_events WHERE svix_id = 'msg_3'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 0, "nothing half-written");
    // Svix's retry then lands.
    let retried = deliver(&state, "msg_3", &simple_user("user.created", "user_c", 1, "C", "c@example.com")).await;
    assert_eq!(retried.body["status"], "processed", "{retried:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_locked_elsewhere_is_a_prompt_503_and_nothing_recorded() {
    let db = TestDb::spawn().await;
    let state = webhook_state(Family::Users, &db.url, vec![("DB_LOCK_TIMEOUT_SECS", "0.3".into())]);
    deliver(&state, "msg_1", &simple_user("user.created", "user_x", 1, "X", "x@example.com")).await;

    // Another transaction holds the user's row.
    let mut holder = connect(&db.url).await;
    let tx = holder.transaction().await.unwrap();
    tx.execute("SELECT 1 FROM users WHERE clerk_user_id = 'user_x' FOR UPDATE", &[]).await.unwrap();

    let started = Instant::now();
    let blocked = deliver(&state, "msg_2", &simple_user("user.updated", "user_x", 2, "Y", "y@example.com")).await;
    assert_eq!((blocked.status, blocked.body["error"].as_str()), (503, Some("database_unavailable")), "{blocked:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "answered in {:?}", started.elapsed());
    tx.rollback().await.unwrap();

    let rows = db.rows("SELECT svix_id FROM clerk_webhook_events ORDER BY svix_id").await;
    assert_eq!(rows.len(), 1, "the blocked event was not recorded: {rows:?}");
    // Once the lock is gone, Svix's retry applies it.
    let retried = deliver(&state, "msg_2", &simple_user("user.updated", "user_x", 2, "Y", "y@example.com")).await;
    assert_eq!(retried.body["status"], "processed", "{retried:?}");
}

// ---------------------------------------------------------------------------
// Faults a managed database produces: backends terminated (57P01), a writer
// demoted by a failover (25006), serialization failures and deadlocks
// (40001, 40P01). One retry on a fresh connection, else 503 with nothing
// recorded; Svix's redelivery of every non-2xx then converges.

/// Terminates every backend the functions opened on `db` (the pool names its
/// sessions `clerk-sync`); how many were signalled.
async fn terminate_function_backends(admin: &tokio_postgres::Client, db: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND application_name = 'clerk-sync' AND pid <> pg_backend_pid()",
            &[&db],
        )
        .await
        .unwrap()
        .get(0)
}

/// The functions' sessions still open on `db`.
async fn function_backends(admin: &tokio_postgres::Client, db: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'clerk-sync'",
            &[&db],
        )
        .await
        .unwrap()
        .get(0)
}

/// Users and organizations created, updated and some deleted: what both runs deliver.
fn mixed_events() -> Vec<(String, serde_json::Value)> {
    use clerk_sync_tests::clerk::{organization, organization_deleted, user_deleted};
    let mut events = Vec::new();
    for i in 0..10 {
        let (user, org) = (format!("user_{i}"), format!("org_{i}"));
        let address = format!("u{i}@example.com");
        events.push(simple_user("user.created", &user, 10, "First", &address));
        events.push(organization("organization.created", &org, "Org", 10));
        events.push(simple_user("user.updated", &user, 20, &format!("Second {i}"), &address));
        events.push(organization("organization.updated", &org, &format!("Org {i}"), 20));
        if i % 4 == 0 {
            events.push(user_deleted(&user, 30));
            events.push(organization_deleted(&org, 30));
        }
    }
    events.into_iter().enumerate().map(|(n, payload)| (format!("msg_{n:03}"), payload)).collect()
}

/// A clean run: every event once, in order.
async fn clean_snapshot(events: &[(String, serde_json::Value)]) -> serde_json::Value {
    let clean = TestStack::spawn().await;
    for (svix_id, payload) in events {
        let answer = clean.deliver(svix_id, payload).await;
        assert_eq!(answer.status, 200, "{svix_id}: {answer:?}");
    }
    clean.snapshot().await
}

/// Svix: every delivery not answered 2xx is delivered again, until none is
/// left (bounded). Each answer must be a 200 or a 503 `database_unavailable`.
async fn redeliver_until_accepted(stack: &TestStack, mut pending: Vec<(String, serde_json::Value)>) {
    for _round in 0..5 {
        let mut still = Vec::new();
        for (svix_id, payload) in pending {
            let answer = stack.deliver(&svix_id, &payload).await;
            assert_unavailable_or_accepted(&svix_id, &answer);
            if answer.status != 200 {
                still.push((svix_id, payload));
            }
        }
        pending = still;
        if pending.is_empty() {
            return;
        }
    }
    panic!("still refused after 5 redeliveries: {:?}", pending.iter().map(|(id, _)| id).collect::<Vec<_>>());
}

fn assert_unavailable_or_accepted(svix_id: &str, answer: &Answer) {
    match answer.status {
        200 => assert!(
            matches!(answer.body["status"].as_str(), Some("processed" | "stale" | "duplicate")),
            "{svix_id}: {answer:?}"
        ),
        503 => assert_eq!(answer.body["error"], "database_unavailable", "{svix_id}: {answer:?}"),
        _ => panic!("{svix_id}: neither accepted nor a 503: {answer:?}"),
    }
}

/// A backend terminated between two deliveries (an administrator, a
/// failover): the next delivery is served through the retry, not refused.
#[tokio::test(flavor = "current_thread")]
async fn a_terminated_backend_is_replaced_by_the_retry() {
    let stack = TestStack::spawn().await;
    let admin = connect(&stack.db.url).await;
    stack.expect("msg_1", &simple_user("user.created", "user_a", 1, "A", "a@example.com"), "processed").await;
    for n in 2..5 {
        assert_eq!(terminate_function_backends(&admin, &stack.db.name).await, 1, "the pooled connection");
        let payload = simple_user("user.created", &format!("user_{n}"), 1, "B", "b@example.com");
        stack.expect(&format!("msg_{n}"), &payload, "processed").await;
    }
    assert_eq!(stack.db.count("clerk_webhook_events").await, 4);
}

/// Backends terminated over and over while deliveries arrive concurrently
/// at two functions: each answer is a 200 or a 503, and redelivering every
/// 503 ends in the state of a clean in-order run: nothing lost, nothing doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_terminated_mid_burst_then_redelivery_converges() {
    use futures_util::stream::{self, StreamExt};
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };

    let events = mixed_events();
    let expected = clean_snapshot(&events).await;

    let stack = TestStack::spawn().await;
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let (admin, name, stop) = (connect(&stack.db.url).await, stack.db.name.clone(), stop.clone());
        tokio::spawn(async move {
            let mut terminated = 0;
            while !stop.load(Ordering::Relaxed) {
                terminated += terminate_function_backends(&admin, &name).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            terminated
        })
    };
    let answers: Vec<(String, serde_json::Value, Answer)> = stream::iter(events.iter().cloned())
        .map(|(svix_id, payload)| {
            let stack = &stack;
            async move {
                let answer = stack.deliver(&svix_id, &payload).await;
                (svix_id, payload, answer)
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    stop.store(true, Ordering::Relaxed);
    let terminated = killer.await.unwrap();
    assert!(terminated > 0, "the burst ran without a backend terminated");

    let mut refused = Vec::new();
    for (svix_id, payload, answer) in answers {
        assert_unavailable_or_accepted(&svix_id, &answer);
        if answer.status != 200 {
            refused.push((svix_id, payload));
        }
    }
    let refused_count = refused.len();
    redeliver_until_accepted(&stack, refused).await;
    eprintln!("{terminated} backends terminated; {refused_count} deliveries refused, then redelivered");
    assert_eq!(
        stack.snapshot().await,
        expected,
        "{terminated} backends terminated, {refused_count} deliveries refused"
    );
}

/// A writer demoted by a failover: sessions are read-only (`25006`). A
/// delivery is refused with 503 and nothing recorded, the read-only
/// connection is closed rather than pooled, and once the database writes
/// again the redelivery converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_is_a_503_then_redelivery_converges() {
    let events = mixed_events();
    let expected = clean_snapshot(&events).await;
    let (before, during) = (&events[..6], &events[6..12]);

    let stack = TestStack::spawn().await;
    let admin = connect(&stack.db.url).await;
    for (svix_id, payload) in before {
        let answer = stack.deliver(svix_id, payload).await;
        assert_eq!(answer.status, 200, "{svix_id}: {answer:?}");
    }
    // The failover: new sessions are read-only, the current ones end.
    let name = &stack.db.name;
    admin.batch_execute(&format!("ALTER DATABASE \"{name}\" SET default_transaction_read_only = on")).await.unwrap();
    assert!(terminate_function_backends(&admin, name).await > 0);
    let recorded_before = stack.db.count("clerk_webhook_events").await;
    for (svix_id, payload) in during {
        let started = Instant::now();
        let answer = stack.deliver(svix_id, payload).await;
        assert_eq!((answer.status, answer.body["error"].as_str()), (503, Some("database_unavailable")), "{answer:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "answered in {:?}", started.elapsed());
    }
    assert_eq!(stack.db.count("clerk_webhook_events").await, recorded_before, "nothing recorded while read-only");
    // Each read-only connection was closed, not returned to the pool, where it
    // would keep failing after the database writes again.
    let deadline = Instant::now() + Duration::from_secs(3);
    while function_backends(&admin, name).await > 0 {
        assert!(Instant::now() < deadline, "a read-only connection stayed open in a pool");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Writable again, for new sessions only (nothing terminated): Svix
    // redelivers the refused events, then the rest arrive.
    admin.batch_execute(&format!("ALTER DATABASE \"{name}\" RESET default_transaction_read_only")).await.unwrap();
    for (svix_id, payload) in during.iter().chain(&events[12..]) {
        let answer = stack.deliver(svix_id, payload).await;
        assert_eq!(answer.status, 200, "{svix_id}: {answer:?}");
    }
    assert_eq!(stack.snapshot().await, expected);
}

/// Installs a trigger on the event log that fails the next `times` inserts
/// with `sqlstate`, counting every attempt in the sequence `fault_attempts`
/// (a sequence, so the count survives the rollback).
async fn inject(admin: &tokio_postgres::Client, sqlstate: &str, times: i32) {
    admin
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS fault_plan (sqlstate text NOT NULL, times int NOT NULL);
             CREATE SEQUENCE IF NOT EXISTS fault_attempts;
             CREATE OR REPLACE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
             DECLARE
               planned fault_plan;
             BEGIN
               SELECT * INTO planned FROM fault_plan LIMIT 1;
               IF nextval('fault_attempts') <= coalesce(planned.times, 0) THEN
                 RAISE EXCEPTION 'injected fault' USING ERRCODE = planned.sqlstate;
               END IF;
               RETURN NEW;
             END $$;
             CREATE OR REPLACE TRIGGER inject_fault BEFORE INSERT ON clerk_webhook_events
               FOR EACH ROW EXECUTE FUNCTION inject_fault();
             TRUNCATE fault_plan;",
        )
        .await
        .unwrap();
    admin.execute("INSERT INTO fault_plan VALUES ($1, $2)", &[&sqlstate, &times]).await.unwrap();
    admin.execute("SELECT setval('fault_attempts', 1, false)", &[]).await.unwrap();
}

async fn attempts(admin: &tokio_postgres::Client) -> i64 {
    admin
        .query_one("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM fault_attempts", &[])
        .await
        .unwrap()
        .get(0)
}

/// A deadlock or serialization failure aborts the transaction: it is retried
/// once, on a fresh connection. Twice in a row is a 503 with nothing
/// recorded, which Svix's redelivery then applies. Other errors, such as a
/// lock timeout, are not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlocks_and_serialization_failures_are_retried_once() {
    let db = TestDb::spawn().await;
    let admin = connect(&db.url).await;
    let state = webhook_state(Family::Users, &db.url, vec![]);
    let user = |n: i64| simple_user("user.created", &format!("user_{n}"), n, "A", "a@example.com");

    for (n, sqlstate) in [(1, "40P01"), (2, "40001")] {
        inject(&admin, sqlstate, 1).await;
        let answer = deliver(&state, &format!("msg_{n}"), &user(n)).await;
        assert_eq!((answer.status, answer.body["status"].as_str()), (200, Some("processed")), "{sqlstate}: {answer:?}");
        assert_eq!(attempts(&admin).await, 2, "{sqlstate}: one retry");
    }

    // Failing again on the retry: 503, nothing recorded, no third attempt.
    inject(&admin, "40P01", 100).await;
    let refused = deliver(&state, "msg_3", &user(3)).await;
    assert_eq!((refused.status, refused.body["error"].as_str()), (503, Some("database_unavailable")), "{refused:?}");
    assert_eq!(attempts(&admin).await, 2, "exactly one retry");
    // A lock timeout is not retried: a second wait would overrun the deadline.
    inject(&admin, "55P03", 100).await;
    let refused = deliver(&state, "msg_3", &user(3)).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(attempts(&admin).await, 1, "not retried");
    let recorded: i64 =
        admin.query_one("SELECT count(*) FROM clerk_webhook_events WHERE svix_id = 'msg_3'", &[]).await.unwrap().get(0);
    assert_eq!(recorded, 0, "nothing half-written");

    // Svix redelivers once the conflict is gone: applied once.
    inject(&admin, "40P01", 0).await;
    let retried = deliver(&state, "msg_3", &user(3)).await;
    assert_eq!(retried.body["status"], "processed", "{retried:?}");
    let again = deliver(&state, "msg_3", &user(3)).await;
    assert_eq!(again.body["status"], "duplicate", "{again:?}");
    assert_eq!(db.count("users").await, 3);
    assert_eq!(db.count("clerk_webhook_events").await, 3);
}

/// The API functions ride out the same faults: a terminated backend is
/// replaced by the retry (sync-status, seller-accounts), and a connection
/// to a read-only database is a 503 and is closed, so the next request,
/// once the database writes again, succeeds.
#[tokio::test(flavor = "current_thread")]
async fn the_api_functions_retry_on_a_fresh_connection_and_drop_read_only_ones() {
    use clerk_sync::api::{
        seller_accounts::{handle as seller_accounts, SellerAccountsState},
        sync_status,
    };
    use clerk_sync_tests::{
        api_answer, api_request, api_state,
        clerk::{joined, organization},
        session::{pem_settings, token},
        Vars,
    };

    let stack = TestStack::spawn().await;
    for (id, event) in [
        ("msg_ada", simple_user("user.created", "user_ada", 100, "Ada", "ada@example.com")),
        ("msg_org", organization("organization.created", "org_a", "Org A", 100)),
        ("msg_m", joined("organizationMembership.created", "orgmem_1", "user_ada", "org_a", "org:admin", 200)),
    ] {
        stack.expect(id, &event, "processed").await;
    }
    let admin = connect(&stack.db.url).await;
    let session = token("user_ada", Some(("org_a", "org:admin")));
    let status_state = api_state(&stack.db.url, vec![("DB_VERIFY_AFTER_IDLE_SECS", "3600".into())]);
    let view = async || {
        api_answer(sync_status::handle(&status_state, api_request("GET", "/sync-status", Some(&session), None)).await)
    };
    let mut vars = vec![
        ("DATABASE_URL", stack.db.url.clone()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
        ("DB_VERIFY_AFTER_IDLE_SECS", "3600".to_string()),
        ("ENCRYPTION_KEY", "test-encryption-key-0123456789abcdefghijklmnop".to_string()),
    ];
    vars.extend(pem_settings());
    let accounts = SellerAccountsState::from_source(&Vars(vars)).unwrap();
    let connect_account = async |seller: &str| {
        let body = serde_json::json!({
            "seller_id": seller, "marketplace_id": "ATVPDKIKX0DER", "region": "na",
            "refresh_token": "Atzr|refresh", "lwa_client_id": "amzn1.application-oa2-client.x",
            "lwa_client_secret": "secret", "marketplace_code": "US", "currency": "USD"
        })
        .to_string();
        api_answer(
            seller_accounts(&accounts, api_request("POST", "/seller-accounts", Some(&session), Some(&body))).await,
        )
    };
    assert_eq!(view().await.status, 200);
    assert_eq!(connect_account("A1FIRST").await.status, 201);

    // Terminated between two requests: served through the retry.
    // (The webhook functions' connections too.)
    assert!(terminate_function_backends(&admin, &stack.db.name).await >= 2, "both API functions' connections");
    assert_eq!(view().await.status, 200);
    assert_eq!(connect_account("A1SECOND").await.status, 201);

    // Read-only (a demoted writer): 503, and the connection is not kept.
    let name = &stack.db.name;
    admin.batch_execute(&format!("ALTER DATABASE \"{name}\" SET default_transaction_read_only = on")).await.unwrap();
    assert!(terminate_function_backends(&admin, name).await > 0);
    let refused = connect_account("A1THIRD").await;
    assert_eq!((refused.status, refused.body["error"].as_str()), (503, Some("database_unavailable")), "{refused:?}");
    admin.batch_execute(&format!("ALTER DATABASE \"{name}\" RESET default_transaction_read_only")).await.unwrap();
    assert_eq!(connect_account("A1THIRD").await.status, 201, "a fresh, writable connection");
    assert_eq!(stack.db.count("seller_accounts").await, 3);
}

/// The server restarted behind PgBouncer: the pooler's server connections
/// die with it. Deliveries meanwhile are answered 200 or 503, never hang;
/// redelivering the 503s converges to a clean run's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_behind_pgbouncer_then_redelivery_converges() {
    let events = mixed_events();
    let expected = clean_snapshot(&events).await;
    let cluster = OwnCluster::start();
    let direct = own_database(&cluster).await;
    let bouncer = clerk_sync_tests::pgbouncer::start_in_front_of("127.0.0.1", cluster.port(), 2);
    let url = bouncer.url("app");
    let db = TestDb { name: "app".into(), url: direct };
    let stack = TestStack::over(TestDb { name: db.name.clone(), url: db.url.clone() });
    let pooled = |family| webhook_state(family, &url, clerk_sync_tests::through_pooler());
    let (users, organizations) = (pooled(Family::Users), pooled(Family::Organizations));
    let function = |payload: &serde_json::Value| {
        if payload["type"].as_str().unwrap_or_default().starts_with("user") {
            &users
        } else {
            &organizations
        }
    };
    let (before, after) = events.split_at(events.len() / 2);
    for (svix_id, payload) in before {
        let answer = stack.deliver_to(function(payload), svix_id, payload).await;
        assert_eq!(answer.status, 200, "{svix_id}: {answer:?}");
    }
    cluster.restart();
    let mut refused = Vec::new();
    for (svix_id, payload) in after {
        let started = Instant::now();
        let answer = stack.deliver_to(function(payload), svix_id, payload).await;
        assert_unavailable_or_accepted(svix_id, &answer);
        assert!(started.elapsed() < Duration::from_secs(8), "answered in {:?}", started.elapsed());
        if answer.status != 200 {
            refused.push((svix_id.clone(), payload.clone()));
        }
    }
    for (svix_id, payload) in refused {
        let answer = stack.deliver_to(function(&payload), &svix_id, &payload).await;
        assert_eq!(answer.status, 200, "{svix_id}: {answer:?}");
    }
    assert_eq!(stack.snapshot().await, expected);
}

/// A request dropped between a `BEGIN` and its end (a split transaction
/// whose caller timed out) gives its connection back inside the
/// transaction: the pool closes it, which rolls the transaction back,
/// rather than let the next request run in it or commit it.
#[tokio::test]
async fn a_connection_given_back_inside_a_transaction_is_closed_not_reused() {
    let db = TestDb::spawn().await;
    let pool = clerk_sync_tests::pool(&db.url, 1);
    let client = pool.get().await.unwrap();
    let abandoned: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    clerk_sync::db::statements::begin(&client).await.unwrap();
    client.execute("INSERT INTO users (clerk_user_id) VALUES ('user_half_written')", &[]).await.unwrap();
    drop(client);

    let client = pool.get().await.unwrap();
    let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    assert_ne!(pid, abandoned, "a fresh connection");
    client.execute("INSERT INTO users (clerk_user_id) VALUES ('user_next')", &[]).await.unwrap();
    let admin = connect(&db.url).await;
    let users: Vec<String> =
        admin.query("SELECT clerk_user_id FROM users", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(users, vec!["user_next".to_string()]);

    // A connection given back after its transaction ended is reused.
    clerk_sync::db::statements::transaction(&client, client.execute("SELECT 1", &[])).await.unwrap();
    drop(client);
    let again: i32 = pool.get().await.unwrap().query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    assert_eq!(again, pid);
}
