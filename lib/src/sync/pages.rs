//! Pages of Clerk's Backend API applied through the webhooks' own rules
//! (`sql/user_upsert.sql`, `sql/organization_upsert.sql`, …, fed from arrays),
//! one statement per page: the groundwork of backfill and reconcile, so that
//! an object from the API and the same object from a webhook can never fight.

use crate::db::Client;
use tokio_postgres::types::{ToSql, Type};

use super::statements::{
    DOMAINS_PAGE, INVITATIONS_PAGE, MEMBERSHIPS_PAGE, ORGANIZATIONS_PAGE, PERMISSIONS_PAGE, ROLES_PAGE,
    ROLES_PAGE_PERMISSIONS, USERS_PAGE,
};
use crate::{
    clerk::{DomainRecord, InvitationRecord, MembershipRecord, OrgRecord, PermissionRecord, RoleRecord, UserRecord},
    db::{statements::prepare, DbError},
};

/// A row a page (or an absence) changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The Clerk id: of the user, the organization, or the membership the
    /// pair's row now shows.
    pub clerk_id: String,
    /// The row's Clerk clock after the change (none for deletions).
    pub clerk_updated_ms: Option<i64>,
    /// The row did not exist before.
    pub created: bool,
}

/// What applying a page did: the rows it changed. Objects not among them
/// were already as new as the API's copy (or newer, or deleted).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub changed: Vec<Changed>,
}

impl Applied {
    pub fn summary(&self) -> PageApplied {
        let created = self.changed.iter().filter(|c| c.created).count() as u64;
        PageApplied { created, updated: self.changed.len() as u64 - created }
    }
}

/// How many rows a page created and updated.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PageApplied {
    pub created: u64,
    pub updated: u64,
}

/// Applies a page of users: each one only when newer than the row, never to
/// a deleted user.
pub async fn apply_users(client: &Client, users: &[UserRecord]) -> Result<Applied, DbError> {
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    let emails: Vec<Option<&str>> = users.iter().map(|u| u.email.as_deref()).collect();
    let first_names: Vec<Option<&str>> = users.iter().map(|u| u.first_name.as_deref()).collect();
    let last_names: Vec<Option<&str>> = users.iter().map(|u| u.last_name.as_deref()).collect();
    let images: Vec<Option<&str>> = users.iter().map(|u| u.image_url.as_deref()).collect();
    let clocks: Vec<i64> = users.iter().map(|u| u.updated_ms).collect();
    let text = Type::TEXT_ARRAY;
    let stmt =
        prepare(client, USERS_PAGE, &[text.clone(), text.clone(), text.clone(), text.clone(), text, Type::INT8_ARRAY])
            .await?;
    let rows = client.query(&stmt, &[&ids, &emails, &first_names, &last_names, &images, &clocks]).await?;
    Ok(applied(&rows))
}

/// Applies a page of organizations: each one when at least as new as the
/// row (a deleted organization keeps converging its name, and stays deleted).
pub async fn apply_organizations(client: &Client, organizations: &[OrgRecord]) -> Result<Applied, DbError> {
    let ids: Vec<&str> = organizations.iter().map(|o| o.id.as_str()).collect();
    let names: Vec<Option<&str>> = organizations.iter().map(|o| o.name.as_deref()).collect();
    let slugs: Vec<Option<&str>> = organizations.iter().map(|o| o.slug.as_deref()).collect();
    let images: Vec<Option<&str>> = organizations.iter().map(|o| o.image_url.as_deref()).collect();
    let clocks: Vec<Option<i64>> = organizations.iter().map(|o| o.updated_ms).collect();
    let mut types = vec![Type::TEXT_ARRAY; 4];
    types.push(Type::INT8_ARRAY);
    let stmt = prepare(client, ORGANIZATIONS_PAGE, &types).await?;
    let rows = client.query(&stmt, &[&ids, &names, &slugs, &images, &clocks]).await?;
    Ok(applied(&rows))
}

