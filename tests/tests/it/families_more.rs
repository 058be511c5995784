//! The invitations, domains and roles families, rule by rule, in both
//! orders: clocks, placeholders, deletes that win whenever they arrive, and
//! what a redelivery or an older event does.

use clerk_sync_tests::{
    clerk::{
        domain, domain_deleted, invitation, organization, organization_deleted, permission, permission_data,
        permission_deleted, role, role_deleted, simple_user, user_deleted, Domain, Invitation, T0,
    },
    TestStack,
};
use serde_json::{json, Value};

async fn one(stack: &TestStack, sql: &str) -> Value {
    let rows = stack.db.rows(sql).await;
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows.into_iter().next().unwrap_or_default()
}

/// Delivers `events` (svix id, payload, expected status) in order.
async fn expect_all(stack: &TestStack, events: &[(&str, &Value, &str)]) {
    for (svix_id, payload, status) in events {
        stack.expect(svix_id, payload, status).await;
    }
}

/// `organizationInvitation.<kind>` of orginv_1 to org_acme at `at`.
fn invite(kind: &str, user_id: Option<&str>, at: i64) -> Value {
    invitation(&Invitation {
        event_type: &format!("organizationInvitation.{kind}"),
        id: "orginv_1",
        org_id: "org_acme",
        org_name: Some("Acme Public"),
        email: "jane@example.com",
        role: "org:member",
        user_id,
        updated_ms: at,
    })
}

const INVITATION: &str = "SELECT i.status, i.email_address, i.role, u.clerk_user_id,
        i.clerk_updated_ms - 1700000000000 AS at
    FROM organization_invitations i LEFT JOIN users u ON u.id = i.user_id";

/// `organizationDomain.<kind>` of orgdmn_1 in org_acme at `at`.
fn dom(kind: &str, mode: &str, verification: Option<&str>, at: i64) -> Value {
    domain(&Domain {
        event_type: &format!("organizationDomain.{kind}"),
        id: "orgdmn_1",
        org_id: "org_acme",
        org_name: Some("Acme Public"),
        name: "acme.example",
        enrollment_mode: mode,
        verification,
        updated_ms: at,
    })
}

const DOMAIN: &str = "SELECT o.clerk_org_id, d.name, d.enrollment_mode, d.verification_status,
        d.affiliation_email_address, (extract(epoch FROM d.deleted_at) * 1000)::bigint - 1700000000000 AS deleted
    FROM organization_domains d LEFT JOIN organization o ON o.id = d.organization_id";

const PERMISSIONS: &str = "SELECT clerk_permission_id AS id, key, name, type,
        (extract(epoch FROM deleted_at) * 1000)::bigint - 1700000000000 AS deleted
    FROM organization_permissions ORDER BY 1";

const ROLES: &str = "SELECT r.clerk_role_id AS id, r.key, r.name,
        (extract(epoch FROM r.deleted_at) * 1000)::bigint - 1700000000000 AS deleted,
        ARRAY(SELECT p.clerk_permission_id FROM organization_role_permissions rp
              JOIN organization_permissions p ON p.id = rp.permission_id WHERE rp.role_id = r.id ORDER BY 1)
            AS permissions
    FROM organization_roles r ORDER BY 1";

fn posts_create(at: i64) -> Value {
    permission_data("perm_create", "org:posts:create", "Create posts", at)
}

fn posts_publish(at: i64) -> Value {
    permission_data("perm_publish", "org:posts:publish", "Publish posts", at)
}

// Invitations.

#[tokio::test]
async fn an_invitation_is_created_then_accepted_in_either_order() {
    for accepted_first in [false, true] {
        let stack = TestStack::spawn().await;
        let created = invite("created", None, 100);
        let accepted = invite("accepted", Some("user_jane"), 200);
        if accepted_first {
            expect_all(&stack, &[("msg_a", &accepted, "processed"), ("msg_c", &created, "stale")]).await;
        } else {
            expect_all(&stack, &[("msg_c", &created, "processed"), ("msg_a", &accepted, "processed")]).await;
        }
        assert_eq!(
            one(&stack, INVITATION).await,
            json!({"status": "accepted", "email_address": "jane@example.com", "role": "org:member",
                   "clerk_user_id": "user_jane", "at": 200}),
            "accepted first: {accepted_first}"
        );
        // The accepting user is a placeholder until its own event arrives,
        // which fills it; the invitation keeps pointing at it.
        let user = one(&stack, "SELECT email, clerk_updated_ms FROM users").await;
        assert_eq!(user, json!({"email": null, "clerk_updated_ms": null}));
        stack
            .expect("msg_u", &simple_user("user.created", "user_jane", 50, "Jane", "jane@example.com"), "processed")
            .await;
        assert_eq!(one(&stack, "SELECT email FROM users").await["email"], "jane@example.com");
        assert_eq!(one(&stack, INVITATION).await["clerk_user_id"], "user_jane");
        // Redelivery changes nothing.
        stack.expect("msg_a", &accepted, "duplicate").await;
        stack.expect("msg_c", &created, "duplicate").await;
    }
}

