//! Convergence rules, one by one, with Clerk-shaped payloads.

use clerk_sync_tests::{
    clerk::{
        email, membership, organization, organization_deleted, sample, simple_user, user, user_deleted, Membership, T0,
    },
    TestStack,
};
use serde_json::{json, Value};

const ADA: &str = "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs";
const ACME: &str = "org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF";

async fn one(stack: &TestStack, sql: &str) -> Value {
    let rows = stack.db.rows(sql).await;
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows.into_iter().next().unwrap()
}

fn member<'a>(event_type: &'a str, id: &'a str, role: &'a str, updated_ms: i64, timestamp: i64) -> Membership<'a> {
    Membership {
        event_type,
        id,
        org_id: "org_acme",
        org_name: "Acme",
        org_updated_ms: 1_000,
        user_id: "user_ada",
        first_name: "Ada",
        identifier: "ada@example.com",
        role,
        updated_ms,
        timestamp,
    }
}

#[tokio::test]
async fn sample_events_sync_in_order() {
    let stack = TestStack::spawn().await;
    for name in [
        "user.created",
        "organization.created",
        "organizationMembership.created",
        "user.updated",
        "organization.updated",
        "organizationMembership.updated",
    ] {
        stack.expect(&format!("msg_{name}"), &sample(&format!("{name}.json")), "processed").await;
    }
    let ada = one(
        &stack,
        &format!("SELECT email, first_name, last_name, deleted_at FROM users WHERE clerk_user_id = '{ADA}'"),
    )
    .await;
    // The primary email is the second entry, not the first.
    assert_eq!(ada, json!({"email": "ada@example.com", "first_name": "Ada", "last_name": "King", "deleted_at": null}));
    let acme = one(&stack, &format!("SELECT name, slug FROM organization WHERE clerk_org_id = '{ACME}'")).await;
    assert_eq!(acme, json!({"name": "Acme Analytics EU", "slug": "acme-analytics"}));
    let m = one(&stack, "SELECT role, deleted_at FROM user_organizations").await;
    assert_eq!(m, json!({"role": "org:member", "deleted_at": null}));

    for name in ["organizationMembership.deleted", "user.deleted", "organization.deleted"] {
        stack.expect(&format!("msg_{name}"), &sample(&format!("{name}.json")), "processed").await;
    }
    let ada =
        one(&stack, "SELECT email, first_name, last_name, image_url, deleted_at IS NOT NULL AS deleted FROM users")
            .await;
    assert_eq!(ada, json!({"email": null, "first_name": null, "last_name": null, "image_url": null, "deleted": true}));
    let acme = one(&stack, "SELECT name, deleted_at IS NOT NULL AS deleted FROM organization").await;
    assert_eq!(acme, json!({"name": "Acme Analytics EU", "deleted": true}));
    assert_eq!(one(&stack, "SELECT deleted_at IS NOT NULL AS ended FROM user_organizations").await["ended"], true);
}

#[tokio::test]
async fn phone_only_user_has_no_email() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_phone", &sample("user.created.phone-only.json"), "processed").await;
    let grace = one(&stack, "SELECT email, first_name FROM users").await;
    assert_eq!(grace, json!({"email": null, "first_name": "Grace"}));
}

#[tokio::test]
async fn the_primary_email_is_the_one_its_id_names() {
    let stack = TestStack::spawn().await;
    let emails = vec![email("idn_a", "first@example.com"), email("idn_b", "primary@example.com")];
    stack
        .expect(
            "msg_1",
            &user("user.created", "user_x", 10, (Some("X"), None), emails.clone(), Some("idn_b")),
            "processed",
        )
        .await;
    assert_eq!(one(&stack, "SELECT email FROM users").await["email"], "primary@example.com");
    // The primary changes: a newer update switches it.
    stack
        .expect("msg_2", &user("user.updated", "user_x", 20, (Some("X"), None), emails, Some("idn_a")), "processed")
        .await;
    assert_eq!(one(&stack, "SELECT email FROM users").await["email"], "first@example.com");
}

#[tokio::test]
async fn an_older_update_is_stale_whatever_the_arrival_order() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_new", &simple_user("user.updated", "user_x", 200, "Renamed", "x@example.com"), "processed").await;
    stack.expect("msg_old", &simple_user("user.created", "user_x", 100, "Original", "x@example.com"), "stale").await;
    assert_eq!(one(&stack, "SELECT first_name FROM users").await["first_name"], "Renamed");
    // Both events are recorded.
    assert_eq!(stack.db.count("clerk_webhook_events").await, 2);
}

