//! Pages of Clerk's Backend API go through the webhooks' own rules: an
//! object from the API and the same object from a webhook never fight.

use clerk_sync::{
    clerk::{OrgRecord, UserRecord},
    ids::{ClerkOrgId, ClerkUserId},
    sync::pages::{apply_memberships, apply_organizations, apply_users, PageApplied},
};
use clerk_sync_tests::{
    clerk::{organization, organization_deleted, simple_user, user_deleted, T0},
    TestStack,
};
use serde_json::json;

fn user(id: &str, name: &str, updated: i64) -> UserRecord {
    UserRecord {
        id: ClerkUserId::parse(id).unwrap(),
        email: Some(format!("{name}@example.com").to_lowercase()),
        first_name: Some(name.into()),
        last_name: Some("Api".into()),
        image_url: None,
        updated_ms: T0 + updated,
    }
}

fn org(id: &str, name: &str, updated: i64) -> OrgRecord {
    OrgRecord {
        id: ClerkOrgId::parse(id).unwrap(),
        name: Some(name.into()),
        slug: Some(name.to_lowercase()),
        image_url: None,
        updated_ms: Some(T0 + updated),
    }
}

#[tokio::test]
async fn a_page_of_users_follows_the_webhook_rules() {
    let stack = TestStack::spawn().await;
    // Newer by webhook than the API's copy; deleted by webhook.
    stack
        .expect("msg_new", &simple_user("user.updated", "user_newer", 500, "Webhook", "w@example.com"), "processed")
        .await;
    stack.expect("msg_c", &simple_user("user.created", "user_gone", 100, "Gone", "g@example.com"), "processed").await;
    stack.expect("msg_d", &user_deleted("user_gone", 200), "processed").await;
    let pool = clerk_sync_tests::pool(&stack.db.url, 1);
    let client = pool.get().await.unwrap();

    let page = [user("user_new", "New", 100), user("user_newer", "Api", 300), user("user_gone", "Back", 900)];
    assert_eq!(apply_users(&client, &page).await.unwrap().summary(), PageApplied { created: 1, updated: 0 });
    // The same page again changes nothing; a newer copy updates.
    assert_eq!(apply_users(&client, &page).await.unwrap().summary(), PageApplied::default());
    let newer = [user("user_new", "Renamed", 150)];
    assert_eq!(apply_users(&client, &newer).await.unwrap().summary(), PageApplied { created: 0, updated: 1 });

    let rows = stack
        .db
        .rows("SELECT clerk_user_id, first_name, email, deleted_at IS NOT NULL AS deleted FROM users ORDER BY 1")
        .await;
    assert_eq!(
        rows,
        [
            json!({"clerk_user_id": "user_gone", "first_name": null, "email": null, "deleted": true}),
            json!({"clerk_user_id": "user_new", "first_name": "Renamed", "email": "renamed@example.com", "deleted": false}),
            json!({"clerk_user_id": "user_newer", "first_name": "Webhook", "email": "w@example.com", "deleted": false}),
        ]
    );
    // And a webhook older than the API's copy is stale.
    stack.expect("msg_old", &simple_user("user.updated", "user_new", 120, "Old", "o@example.com"), "stale").await;
}

#[tokio::test]
async fn a_page_of_organizations_follows_the_webhook_rules() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_o", &organization("organization.updated", "org_newer", "Webhook", 500), "processed").await;
    stack.expect("msg_d", &organization_deleted("org_gone", 50), "processed").await;
    let pool = clerk_sync_tests::pool(&stack.db.url, 1);
    let client = pool.get().await.unwrap();

    let page = [org("org_new", "New", 100), org("org_newer", "Api", 300), org("org_gone", "Named", 100)];
    let applied = apply_organizations(&client, &page).await.unwrap().summary();
    assert_eq!(applied, PageApplied { created: 1, updated: 1 }, "the deleted one takes its name, stays deleted");
    let rows = stack
        .db
        .rows("SELECT clerk_org_id, name, deleted_at IS NOT NULL AS deleted FROM organization ORDER BY 1")
        .await;
    assert_eq!(
        rows,
        [
            json!({"clerk_org_id": "org_gone", "name": "Named", "deleted": true}),
            json!({"clerk_org_id": "org_new", "name": "New", "deleted": false}),
            json!({"clerk_org_id": "org_newer", "name": "Webhook", "deleted": false}),
        ]
    );
}

