//! Through a real PgBouncer in transaction pooling mode: every path of the
//! functions and the CLI (webhooks, sync-status, seller-accounts, replay,
//! prune, reconcile, migrate) with `DB_POOLER=transaction`, many clients
//! over two server connections; what breaks without the setting; and the
//! timeouts, which then travel as `SET LOCAL`.

use std::time::{Duration, Instant};

use clerk_sync::{
    api::{
        seller_accounts::{handle as seller_accounts, SellerAccountsState},
        sync_status,
    },
    backend_api::{BackendApi, BackendApiConfig},
    db::{build_pool, DbSettings},
    reconcile::{reconcile, Options, Quiet, Trigger},
    sync::{
        prune::prune,
        replay::{self, ReplayFilter},
    },
    Family,
};
use clerk_sync_tests::{
    api_answer, api_request, api_state,
    clerk::{joined, organization, simple_user},
    connect,
    fake_backend_api::{self, FakeBackendApi, FAKE_KEY},
    pgbouncer, pooler_pool,
    session::{pem_settings, token},
    through_pooler, webhook_state, TestDb, TestStack, Vars,
};
use serde_json::json;
use tokio_postgres::error::SqlState;

/// Twenty function instances (one connection each, as on Lambda), two
/// server connections: each of 200 deliveries, with redeliveries of the
/// same messages at once, is recorded exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_instances_through_two_server_connections_record_every_event_once() {
    let db = TestDb::spawn().await;
    let bouncer = pgbouncer::start(2);
    let url = bouncer.url(&db.name);
    let instances: Vec<_> = (0..20).map(|_| webhook_state(Family::Users, &url, through_pooler())).collect();
    let stack = TestStack::over(TestDb { name: db.name.clone(), url: db.url.clone() });
    let deliveries = (0..20).map(|i| {
        let (instance, stack) = (&instances[i], &stack);
        async move {
            let mut answers = Vec::new();
            for n in 0..10 {
                // Instance i sends its own ten, and the previous instance's
                // ten again: every message arrives twice, concurrently.
                for owner in [i, (i + 19) % 20] {
                    let user = format!("user_{owner}_{n}");
                    let payload = simple_user("user.created", &user, 1, "Pooled", &format!("{user}@example.com"));
                    answers.push(stack.deliver_to(instance, &format!("msg_{owner}_{n}"), &payload).await);
                }
            }
            answers
        }
    });
    let answers: Vec<_> = futures_util::future::join_all(deliveries).await.into_iter().flatten().collect();
    assert_eq!(answers.len(), 400);
    for answer in &answers {
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let processed = answers.iter().filter(|a| a.body["status"] == "processed").count();
    let duplicates = answers.iter().filter(|a| a.body["status"] == "duplicate").count();
    assert_eq!((processed, duplicates), (200, 200));
    assert_eq!(db.count("clerk_webhook_events").await, 200);
    assert_eq!(db.count("users").await, 200);
    // The pooler held no more than its two server connections for all of it.
    let admin = connect(clerk_sync_tests::server_url()).await;
    let backends: i64 =
        admin.query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", &[&db.name]).await.unwrap().get(0);
    assert!(backends <= 2, "{backends} server connections");
}

/// Without the setting, PgBouncer refuses the startup `options` the
/// functions send for their timeouts: a 503, and nothing recorded.
#[tokio::test]
async fn without_the_setting_pgbouncer_refuses_the_connection() {
    let db = TestDb::spawn().await;
    let bouncer = pgbouncer::start(2);
    let state = webhook_state(Family::Users, &bouncer.url(&db.name), vec![]);
    let stack = TestStack::over(TestDb { name: db.name.clone(), url: db.url.clone() });
    let answer =
        stack.deliver_to(&state, "msg_refused", &simple_user("user.created", "user_a", 1, "A", "a@example.com")).await;
    assert_eq!((answer.status, answer.body["error"].as_str()), (503, Some("database_unavailable")), "{answer:?}");
    assert_eq!(db.count("clerk_webhook_events").await, 0);
}

/// Behind the pooler a delivery calls its event routine, which only
/// `migrate` creates: without it the delivery is a 503 with nothing
/// recorded (Svix retries), and after `migrate` the retry applies.
#[tokio::test]
async fn a_routine_missing_behind_the_pooler_is_a_503_until_migrate_makes_it() {
    let stack = TestStack::spawn_through_pgbouncer(2).await;
    let routine = clerk_sync::sync::statements::DELIVERING.user_upsert.function().to_string();
    let owner = stack.db.connect().await;
    owner.batch_execute(&format!("DROP FUNCTION {routine}")).await.unwrap();
    let created = simple_user("user.created", "user_a", 1, "A", "a@example.com");
    let answer = stack.deliver("msg_a", &created).await;
    assert_eq!((answer.status, answer.body["error"].as_str()), (503, Some("database_unavailable")), "{answer:?}");
    assert_eq!(stack.db.count("clerk_webhook_events").await, 0);

    let mut owner = owner;
    let report = clerk_sync::sync::schema::migrate(&mut owner).await.unwrap();
    assert_eq!(report.routines, [routine], "only the missing routine is made");
    stack.expect("msg_a", &created, "processed").await;
    assert_eq!(stack.db.count("users").await, 1);
}

