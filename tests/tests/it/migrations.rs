//! The migration runner against a real PostgreSQL.

use clerk_sync::migrate::{self, MigrateError, Migration, MIGRATIONS};
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
