//! `organization.*`: an organization's payload (and the reduced copy nested
//! in membership events), read into what the database keeps.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    read::{deletion, read},
    time::valid_ms,
};
use crate::ids::ClerkOrgId;

/// An organization as the database keeps it. The organization nested in a
/// membership event has the same fields, so it is read the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRecord {
    pub id: ClerkOrgId,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub image_url: Option<String>,
    /// `None` only for a nested organization without `updated_at`: it can
    /// create a placeholder but never overwrite anything.
    pub updated_ms: Option<i64>,
}

/// What an `organization.*` event asks of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgChange {
    Upsert(OrgRecord),
    Delete { id: ClerkOrgId, deleted_ms: i64 },
}

pub(super) fn change(action: &str, data: &RawValue, timestamp: Option<i64>) -> Result<OrgChange, String> {
    match action {
        "deleted" => {
            deletion(data, timestamp, ClerkOrgId::parse).map(|(id, deleted_ms)| OrgChange::Delete { id, deleted_ms })
        }
        _ => parse_org(data, true).map(OrgChange::Upsert),
    }
}

#[derive(Deserialize)]
pub(super) struct Org {
    id: String,
    name: Option<String>,
    slug: Option<String>,
    image_url: Option<String>,
    updated_at: Option<i64>,
}

pub(super) fn org_record(org: Org, field: &str, need_time: bool) -> Result<OrgRecord, String> {
    let updated_ms = match org.updated_at {
        Some(ms) => Some(valid_ms(ms, "organization updated_at")?),
        None if need_time => return Err(format!("{field}.updated_at is missing")),
        None => None,
    };
    Ok(OrgRecord {
        id: ClerkOrgId::parse(&org.id).map_err(|e| format!("{field}.id: {e}"))?,
        name: org.name,
        slug: org.slug,
        image_url: org.image_url,
        updated_ms,
    })
}

/// `public_organization_data`, which invitations and domains may carry next
/// to their `organization_id`: no clock, so it can fill a placeholder but
/// never overwrite anything.
#[derive(Deserialize)]
pub(super) struct PublicOrg {
    id: Option<String>,
    name: Option<String>,
    slug: Option<String>,
    image_url: Option<String>,
}

/// The organization an invitation or domain belongs to: `organization_id`
/// (or the public data's id), with the public data's name, slug and image
/// when they are of that organization. Without a clock: a placeholder when
/// the organization is not known yet, otherwise nothing.
pub(super) fn referenced_org(organization_id: Option<String>, public: Option<PublicOrg>) -> Result<OrgRecord, String> {
    let public_id = public.as_ref().and_then(|p| p.id.clone());
    let (id, field) = match (organization_id, public_id) {
        (Some(id), _) => (id, "data.organization_id"),
        (None, Some(id)) => (id, "data.public_organization_data.id"),
        (None, None) => return Err("data.organization_id is missing".into()),
    };
    let id = ClerkOrgId::parse(&id).map_err(|e| format!("{field}: {e}"))?;
    let public = public.filter(|p| p.id.as_deref().is_none_or(|pid| pid == id.as_str()));
    let (name, slug, image_url) = public.map_or((None, None, None), |p| (p.name, p.slug, p.image_url));
    Ok(OrgRecord { id, name, slug, image_url, updated_ms: None })
}

fn parse_org(data: &RawValue, need_time: bool) -> Result<OrgRecord, String> {
    org_record(read(data)?, "data", need_time)
}
