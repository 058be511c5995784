//! The migration runner against a real PostgreSQL.

use clerk_sync::db::migrate::{self, MigrateError, Migration, MIGRATIONS};
use clerk_sync_tests::TestDb;

#[tokio::test]
async fn five_concurrent_runs_leave_one_history_and_one_schema() {
    let db = TestDb::create_empty().await;
    let runs = (0..5).map(|_| {
        let url = db.url.clone();
        tokio::spawn(async move {
            let mut client = clerk_sync_tests::connect(&url).await;
            migrate::run(&mut client).await
        })
    });
    let reports: Vec<_> = futures_util::future::join_all(runs).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
    let applied: usize = reports.iter().map(|r| r.applied.len()).sum();
    assert_eq!(applied, MIGRATIONS.len(), "each file applied exactly once: {reports:?}");

    let history = db.rows("SELECT version, name FROM clerk_sync_migrations ORDER BY version").await;
    assert_eq!(history.len(), MIGRATIONS.len());
    for (row, m) in history.iter().zip(MIGRATIONS) {
        assert_eq!(row["version"], m.version);
        assert_eq!(row["name"], m.name);
    }
    for table in [
        "users",
        "organization",
        "user_organizations",
        "clerk_webhook_events",
        "seller_accounts",
        "amazon_orders",
        "amazon_sales_traffic_daily",
    ] {
        assert_eq!(db.count(table).await, 0);
    }
}

#[tokio::test]
async fn an_up_to_date_database_is_a_no_op() {
    let db = TestDb::spawn().await;
    let mut client = db.connect().await;
    assert!(migrate::run(&mut client).await.unwrap().applied.is_empty());
}

#[tokio::test]
async fn a_changed_or_missing_applied_file_stops_the_run() {
    let db = TestDb::spawn().await;
    let mut client = db.connect().await;

    let mut changed: Vec<Migration> = MIGRATIONS.to_vec();
    changed[0].sql = "SELECT 1; -- edited after it was applied";
    let changed: &'static [Migration] = Box::leak(changed.into_boxed_slice());
    let error = migrate::run_set(&mut client, changed).await.unwrap_err();
    assert!(matches!(error, MigrateError::Changed { version: 1, .. }), "{error}");

    let missing: &'static [Migration] = &MIGRATIONS[..MIGRATIONS.len() - 1];
    let error = migrate::run_set(&mut client, missing).await.unwrap_err();
    assert!(matches!(error, MigrateError::Missing { .. }), "{error}");

    // A new file is applied, and a broken one rolls back with its history row.
    let mut extended: Vec<Migration> = MIGRATIONS.to_vec();
    extended.push(Migration {
        version: 9000,
        name: "9000_broken",
        sql: "CREATE TABLE half_done (x int); SELECT no_such_column;",
    });
    let extended: &'static [Migration] = Box::leak(extended.into_boxed_slice());
    let error = migrate::run_set(&mut client, extended).await.unwrap_err();
    assert!(matches!(error, MigrateError::Failed { name: "9000_broken", .. }), "{error}");
    assert!(db.rows("SELECT 1 FROM pg_tables WHERE tablename = 'half_done'").await.is_empty());
    assert!(db.rows("SELECT 1 FROM clerk_sync_migrations WHERE version = 9000").await.is_empty());
}

/// Rows an older build left keep their meaning under 0004: one message was
/// claimed once for all functions, and `ignored` by the wrong function meant
/// the family that should have applied it never did.
#[tokio::test]
async fn migration_0004_keeps_what_older_rows_meant_and_hands_lost_messages_to_replay() {
    let db = TestDb::create_empty().await;
    let mut client = db.connect().await;
    let before: &'static [Migration] = &MIGRATIONS[..3];
    assert_eq!(before.last().map(|m| m.version), Some(3));
    migrate::run_set(&mut client, before).await.unwrap();
    let org = clerk_sync_tests::clerk::organization("organization.created", "org_lost", "Lost", 100).to_string();
    client
        .execute(
            "INSERT INTO clerk_webhook_events (svix_id, event_type, clerk_object_id, payload, status, last_error)
             VALUES ('msg_applied', 'user.created', 'user_a', '{}', 'processed', NULL),
                    ('msg_lost', 'organization.created', 'org_lost', $1::text::jsonb, 'ignored', NULL),
                    ('msg_session', 'session.created', 'sess_a', '{}', 'ignored', NULL),
                    ('msg_failed', 'organizationMembership.created', 'orgmem_a', '{}', 'failed', 'old bug')",
            &[&org],
        )
        .await
        .unwrap();
    migrate::run(&mut client).await.unwrap();
    let rows = db.rows("SELECT svix_id, family, status FROM clerk_webhook_events ORDER BY svix_id").await;
    assert_eq!(
        rows,
        [
            serde_json::json!({"svix_id": "msg_applied", "family": "users", "status": "processed"}),
            serde_json::json!({"svix_id": "msg_failed", "family": "memberships", "status": "failed"}),
            serde_json::json!({"svix_id": "msg_lost", "family": "organizations", "status": "received"}),
            serde_json::json!({"svix_id": "msg_session", "family": "unknown", "status": "ignored"}),
        ]
    );
    // The message the wrong function claimed is applied by a replay.
    let pool = clerk_sync_tests::pool(&db.url, 1);
    let pooled = pool.get().await.unwrap();
    let filter = clerk_sync::sync::replay::ReplayFilter { statuses: vec!["received".into()], ..Default::default() };
    let summary = clerk_sync::sync::replay::replay(&pooled, &filter, |_, _| {}).await.unwrap();
    assert_eq!(summary.processed, 1, "{summary:?}");
    assert_eq!(db.rows("SELECT name FROM organization").await, [serde_json::json!({"name": "Lost"})]);
    // A redelivery to the organizations function is now a duplicate, and a
    // new message may be recorded by several families.
    let stack = clerk_sync_tests::TestStack::over(TestDb { name: db.name.clone(), url: db.url.clone() });
    let payload: serde_json::Value = serde_json::from_str(&org).unwrap();
    stack.expect("msg_lost", &payload, "duplicate").await;
    assert_eq!(stack.users_deliver("msg_lost", &payload).await["status"], "ignored");
}

