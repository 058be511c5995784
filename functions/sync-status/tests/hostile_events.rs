//! Events `lambda_http` panics on converting (a body marked base64 that is
//! not, a query string or host a URI refuses) are answered 400 and the
//! process serves the next event (issue 16).

#[path = "../../clerk-users/tests/support/hostile.rs"]
mod hostile;

#[test]
fn hostile_events_are_answered_and_the_process_lives_on() {
    // No session token: answered by the handler (401) without a database.
    let normal = hostile::event("GET", "/sync-status", serde_json::json!({"accept": "application/json"}));
    let mut env = vec![
        ("DATABASE_URL", "postgres://app@127.0.0.1:1/app".to_string()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
    ];
    env.extend(clerk_sync_tests::session::pem_settings());
    hostile::assert_survives(env!("CARGO_BIN_EXE_sync-status"), "sync-status", &env, normal);
}
