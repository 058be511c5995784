//! The tenant-scoped sync-status function and the auth helpers behind it.

use std::time::Duration;

use clerk_sync::{
    api::sync_status,
    backend_api::{BackendApi, BackendApiConfig, RetryPolicy},
    reconcile::{reconcile, Options, Quiet, Trigger},
};
use clerk_sync_tests::{
    api_answer, api_request, api_state,
    clerk::{joined, organization, simple_user, user_deleted, T0},
    fake_backend_api::{self, FakeBackendApi, FAKE_KEY},
    session::{sign, sign_with_header, token, v1_claims, v2_claims},
    TestStack, Vars,
};
use serde_json::{json, Value};

/// Ada in org_a (admin) and org_b (member); Bob only in org_b.
async fn two_tenants() -> TestStack {
    let stack = TestStack::spawn().await;
    let events = [
        ("msg_ada", simple_user("user.created", "user_ada", 100, "Ada", "ada@example.com")),
        ("msg_bob", simple_user("user.created", "user_bob", 100, "Bob", "bob@example.com")),
        ("msg_org_a", organization("organization.created", "org_a", "Org A", 100)),
        ("msg_org_b", organization("organization.created", "org_b", "Org B", 100)),
        ("msg_m1", joined("organizationMembership.created", "orgmem_1", "user_ada", "org_a", "org:admin", 200)),
        ("msg_m2", joined("organizationMembership.created", "orgmem_2", "user_ada", "org_b", "org:member", 200)),
        ("msg_m3", joined("organizationMembership.created", "orgmem_3", "user_bob", "org_b", "org:admin", 200)),
    ];
    for (id, event) in &events {
        stack.expect(id, event, "processed").await;
    }
    stack
}

async fn status(stack: &TestStack, token: Option<&str>, path: &str) -> clerk_sync_tests::Answer {
    let state = api_state(&stack.db.url, vec![]);
    api_answer(sync_status::handle(&state, api_request("GET", path, token, None)).await)
}

#[tokio::test]
async fn shows_the_caller_and_only_the_active_tenant() {
    let stack = two_tenants().await;
    let answer = status(&stack, Some(&token("user_ada", Some(("org_a", "org:admin")))), "/sync-status").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let body = &answer.body;
    assert_eq!(body["clerk"]["user_id"], "user_ada");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["verdicts"]["user"], "in_sync");
    assert_eq!(body["verdicts"]["organization"], "in_sync");
    assert_eq!(body["verdicts"]["membership"], "in_sync");
    assert_eq!(body["active_organization"]["role"], "org:admin");
    // No roles mirrored: an admin holds Clerk's documented system permissions.
    let permissions = body["active_organization"]["permissions"].as_array().unwrap();
    assert_eq!(permissions.len(), 8, "{permissions:?}");
    assert!(permissions.iter().all(|p| p.as_str().unwrap().starts_with("org:sys_")), "{permissions:?}");
    assert_eq!(body["organizations"].as_array().unwrap().len(), 2);
    let types: Vec<&str> =
        body["events"]["items"].as_array().unwrap().iter().map(|e| e["svix_id"].as_str().unwrap()).collect();
    // The caller, org A and the caller's membership in it; nothing about Bob or org B.
    let mut sorted = types.clone();
    sorted.sort();
    assert_eq!(sorted, ["msg_ada", "msg_m1", "msg_org_a"], "{types:?}");
    let text = body.to_string();
    assert!(!text.contains("bob") && !text.contains("msg_org_b"), "{text}");

    // The same at the root of a Function URL, and newest first.
    let root = status(&stack, Some(&token("user_ada", Some(("org_a", "org:admin")))), "/").await;
    assert_eq!(root.body["events"]["items"][0]["svix_id"], "msg_m1");
}