/// Data PostgreSQL refuses (jsonb and a `\u0000` escape) fails the routine
/// inside its transaction through the pooler: rolled back, then the event
/// is recorded as failed with its body as text, as on a direct connection.
#[tokio::test]
async fn a_body_jsonb_refuses_is_recorded_failed_through_the_pooler() {
    let stack = TestStack::spawn_through_pgbouncer(2).await;
    let body =
        r#"{"type":"user.created","timestamp":5,"data":{"id":"user_nul","first_name":"a\u0000b","updated_at":5}}"#;
    let answer = stack.deliver_raw(&stack.users, "msg_nul", body).await;
    assert_eq!((answer.status, answer.body["status"].as_str()), (200, Some("failed")), "{answer:?}");
    let rows = stack.db.rows("SELECT status, jsonb_typeof(payload) AS kind FROM clerk_webhook_events").await;
    assert_eq!(rows, vec![json!({"status": "failed", "kind": "string"})]);
    assert_eq!(stack.db.count("users").await, 0);
    // The connection is sound after the rollbacks: the next event applies.
    stack.expect("msg_a", &simple_user("user.created", "user_a", 1, "A", "a@example.com"), "processed").await;
}

/// The timeouts still bound every transaction through the pooler: a row
/// locked elsewhere is a 503 after the lock timeout, not a hang.
#[tokio::test]
async fn the_lock_timeout_applies_through_the_pooler() {
    let stack = TestStack::spawn_through_pgbouncer(2).await;
    stack.expect("msg_1", &simple_user("user.created", "user_a", 1, "A", "a@example.com"), "processed").await;
    let bouncer = stack.pgbouncer.as_ref().unwrap();
    let mut extra = through_pooler();
    extra.push(("DB_LOCK_TIMEOUT_SECS", "1".into()));
    let state = webhook_state(Family::Users, &bouncer.url(&stack.db.name), extra);
    let holder = connect(&stack.db.url).await;
    holder.batch_execute("BEGIN; SELECT * FROM users WHERE clerk_user_id = 'user_a' FOR UPDATE").await.unwrap();
    let started = Instant::now();
    let answer =
        stack.deliver_to(&state, "msg_2", &simple_user("user.updated", "user_a", 2, "B", "a@example.com")).await;
    let waited = started.elapsed();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(4), "answered in {waited:?}");
    holder.batch_execute("ROLLBACK").await.unwrap();
    // And the settings did not leak into the pooled server session.
    let client = pooler_pool(&bouncer.url(&stack.db.name), 1).get().await.unwrap();
    assert_eq!(session_setting(&client, "lock_timeout").await, "0");
}

/// A setting of the server session the pooler hands out, read with a bare
/// simple query: outside any transaction, so not under our `SET LOCAL`s.
async fn session_setting(client: &clerk_sync::db::Client, name: &str) -> String {
    let messages = client.simple_query(&format!("SHOW {name}")).await.unwrap();
    messages
        .iter()
        .find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("SHOW answers a row")
}

/// Every statement through the pooler carries the timeouts, one sent
/// outside a transaction too (a read): it brings its own, in the same
/// flight, and the settings stay out of the pooled server session.
#[tokio::test]
async fn a_statement_outside_a_transaction_gets_the_timeouts_through_the_pooler() {
    let db = TestDb::spawn().await;
    let bouncer = pgbouncer::start(1);
    let mut settings = DbSettings::for_url(bouncer.url(&db.name)).through_pooler();
    settings.statement_timeout = Duration::from_millis(300);
    let client = build_pool(&settings).unwrap().get().await.unwrap();
    let started = Instant::now();
    let error = client.query("SELECT pg_sleep(5)", &[]).await.expect_err("cancelled by the statement timeout");
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3), "answered in {:?}", started.elapsed());
    // The connection is sound and back outside any transaction: the session
    // keeps the server's default, so the next statement brings the timeout again.
    assert_eq!(client.query_one("SHOW statement_timeout", &[]).await.unwrap().get::<_, String>(0), "300ms");
    assert_eq!(session_setting(&client, "statement_timeout").await, "0");
}

