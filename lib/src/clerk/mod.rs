//! Clerk's webhook payloads, read leniently, and what each one asks of the
//! database.
//!
//! Fields drift both ways in real payloads (documented but never sent, sent
//! but undocumented), so everything not needed for the sync is ignored and
//! optional fields default. Only what ordering and identity need is
//! required: ids, and `updated_at` (or the envelope `timestamp` for deletes).

mod envelope;
mod families;
mod memberships;
mod organizations;
mod read;
mod time;
mod users;

pub use envelope::Envelope;
pub use families::{Family, FamilySpec, FAMILIES};
pub use memberships::{MemberRecord, MembershipRecord};
pub use organizations::{OrgChange, OrgRecord};
pub use time::to_ms;
pub use users::{UserChange, UserRecord};

/// What an event asks of the database, by family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Users(UserChange),
    Organizations(OrgChange),
    Memberships(MembershipRecord),
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

/// Decides what an event means for a function handling `receiving`: the
/// rules of the event's family, when `receiving` includes it.
pub fn plan(receiving: Family, envelope: &Envelope<'_>) -> Plan {
    let Some(family) = Family::handling(&envelope.event_type).filter(|f| receiving.includes(*f)) else {
        return Plan::Ignore;
    };
    let Some(data) = envelope.data else {
        return Plan::Fail("the event has no data".into());
    };
    let action = envelope.event_type.split_once('.').map_or("", |(_, action)| action);
    let timestamp = envelope.timestamp;
    let change = match family {
        Family::Users => users::change(action, data, timestamp).map(Change::Users),
        Family::Organizations => organizations::change(action, data, timestamp).map(Change::Organizations),
        Family::Memberships => memberships::change(action, data, timestamp).map(Change::Memberships),
        Family::All => return Plan::Ignore,
    };
    match change {
        Ok(change) => Plan::Apply(change),
        Err(reason) => Plan::Fail(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::{read::redact_strings, *};

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
            Plan::Apply(Change::Users(UserChange::Upsert(user))) => assert_eq!(user.email.as_deref(), Some("b@x")),
            other => panic!("{other:?}"),
        }
        assert_eq!(plan(Family::Organizations, &envelope), Plan::Ignore);
    }
}
