//! Faults on a real PostgreSQL: the database down, restarted, or a row
//! locked by someone else. Always a clear answer in bounded time, never a
//! half-written event.

use std::time::{Duration, Instant};

use clerk_sync::Family;
use clerk_sync::WebhookState;
use clerk_sync_tests::{
    answer, clerk::simple_user, connect, function_url_event, now, signed_headers, webhook_state, Answer, OwnCluster,
    TestDb, TEST_SECRET,
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
    clerk_sync::db::migrate::run(&mut client).await.unwrap();
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
