//! `organizationMembership.*`: a membership with its reduced organization
//! and the member's public data.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    organizations::{org_record, Org, OrgRecord},
    read::{id_error, read},
    time::valid_ms,
};
use crate::ids::{ClerkMembershipId, ClerkUserId};

/// What `public_user_data` says about the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub user_id: ClerkUserId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: Option<String>,
    /// The identifier when it is an email address (it may be a phone number
    /// or a username).
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    pub id: ClerkMembershipId,
    pub role: String,
    pub organization: OrgRecord,
    pub member: MemberRecord,
    /// The membership's clock: `updated_at` of a create or update, the
    /// envelope timestamp of a delete.
    pub event_ms: i64,
    pub removed: bool,
}

pub(super) fn change(action: &str, data: &RawValue, timestamp: Option<i64>) -> Result<MembershipRecord, String> {
    parse_membership(data, action == "deleted", timestamp)
}

fn parse_membership(data: &RawValue, removed: bool, timestamp: Option<i64>) -> Result<MembershipRecord, String> {
    #[derive(Deserialize)]
    struct PublicUserData {
        user_id: String,
        first_name: Option<String>,
        last_name: Option<String>,
        image_url: Option<String>,
        identifier: Option<String>,
    }
    #[derive(Deserialize)]
    struct Membership {
        id: String,
        role: String,
        updated_at: Option<i64>,
        organization: Org,
        public_user_data: PublicUserData,
    }
    let m: Membership = read(data)?;
    let event_ms = if removed { timestamp.or(m.updated_at) } else { m.updated_at.or(timestamp) }
        .ok_or("the membership has neither updated_at nor an envelope timestamp")?;
    if m.role.trim().is_empty() {
        return Err("data.role is empty".into());
    }
    let pud = m.public_user_data;
    Ok(MembershipRecord {
        id: ClerkMembershipId::parse(&m.id).map_err(id_error("data.id"))?,
        role: m.role,
        organization: org_record(m.organization, "data.organization", false)?,
        member: MemberRecord {
            user_id: ClerkUserId::parse(&pud.user_id).map_err(id_error("data.public_user_data.user_id"))?,
            first_name: pud.first_name,
            last_name: pud.last_name,
            image_url: pud.image_url,
            email: pud.identifier.filter(|i| i.contains('@')),
        },
        event_ms: valid_ms(event_ms, "membership time")?,
        removed,
    })
}
