//! What the mirror reads from the Backend API, decoded leniently.
//!
//! Only the fields a mirror keeps are declared; anything else Clerk sends is
//! ignored. Every declared field but `id` defaults when Clerk drops it,
//! sends `null` or sends another type than documented, so one odd field
//! never fails a page. An item without a string `id` cannot be placed at
//! all: a page keeps the others and counts it (see [`super::Listing::skipped`]).

use serde::{de::DeserializeOwned, Deserialize, Deserializer};
use serde_json::Value;

use crate::{
    clerk::{
        to_ms, DomainRecord, InvitationRecord, MemberRecord, MembershipRecord, OrgRecord, PermissionRecord, RoleRecord,
        UserRecord,
    },
    ids::{
        ClerkDomainId, ClerkInvitationId, ClerkMembershipId, ClerkOrgId, ClerkPermissionId, ClerkRoleId, ClerkUserId,
    },
};

/// A field of any shape: the declared type when it fits, else `None`.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(T::deserialize(value).ok())
}

/// A list field: the items that fit; anything but an array is empty.
fn lenient_vec<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    match Value::deserialize(d)? {
        Value::Array(items) => Ok(items.into_iter().filter_map(|item| T::deserialize(item).ok()).collect()),
        _ => Ok(Vec::new()),
    }
}

/// `GET /v1/users` items and `GET /v1/users/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default, deserialize_with = "lenient")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub image_url: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub primary_email_address_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_vec")]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EmailAddress {
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub email_address: Option<String>,
}

/// `GET /v1/organizations` items and `GET /v1/organizations/{id}`; also
/// nested in a membership.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Organization {
    pub id: String,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub image_url: Option<String>,
    /// Only when asked for (`include_members_count`).
    #[serde(default, deserialize_with = "lenient")]
    pub members_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub updated_at: Option<i64>,
}

/// `GET /v1/organization_memberships` and `…/organizations/{id}/memberships` items.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Membership {
    pub id: String,
    #[serde(default, deserialize_with = "lenient")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub role_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_vec")]
    pub permissions: Vec<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub organization: Option<Organization>,
    #[serde(default, deserialize_with = "lenient")]
    pub public_user_data: Option<PublicUserData>,
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PublicUserData {
    #[serde(default, deserialize_with = "lenient")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub image_url: Option<String>,
    /// The sign-in identifier: an email address, a phone number or a username.
    #[serde(default, deserialize_with = "lenient")]
    pub identifier: Option<String>,
}

/// `GET /v1/organization_permissions` items; also nested in a role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Permission {
    pub id: String,
    #[serde(default, deserialize_with = "lenient")]
    pub key: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub description: Option<String>,
    /// `system` or `user` (Clerk's `type`).
    #[serde(default, rename = "type", deserialize_with = "lenient")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub updated_at: Option<i64>,
}

/// `GET /v1/organization_roles` items, each with the permissions it grants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Role {
    pub id: String,
    #[serde(default, deserialize_with = "lenient")]
    pub key: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub description: Option<String>,
    /// `None` when Clerk drops the list or any of its items cannot be read:
    /// the role's permission set is then left as it is, as for a webhook
    /// without `permissions`.
    #[serde(default, deserialize_with = "lenient")]
    pub permissions: Option<Vec<Permission>>,
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub updated_at: Option<i64>,
}

/// A domain's `affiliation_verification` (or its deprecated alias `verification`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DomainVerification {
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<String>,
}

/// `public_organization_data` of an invitation or a domain.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PublicOrganizationData {
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub image_url: Option<String>,
}

/// `GET /v1/organization_domains` items.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Domain {
    pub id: String,
    #[serde(default, deserialize_with = "lenient")]
    pub organization_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub enrollment_mode: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub affiliation_email_address: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub affiliation_verification: Option<DomainVerification>,
    #[serde(default, deserialize_with = "lenient")]
    pub verification: Option<DomainVerification>,
    #[serde(default, deserialize_with = "lenient")]
    pub public_organization_data: Option<PublicOrganizationData>,
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub updated_at: Option<i64>,
}

/// `GET /v1/organization_invitations` items (every status).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Invitation {
    pub id: String,
    #[serde(default, deserialize_with = "lenient")]
    pub email_address: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub organization_id: Option<String>,
    /// `pending`, `accepted`, `revoked` or `expired`.
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub expires_at: Option<i64>,
    /// The accepting user, when Clerk says.
    #[serde(default, deserialize_with = "lenient")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub public_organization_data: Option<PublicOrganizationData>,
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub updated_at: Option<i64>,
}

/// `{"data": [...], "total_count": N}`, as organizations and memberships come.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: DeserializeOwned"))]
pub(crate) struct DataPage<T> {
    #[serde(default)]
    pub data: Vec<Item<T>>,
    #[serde(default, deserialize_with = "lenient")]
    pub total_count: Option<u64>,
}

/// One list item: its `id` (when it has a string one) and the item decoded,
/// or why not.
#[derive(Debug)]
pub(crate) struct Item<T> {
    pub id: Option<String>,
    pub value: Result<T, String>,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Item<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Ok(Item {
            id: value.get("id").and_then(Value::as_str).map(str::to_string),
            value: T::deserialize(&value).map_err(|e| e.to_string()),
        })
    }
}