#[tokio::test]
async fn a_delete_is_final_and_scrubs_personal_data() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_c", &simple_user("user.created", "user_x", 100, "X", "x@example.com"), "processed").await;
    stack.expect("msg_d", &user_deleted("user_x", 150), "processed").await;
    // A late update, even one newer than the delete, never brings it back.
    stack.expect("msg_u", &simple_user("user.updated", "user_x", 120, "Late", "x@example.com"), "stale").await;
    stack.expect("msg_u2", &simple_user("user.updated", "user_x", 999, "Later", "x@example.com"), "stale").await;
    let row = one(&stack, "SELECT email, first_name, last_name, image_url, (extract(epoch FROM deleted_at) * 1000)::bigint AS deleted_ms FROM users").await;
    assert_eq!(
        row,
        json!({"email": null, "first_name": null, "last_name": null, "image_url": null, "deleted_ms": T0 + 150})
    );
}

#[tokio::test]
async fn a_delete_before_the_create_leaves_a_tombstone() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_d", &user_deleted("user_x", 150), "processed").await;
    stack.expect("msg_c", &simple_user("user.created", "user_x", 100, "X", "x@example.com"), "stale").await;
    let row = one(&stack, "SELECT email, first_name, deleted_at IS NOT NULL AS deleted FROM users").await;
    assert_eq!(row, json!({"email": null, "first_name": null, "deleted": true}));
}

#[tokio::test]
async fn organization_rename_and_late_data_after_delete() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_d", &organization_deleted("org_x", 500), "processed").await;
    stack.expect("msg_c", &organization("organization.created", "org_x", "First", 100), "processed").await;
    stack.expect("msg_u", &organization("organization.updated", "org_x", "Renamed", 200), "processed").await;
    stack.expect("msg_c2", &organization("organization.created", "org_x", "First", 100), "stale").await;
    let row = one(&stack, "SELECT name, slug, deleted_at IS NOT NULL AS deleted FROM organization").await;
    // Deleted stays deleted; the name converges to the newest data.
    assert_eq!(row, json!({"name": "Renamed", "slug": "renamed", "deleted": true}));
}

#[tokio::test]
async fn a_membership_before_its_user_and_organization_creates_placeholders() {
    let stack = TestStack::spawn().await;
    stack
        .expect(
            "msg_m",
            &membership(&member("organizationMembership.created", "orgmem_1", "org:admin", 300, 305)),
            "processed",
        )
        .await;
    let placeholder = one(&stack, "SELECT clerk_user_id, email, first_name, last_name FROM users").await;
    assert_eq!(
        placeholder,
        json!({"clerk_user_id": "user_ada", "email": "ada@example.com", "first_name": "Ada", "last_name": "Member"})
    );
    assert_eq!(one(&stack, "SELECT name FROM organization").await["name"], "Acme");
    assert_eq!(
        one(&stack, "SELECT role, deleted_at FROM user_organizations").await,
        json!({"role": "org:admin", "deleted_at": null})
    );

    // The real events fill the placeholders in, even though they are older
    // than the membership.
    stack
        .expect("msg_u", &simple_user("user.created", "user_ada", 100, "Augusta", "augusta@example.com"), "processed")
        .await;
    let stack_org = organization("organization.created", "org_acme", "Acme Corp", 2_000);
    stack.expect("msg_o", &stack_org, "processed").await;
    // A later placeholder never overwrites real data; the older nested org changes nothing.
    stack
        .expect(
            "msg_m2",
            &membership(&member("organizationMembership.updated", "orgmem_1", "org:member", 400, 405)),
            "processed",
        )
        .await;
    let ada = one(&stack, "SELECT email, first_name, last_name FROM users").await;
    assert_eq!(ada, json!({"email": "augusta@example.com", "first_name": "Augusta", "last_name": "Test"}));
    assert_eq!(one(&stack, "SELECT name FROM organization").await["name"], "Acme Corp");
    assert_eq!(one(&stack, "SELECT role FROM user_organizations").await["role"], "org:member");
}

#[tokio::test]
async fn the_nested_organization_never_touches_fields_it_lacks() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_o", &organization("organization.created", "org_acme", "Acme", 500), "processed").await;
    let client = stack.db.connect().await;
    client
        .execute(
            "UPDATE organization SET stripe_customer_id = 'cus_123', stripe_subscription_status = 'active',
             stripe_subscription_current_period_end = 1800000000",
            &[],
        )
        .await
        .unwrap();
    let mut newer = member("organizationMembership.created", "orgmem_1", "org:admin", 900, 905);
    newer.org_updated_ms = 800;
    newer.org_name = "Acme Renamed";
    stack.expect("msg_m", &membership(&newer), "processed").await;
    let row = one(&stack, "SELECT name, stripe_customer_id, stripe_subscription_status, stripe_subscription_current_period_end FROM organization").await;
    assert_eq!(
        row,
        json!({"name": "Acme Renamed", "stripe_customer_id": "cus_123", "stripe_subscription_status": "active",
               "stripe_subscription_current_period_end": 1_800_000_000})
    );
}