#[tokio::test]
async fn on_a_tie_a_terminal_status_beats_pending() {
    for (terminal, user) in [("accepted", Some("user_jane")), ("revoked", None)] {
        for terminal_first in [false, true] {
            let stack = TestStack::spawn().await;
            let pending = invite("created", None, 100);
            let ended = invite(terminal, user, 100);
            if terminal_first {
                expect_all(&stack, &[("msg_t", &ended, "processed"), ("msg_p", &pending, "stale")]).await;
            } else {
                expect_all(&stack, &[("msg_p", &pending, "processed"), ("msg_t", &ended, "processed")]).await;
            }
            let row = one(&stack, INVITATION).await;
            assert_eq!((&row["status"], &row["clerk_user_id"]), (&json!(terminal), &json!(user)), "{terminal}");
        }
    }
    // A revocation later than an acceptance wins, and an older one is stale.
    let stack = TestStack::spawn().await;
    expect_all(
        &stack,
        &[
            ("msg_r", &invite("revoked", None, 300), "processed"),
            ("msg_a", &invite("accepted", Some("user_jane"), 200), "processed"),
        ],
    )
    .await;
    let row = one(&stack, INVITATION).await;
    // The older acceptance changed only what the row lacked: who accepted.
    assert_eq!(
        (&row["status"], &row["clerk_user_id"], &row["at"]),
        (&json!("revoked"), &json!("user_jane"), &json!(300))
    );
    stack.expect("msg_c", &invite("created", None, 100), "stale").await;
}

#[tokio::test]
async fn an_acceptance_without_user_id_never_erases_a_known_one() {
    // With the user first, then (newer) without.
    let stack = TestStack::spawn().await;
    expect_all(
        &stack,
        &[
            ("msg_1", &invite("accepted", Some("user_jane"), 200), "processed"),
            ("msg_2", &invite("accepted", None, 300), "processed"),
        ],
    )
    .await;
    let row = one(&stack, INVITATION).await;
    assert_eq!((&row["clerk_user_id"], &row["at"]), (&json!("user_jane"), &json!(300)));
    // The same acceptance without it, again: nothing to change.
    stack.expect("msg_3", &invite("accepted", None, 300), "stale").await;

    // Without the user first, then the same acceptance with it: filled.
    let stack = TestStack::spawn().await;
    expect_all(
        &stack,
        &[
            ("msg_1", &invite("accepted", None, 200), "processed"),
            ("msg_2", &invite("accepted", Some("user_jane"), 200), "processed"),
            ("msg_3", &invite("accepted", Some("user_jane"), 200), "stale"),
        ],
    )
    .await;
    assert_eq!(one(&stack, INVITATION).await["clerk_user_id"], "user_jane");

    // An accepting user deleted in the meantime is still who accepted it.
    let stack = TestStack::spawn().await;
    stack.expect("msg_d", &user_deleted("user_jane", 150), "processed").await;
    stack.expect("msg_a", &invite("accepted", Some("user_jane"), 200), "processed").await;
    assert_eq!(one(&stack, INVITATION).await["clerk_user_id"], "user_jane");
    assert_eq!(stack.db.count("users").await, 1);
}

