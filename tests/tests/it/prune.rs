//! `prune`: old processed and ignored events go, in batches; failed and
//! received ones stay whatever their age.

use clerk_sync::sync::prune::{prune, prune_with, PruneOptions};
use clerk_sync_tests::{clerk::simple_user, TestStack};
use serde_json::json;

/// Backdated rows: `n` events of `status` received `days` ago (spread over
/// the following hour, so batches see distinct times).
async fn backdate(client: &tokio_postgres::Client, status: &str, days: i32, n: i32) {
    client
        .execute(
            "INSERT INTO clerk_webhook_events (svix_id, family, event_type, payload, status, received_at, last_error)
             SELECT format('msg_%s_%s_%s', $1::text, $2::int, i), 'users', 'user.updated', '{}'::jsonb, $1::text,
                    now() - make_interval(days => $2::int) - i * interval '1 second',
                    CASE WHEN $1::text = 'failed' THEN 'old bug' END
             FROM generate_series(1, $3::int) AS i",
            &[&status, &days, &n],
        )
        .await
        .unwrap();
}

async fn counts(stack: &TestStack) -> serde_json::Value {
    let rows = stack
        .db
        .rows(
            "SELECT status, count(*) FILTER (WHERE received_at < now() - interval '30 days') AS old,
                    count(*) FILTER (WHERE received_at >= now() - interval '30 days') AS recent
             FROM clerk_webhook_events GROUP BY status ORDER BY status",
        )
        .await;
    serde_json::Value::Array(rows)
}

#[tokio::test]
async fn old_processed_and_ignored_events_go_in_batches_failed_and_received_stay() {
    let stack = TestStack::spawn().await;
    let client = clerk_sync_tests::pooled(&stack.db.url).await;
    for (status, old) in [("processed", 2_300), ("ignored", 700), ("failed", 3), ("received", 2)] {
        backdate(&client, status, 31, old).await;
        backdate(&client, status, 29, 4).await;
    }
    // A real delivery, today.
    stack
        .expect("msg_today", &simple_user("user.created", "user_today", 100, "Today", "t@example.com"), "processed")
        .await;
    let before = counts(&stack).await;

    let dry = prune(&client, 30, true).await.unwrap();
    assert_eq!((dry.processed, dry.ignored, dry.kept_failed, dry.kept_received), (2_300, 700, 3, 2), "{dry:?}");
    assert!(dry.dry_run && dry.batches == 0 && dry.cutoff.ends_with('Z'), "{dry:?}");
    assert_eq!(counts(&stack).await, before, "a dry run deletes nothing");

    let options = PruneOptions { older_than_days: 30, dry_run: false, batch_size: 1_000 };
    let mut seen = Vec::new();
    let report = prune_with(&client, &options, |deleted, found| seen.push((deleted, found))).await.unwrap();
    assert_eq!((report.processed, report.ignored, report.batches), (2_300, 700, 3), "{report:?}");
    assert_eq!((report.kept_failed, report.kept_received), (3, 2));
    assert_eq!(seen, [(0, 3_000), (1_000, 3_000), (2_000, 3_000), (3_000, 3_000)]);
    assert_eq!(
        counts(&stack).await,
        json!([
            {"status": "failed", "old": 3, "recent": 4},
            {"status": "ignored", "old": 0, "recent": 4},
            {"status": "processed", "old": 0, "recent": 5},
            {"status": "received", "old": 2, "recent": 4},
        ])
    );
    let again = prune(&client, 30, false).await.unwrap();
    assert_eq!((again.deleted(), again.batches), (0, 0), "{again:?}");

    // A younger cutoff takes the 29-day-old ones too, never today's.
    let younger = prune(&client, 7, false).await.unwrap();
    assert_eq!((younger.processed, younger.ignored, younger.kept_failed), (4, 4, 7), "{younger:?}");
    assert_eq!(stack.db.count("clerk_webhook_events WHERE svix_id = 'msg_today'").await, 1);
}

#[tokio::test]
async fn a_pruned_event_delivered_again_changes_nothing() {
    let stack = TestStack::spawn().await;
    let created = simple_user("user.created", "user_again", 100, "First", "first@example.com");
    let updated = simple_user("user.updated", "user_again", 200, "Second", "second@example.com");
    stack.expect("msg_created", &created, "processed").await;
    stack.expect("msg_updated", &updated, "processed").await;
    let client = clerk_sync_tests::pooled(&stack.db.url).await;
    client.execute("UPDATE clerk_webhook_events SET received_at = now() - interval '40 days'", &[]).await.unwrap();
    let before = stack.snapshot().await["users"].clone();
    assert_eq!(prune(&client, 30, false).await.unwrap().processed, 2);

    // Svix (or someone in its dashboard) sends an old message again: it is
    // recorded anew, and the clocks keep the newer data.
    stack.expect("msg_created", &created, "stale").await;
    assert_eq!(stack.snapshot().await["users"], before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_prunes_share_the_work() {
    let stack = TestStack::spawn().await;
    let client = clerk_sync_tests::pooled(&stack.db.url).await;
    backdate(&client, "processed", 60, 3_000).await;
    let other = clerk_sync_tests::pooled(&stack.db.url).await;
    let options = PruneOptions { older_than_days: 30, dry_run: false, batch_size: 100 };
    let (a, b) = tokio::join!(prune_with(&client, &options, |_, _| {}), prune_with(&other, &options, |_, _| {}));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.processed + b.processed, 3_000, "{a:?} {b:?}");
    assert_eq!(stack.db.count("clerk_webhook_events").await, 0);
}