#[tokio::test]
async fn role_change_removal_and_re_add() {
    let stack = TestStack::spawn().await;
    let created = member("organizationMembership.created", "orgmem_1", "org:admin", 100, 105);
    let updated = member("organizationMembership.updated", "orgmem_1", "org:member", 200, 205);
    let deleted = member("organizationMembership.deleted", "orgmem_1", "org:member", 200, 300);
    let re_added = member("organizationMembership.created", "orgmem_2", "org:admin", 400, 405);
    stack.expect("msg_c", &membership(&created), "processed").await;
    stack.expect("msg_u", &membership(&updated), "processed").await;
    assert_eq!(one(&stack, "SELECT role FROM user_organizations").await["role"], "org:member");
    stack.expect("msg_d", &membership(&deleted), "processed").await;
    assert_eq!(one(&stack, "SELECT deleted_at IS NOT NULL AS ended FROM user_organizations").await["ended"], true);
    // A stale create never reactivates it.
    stack.expect("msg_c", &membership(&created), "duplicate").await;
    stack.expect("msg_c_resent", &membership(&created), "stale").await;
    assert_eq!(one(&stack, "SELECT deleted_at IS NOT NULL AS ended FROM user_organizations").await["ended"], true);
    // A newer re-add does, with its new role and id.
    stack.expect("msg_r", &membership(&re_added), "processed").await;
    let row = one(&stack, "SELECT role, clerk_membership_id, deleted_at FROM user_organizations").await;
    assert_eq!(row, json!({"role": "org:admin", "clerk_membership_id": "orgmem_2", "deleted_at": null}));
    // And the late removal of the old membership does not end the new one.
    stack.expect("msg_d_resent", &membership(&deleted), "stale").await;
    assert_eq!(one(&stack, "SELECT deleted_at FROM user_organizations").await["deleted_at"], Value::Null);
}

#[tokio::test]
async fn deleting_a_user_or_organization_ends_its_memberships_in_either_order() {
    for user_delete_first in [false, true] {
        let stack = TestStack::spawn().await;
        let m = membership(&member("organizationMembership.created", "orgmem_1", "org:admin", 100, 105));
        let del = user_deleted("user_ada", 500);
        if user_delete_first {
            stack.expect("msg_d", &del, "processed").await;
            stack.expect("msg_m", &m, "processed").await;
        } else {
            stack.expect("msg_m", &m, "processed").await;
            stack.expect("msg_d", &del, "processed").await;
        }
        let row =
            one(&stack, "SELECT (extract(epoch FROM deleted_at) * 1000)::bigint AS ended_ms FROM user_organizations")
                .await;
        assert_eq!(row["ended_ms"], T0 + 500, "user delete first: {user_delete_first}");
    }
    let stack = TestStack::spawn().await;
    stack
        .expect(
            "msg_m",
            &membership(&member("organizationMembership.created", "orgmem_1", "org:admin", 100, 105)),
            "processed",
        )
        .await;
    stack.expect("msg_od", &organization_deleted("org_acme", 700), "processed").await;
    let row =
        one(&stack, "SELECT (extract(epoch FROM deleted_at) * 1000)::bigint AS ended_ms FROM user_organizations").await;
    assert_eq!(row["ended_ms"], T0 + 700);
}

#[tokio::test]
async fn other_families_and_unknown_types_are_recorded_as_ignored() {
    let stack = TestStack::spawn().await;
    // An organization event sent to the users function.
    let org_event = organization("organization.created", "org_x", "X", 100);
    let body = stack.users_deliver("msg_wrong_fn", &org_event).await;
    assert_eq!(body["status"], "ignored");
    for (id, payload) in [
        ("msg_session", sample("session.created.json")),
        ("msg_email", sample("email.created.json")),
        ("msg_future", json!({"type": "user.teleported", "object": "event", "timestamp": 1, "data": {"id": "user_x"}})),
        ("msg_billing", json!({"type": "subscription.created", "data": {"id": "sub_1"}, "timestamp": 1})),
        ("msg_no_data", json!({"type": "waitlistEntry.created"})),
    ] {
        stack.expect(id, &payload, "ignored").await;
    }
    assert_eq!(stack.db.count("users").await + stack.db.count("organization").await, 0);
    let statuses = stack.db.rows("SELECT DISTINCT status FROM clerk_webhook_events").await;
    assert_eq!(statuses, vec![json!({"status": "ignored"})]);
    assert_eq!(stack.db.count("clerk_webhook_events").await, 6);
}

