//! The PgBouncer harness itself: a real PgBouncer 1.18 in transaction pooling
//! mode in front of the test server behaves as the pooler-mode code assumes.

use std::time::Duration;

use clerk_sync_tests::{connect, pgbouncer, TestDb};
use tokio_postgres::{error::SqlState, NoTls, SimpleQueryMessage};

/// The server process behind `client`'s current transaction.
async fn backend_pid(client: &tokio_postgres::Client) -> String {
    let messages = client.simple_query("SELECT pg_backend_pid()").await.expect("pg_backend_pid");
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .expect("one row")
}

#[tokio::test]
async fn two_clients_share_one_server_connection_a_transaction_at_a_time() {
    let db = TestDb::spawn().await;
    let bouncer = pgbouncer::start(1);
    let url = bouncer.url(&db.name);
    let a = connect(&url).await;
    let b = connect(&url).await;

    // The migrated test database, through the wildcard entry (extended protocol too).
    let events: i64 = a.query_one("SELECT count(*) FROM clerk_webhook_events", &[]).await.expect("query").get(0);
    assert_eq!(events, 0);

    // Pool size 1: both clients' transactions run on the same server connection.
    let pid = backend_pid(&a).await;
    assert_eq!(backend_pid(&b).await, pid, "one server connection for both clients");

    // While A holds a transaction, B waits for the connection; A's COMMIT frees it.
    a.batch_execute("BEGIN; SELECT 1").await.expect("begin");
    let waiting = tokio::spawn(async move { backend_pid(&b).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!waiting.is_finished(), "B ran while A's transaction held the only server connection");
    a.batch_execute("COMMIT").await.expect("commit");
    let b_pid = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("B runs after A's COMMIT");
    assert_eq!(b_pid.expect("B's query"), pid);
}

#[tokio::test]
async fn the_options_startup_parameter_is_refused() {
    let db = TestDb::create_empty().await;
    let bouncer = pgbouncer::start(1);
    let url = format!("{}?options=-c%20lock_timeout%3D1000", bouncer.url(&db.name));
    let error = match tokio_postgres::connect(&url, NoTls).await {
        Ok(_) => panic!("PgBouncer accepted the options startup parameter"),
        Err(e) => e,
    };
    let message = error.as_db_error().map(|e| e.message().to_string()).unwrap_or_else(|| format!("{error:?}"));
    assert!(message.contains("unsupported startup parameter: options"), "{message}");
    // Without it, the same URL works.
    connect(&bouncer.url(&db.name)).await.simple_query("SELECT 1").await.expect("plain connection");
}

/// PgBouncer 1.18 keeps no prepared statements: one parsed on a server
/// connection exists there only, and the next transaction may get another.
#[tokio::test]
async fn a_named_prepared_statement_is_lost_when_the_server_connection_changes() {
    let db = TestDb::create_empty().await;
    let bouncer = pgbouncer::start(2);
    let url = bouncer.url(&db.name);
    let a = connect(&url).await;
    let b = connect(&url).await;

    // Parsed on server connection X, which then goes back to the pool.
    let statement = a.prepare("SELECT 1::int4").await.expect("prepare");
    // B takes X (the only idle one) and keeps it inside a transaction…
    b.batch_execute("BEGIN; SELECT 1").await.expect("begin");
    // …so A's execution runs on a new server connection, which never saw the statement.
    let error = a.query_one(&statement, &[]).await.expect_err("the statement is unknown on the other connection");
    assert_eq!(error.code(), Some(&SqlState::INVALID_SQL_STATEMENT_NAME), "{error:?}");
    b.batch_execute("COMMIT").await.expect("commit");
}
