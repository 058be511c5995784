//! Events `lambda_http` panics on converting (a body marked base64 that is
//! not, a query string or host a URI refuses) are answered 400 and the
//! process serves the next event (issue 16).

#[path = "support/hostile.rs"]
mod hostile;

#[test]
fn hostile_events_are_answered_and_the_process_lives_on() {
    // An unsigned delivery: answered by the handler (missing signature) without a database.
    let normal = hostile::event("POST", "/", serde_json::json!({"content-type": "application/json"}));
    hostile::assert_survives(
        env!("CARGO_BIN_EXE_clerk-users"),
        "clerk-users",
        &[
            ("DATABASE_URL", "postgres://app@127.0.0.1:1/app".into()),
            ("SKIP_DB_MIGRATIONS", "true".into()),
            ("CLERK_WEBHOOK_SECRET", clerk_sync_tests::TEST_SECRET.into()),
        ],
        normal,
    );
}