#[tokio::test]
async fn an_invitation_before_its_organization_makes_a_placeholder_the_organization_fills() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_i", &invite("created", None, 100), "processed").await;
    let org = "SELECT clerk_org_id, name, slug, clerk_updated_ms, deleted_at FROM organization";
    assert_eq!(
        one(&stack, org).await,
        json!({"clerk_org_id": "org_acme", "name": "Acme Public", "slug": "acme-public", "clerk_updated_ms": null,
               "deleted_at": null})
    );
    // The organization's own event fills it, even an older one.
    stack.expect("msg_o", &organization("organization.created", "org_acme", "Acme", 50), "processed").await;
    // Later public data never overwrites it.
    stack.expect("msg_a", &invite("accepted", Some("user_jane"), 200), "processed").await;
    let row = one(&stack, org).await;
    assert_eq!((&row["name"], &row["clerk_updated_ms"]), (&json!("Acme"), &json!(T0 + 50)));

    // Without public data, the placeholder has only the id; the invitation
    // of a deleted organization is kept.
    let stack = TestStack::spawn().await;
    stack.expect("msg_od", &organization_deleted("org_bare", 10), "processed").await;
    let bare = invitation(&Invitation {
        event_type: "organizationInvitation.created",
        id: "orginv_bare",
        org_id: "org_bare",
        org_name: None,
        email: "x@example.com",
        role: "org:admin",
        user_id: None,
        updated_ms: 100,
    });
    stack.expect("msg_i", &bare, "processed").await;
    let row = one(&stack, "SELECT name, deleted_at IS NOT NULL AS deleted FROM organization").await;
    assert_eq!(row, json!({"name": null, "deleted": true}));
    assert_eq!(stack.db.count("organization_invitations").await, 1);
}

// Domains.

#[tokio::test]
async fn a_domain_is_created_updated_and_deleted_and_an_older_update_is_stale() {
    let stack = TestStack::spawn().await;
    expect_all(
        &stack,
        &[
            ("msg_c", &dom("created", "manual_invitation", None, 100), "processed"),
            ("msg_u", &dom("updated", "automatic_invitation", Some("verified"), 200), "processed"),
            ("msg_old", &dom("updated", "automatic_suggestion", Some("unverified"), 150), "stale"),
            ("msg_c", &dom("created", "manual_invitation", None, 100), "duplicate"),
        ],
    )
    .await;
    assert_eq!(
        one(&stack, DOMAIN).await,
        json!({"clerk_org_id": "org_acme", "name": "acme.example", "enrollment_mode": "automatic_invitation",
               "verification_status": "verified", "affiliation_email_address": "admin@acme.example", "deleted": null})
    );
    expect_all(
        &stack,
        &[
            ("msg_d", &domain_deleted("orgdmn_1", 300), "processed"),
            ("msg_d2", &domain_deleted("orgdmn_1", 400), "stale"),
            ("msg_d", &domain_deleted("orgdmn_1", 300), "duplicate"),
        ],
    )
    .await;
    assert_eq!(one(&stack, DOMAIN).await["deleted"], 300);
    // An earlier delete wins.
    stack.expect("msg_d0", &domain_deleted("orgdmn_1", 250), "processed").await;
    assert_eq!(one(&stack, DOMAIN).await["deleted"], 250);
}

#[tokio::test]
async fn a_domain_deleted_before_its_create_stays_deleted_and_converges_its_data() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_d", &domain_deleted("orgdmn_1", 300), "processed").await;
    assert_eq!(
        one(&stack, DOMAIN).await,
        json!({"clerk_org_id": null, "name": null, "enrollment_mode": null, "verification_status": null,
               "affiliation_email_address": null, "deleted": 300})
    );
    expect_all(
        &stack,
        &[
            ("msg_u", &dom("updated", "automatic_invitation", Some("verified"), 200), "processed"),
            ("msg_c", &dom("created", "manual_invitation", None, 100), "stale"),
        ],
    )
    .await;
    assert_eq!(
        one(&stack, DOMAIN).await,
        json!({"clerk_org_id": "org_acme", "name": "acme.example", "enrollment_mode": "automatic_invitation",
               "verification_status": "verified", "affiliation_email_address": "admin@acme.example", "deleted": 300})
    );
}

