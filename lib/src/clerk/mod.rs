//! Clerk's webhook payloads, read leniently, and what each one asks of the
//! database.
//!
//! Fields drift both ways in real payloads (documented but never sent, sent
//! but undocumented), so everything not needed for the sync is ignored and
//! optional fields default. Only what ordering and identity need is
//! required: ids, and `updated_at` (or the envelope `timestamp` for deletes).

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::ids::{ClerkMembershipId, ClerkOrgId, ClerkUserId, InvalidId};

/// The envelope every Clerk event arrives in. `data` stays raw until the
/// type says how to read it.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(rename = "type")]
    pub event_type: String,
    /// Event time in ms (a value in seconds, as in Clerk's spec examples,
    /// is converted). Lenient: a missing or non-integer value is `None`.
    #[serde(default, deserialize_with = "lenient_ms")]
    pub timestamp: Option<i64>,
    #[serde(default, borrow)]
    pub data: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Parses the body: a JSON object with a string `type`, or an error.
    pub fn parse(body: &'a [u8]) -> Result<Self, &'static str> {
        let envelope: Self = serde_json::from_slice(body).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                "the body is not valid JSON"
            } else {
                "the body must be a JSON object with a string \"type\""
            }
        })?;
        // Stored in a text column: no NUL (PostgreSQL refuses it), nothing huge.
        if !is_storable_label(&envelope.event_type, MAX_TYPE_LEN) {
            return Err("the \"type\" must be at most 200 characters, without control characters");
        }
        Ok(envelope)
    }

    /// `data.id` when it is a string: stored with every event, even ignored ones.
    pub fn object_id(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct IdOnly {
            id: Option<String>,
        }
        let data = self.data?;
        // An id PostgreSQL could not store or index is left out: the payload keeps it.
        serde_json::from_str::<IdOnly>(data.get()).ok()?.id.filter(|id| is_storable_label(id, MAX_OBJECT_ID_LEN))
    }
}

const MAX_TYPE_LEN: usize = 200;
const MAX_OBJECT_ID_LEN: usize = 256;

fn is_storable_label(text: &str, max_len: usize) -> bool {
    text.len() <= max_len && !text.chars().any(char::is_control)
}

fn lenient_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(serde_json::Value::deserialize(d)?.as_i64().map(to_ms))
}

/// Below this a time is in seconds: as milliseconds it would fall before
/// March 1973, long before Clerk; as seconds it reaches past the year 5000.
const SECONDS_BELOW: i64 = 100_000_000_000;

/// Clerk's deliveries carry milliseconds; its spec examples, and the tools
/// and mocks built from them, carry seconds. Every time read from a payload
/// goes through here.
pub fn to_ms(time: i64) -> i64 {
    if (0..SECONDS_BELOW).contains(&time) {
        time * 1000
    } else {
        time
    }
}

/// Which event types a function applies. Everything else is recorded as
/// `ignored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Users,
    Organizations,
    Memberships,
    /// All three (replay and the local stack's catch-all route).
    All,
}

impl Family {
    /// The name it is recorded under (`clerk_webhook_events.family`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Users => "users",
            Family::Organizations => "organizations",
            Family::Memberships => "memberships",
            Family::All => "all",
        }
    }

    /// The family recorded under `name`.
    pub fn named(name: &str) -> Option<Family> {
        [Family::Users, Family::Organizations, Family::Memberships, Family::All].into_iter().find(|f| f.name() == name)
    }

    /// The family whose rules apply `event_type`, if any does.
    pub fn handling(event_type: &str) -> Option<Family> {
        kind_of(event_type).map(|(kind, _)| match kind {
            Kind::User => Family::Users,
            Kind::Organization => Family::Organizations,
            Kind::Membership => Family::Memberships,
        })
    }

    fn handles(self, kind: Kind) -> bool {
        matches!(
            (self, kind),
            (Family::All, _)
                | (Family::Users, Kind::User)
                | (Family::Organizations, Kind::Organization)
                | (Family::Memberships, Kind::Membership)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Organization,
    Membership,
}

/// A user as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: ClerkUserId,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: Option<String>,
    pub updated_ms: i64,
}

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

/// What an event asks of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    UpsertUser(UserRecord),
    DeleteUser { id: ClerkUserId, deleted_ms: i64 },
    UpsertOrg(OrgRecord),
    DeleteOrg { id: ClerkOrgId, deleted_ms: i64 },
    Membership(MembershipRecord),
}

/// The decision for one authentic event.
// One lives on the stack per request: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Apply(Change),
    /// Outside this function's family, or a type we do not sync.
    Ignore,
    /// A handled type whose `data` cannot be understood: kept as `failed`
    /// for a replay once the code is fixed.
    Fail(String),
}

fn kind_of(event_type: &str) -> Option<(Kind, &str)> {
    let (kind, action) = match event_type.split_once('.')? {
        ("user", action) => (Kind::User, action),
        ("organization", action) => (Kind::Organization, action),
        ("organizationMembership", action) => (Kind::Membership, action),
        _ => return None,
    };
    matches!(action, "created" | "updated" | "deleted").then_some((kind, action))
}

/// Under which family a function that handles `receiving` records an event
/// it planned as `plan`: the family whose rules apply it, or, when it only
/// ignores it, its own. Svix sends one message, under one svix-id, to every
/// endpoint subscribed to its type: a function that ignores a message must
/// never claim it for the family that applies it.
pub fn recording_family(receiving: Family, event_type: &str, plan: &Plan) -> Family {
    match plan {
        Plan::Ignore => receiving,
        Plan::Apply(_) | Plan::Fail(_) => Family::handling(event_type).unwrap_or(receiving),
    }
}

