//! `role.*` and `permission.*`: the instance's organization roles, each
//! with the permissions it grants, and the permissions themselves.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    read::{deletion, id_error, read},
    time::valid_ms,
};
use crate::ids::{ClerkPermissionId, ClerkRoleId};

/// A permission as the database keeps it: from a `permission.*` event, or
/// nested in a role's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionRecord {
    pub id: ClerkPermissionId,
    /// `org:<feature>:<action>` (or `org:sys_…`).
    pub key: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// `system` or `custom` (Clerk's `type`).
    pub kind: Option<String>,
    /// `None` only for a permission nested in a role without `updated_at`:
    /// it can create a placeholder but never overwrite anything.
    pub updated_ms: Option<i64>,
}

/// A role as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    pub id: ClerkRoleId,
    /// What a membership's `role` names (`org:admin`, `org:<key>`).
    pub key: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// The permissions it grants; `None` when the payload does not list
    /// them (the role's set is then left as it is).
    pub permissions: Option<Vec<PermissionRecord>>,
    pub updated_ms: i64,
}

/// What a `role.*` or `permission.*` event asks of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    UpsertRole(RoleRecord),
    DeleteRole { id: ClerkRoleId, deleted_ms: i64 },
    UpsertPermission(PermissionRecord),
    DeletePermission { id: ClerkPermissionId, deleted_ms: i64 },
}

pub(super) fn change(event_type: &str, data: &RawValue, timestamp: Option<i64>) -> Result<RoleChange, String> {
    match event_type.split_once('.') {
        Some(("role", "deleted")) => deletion(data, timestamp, ClerkRoleId::parse)
            .map(|(id, deleted_ms)| RoleChange::DeleteRole { id, deleted_ms }),
        Some(("permission", "deleted")) => deletion(data, timestamp, ClerkPermissionId::parse)
            .map(|(id, deleted_ms)| RoleChange::DeletePermission { id, deleted_ms }),
        Some(("permission", _)) => permission_record(read(data)?, "data", true).map(RoleChange::UpsertPermission),
        _ => parse_role(data).map(RoleChange::UpsertRole),
    }
}

#[derive(Deserialize)]
struct Permission {
    id: String,
    key: Option<String>,
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    updated_at: Option<i64>,
}

fn permission_record(p: Permission, field: &str, need_time: bool) -> Result<PermissionRecord, String> {
    let updated_ms = match p.updated_at {
        Some(ms) => Some(valid_ms(ms, "permission updated_at")?),
        None if need_time => return Err(format!("{field}.updated_at is missing")),
        None => None,
    };
    Ok(PermissionRecord {
        id: ClerkPermissionId::parse(&p.id).map_err(|e| format!("{field}.id: {e}"))?,
        key: p.key,
        name: p.name,
        description: p.description,
        kind: p.kind,
        updated_ms,
    })
}

fn parse_role(data: &RawValue) -> Result<RoleRecord, String> {
    #[derive(Deserialize)]
    struct Role {
        id: String,
        key: Option<String>,
        name: Option<String>,
        description: Option<String>,
        permissions: Option<Vec<Permission>>,
        updated_at: Option<i64>,
    }
    let role: Role = read(data)?;
    let permissions = match role.permissions {
        Some(listed) => Some(
            listed
                .into_iter()
                .enumerate()
                .map(|(i, p)| permission_record(p, &format!("data.permissions[{i}]"), false))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    Ok(RoleRecord {
        id: ClerkRoleId::parse(&role.id).map_err(id_error("data.id"))?,
        key: role.key,
        name: role.name,
        description: role.description,
        permissions,
        updated_ms: valid_ms(role.updated_at.ok_or("data.updated_at is missing")?, "data.updated_at")?,
    })
}
