//! Clerk-shaped payloads for tests, following `shared/reference/clerk-webhooks.md`
//! and the examples of Clerk's webhook spec (2025-04-15), written out here.

use serde_json::{json, Value};

/// A sample payload from `events/payloads/`.
pub fn sample(name: &str) -> Value {
    let path = format!("{}/../events/payloads/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The epoch of the builders' clocks: tests give times as small offsets in
/// milliseconds, and payloads carry `T0 + offset`, as real deliveries carry
/// milliseconds since 1970 (a small value would be read as seconds).
pub const T0: i64 = 1_700_000_000_000;

fn envelope(event_type: &str, timestamp: i64, data: Value) -> Value {
    json!({
        "data": data,
        "event_attributes": {"http_request": {"client_ip": "203.0.113.7", "user_agent": "Mozilla/5.0"}},
        "object": "event",
        "timestamp": T0 + timestamp,
        "type": event_type
    })
}

/// A user's email address entry.
pub fn email(id: &str, address: &str) -> Value {
    json!({
        "id": id, "object": "email_address", "email_address": address,
        "verification": {"status": "verified", "strategy": "email_code", "attempts": 1, "expire_at": null},
        "linked_to": [], "reserved": false, "created_at": 1_700_000_000_000_i64, "updated_at": 1_700_000_000_000_i64
    })
}

/// `user.created` / `user.updated`.
pub fn user(
    event_type: &str,
    id: &str,
    updated_ms: i64,
    names: (Option<&str>, Option<&str>),
    emails: Vec<Value>,
    primary_email_id: Option<&str>,
) -> Value {
    envelope(
        event_type,
        updated_ms + 7,
        json!({
            "id": id, "object": "user", "external_id": null, "username": null,
            "first_name": names.0, "last_name": names.1,
            "image_url": format!("https://img.clerk.com/{id}"), "has_image": true,
            "email_addresses": emails, "primary_email_address_id": primary_email_id,
            "phone_numbers": [], "primary_phone_number_id": null, "web3_wallets": [], "passkeys": [],
            "external_accounts": [], "saml_accounts": [], "enterprise_accounts": [],
            "public_metadata": {}, "private_metadata": {}, "unsafe_metadata": {},
            "password_enabled": true, "two_factor_enabled": false, "banned": false, "locked": false,
            "last_sign_in_at": null, "last_active_at": null,
            "created_at": T0, "updated_at": T0 + updated_ms
        }),
    )
}

/// A user with one primary email and a first name.
pub fn simple_user(event_type: &str, id: &str, updated_ms: i64, first_name: &str, address: &str) -> Value {
    let email_id = format!("idn_{}", &id[5..]);
    user(event_type, id, updated_ms, (Some(first_name), Some("Test")), vec![email(&email_id, address)], Some(&email_id))
}

/// `user.deleted`: the stub, ordered by the envelope timestamp.
pub fn user_deleted(id: &str, timestamp: i64) -> Value {
    envelope("user.deleted", timestamp, json!({"id": id, "object": "user", "deleted": true, "external_id": null}))
}

fn organization_data(id: &str, name: &str, updated_ms: i64, reduced: bool) -> Value {
    let mut data = json!({
        "id": id, "object": "organization", "name": name, "slug": name.to_lowercase().replace(' ', "-"),
        "image_url": format!("https://img.clerk.com/{id}"), "logo_url": null, "has_image": false,
        "max_allowed_memberships": 5, "admin_delete_enabled": true, "members_count": 1,
        "pending_invitations_count": 0, "public_metadata": {},
        "created_at": T0, "updated_at": T0 + updated_ms
    });
    if !reduced {
        data["private_metadata"] = json!({});
        data["created_by"] = json!("user_creator");
    }
    data
}

/// `organization.created` / `organization.updated`.
pub fn organization(event_type: &str, id: &str, name: &str, updated_ms: i64) -> Value {
    envelope(event_type, updated_ms + 5, organization_data(id, name, updated_ms, false))
}

/// `organization.deleted`: the stub.
pub fn organization_deleted(id: &str, timestamp: i64) -> Value {
    envelope(
        "organization.deleted",
        timestamp,
        json!({"id": id, "object": "organization", "slug": "deleted-org", "deleted": true}),
    )
}

/// One membership event, as Clerk sends all three kinds: the full object
/// with the reduced organization and the member's public data.
pub struct Membership<'a> {
    pub event_type: &'a str,
    pub id: &'a str,
    pub org_id: &'a str,
    pub org_name: &'a str,
    pub org_updated_ms: i64,
    pub user_id: &'a str,
    pub first_name: &'a str,
    pub identifier: &'a str,
    pub role: &'a str,
    pub updated_ms: i64,
    /// The envelope timestamp (for a delete, the membership's clock).
    pub timestamp: i64,
}

pub fn membership(m: &Membership<'_>) -> Value {
    envelope(
        m.event_type,
        m.timestamp,
        json!({
            "id": m.id, "object": "organization_membership", "role": m.role,
            "role_name": if m.role == "org:admin" { "Admin" } else { "Member" },
            "permissions": ["org:sys_profile:read"], "public_metadata": {},
            "created_at": T0, "updated_at": T0 + m.updated_ms,
            "organization": organization_data(m.org_id, m.org_name, m.org_updated_ms, true),
            "public_user_data": {
                "user_id": m.user_id, "first_name": m.first_name, "last_name": "Member",
                "image_url": format!("https://img.clerk.com/{}", m.user_id), "has_image": false,
                "identifier": m.identifier
            }
        }),
    )
}

/// A membership event of `user` in `org` with `role` at `at` (ms), with a
/// placeholder-grade member and organization: for tests about access, not sync.
pub fn joined(event_type: &str, id: &str, user: &str, org: &str, role: &str, at: i64) -> Value {
    membership(&Membership {
        event_type,
        id,
        org_id: org,
        org_name: org,
        org_updated_ms: 1,
        user_id: user,
        first_name: "Member",
        identifier: "member@example.com",
        role,
        updated_ms: at,
        timestamp: at + 5,
    })
}

/// The public data of an organization, as invitations and domains carry it.
pub fn public_organization_data(org_id: &str, name: &str) -> Value {
    json!({
        "id": org_id, "name": name, "slug": name.to_lowercase().replace(' ', "-"),
        "image_url": format!("https://img.clerk.com/{org_id}"), "has_image": false
    })
}

/// One `organizationInvitation.*` event, as Clerk sends all three: the whole
/// invitation, its status that of the event (`pending` for `created`).
pub struct Invitation<'a> {
    pub event_type: &'a str,
    pub id: &'a str,
    pub org_id: &'a str,
    /// `public_organization_data`'s name; `None` leaves the object out.
    pub org_name: Option<&'a str>,
    pub email: &'a str,
    pub role: &'a str,
    /// `user_id`, which only `accepted` carries, and not always.
    pub user_id: Option<&'a str>,
    pub updated_ms: i64,
}

