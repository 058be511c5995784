//! `role.*` and `permission.*`: upserts when newer (deleted rows keep
//! converging their data) and final soft deletes (sql/role_*.sql,
//! sql/permission_*.sql). A role upsert makes placeholders for the
//! permissions it lists and, when it applies, replaces the role's
//! permission set: two statements pipelined in one transaction, the second
//! starting once the first holds the role's row lock.

use crate::db::Client;
use tokio_postgres::{Error, Row};

use super::{
    deletes::delete,
    event::Params,
    statements::{Statements, ROLE_PERMISSIONS},
};
use crate::{
    clerk::{PermissionRecord, RoleChange, RoleRecord},
    db::{
        routines::Routine,
        statements::{prepare_routine, transaction},
    },
};

pub(super) async fn apply(
    client: &Client,
    statements: &'static Statements,
    event: &Params<'_>,
    change: &RoleChange,
) -> Result<Row, Error> {
    match change {
        RoleChange::UpsertRole(role) => upsert_role(client, &statements.role_upsert, event, role).await,
        RoleChange::DeleteRole { id, deleted_ms } => {
            delete(client, event, &statements.role_delete, id.as_str(), *deleted_ms).await
        }
        RoleChange::UpsertPermission(permission) => {
            upsert_permission(client, &statements.permission_upsert, event, permission).await
        }
        RoleChange::DeletePermission { id, deleted_ms } => {
            delete(client, event, &statements.permission_delete, id.as_str(), *deleted_ms).await
        }
    }
}

async fn upsert_permission(
    client: &Client,
    routine: &'static Routine,
    event: &Params<'_>,
    permission: &PermissionRecord,
) -> Result<Row, Error> {
    let stmt = prepare_routine(client, routine).await?;
    let id = permission.id.as_str();
    let mut params = event.to_vec();
    params.extend_from_slice(&[
        &id,
        &permission.key,
        &permission.name,
        &permission.description,
        &permission.kind,
        &permission.updated_ms,
    ]);
    client.query_one(&stmt, &params).await
}

async fn upsert_role(
    client: &Client,
    routine: &'static Routine,
    event: &Params<'_>,
    role: &RoleRecord,
) -> Result<Row, Error> {
    let (upsert, replace) =
        tokio::try_join!(prepare_routine(client, routine), prepare_routine(client, &ROLE_PERMISSIONS))?;
    let listed = role.permissions.as_deref().unwrap_or_default();
    let text = |f: fn(&PermissionRecord) -> Option<&str>| -> Vec<Option<&str>> { listed.iter().map(f).collect() };
    let ids = text(|p| Some(p.id.as_str()));
    let keys = text(|p| p.key.as_deref());
    let names = text(|p| p.name.as_deref());
    let descriptions = text(|p| p.description.as_deref());
    let kinds = text(|p| p.kind.as_deref());
    let clocks: Vec<Option<i64>> = listed.iter().map(|p| p.updated_ms).collect();
    let id = role.id.as_str();
    let mut params = event.to_vec();
    params.extend_from_slice(&[
        &id,
        &role.key,
        &role.name,
        &role.description,
        &role.updated_ms,
        &ids,
        &keys,
        &names,
        &descriptions,
        &kinds,
        &clocks,
    ]);
    // NULL when the event does not list the role's permissions: its set stays.
    let set: Option<Vec<&str>> = role.permissions.as_ref().map(|p| p.iter().map(|p| p.id.as_str()).collect());
    let replace_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&id, &set];
    transaction(client, async {
        let (row, _) = tokio::try_join!(client.query_one(&upsert, &params), client.execute(&replace, &replace_params))?;
        Ok(row)
    })
    .await
}