/// A Clerk time (ms; seconds converted as payload times are) the database can hold.
fn valid_ms(time: i64, what: &str) -> Result<i64, String> {
    let ms = to_ms(time);
    if (0..=253_402_300_799_999).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!("{what} is out of range"))
    }
}

impl User {
    /// The address `primary_email_address_id` names (not necessarily the first).
    pub fn primary_email(&self) -> Option<&str> {
        let primary = self.primary_email_address_id.as_deref()?;
        self.email_addresses.iter().find(|e| e.id.as_deref() == Some(primary))?.email_address.as_deref()
    }

    /// The row a `user.updated` webhook would write.
    pub fn to_record(&self) -> Result<UserRecord, String> {
        Ok(UserRecord {
            id: ClerkUserId::parse(&self.id).map_err(|e| format!("user id: {e}"))?,
            email: self.primary_email().map(str::to_string),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            image_url: self.image_url.clone(),
            updated_ms: valid_ms(self.updated_at.ok_or("user updated_at is missing")?, "user updated_at")?,
        })
    }
}

impl Organization {
    /// The row an `organization.updated` webhook would write.
    pub fn to_record(&self) -> Result<OrgRecord, String> {
        Ok(OrgRecord {
            id: ClerkOrgId::parse(&self.id).map_err(|e| format!("organization id: {e}"))?,
            name: self.name.clone(),
            slug: self.slug.clone(),
            image_url: self.image_url.clone(),
            updated_ms: self.updated_at.map(|ms| valid_ms(ms, "organization updated_at")).transpose()?,
        })
    }
}

impl Membership {
    /// The change an `organizationMembership.updated` webhook would make.
    pub fn to_record(&self) -> Result<MembershipRecord, String> {
        let organization = self.organization.as_ref().ok_or("membership has no organization")?;
        let member = self.public_user_data.as_ref().ok_or("membership has no public_user_data")?;
        let user_id = member.user_id.as_deref().ok_or("membership public_user_data.user_id is missing")?;
        let role = self.role.clone().filter(|r| !r.trim().is_empty()).ok_or("membership role is missing")?;
        Ok(MembershipRecord {
            id: ClerkMembershipId::parse(&self.id).map_err(|e| format!("membership id: {e}"))?,
            role,
            organization: organization.to_record()?,
            member: MemberRecord {
                user_id: ClerkUserId::parse(user_id).map_err(|e| format!("membership user id: {e}"))?,
                first_name: member.first_name.clone(),
                last_name: member.last_name.clone(),
                image_url: member.image_url.clone(),
                email: member.identifier.clone().filter(|i| i.contains('@')),
            },
            event_ms: valid_ms(self.updated_at.ok_or("membership updated_at is missing")?, "membership updated_at")?,
            removed: false,
        })
    }
}

impl Permission {
    /// The row a `permission.updated` webhook would write.
    pub fn to_record(&self) -> Result<PermissionRecord, String> {
        let updated_ms = valid_ms(self.updated_at.ok_or("permission updated_at is missing")?, "permission updated_at")?;
        Ok(PermissionRecord { updated_ms: Some(updated_ms), ..self.nested_record()? })
    }

    /// As a role lists it: without `updated_at` it can create a placeholder
    /// but never overwrite anything.
    fn nested_record(&self) -> Result<PermissionRecord, String> {
        Ok(PermissionRecord {
            id: ClerkPermissionId::parse(&self.id).map_err(|e| format!("permission id: {e}"))?,
            key: self.key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            kind: self.kind.clone(),
            updated_ms: self.updated_at.map(|ms| valid_ms(ms, "permission updated_at")).transpose()?,
        })
    }
}

impl Role {
    /// The change a `role.updated` webhook would make: the role, and (when
    /// listed) its permission set.
    pub fn to_record(&self) -> Result<RoleRecord, String> {
        let permissions = match &self.permissions {
            Some(listed) => Some(listed.iter().map(Permission::nested_record).collect::<Result<Vec<_>, _>>()?),
            None => None,
        };
        Ok(RoleRecord {
            id: ClerkRoleId::parse(&self.id).map_err(|e| format!("role id: {e}"))?,
            key: self.key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            permissions,
            updated_ms: valid_ms(self.updated_at.ok_or("role updated_at is missing")?, "role updated_at")?,
        })
    }
}

/// The organization an invitation or domain names, as its webhook's
/// (`organization_id`, else the public data's id; the public name, slug and
/// image when they are of that organization; no clock: a placeholder at most).
fn referenced_org(organization_id: Option<&str>, public: Option<&PublicOrganizationData>) -> Result<OrgRecord, String> {
    let id = organization_id.or_else(|| public.and_then(|p| p.id.as_deref())).ok_or("organization_id is missing")?;
    let id = ClerkOrgId::parse(id).map_err(|e| format!("organization id: {e}"))?;
    let public = public.filter(|p| p.id.as_deref().is_none_or(|pid| pid == id.as_str()));
    Ok(OrgRecord {
        id,
        name: public.and_then(|p| p.name.clone()),
        slug: public.and_then(|p| p.slug.clone()),
        image_url: public.and_then(|p| p.image_url.clone()),
        updated_ms: None,
    })
}