/// The API functions' reads outside a transaction, behind a table another
/// session holds: a 503 after the lock timeout, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reads_get_the_lock_timeout_through_the_pooler() {
    let stack = TestStack::spawn_through_pgbouncer(2).await;
    stack.expect("msg_ada", &simple_user("user.created", "user_ada", 100, "Ada", "ada@example.com"), "processed").await;
    let url = stack.pgbouncer.as_ref().unwrap().url(&stack.db.name);
    let mut extra = through_pooler();
    extra.push(("DB_LOCK_TIMEOUT_SECS", "1".into()));
    let state = api_state(&url, extra);
    let session = token("user_ada", None);
    let holder = connect(&stack.db.url).await;
    holder.batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let started = Instant::now();
    let request = sync_status::handle(&state, api_request("GET", "/sync-status", Some(&session), None));
    let view = tokio::time::timeout(Duration::from_secs(10), request).await;
    let waited = started.elapsed();
    holder.batch_execute("ROLLBACK").await.unwrap();
    let view = api_answer(view.expect("answered, not left waiting for the lock"));
    assert_eq!(view.status, 503, "{view:?}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(4), "answered in {waited:?}");
    let view = api_answer(sync_status::handle(&state, api_request("GET", "/sync-status", Some(&session), None)).await);
    assert_eq!(view.status, 200, "{view:?}");
}

/// With `DB_TIMEOUTS=role` the role carries the timeouts (`ALTER ROLE …
/// SET`) and the functions send none: a delivery is its statement alone,
/// and a row locked elsewhere is still a 503 after the role's lock timeout.
#[tokio::test]
async fn the_role_can_carry_the_timeouts_through_the_pooler() {
    let db = TestDb::spawn().await;
    let admin = connect(&db.url).await;
    // Only this test's database: the cluster is shared.
    admin
        .batch_execute(&format!(
            "ALTER ROLE CURRENT_USER IN DATABASE \"{name}\" SET lock_timeout = '1s';
             ALTER ROLE CURRENT_USER IN DATABASE \"{name}\" SET statement_timeout = '5s';
             ALTER ROLE CURRENT_USER IN DATABASE \"{name}\" SET idle_in_transaction_session_timeout = '10s'",
            name = db.name
        ))
        .await
        .unwrap();
    let bouncer = pgbouncer::start(2);
    let url = bouncer.url(&db.name);
    let stack = TestStack::over(TestDb { name: db.name.clone(), url: db.url.clone() });
    let mut extra = through_pooler();
    // The functions' own would be 2 s: waiting about 1 s shows the role's hold.
    extra.push(("DB_TIMEOUTS", "role".into()));
    let state = webhook_state(Family::Users, &url, extra);
    let first =
        stack.deliver_to(&state, "msg_1", &simple_user("user.created", "user_a", 1, "A", "a@example.com")).await;
    assert_eq!((first.status, first.body["status"].as_str()), (200, Some("processed")), "{first:?}");

    admin.batch_execute("BEGIN; SELECT * FROM users WHERE clerk_user_id = 'user_a' FOR UPDATE").await.unwrap();
    let started = Instant::now();
    let answer =
        stack.deliver_to(&state, "msg_2", &simple_user("user.updated", "user_a", 2, "B", "a@example.com")).await;
    let waited = started.elapsed();
    admin.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_millis(1800), "answered in {waited:?}");
    assert_eq!(stack.db.count("clerk_webhook_events").await, 1, "nothing recorded for the 503");
    let again =
        stack.deliver_to(&state, "msg_2", &simple_user("user.updated", "user_a", 2, "B", "a@example.com")).await;
    assert_eq!((again.status, again.body["status"].as_str()), (200, Some("processed")), "{again:?}");
}