fn membership(id: &str, user: &str, org_id: &str, role: &str, updated: i64) -> clerk_sync::clerk::MembershipRecord {
    clerk_sync::clerk::MembershipRecord {
        id: clerk_sync::ids::ClerkMembershipId::parse(id).unwrap(),
        role: role.into(),
        organization: OrgRecord { updated_ms: None, ..org(org_id, "Nested", 0) },
        member: clerk_sync::clerk::MemberRecord {
            user_id: ClerkUserId::parse(user).unwrap(),
            first_name: Some("Member".into()),
            last_name: None,
            image_url: None,
            email: Some(format!("{user}@example.com")),
        },
        event_ms: T0 + updated,
        removed: false,
    }
}

#[tokio::test]
async fn a_page_of_memberships_follows_the_webhook_rules() {
    let stack = TestStack::spawn().await;
    let removed = clerk_sync_tests::clerk::Membership {
        event_type: "organizationMembership.deleted",
        id: "orgmem_removed",
        org_id: "org_acme",
        org_name: "Acme",
        org_updated_ms: 10,
        user_id: "user_ada",
        first_name: "Ada",
        identifier: "ada@example.com",
        role: "org:admin",
        updated_ms: 100,
        timestamp: 300,
    };
    stack.expect("msg_removed", &clerk_sync_tests::clerk::membership(&removed), "processed").await;
    let pool = clerk_sync_tests::pool(&stack.db.url, 1);
    let client = pool.get().await.unwrap();

    // A stale listing still shows the removed membership id (newer, even): it stays removed.
    // Bob's membership is new, with placeholders for Bob and for org_new.
    let page = [
        membership("orgmem_removed", "user_ada", "org_acme", "org:member", 900),
        membership("orgmem_bob", "user_bob", "org_new", "org:member", 100),
    ];
    assert_eq!(apply_memberships(&client, &page).await.unwrap().summary(), PageApplied { created: 1, updated: 0 });
    assert_eq!(
        apply_memberships(&client, &page).await.unwrap().summary(),
        PageApplied::default(),
        "nothing new the second time"
    );
    // Ada re-added under a new id: active again.
    let re_added = [membership("orgmem_readded", "user_ada", "org_acme", "org:member", 1000)];
    assert_eq!(apply_memberships(&client, &re_added).await.unwrap().summary(), PageApplied { created: 0, updated: 1 });

    let rows = stack
        .db
        .rows(
            "SELECT u.clerk_user_id, o.clerk_org_id, m.clerk_membership_id, m.role, m.deleted_at IS NOT NULL AS ended
             FROM user_organizations m JOIN users u ON u.id = m.user_id JOIN organization o ON o.id = m.organization_id
             ORDER BY 1",
        )
        .await;
    assert_eq!(
        rows,
        [
            json!({"clerk_user_id": "user_ada", "clerk_org_id": "org_acme", "clerk_membership_id": "orgmem_readded",
                   "role": "org:member", "ended": false}),
            json!({"clerk_user_id": "user_bob", "clerk_org_id": "org_new", "clerk_membership_id": "orgmem_bob",
                   "role": "org:member", "ended": false}),
        ]
    );
    let placeholder =
        stack.db.rows("SELECT first_name, clerk_updated_ms FROM users WHERE clerk_user_id = 'user_bob'").await;
    assert_eq!(placeholder, [json!({"first_name": "Member", "clerk_updated_ms": null})]);
}