#[tokio::test]
async fn data_that_cannot_be_understood_is_recorded_as_failed_and_answered_2xx() {
    let stack = TestStack::spawn().await;
    let cases = [
        ("msg_no_id", json!({"type": "user.created", "timestamp": 5, "data": {"object": "user", "updated_at": 5}})),
        ("msg_bad_id", json!({"type": "user.created", "timestamp": 5, "data": {"id": "org_wrong", "updated_at": 5}})),
        ("msg_no_time", json!({"type": "user.updated", "data": {"id": "user_x", "first_name": "X"}})),
        ("msg_delete_no_time", json!({"type": "user.deleted", "data": {"id": "user_x", "deleted": true}})),
        ("msg_no_data", json!({"type": "organization.updated", "timestamp": 5})),
        (
            "msg_bad_member",
            json!({"type": "organizationMembership.created", "timestamp": 5, "data": {"id": "orgmem_1", "role": "org:admin"}}),
        ),
        (
            "msg_wild_time",
            json!({"type": "user.created", "timestamp": 5, "data": {"id": "user_x", "updated_at": i64::MAX}}),
        ),
    ];
    for (id, payload) in &cases {
        let answer = stack.expect(id, payload, "failed").await;
        assert!(answer.body["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    let failed = stack.db.rows("SELECT svix_id, last_error FROM clerk_webhook_events WHERE status = 'failed'").await;
    assert_eq!(failed.len(), cases.len());
    assert!(failed.iter().all(|r| r["last_error"].as_str().is_some_and(|e| !e.is_empty())));
    assert_eq!(stack.db.count("users").await, 0);
}

#[tokio::test]
async fn a_body_postgres_cannot_store_as_jsonb_is_kept_as_text_and_failed() {
    let stack = TestStack::spawn().await;
    // Valid JSON, but jsonb refuses the \u0000 escape.
    let body =
        r#"{"type":"user.created","timestamp":5,"data":{"id":"user_nul","first_name":"a\u0000b","updated_at":5}}"#;
    let answer = stack.deliver_raw(&stack.users, "msg_nul", body).await;
    assert_eq!((answer.status, answer.body["status"].as_str()), (200, Some("failed")), "{answer:?}");
    let row =
        one(&stack, "SELECT status, jsonb_typeof(payload) AS kind, payload #>> '{}' AS text FROM clerk_webhook_events")
            .await;
    assert_eq!(row["status"], "failed");
    assert_eq!(row["kind"], "string");
    assert_eq!(row["text"], body);
    assert_eq!(stack.db.count("users").await, 0);
}

#[tokio::test]
async fn membership_roles_are_kept_verbatim() {
    let stack = TestStack::spawn().await;
    let custom = member("organizationMembership.created", "orgmem_1", "org:billing_manager", 100, 105);
    stack.expect("msg_1", &membership(&custom), "processed").await;
    let legacy = Membership {
        user_id: "user_old",
        identifier: "+15550100",
        ..member("organizationMembership.created", "orgmem_2", "basic_member", 100, 105)
    };
    stack.expect("msg_2", &membership(&legacy), "processed").await;
    let roles = stack
        .db
        .rows("SELECT u.email, m.role FROM user_organizations m JOIN users u ON u.id = m.user_id ORDER BY m.role")
        .await;
    // A phone identifier is not taken for an email.
    assert_eq!(
        roles,
        vec![
            json!({"email": null, "role": "basic_member"}),
            json!({"email": "ada@example.com", "role": "org:billing_manager"})
        ]
    );
}

/// Every order of `events`, each delivered to a fresh stack.
fn orders(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for rest in orders(n - 1) {
        for at in 0..=rest.len() {
            let mut order = rest.clone();
            order.insert(at, n - 1);
            all.push(order);
        }
    }
    all
}

#[tokio::test]
async fn a_removed_membership_is_never_reactivated_by_a_late_update() {
    // Clerk's own Dashboard samples: an update of the same membership id
    // carrying a later updated_at than its removal.
    let created = membership(&member("organizationMembership.created", "orgmem_1", "org:admin", 100, 105));
    let removed = membership(&member("organizationMembership.deleted", "orgmem_1", "org:admin", 100, 300));
    let late = membership(&member("organizationMembership.updated", "orgmem_1", "org:member", 400, 405));
    let events = [created, removed, late];
    for order in orders(events.len()) {
        let stack = TestStack::spawn().await;
        for &i in &order {
            let answer = stack.deliver(&format!("msg_{i}"), &events[i]).await;
            assert_eq!(answer.status, 200, "{answer:?}");
        }
        let row = one(
            &stack,
            "SELECT role, clerk_membership_id, (extract(epoch FROM deleted_at) * 1000)::bigint AS ended_ms
             FROM user_organizations",
        )
        .await;
        assert_eq!(
            row,
            json!({"role": "org:admin", "clerk_membership_id": "orgmem_1", "ended_ms": T0 + 300}),
            "{order:?}"
        );
    }
    // Delivered after the removal, the late update changes nothing.
    let stack = TestStack::spawn().await;
    stack.expect("msg_0", &events[0], "processed").await;
    stack.expect("msg_1", &events[1], "processed").await;
    stack.expect("msg_2", &events[2], "stale").await;
}

#[tokio::test]
async fn only_a_new_membership_id_brings_a_removed_member_back() {
    let events = [
        membership(&member("organizationMembership.created", "orgmem_1", "org:admin", 100, 105)),
        membership(&member("organizationMembership.deleted", "orgmem_1", "org:admin", 100, 300)),
        membership(&member("organizationMembership.created", "orgmem_2", "org:member", 500, 505)),
        // A late update of the removed id, newer than the re-add.
        membership(&member("organizationMembership.updated", "orgmem_1", "org:admin", 600, 605)),
    ];
    for order in orders(events.len()) {
        let stack = TestStack::spawn().await;
        for &i in &order {
            let answer = stack.deliver(&format!("msg_{i}"), &events[i]).await;
            assert_eq!(answer.status, 200, "{answer:?}");
        }
        let row = one(&stack, "SELECT role, clerk_membership_id, deleted_at FROM user_organizations").await;
        assert_eq!(
            row,
            json!({"role": "org:member", "clerk_membership_id": "orgmem_2", "deleted_at": null}),
            "{order:?}"
        );
    }
}

#[tokio::test]
async fn a_stale_event_is_recorded_as_stale_and_never_replayed() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_new", &simple_user("user.updated", "user_x", 200, "Renamed", "x@example.com"), "processed").await;
    stack.expect("msg_old", &simple_user("user.created", "user_x", 100, "Original", "x@example.com"), "stale").await;
    let removal = membership(&member("organizationMembership.deleted", "orgmem_1", "org:admin", 100, 300));
    let re_add = membership(&member("organizationMembership.created", "orgmem_2", "org:admin", 500, 505));
    stack.expect("msg_re_add", &re_add, "processed").await;
    // A removal of the old id, older than the re-add: the member keeps
    // access, and the record says the removal changed nothing.
    stack.expect("msg_removal", &removal, "stale").await;
    let statuses = stack.db.rows("SELECT svix_id, status FROM clerk_webhook_events ORDER BY svix_id").await;
    assert_eq!(
        statuses,
        [
            json!({"svix_id": "msg_new", "status": "processed"}),
            json!({"svix_id": "msg_old", "status": "stale"}),
            json!({"svix_id": "msg_re_add", "status": "processed"}),
            json!({"svix_id": "msg_removal", "status": "stale"}),
        ]
    );
    // The operator's view counts them as stale; replay leaves them alone.
    let pool = clerk_sync_tests::pool(&stack.db.url, 1);
    let client = pool.get().await.unwrap();
    let overview = clerk_sync::sync::overview::overview(&client, 10).await.unwrap();
    let stale: i64 = overview.events_by_type_and_status.iter().filter(|c| c.status == "stale").map(|c| c.count).sum();
    assert_eq!(stale, 2);
    assert_eq!(one(&stack, "SELECT deleted_at FROM user_organizations").await["deleted_at"], Value::Null);
    let filter = clerk_sync::sync::replay::ReplayFilter {
        statuses: vec!["failed".into(), "received".into(), "stale".into()],
        ..Default::default()
    };
    let summary = clerk_sync::sync::replay::replay(&client, &filter, |_, _| {}).await.unwrap();
    assert_eq!(summary.total(), 2, "{summary:?}");
    assert_eq!(summary.duplicate, 2, "stale events are never claimed again: {summary:?}");
    assert_eq!(stack.db.rows("SELECT 1 FROM clerk_webhook_events WHERE status = 'stale'").await.len(), 2);
}
