//! `organizationDomain.*`: a domain of an organization, or the stub of a
//! deleted one.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    organizations::{referenced_org, OrgRecord, PublicOrg},
    read::{deletion, id_error, read},
    time::valid_ms,
};
use crate::ids::ClerkDomainId;

/// A domain as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRecord {
    pub id: ClerkDomainId,
    /// Its organization: a placeholder (no clock) until the organization's
    /// own events arrive.
    pub organization: OrgRecord,
    pub name: Option<String>,
    pub enrollment_mode: Option<String>,
    /// `affiliation_verification.status`, or that of its deprecated alias
    /// `verification`.
    pub verification_status: Option<String>,
    pub affiliation_email_address: Option<String>,
    pub updated_ms: i64,
}

/// What an `organizationDomain.*` event asks of the database.
// One lives per request: boxing the upsert would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainChange {
    Upsert(DomainRecord),
    Delete { id: ClerkDomainId, deleted_ms: i64 },
}

pub(super) fn change(action: &str, data: &RawValue, timestamp: Option<i64>) -> Result<DomainChange, String> {
    match action {
        "deleted" => deletion(data, timestamp, ClerkDomainId::parse)
            .map(|(id, deleted_ms)| DomainChange::Delete { id, deleted_ms }),
        _ => parse_domain(data).map(DomainChange::Upsert),
    }
}

fn parse_domain(data: &RawValue) -> Result<DomainRecord, String> {
    #[derive(Deserialize)]
    struct Verification {
        status: Option<String>,
    }
    #[derive(Deserialize)]
    struct Domain {
        id: String,
        organization_id: Option<String>,
        name: Option<String>,
        enrollment_mode: Option<String>,
        affiliation_email_address: Option<String>,
        affiliation_verification: Option<Verification>,
        verification: Option<Verification>,
        updated_at: Option<i64>,
        public_organization_data: Option<PublicOrg>,
    }
    let d: Domain = read(data)?;
    let verification_status = [d.affiliation_verification, d.verification].into_iter().flatten().find_map(|v| v.status);
    Ok(DomainRecord {
        id: ClerkDomainId::parse(&d.id).map_err(id_error("data.id"))?,
        organization: referenced_org(d.organization_id, d.public_organization_data)?,
        name: d.name,
        enrollment_mode: d.enrollment_mode,
        verification_status,
        affiliation_email_address: d.affiliation_email_address,
        updated_ms: valid_ms(d.updated_at.ok_or("data.updated_at is missing")?, "data.updated_at")?,
    })
}