#[tokio::test]
async fn a_domain_before_its_organization_makes_a_placeholder_and_the_domain_id_may_be_short() {
    let stack = TestStack::spawn().await;
    // Clerk's own examples spell domain ids `orgdmn_` and `orgdm_`.
    let short = domain(&Domain {
        event_type: "organizationDomain.created",
        id: "orgdm_2",
        org_id: "org_new",
        org_name: None,
        name: "new.example",
        enrollment_mode: "manual_invitation",
        verification: None,
        updated_ms: 100,
    });
    stack.expect("msg_s", &short, "processed").await;
    stack.expect("msg_c", &dom("created", "manual_invitation", None, 100), "processed").await;
    let orgs = stack.db.rows("SELECT clerk_org_id, name, clerk_updated_ms FROM organization ORDER BY 1").await;
    assert_eq!(
        orgs,
        [
            json!({"clerk_org_id": "org_acme", "name": "Acme Public", "clerk_updated_ms": null}),
            json!({"clerk_org_id": "org_new", "name": null, "clerk_updated_ms": null}),
        ]
    );
    stack.expect("msg_o", &organization("organization.created", "org_new", "New", 10), "processed").await;
    stack.expect("msg_d", &domain_deleted("orgdm_2", 300), "processed").await;
    let row = one(&stack, "SELECT o.name FROM organization_domains d JOIN organization o ON o.id = d.organization_id WHERE d.clerk_domain_id = 'orgdm_2'").await;
    assert_eq!(row["name"], "New");
}

// Roles and permissions.

#[tokio::test]
async fn a_permission_is_created_updated_and_deleted_in_either_order() {
    for delete_first in [false, true] {
        let stack = TestStack::spawn().await;
        let created = permission("permission.created", "perm_create", "org:posts:create", "Create", 100);
        let updated = permission("permission.updated", "perm_create", "org:posts:create", "Create posts", 200);
        let deleted = permission_deleted("perm_create", 300);
        if delete_first {
            expect_all(
                &stack,
                &[("msg_d", &deleted, "processed"), ("msg_u", &updated, "processed"), ("msg_c", &created, "stale")],
            )
            .await;
        } else {
            expect_all(
                &stack,
                &[
                    ("msg_c", &created, "processed"),
                    ("msg_u", &updated, "processed"),
                    ("msg_d", &deleted, "processed"),
                    ("msg_c2", &created, "stale"),
                ],
            )
            .await;
        }
        assert_eq!(
            one(&stack, PERMISSIONS).await,
            json!({"id": "perm_create", "key": "org:posts:create", "name": "Create posts", "type": "custom",
                   "deleted": 300}),
            "delete first: {delete_first}"
        );
        stack.expect("msg_d", &deleted, "duplicate").await;
        stack.expect("msg_d_later", &permission_deleted("perm_create", 400), "stale").await;
    }
}

#[tokio::test]
async fn a_role_before_its_permissions_makes_placeholders_that_full_events_win() {
    let stack = TestStack::spawn().await;
    let created = role("role.created", "role_editor", "org:editor", "Editor", 100, vec![posts_create(50)]);
    stack.expect("msg_r", &created, "processed").await;
    assert_eq!(
        stack.db.rows(PERMISSIONS).await,
        [json!({"id": "perm_create", "key": "org:posts:create", "name": "Create posts", "type": "custom",
                "deleted": null})]
    );
    assert_eq!(
        one(&stack, ROLES).await,
        json!({"id": "role_editor", "key": "org:editor", "name": "Editor", "deleted": null,
               "permissions": ["perm_create"]})
    );
    // The permission's own event at the nested copy's clock: the same data,
    // nothing to change. With other data at that clock, the full event wins.
    let same = permission("permission.created", "perm_create", "org:posts:create", "Create posts", 50);
    stack.expect("msg_p", &same, "stale").await;
    let renamed = permission("permission.created", "perm_create", "org:posts:create", "Write posts", 50);
    stack.expect("msg_p2", &renamed, "processed").await;
    // A role event carrying an older (or equal) copy never overwrites it,
    // though the role itself applies.
    let updated = role("role.updated", "role_editor", "org:editor", "Editors", 200, vec![posts_create(50)]);
    stack.expect("msg_r2", &updated, "processed").await;
    assert_eq!(one(&stack, PERMISSIONS).await["name"], "Write posts");
    // A newer copy does.
    let newer = role("role.updated", "role_editor", "org:editor", "Editors", 300, vec![posts_create(250)]);
    stack.expect("msg_r3", &newer, "processed").await;
    assert_eq!(one(&stack, PERMISSIONS).await["name"], "Create posts");

    // The other order: the full event first, then the nested copy at its clock.
    let stack = TestStack::spawn().await;
    stack.expect("msg_p2", &renamed, "processed").await;
    stack.expect("msg_r", &created, "processed").await;
    assert_eq!(one(&stack, PERMISSIONS).await["name"], "Write posts");
    assert_eq!(one(&stack, ROLES).await["permissions"], json!(["perm_create"]));
}

