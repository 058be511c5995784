//! Pages of Clerk's Backend API applied through the webhooks' own rules
//! (`sql/user_upsert.sql`, `sql/organization_upsert.sql`, fed from arrays),
//! one statement per page: the groundwork of backfill and reconcile, so that
//! an object from the API and the same object from a webhook can never fight.

use deadpool_postgres::Client;
use tokio_postgres::types::Type;

use super::statements::{MEMBERSHIPS_PAGE, ORGANIZATIONS_PAGE, USERS_PAGE};
use crate::{
    clerk::{MembershipRecord, OrgRecord, UserRecord},
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