/// Decides what an event means for a function handling `family`.
pub fn plan(family: Family, envelope: &Envelope<'_>) -> Plan {
    let Some((kind, action)) = kind_of(&envelope.event_type) else {
        return Plan::Ignore;
    };
    if !family.handles(kind) {
        return Plan::Ignore;
    }
    let Some(data) = envelope.data else {
        return Plan::Fail("the event has no data".into());
    };
    let change = match (kind, action) {
        (Kind::User, "deleted") => deletion(data, envelope.timestamp, ClerkUserId::parse)
            .map(|(id, deleted_ms)| Change::DeleteUser { id, deleted_ms }),
        (Kind::User, _) => parse_user(data).map(Change::UpsertUser),
        (Kind::Organization, "deleted") => deletion(data, envelope.timestamp, ClerkOrgId::parse)
            .map(|(id, deleted_ms)| Change::DeleteOrg { id, deleted_ms }),
        (Kind::Organization, _) => parse_org(data, true).map(Change::UpsertOrg),
        (Kind::Membership, _) => {
            parse_membership(data, action == "deleted", envelope.timestamp).map(Change::Membership)
        }
    };
    match change {
        Ok(change) => Plan::Apply(change),
        Err(reason) => Plan::Fail(reason),
    }
}

/// A payload time in milliseconds (seconds are converted) that
/// PostgreSQL's timestamptz can hold, with room: year 1970 to 9999.
fn valid_ms(time: i64, what: &str) -> Result<i64, String> {
    let ms = to_ms(time);
    if (0..=253_402_300_799_999).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!("{what} is out of range"))
    }
}

fn id_error(field: &str) -> impl Fn(InvalidId) -> String + '_ {
    move |e| format!("{field}: {e}")
}

fn read<'a, T: Deserialize<'a>>(data: &'a RawValue) -> Result<T, String> {
    serde_json::from_str(data.get())
        .map_err(|e| format!("data does not match the expected shape: {}", redact_strings(&e.to_string())))
}

/// serde quotes offending string values (`invalid type: string "…"`): they
/// may be email addresses or names, and the reason is logged and stored.
/// Field names (in backticks) stay: they are what a developer needs.
fn redact_strings(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

fn deletion<T>(
    data: &RawValue,
    timestamp: Option<i64>,
    parse_id: fn(&str) -> Result<T, InvalidId>,
) -> Result<(T, i64), String> {
    #[derive(Deserialize)]
    struct Stub {
        id: String,
    }
    let stub: Stub = read(data)?;
    let id = parse_id(&stub.id).map_err(id_error("data.id"))?;
    let ms = timestamp.ok_or("a delete needs the envelope timestamp to be ordered")?;
    Ok((id, valid_ms(ms, "timestamp")?))
}

fn parse_user(data: &RawValue) -> Result<UserRecord, String> {
    #[derive(Deserialize)]
    struct EmailAddress {
        id: Option<String>,
        email_address: Option<String>,
    }
    #[derive(Deserialize)]
    struct User {
        id: String,
        first_name: Option<String>,
        last_name: Option<String>,
        image_url: Option<String>,
        #[serde(default)]
        email_addresses: Option<Vec<EmailAddress>>,
        primary_email_address_id: Option<String>,
        updated_at: Option<i64>,
    }
    let user: User = read(data)?;
    // The primary is the one its id names, not necessarily the first.
    let email = user.primary_email_address_id.as_deref().and_then(|primary| {
        user.email_addresses
            .iter()
            .flatten()
            .find(|e| e.id.as_deref() == Some(primary))
            .and_then(|e| e.email_address.clone())
    });
    Ok(UserRecord {
        id: ClerkUserId::parse(&user.id).map_err(id_error("data.id"))?,
        email,
        first_name: user.first_name,
        last_name: user.last_name,
        image_url: user.image_url,
        updated_ms: valid_ms(user.updated_at.ok_or("data.updated_at is missing")?, "data.updated_at")?,
    })
}

#[derive(Deserialize)]
struct Org {
    id: String,
    name: Option<String>,
    slug: Option<String>,
    image_url: Option<String>,
    updated_at: Option<i64>,
}

fn org_record(org: Org, field: &str, need_time: bool) -> Result<OrgRecord, String> {
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

fn parse_org(data: &RawValue, need_time: bool) -> Result<OrgRecord, String> {
    org_record(read(data)?, "data", need_time)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reasons_never_quote_values() {
        let body = br#"{"type":"user.created","timestamp":1,"data":{"id":"user_x","updated_at":"ada@example.com"}}"#;
        let envelope = Envelope::parse(body).unwrap_or_else(|e| panic!("{e}"));
        match plan(Family::Users, &envelope) {
            Plan::Fail(reason) => {
                assert!(!reason.contains("ada@example.com"), "{reason}");
                assert!(reason.contains("data does not match"), "{reason}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert_eq!(
            redact_strings(r#"invalid type: string "secret", expected `id`"#),
            r#"invalid type: string "…", expected `id`"#
        );
    }

    #[test]
    fn the_primary_email_is_matched_by_id() {
        let body = br#"{"type":"user.created","timestamp":1,"data":{"id":"user_x","updated_at":1,
            "email_addresses":[{"id":"idn_a","email_address":"a@x"},{"id":"idn_b","email_address":"b@x"}],
            "primary_email_address_id":"idn_b"}}"#;
        let envelope = Envelope::parse(body).unwrap_or_else(|e| panic!("{e}"));
        match plan(Family::Users, &envelope) {
            Plan::Apply(Change::UpsertUser(user)) => assert_eq!(user.email.as_deref(), Some("b@x")),
            other => panic!("{other:?}"),
        }
        assert_eq!(plan(Family::Organizations, &envelope), Plan::Ignore);
    }
}
