//! `organizationInvitation.*`: an invitation to an organization, with the
//! organization it names and, once accepted, the user who accepted it.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    organizations::{referenced_org, OrgRecord, PublicOrg},
    read::{id_error, read},
    time::valid_ms,
};
use crate::ids::{ClerkInvitationId, ClerkUserId};

/// An invitation as the database keeps it. All three events carry the
/// whole invitation; none deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    pub id: ClerkInvitationId,
    /// The organization it invites to: a placeholder (no clock) until the
    /// organization's own events arrive.
    pub organization: OrgRecord,
    pub email_address: Option<String>,
    pub role: Option<String>,
    /// `pending`, `accepted`, `revoked` (`data.status`; the event's own
    /// when the payload has none).
    pub status: String,
    pub expires_ms: Option<i64>,
    /// Who accepted it: `organizationInvitation.accepted` names the user,
    /// though not always.
    pub user_id: Option<ClerkUserId>,
    /// `data.updated_at`: the invitation's clock.
    pub updated_ms: i64,
}

pub(super) fn change(action: &str, data: &RawValue) -> Result<InvitationRecord, String> {
    #[derive(Deserialize)]
    struct Invitation {
        id: String,
        email_address: Option<String>,
        role: Option<String>,
        organization_id: Option<String>,
        status: Option<String>,
        expires_at: Option<i64>,
        user_id: Option<String>,
        updated_at: Option<i64>,
        public_organization_data: Option<PublicOrg>,
    }
    let i: Invitation = read(data)?;
    let status = i.status.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| match action {
        "created" => "pending".to_string(),
        other => other.to_string(),
    });
    let user_id = match i.user_id.filter(|id| !id.is_empty()) {
        Some(id) => Some(ClerkUserId::parse(&id).map_err(id_error("data.user_id"))?),
        None => None,
    };
    Ok(InvitationRecord {
        id: ClerkInvitationId::parse(&i.id).map_err(id_error("data.id"))?,
        organization: referenced_org(i.organization_id, i.public_organization_data)?,
        email_address: i.email_address,
        role: i.role,
        status,
        expires_ms: i.expires_at.map(|ms| valid_ms(ms, "data.expires_at")).transpose()?,
        user_id,
        updated_ms: valid_ms(i.updated_at.ok_or("data.updated_at is missing")?, "data.updated_at")?,
    })
}
