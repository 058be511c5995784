//! Replaying stored events, the scheduled replay job, and the development bypass.

use clerk_sync::{
    sync::replay::{self, ReplayFilter, ReplayJob},
    Family, WebhookConfig,
};
use clerk_sync_tests::{
    clerk::{sample, simple_user},
    function_url_event, pool, webhook_state, TestStack, Vars,
};
use serde_json::json;

/// The family a stored event of `payload`'s type is recorded under.
fn family_of(payload: &serde_json::Value) -> &'static str {
    clerk_sync::Family::handling(payload["type"].as_str().unwrap_or_default()).map_or("users", |f| f.name())
}

/// Stores an event as an older build would have left it: failed.
async fn store_failed(stack: &TestStack, svix_id: &str, payload: &serde_json::Value) {
    let client = stack.db.connect().await;
    client
        .execute(
            "INSERT INTO clerk_webhook_events (svix_id, family, event_type, clerk_object_id, payload, status, last_error)
             VALUES ($1, $2, $3, $4, $5::text::jsonb, 'failed', 'older build could not read it')",
            &[&svix_id, &family_of(payload), &payload["type"].as_str().unwrap(), &payload["data"]["id"].as_str(), &payload.to_string()],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn failed_events_replay_through_the_sync_code_once() {
    let stack = TestStack::spawn().await;
    store_failed(&stack, "msg_f1", &sample("user.created.json")).await;
    store_failed(&stack, "msg_f2", &sample("organization.created.json")).await;
    // Still not understandable: stays failed, one more attempt.
    store_failed(&stack, "msg_f3", &json!({"type": "user.updated", "data": {"id": "user_x"}})).await;
    // Processed rows are never touched.
    stack.expect("msg_ok", &simple_user("user.created", "user_ok", 1, "Ok", "ok@example.com"), "processed").await;

    let pool = pool(&stack.db.url, 1);
    let client = pool.get().await.unwrap();
    assert_eq!(replay::count(&client, &ReplayFilter::default()).await.unwrap(), 3);
    let mut seen = Vec::new();
    let summary = replay::replay(&client, &ReplayFilter::default(), |id, _| seen.push(id.to_string())).await.unwrap();
    assert_eq!((summary.processed, summary.failed, summary.total()), (2, 1, 3), "{summary:?}");
    assert_eq!(seen.len(), 3);
    let rows = stack
        .db
        .rows(
            "SELECT svix_id, status, attempts, last_error IS NULL AS clean FROM clerk_webhook_events ORDER BY svix_id",
        )
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"svix_id": "msg_f1", "status": "processed", "attempts": 2, "clean": true}),
            json!({"svix_id": "msg_f2", "status": "processed", "attempts": 2, "clean": true}),
            json!({"svix_id": "msg_f3", "status": "failed", "attempts": 2, "clean": false}),
            json!({"svix_id": "msg_ok", "status": "processed", "attempts": 1, "clean": true}),
        ]
    );
    assert_eq!(stack.db.count("users").await, 2);
    assert_eq!(stack.db.count("organization").await, 1);

    // Idempotent: the processed ones are not selected again.
    let again = replay::replay(&client, &ReplayFilter::default(), |_, _| {}).await.unwrap();
    assert_eq!((again.processed, again.failed), (0, 1));
}

#[tokio::test]
async fn filters_by_type_and_time() {
    let stack = TestStack::spawn().await;
    store_failed(&stack, "msg_u", &sample("user.created.json")).await;
    store_failed(&stack, "msg_o", &sample("organization.created.json")).await;
    let pool = pool(&stack.db.url, 1);
    let client = pool.get().await.unwrap();
    let only_orgs = ReplayFilter { event_type: Some("organization.created".into()), ..ReplayFilter::default() };
    assert_eq!(replay::replay(&client, &only_orgs, |_, _| {}).await.unwrap().processed, 1);
    let future = ReplayFilter { since: Some("2999-01-01T00:00:00Z".into()), ..ReplayFilter::default() };
    assert_eq!(replay::replay(&client, &future, |_, _| {}).await.unwrap().total(), 0);
    let limited = ReplayFilter { limit: Some(0), ..ReplayFilter::default() };
    assert_eq!(replay::replay(&client, &limited, |_, _| {}).await.unwrap().total(), 0);
}

#[tokio::test]
async fn the_scheduled_job_replays_a_bounded_batch() {
    let stack = TestStack::spawn().await;
    for i in 0..3 {
        let user = simple_user("user.created", &format!("user_j{i}"), 1, "J", "j@example.com");
        store_failed(&stack, &format!("msg_j{i}"), &user).await;
    }
    let job = ReplayJob::from_source(&Vars(vec![
        ("DATABASE_URL", stack.db.url.clone()),
        ("SKIP_DB_MIGRATIONS", "true".into()),
        ("REPLAY_MAX_EVENTS", "2".into()),
    ]))
    .unwrap();
    assert_eq!(job.run().await.unwrap().processed, 2);
    assert_eq!(job.run().await.unwrap().processed, 1);
    assert_eq!(job.run().await.unwrap().total(), 0);
}

#[tokio::test]
async fn the_development_bypass_skips_signatures_only_outside_aws() {
    let stack = TestStack::spawn().await;
    let bypass = webhook_state(Family::Users, &stack.db.url, vec![("CLERK_WEBHOOK_DEV_BYPASS", "1".into())]);
    let body = sample("user.created.json").to_string();
    // Unsigned, or signed long ago (a committed sample event): accepted.
    let stale = clerk_sync_tests::signed_headers(clerk_sync_tests::TEST_SECRET, "msg_stale", 1_600_000_000, &body);
    for headers in [vec![], stale] {
        let request = lambda_http::request::from_str(&function_url_event("POST", &body, &headers, false)).unwrap();
        let answer = clerk_sync_tests::answer(clerk_sync::handle(&bypass, request).await);
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    assert_eq!(stack.db.count("users").await, 1);

    // Without the bypass the same stale delivery is refused.
    let strict = webhook_state(Family::Users, &stack.db.url, vec![]);
    let stale = clerk_sync_tests::signed_headers(clerk_sync_tests::TEST_SECRET, "msg_stale2", 1_600_000_000, &body);
    let request = lambda_http::request::from_str(&function_url_event("POST", &body, &stale, false)).unwrap();
    assert_eq!(clerk_sync::handle(&strict, request).await.status(), 401);

    // In AWS it refuses to start, naming the variable.
    let err = WebhookConfig::from_source(&Vars(vec![
        ("DATABASE_URL", stack.db.url.clone()),
        ("CLERK_WEBHOOK_DEV_BYPASS", "1".into()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("CLERK_WEBHOOK_DEV_BYPASS"), "{err}");
    // And without the bypass a secret is required.
    let err = WebhookConfig::from_source(&Vars(vec![("DATABASE_URL", stack.db.url.clone())])).unwrap_err();
    assert!(err.to_string().contains("CLERK_WEBHOOK_SECRET"), "{err}");
}