impl Domain {
    /// The row an `organizationDomain.updated` webhook would write.
    pub fn to_record(&self) -> Result<DomainRecord, String> {
        let verification_status =
            [&self.affiliation_verification, &self.verification].into_iter().flatten().find_map(|v| v.status.clone());
        Ok(DomainRecord {
            id: ClerkDomainId::parse(&self.id).map_err(|e| format!("domain id: {e}"))?,
            organization: referenced_org(self.organization_id.as_deref(), self.public_organization_data.as_ref())?,
            name: self.name.clone(),
            enrollment_mode: self.enrollment_mode.clone(),
            verification_status,
            affiliation_email_address: self.affiliation_email_address.clone(),
            updated_ms: valid_ms(self.updated_at.ok_or("domain updated_at is missing")?, "domain updated_at")?,
        })
    }
}

impl Invitation {
    /// The row an `organizationInvitation.*` webhook would write. Without a
    /// status it cannot be ordered against the webhooks' copies: unreadable.
    pub fn to_record(&self) -> Result<InvitationRecord, String> {
        let status = self.status.clone().filter(|s| !s.trim().is_empty()).ok_or("invitation status is missing")?;
        let user_id = match self.user_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => Some(ClerkUserId::parse(id).map_err(|e| format!("invitation user_id: {e}"))?),
            None => None,
        };
        Ok(InvitationRecord {
            id: ClerkInvitationId::parse(&self.id).map_err(|e| format!("invitation id: {e}"))?,
            organization: referenced_org(self.organization_id.as_deref(), self.public_organization_data.as_ref())?,
            email_address: self.email_address.clone(),
            role: self.role.clone(),
            status,
            expires_ms: self.expires_at.map(|ms| valid_ms(ms, "invitation expires_at")).transpose()?,
            user_id,
            updated_ms: valid_ms(self.updated_at.ok_or("invitation updated_at is missing")?, "invitation updated_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_role_reads_into_the_webhooks_record_and_an_odd_permission_list_leaves_the_set_alone() {
        let permission = json!({"object": "permission", "id": "perm_1", "key": "org:a:read", "name": "A",
                                "description": "d", "type": "user", "created_at": 1, "updated_at": 1_700_000_000_000_i64});
        let role: Role = serde_json::from_value(json!({
            "object": "role", "id": "role_1", "key": "org:x", "name": "X", "description": null,
            "is_creator_eligible": false, "permissions": [permission], "created_at": 1, "updated_at": 1_700_000_000_001_i64
        }))
        .expect("decodes");
        let record = role.to_record().expect("readable");
        assert_eq!(record.updated_ms, 1_700_000_000_001);
        let listed = record.permissions.expect("listed");
        assert_eq!((listed[0].id.as_str(), listed[0].updated_ms), ("perm_1", Some(1_700_000_000_000)));
        // An item without an id: the list cannot be trusted, so the set stays.
        let odd: Role = serde_json::from_value(json!({"id": "role_1", "permissions": [{"key": "k"}], "updated_at": 5}))
            .expect("decodes");
        assert_eq!(odd.to_record().expect("readable").permissions, None);
        let no_clock: Role = serde_json::from_value(json!({"id": "role_1"})).expect("decodes");
        assert!(no_clock.to_record().is_err());
    }

    #[test]
    fn domains_and_invitations_name_their_organization_and_read_what_the_webhooks_read() {
        let domain: Domain = serde_json::from_value(json!({
            "id": "orgdm_1", "organization_id": "org_1", "name": "example.test", "affiliation_verification": null,
            "verification": {"status": "verified"}, "updated_at": 7,
            "public_organization_data": {"id": "org_1", "name": "One", "slug": "one"}
        }))
        .expect("decodes");
        let record = domain.to_record().expect("readable");
        assert_eq!(record.verification_status.as_deref(), Some("verified"), "the deprecated alias as a fallback");
        assert_eq!((record.organization.id.as_str(), record.organization.name.as_deref()), ("org_1", Some("One")));
        assert_eq!(record.organization.updated_ms, None, "public data has no clock");

        let invitation: Invitation = serde_json::from_value(json!({
            "id": "orginv_1", "organization_id": "org_1", "status": "accepted", "user_id": "user_1",
            "expires_at": null, "updated_at": 9, "public_organization_data": {"id": "org_other", "name": "Other"}
        }))
        .expect("decodes");
        let record = invitation.to_record().expect("readable");
        assert_eq!(record.user_id.as_ref().map(|u| u.as_str()), Some("user_1"));
        assert_eq!(record.organization.name, None, "public data of another organization is not taken");
        let no_status: Invitation = serde_json::from_value(json!({"id": "orginv_1", "organization_id": "org_1",
                                                                  "updated_at": 9}))
        .expect("decodes");
        assert!(no_status.to_record().is_err(), "it cannot be ordered against the webhooks' copies");
    }
}