#[tokio::test]
async fn existing_memberships_keep_their_state_under_0004() {
    let db = TestDb::create_empty().await;
    let mut client = db.connect().await;
    migrate::run_set(&mut client, &MIGRATIONS[..3]).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO users (clerk_user_id, clerk_updated_ms) VALUES ('user_ada', 1);
             INSERT INTO organization (clerk_org_id, clerk_updated_ms) VALUES ('org_acme', 1);
             INSERT INTO user_organizations (user_id, organization_id, role, clerk_membership_id, clerk_updated_ms,
                                             removed_at, deleted_at)
             SELECT u.id, o.id, 'org:admin', 'orgmem_1', 1700000000300,
                    to_timestamp(1700000000.3), to_timestamp(1700000000.3)
             FROM users u, organization o",
        )
        .await
        .unwrap();
    migrate::run(&mut client).await.unwrap();
    // The removed membership stays removed: a late update of its id is stale.
    let stack = clerk_sync_tests::TestStack::over(TestDb { name: db.name.clone(), url: db.url.clone() });
    let late = clerk_sync_tests::clerk::membership(&clerk_sync_tests::clerk::Membership {
        event_type: "organizationMembership.updated",
        id: "orgmem_1",
        org_id: "org_acme",
        org_name: "Acme",
        org_updated_ms: 1,
        user_id: "user_ada",
        first_name: "Ada",
        identifier: "ada@example.com",
        role: "org:member",
        updated_ms: 900,
        timestamp: 905,
    });
    stack.expect("msg_late", &late, "stale").await;
    let rows = db.rows("SELECT role, deleted_at IS NOT NULL AS ended FROM user_organizations").await;
    assert_eq!(rows, [serde_json::json!({"role": "org:admin", "ended": true})]);
}

/// Messages of the types 0006 began to handle, recorded `ignored` before it,
/// go to their new family as `received` under 0007, once per message, and
/// a replay applies them.
#[tokio::test]
async fn migration_0007_hands_the_new_families_their_ignored_messages() {
    let db = TestDb::create_empty().await;
    let mut client = db.connect().await;
    let before: &'static [Migration] = &MIGRATIONS[..6];
    assert_eq!(before.last().map(|m| m.version), Some(6));
    migrate::run_set(&mut client, before).await.unwrap();
    let permission = serde_json::json!({
        "type": "permission.created", "object": "event", "timestamp": 1_700_000_000,
        "data": {"object": "permission", "id": "perm_lost", "key": "org:lost:read", "name": "Lost",
                 "description": null, "type": "user", "created_at": 1_700_000_000_000_i64,
                 "updated_at": 1_700_000_000_000_i64}
    })
    .to_string();
    client
        .execute(
            "INSERT INTO clerk_webhook_events (svix_id, event_type, clerk_object_id, payload, status, family)
             VALUES ('msg_perm', 'permission.created', 'perm_lost', $1::text::jsonb, 'ignored', 'users'),
                    ('msg_perm', 'permission.created', 'perm_lost', $1::text::jsonb, 'ignored', 'all'),
                    ('msg_session', 'session.created', 'sess_a', '{}', 'ignored', 'users')",
            &[&permission],
        )
        .await
        .unwrap();
    migrate::run(&mut client).await.unwrap();
    let rows = db.rows("SELECT svix_id, family, status FROM clerk_webhook_events ORDER BY svix_id, family").await;
    let statuses: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["family"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(statuses.iter().filter(|(f, s)| f == "roles" && s == "received").count(), 1, "{rows:?}");
    assert_eq!(statuses.iter().filter(|(_, s)| s == "ignored").count(), 2, "one copy and the session stay: {rows:?}");
    let pool = clerk_sync_tests::pool(&db.url, 1);
    let pooled = pool.get().await.unwrap();
    let filter = clerk_sync::sync::replay::ReplayFilter { statuses: vec!["received".into()], ..Default::default() };
    let summary = clerk_sync::sync::replay::replay(&pooled, &filter, |_, _| {}).await.unwrap();
    assert_eq!(summary.processed, 1, "{summary:?}");
    assert_eq!(
        db.rows("SELECT key FROM organization_permissions").await,
        [serde_json::json!({"key": "org:lost:read"})]
    );
}