#[tokio::test]
async fn pages_through_events() {
    let stack = two_tenants().await;
    for i in 0..5 {
        let update = simple_user("user.updated", "user_ada", 300 + i, "Ada", "ada@example.com");
        stack.expect(&format!("msg_upd_{i}"), &update, "processed").await;
    }
    let t = token("user_ada", None);
    let first = status(&stack, Some(&t), "/sync-status?per_page=4").await;
    assert_eq!(first.body["events"]["items"].as_array().unwrap().len(), 4);
    assert_eq!(first.body["events"]["has_more"], true);
    let second = status(&stack, Some(&t), "/sync-status?per_page=4&page=2").await;
    assert_eq!(second.body["events"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(second.body["events"]["has_more"], false);
    // No active organization: verdicts say so, no tenant events.
    assert_eq!(first.body["verdicts"]["organization"], Value::Null);
}

#[tokio::test]
async fn missing_and_deleted_rows_are_reported() {
    let stack = two_tenants().await;
    let ghost = status(&stack, Some(&token("user_ghost", Some(("org_none", "org:admin")))), "/sync-status").await;
    assert_eq!(ghost.status, 200);
    assert_eq!(ghost.body["verdicts"]["user"], "missing");
    assert_eq!(ghost.body["verdicts"]["organization"], "missing");
    assert_eq!(ghost.body["verdicts"]["membership"], "missing");

    stack.expect("msg_del", &user_deleted("user_bob", 900), "processed").await;
    let bob = status(&stack, Some(&sign("k1", &v2_claims("user_bob", Some(("org_b", "org:admin"))))), "/").await;
    assert_eq!(bob.body["verdicts"]["user"], "deleted");
    assert_eq!(bob.body["organizations"].as_array().unwrap().len(), 0);
    // A deleted user sees no tenant events.
    assert!(bob.body["events"]["items"].as_array().unwrap().iter().all(|e| e["svix_id"] != "msg_org_b"));

    // Ada is not a member of an org she names: no name, no events of it.
    let stranger = status(&stack, Some(&token("user_bob_new", Some(("org_a", "org:admin")))), "/").await;
    assert_eq!(stranger.body["verdicts"]["organization"], "in_sync");
    assert_eq!(stranger.body["verdicts"]["membership"], "missing");
    assert_eq!(stranger.body["active_organization"]["name"], Value::Null);
}

#[tokio::test]
async fn unauthenticated_and_wrong_methods_are_refused() {
    let stack = two_tenants().await;
    let none = status(&stack, None, "/sync-status").await;
    assert_eq!((none.status, none.body["error"].as_str()), (401, Some("unauthenticated")));
    assert_eq!(none.body["reason"], "missing");
    let state = api_state(&stack.db.url, vec![]);
    let post = api_answer(sync_status::handle(&state, api_request("POST", "/sync-status", None, Some("{}"))).await);
    assert_eq!(post.status, 405);
    let elsewhere = status(&stack, Some(&token("user_ada", None)), "/sync-status/extra").await;
    assert_eq!(elsewhere.status, 404);
}

/// Tokens Clerk's own verifier refuses are refused here too, through the
/// real handler: 401 `unauthenticated`, the rule as a stable `reason`.
#[tokio::test]
async fn tokens_clerk_refuses_are_401_with_a_reason() {
    let stack = two_tenants().await;
    let now = clerk_sync_tests::now();
    let ada = || v1_claims("user_ada", Some(("org_a", "org:admin")));
    let header = |extra: Value| {
        let mut header = json!({"alg": "RS256", "kid": "ins_test_k1", "typ": "JWT"});
        header.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        header
    };
    let mut future = ada();
    future["iat"] = json!(now + 60);
    let mut skewed = ada();
    skewed["iat"] = json!(now + 3);

    let refused = [
        (sign("k1", &future), "issued_in_future"),
        (sign_with_header("k1", &header(json!({"cat": "cl_B7d4PD333AAA"})), &ada()), "machine_token"),
        (sign_with_header("k1", &header(json!({"typ": "at+jwt"})), &ada()), "machine_token"),
        (sign_with_header("k1", &header(json!({"typ": "JOSE"})), &ada()), "wrong_type"),
    ];
    for (token, reason) in &refused {
        let answer = status(&stack, Some(token), "/sync-status").await;
        assert_eq!(
            (answer.status, answer.body["error"].as_str(), answer.body["reason"].as_str()),
            (401, Some("unauthenticated"), Some(*reason)),
            "{answer:?}"
        );
    }
    // Within Clerk's 5 s skew, and with Clerk's session category: accepted.
    let session_cat = sign_with_header("k1", &header(json!({"cat": "cl_B7d4PD111AAA"})), &ada());
    for token in [sign("k1", &skewed), session_cat] {
        let answer = status(&stack, Some(&token), "/sync-status").await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body["clerk"]["user_id"], "user_ada");
    }
}

#[tokio::test]
async fn browsers_get_an_escaped_html_page() {
    let stack = two_tenants().await;
    stack
        .expect(
            "msg_xss",
            &simple_user("user.updated", "user_ada", 500, "<script>alert(1)</script>", "ada@example.com"),
            "processed",
        )
        .await;
    let state = api_state(&stack.db.url, vec![]);
    let mut request = api_request("GET", "/sync-status", Some(&token("user_ada", Some(("org_a", "org:admin")))), None);
    request.headers_mut().insert("accept", "text/html,application/xhtml+xml,*/*;q=0.8".parse().unwrap());
    let response = sync_status::handle(&state, request).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.body();
    assert!(html.contains("Clerk sync status") && html.contains("ada@example.com"));
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>alert"), "escaped");
}

/// A reconcile of the whole instance through the library, against the fake.
async fn reconcile_once(stack: &TestStack, fake: &FakeBackendApi, dry_run: bool) -> bool {
    let vars = Vars(vec![("CLERK_SECRET_KEY", FAKE_KEY.to_string()), ("CLERK_API_URL", fake.url())]);
    let mut config = BackendApiConfig::from_source(&vars).unwrap();
    config.retry = RetryPolicy {
        attempts: 1,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(5),
        attempt_timeout: Duration::from_secs(5),
        throttled_attempts: 1,
        max_retry_after: Duration::from_secs(1),
    };
    let api = BackendApi::new(config).unwrap();
    let pool = clerk_sync_tests::pool(&stack.db.url, 1);
    let client = pool.get().await.unwrap();
    let options = Options { dry_run, ..Options::new(Trigger::Schedule) };
    reconcile(&client, &api, &options, &Quiet).await.is_ok()
}

#[tokio::test]
async fn the_last_reconcile_shows_when_how_and_its_counts_and_nothing_else() {
    let stack = two_tenants().await;
    let ada = token("user_ada", Some(("org_a", "org:admin")));
    let html = |stack: &TestStack| {
        let state = api_state(&stack.db.url, vec![]);
        let mut request = api_request("GET", "/sync-status", Some(&ada), None);
        request.headers_mut().insert("accept", "text/html".parse().unwrap());
        async move { sync_status::handle(&state, request).await.body().clone() }
    };
    let before = status(&stack, Some(&ada), "/sync-status").await;
    assert_eq!(before.body["last_reconcile"], Value::Null, "{before:?}");
    assert!(html(&stack).await.contains("No reconcile has run yet."));

    // Clerk holds Ada, Bob and a newcomer; org A and org B; the same memberships.
    let fake = FakeBackendApi::start().await;
    let orgs = [fake_backend_api::organization("org_a", T0), fake_backend_api::organization("org_b", T0)];
    fake.set_users(vec![
        fake_backend_api::user("user_ada", T0, "ada@example.com"),
        fake_backend_api::user("user_bob", T0, "bob@example.com"),
        fake_backend_api::user("user_cara", T0, "cara@example.com"),
    ]);
    fake.set_memberships(vec![
        fake_backend_api::membership("orgmem_1", &orgs[0], "user_ada", "org:admin", T0),
        fake_backend_api::membership("orgmem_2", &orgs[1], "user_ada", "org:member", T0),
        fake_backend_api::membership("orgmem_3", &orgs[1], "user_bob", "org:admin", T0),
    ]);
    fake.set_organizations(orgs.to_vec());
    assert!(reconcile_once(&stack, &fake, false).await);

    let after = status(&stack, Some(&ada), "/sync-status").await;
    let last = &after.body["last_reconcile"];
    let keys: Vec<&String> = last.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "complete",
            "domains",
            "finished_at",
            "invitations",
            "memberships",
            "organizations",
            "permissions",
            "roles",
            "started_at",
            "state",
            "users"
        ],
        "counts and times only: {last}"
    );
    assert_eq!((&last["state"], &last["complete"]), (&json!("completed"), &json!(true)), "{last}");
    assert_eq!((last["users"]["seen"].as_u64(), last["users"]["created"].as_u64()), (Some(3), Some(1)), "{last}");
    assert_eq!(last["organizations"]["seen"], 2, "{last}");
    assert!(last["finished_at"].as_str().is_some_and(|at| at.ends_with('Z')), "{last}");
    assert!(!last.to_string().contains("cara") && !last.to_string().contains("org_"), "no ids: {last}");
    let page = html(&stack).await;
    assert!(page.contains("Last reconcile with Clerk") && page.contains(">completed</b>, complete"), "{page}");
    assert!(page.contains("<tr><th>Users</th><td>3</td><td>1</td>"), "{page}");

    // A dry run changes nothing, and is not what the page shows; a failed
    // run is, without its error.
    assert!(reconcile_once(&stack, &fake, true).await);
    let dry = status(&stack, Some(&ada), "/sync-status").await;
    assert_eq!(dry.body["last_reconcile"], *last, "a dry run is not the last reconcile");
    fake.fail_lists_after(0, 503, u32::MAX);
    assert!(!reconcile_once(&stack, &fake, false).await);
    let failed = status(&stack, Some(&ada), "/sync-status").await;
    assert_eq!(
        (&failed.body["last_reconcile"]["state"], &failed.body["last_reconcile"]["complete"]),
        (&json!("failed"), &json!(false))
    );
    assert!(!failed.body.to_string().contains("503"), "never the run's error: {:?}", failed.body);
    assert!(html(&stack).await.contains("<b class=\"bad\">failed</b>"));
}
