//! Fetch-on-miss: with `CLERK_SECRET_KEY`, a verified session naming a user,
//! organization or membership the database lacks is filled in from Clerk's
//! Backend API (here, the fake), so the first request after a sign-up works.

use std::time::{Duration, Instant};

use clerk_sync::{
    api::seller_accounts::{handle, SellerAccountsState},
    session::misses::RESTING_FOR,
};
use clerk_sync_tests::{
    api_answer, api_request, api_state,
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

/// Clerk (the fake) holds `user_{name}`, a member of `org_{name}` with
/// `role`; the session token naming both.
fn clerk_knows(fake: &FakeBackendApi, name: &str, role: &str) -> String {
    let org = organization(&format!("org_{name}"), 1_790_000_000_000);
    let user_id = format!("user_{name}");
    fake.set_users(vec![user(&user_id, 1_790_000_000_000, &format!("{name}@example.com"))]);
    fake.set_organizations(vec![org.clone()]);
    fake.set_memberships(vec![membership(&format!("orgmem_{name}"), &org, &user_id, role, 1_790_000_000_000)]);
    token(&user_id, Some((&format!("org_{name}"), role)))
}

async fn list(state: &SellerAccountsState, token: &str) -> Answer {
    api_answer(handle(state, api_request("GET", "/seller-accounts", Some(token), None)).await)
}

#[tokio::test]
async fn the_first_request_after_sign_up_works() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let session = clerk_knows(&fake, "fresh", "org:admin");

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

    // Resting after the failure: the next requests neither ask nor wait.
    let asked = fake.log().len();
    let started = Instant::now();
    for user in ["user_unknown", "user_other"] {
        let answer = list(&state, &token(user, Some(("org_x", "org:admin")))).await;
        assert_eq!((answer.status, answer.body["error"].as_str()), (401, Some("unknown_user")), "{answer:?}");
    }
    assert!(started.elapsed() < RESTING_FOR / 4, "no request waits while resting: {:?}", started.elapsed());
    assert_eq!(fake.log().len(), asked, "nothing asked of Clerk while resting");
}

#[tokio::test]
async fn an_object_clerk_lacks_is_asked_for_once_not_with_every_request() {
    // The user left the organization in Clerk; their token still names it
    // until it expires, and the app keeps polling.
    let stack = TestStack::spawn().await;
    stack.expect("msg_c", &simple_user("user.created", "user_left", 100, "Left", "l@example.com"), "processed").await;
    let fake = FakeBackendApi::start().await;
    let state = state(&stack.db.url, Some(&fake));
    let session = token("user_left", Some(("org_gone", "org:admin")));
    for _ in 0..3 {
        let answer = list(&state, &session).await;
        assert_eq!((answer.status, answer.body["error"].as_str()), (403, Some("no_active_organization")), "{answer:?}");
    }
    let asked: Vec<String> = fake.log().into_iter().map(|r| r.path).collect();
    assert_eq!(
        asked,
        ["/v1/organizations/org_gone", "/v1/organizations/org_gone/memberships"],
        "the organization and the membership asked for once each"
    );

    // Another session's objects are asked for as before.
    let answer = list(&state, &token("user_left", Some(("org_other", "org:admin")))).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(fake.log().len(), 4, "{:?}", fake.log());
}

#[tokio::test]
async fn sync_status_fills_in_what_the_session_names() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let session = clerk_knows(&fake, "new", "org:member");
    let session = &session;
    let get = |state| async move {
        let request = api_request("GET", "/sync-status", Some(session), None);
        api_answer(clerk_sync::api::sync_status::handle(&state, request).await)
    };

    let without = get(api_state(&stack.db.url, vec![])).await;
    assert_eq!(without.status, 200, "{without:?}");
    assert_eq!(
        without.body["verdicts"],
        serde_json::json!({"user": "missing", "organization": "missing", "membership": "missing"})
    );

    let with_key =
        api_state(&stack.db.url, vec![("CLERK_SECRET_KEY", FAKE_KEY.to_string()), ("CLERK_API_URL", fake.url())]);
    let answer = get(with_key).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body["verdicts"],
        serde_json::json!({"user": "in_sync", "organization": "in_sync", "membership": "in_sync"})
    );
    assert_eq!(answer.body["user"]["email"], "new@example.com");
    assert_eq!(fake.log().len(), 3, "the user, the organization and the membership, once each");
}