#[tokio::test]
async fn a_role_event_replaces_the_permission_set_only_when_it_applies() {
    let stack = TestStack::spawn().await;
    let v1 = role("role.created", "role_editor", "org:editor", "Editor", 100, vec![posts_create(10)]);
    let v2 =
        role("role.updated", "role_editor", "org:editor", "Editor", 200, vec![posts_create(10), posts_publish(20)]);
    let v3 = role("role.updated", "role_editor", "org:editor", "Editor", 300, vec![posts_publish(20)]);
    stack.expect("msg_2", &v2, "processed").await;
    stack.expect("msg_1", &v1, "stale").await;
    assert_eq!(one(&stack, ROLES).await["permissions"], json!(["perm_create", "perm_publish"]));
    stack.expect("msg_3", &v3, "processed").await;
    assert_eq!(one(&stack, ROLES).await["permissions"], json!(["perm_publish"]));
    stack.expect("msg_2", &v2, "duplicate").await;
    stack.expect("msg_2_again", &v2, "stale").await;
    assert_eq!(one(&stack, ROLES).await["permissions"], json!(["perm_publish"]));
    // A role that lists none keeps none; one whose payload lacks the list
    // keeps its set.
    let mut unlisted = role("role.updated", "role_editor", "org:editor", "Editor 4", 400, vec![]);
    unlisted["data"].as_object_mut().map(|data| data.remove("permissions"));
    stack.expect("msg_4", &unlisted, "processed").await;
    assert_eq!(
        one(&stack, ROLES).await,
        json!({"id": "role_editor", "key": "org:editor", "name": "Editor 4",
        "deleted": null, "permissions": ["perm_publish"]})
    );
    let empty = role("role.updated", "role_editor", "org:editor", "Editor 5", 500, vec![]);
    stack.expect("msg_5", &empty, "processed").await;
    assert_eq!(one(&stack, ROLES).await["permissions"], json!([]));
    // The permissions stay: another role may grant them.
    assert_eq!(stack.db.count("organization_permissions").await, 2);
}

#[tokio::test]
async fn a_role_deleted_before_its_create_stays_deleted_and_converges_its_data() {
    for delete_first in [false, true] {
        let stack = TestStack::spawn().await;
        let created = role("role.created", "role_editor", "org:editor", "Editor", 100, vec![posts_create(10)]);
        // role.deleted carries only the id (`slug: null`, no `deleted`).
        let deleted = role_deleted("role_editor", 300);
        let late = role("role.updated", "role_editor", "org:editor", "Editors", 200, vec![posts_publish(20)]);
        if delete_first {
            expect_all(&stack, &[("msg_d", &deleted, "processed")]).await;
            assert_eq!(
                one(&stack, ROLES).await,
                json!({"id": "role_editor", "key": null, "name": null, "deleted": 300, "permissions": []})
            );
            expect_all(&stack, &[("msg_c", &created, "processed"), ("msg_u", &late, "processed")]).await;
        } else {
            expect_all(
                &stack,
                &[("msg_c", &created, "processed"), ("msg_d", &deleted, "processed"), ("msg_u", &late, "processed")],
            )
            .await;
        }
        assert_eq!(
            one(&stack, ROLES).await,
            json!({"id": "role_editor", "key": "org:editor", "name": "Editors", "deleted": 300,
                   "permissions": ["perm_publish"]}),
            "delete first: {delete_first}"
        );
        stack.expect("msg_d_later", &role_deleted("role_editor", 400), "stale").await;
        stack.expect("msg_d_earlier", &role_deleted("role_editor", 250), "processed").await;
        assert_eq!(one(&stack, ROLES).await["deleted"], 250);
    }
}

