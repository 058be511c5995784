//! Fetch-on-miss: with `CLERK_SECRET_KEY`, a verified session naming a user,
//! organization or membership the database lacks is filled in from Clerk's
//! Backend API (here, the fake), so the first request after a sign-up works.

use std::time::{Duration, Instant};

use clerk_sync::api::seller_accounts::{handle, SellerAccountsState};
use clerk_sync_tests::{
    api_answer, api_request,
    clerk::{simple_user, user_deleted},
    fake_backend_api::{membership, organization, user, FakeBackendApi, FAKE_KEY},
    session::{pem_settings, token},
    Answer, TestStack, Vars,
};

const KEY: &str = "test-encryption-key-0123456789abcdefghijklmnop";

fn state(url: &str, api: Option<&FakeBackendApi>) -> SellerAccountsState {
    let mut vars = vec![
        ("DATABASE_URL", url.to_string()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
        ("ENCRYPTION_KEY", KEY.to_string()),
    ];
    vars.extend(pem_settings());
    if let Some(api) = api {
        vars.push(("CLERK_SECRET_KEY", FAKE_KEY.to_string()));
        vars.push(("CLERK_API_URL", api.url()));
    }
    SellerAccountsState::from_source(&Vars(vars)).unwrap()
}

async fn list(state: &SellerAccountsState, token: &str) -> Answer {
    api_answer(handle(state, api_request("GET", "/seller-accounts", Some(token), None)).await)
}

#[tokio::test]
async fn the_first_request_after_sign_up_works() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let org = organization("org_fresh", 1_790_000_000_000);
    fake.set_users(vec![user("user_fresh", 1_790_000_000_000, "fresh@example.com")]);
    fake.set_organizations(vec![org.clone()]);
    fake.set_memberships(vec![membership("orgmem_fresh", &org, "user_fresh", "org:admin", 1_790_000_000_000)]);
    let session = token("user_fresh", Some(("org_fresh", "org:admin")));

    // Without the key: as before, the webhooks have not landed yet.
    let without = list(&state(&stack.db.url, None), &session).await;
    assert_eq!((without.status, without.body["error"].as_str()), (401, Some("unknown_user")), "{without:?}");

    let answer = list(&state(&stack.db.url, Some(&fake)), &session).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let rows = stack.db.rows("SELECT email, clerk_updated_ms IS NOT NULL AS real FROM users").await;
    assert_eq!(rows, [serde_json::json!({"email": "fresh@example.com", "real": true})]);
    // The user's webhook, landing later, changes nothing it did not already say.
    stack
        .expect("msg_late", &simple_user("user.created", "user_fresh", -1_000_000, "Late", "late@example.com"), "stale")
        .await;
}

#[tokio::test]
async fn a_deleted_user_is_never_fetched_and_a_failing_api_changes_nothing() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_c", &simple_user("user.created", "user_gone", 100, "Gone", "g@example.com"), "processed").await;
    stack.expect("msg_d", &user_deleted("user_gone", 200), "processed").await;
    let fake = FakeBackendApi::start().await;
    fake.set_users(vec![user("user_gone", 1_790_000_000_000, "back@example.com")]);
    let state = state(&stack.db.url, Some(&fake));

    let answer = list(&state, &token("user_gone", Some(("org_x", "org:admin")))).await;
    assert_eq!((answer.status, answer.body["error"].as_str()), (401, Some("unknown_user")), "{answer:?}");
    assert!(fake.log().iter().all(|r| !r.path.contains("user_gone")), "Clerk ids are never reused: no fetch");

    // Clerk unreachable: the answer is what it is without the key, within the deadline.
    fake.set_latency(Duration::from_secs(10));
    let started = Instant::now();
    let answer = list(&state, &token("user_unknown", Some(("org_x", "org:admin")))).await;
    assert_eq!((answer.status, answer.body["error"].as_str()), (401, Some("unknown_user")), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "one deadline for every fetch: {:?}", started.elapsed());
}
