//! The Backend API client against the fake Backend API: settings, full
//! listings of each kind across pages, lenient decoding, `429` honoured,
//! `5xx` retried or reported as an incomplete listing, a wrong key, and the
//! pace never exceeding its limit in any window.

use std::time::{Duration, Instant};

use clerk_sync::{
    backend_api::{
        config::{self, BackendApiConfig, KeyKind, RATE_WINDOW},
        pace::Schedule,
        ApiError, BackendApi, RetryPolicy,
    },
    config::ConfigError,
    ids::{ClerkOrgId, ClerkUserId},
};
use clerk_sync_tests::{
    fake_backend_api::{membership, organization, user, FakeBackendApi, FAKE_KEY},
    Vars,
};
use serde_json::{json, Value};

/// Quick retries, so failure tests take milliseconds.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        attempt_timeout: Duration::from_secs(5),
        throttled_attempts: 4,
        max_retry_after: Duration::from_secs(3),
    }
}

fn settings(fake: &FakeBackendApi, key: &str) -> BackendApiConfig {
    let vars = Vars(vec![("CLERK_SECRET_KEY", key.to_string()), ("CLERK_API_URL", fake.url())]);
    let mut config = BackendApiConfig::from_source(&vars).expect("valid settings");
    config.page_size = 5;
    config.retry = fast_retry();
    config
}

fn client(fake: &FakeBackendApi) -> BackendApi {
    BackendApi::new(settings(fake, FAKE_KEY)).expect("client builds")
}

const T: i64 = 1_700_000_000_000;

fn users(n: usize) -> Vec<Value> {
    // Inserted newest first, so the listing's order is the server's work.
    (0..n).rev().map(|i| user(&format!("user_{i:03}"), T + i as i64, &format!("u{i}@example.test"))).collect()
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

fn expected_ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}_{i:03}")).collect()
}

