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
    clerk::{to_ms, MemberRecord, MembershipRecord, OrgRecord, UserRecord},
    ids::{ClerkMembershipId, ClerkOrgId, ClerkUserId},
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