pub fn invitation(i: &Invitation<'_>) -> Value {
    let status = match i.event_type.split_once('.').map(|(_, action)| action) {
        Some("created") | None => "pending",
        Some(action) => action,
    };
    let mut data = json!({
        "id": i.id, "object": "organization_invitation", "email_address": i.email,
        "role": i.role, "role_name": if i.role == "org:admin" { "Admin" } else { "Member" },
        "organization_id": i.org_id, "status": status,
        "inviter_id": "user_inviter", "public_inviter_data": {
            "user_id": "user_inviter", "first_name": "In", "last_name": "Viter",
            "image_url": "https://img.clerk.com/user_inviter", "has_image": false, "identifier": "inviter@example.com"
        },
        "public_metadata": {}, "private_metadata": {},
        "url": format!("https://accounts.example.com/accept-invitation?__clerk_ticket={}", i.id),
        "expires_at": T0 + 7 * 86_400_000, "created_at": T0, "updated_at": T0 + i.updated_ms
    });
    if let Some(name) = i.org_name {
        data["public_organization_data"] = public_organization_data(i.org_id, name);
    }
    if let Some(user_id) = i.user_id {
        data["user_id"] = json!(user_id);
    }
    envelope(i.event_type, i.updated_ms + 5, data)
}

/// One `organizationDomain.created` / `.updated` event.
pub struct Domain<'a> {
    pub event_type: &'a str,
    pub id: &'a str,
    pub org_id: &'a str,
    /// `public_organization_data`'s name; `None` leaves the object out.
    pub org_name: Option<&'a str>,
    pub name: &'a str,
    pub enrollment_mode: &'a str,
    /// The affiliation verification's status, `None` for no verification.
    pub verification: Option<&'a str>,
    pub updated_ms: i64,
}