/// The API functions, replay, prune and reconcile through the pooler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_replay_prune_and_reconcile_work_through_the_pooler() {
    let stack = TestStack::spawn_through_pgbouncer(2).await;
    let url = stack.pgbouncer.as_ref().unwrap().url(&stack.db.name);
    for (id, event) in [
        ("msg_ada", simple_user("user.created", "user_ada", 100, "Ada", "ada@example.com")),
        ("msg_org", organization("organization.created", "org_a", "Org A", 100)),
        ("msg_m", joined("organizationMembership.created", "orgmem_1", "user_ada", "org_a", "org:admin", 200)),
    ] {
        stack.expect(id, &event, "processed").await;
    }
    let session = token("user_ada", Some(("org_a", "org:admin")));

    // sync-status: twenty instances (one connection each) reading at once.
    let instances: Vec<_> = (0..20).map(|_| api_state(&url, through_pooler())).collect();
    let views =
        futures_util::future::join_all(instances.iter().map(|state| {
            let session = &session;
            async move {
                api_answer(sync_status::handle(state, api_request("GET", "/sync-status", Some(session), None)).await)
            }
        }))
        .await;
    for view in &views {
        assert_eq!(view.status, 200, "{view:?}");
        assert_eq!(view.body["active_organization"]["clerk_org_id"], "org_a", "{view:?}");
    }

    // seller-accounts: a write in two flights (begin_with, commit_with), then reads.
    let mut vars = vec![
        ("DATABASE_URL", url.clone()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
        ("ENCRYPTION_KEY", "test-encryption-key-0123456789abcdefghijklmnop".to_string()),
    ];
    vars.extend(pem_settings());
    vars.extend(through_pooler());
    let accounts = SellerAccountsState::from_source(&Vars(vars)).unwrap();
    let body = json!({
        "seller_id": "A1SELLER", "marketplace_id": "ATVPDKIKX0DER", "region": "na",
        "refresh_token": "Atzr|refresh", "lwa_client_id": "amzn1.application-oa2-client.x",
        "lwa_client_secret": "secret", "marketplace_code": "US", "currency": "USD"
    })
    .to_string();
    let created = api_answer(
        seller_accounts(&accounts, api_request("POST", "/seller-accounts", Some(&session), Some(&body))).await,
    );
    assert_eq!(created.status, 201, "{created:?}");
    let listed =
        api_answer(seller_accounts(&accounts, api_request("GET", "/seller-accounts", Some(&session), None)).await);
    assert_eq!(listed.body["seller_accounts"].as_array().map(Vec::len), Some(1), "{listed:?}");
    // DELETE decides 204 or 404 by the rows the statement affected.
    let path = format!("/seller-accounts/{}", created.body["id"].as_str().unwrap());
    let deleted = api_answer(seller_accounts(&accounts, api_request("DELETE", &path, Some(&session), None)).await);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    let again = api_answer(seller_accounts(&accounts, api_request("DELETE", &path, Some(&session), None)).await);
    assert_eq!(again.status, 404, "{again:?}");

    // replay and prune: the CLI's library calls over a pooled connection.
    let client = pooler_pool(&url, 1).get().await.unwrap();
    let admin = connect(&stack.db.url).await;
    admin.batch_execute("UPDATE clerk_webhook_events SET status = 'failed' WHERE svix_id = 'msg_ada'").await.unwrap();
    let filter = ReplayFilter { statuses: vec!["failed".into()], ..ReplayFilter::default() };
    assert_eq!(replay::count(&client, &filter).await.unwrap(), 1);
    let summary = replay::replay(&client, &filter, |_, _| {}).await.unwrap();
    assert_eq!(summary.total(), 1, "{summary:?}");
    admin.batch_execute("UPDATE clerk_webhook_events SET received_at = now() - interval '40 days'").await.unwrap();
    let pruned = prune(&client, 30, false).await.unwrap();
    assert_eq!(pruned.processed + pruned.stale, 3, "{pruned:?}");

    // reconcile: the lease, its pages and the absence rules.
    let fake = FakeBackendApi::start().await;
    fake.set_users(vec![fake_backend_api::user("user_ada", 1_700_000_000_500, "ada@example.com")]);
    fake.set_organizations(vec![]);
    let vars = Vars(vec![("CLERK_SECRET_KEY", FAKE_KEY.to_string()), ("CLERK_API_URL", fake.url())]);
    let api = BackendApi::new(BackendApiConfig::from_source(&vars).unwrap()).unwrap();
    let outcome = reconcile(&client, &api, &Options::new(Trigger::Cli), &Quiet).await.expect("reconcile");
    assert!(outcome.report.complete, "{outcome:?}");
    assert_eq!(outcome.report.organizations.deleted, 1, "{outcome:?}");
    let org = stack.db.rows("SELECT deleted_at IS NOT NULL AS deleted FROM organization").await;
    assert_eq!(org, vec![json!({"deleted": true})]);
}

/// Migrations and event routines through the pooler: each in one
/// transaction under a transaction-level lock, so two at once over two
/// server connections neither race nor leave a lock behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_through_the_pooler_are_safe_at_once() {
    let db = TestDb::create_empty().await;
    let bouncer = pgbouncer::start(2);
    let url = bouncer.url(&db.name);
    let (mut a, mut b) = (connect(&url).await, connect(&url).await);
    let (ra, rb) = tokio::join!(clerk_sync::sync::schema::migrate(&mut a), clerk_sync::sync::schema::migrate(&mut b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.applied.len() + rb.applied.len(), clerk_sync::db::migrate::MIGRATIONS.len(), "{ra:?} {rb:?}");
    let routines = clerk_sync::sync::statements::routines();
    assert_eq!(ra.routines.len() + rb.routines.len(), routines.len(), "each routine created once: {ra:?} {rb:?}");
    let admin = connect(&db.url).await;
    let locks: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
             AND database = (SELECT oid FROM pg_database WHERE datname = $1)",
            &[&db.name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(locks, 0, "no lock outlives its transaction");
    let again = clerk_sync::sync::schema::migrate(&mut a).await.unwrap();
    assert!(again.applied.is_empty() && again.routines.is_empty(), "{again:?}");
}
