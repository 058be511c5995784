//! Envelope timestamps in seconds, as Clerk's webhook spec examples (and the
//! tools and mocks built from them) carry them; real deliveries carry
//! milliseconds. Both mean the same instant.

use clerk_sync_tests::TestStack;
use serde_json::{json, Value};

/// 2024-05-28T08:00:00Z, the spec examples' time: in seconds in the
/// envelope, in milliseconds in `data`.
const SPEC_SECONDS: i64 = 1_716_883_200;
const SPEC_MS: i64 = SPEC_SECONDS * 1000;

fn spec_event(event_type: &str, timestamp: i64, data: Value) -> Value {
    json!({
        "event_attributes": {"http_request": {"client_ip": "192.168.1.100", "user_agent": "Mozilla/5.0"}},
        "object": "event",
        "type": event_type,
        "instance_id": "ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
        "timestamp": timestamp,
        "data": data
    })
}

fn spec_membership(event_type: &str, timestamp: i64, updated_ms: i64) -> Value {
    spec_event(
        event_type,
        timestamp,
        json!({
            "object": "organization_membership", "id": "orgmem_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
            "role": "org:member", "role_name": "Member", "permissions": ["org:posts:read"],
            "public_metadata": {}, "private_metadata": {},
            "organization": {
                "object": "organization", "id": "org_2g7np7Hrk0SN6kj5EDMLDaKNL0S", "name": "Acme Corp",
                "slug": "acme-corp", "image_url": "https://img.clerk.com/xxxxxx", "has_image": true,
                "members_count": 1, "pending_invitations_count": 0, "max_allowed_memberships": 5,
                "admin_delete_enabled": true, "public_metadata": {}, "private_metadata": {},
                "created_by": "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S", "created_at": SPEC_MS, "updated_at": SPEC_MS
            },
            "public_user_data": {
                "user_id": "user_2h8op3Isl1QR7tKu5FGNfaLKEoU", "first_name": "Jane", "last_name": "Doe",
                "image_url": "https://img.clerk.com/yyyyy", "has_image": true, "identifier": "jane.doe@acme.com"
            },
            "created_at": SPEC_MS, "updated_at": updated_ms
        }),
    )
}

fn spec_user(event_type: &str, timestamp: i64, updated_ms: i64) -> Value {
    spec_event(
        event_type,
        timestamp,
        json!({
            "object": "user", "id": "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S", "first_name": "Example",
            "last_name": "Example", "image_url": "https://img.clerk.com/xxxxxx",
            "email_addresses": [{"object": "email_address", "id": "idn_29w83yL7CwVlJXylYLxcslromF1",
                                 "email_address": "example@example.org", "linked_to": []}],
            "primary_email_address_id": "idn_29w83yL7CwVlJXylYLxcslromF1",
            "created_at": SPEC_MS, "updated_at": updated_ms
        }),
    )
}

async fn ended_ms(stack: &TestStack, sql: &str) -> Value {
    let rows = stack.db.rows(sql).await;
    rows[0]["ms"].clone()
}

#[tokio::test]
async fn a_membership_removal_dated_in_seconds_removes_the_member() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_c", &spec_membership("organizationMembership.created", SPEC_SECONDS, SPEC_MS), "processed").await;
    // Read as milliseconds, this removal would be 50 years older than the
    // membership, and stale: the removed member would keep access.
    stack
        .expect("msg_d", &spec_membership("organizationMembership.deleted", SPEC_SECONDS + 60, SPEC_MS), "processed")
        .await;
    let sql = "SELECT (extract(epoch FROM deleted_at) * 1000)::bigint AS ms FROM user_organizations";
    assert_eq!(ended_ms(&stack, sql).await, json!(SPEC_MS + 60_000));
    // The stored event time is in milliseconds too.
    let stored = stack.db.rows("SELECT event_timestamp FROM clerk_webhook_events WHERE svix_id = 'msg_d'").await;
    assert_eq!(stored[0]["event_timestamp"], json!(SPEC_MS + 60_000));
}

#[tokio::test]
async fn deletes_dated_in_seconds_are_not_dated_1970() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_u", &spec_user("user.created", SPEC_SECONDS, SPEC_MS), "processed").await;
    let deleted = spec_event(
        "user.deleted",
        SPEC_SECONDS + 60,
        json!({"object": "user", "id": "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S", "deleted": true}),
    );
    stack.expect("msg_ud", &deleted, "processed").await;
    let sql = "SELECT (extract(epoch FROM deleted_at) * 1000)::bigint AS ms FROM users";
    assert_eq!(ended_ms(&stack, sql).await, json!(SPEC_MS + 60_000));

    let org_deleted = spec_event(
        "organization.deleted",
        SPEC_SECONDS,
        json!({"object": "organization", "id": "org_2g7np7Hrk0SN6kj5EDMLDaKNL0S", "slug": "acme-corp", "deleted": true}),
    );
    stack.expect("msg_od", &org_deleted, "processed").await;
    let sql = "SELECT (extract(epoch FROM deleted_at) * 1000)::bigint AS ms FROM organization";
    assert_eq!(ended_ms(&stack, sql).await, json!(SPEC_MS));
}

#[tokio::test]
async fn seconds_and_milliseconds_order_as_the_same_clock() {
    let stack = TestStack::spawn().await;
    // An update in seconds, one minute after a creation in milliseconds, wins.
    stack.expect("msg_new", &spec_user("user.updated", SPEC_SECONDS + 60, SPEC_SECONDS + 60), "processed").await;
    stack.expect("msg_old", &spec_user("user.created", SPEC_SECONDS, SPEC_MS), "stale").await;
    let rows = stack.db.rows("SELECT clerk_updated_ms FROM users").await;
    assert_eq!(rows[0]["clerk_updated_ms"], json!(SPEC_MS + 60_000));
}