fn from_vars(vars: Vec<(&'static str, &str)>) -> Result<BackendApiConfig, ConfigError> {
    BackendApiConfig::from_source(&Vars(vars.into_iter().map(|(k, v)| (k, v.to_string())).collect()))
}

#[test]
fn settings_default_pace_by_key_kind_and_url_rules() {
    let live = from_vars(vec![("CLERK_SECRET_KEY", "sk_live_abc")]).expect("live key");
    assert_eq!((live.key_kind, live.max_requests, live.window), (KeyKind::Live, 800, RATE_WINDOW));
    assert_eq!(live.base_url, "https://api.clerk.com");
    let test = from_vars(vec![("CLERK_SECRET_KEY", "sk_test_abc")]).expect("test key");
    assert_eq!((test.key_kind, test.max_requests), (KeyKind::Test, 80));

    // A setting may lower the pace, never raise it past the documented limit.
    let lower = from_vars(vec![("CLERK_SECRET_KEY", "sk_test_abc"), ("CLERK_API_MAX_REQUESTS_PER_10S", "30")]);
    assert_eq!(lower.expect("lower pace").max_requests, 30);
    let live_max = from_vars(vec![("CLERK_SECRET_KEY", "sk_live_abc"), ("CLERK_API_MAX_REQUESTS_PER_10S", "1000")]);
    assert_eq!(live_max.expect("the documented limit").max_requests, 1000);
    for raw in ["101", "0", "-1", "many"] {
        let err = from_vars(vec![("CLERK_SECRET_KEY", "sk_test_abc"), ("CLERK_API_MAX_REQUESTS_PER_10S", raw)])
            .expect_err(raw);
        assert_eq!(err.var(), "CLERK_API_MAX_REQUESTS_PER_10S", "{raw}: {err}");
    }

    for (url, base) in [
        ("https://api.clerk.com/", "https://api.clerk.com"),
        ("https://api.clerk.com/v1", "https://api.clerk.com"),
        ("https://proxy.example.test:8443/clerk/v1/", "https://proxy.example.test:8443/clerk"),
        ("http://127.0.0.1:9999", "http://127.0.0.1:9999"),
        ("http://127.8.9.10", "http://127.8.9.10"),
        ("http://[::1]:9999", "http://[::1]:9999"),
        ("http://localhost:9999", "http://localhost:9999"),
    ] {
        assert_eq!(config::api_url(url).expect(url), base, "{url}");
    }
    for url in [
        "http://api.clerk.com",
        "http://10.0.0.1",
        "http://localhost.example.test",
        "ftp://api.clerk.com",
        "https://user:pw@api.clerk.com",
        "api.clerk.com",
        "https://api.clerk.com/?x=1",
    ] {
        let err = config::api_url(url).expect_err(url);
        assert_eq!(err.var(), "CLERK_API_URL", "{url}");
    }

    // Missing key: the hint says how; an unresolved *_ARN says what is wrong.
    let missing = from_vars(vec![]).expect_err("no key");
    assert_eq!(missing.var(), "CLERK_SECRET_KEY");
    assert!(missing.to_string().contains("CLERK_SECRET_KEY_ARN"), "{missing}");
    let unresolved = from_vars(vec![("CLERK_SECRET_KEY_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:k")]);
    assert!(unresolved.expect_err("ARN alone").to_string().contains("not resolved"));

    // The key is never shown: not by Debug, not by an error about it.
    let secret = "sk_live_SuperSecretValue";
    let config = from_vars(vec![("CLERK_SECRET_KEY", secret)]).expect("valid");
    assert!(!format!("{config:?}").contains("SuperSecret"), "{config:?}");
    let bad = from_vars(vec![("CLERK_SECRET_KEY", "sk_live_Super Secret")]).expect_err("space in key");
    assert!(!format!("{bad} {bad:?}").contains("Super"), "{bad}");
}

/// Every window `[t, t + window)` of `starts` holds at most `max` of them.
fn assert_within(starts: &[Duration], max: usize, window: Duration) {
    let mut sorted = starts.to_vec();
    sorted.sort();
    for (i, start) in sorted.iter().enumerate() {
        let in_window = sorted[i..].iter().take_while(|s| **s < *start + window).count();
        assert!(in_window <= max, "{in_window} starts in the window from {start:?} (max {max})");
    }
}

#[test]
fn the_schedule_never_exceeds_its_limit_in_any_window_and_keeps_up() {
    let origin = tokio::time::Instant::now();
    for (max, arrivals) in [
        // A burst far beyond the limit.
        (5u32, vec![Duration::ZERO; 60]),
        // Steady arrivals faster than allowed, then a pause, then a burst.
        (
            100,
            (0..400).map(|i| Duration::from_millis(i * 20)).chain((0..300).map(|_| Duration::from_secs(30))).collect(),
        ),
        // Irregular arrivals: a fixed pseudo-random walk of 0–96 ms steps.
        (
            7,
            (0..500u64)
                .scan(0u64, |t, i| {
                    *t += (i * 7919) % 97;
                    Some(Duration::from_millis(*t))
                })
                .collect(),
        ),
    ] {
        let mut schedule = Schedule::new(max, RATE_WINDOW);
        let starts: Vec<Duration> =
            arrivals.iter().map(|arrival| schedule.reserve(origin + *arrival) - origin).collect();
        assert_within(&starts, max as usize, RATE_WINDOW);
        for (start, arrival) in starts.iter().zip(&arrivals) {
            assert!(start >= arrival, "never before it was asked for");
        }
    }
    // And no slower than the limit: a burst of 3 × max goes in 2 windows.
    let mut schedule = Schedule::new(10, RATE_WINDOW);
    let last = (0..30).map(|_| schedule.reserve(origin)).last().expect("30 starts");
    assert_eq!(last - origin, RATE_WINDOW * 2);
}

#[tokio::test]
async fn lists_every_user_across_pages_by_the_cursor() {
    let fake = FakeBackendApi::start().await;
    fake.set_users(users(23));
    let api = client(&fake);

    let mut listing = api.users();
    let mut seen = Vec::new();
    while let Some(page) = listing.next_page().await.expect("page") {
        assert!(page.len() <= 5);
        seen.extend(page);
    }
    assert!(listing.is_complete() && listing.is_exhaustive());
    assert_eq!((listing.pages(), listing.fetched()), (5, 23));
    assert_eq!(ids(&seen, |u| &u.id), expected_ids("user", 23), "oldest first, each once");
    assert_eq!(seen[3].primary_email(), Some("u3@example.test"), "the primary, not the first address");
    let record = seen[3].to_record().expect("a mirror record");
    assert_eq!((record.email.as_deref(), record.updated_ms), (Some("u3@example.test"), T + 3 + 5));

    let log = fake.log();
    assert_eq!(log.len(), 5);
    assert_eq!(log[0].param("starting_after"), None);
    assert_eq!(log[1].param("starting_after"), Some("user_004"));
    assert!(log.iter().all(|r| r.param("offset").is_none() && r.param("order_by") == Some("+created_at")));
    // Done means done.
    assert!(listing.next_page().await.expect("after the end").is_none());
    assert_eq!(fake.log().len(), 5);
}

#[tokio::test]
async fn a_user_listing_that_ends_on_a_full_page_asks_once_more() {
    let fake = FakeBackendApi::start().await;
    fake.set_users(users(10));
    let api = client(&fake);
    let mut listing = api.users();
    let mut n = 0;
    while let Some(page) = listing.next_page().await.expect("page") {
        n += page.len();
    }
    assert_eq!((n, listing.pages()), (10, 3), "the third page is empty");
}

#[tokio::test]
async fn lists_organizations_and_memberships_by_offset() {
    let fake = FakeBackendApi::start().await;
    let orgs: Vec<Value> = (0..12).rev().map(|i| organization(&format!("org_{i:03}"), T + i)).collect();
    let members: Vec<Value> = (0..7)
        .map(|i| {
            membership(&format!("orgmem_{i:03}"), &orgs[(i % 3) as usize], &format!("user_{i:03}"), "org:member", T + i)
        })
        .collect();
    fake.set_organizations(orgs);
    fake.set_memberships(members);
    let api = client(&fake);

    let mut listing = api.organizations();
    let mut seen = Vec::new();
    while let Some(page) = listing.next_page().await.expect("page") {
        seen.extend(page);
    }
    assert_eq!(ids(&seen, |o| &o.id), expected_ids("org", 12));
    assert!(listing.is_exhaustive());
    assert_eq!((listing.pages(), listing.total_count()), (3, Some(12)));
    let offsets: Vec<_> = fake.log().iter().map(|r| r.param("offset").unwrap_or("").to_string()).collect();
    assert_eq!(offsets, ["0", "5", "10"]);
    let record = seen[0].to_record().expect("a mirror record");
    assert_eq!((record.name.as_deref(), record.updated_ms), (Some("Org org_000"), Some(T + 7)));

    let mut listing = api.memberships();
    let mut seen = Vec::new();
    while let Some(page) = listing.next_page().await.expect("page") {
        seen.extend(page);
    }
    assert_eq!(ids(&seen, |m| &m.id), expected_ids("orgmem", 7));
    assert!(listing.is_exhaustive());
    let record = seen[4].to_record().expect("a mirror record");
    assert_eq!(record.member.user_id.as_str(), "user_004");
    assert_eq!(record.organization.id.as_str(), "org_010", "orgs[1] holds org_010 (inserted newest first)");
    assert_eq!((record.role.as_str(), record.event_ms), ("org:member", T + 4 + 3));
    assert_eq!(record.member.email.as_deref(), Some("user_004@example.test"));

    // One organization's memberships.
    let mut listing = api.organization_memberships(&ClerkOrgId::parse("org_011").expect("id"));
    let page = listing.next_page().await.expect("page").expect("one page");
    assert_eq!(ids(&page, |m| &m.id), ["orgmem_000", "orgmem_003", "orgmem_006"]);
    assert!(listing.is_complete());
}

#[tokio::test]
async fn an_offset_listing_that_shifted_under_deletions_says_so() {
    let fake = FakeBackendApi::start().await;
    fake.set_organizations((0..10).map(|i| organization(&format!("org_{i:03}"), T + i)).collect());
    let api = client(&fake);
    let mut listing = api.organizations();
    let first = listing.next_page().await.expect("page").expect("first page");
    assert_eq!(first.len(), 5);
    fake.remove("org_001");
    let mut rest = Vec::new();
    while let Some(page) = listing.next_page().await.expect("page") {
        rest.extend(page);
    }
    // org_005 moved to offset 4, behind the walk: missed, and the listing says so.
    assert_eq!(ids(&rest, |o| &o.id), ["org_006", "org_007", "org_008", "org_009"]);
    assert!(listing.is_complete() && listing.drifted() && !listing.is_exhaustive());
}

#[tokio::test]
async fn fetches_one_user_organization_or_membership() {
    let fake = FakeBackendApi::start().await;
    let org = organization("org_a", T);
    fake.set_users(users(2));
    fake.set_organizations(vec![org.clone(), organization("org_b", T + 1)]);
    fake.set_memberships(vec![
        membership("orgmem_1", &org, "user_001", "org:admin", T),
        membership("orgmem_2", &org, "user_000", "org:member", T),
    ]);
    let api = client(&fake);
    let uid = |s: &str| ClerkUserId::parse(s).expect("user id");
    let oid = |s: &str| ClerkOrgId::parse(s).expect("org id");

    let found = api.get_user(&uid("user_001")).await.expect("get").expect("found");
    assert_eq!(found.primary_email(), Some("u1@example.test"));
    assert_eq!(api.get_user(&uid("user_gone")).await.expect("404 is an answer"), None);
    assert_eq!(api.get_organization(&oid("org_b")).await.expect("get").expect("found").id, "org_b");
    assert_eq!(api.get_organization(&oid("org_gone")).await.expect("404"), None);
    let m = api.get_membership(&oid("org_a"), &uid("user_001")).await.expect("get").expect("a member");
    assert_eq!((m.id.as_str(), m.role.as_deref()), ("orgmem_1", Some("org:admin")));
    assert_eq!(api.get_membership(&oid("org_b"), &uid("user_001")).await.expect("get"), None);
    assert_eq!(api.get_membership(&oid("org_gone"), &uid("user_001")).await.expect("get"), None);
    // Ids that need escaping stay one path segment.
    assert_eq!(api.get_user(&uid("user_a/../b?x")).await.expect("get"), None);
    assert!(fake.log().iter().any(|r| r.path == "/v1/users/user_a%2F..%2Fb%3Fx"), "{:?}", fake.log());
}

#[tokio::test]
async fn decoding_is_lenient_about_fields_clerk_adds_drops_or_nulls() {
    let fake = FakeBackendApi::start().await;
    let mut full = user("user_full", T, "full@example.test");
    full["brand_new_field"] = json!({"nested": [1, 2, 3]});
    full["object"] = json!("user_v2");
    full["banned"] = Value::Null;
    fake.set_users(vec![
        full,
        json!({"id": "user_minimal", "created_at": T + 1}),
        json!({"no_id": true, "created_at": T + 1}),
        json!({"id": "user_nulls", "created_at": T + 2, "first_name": null, "last_name": null, "image_url": null,
               "email_addresses": null, "primary_email_address_id": null, "updated_at": null}),
        json!({"id": "user_odd_types", "created_at": T + 3, "first_name": 42, "email_addresses": [7, {"id": 1}, {"id": "idn_x", "email_address": "x@example.test"}],
               "primary_email_address_id": "idn_x", "updated_at": "yesterday"}),
    ]);
    fake.set_organizations(vec![
        json!({"id": "org_min", "created_at": T}),
        json!({"id": "org_nulls", "created_at": T + 1, "name": null, "slug": null, "members_count": null, "extra": [1]}),
        json!({"id": 5, "created_at": T + 2}),
    ]);
    fake.set_memberships(vec![
        json!({"id": "orgmem_min", "created_at": T}),
        json!({"id": "orgmem_odd", "created_at": T + 1, "organization": {"no": "id"}, "public_user_data": null, "permissions": "all"}),
    ]);
    let api = client(&fake);

    let mut listing = api.users();
    let mut page = Vec::new();
    while let Some(more) = listing.next_page().await.expect("an odd page still reads") {
        page.extend(more);
    }
    assert_eq!(ids(&page, |u| &u.id), ["user_full", "user_minimal", "user_nulls", "user_odd_types"]);
    assert_eq!(page[0].primary_email(), Some("full@example.test"));
    assert_eq!((page[1].first_name.as_deref(), page[1].email_addresses.len()), (None, 0));
    assert_eq!((page[2].first_name.as_deref(), page[2].updated_at), (None, None));
    assert_eq!((page[3].first_name.as_deref(), page[3].updated_at), (None, None));
    assert_eq!(page[3].primary_email(), Some("x@example.test"), "the readable address of three");
    assert!(page[1].to_record().is_err(), "no updated_at: not a record, but not a failed page either");
    assert!(listing.is_complete());
    assert_eq!(listing.skipped(), ["?"], "the item without an id");
    assert!(!listing.is_exhaustive(), "an unreadable item: absence proves nothing");

    let mut listing = api.organizations();
    let page = listing.next_page().await.expect("page").expect("page");
    assert_eq!(ids(&page, |o| &o.id), ["org_min", "org_nulls"]);
    assert_eq!(listing.skipped(), ["?"], "a numeric id is no id");

    let mut listing = api.memberships();
    let page = listing.next_page().await.expect("page").expect("page");
    assert_eq!(ids(&page, |m| &m.id), ["orgmem_min", "orgmem_odd"]);
    assert_eq!((page[1].organization.as_ref(), page[1].permissions.len()), (None, 0));
    assert!(listing.is_exhaustive());
}

#[tokio::test]
async fn a_429_is_waited_out_for_its_retry_after() {
    let fake = FakeBackendApi::start().await;
    fake.set_users(users(3));
    fake.throttle_next(1, "1");
    let api = client(&fake);
    let started = Instant::now();
    let page = api.users().next_page().await.expect("answered after the wait").expect("page");
    assert_eq!(page.len(), 3);
    let log = fake.log();
    assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), [429, 200]);
    assert!(log[1].at - log[0].at >= Duration::from_secs(1), "waited {:?}", log[1].at - log[0].at);
    assert!(started.elapsed() < Duration::from_secs(3));

    // Throttled for good: a clear, transient error after the allowed waits.
    fake.throttle_next(u32::MAX, "0");
    let err = api.users().next_page().await.expect_err("still throttled");
    assert!(matches!(err, ApiError::Throttled { attempts: 4, .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_5xx_part_way_through_a_listing_is_retried() {
    let fake = FakeBackendApi::start().await;
    fake.set_users(users(12));
    // Page 1 answers; the next two list requests fail (two attempts at
    // page 2); the third attempt answers.
    fake.fail_lists_after(1, 503, 2);
    let api = client(&fake);
    let mut listing = api.users();
    let mut seen = Vec::new();
    while let Some(page) = listing.next_page().await.expect("retried to success") {
        seen.extend(page);
    }
    assert_eq!(ids(&seen, |u| &u.id), expected_ids("user", 12));
    assert!(listing.is_exhaustive());
    let statuses: Vec<u16> = fake.log().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 503, 503, 200, 200]);
}

#[tokio::test]
async fn persistent_5xx_leaves_the_listing_incomplete_and_resumable() {
    let fake = FakeBackendApi::start().await;
    fake.set_organizations((0..12).map(|i| organization(&format!("org_{i:03}"), T + i)).collect());
    fake.fail_lists_after(1, 500, u32::MAX);
    let api = client(&fake);
    let mut listing = api.organizations();
    assert_eq!(listing.next_page().await.expect("first page").expect("page").len(), 5);
    let err = listing.next_page().await.expect_err("Clerk is down");
    assert!(matches!(err, ApiError::Unavailable { attempts: 3, .. }), "{err}");
    assert!(err.to_string().contains("500"), "{err}");
    assert!(err.is_transient());
    assert!(!listing.is_complete() && !listing.is_exhaustive());
    assert_eq!(listing.fetched(), 5);

    // Clerk recovers: the same listing goes on from where it stopped.
    fake.clear_failures();
    let mut rest = Vec::new();
    while let Some(page) = listing.next_page().await.expect("recovered") {
        rest.extend(page);
    }
    assert_eq!(ids(&rest, |o| &o.id), expected_ids("org", 12)[5..]);
    assert!(listing.is_exhaustive());
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let fake = FakeBackendApi::start().await;
    fake.set_users(users(1));
    fake.set_latency(Duration::from_millis(400));
    let mut config = settings(&fake, FAKE_KEY);
    config.retry.attempt_timeout = Duration::from_millis(100);
    let api = BackendApi::new(config).expect("client");
    let err = api.get_user(&ClerkUserId::parse("user_000").expect("id")).await.expect_err("too slow");
    assert!(matches!(err, ApiError::Unavailable { attempts: 3, .. }), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(fake.log().len(), 3);
}

#[tokio::test]
async fn a_wrong_key_is_a_clear_error_without_the_key() {
    let fake = FakeBackendApi::start().await;
    fake.set_users(users(3));
    let wrong = "sk_test_ThisIsTheWrongKey42";
    let api = BackendApi::new(settings(&fake, wrong)).expect("client");
    let err = api.users().next_page().await.expect_err("refused");
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err}");
    let text = format!("{err} / {err:?} / {api:?}");
    assert!(text.contains("401") && text.contains("secret key"), "{text}");
    assert!(!text.contains("ThisIsTheWrongKey"), "{text}");
    assert!(!err.is_transient());
    assert_eq!(fake.log().len(), 1, "a refused key is not retried");
}

#[tokio::test]
async fn the_pace_never_exceeds_the_limit_in_any_window() {
    // The window scaled from 10 s to 1 s: 4 requests per second, 14 requests
    // (13 users one per page, and the empty page that ends it).
    let fake = FakeBackendApi::start().await;
    fake.set_users(users(13));
    let mut config = settings(&fake, FAKE_KEY);
    config.page_size = 1;
    config.max_requests = 4;
    config.window = Duration::from_secs(1);
    let api = BackendApi::new(config).expect("client");
    let started = Instant::now();
    let mut listing = api.users();
    // A second caller on the same client shares the pace.
    let (listed, fetched) = tokio::join!(
        async {
            let mut n = 0;
            while let Some(page) = listing.next_page().await.expect("page") {
                n += page.len();
            }
            n
        },
        async {
            let mut n = 0;
            for i in 0..4 {
                n += usize::from(
                    api.get_user(&ClerkUserId::parse(&format!("user_{i:03}")).expect("id"))
                        .await
                        .expect("get")
                        .is_some(),
                );
            }
            n
        }
    );
    assert_eq!((listed, fetched), (13, 4));
    let log = fake.log();
    assert_eq!(log.len(), 18);
    // Arrival times at the server, with 100 ms for jitter: the pacer spaces
    // starts exactly (the schedule test above proves that); the server sees
    // them later, unevenly, the more so on a machine busy with other tests.
    let arrivals: Vec<Duration> = log.iter().map(|r| r.at - log[0].at).collect();
    assert_within(&arrivals, 4, Duration::from_millis(900));
    // 18 requests at 4 per second: the 17th cannot start before 4 s.
    assert!(started.elapsed() >= Duration::from_secs(4), "{:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}