/// Applies a page of (live) memberships: each merged into its pair's history,
/// so a removed membership id is never brought back; members and
/// organizations not seen yet become placeholders, never overwriting data.
pub async fn apply_memberships(client: &Client, memberships: &[MembershipRecord]) -> Result<Applied, DbError> {
    let text = |f: fn(&MembershipRecord) -> Option<&str>| -> Vec<Option<&str>> { memberships.iter().map(f).collect() };
    let user_ids = text(|m| Some(m.member.user_id.as_str()));
    let first_names = text(|m| m.member.first_name.as_deref());
    let last_names = text(|m| m.member.last_name.as_deref());
    let images = text(|m| m.member.image_url.as_deref());
    let emails = text(|m| m.member.email.as_deref());
    let org_ids = text(|m| Some(m.organization.id.as_str()));
    let org_names = text(|m| m.organization.name.as_deref());
    let org_slugs = text(|m| m.organization.slug.as_deref());
    let org_images = text(|m| m.organization.image_url.as_deref());
    let org_clocks: Vec<Option<i64>> = memberships.iter().map(|m| m.organization.updated_ms).collect();
    let ids = text(|m| Some(m.id.as_str()));
    let roles = text(|m| Some(m.role.as_str()));
    let clocks: Vec<i64> = memberships.iter().map(|m| m.event_ms).collect();
    // Nine text arrays, the organization's clock, two text arrays, the membership's clock.
    let mut types = vec![Type::TEXT_ARRAY; 9];
    types.extend([Type::INT8_ARRAY, Type::TEXT_ARRAY, Type::TEXT_ARRAY, Type::INT8_ARRAY]);
    let stmt = prepare(client, MEMBERSHIPS_PAGE, &types).await?;
    let rows = client
        .query(
            &stmt,
            &[
                &user_ids,
                &first_names,
                &last_names,
                &images,
                &emails,
                &org_ids,
                &org_names,
                &org_slugs,
                &org_images,
                &org_clocks,
                &ids,
                &roles,
                &clocks,
            ],
        )
        .await?;
    Ok(applied(&rows))
}

/// Applies a page of permissions: each one when newer than the row (a tie
/// with a role's nested copy only when the data differs); a deleted
/// permission keeps converging its data and stays deleted.
pub async fn apply_permissions(client: &Client, permissions: &[PermissionRecord]) -> Result<Applied, DbError> {
    let text = |f: fn(&PermissionRecord) -> Option<&str>| -> Vec<Option<&str>> { permissions.iter().map(f).collect() };
    let ids = text(|p| Some(p.id.as_str()));
    let keys = text(|p| p.key.as_deref());
    let names = text(|p| p.name.as_deref());
    let descriptions = text(|p| p.description.as_deref());
    let kinds = text(|p| p.kind.as_deref());
    let clocks: Vec<Option<i64>> = permissions.iter().map(|p| p.updated_ms).collect();
    let mut types = vec![Type::TEXT_ARRAY; 5];
    types.push(Type::INT8_ARRAY);
    let stmt = prepare(client, PERMISSIONS_PAGE, &types).await?;
    let rows = client.query(&stmt, &[&ids, &keys, &names, &descriptions, &kinds, &clocks]).await?;
    Ok(applied(&rows))
}

/// Applies a page of roles: each one when newer than the row, the
/// permissions it lists as real data for them (placeholders when unknown);
/// then, in a second statement pipelined after the first, each role that
/// applied gets exactly the permission set the page lists (one that lists
/// none keeps its set), as the role webhook does.
///
/// The two statements must share a transaction (the second tells the roles
/// the first applied by their rows changed in it): call it inside one, as
/// reconcile's page transaction does.
pub async fn apply_roles(client: &Client, roles: &[RoleRecord]) -> Result<Applied, DbError> {
    let text = |f: fn(&RoleRecord) -> Option<&str>| -> Vec<Option<&str>> { roles.iter().map(f).collect() };
    let ids = text(|r| Some(r.id.as_str()));
    let keys = text(|r| r.key.as_deref());
    let names = text(|r| r.name.as_deref());
    let descriptions = text(|r| r.description.as_deref());
    let clocks: Vec<i64> = roles.iter().map(|r| r.updated_ms).collect();
    // The listed permissions, flattened: each with its role's position (from 1).
    let listed: Vec<(i64, &RoleRecord, &PermissionRecord)> = roles
        .iter()
        .zip(1_i64..)
        .flat_map(|(role, position)| role.permissions.iter().flatten().map(move |p| (position, role, p)))
        .collect();
    let nested = |f: fn(&PermissionRecord) -> Option<&str>| -> Vec<Option<&str>> {
        listed.iter().map(|(_, _, p)| f(p)).collect()
    };
    let positions: Vec<i64> = listed.iter().map(|(position, _, _)| *position).collect();
    let permission_ids = nested(|p| Some(p.id.as_str()));
    let permission_keys = nested(|p| p.key.as_deref());
    let permission_names = nested(|p| p.name.as_deref());
    let permission_descriptions = nested(|p| p.description.as_deref());
    let permission_kinds = nested(|p| p.kind.as_deref());
    let permission_clocks: Vec<Option<i64>> = listed.iter().map(|(_, _, p)| p.updated_ms).collect();
    // The roles whose sets the page says, and their pairs.
    let with_sets: Vec<&str> = roles.iter().filter(|r| r.permissions.is_some()).map(|r| r.id.as_str()).collect();
    let pair_roles: Vec<&str> = listed.iter().map(|(_, role, _)| role.id.as_str()).collect();

    let mut types = vec![Type::TEXT_ARRAY; 4];
    types.extend([Type::INT8_ARRAY, Type::INT8_ARRAY]);
    types.extend([Type::TEXT_ARRAY; 5]);
    types.push(Type::INT8_ARRAY);
    let (upsert, sets) = tokio::try_join!(
        prepare(client, ROLES_PAGE, &types),
        prepare(client, ROLES_PAGE_PERMISSIONS, &[Type::TEXT_ARRAY, Type::TEXT_ARRAY, Type::TEXT_ARRAY]),
    )?;
    let upsert_params: [&(dyn ToSql + Sync); 12] = [
        &ids,
        &keys,
        &names,
        &descriptions,
        &clocks,
        &positions,
        &permission_ids,
        &permission_keys,
        &permission_names,
        &permission_descriptions,
        &permission_kinds,
        &permission_clocks,
    ];
    let sets_params: [&(dyn ToSql + Sync); 3] = [&with_sets, &pair_roles, &permission_ids];
    let (rows, _) = tokio::try_join!(client.query(&upsert, &upsert_params), client.execute(&sets, &sets_params))?;
    Ok(applied(&rows))
}

