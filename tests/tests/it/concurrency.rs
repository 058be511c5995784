//! Deliveries racing on separate connections, as concurrent Lambda instances do.

use clerk_sync::Family;
use clerk_sync_tests::{
    clerk::{invitation, joined, membership, organization, simple_user, user_deleted, Invitation, Membership},
    webhook_state, TestDb, TestStack,
};
use serde_json::json;

const ROUNDS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_svix_id_twice_at_once_is_recorded_and_applied_once() {
    let db = TestDb::spawn().await;
    let (a, b) = (TestStack::over(TestDb { name: db.name.clone(), url: db.url.clone() }), TestStack::over(db));
    for round in 0..ROUNDS {
        let id = format!("msg_race_{round}");
        let payload = simple_user("user.created", &format!("user_race{round}"), 100, "Racer", "r@example.com");
        let (x, y) = tokio::join!(a.deliver(&id, &payload), b.deliver(&id, &payload));
        assert_eq!((x.status, y.status), (200, 200));
        let mut statuses = [x.body["status"].as_str().unwrap(), y.body["status"].as_str().unwrap()];
        statuses.sort();
        assert_eq!(statuses, ["duplicate", "processed"], "round {round}");
    }
    assert_eq!(b.db.count("clerk_webhook_events").await, ROUNDS as i64);
    assert_eq!(b.db.count("users").await, ROUNDS as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_events_for_one_user_at_once_the_newer_wins() {
    let db = TestDb::spawn().await;
    let a = webhook_state(Family::Users, &db.url, vec![]);
    let b = webhook_state(Family::Users, &db.url, vec![]);
    let stack = TestStack::over(db);
    for round in 0..ROUNDS {
        let user = format!("user_two{round}");
        let older = simple_user("user.updated", &user, 100, "Older", "o@example.com");
        let newer = simple_user("user.updated", &user, 200, "Newer", "n@example.com");
        let (old_id, new_id) = (format!("msg_old_{round}"), format!("msg_new_{round}"));
        let (older, newer) = (older.to_string(), newer.to_string());
        let (x, y) = tokio::join!(stack.deliver_raw(&a, &old_id, &older), stack.deliver_raw(&b, &new_id, &newer));
        assert_eq!((x.status, y.status), (200, 200));
    }
    let names = stack.db.rows("SELECT DISTINCT first_name, email FROM users").await;
    assert_eq!(names, vec![json!({"first_name": "Newer", "email": "n@example.com"})]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_delete_racing_a_new_membership_still_ends_it() {
    let db = TestDb::spawn().await;
    let stack = TestStack::over(db);
    let other_memberships = webhook_state(Family::Memberships, &stack.db.url, vec![]);
    for round in 0..ROUNDS {
        let user = format!("user_del{round}");
        let m = membership(&Membership {
            event_type: "organizationMembership.created",
            id: "orgmem_x",
            org_id: "org_race",
            org_name: "Race",
            org_updated_ms: 1,
            user_id: &user,
            first_name: "R",
            identifier: "r@example.com",
            role: "org:member",
            updated_ms: 100,
            timestamp: 105,
        });
        let (del_id, mem_id) = (format!("msg_del_{round}"), format!("msg_mem_{round}"));
        let (delete, m) = (user_deleted(&user, 500), m.to_string());
        let (x, y) = tokio::join!(stack.deliver(&del_id, &delete), stack.deliver_raw(&other_memberships, &mem_id, &m));
        assert_eq!((x.status, y.status), (200, 200), "{x:?} {y:?}");
    }
    let active = stack.db.rows("SELECT 1 FROM user_organizations WHERE deleted_at IS NULL").await;
    assert!(active.is_empty(), "memberships of deleted users still active: {}", active.len());
    assert_eq!(stack.db.count("user_organizations").await, ROUNDS as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_invitation_and_its_membership_at_once_never_deadlock() {
    // What Clerk sends when an invitation is accepted: both events, for the
    // same user and organization, at the same moment, to two functions.
    let stack = TestStack::spawn().await;
    for round in 0..24 {
        let (user, org) = (format!("user_race{round}"), format!("org_race{round}"));
        let (invitation_id, membership_id) = (format!("orginv_race{round}"), format!("orgmem_race{round}"));
        let accepted = invitation(&Invitation {
            event_type: "organizationInvitation.accepted",
            id: &invitation_id,
            org_id: &org,
            org_name: Some("Race"),
            email: "race@example.com",
            role: "org:member",
            user_id: Some(&user),
            updated_ms: 100,
        });
        let joined = joined("organizationMembership.created", &membership_id, &user, &org, "org:member", 100);
        if round % 2 == 1 {
            // Half the rounds with both rows there already (row locks, not inserts).
            let org_created = organization("organization.created", &org, "Race", 50);
            stack.expect(&format!("msg_org{round}"), &org_created, "processed").await;
            let user_created = simple_user("user.created", &user, 50, "Racer", "race@example.com");
            stack.expect(&format!("msg_user{round}"), &user_created, "processed").await;
        }
        let (first, second) = (format!("msg_inv{round}"), format!("msg_mem{round}"));
        let (a, b) = tokio::join!(stack.deliver(&first, &accepted), stack.deliver(&second, &joined));
        assert_eq!((a.status, b.status), (200, 200), "round {round}: {a:?} {b:?}");
    }
}