pub fn domain(d: &Domain<'_>) -> Value {
    let verification = d.verification.map(|status| {
        json!({"status": status, "strategy": "email_code", "attempts": 1, "expire_at": null, "verified_at": null})
    });
    let mut data = json!({
        "id": d.id, "object": "organization_domain", "organization_id": d.org_id, "name": d.name,
        "enrollment_mode": d.enrollment_mode, "affiliation_email_address": format!("admin@{}", d.name),
        "affiliation_verification": verification, "ownership_verification": null, "verification": verification,
        "total_pending_invitations": 0, "total_pending_suggestions": 0,
        "created_at": T0, "updated_at": T0 + d.updated_ms
    });
    if let Some(name) = d.org_name {
        data["public_organization_data"] = public_organization_data(d.org_id, name);
    }
    envelope(d.event_type, d.updated_ms + 5, data)
}

/// `organizationDomain.deleted`: the stub.
pub fn domain_deleted(id: &str, timestamp: i64) -> Value {
    envelope(
        "organizationDomain.deleted",
        timestamp,
        json!({"object": "organization_domain", "id": id, "deleted": true}),
    )
}

/// A permission's `data` (`permission.*`, and each of a role's `permissions`).
pub fn permission_data(id: &str, key: &str, name: &str, updated_ms: i64) -> Value {
    json!({
        "object": "permission", "id": id, "key": key, "name": name,
        "description": format!("Allows {name}"), "type": if key.starts_with("org:sys_") { "system" } else { "custom" },
        "created_at": T0, "updated_at": T0 + updated_ms
    })
}

/// `permission.created` / `permission.updated`.
pub fn permission(event_type: &str, id: &str, key: &str, name: &str, updated_ms: i64) -> Value {
    envelope(event_type, updated_ms + 5, permission_data(id, key, name, updated_ms))
}

/// `permission.deleted`: the stub, only the id.
pub fn permission_deleted(id: &str, timestamp: i64) -> Value {
    envelope("permission.deleted", timestamp, json!({"object": "permission", "id": id, "deleted": true}))
}

/// `role.created` / `role.updated`, with its permissions (from [`permission_data`]).
pub fn role(event_type: &str, id: &str, key: &str, name: &str, updated_ms: i64, permissions: Vec<Value>) -> Value {
    envelope(
        event_type,
        updated_ms + 5,
        json!({
            "object": "role", "id": id, "key": key, "name": name, "description": format!("The {name} role"),
            "is_creator_eligible": false, "permissions": permissions,
            "created_at": T0, "updated_at": T0 + updated_ms
        }),
    )
}

/// `role.deleted`: only the id (Clerk's example has `slug: null` and no `deleted`).
pub fn role_deleted(id: &str, timestamp: i64) -> Value {
    envelope("role.deleted", timestamp, json!({"object": "role", "id": id, "slug": null}))
}
