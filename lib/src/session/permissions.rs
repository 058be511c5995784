//! The caller's permissions in the active organization, decided by the
//! database from the instance's mirrored roles and permissions
//! (`organization_roles`, `organization_permissions`,
//! `organization_role_permissions`, which the `roles` family fills), within
//! the statement that reads the membership: no extra round trip.
//!
//! The rule follows Clerk's "Roles and Permissions" guide
//! (<https://clerk.com/docs/guides/organizations/control-access/roles-and-permissions>):
//!
//! - A member holds the live permissions (`deleted_at IS NULL`) of the live
//!   role whose key is their membership's role. A deleted role, or a deleted
//!   permission, grants nothing.
//! - `org:admin`: "Members with the admin Role have all of the System
//!   Permissions". It also holds every live system permission the instance
//!   has mirrored (`type = 'system'`, or a key `org:sys_…`) and, as a floor
//!   even before anything is mirrored, the eight documented system
//!   permissions ([`SYSTEM_PERMISSIONS`]). Custom permissions it holds only
//!   when its mirrored role has them: "To assign a Custom Permission to a
//!   user, you must assign the user to the Role that has the Permission".
//! - `org:member`, while no role with that key has ever been mirrored, holds
//!   its documented defaults, "Read members" and "Read billing"
//!   ([`MEMBER_DEFAULT_PERMISSIONS`]). Once the role is mirrored, exactly its
//!   mirrored permissions (the role is editable in Clerk's dashboard).
//! - Instances from before December 2023 name the roles `admin` and
//!   `basic_member`: read as `org:admin` and `org:member`.

use std::fmt::Write;

/// Clerk's system permissions, as documented.
pub const SYSTEM_PERMISSIONS: [&str; 8] = [
    "org:sys_billing:manage",
    "org:sys_billing:read",
    "org:sys_domains:manage",
    "org:sys_domains:read",
    "org:sys_memberships:manage",
    "org:sys_memberships:read",
    "org:sys_profile:delete",
    "org:sys_profile:manage",
];

/// What `org:member` holds by default ("Read members" and "Read billing"),
/// while the instance's `org:member` role is not mirrored.
pub const MEMBER_DEFAULT_PERMISSIONS: [&str; 2] = ["org:sys_billing:read", "org:sys_memberships:read"];

/// The admin role's keys: today's, and that of instances from before December 2023.
pub const ADMIN_ROLES: [&str; 2] = ["org:admin", "admin"];

/// The member role's keys, likewise.
pub const MEMBER_ROLES: [&str; 2] = ["org:member", "basic_member"];

/// True for the admin role (either key).
pub fn is_admin_role(role: &str) -> bool {
    ADMIN_ROLES.contains(&role)
}

/// True when `key` is one of Clerk's documented system permissions, which
/// every instance defines whether or not its rows are mirrored.
pub fn is_system_permission(key: &str) -> bool {
    SYSTEM_PERMISSIONS.contains(&key)
}

/// An SQL list of string literals: `'a', 'b'`. Only for the constants above.
fn literals(values: &[&str]) -> String {
    let mut list = String::new();
    for (i, value) in values.iter().enumerate() {
        debug_assert!(!value.contains('\''), "a constant, never input");
        let _ = write!(list, "{}'{value}'", if i == 0 { "" } else { ", " });
    }
    list
}

/// An SQL expression: the permission keys held by a member whose role is the
/// SQL expression `role` (e.g. `m.role`), as a sorted `text[]` without
/// duplicates; empty when `role` is NULL. One scalar subquery, evaluated in
/// the statement that reads the membership.
pub fn held_sql(role: &str) -> String {
    let admins = literals(&ADMIN_ROLES);
    let members = literals(&MEMBER_ROLES);
    let system = literals(&SYSTEM_PERMISSIONS);
    let defaults = literals(&MEMBER_DEFAULT_PERMISSIONS);
    format!(
        "ARRAY(SELECT DISTINCT held.key FROM (
            SELECT p.key FROM organization_roles r
              JOIN organization_role_permissions rp ON rp.role_id = r.id
              JOIN organization_permissions p ON p.id = rp.permission_id AND p.deleted_at IS NULL
             WHERE r.key = {role} AND r.deleted_at IS NULL
            UNION ALL
            SELECT p.key FROM organization_permissions p
             WHERE {role} IN ({admins}) AND p.deleted_at IS NULL
               AND (p.type = 'system' OR p.key LIKE 'org:sys\\_%')
            UNION ALL
            SELECT k FROM unnest(ARRAY[{system}]::text[]) AS k WHERE {role} IN ({admins})
            UNION ALL
            SELECT k FROM unnest(ARRAY[{defaults}]::text[]) AS k
             WHERE {role} IN ({members}) AND NOT EXISTS (SELECT FROM organization_roles r WHERE r.key = {role})
          ) AS held (key) WHERE held.key IS NOT NULL ORDER BY held.key)"
    )
}

/// An SQL expression: whether the instance defines a live permission whose
/// key is the SQL expression `key` (false when it is NULL).
pub fn defined_sql(key: &str) -> String {
    format!("EXISTS (SELECT FROM organization_permissions p WHERE p.key = {key} AND p.deleted_at IS NULL)")
}

/// Checks a configured permission key: Clerk's format, `org:<feature>:<permission>`
/// (letters, digits, `_` and `-` in each part).
pub fn parse_key(raw: &str) -> Result<String, String> {
    let key = raw.trim();
    let parts: Vec<&str> = key.split(':').collect();
    let part_ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match parts.as_slice() {
        ["org", feature, permission] if part_ok(feature) && part_ok(permission) && key.len() <= 256 => {
            Ok(key.to_string())
        }
        _ => {
            Err("expected a Clerk permission key, org:<feature>:<permission> (e.g. org:seller_accounts:manage)".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert_eq!(parse_key(" org:seller_accounts:manage ").as_deref(), Ok("org:seller_accounts:manage"));
        assert!(parse_key("org:sys_profile:manage").is_ok());
        for bad in ["", "org:admin", "seller_accounts:manage", "org::manage", "org:a:b:c", "org:a b:c", "org:a:'b"] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_documented_sets() {
        assert!(SYSTEM_PERMISSIONS.iter().all(|k| k.starts_with("org:sys_")));
        assert!(MEMBER_DEFAULT_PERMISSIONS.iter().all(|k| is_system_permission(k)));
        assert!(is_admin_role("org:admin") && is_admin_role("admin") && !is_admin_role("org:member"));
        assert_eq!(literals(&ADMIN_ROLES), "'org:admin', 'admin'");
    }
}