#[tokio::test]
async fn a_deleted_permission_stays_deleted_and_referenced() {
    for delete_first in [false, true] {
        let stack = TestStack::spawn().await;
        let deleted = permission_deleted("perm_create", 300);
        // A role listing it (a copy newer than anything else known of it).
        let listing = role("role.created", "role_editor", "org:editor", "Editor", 100, vec![posts_create(90)]);
        if delete_first {
            expect_all(&stack, &[("msg_d", &deleted, "processed"), ("msg_r", &listing, "processed")]).await;
        } else {
            expect_all(&stack, &[("msg_r", &listing, "processed"), ("msg_d", &deleted, "processed")]).await;
        }
        assert_eq!(
            one(&stack, PERMISSIONS).await,
            json!({"id": "perm_create", "key": "org:posts:create", "name": "Create posts", "type": "custom",
                   "deleted": 300}),
            "delete first: {delete_first}"
        );
        assert_eq!(one(&stack, ROLES).await["permissions"], json!(["perm_create"]));
    }
}

#[tokio::test]
async fn deletes_dated_in_seconds_are_read_as_seconds() {
    let stack = TestStack::spawn().await;
    let seconds = |mut event: Value| {
        event["timestamp"] = json!(1_716_883_200);
        event
    };
    expect_all(
        &stack,
        &[
            ("msg_dd", &seconds(domain_deleted("orgdm_1", 0)), "processed"),
            ("msg_rd", &seconds(role_deleted("role_1", 0)), "processed"),
            ("msg_pd", &seconds(permission_deleted("perm_1", 0)), "processed"),
        ],
    )
    .await;
    let deleted = stack
        .db
        .rows(
            "SELECT (extract(epoch FROM deleted_at))::bigint AS s FROM organization_domains
             UNION ALL SELECT (extract(epoch FROM deleted_at))::bigint FROM organization_roles
             UNION ALL SELECT (extract(epoch FROM deleted_at))::bigint FROM organization_permissions",
        )
        .await;
    assert_eq!(deleted, [json!({"s": 1_716_883_200}), json!({"s": 1_716_883_200}), json!({"s": 1_716_883_200})]);
}

#[tokio::test]
async fn what_cannot_be_understood_is_recorded_as_failed() {
    let stack = TestStack::spawn().await;
    let mut no_org = invite("created", None, 100);
    no_org["data"].as_object_mut().map(|d| (d.remove("organization_id"), d.remove("public_organization_data")));
    let mut no_clock = dom("created", "manual_invitation", None, 100);
    no_clock["data"]["updated_at"] = Value::Null;
    let mut wrong_id = permission("permission.created", "perm_x", "org:x:y", "X", 100);
    wrong_id["data"]["id"] = json!("role_x");
    let mut bad_nested = role("role.created", "role_x", "org:x", "X", 100, vec![posts_create(10)]);
    bad_nested["data"]["permissions"][0]["id"] = json!("nope");
    let mut bad_user = invite("accepted", Some("user_jane"), 100);
    bad_user["data"]["user_id"] = json!("org_jane");
    let mut undated = role_deleted("role_x", 100);
    undated.as_object_mut().map(|e| e.remove("timestamp"));
    for (i, event) in [no_org, no_clock, wrong_id, bad_nested, bad_user, undated].iter().enumerate() {
        let answer = stack.expect(&format!("msg_{i}"), event, "failed").await;
        assert!(answer.body["reason"].as_str().is_some_and(|r| !r.is_empty()), "{answer:?}");
    }
    for table in ["organization_invitations", "organization_domains", "organization_roles", "organization_permissions"]
    {
        assert_eq!(stack.db.count(table).await, 0, "{table}");
    }
}

/// Two updates of one role at once, each listing other permissions: the
/// set is the newer one's, whichever commits first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_role_updates_leave_the_newest_set() {
    for round in 0..8 {
        let stack = TestStack::spawn().await;
        let older = role("role.updated", "role_editor", "org:editor", "Old", 100, vec![posts_create(10)]);
        let newer = role("role.updated", "role_editor", "org:editor", "New", 200, vec![posts_publish(20)]);
        let (a, b) = tokio::join!(
            stack.deliver_to(&stack.roles, "msg_old", &older),
            stack.deliver_to(&stack.catch_all, "msg_new", &newer)
        );
        assert_eq!((a.status, b.status), (200, 200), "{a:?} {b:?}");
        let row = one(&stack, ROLES).await;
        assert_eq!((&row["name"], &row["permissions"]), (&json!("New"), &json!(["perm_publish"])), "round {round}");
    }
}