/// Applies a page of domains: each one when newer than the row (a deleted
/// domain keeps converging its data and stays deleted); organizations not
/// seen yet become placeholders.
pub async fn apply_domains(client: &Client, domains: &[DomainRecord]) -> Result<Applied, DbError> {
    let text = |f: fn(&DomainRecord) -> Option<&str>| -> Vec<Option<&str>> { domains.iter().map(f).collect() };
    let ids = text(|d| Some(d.id.as_str()));
    let org_ids = text(|d| Some(d.organization.id.as_str()));
    let org_names = text(|d| d.organization.name.as_deref());
    let org_slugs = text(|d| d.organization.slug.as_deref());
    let org_images = text(|d| d.organization.image_url.as_deref());
    let names = text(|d| d.name.as_deref());
    let modes = text(|d| d.enrollment_mode.as_deref());
    let statuses = text(|d| d.verification_status.as_deref());
    let affiliations = text(|d| d.affiliation_email_address.as_deref());
    let clocks: Vec<i64> = domains.iter().map(|d| d.updated_ms).collect();
    let mut types = vec![Type::TEXT_ARRAY; 9];
    types.push(Type::INT8_ARRAY);
    let stmt = prepare(client, DOMAINS_PAGE, &types).await?;
    let rows = client
        .query(
            &stmt,
            &[&ids, &org_ids, &org_names, &org_slugs, &org_images, &names, &modes, &statuses, &affiliations, &clocks],
        )
        .await?;
    Ok(applied(&rows))
}

/// Applies a page of invitations: each one when newer by (updated_at,
/// terminal status), the accepting user never erased; organizations and
/// users not seen yet become placeholders.
pub async fn apply_invitations(client: &Client, invitations: &[InvitationRecord]) -> Result<Applied, DbError> {
    let text = |f: fn(&InvitationRecord) -> Option<&str>| -> Vec<Option<&str>> { invitations.iter().map(f).collect() };
    let ids = text(|i| Some(i.id.as_str()));
    let org_ids = text(|i| Some(i.organization.id.as_str()));
    let org_names = text(|i| i.organization.name.as_deref());
    let org_slugs = text(|i| i.organization.slug.as_deref());
    let org_images = text(|i| i.organization.image_url.as_deref());
    let emails = text(|i| i.email_address.as_deref());
    let roles = text(|i| i.role.as_deref());
    let statuses = text(|i| Some(i.status.as_str()));
    let expiries: Vec<Option<i64>> = invitations.iter().map(|i| i.expires_ms).collect();
    let users = text(|i| i.user_id.as_ref().map(|id| id.as_str()));
    let clocks: Vec<i64> = invitations.iter().map(|i| i.updated_ms).collect();
    let mut types = vec![Type::TEXT_ARRAY; 8];
    types.extend([Type::INT8_ARRAY, Type::TEXT_ARRAY, Type::INT8_ARRAY]);
    let stmt = prepare(client, INVITATIONS_PAGE, &types).await?;
    let rows = client
        .query(
            &stmt,
            &[
                &ids,
                &org_ids,
                &org_names,
                &org_slugs,
                &org_images,
                &emails,
                &roles,
                &statuses,
                &expiries,
                &users,
                &clocks,
            ],
        )
        .await?;
    Ok(applied(&rows))
}

/// The rows of a statement ending in `changed_rows!` (see `statements`).
pub(crate) fn applied(rows: &[tokio_postgres::Row]) -> Applied {
    let changed = rows
        .iter()
        .map(|row| Changed {
            clerk_id: row.get("clerk_id"),
            clerk_updated_ms: row.get("clerk_updated_ms"),
            created: row.get("created"),
        })
        .collect();
    Applied { changed }
}
